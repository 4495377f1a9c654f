/**
 * tapegrad on a GPU through WebGPU (@tapegrad/backend-webgpu): the protocol's tasks trained
 * the way a user trains on a device — nn's `fitAsync` (batches uploaded, forward, tape,
 * gradients and the optimiser's update on the device, one read per epoch) — and the matmul
 * grid on device tensors.
 *
 * fitAsync shuffles with the protocol's generator (seed 42), but a plan may run only the
 * first batches of each epoch (--quick, a budget, SwiftShader): so each epoch is one
 * `fitAsync` call over that epoch's examples, gathered in the protocol's order beforehand
 * (`shuffle: false`), with the model and the optimiser (momentum's velocity) carried from
 * call to call. The epoch's time is fitAsync's own (`EpochLog.seconds`: its batch loop and
 * the epoch's closing read, which waits for the device), so the gather and fitAsync's set-up
 * are outside the clock, as data preparation is for every row.
 *
 * On SwiftShader (Google's CPU implementation of Vulkan) every number is a CPU emulating a
 * GPU: the rows are marked "SwiftShader (CPU): correctness only", their ratios are not speed
 * claims, and a plan longer than the SwiftShader plan is shortened to it (`softwarePlan`).
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Backend, type Tensor, matmul, setBackend, tensor, tidy } from '@tapegrad/core';
import {
  Conv2d, Dense, Flatten, MaxPool2d, Momentum, ReLU, SGD, type Sequential, evaluateAsync, fitAsync, mlp, sequential,
} from '@tapegrad/nn';
import { CLASSES, type Layer, type MatmulSize, PIXELS, type TaskSpec, epochOrders } from '../protocol.js';
import type { Evaluation, ExternalRun, Framework, MatmulRun, TrainData, Unavailable } from './types.js';
import { columnsOf, importWorkspacePackage, oneHotColumns } from './tapegrad.js';
import { type AdapterFacts, DISABLE_ENV, SOFTWARE_MARKING, SWIFTSHADER_ICD, adapterText, softwarePlan } from './webgpu-facts.js';

export { type AdapterFacts, SOFTWARE_MARKING, adapterText } from './webgpu-facts.js';

/** What the bench needs of @tapegrad/backend-webgpu's backend (imported dynamically: the package is optional). */
interface WebGpuBackendLike extends Backend {
  readonly adapter: { vendor: string; architecture: string; device: string; description: string; swiftShader: boolean };
  readonly context: { readonly device: GPUDevice };
}

export interface LoadedWebGpu {
  framework: Framework;
  backend: WebGpuBackendLike;
  adapter: AdapterFacts;
}

const SIDE = 28;

/** The task's network as nn layers on the current backend, with the protocol's initial weights assigned. */
function buildModel(task: TaskSpec, layers: Layer[]): Sequential {
  let model: Sequential;
  if (task.conv) {
    const [c1, c2] = task.conv;
    const [, d1, d2, classes] = task.sizes;
    model = sequential({
      conv1: new Conv2d(c1.inChannels, c1.outChannels, c1.kernel, { padding: c1.padding, dtype: 'float32', seed: task.seed }),
      relu1: new ReLU(),
      pool1: new MaxPool2d(2),
      conv2: new Conv2d(c2.inChannels, c2.outChannels, c2.kernel, { padding: c2.padding, dtype: 'float32', seed: task.seed }),
      relu2: new ReLU(),
      pool2: new MaxPool2d(2),
      flatten: new Flatten(),
      dense1: new Dense(task.sizes[0], d1, { activation: 'relu', dtype: 'float32', seed: task.seed }),
      dense2: new Dense(d1, d2, { activation: 'relu', dtype: 'float32', seed: task.seed }),
      dense3: new Dense(d2, classes, { activation: 'softmax', dtype: 'float32', seed: task.seed }),
    });
  } else {
    model = mlp(task.sizes, {
      hidden: task.hidden, output: task.output === 'softmax-cce' ? 'softmax' : 'sigmoid', dtype: 'float32', seed: task.seed,
    });
  }
  // the protocol's weights, layer by layer in its order (W, b of each conv, then of each dense layer)
  const parameters = Object.entries(model.parameters());
  if (parameters.length !== 2 * layers.length) throw new Error(`webgpu ${task.id}: the model has ${parameters.length} parameters, the protocol ${2 * layers.length}`);
  layers.forEach((layer, l) => {
    const [[wName, W], [bName, b]] = [parameters[2 * l], parameters[2 * l + 1]];
    if (!wName.endsWith('W') || !bName.endsWith('b')) throw new Error(`webgpu ${task.id}: parameters ${wName}, ${bName} are not layer ${l + 1}'s W and b`);
    W.assign(layer.W);
    b.assign(layer.b);
  });
  return model;
}

/** Examples `indices` of a split in the model's layout: images [N, 1, 28, 28] or columns [784, N]; labels one-hot columns [10, N]. */
function examples(task: TaskSpec, images: Float32Array, labels: Uint8Array | Int32Array | ArrayLike<number>, indices: ArrayLike<number> | null): { x: Tensor; y: Tensor } {
  const n = indices ? indices.length : labels.length;
  const rows = new Float32Array(n * PIXELS);
  const picked = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    const i = indices ? indices[r] : r;
    rows.set(images.subarray(i * PIXELS, (i + 1) * PIXELS), r * PIXELS);
    picked[r] = labels[i];
  }
  const x = task.conv
    ? tensor(rows, { shape: [n, 1, SIDE, SIDE], dtype: 'float32' })
    : tensor(columnsOf(rows, n, PIXELS), { shape: [PIXELS, n], dtype: 'float32' });
  return { x, y: tensor(oneHotColumns(picked), { shape: [CLASSES, n], dtype: 'float32' }) };
}

/** CPU tensors for the examples; created while a CPU backend is current, fitAsync uploads each batch. */
function onCpu<T>(f: () => T): T {
  setBackend('js');
  try {
    return f();
  } finally {
    setBackend('webgpu');
  }
}

/**
 * A plan run with fitAsync on the device: epoch e trains on the first `plan.batches` batches of
 * the protocol's order e. The budget probe: if epoch 1 (its batches enqueued and its closing
 * read done) shows the plan cannot fit twice the budget, the run stops there and says so, as
 * the harness's probe does for the other rows.
 */
async function trainOnDevice(task: TaskSpec, data: TrainData, layers: Layer[], plan: { epochs: number; batches: number; budget: number }, log: (line: string) => void): Promise<ExternalRun> {
  setBackend('webgpu');
  const model = buildModel(task, layers);
  const optimizer = task.momentum !== undefined ? new Momentum({ lr: task.lr, momentum: task.momentum }) : new SGD({ lr: task.lr });
  const loss = task.output === 'softmax-cce' ? 'cce' : 'bce';
  const n = data.train.n;
  const orders = epochOrders(n, plan.epochs);
  const epochSeconds: number[] = [];
  let stoppedEarly = false;
  for (let e = 0; e < plan.epochs; e++) {
    const slice = orders[e].subarray(0, Math.min(plan.batches * task.batch, n));
    const set = onCpu(() => examples(task, data.train.images, data.train.labels, slice));
    let seconds = NaN;
    await fitAsync(model, set, {
      loss, optimizer, epochs: 1, batchSize: task.batch, shuffle: false, metrics: [],
      onEpoch: (epochLog) => {
        seconds = epochLog.seconds;
      },
    });
    epochSeconds.push(seconds);
    if (e === 0 && Number.isFinite(plan.budget)) {
      const estimate = seconds * plan.epochs;
      if (estimate > 2 * plan.budget) return { overBudget: { secondsPerBatch: seconds / plan.batches, probeBatches: plan.batches, estimate } };
    }
    const elapsed = epochSeconds.reduce((s, x) => s + x, 0);
    const rest = epochSeconds.length > 1 ? epochSeconds.slice(1) : epochSeconds;
    const remaining = (plan.epochs - e - 1) * [...rest].sort((a, b) => a - b)[rest.length >> 1];
    if (Number.isFinite(plan.budget) && e + 1 < plan.epochs && epochSeconds.length >= 2 && elapsed + remaining > 1.25 * plan.budget) {
      stoppedEarly = true;
      break;
    }
  }
  let evaluation: Evaluation | null = null;
  if (!stoppedEarly) {
    const test = onCpu(() => examples(task, data.eval.images, data.eval.labels, null));
    const result = await evaluateAsync(model, test, { loss, metrics: ['accuracy'] });
    evaluation = { loss: result.loss!, accuracy: result.metrics.accuracy };
  }
  log(`  ${task.id} tapegrad-webgpu: fitAsync on the device, ${epochSeconds.length} epoch calls`);
  return { epochSeconds, stoppedEarly, evaluation };
}

/**
 * C = A·B on device tensors: a run is `callsPerRun` products enqueued, then a wait for the
 * queue to drain (so the row times the GPU, not the enqueueing); enough products per run for
 * ≈ 50 ms, so one round trip to the device does not dominate a small product.
 */
async function deviceMatmul(backend: WebGpuBackendLike, size: MatmulSize, a: Float32Array, b: Float32Array): Promise<MatmulRun> {
  setBackend('webgpu');
  const queue = backend.context.device.queue;
  const A = tensor(a, { shape: [size.m, size.k], dtype: 'float32' });
  const B = tensor(b, { shape: [size.k, size.n], dtype: 'float32' });
  let C: Tensor | null = null;
  const products = async (count: number) => {
    setBackend('webgpu');
    C = tidy(() => {
      for (let i = 1; i < count; i++) matmul(A, B);
      return matmul(A, B);
    });
    await queue.onSubmittedWorkDone();
  };
  await products(1); // compiles the pipeline
  const t0 = performance.now();
  await products(1);
  const once = (performance.now() - t0) / 1000;
  const callsPerRun = Math.max(1, Math.min(64, Math.ceil(0.05 / Math.max(once, 1e-6))));
  return {
    callsPerRun,
    run: () => products(callsPerRun),
    async result() {
      return (C ?? matmul(A, B)).dataAsync();
    },
    dispose() {},
  };
}

/**
 * Loads @tapegrad/backend-webgpu and asks for an adapter (guarded: no package, no Vulkan
 * driver or no adapter gives an `unavailable` row with the one-line reason, never a failure).
 * Which Vulkan driver runs is the environment's choice (VK_ICD_FILENAMES): the bench never
 * points it at SwiftShader itself, since that would hide a real GPU.
 */
export async function loadWebGpu(): Promise<{ loaded: LoadedWebGpu | null; unavailable: Unavailable[] }> {
  const id = 'tapegrad-webgpu';
  const missing = (reason: string) => ({ loaded: null, unavailable: [{ id, label: 'tapegrad (webgpu)', isTapegrad: true, reason }] });
  if (process.env[DISABLE_ENV] === 'off') return missing(`no WebGPU adapter (${DISABLE_ENV}=off)`);
  // Dawn's Vulkan loader complains on every start without one
  process.env.XDG_RUNTIME_DIR ??= mkdtempSync(join(tmpdir(), 'tapegrad-xdg-'));
  let backend: WebGpuBackendLike;
  try {
    const mod = await importWorkspacePackage('@tapegrad/backend-webgpu', 'backend-webgpu');
    const init = mod.initWebGpuBackend as ((options?: { powerPreference?: 'high-performance' }) => Promise<WebGpuBackendLike>) | undefined;
    if (typeof init !== 'function') throw new Error('the module exports no initWebGpuBackend()');
    backend = await init({ powerPreference: 'high-performance' });
    setBackend(backend.name);
    const product = await matmul(tensor(new Float32Array(6).fill(1), { shape: [2, 3] }), tensor(new Float32Array(6).fill(1), { shape: [3, 2] })).dataAsync();
    if (product.length !== 4 || Array.from(product).some((v) => v !== 3)) throw new Error(`self-test failed: ones(2,3)·ones(3,2) gave [${Array.from(product).join(', ')}]`);
  } catch (error) {
    const reason = (error as Error).message.split('\n')[0];
    // the backend's own reason names SwiftShader's manifest when Dawn found no adapter
    const hint = !process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD) && !reason.includes(SWIFTSHADER_ICD) ? ` (for SwiftShader: VK_ICD_FILENAMES=${SWIFTSHADER_ICD})` : '';
    return missing(`@tapegrad/backend-webgpu unavailable: ${reason}${hint}`);
  } finally {
    setBackend('js');
  }
  const adapter: AdapterFacts = {
    vendor: backend.adapter.vendor, architecture: backend.adapter.architecture, device: backend.adapter.device,
    description: backend.adapter.description, software: backend.adapter.swiftShader,
  };
  const framework: Framework = {
    id,
    label: adapter.software ? `tapegrad (webgpu) [${SOFTWARE_MARKING}]` : 'tapegrad (webgpu)',
    isTapegrad: true,
    details: `@tapegrad/backend-webgpu (${adapterText(adapter)}); tasks through nn's fitAsync on the device`,
    ...(adapter.software ? { marking: SOFTWARE_MARKING } : {}),
    planFor: (task, plan) => softwarePlan(task, plan, adapter.software),
    async activate() {
      setBackend('webgpu');
    },
    async createTrainer() {
      throw new Error('tapegrad-webgpu trains through train() (fitAsync), not a step-by-step trainer');
    },
    train: trainOnDevice,
    matmul: (size, a, b) => deviceMatmul(backend, size, a, b),
  };
  return { loaded: { framework, backend, adapter }, unavailable: [] };
}
