import { describe, expect, it } from 'vitest';
import { Tape, type Tensor, add, matmul, memoryStats, randn, sigmoid, square, sub, sum, tensor, tidy, zeros } from '@tapegrad/core';
import { Adam, LBFGS, Momentum, NewtonCG, type Optimizer, RProp, SGD, fit, mlp } from '@tapegrad/nn';

/** A small least-squares problem; the parameters after `steps` steps of opt, each step inside tidy or not. */
function train(make: () => Optimizer, steps: number, useTidy: boolean): number[] {
  const w = randn([3, 4], { seed: 21, std: 0.5, dtype: 'float64' });
  const b = zeros([3, 1], { dtype: 'float64' });
  const x = randn([4, 6], { seed: 22, dtype: 'float64' });
  const y = randn([3, 6], { seed: 23, dtype: 'float64' });
  const params = [w, b];
  const objective = (): Tensor => sum(square(sub(sigmoid(add(matmul(w, x), b)), y)));
  const opt = make();
  const step = () => {
    const tape = new Tape();
    const c = tape.record(objective);
    opt.step(params, tape.gradient(c, params), objective);
  };
  for (let s = 0; s < steps; s++) (useTidy ? tidy(step) : step());
  return params.flatMap((p) => Array.from(p.data));
}

describe('optimisers inside tidy', () => {
  const cases: Array<[string, () => Optimizer]> = [
    ['SGD', () => new SGD({ lr: 0.1 })],
    ['Momentum', () => new Momentum({ lr: 0.1, momentum: 0.9 })],
    ['Momentum (Nesterov)', () => new Momentum({ lr: 0.1, momentum: 0.9, nesterov: true })],
    ['Adam', () => new Adam({ lr: 0.05 })],
    ['RProp', () => new RProp()],
    ['LBFGS', () => new LBFGS()],
    ['NewtonCG', () => new NewtonCG()],
  ];
  for (const [name, make] of cases) {
    it(`${name}: its state survives each step's tidy, and the parameters are bit-for-bit those without tidy`, () => {
      expect(train(make, 6, true)).toEqual(train(make, 6, false));
    });
  }
});

describe('fit reuses buffers', () => {
  it('after the first epoch, an epoch of fit allocates no fresh buffer (every step ordinary)', async () => {
    const model = mlp([4, 8, 3], { hidden: 'tanh', output: 'softmax', init: 'heNormal', seed: 5, dtype: 'float32' });
    const x = randn([4, 64], { seed: 6 });
    const labels = Array.from({ length: 64 }, (_, i) => i % 3);
    const yData = new Float32Array(3 * 64);
    labels.forEach((l, i) => (yData[l * 64 + i] = 1));
    const y = randn([3, 64], { seed: 7 }).assign(yData);
    const opt = new Adam({ lr: 0.01 });
    await fit(model, { x, y }, { loss: 'cce', optimizer: opt, epochs: 1, batchSize: 16, replay: false });
    const before = memoryStats();
    const history = await fit(model, { x, y }, { loss: 'cce', optimizer: opt, epochs: 2, batchSize: 16, replay: false });
    const after = memoryStats();
    expect(after.allocated - before.allocated).toBe(0);
    expect(after.reused - before.reused).toBeGreaterThan(8 * 30);
    expect(history[1].loss).toBeLessThan(history[0].loss);
  });

  it('replayed, an epoch after the first allocates no fresh buffer and takes few from the pool', async () => {
    const model = mlp([4, 8, 3], { hidden: 'tanh', output: 'softmax', init: 'heNormal', seed: 5, dtype: 'float32' });
    const x = randn([4, 64], { seed: 6 });
    const y = randn([3, 64], { seed: 7 }).assign(Float32Array.from({ length: 3 * 64 }, (_, k) => (Math.floor(k / 64) === (k % 64) % 3 ? 1 : 0)));
    const marks: ReturnType<typeof memoryStats>[] = [];
    const history = await fit(model, { x, y }, { loss: 'cce', optimizer: new Adam({ lr: 0.01 }), epochs: 3, batchSize: 8, onEpoch: () => void marks.push(memoryStats()) });
    expect(history.map((log) => log.replayedSteps)).toEqual([4, 7, 7]);
    // epochs 2 and 3 alike (onEpoch runs, so each begins with a check): one ordinary step and
    // each batch's x and y from the pool; the replays' intermediates are the recording's own buffers
    expect(marks[2].allocated - marks[1].allocated).toBe(0);
    const perEpoch = marks[1].reused - marks[0].reused;
    expect(marks[2].reused - marks[1].reused).toBe(perEpoch);
    expect(perEpoch).toBeLessThan(60);
  });
});

describe("fit's JS heap", () => {
  it('stays flat over thousands of steps (the lazy output layer leaves nothing behind)', async () => {
    const { setFlagsFromString } = await import('node:v8');
    const { runInNewContext } = await import('node:vm');
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const settled = () => {
      gc();
      gc();
      return process.memoryUsage().heapUsed;
    };
    const x = randn([4, 8], { seed: 31 });
    const y = tensor([0, 1, 2].map((k) => Array.from({ length: 8 }, (_, m) => (m % 3 === k ? 1 : 0))));
    const model = mlp([4, 6, 3], { hidden: 'sigmoid', output: 'softmax', seed: 5 });
    const train = (epochs: number) => fit(model, { x, y }, { loss: 'cce', optimizer: new SGD({ lr: 0.1 }), epochs, batchSize: 2, progress: false });
    await train(100);
    await train(500); // 2,400 steps: V8 has compiled the step (the first 2,000 grow the heap by ~450 KB of code and feedback)
    // Two windows of 2,000 steps: a leak grows the heap in both (0.5 KB a step is ~1 MB each),
    // while one-off growth (code V8 compiles late, a test running beside this one in the
    // process) lands in one window only.
    const start = settled();
    await train(500);
    const middle = settled();
    await train(500);
    const end = settled();
    const growth = [middle - start, end - middle];
    console.log(`fit's heap over two windows of 2,000 steps: ${growth.map((g) => `${(g / 1024).toFixed(0)} KB`).join(', ')}`);
    expect(Math.min(...growth)).toBeLessThan(512 * 1024);
  });
});
