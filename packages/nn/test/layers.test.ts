import { Tape, noGrad, sub, mul, tensor, ShapeError } from '@tapegrad/core';
import { Dense, Sequential, cost, mlp, sequential } from '@tapegrad/nn';
import { describe, expect, it } from 'vitest';

describe('Dense', () => {
  it('computes Z = W·A + b with examples as columns and applies the activation', () => {
    const layer = new Dense(3, 2, { activation: 'relu', init: { constant: 0 } });
    layer.W.assign([1, 0, -1, 0.5, 0.5, 0.5]);
    layer.b.assign([0.5, -2]);
    const A = tensor([[1, 2], [3, 4], [5, 6]]); // 3 features × 2 examples
    const { z, a } = layer.trace(A);
    // column 1: [1−5+0.5, 0.5·9−2] = [−3.5, 2.5]; column 2: [2−6+0.5, 0.5·12−2] = [−3.5, 4]
    expect(z.toArray()).toEqual([[-3.5, -3.5], [2.5, 4]]);
    expect(a.toArray()).toEqual([[0, 0], [2.5, 4]]);
    // Z alone, for a loss in from-logits form; the same shape check
    expect(layer.preActivation(A).toArray()).toEqual([[-3.5, -3.5], [2.5, 4]]);
    expect(() => layer.preActivation(tensor([[1, 2], [3, 4]]))).toThrow('Dense: expects input of shape [3, batch] (features × examples), got [2,2]');
    // Z now, A on first read and the same tensor after
    const lazy = layer.lazyTrace(A);
    expect(lazy.z.toArray()).toEqual([[-3.5, -3.5], [2.5, 4]]);
    expect(lazy.activation).toBe('relu');
    expect(lazy.a.toArray()).toEqual([[0, 0], [2.5, 4]]);
    expect(lazy.a).toBe(lazy.a);
    expect(layer.W.shape).toEqual([2, 3]);
    expect(layer.b.shape).toEqual([2, 1]);
  });

  it('softmax normalises each column (one example) over its units', () => {
    const layer = new Dense(2, 3, { activation: 'softmax', seed: 1 });
    const out = layer.forward(tensor([[1, -1, 0.5, 2], [0, 3, -2, 1]]));
    for (let m = 0; m < 4; m++) {
      let total = 0;
      for (let i = 0; i < 3; i++) total += out.data[i * 4 + m];
      expect(total).toBeCloseTo(1, 6);
    }
  });

  it('rejects input that is not [inFeatures, batch]', () => {
    const layer = new Dense(3, 2, { seed: 1 });
    expect(() => layer.forward(tensor([[1, 2], [3, 4]]))).toThrow(ShapeError);
    expect(() => layer.forward(tensor([[1, 2], [3, 4]]))).toThrow('Dense: expects input of shape [3, batch] (features × examples), got [2,2]');
    expect(() => new Dense(0, 2)).toThrow('Dense: inFeatures must be a positive integer, got 0');
    expect(() => new Dense(2, 2, { activation: 'swish' as never, seed: 1 })).toThrow(/unknown activation 'swish'/);
  });
});

describe('Sequential and mlp', () => {
  it('names parameters by layer and traces every Zˡ and Aˡ', () => {
    const model = mlp([4, 3, 2], { hidden: 'tanh', output: 'sigmoid', seed: 2 });
    expect(Object.keys(model.parameters())).toEqual(['0.W', '0.b', '1.W', '1.b']);
    const x = tensor([[1], [2], [3], [4]]);
    const trace = model.trace(x);
    expect(trace.layers.map((l) => l.z.shape)).toEqual([[3, 1], [2, 1]]);
    expect(trace.output.toFlatArray()).toEqual(model.forward(x).toFlatArray());
    expect(trace.output.toFlatArray()).toEqual(trace.layers[1].a.toFlatArray());
  });

  it('accepts one activation per hidden layer and checks the count', () => {
    const model = mlp([2, 3, 3, 1], { hidden: ['relu', 'tanh'], output: 'identity', seed: 1 });
    expect(model.denseLayers().map((l) => l.activation)).toEqual(['relu', 'tanh', 'identity']);
    expect(() => mlp([2, 3, 1], { hidden: ['relu', 'tanh'], seed: 1 })).toThrow('mlp: 2 hidden activations for 1 hidden layers');
    expect(() => mlp([2], { seed: 1 })).toThrow(/needs at least an input and an output size/);
  });

  it('composes any modules with sequential(), but only traceable ones can be traced', () => {
    const flip = { parameters: () => ({}), forward: (x: ReturnType<typeof tensor>) => x.neg() };
    const model = sequential(new Dense(2, 2, { seed: 1 }), flip);
    expect(model.forward(tensor([[1], [1]])).shape).toEqual([2, 1]);
    expect(() => model.trace(tensor([[1], [1]]))).toThrow('Sequential.trace: layer 1 has no trace()');
    expect(() => new Sequential([])).toThrow('Sequential: needs at least one layer');
  });
});

describe('training small networks to their targets', () => {
  function train(model: Sequential, X: ReturnType<typeof tensor>, Y: ReturnType<typeof tensor>, steps: number, lr: number) {
    const params = Object.values(model.parameters());
    const last = model.denseLayers().at(-1)!;
    for (let step = 0; step < steps; step++) {
      const tape = new Tape();
      const traced = tape.record(() => model.trace(X));
      const C = tape.record(() => cost('bce', { ...traced.layers.at(-1)!, activation: last.activation }, Y));
      const grads = tape.gradient(C, params);
      noGrad(() => params.forEach((p, i) => p.assign(sub(p, mul(grads[i], lr)))));
    }
    return noGrad(() => model.forward(X));
  }

  it('a 2-2-1 sigmoid network learns XOR', () => {
    const X = tensor([[0, 0, 1, 1], [0, 1, 0, 1]], { dtype: 'float64' });
    const Y = tensor([[0, 1, 1, 0]], { dtype: 'float64' });
    const model = mlp([2, 2, 1], { hidden: 'sigmoid', output: 'sigmoid', dtype: 'float64', seed: 4, init: 'standardNormal' });
    const out = train(model, X, Y, 3000, 2).toFlatArray();
    expect(out[0]).toBeLessThan(0.1);
    expect(out[1]).toBeGreaterThan(0.9);
    expect(out[2]).toBeGreaterThan(0.9);
    expect(out[3]).toBeLessThan(0.1);
  });

  it("seed 000's 3-2-1 go-to-sports network fits its days", () => {
    // temperature (scaled), slept well, lots of homework → went to sports
    const X = tensor([
      [0.25, -0.75, 0.1, 0.5, -0.9, 0.3, 0.0, -0.2],
      [1, 1, 0, 1, 0, 0, 1, 0],
      [0, 1, 1, 0, 1, 0, 1, 1],
    ], { dtype: 'float64' });
    const Y = tensor([[1, 0, 0, 1, 0, 1, 1, 0]], { dtype: 'float64' });
    const model = mlp([3, 2, 1], { hidden: 'sigmoid', output: 'sigmoid', dtype: 'float64', seed: 2, init: 'standardNormal' });
    const out = train(model, X, Y, 4000, 1).toFlatArray();
    out.forEach((p, m) => expect(p > 0.5 ? 1 : 0, `day ${m}: ${p}`).toBe(Y.data[m]));
  });
});
