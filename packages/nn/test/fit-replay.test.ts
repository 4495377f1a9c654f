import { type DType, type Tensor, mul, randn, setBackend, tensor } from '@tapegrad/core';
import {
  type FitOptions, type History, type Module, Adam, BatchNorm1d, Conv2d, Dense, Dropout, Embedding, Flatten, GELU, LayerNorm, Linear, MaxPool2d, Momentum, MultiHeadAttention,
  NonFiniteError, RProp, SGD, fit, mlp, residual, sequential,
} from '@tapegrad/nn';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';

/**
 * fit's step replay (FitOptions.replay, core's StepReplay): one ordinary step, two recorded,
 * one checked (again after each onEpoch), then every other full-size batch replayed. What a user must be able
 * to rely on: the History and the trained parameters are bit for bit those of replay: false,
 * and replay happens only where it is safe.
 */

afterEach(() => setBackend('js'));

/** N examples as columns [features, N], one-hot targets [classes, N] (class = a seeded rule of the features). */
function columnsData(features: number, classes: number, n: number, dtype: DType, seed: number) {
  const x = randn([features, n], { seed, dtype });
  const xs = x.data;
  const labels = Array.from({ length: n }, (_, j) => Math.abs(Math.floor(xs[j] * 3 + xs[n + j] * 2)) % classes);
  const y = tensor(Array.from({ length: classes }, (_, c) => labels.map((l) => (l === c ? 1 : 0))), { dtype });
  return { x, y };
}

/** The same training twice, from the same initial model, replayed and not. */
async function bothWays(makeModel: () => Module, data: { x: Tensor; y: Tensor }, options: Omit<FitOptions, 'optimizer'> & { optimizer: () => FitOptions['optimizer'] }) {
  const runs: { history: History; params: Float32Array[] | Float64Array[]; error: unknown }[] = [];
  for (const replay of [true, false]) {
    const model = makeModel();
    let history: History = [];
    let error: unknown = null;
    try {
      history = await fit(model, data, { ...options, optimizer: options.optimizer(), replay });
    } catch (e) {
      error = e;
    }
    runs.push({ history, params: Object.values(model.parameters()).map((p) => p.data.slice()) as Float32Array[], error });
  }
  return { replayed: runs[0], ordinary: runs[1] };
}

const withoutTimes = (history: History) => history.map(({ seconds: _s, examplesPerSecond: _e, replayedSteps: _r, ...rest }) => rest);

function expectSameTraining(runs: Awaited<ReturnType<typeof bothWays>>): void {
  expect(withoutTimes(runs.replayed.history)).toEqual(withoutTimes(runs.ordinary.history));
  runs.replayed.params.forEach((p, i) => expect(Array.from(p)).toEqual(Array.from(runs.ordinary.params[i])));
}

describe('fit replays its step', () => {
  // 100 examples in batches of 8: 12 full batches and a short one of 4 per epoch; 4 of the 12 run ordinarily
  const data32 = columnsData(6, 3, 100, 'float32', 11);

  it.each([
    ['SGD', () => new SGD({ lr: 0.1 })],
    ['Momentum', () => new Momentum({ lr: 0.05, momentum: 0.9 })],
    ['Nesterov', () => new Momentum({ lr: 0.05, momentum: 0.9, nesterov: true })],
    // its bias corrections change every step: prepareReplay writes them before each replay
    ['Adam', () => new Adam({ lr: 0.01 })],
  ])('with %s: the same History and parameters bit for bit, 8 then 12 of 13 steps replayed per epoch', async (_name, optimizer) => {
    const runs = await bothWays(() => mlp([6, 16, 8, 3], { output: 'softmax', dtype: 'float32', seed: 3 }), data32, {
      loss: 'cce', optimizer, epochs: 3, batchSize: 8, metrics: ['accuracy'],
    });
    expectSameTraining(runs);
    // epoch 1: one ordinary step, two recorded, one checked; every epoch: the short last batch
    expect(runs.replayed.history.map((log) => log.replayedSteps)).toEqual([8, 12, 12]);
    expect(runs.ordinary.history.map((log) => log.replayedSteps)).toEqual([0, 0, 0]);
    // it trained
    expect(runs.replayed.history[2].loss).toBeLessThan(runs.replayed.history[0].loss);
  });

  it('in float64, with an L2 penalty, sigmoid outputs and BCE, a validation set and onBatch', async () => {
    const data = columnsData(4, 2, 60, 'float64', 12);
    const progress: number[] = [];
    const runs = await bothWays(() => mlp([4, 5, 2], { hidden: 'tanh', output: 'sigmoid', dtype: 'float64', seed: 4 }), data, {
      loss: 'bce', optimizer: () => new SGD({ lr: 0.5 }), epochs: 2, batchSize: 5, l2: 0.01, metrics: ['accuracy'],
      validation: columnsData(4, 2, 20, 'float64', 13), onBatch: ({ loss }) => void progress.push(loss),
    });
    expectSameTraining(runs);
    expect(runs.replayed.history[1].validation!.loss).toBeGreaterThan(0);
    expect(runs.replayed.history.map((log) => log.replayedSteps)).toEqual([8, 12]);
    // the running mean losses onBatch saw: the same, step for step, in both runs
    expect(progress).toHaveLength(48);
    expect(progress.slice(0, 24)).toEqual(progress.slice(24));
  });

  it('for a CNN (Conv2d, MaxPool2d, Flatten, Dense) with momentum', async () => {
    const n = 24;
    const x = randn([n, 1, 6, 6], { seed: 21 });
    const y = tensor(Array.from({ length: 3 }, (_, c) => Array.from({ length: n }, (_, j) => (j % 3 === c ? 1 : 0))));
    const model = () => sequential(new Conv2d(1, 3, 3, { padding: 1, seed: 1 }), new MaxPool2d(2), new Flatten(), new Dense(27, 3, { activation: 'softmax', seed: 2 }));
    const runs = await bothWays(model, { x, y }, { loss: 'cce', optimizer: () => new Momentum({ lr: 0.05, momentum: 0.9 }), epochs: 2, batchSize: 4 });
    expectSameTraining(runs);
    expect(runs.replayed.history.map((log) => log.replayedSteps)).toEqual([2, 6]);
  });

  it('stops on a non-finite loss at the same step, with the same parameters', async () => {
    // regression targets and too large a step: the loss overflows at epoch 1, step 7
    const data = { x: randn([6, 100], { seed: 11 }), y: randn([3, 100], { seed: 12 }) };
    const runs = await bothWays(() => mlp([6, 16, 3], { output: 'identity', dtype: 'float32', seed: 5 }), data, {
      loss: 'mse', optimizer: () => new SGD({ lr: 0.8 }), epochs: 5, batchSize: 8,
    });
    expect(runs.replayed.error).toBeInstanceOf(NonFiniteError);
    const [a, b] = [runs.replayed.error as NonFiniteError, runs.ordinary.error as NonFiniteError];
    expect([a.epoch, a.step]).toEqual([b.epoch, b.step]);
    // steps 5 and 6 were replayed; step 7's loss, read between the replay's two parts, stops it before its update
    expect([a.epoch, a.step]).toEqual([1, 7]);
    expect(a.history.map((log) => log.loss)).toEqual(b.history.map((log) => log.loss));
    runs.replayed.params.forEach((p, i) => expect(Array.from(p)).toEqual(Array.from(runs.ordinary.params[i])));
  });

  it.each([
    ['an optimiser that reads values on the CPU (RProp)', () => mlp([6, 8, 3], { output: 'softmax', seed: 6 }), () => new RProp()],
    ['Dropout, which draws a new mask every step', () => sequential(new Dense(6, 8, { seed: 7 }), new Dropout(0.5, { seed: 1 }), new Dense(8, 3, { seed: 8 })), () => new SGD({ lr: 0.1 })],
    ['BatchNorm, whose running statistics are updated on the CPU', () => sequential(new Dense(6, 8, { seed: 7 }), new BatchNorm1d(8), new Dense(8, 3, { seed: 8 })), () => new SGD({ lr: 0.1 })],
  ])('replays nothing with %s, and trains as ever', async (_what, model, optimizer) => {
    const runs = await bothWays(model, data32, { loss: 'cce', optimizer, epochs: 2, batchSize: 8 });
    expect(runs.replayed.history.map((log) => log.replayedSteps)).toEqual([0, 0]);
    expectSameTraining(runs);
  });

  it('for a small transformer block on sequences [N, T, D]: residual attention, LayerNorm, GELU', async () => {
    const [n, t, d] = [20, 4, 8];
    const x = randn([n, t, d], { seed: 31 });
    const y = tensor(Array.from({ length: 3 }, (_, c) => Array.from({ length: n }, (_, j) => (j % 3 === c ? 1 : 0))));
    const model = () => sequential(
      residual(sequential(new LayerNorm(d), new MultiHeadAttention(d, 2, { causal: true, seed: 2 }))),
      residual(sequential(new LayerNorm(d), new Linear(d, 16, { seed: 3 }), new GELU(), new Linear(16, d, { seed: 4 }))),
      new Flatten(),
      new Dense(t * d, 3, { activation: 'softmax', seed: 5 }),
    );
    const runs = await bothWays(model, { x, y }, { loss: 'cce', optimizer: () => new Momentum({ lr: 0.05, momentum: 0.9 }), epochs: 2, batchSize: 4, metrics: ['accuracy'] });
    expectSameTraining(runs);
    expect(runs.replayed.history.map((log) => log.replayedSteps)).toEqual([1, 5]);
  });

  it('for token ids through an Embedding: trains the same, replayed or not', async () => {
    const n = 24;
    const ids = tensor(Array.from({ length: n * 3 }, (_, i) => (i * 7) % 5), { shape: [n, 3] });
    const y = tensor(Array.from({ length: 2 }, (_, c) => Array.from({ length: n }, (_, j) => (((j * 21) % 5) % 2 === c ? 1 : 0))));
    const model = () => sequential(new Embedding(5, 4, { seed: 1 }), new Flatten(), new Dense(12, 2, { activation: 'softmax', seed: 2 }));
    const runs = await bothWays(model, { x: ids, y }, { loss: 'cce', optimizer: () => new SGD({ lr: 0.2 }), epochs: 2, batchSize: 4, layout: 'rows' });
    expectSameTraining(runs);
    // the ids steer take() from the CPU: the step reads them, so it is never replayed
    expect(runs.replayed.history.map((log) => log.replayedSteps)).toEqual([0, 0]);
  });

  it('checks the recording again after each onEpoch, which may change what a step computes, and records afresh', async () => {
    /** A layer whose forward reads a field of its own: a temperature an onEpoch callback anneals. */
    class Scaled implements Module {
      temperature = 1;
      readonly inner = new Dense(6, 3, { activation: 'softmax', seed: 12 });
      forward(x: Tensor): Tensor {
        return this.inner.forward(mul(x, 1 / this.temperature));
      }
      parameters() {
        return this.inner.parameters();
      }
    }
    let model = new Scaled();
    const runs = await bothWays(() => (model = new Scaled()), data32, {
      loss: 'cce', optimizer: () => new SGD({ lr: 0.1 }), epochs: 3, batchSize: 8,
      onEpoch(log) {
        if (log.epoch === 1) model.temperature = 2;
      },
    });
    expect(runs.replayed.error).toBeNull();
    expectSameTraining(runs);
    // epoch 2: its first step checks (and fails: the temperature changed), then 1 ordinary, 2 recorded, 1 checked, 7 replayed; epoch 3: checked, then 11
    expect(runs.replayed.history.map((log) => log.replayedSteps)).toEqual([8, 7, 11]);
  });

  it('does not replay an epoch of fewer than 4 full-size batches when onEpoch runs after it; without onEpoch, full-batch training replays', async () => {
    const options = { loss: 'cce' as const, optimizer: () => new SGD({ lr: 0.1 }), epochs: 7, batchSize: 'full' as const };
    const withCallback = await bothWays(() => mlp([6, 8, 3], { output: 'softmax', seed: 13 }), data32, { ...options, onEpoch: () => {} });
    expect(withCallback.replayed.history.map((log) => log.replayedSteps)).toEqual([0, 0, 0, 0, 0, 0, 0]);
    const without = await bothWays(() => mlp([6, 8, 3], { output: 'softmax', seed: 13 }), data32, options);
    // one step an epoch: ordinary, recorded, recorded, checked, then replayed
    expect(without.replayed.history.map((log) => log.replayedSteps)).toEqual([0, 0, 0, 0, 1, 1, 1]);
    expectSameTraining(without);
  });

  it("makes the replayable optimisers' hyperparameters read-only: a learning rate changed between steps would not reach replayed ones", () => {
    const sgd = new SGD({ lr: 0.1 });
    expect(() => {
      (sgd as { lr: number }).lr = 0.5;
    }).toThrow(TypeError);
    expect(sgd.lr).toBe(0.1);
    const adam = new Adam({ lr: 0.01 });
    expect(() => {
      (adam as { beta1: number }).beta1 = 0.5;
    }).toThrow(TypeError);
    expect({ ...new Momentum({ lr: 0.1, nesterov: true }) }).toMatchObject({ lr: 0.1, momentum: 0.9, nesterov: true });
  });

  it('property: any small MLP, batch size, dtype and replayable optimiser trains the same replayed', async () => {
    await fc.assert(fc.asyncProperty(
      fc.record({
        sizes: fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 2, maxLength: 4 }),
        examples: fc.integer({ min: 8, max: 40 }),
        batchSize: fc.integer({ min: 1, max: 9 }),
        dtype: fc.constantFrom<DType>('float32', 'float64'),
        optimizer: fc.constantFrom('sgd', 'momentum', 'nesterov', 'adam'),
        seed: fc.integer({ min: 1, max: 100_000 }),
      }),
      async ({ sizes, examples, batchSize, dtype, optimizer, seed }) => {
        const classes = sizes[sizes.length - 1];
        const x = randn([sizes[0], examples], { seed, dtype });
        const y = tensor(Array.from({ length: classes }, (_, c) => Array.from({ length: examples }, (_, j) => ((j * 7 + seed) % classes === c ? 1 : 0))), { dtype });
        const make = () => (optimizer === 'sgd' ? new SGD({ lr: 0.1 }) : optimizer === 'adam' ? new Adam({ lr: 0.01 }) : new Momentum({ lr: 0.05, nesterov: optimizer === 'nesterov' }));
        const runs = await bothWays(() => mlp(sizes, { output: classes > 1 ? 'softmax' : 'sigmoid', dtype, seed }), { x, y }, {
          loss: classes > 1 ? 'cce' : 'bce', optimizer: make, epochs: 2, batchSize, metrics: ['accuracy'],
        });
        expectSameTraining(runs);
        const full = Math.floor(examples / batchSize);
        // epoch 1 replays all but its first four full-size steps; epoch 2 every full-size step
        expect(runs.replayed.history.map((log) => log.replayedSteps)).toEqual([Math.max(0, full - 4), full > 4 ? full : Math.max(0, 2 * full - 4) - Math.max(0, full - 4)]);
      },
    ), { numRuns: 15, seed: 20261206 });
  });

  it('rejects a replay option that is not a boolean, naming it', async () => {
    await expect(fit(mlp([6, 3], { seed: 1 }), data32, { loss: 'mse', optimizer: new SGD({ lr: 0.1 }), epochs: 1, replay: 'yes' as never })).rejects.toThrow('fit: replay must be true or false, got yes');
  });
});
