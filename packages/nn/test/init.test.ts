import { Tape, type Tensor, noGrad, sub, mul, tensor } from '@tapegrad/core';
import { INITIALIZERS, cost, initWeights, mlp } from '@tapegrad/nn';
import { describe, expect, it } from 'vitest';

function sampleStd(t: Tensor): number {
  const n = t.size;
  let mean = 0;
  for (const v of t.data) mean += v / n;
  let variance = 0;
  for (const v of t.data) variance += (v - mean) ** 2 / n;
  return Math.sqrt(variance);
}

describe('initialisers', () => {
  it('draw with the documented spread: Xavier 2/(in+out), He 2/in, LeCun 1/in', () => {
    const [out, inn] = [200, 300];
    const expected: Record<string, number> = {
      xavierUniform: Math.sqrt(2 / (inn + out)),
      xavierNormal: Math.sqrt(2 / (inn + out)),
      heNormal: Math.sqrt(2 / inn),
      heUniform: Math.sqrt(2 / inn),
      lecunNormal: Math.sqrt(1 / inn),
      lecunUniform: Math.sqrt(1 / inn),
      standardNormal: 1,
    };
    for (const name of INITIALIZERS.filter((n) => n !== 'zeros')) {
      const w = initWeights(name, out, inn, { seed: 3, dtype: 'float64' });
      expect(w.shape).toEqual([out, inn]);
      // 60,000 samples: the sample std is within 2 % of the target
      expect(sampleStd(w) / expected[name], name).toBeCloseTo(1, 1);
      expect(Math.abs(sampleStd(w) / expected[name] - 1), name).toBeLessThan(0.02);
    }
  });

  it('uniform initialisers stay inside their limits', () => {
    const w = initWeights('xavierUniform', 10, 20, { seed: 1 });
    const limit = Math.sqrt(6 / 30);
    for (const v of w.data) expect(Math.abs(v)).toBeLessThanOrEqual(limit);
  });

  it('are reproducible from a seed and refuse to draw without one', () => {
    expect(initWeights('heNormal', 4, 5, { seed: 9 }).toFlatArray()).toEqual(initWeights('heNormal', 4, 5, { seed: 9 }).toFlatArray());
    expect(initWeights('heNormal', 4, 5, { seed: 9 }).toFlatArray()).not.toEqual(initWeights('heNormal', 4, 5, { seed: 10 }).toFlatArray());
    expect(() => initWeights('heNormal', 4, 5)).toThrow(/init: 'heNormal' needs a seed or an rng/);
    expect(() => initWeights('bogus' as never, 4, 5, { seed: 1 })).toThrow(/unknown initialiser/);
    expect(initWeights({ constant: 0.5 }, 2, 2).toFlatArray()).toEqual([0.5, 0.5, 0.5, 0.5]);
  });

  it('mlp draws all layers from one generator in order W¹, W², … (the benchmark protocol)', () => {
    const a = mlp([6, 4, 3], { seed: 5, init: 'heNormal' });
    const b = mlp([6, 4, 3], { seed: 5, init: 'heNormal' });
    expect(a.parameters()['1.W'].toFlatArray()).toEqual(b.parameters()['1.W'].toFlatArray());
    // the second layer's weights continue the first layer's stream, so they differ from a fresh draw
    expect(a.parameters()['1.W'].toFlatArray()).not.toEqual(initWeights('heNormal', 3, 4, { seed: 5 }).toFlatArray());
  });
});

describe('symmetry breaking (seed 001 TODO: random initialisation)', () => {
  // XOR-like data that needs more than one distinct hidden feature
  const X = tensor([[0, 0, 1, 1], [0, 1, 0, 1]], { dtype: 'float64' });
  const Y = tensor([[0, 1, 1, 0]], { dtype: 'float64' });

  function train(init: 'constant' | 'random'): Tensor {
    const model = mlp([2, 4, 1], {
      hidden: 'sigmoid', output: 'sigmoid', dtype: 'float64', seed: 11,
      init: init === 'constant' ? { constant: 0.3 } : 'xavierUniform',
    });
    const params = Object.values(model.parameters());
    for (let step = 0; step < 300; step++) {
      const tape = new Tape();
      const traced = tape.record(() => model.trace(X));
      const C = tape.record(() => cost('bce', { ...traced.layers[1], activation: 'sigmoid' }, Y));
      const grads = tape.gradient(C, params);
      noGrad(() => params.forEach((p, i) => p.assign(sub(p, mul(grads[i], 1)))));
    }
    return model.parameters()['0.W'];
  }

  function rowsIdentical(w: Tensor): boolean {
    const rows = w.toArray() as number[][];
    return rows.every((row) => row.every((v, j) => v === rows[0][j]));
  }

  it('a constant init leaves every hidden unit identical after training', () => {
    const w = train('constant');
    expect(rowsIdentical(w)).toBe(true);
    // and it did train: the weights moved away from 0.3
    expect(Math.abs(w.data[0] - 0.3)).toBeGreaterThan(1e-3);
  });

  it('a random init gives distinct hidden units', () => {
    const w = train('random');
    expect(rowsIdentical(w)).toBe(false);
    const rows = w.toArray() as number[][];
    const gap = Math.max(...rows.slice(1).map((row) => Math.max(...row.map((v, j) => Math.abs(v - rows[0][j])))));
    expect(gap).toBeGreaterThan(0.1);
  });
});
