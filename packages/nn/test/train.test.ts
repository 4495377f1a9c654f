import { type Tensor, Tape, ValueError, createRng, jsBackend, keep, mul, noGrad, registerBackend, setBackend, sub, tensor, zeros } from '@tapegrad/core';
import {
  type EpochLog, type Module, type Objective, type Optimizer, Dense, accuracy, cost, evaluate, fit, mlp, optimizer, predict,
} from '@tapegrad/nn';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { epochOrder } from '../src/train.js';

/** Plain gradient descent θ ← θ − lr·g, counting its steps: enough to test the loop on its own. */
class TinySGD implements Optimizer {
  readonly name = 'tiny-sgd';
  steps = 0;
  constructor(readonly lr: number, private readonly onStep?: (step: number, params: readonly Tensor[], grads: readonly Tensor[], objective?: Objective) => void) {}
  step(params: readonly Tensor[], grads: readonly Tensor[], objective?: Objective): void {
    this.steps++;
    this.onStep?.(this.steps, params, grads, objective);
    noGrad(() => params.forEach((p, i) => p.assign(sub(p, mul(grads[i], this.lr)))));
  }
  reset(): void {
    this.steps = 0;
  }
}

const xor = {
  x: tensor([[0, 0, 1, 1], [0, 1, 0, 1]], { dtype: 'float64' }),
  y: tensor([[0, 1, 1, 0]], { dtype: 'float64' }),
};

// seed 000's go-to-sports days: temperature (scaled), slept well, lots of homework → went to sports
const sports = {
  x: tensor([
    [0.25, -0.75, 0.1, 0.5, -0.9, 0.3, 0.0, -0.2],
    [1, 1, 0, 1, 0, 0, 1, 0],
    [0, 1, 1, 0, 1, 0, 1, 1],
  ], { dtype: 'float64' }),
  y: tensor([[1, 0, 0, 1, 0, 1, 1, 0]], { dtype: 'float64' }),
};

const withoutTimes = (history: EpochLog[]) => history.map(({ seconds: _s, examplesPerSecond: _e, ...rest }) => rest);

afterEach(() => {
  vi.restoreAllMocks();
});

describe('fit', () => {
  it('learns XOR with a 2-2-1 sigmoid network: every prediction on the right side of 0.5', async () => {
    const model = mlp([2, 2, 1], { hidden: 'sigmoid', output: 'sigmoid', dtype: 'float64', seed: 4, init: 'standardNormal' });
    const history = await fit(model, xor, { loss: 'bce', optimizer: new TinySGD(2), epochs: 3000, batchSize: 'full', metrics: ['accuracy'] });
    expect(history).toHaveLength(3000);
    const out = predict(model, xor.x).toFlatArray();
    expect(out[0]).toBeLessThan(0.5);
    expect(out[1]).toBeGreaterThan(0.5);
    expect(out[2]).toBeGreaterThan(0.5);
    expect(out[3]).toBeLessThan(0.5);
    expect(history[history.length - 1].metrics.accuracy).toBe(1);
    expect(history[history.length - 1].loss).toBeLessThan(0.1 * history[0].loss);
  });

  it('learns XOR online (batch size 1) with a 2-4-1 network', async () => {
    const model = mlp([2, 4, 1], { hidden: 'sigmoid', output: 'sigmoid', dtype: 'float64', seed: 7, init: 'standardNormal' });
    const sgd = new TinySGD(0.5);
    const history = await fit(model, xor, { loss: 'bce', optimizer: sgd, epochs: 1500, batchSize: 1, seed: 3 });
    expect(sgd.steps).toBe(1500 * 4);
    expect(accuracy(predict(model, xor.x), xor.y)).toBe(1);
    expect(history[history.length - 1].loss).toBeLessThan(history[0].loss);
  });

  for (const [name, batchSize, steps] of [['online', 1, 8], ['mini-batch', 3, 3], ['full-batch', 'full', 1], ['batch ≥ N', 100, 1]] as const) {
    it(`${name} training (batchSize ${batchSize}) takes ${steps} step(s) per epoch and reduces the loss`, async () => {
      const model = mlp([3, 2, 1], { hidden: 'sigmoid', output: 'sigmoid', dtype: 'float64', seed: 2, init: 'standardNormal' });
      const sgd = new TinySGD(1);
      const history = await fit(model, sports, { loss: 'bce', optimizer: sgd, epochs: 60, batchSize, seed: 1 });
      expect(sgd.steps).toBe(60 * steps);
      const losses = history.map((h) => h.loss);
      expect(losses[59]).toBeLessThan(0.5 * losses[0]);
      const after = evaluate(model, sports, { loss: 'bce' }).loss!;
      expect(after).toBeLessThan(losses[0]);
    });
  }

  it('trains a float32 model on float32 data', async () => {
    const model = mlp([3, 4, 1], { hidden: 'tanh', output: 'sigmoid', seed: 2 });
    const data = { x: tensor(sports.x.toArray() as number[][]), y: tensor(sports.y.toArray() as number[][]) };
    const history = await fit(model, data, { loss: 'bce', optimizer: new TinySGD(0.5), epochs: 30, batchSize: 2, metrics: ['accuracy'] });
    expect(model.parameters()['0.W'].dtype).toBe('float32');
    expect(history[29].loss).toBeLessThan(0.5 * history[0].loss);
    expect(predict(model, data.x).dtype).toBe('float32');
  });

  it("treats a batch size ≥ N as 'full'", async () => {
    const run = async (batchSize: number | 'full') => {
      const model = mlp([3, 2, 1], { output: 'sigmoid', dtype: 'float64', seed: 2 });
      return withoutTimes(await fit(model, sports, { loss: 'bce', optimizer: new TinySGD(1), epochs: 3, batchSize }));
    };
    expect(await run(8)).toEqual(await run('full'));
    expect(await run(1000)).toEqual(await run('full'));
  });

  it('repeats exactly with the same seed and differs with another', async () => {
    const run = async (seed: number) => {
      const model = mlp([3, 4, 1], { hidden: 'tanh', output: 'sigmoid', dtype: 'float64', seed: 5 });
      const history = await fit(model, sports, { loss: 'bce', optimizer: new TinySGD(0.3), epochs: 5, batchSize: 3, seed, metrics: ['accuracy'] });
      return { history: withoutTimes(history), weights: model.parameters()['0.W'].toFlatArray() };
    };
    const a = await run(11);
    const b = await run(11);
    const c = await run(12);
    expect(b).toEqual(a);
    expect(c.history.map((h) => h.loss)).not.toEqual(a.history.map((h) => h.loss));
    expect(c.weights).not.toEqual(a.weights);
  });

  it('orders each epoch as the benchmark protocol does, the generator carrying over between epochs', async () => {
    // the protocol's check: seed 42, 7996 examples, epoch 0 begins 7340, 1210, 6119, 2666, 7366
    expect(Array.from(epochOrder(7996, createRng(42)).subarray(0, 5))).toEqual([7340, 1210, 6119, 2666, 7366]);

    // a model that records the example indices it is shown (x holds each column's index)
    const n = 10;
    const seen: number[][] = [];
    const w = zeros([1, 1], { dtype: 'float64' });
    const probe: Module = {
      parameters: () => ({ w }),
      forward: (x: Tensor) => {
        seen.push(x.toFlatArray());
        return mul(w, x);
      },
    };
    const data = { x: tensor([Array.from({ length: n }, (_, i) => i)], { dtype: 'float64' }), y: zeros([1, n], { dtype: 'float64' }) };
    await fit(probe, data, { loss: 'mse', optimizer: new TinySGD(0), epochs: 2, batchSize: 4, seed: 9 });
    const rng = createRng(9);
    const first = Array.from(epochOrder(n, rng));
    const second = Array.from(epochOrder(n, rng));
    expect(seen).toEqual([first.slice(0, 4), first.slice(4, 8), first.slice(8), second.slice(0, 4), second.slice(4, 8), second.slice(8)]);
    expect(second).not.toEqual(first);

    seen.length = 0;
    await fit(probe, data, { loss: 'mse', optimizer: new TinySGD(0), epochs: 1, batchSize: 4, shuffle: false });
    expect(seen).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
  });

  it('stops after the current batch when the signal aborts, returning the finished epochs', async () => {
    const controller = new AbortController();
    const sgd = new TinySGD(0.1, (step) => {
      if (step === 6) controller.abort();
    });
    const model = mlp([3, 2, 1], { output: 'sigmoid', dtype: 'float64', seed: 1 });
    const epochs: number[] = [];
    const history = await fit(model, sports, {
      loss: 'bce', optimizer: sgd, epochs: 10, batchSize: 2, signal: controller.signal, onEpoch: (log) => void epochs.push(log.epoch),
    });
    expect(sgd.steps).toBe(6); // 4 batches per epoch: all of epoch 1, half of epoch 2
    expect(history.map((h) => h.epoch)).toEqual([1]);
    expect(epochs).toEqual([1]);

    const early = new TinySGD(0.1);
    expect(await fit(model, sports, { loss: 'bce', optimizer: early, epochs: 3, signal: AbortSignal.abort() })).toEqual([]);
    expect(early.steps).toBe(0);
  });

  it('hears an abort from a timer between batches', async () => {
    const controller = new AbortController();
    // each step takes real time, so the loop must yield to let the timer fire
    const sgd = new TinySGD(0.01, () => {
      const until = performance.now() + 2;
      while (performance.now() < until) { /* busy */ }
    });
    setTimeout(() => controller.abort(), 20);
    const model = mlp([3, 2, 1], { output: 'sigmoid', dtype: 'float64', seed: 1 });
    const history = await fit(model, sports, { loss: 'bce', optimizer: sgd, epochs: 100_000, batchSize: 1, signal: controller.signal });
    expect(controller.signal.aborted).toBe(true);
    expect(history.length).toBeLessThan(100_000);
  });

  it('stops when onEpoch returns false, and passes it the epoch log', async () => {
    const logs: EpochLog[] = [];
    const history = await fit(mlp([3, 2, 1], { output: 'sigmoid', dtype: 'float64', seed: 1 }), sports, {
      loss: 'bce', optimizer: new TinySGD(0.1), epochs: 10, batchSize: 4, metrics: ['accuracy'],
      onEpoch: async (log) => {
        logs.push(log);
        return log.epoch < 3;
      },
    });
    expect(history).toHaveLength(3);
    expect(logs).toEqual(history);
    for (const log of logs) {
      expect(Object.keys(log).sort()).toEqual(['epoch', 'examplesPerSecond', 'loss', 'metrics', 'replayedSteps', 'seconds']);
      expect(log.replayedSteps).toBe(0); // TinySGD does not say it is replayable
      expect(log.seconds).toBeGreaterThanOrEqual(0);
      expect(log.examplesPerSecond).toBeGreaterThan(0);
      expect(log.metrics.accuracy).toBeGreaterThanOrEqual(0);
    }
  });

  it("reports the epoch's loss and metrics of the predictions its steps were taken from", async () => {
    // full batch: epoch 1's numbers are those of the untrained model
    const model = mlp([3, 2, 1], { hidden: 'sigmoid', output: 'sigmoid', dtype: 'float64', seed: 2, init: 'standardNormal' });
    const before = evaluate(model, sports, { loss: 'bce', metrics: ['accuracy', 'precision', 'recall', 'f1'] });
    const history = await fit(model, sports, {
      loss: 'bce', optimizer: new TinySGD(1), epochs: 2, batchSize: 'full', metrics: ['accuracy', 'precision', 'recall', 'f1'],
      validation: sports,
    });
    expect(history[0].loss).toBeCloseTo(before.loss!, 14);
    expect(history[0].metrics).toEqual(before.metrics);
    // validation after the last epoch is the trained model's evaluation
    const after = evaluate(model, sports, { loss: 'bce', metrics: ['accuracy', 'precision', 'recall', 'f1'] });
    expect(history[1].validation).toEqual({ loss: after.loss, metrics: after.metrics });
    expect(history[1].validation!.loss).toBeLessThan(history[0].loss);

    // with mini-batches in shuffled order, the metrics still see every example once, in its own column
    const named = await fit(mlp([3, 2, 1], { output: 'sigmoid', dtype: 'float64', seed: 2 }), sports, {
      loss: 'bce', optimizer: new TinySGD(0), epochs: 1, batchSize: 3, metrics: { acc: 'accuracy', ones: (p) => p.shape[1] },
    });
    expect(named[0].metrics.ones).toBe(8);
    const frozen = mlp([3, 2, 1], { output: 'sigmoid', dtype: 'float64', seed: 2 });
    expect(named[0].metrics.acc).toBe(accuracy(predict(frozen, sports.x), sports.y));
  });

  it('computes the output activation only when something reads it: never for a from-logits loss without metrics, and training is the same either way', async () => {
    // a counting js backend: how often softmax's exp and sigmoid run
    const counts = { exp: 0, sigmoid: 0 };
    const unary: typeof jsBackend.unary = (kernel, x, out, scalar) => {
      if (kernel === 'exp' || kernel === 'sigmoid') counts[kernel]++;
      jsBackend.unary(kernel, x, out, scalar);
    };
    registerBackend({ ...jsBackend, name: 'js-counting', unary });
    setBackend('js-counting');
    try {
      const rng = createRng(3);
      const x = tensor(Array.from({ length: 4 }, () => Array.from({ length: 12 }, () => rng.normal())), { dtype: 'float64' });
      const labels = Array.from({ length: 12 }, (_, m) => m % 3);
      const y = tensor([0, 1, 2].map((k) => labels.map((c) => (c === k ? 1 : 0))), { dtype: 'float64' });
      const train = async (loss: 'cce' | 'mse', metrics: 'accuracy'[]) => {
        const model = mlp([4, 5, 3], { hidden: 'sigmoid', output: 'softmax', dtype: 'float64', seed: 7 });
        counts.exp = counts.sigmoid = 0;
        const history = await fit(model, { x, y }, { loss, optimizer: new TinySGD(0.5), epochs: 2, batchSize: 4, metrics, progress: false });
        return { history, counts: { ...counts }, weights: Object.values(model.parameters()).map((p) => Array.from(p.data)) };
      };
      // 6 steps: cce from logits reads no softmax (logSoftmax's one exp a step, the hidden sigmoid)
      const bare = await train('cce', []);
      expect(bare.counts).toEqual({ exp: 6, sigmoid: 6 });
      // with a metric the output is computed after the recording, for its values: one more exp a step
      const measured = await train('cce', ['accuracy']);
      expect(measured.counts).toEqual({ exp: 12, sigmoid: 6 });
      expect(measured.weights).toEqual(bare.weights);
      expect(measured.history.map((h) => h.loss)).toEqual(bare.history.map((h) => h.loss));
      // the metric is the accuracy of the softmax columns the steps computed (12 examples: a multiple of 1/12)
      expect(measured.history.every((h) => Number.isInteger(h.metrics.accuracy * 12))).toBe(true);
      // mse is a loss of the activations: the softmax is read inside the recording, and its gradient flows
      const squared = await train('mse', []);
      expect(squared.counts.exp).toBe(6);
      expect(squared.weights).not.toEqual(bare.weights);
      expect(squared.history[1].loss).toBeLessThan(squared.history[0].loss);
    } finally {
      setBackend('js');
    }
  });

  it('adds λ·W to the weight gradients for l2 = λ, leaving biases alone', async () => {
    const grads = async (l2: number) => {
      const model = mlp([3, 2, 1], { output: 'sigmoid', dtype: 'float64', seed: 3, biasInit: 'standardNormal' });
      let got: Tensor[] = [];
      // each step of fit runs in tidy: gradients stored beyond the step must be kept
      await fit(model, sports, { loss: 'bce', optimizer: new TinySGD(0, (_s, _p, g) => (got = g.map(keep))), epochs: 1, batchSize: 'full', l2 });
      return { got, params: Object.values(model.parameters()) };
    };
    const plain = await grads(0);
    const decayed = await grads(0.25);
    const names = ['0.W', '0.b', '1.W', '1.b'];
    names.forEach((name, i) => {
      const expected = plain.got[i].toFlatArray().map((g, j) => g + (name.endsWith('W') ? 0.25 * plain.params[i].data[j] : 0));
      decayed.got[i].toFlatArray().forEach((g, j) => expect(g, `${name}[${j}]`).toBeCloseTo(expected[j], 14));
    });
  });

  it("hands the optimiser an objective that recomputes the batch's cost (with the L2 term)", async () => {
    const model = mlp([3, 2, 1], { output: 'sigmoid', dtype: 'float64', seed: 3 });
    let value = Number.NaN;
    let gradientsAgree = false;
    const sgd = new TinySGD(0, (_s, params, grads, objective) => {
      const tape = new Tape();
      const y = tape.record(objective!);
      value = y.item();
      const again = tape.gradient(y, params);
      gradientsAgree = again.every((g, i) => g.toFlatArray().every((v, j) => Math.abs(v - grads[i].data[j]) < 1e-14));
    });
    const history = await fit(model, sports, { loss: 'bce', optimizer: sgd, epochs: 1, batchSize: 'full', l2: 0.1 });
    const weights = [model.parameters()['0.W'], model.parameters()['1.W']];
    const penalty = weights.reduce((s, w) => s + w.toFlatArray().reduce((a, v) => a + v * v, 0), 0) * 0.05;
    expect(value).toBeCloseTo(history[0].loss + penalty, 14);
    expect(gradientsAgree).toBe(true);
  });

  it('drives the real optimisers, L-BFGS with its line search included', async () => {
    for (const opt of [optimizer('lbfgs'), optimizer('adam', { lr: 0.05 }), optimizer('newton-cg')]) {
      const model = mlp([3, 3, 1], { hidden: 'tanh', output: 'sigmoid', dtype: 'float64', seed: 8 });
      const history = await fit(model, sports, { loss: 'bce', optimizer: opt, epochs: 15, batchSize: 'full' });
      expect(history[14].loss, opt.name).toBeLessThan(0.5 * history[0].loss);
    }
  });

  it('trains a model that is not a Sequential through its forward and a loss function', async () => {
    // one sigmoid unit written by hand, with mean squared error as a function
    const layer = new Dense(3, 1, { activation: 'sigmoid', dtype: 'float64', seed: 1 });
    const model: Module = { parameters: () => layer.parameters(), forward: (x) => layer.forward(x) };
    const history = await fit(model, sports, {
      loss: (yHat, y) => cost('mse', { z: yHat, a: yHat, activation: 'identity' }, y), optimizer: new TinySGD(2), epochs: 200, batchSize: 'full',
    });
    expect(history[199].loss).toBeLessThan(0.5 * history[0].loss);
  });

  it('refuses bad data and options with a clear error', async () => {
    const model = mlp([3, 1], { seed: 1, dtype: 'float64' });
    const sgd = new TinySGD(0.1);
    await expect(fit(model, { x: sports.x, y: tensor([[1, 0]]) }, { loss: 'mse', optimizer: sgd, epochs: 1 })).rejects.toThrow(/x has 8 examples \(columns\) but y has 2/);
    await expect(fit(model, sports, { loss: 'hinge' as never, optimizer: sgd, epochs: 1 })).rejects.toThrow(/loss must be one of bce, cce, mse/);
    await expect(fit(model, sports, { loss: 'mse', optimizer: sgd, epochs: 1, batchSize: 0 })).rejects.toThrow(/batchSize must be a positive integer or 'full'/);
    await expect(fit(model, sports, { loss: 'mse', optimizer: sgd, epochs: 1.5 })).rejects.toThrow(ValueError);
    await expect(fit(model, sports, { loss: 'mse', optimizer: sgd, epochs: 1, l2: -1 })).rejects.toThrow(/l2 must be/);
    await expect(fit(model, sports, { loss: 'mse', optimizer: sgd, epochs: 1, metrics: ['auc' as never] })).rejects.toThrow(/unknown metric 'auc'/);
    await expect(fit(model, sports, { loss: 'mse', optimizer: {} as never, epochs: 1 })).rejects.toThrow(/optimizer must be an Optimizer/);
    expect(sgd.steps).toBe(0);
  });
});

describe('progress', () => {
  function captureStderr(isTTY: boolean): string[] {
    const writes: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation(((chunk: string | Uint8Array) => {
      writes.push(String(chunk));
      return true;
    }) as never);
    const saved = Object.getOwnPropertyDescriptor(process.stderr, 'isTTY');
    Object.defineProperty(process.stderr, 'isTTY', { value: isTTY, configurable: true });
    restore.push(() => (saved ? Object.defineProperty(process.stderr, 'isTTY', saved) : delete (process.stderr as { isTTY?: boolean }).isTTY));
    return writes;
  }
  const restore: Array<() => void> = [];
  afterEach(() => restore.splice(0).forEach((f) => f()));

  const options = { loss: 'bce' as const, epochs: 2, batchSize: 4, metrics: ['accuracy' as const] };
  const model = () => mlp([3, 2, 1], { output: 'sigmoid', dtype: 'float64', seed: 1 });

  it('is off by default', async () => {
    const writes = captureStderr(true);
    await fit(model(), sports, { ...options, optimizer: new TinySGD(0.1) });
    expect(writes).toEqual([]);
  });

  it('prints one plain line per epoch when stderr is not a terminal', async () => {
    const writes = captureStderr(false);
    await fit(model(), sports, { ...options, optimizer: new TinySGD(0.1), progress: true });
    expect(writes).toHaveLength(2);
    expect(writes[0]).toMatch(/^epoch 1\/2 {2}loss \d\.\d{4} {2}accuracy \d\.\d{4} {2}\d+\.\d{2}s {2}\d+ examples\/s\n$/);
    expect(writes[1]).toMatch(/^epoch 2\/2 /);
  });

  it("'auto' stays quiet when stderr is not a terminal", async () => {
    const writes = captureStderr(false);
    await fit(model(), sports, { ...options, optimizer: new TinySGD(0.1), progress: 'auto' });
    expect(writes).toEqual([]);
  });

  it('draws a bar per epoch on a terminal, ending with the summary', async () => {
    const writes = captureStderr(true);
    await fit(model(), sports, { ...options, optimizer: new TinySGD(0.1), progress: true });
    const text = writes.join('');
    expect(text).toMatch(/epoch 1\/2 \|.*\| 2\/2 batches {2}loss \d\.\d{4} {2}accuracy \d\.\d{4}/);
    expect(text).toMatch(/epoch 2\/2 \|.*\| 2\/2 batches/);
  });
});

describe('evaluate and predict', () => {
  // Ŷ = 2x + 1 on x = 1, 2, 3 against y = 3, 5, 8: residuals 0, 0, 1
  const line = () => {
    const layer = new Dense(1, 1, { dtype: 'float64', seed: 1 });
    layer.W.assign([2]);
    layer.b.assign([1]);
    const model: Module = { parameters: () => layer.parameters(), forward: (x) => layer.forward(x) };
    return { layer, model };
  };
  const data = { x: tensor([[1, 2, 3]], { dtype: 'float64' }), y: tensor([[3, 5, 8]], { dtype: 'float64' }) };

  it('computes the mean cost per example, the same for any batch size', () => {
    const { model } = line();
    // mse = (1/3)·½·(0 + 0 + 1)
    for (const batchSize of [1, 2, 3, 'full'] as const) expect(evaluate(model, data, { loss: 'mse', batchSize }).loss).toBeCloseTo(1 / 6, 15);
    expect(evaluate(model, data, { loss: 'mse' })).toEqual({ loss: 1 / 6, metrics: {} });
  });

  it('computes metrics over all examples at once, not averaged per batch', () => {
    const model = mlp([3, 2, 1], { output: 'sigmoid', dtype: 'float64', seed: 4 });
    const whole = evaluate(model, sports, { metrics: ['precision', 'recall', 'f1', 'accuracy'], batchSize: 'full' });
    const batched = evaluate(model, sports, { metrics: ['precision', 'recall', 'f1', 'accuracy'], batchSize: 3 });
    expect(batched).toEqual(whole);
    expect(whole.loss).toBeUndefined();
    expect(() => evaluate(model, sports, {})).toThrow(/nothing to compute/);
  });

  it('uses the stable from-logits cost for a sigmoid Sequential', () => {
    // weights so large that σ(z) rounds to exactly 1 for a negative example: the from-logits cost stays exact
    const model = mlp([1, 1], { output: 'sigmoid', dtype: 'float64', seed: 1 });
    model.denseLayers()[0].W.assign([100]);
    const result = evaluate(model, { x: tensor([[1]], { dtype: 'float64' }), y: tensor([[0]], { dtype: 'float64' }) }, { loss: 'bce' });
    expect(result.loss).toBeCloseTo(100, 10); // softplus(100) − 0·100
  });

  it('predict returns [outputs, N] in column order for any batch size', () => {
    const { model } = line();
    for (const batchSize of [1, 2, 'full'] as const) {
      const out = predict(model, data.x, { batchSize });
      expect(out.shape).toEqual([1, 3]);
      expect(out.toFlatArray()).toEqual([3, 5, 7]);
    }
    const net = mlp([3, 4, 2], { output: 'softmax', dtype: 'float64', seed: 6 });
    const all = predict(net, sports.x);
    expect(all.shape).toEqual([2, 8]);
    expect(predict(net, sports.x, { batchSize: 3 }).toFlatArray()).toEqual(all.toFlatArray());
    expect(all.node).toBeNull();
    expect(() => predict(net, tensor([1, 2, 3]))).toThrow(/x must be a \[features, N\] tensor/);
  });
});
