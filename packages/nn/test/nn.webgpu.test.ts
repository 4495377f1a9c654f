/**
 * nn's training on the WebGPU backend (SwiftShader in tests): fitAsync, evaluateAsync and
 * predictAsync on the device give the js backend's numbers within float32 tolerance, for
 * the optimisers that update on the device; the synchronous loops and the CPU-only
 * optimisers refuse a device with a DeviceTensorError naming the alternative.
 */
import {
  DeviceTensorError, Tensor, add, div, getBackend, mean, mul, noGrad, setBackend, sqrt, square, sub, tensor, zerosLike,
} from '@tapegrad/core';
import { moons } from '@tapegrad/datasets';
import {
  type EpochLog, type Optimizer, Adam, BatchNorm1d, BatchNorm2d, Conv2d, Dense, Dropout, Embedding, Flatten, LBFGS, MaxPool2d, Sequential, Momentum, NewtonCG, RProp, SGD, evaluate, evaluateAsync, fit, fitAsync, mlp, predict, predictAsync,
} from '@tapegrad/nn';
import { afterAll, describe, expect, it } from 'vitest';
import '../../backend-webgpu/test/gpu.js';
import { initWebGpuBackend } from '@tapegrad/backend-webgpu';
import { NaiveMomentum } from './helpers/naive-momentum.js';

const backend = await initWebGpuBackend();
afterAll(() => setBackend('js'));

// built on the CPU: `new Tensor` data, whatever backend trains on it
setBackend('js');
const data = moons(48, { noise: 0.1, seed: 3, dtype: 'float32' });
setBackend('webgpu');

interface Run {
  history: EpochLog[];
  evaluation: { loss?: number; metrics: Record<string, number> };
  prediction: Float32Array | Float64Array;
  predictionShape: readonly number[];
  parameters: Array<Float32Array | Float64Array>;
  devices: string[];
}

/** A 2-8-1 tanh/sigmoid net trained for a few epochs on `backend`, from the same seeded weights. */
async function train(backend: 'js' | 'webgpu', makeOptimizer: () => Optimizer): Promise<Run> {
  setBackend(backend);
  try {
    const model = mlp([2, 8, 1], { hidden: 'tanh', output: 'sigmoid', seed: 1, dtype: 'float32' });
    const history = await fitAsync(model, data, {
      loss: 'bce', optimizer: makeOptimizer(), epochs: 4, batchSize: 16, metrics: ['accuracy'], validation: data,
    });
    const evaluation = await evaluateAsync(model, data, { loss: 'bce', metrics: ['accuracy'], batchSize: 20 });
    const predicted = await predictAsync(model, data.x, { batchSize: 20 });
    const params = Object.values(model.parameters());
    return {
      history,
      evaluation,
      prediction: predicted.data,
      predictionShape: predicted.shape,
      parameters: await Promise.all(params.map((p) => p.dataAsync())),
      devices: params.map((p) => p.device),
    };
  } finally {
    setBackend('webgpu');
  }
}

/** float32 closeness: relative for large values, absolute near 0. */
function expectClose(actual: number, expected: number, tolerance = 1e-4): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(tolerance * Math.max(1, Math.abs(expected)));
}

function expectAllClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-4): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) expectClose(actual[i], expected[i], tolerance);
}

const optimisers: Array<[string, () => Optimizer]> = [
  ['SGD', () => new SGD({ lr: 0.5 })],
  ['Momentum', () => new Momentum({ lr: 0.1, momentum: 0.9 })],
  ['Nesterov', () => new Momentum({ lr: 0.1, momentum: 0.9, nesterov: true })],
  ['Adam', () => new Adam({ lr: 0.05 })],
  ['RProp', () => new RProp({ lr: 0.01 })],
];

describe('fitAsync on WebGPU trains as on the js backend', () => {
  it.each(optimisers)('%s: epoch losses, accuracy, validation, parameters, evaluateAsync and predictAsync agree', async (_name, makeOptimizer) => {
    const gpu = await train('webgpu', makeOptimizer);
    const cpu = await train('js', makeOptimizer);
    expect(gpu.devices.every((d) => d === 'webgpu')).toBe(true);
    expect(cpu.devices.every((d) => d === 'cpu')).toBe(true);
    expect(gpu.history.map((h) => h.epoch)).toEqual([1, 2, 3, 4]);
    // it trained: the loss went down over the epochs
    expect(cpu.history[3].loss).toBeLessThan(cpu.history[0].loss);
    gpu.history.forEach((log, e) => {
      expectClose(log.loss, cpu.history[e].loss);
      expectClose(log.metrics.accuracy, cpu.history[e].metrics.accuracy);
      expectClose(log.validation!.loss, cpu.history[e].validation!.loss);
      expectClose(log.validation!.metrics.accuracy, cpu.history[e].validation!.metrics.accuracy);
    });
    gpu.parameters.forEach((p, i) => expectAllClose(p, cpu.parameters[i]));
    expectClose(gpu.evaluation.loss!, cpu.evaluation.loss!);
    expectClose(gpu.evaluation.metrics.accuracy, cpu.evaluation.metrics.accuracy);
    expect(gpu.predictionShape).toEqual([1, 48]);
    expectAllClose(gpu.prediction, cpu.prediction);
    // the last epoch's validation is evaluateAsync on the same parameters
    expectClose(gpu.evaluation.loss!, gpu.history[3].validation!.loss, 1e-5);
  });
});

/** The update rules written as ops (as test/optim.inplace.backends.test.ts states them for the CPU backends). */
type Reference = (params: Tensor[], grads: Tensor[]) => void;

function sgdByOps(lr: number): Reference {
  return (params, grads) => noGrad(() => params.forEach((p, i) => p.assign(sub(p, mul(grads[i], lr)))));
}

function momentumByOps(lr: number, momentum: number, nesterov: boolean): Reference {
  const velocity = new Map<Tensor, Tensor>();
  return (params, grads) => noGrad(() => params.forEach((p, i) => {
    const g = grads[i];
    const previous = velocity.get(p);
    const v = previous ? add(mul(previous, momentum), g) : g.detach();
    velocity.set(p, v);
    p.assign(sub(p, mul(nesterov ? add(g, mul(v, momentum)) : v, lr)));
  }));
}

function adamByOps(lr: number, beta1: number, beta2: number, eps: number): Reference {
  const moments = new Map<Tensor, { m: Tensor; v: Tensor; t: number }>();
  return (params, grads) => noGrad(() => params.forEach((p, i) => {
    const g = grads[i];
    const s = moments.get(p) ?? { m: zerosLike(p), v: zerosLike(p), t: 0 };
    s.t += 1;
    s.m = add(mul(s.m, beta1), mul(g, 1 - beta1));
    s.v = add(mul(s.v, beta2), mul(square(g), 1 - beta2));
    moments.set(p, s);
    p.assign(sub(p, mul(div(div(s.m, 1 - beta1 ** s.t), add(sqrt(div(s.v, 1 - beta2 ** s.t)), eps)), lr)));
  }));
}

describe('on WebGPU the optimisers update on the device, bit for bit the formula built from ops', () => {
  const shapes = [[7, 43], [1, 3], [5]];
  const cases: Array<[string, () => Optimizer, () => Reference]> = [
    ['SGD', () => new SGD({ lr: 0.3 }), () => sgdByOps(0.3)],
    ['Momentum', () => new Momentum({ lr: 0.1, momentum: 0.9 }), () => momentumByOps(0.1, 0.9, false)],
    ['Nesterov', () => new Momentum({ lr: 0.03, momentum: 0.7, nesterov: true }), () => momentumByOps(0.03, 0.7, true)],
    ['Adam', () => new Adam({ lr: 0.05, beta1: 0.8, beta2: 0.99, eps: 1e-6 }), () => adamByOps(0.05, 0.8, 0.99, 1e-6)],
  ];
  it.each(cases)('%s: three steps, θ keeps its device array and its version moves', async (_name, make, reference) => {
    let seed = 11;
    const next = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 4 - 2;
    const initial = shapes.map((shape) => Array.from({ length: shape.reduce((a, b) => a * b, 1) }, next));
    const params = shapes.map((shape, j) => tensor(initial[j], { shape }));
    const expected = shapes.map((shape, j) => tensor(initial[j], { shape }));
    const storages = params.map((p) => p.storage);
    const optimizer = make();
    const byOps = reference();
    for (let t = 1; t <= 3; t++) {
      const grads = shapes.map((shape, j) => tensor(initial[j].map((_, e) => (e % 17 === 3 ? 0 : next() * 10 ** ((e % 5) - 2))), { shape }));
      const versions = params.map((p) => p.version);
      optimizer.step(params, grads);
      byOps(expected, grads);
      for (let j = 0; j < params.length; j++) {
        expect(params[j].device).toBe('webgpu');
        expect(params[j].storage).toBe(storages[j]);
        expect(params[j].version).toBe(versions[j] + 1);
        expect(Array.from(await params[j].dataAsync()), `step ${t} parameter ${j}`).toEqual(Array.from(await expected[j].dataAsync()));
      }
    }
  });
});

describe('on a device backend, what reads values synchronously says what to use instead', () => {
  const model = () => mlp([2, 4, 1], { output: 'sigmoid', seed: 2, dtype: 'float32' });

  it('fit rejects with a DeviceTensorError naming fitAsync; evaluate and predict throw naming theirs', async () => {
    expect(getBackend().name).toBe('webgpu');
    const m = model();
    await expect(fit(m, data, { loss: 'bce', optimizer: new SGD({ lr: 0.1 }), epochs: 1 })).rejects.toThrow(DeviceTensorError);
    await expect(fit(m, data, { loss: 'bce', optimizer: new SGD({ lr: 0.1 }), epochs: 1 })).rejects.toThrow(/webgpu.*await fitAsync/);
    expect(() => evaluate(m, data, { loss: 'bce' })).toThrow(DeviceTensorError);
    expect(() => evaluate(m, data, { loss: 'bce' })).toThrow(/await evaluateAsync/);
    expect(() => predict(m, data.x)).toThrow(/await predictAsync/);
  });

  it('L-BFGS and Newton-CG refuse device parameters, naming the optimisers that work there', async () => {
    for (const optimizer of [new LBFGS(), new NewtonCG()]) {
      const fitting = fitAsync(model(), data, { loss: 'bce', optimizer, epochs: 1, batchSize: 'full' });
      await expect(fitting).rejects.toThrow(DeviceTensorError);
      await expect(fitAsync(model(), data, { loss: 'bce', optimizer, epochs: 1, batchSize: 'full' })).rejects.toThrow(/SGD, Momentum, Adam or RProp/);
    }
  });

  it("RProp's step sizes on the device: stepSizes says to read them with stepSizesAsync, which matches the js backend's", async () => {
    const run = async () => {
      const m = model();
      const rprop = new RProp({ lr: 0.01 });
      await fitAsync(m, data, { loss: 'bce', optimizer: rprop, epochs: 3, batchSize: 'full' });
      return { rprop, w: m.parameters()['0.W'] };
    };
    const gpu = await run();
    expect(() => gpu.rprop.stepSizes(gpu.w)).toThrow(/await rprop.stepSizesAsync/);
    setBackend('js');
    try {
      const cpu = await run();
      expectAllClose((await gpu.rprop.stepSizesAsync(gpu.w))!, cpu.rprop.stepSizes(cpu.w)!, 1e-6);
      // Δ moved from its initial 0.01 (grew while the signs held): the comparison is not of initial values
      expect(cpu.rprop.stepSizes(cpu.w)!.some((v) => Math.abs(v - 0.01) > 1e-6)).toBe(true);
    } finally {
      setBackend('webgpu');
    }
  });

  it('a net with BatchNorm1d trains on the device: its running statistics move as on the js backend', async () => {
    const run = async () => {
      const m = new Sequential([new Dense(2, 6, { activation: 'relu', seed: 1 }), new BatchNorm1d(6), new Dense(6, 1, { activation: 'sigmoid', seed: 2 })]);
      const history = await fitAsync(m, data, { loss: 'bce', optimizer: new Adam({ lr: 0.02 }), epochs: 2, batchSize: 16 });
      const buffers = Object.values(m.buffers?.() ?? {});
      return { history, buffers: await Promise.all(buffers.map((b) => b.dataAsync())) };
    };
    const gpu = await run();
    setBackend('js');
    try {
      const cpu = await run();
      expect(gpu.buffers).toHaveLength(2);
      gpu.history.forEach((log, e) => expectClose(log.loss, cpu.history[e].loss));
      gpu.buffers.forEach((b, i) => expectAllClose(b, cpu.buffers[i]));
      // the running mean left its zeros
      expect(cpu.buffers[0].some((v) => v !== 0)).toBe(true);
    } finally {
      setBackend('webgpu');
    }
  });

  it('an Embedding model keeps its ids on the CPU (take reads them there) and trains as on the js backend', async () => {
    const n = 12;
    const ids = new Tensor(Float32Array.from({ length: n }, (_, i) => i % 5), [n, 1]);
    const targets = new Tensor(Float32Array.from({ length: n * 2 }, (_, i) => Math.sin(i)), [n, 1, 2]);
    const run = async () => {
      const m = new Embedding(5, 2, { seed: 4 });
      const options = { loss: (yHat: Tensor, y: Tensor) => mean(square(sub(yHat, y))), optimizer: new SGD({ lr: 0.5 }), epochs: 3, batchSize: 4, layout: 'rows' as const };
      const history = await fitAsync(m, { x: ids, y: targets }, options);
      const predicted = await predictAsync(m, ids, { layout: 'rows' });
      return { history, predicted: predicted.data };
    };
    const gpu = await run();
    setBackend('js');
    try {
      const cpu = await run();
      gpu.history.forEach((log, e) => expectClose(log.loss, cpu.history[e].loss));
      expect(cpu.history[2].loss).toBeLessThan(cpu.history[0].loss);
      expectAllClose(gpu.predicted, cpu.predicted);
    } finally {
      setBackend('webgpu');
    }
  });

  it('a small CNN (Conv2d, BatchNorm2d, MaxPool2d, Dropout, Flatten, softmax Dense) trains on the device as on the js backend', async () => {
    const n = 8;
    let seed = 5;
    const next = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
    const images = new Tensor(Float32Array.from({ length: n * 1 * 6 * 6 }, next), [n, 1, 6, 6]);
    const labels = new Tensor(Float32Array.from({ length: 3 * n }, (_, i) => (Math.floor(i / n) === i % 3 ? 1 : 0)), [3, n]);
    const run = async () => {
      const m = new Sequential([
        new Conv2d(1, 3, 3, { seed: 1 }), new BatchNorm2d(3), new MaxPool2d(2), new Dropout(0.25, { seed: 2 }), new Flatten(), new Dense(12, 3, { activation: 'softmax', seed: 3 }),
      ]);
      // SGD, not Adam: the conv bias before BatchNorm has a gradient of rounding noise only, which
      // Adam's g/√v would blow up to full-size steps that differ between any two backends
      const history = await fitAsync(m, { x: images, y: labels }, { loss: 'cce', optimizer: new SGD({ lr: 0.1 }), epochs: 2, batchSize: 4, metrics: ['accuracy'] });
      const evaluation = await evaluateAsync(m, { x: images, y: labels }, { loss: 'cce', metrics: ['accuracy'] });
      return { history, evaluation };
    };
    const gpu = await run();
    setBackend('js');
    try {
      const cpu = await run();
      gpu.history.forEach((log, e) => {
        expectClose(log.loss, cpu.history[e].loss);
        expect(log.metrics.accuracy).toBe(cpu.history[e].metrics.accuracy);
      });
      expectClose(gpu.evaluation.loss!, cpu.evaluation.loss!);
    } finally {
      setBackend('webgpu');
    }
  });

  it('the CPU waits once per epoch, not per batch: one read of the summed loss (and one of the non-finite probe)', async () => {
    const reads = async (onNonFinite: 'stop' | 'ignore') => {
      const before = backend.context.stats.reads;
      const history = await fitAsync(model(), data, { loss: 'bce', optimizer: new Adam({ lr: 0.01 }), epochs: 3, batchSize: 8, onNonFinite });
      expect(history).toHaveLength(3);
      return backend.context.stats.reads - before;
    };
    // 6 batches an epoch, 3 epochs
    expect(await reads('ignore')).toBe(3);
    expect(await reads('stop')).toBe(6);
  });

  it('waits on one fence per step (no transfer), so it runs at most two steps ahead of the device', async () => {
    const before = backend.context.stats;
    await fitAsync(model(), data, { loss: 'bce', optimizer: new Adam({ lr: 0.01 }), epochs: 2, batchSize: 8, onNonFinite: 'ignore' });
    const after = backend.context.stats;
    // 6 batches an epoch, 2 epochs: 12 fences, and reads only for the 2 epochs' losses
    expect([after.fences - before.fences, after.reads - before.reads]).toEqual([12, 2]);
  });

  it('an optimiser of your own written with ops and assign (the README\'s NaiveMomentum) trains on the device as Momentum does', async () => {
    const options = { loss: 'bce' as const, epochs: 3, batchSize: 16 };
    const naive = await fitAsync(model(), data, { ...options, optimizer: new NaiveMomentum(0.1) });
    const builtIn = await fitAsync(model(), data, { ...options, optimizer: new Momentum({ lr: 0.1 }) });
    naive.forEach((log, e) => expectClose(log.loss, builtIn[e].loss, 1e-6));
  });

  it('onEpoch returning false and an aborted signal stop fitAsync as they stop fit', async () => {
    const stopped = await fitAsync(model(), data, { loss: 'bce', optimizer: new SGD({ lr: 0.1 }), epochs: 5, batchSize: 16, onEpoch: (log) => log.epoch < 2 });
    expect(stopped.map((log) => log.epoch)).toEqual([1, 2]);
    const controller = new AbortController();
    let batches = 0;
    const aborted = await fitAsync(model(), data, {
      loss: 'bce', optimizer: new SGD({ lr: 0.1 }), epochs: 5, batchSize: 16, signal: controller.signal,
      onBatch: (progress) => {
        batches++;
        // not read per step on a device
        expect(progress.loss).toBeNaN();
        if (progress.epoch === 2 && progress.batch === 1) controller.abort();
      },
    });
    expect(aborted.map((log) => log.epoch)).toEqual([1]);
    expect(batches).toBe(4);
  });

  it('data given as device tensors is read back once and trains as CPU data does', async () => {
    const { tensor } = await import('@tapegrad/core');
    const onDevice = { x: tensor(data.x.toArray() as number[][]), y: tensor(data.y.toArray() as number[][]) };
    expect(onDevice.x.device).toBe('webgpu');
    const fromDevice = await fitAsync(model(), onDevice, { loss: 'bce', optimizer: new SGD({ lr: 0.5 }), epochs: 2, batchSize: 16 });
    const fromCpu = await fitAsync(model(), data, { loss: 'bce', optimizer: new SGD({ lr: 0.5 }), epochs: 2, batchSize: 16 });
    fromDevice.forEach((log, e) => expect(log.loss).toBe(fromCpu[e].loss));
  });

  it('a non-finite loss stops training after the epoch, with step null', async () => {
    const m = model();
    const bad = { x: data.x, y: data.y };
    const history = fitAsync(m, bad, { loss: (yHat: Tensor) => yHat.log().sum().mul(Infinity), optimizer: new SGD({ lr: 0.1 }), epochs: 3, batchSize: 16 });
    await expect(history).rejects.toMatchObject({ epoch: 1, step: null, quantity: 'loss' });
  });
});
