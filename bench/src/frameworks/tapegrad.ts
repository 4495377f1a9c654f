/**
 * tapegrad as a user would train with it: `mlp` from @tapegrad/nn (seeded with the protocol's
 * generator, then checked weight for weight against protocol.ts), each step a fresh Tape
 * recording the forward pass and `cost`, `tape.gradient`, and the SGD optimiser; batches
 * gathered with @tapegrad/datasets' `columnSampler` (a row-major copy of the training set, so
 * each example is one contiguous read; the same values as `takeColumns`). One Framework per
 * registered backend.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as core from '@tapegrad/core';
import { type Backend, type FallbackReport, type StepBody, StepReplay, Tape, type Tensor, createRng, getBackend, listBackends, matmul, mul, noGrad, registerBackend, setBackend, sum, tensor, tidy } from '@tapegrad/core';
import { type Dense, type LazyLayerTrace, SGD, type Sequential, cost, mlp } from '@tapegrad/nn';
import { type ColumnSampler, columnSampler } from '@tapegrad/datasets';
import { CLASSES, type Layer, type MatmulSize, PIXELS, type TaskSpec } from '../protocol.js';
import { type Framework, type JsKernelCounter, type MatmulRun, type OpRun, type TrainData, type Trainer, type Unavailable, argmaxRows } from './types.js';
import { type OpCase, convOutShape } from '../ops.js';
import { TapegradCnnTrainer } from './tapegrad-cnn.js';
import { tapegradCompanions } from './tapegrad-loops.js';

/** Rows [n, width] → columns [width, n] (tapegrad's examples-as-columns layout). */
export function columnsOf(rows: Float32Array, n: number, width: number): Float32Array {
  const out = new Float32Array(n * width);
  for (let r = 0; r < n; r++) for (let f = 0; f < width; f++) out[f * n + r] = rows[r * width + f];
  return out;
}

export function oneHotColumns(labels: ArrayLike<number>): Float32Array {
  const n = labels.length;
  const out = new Float32Array(CLASSES * n);
  for (let m = 0; m < n; m++) out[labels[m] * n + m] = 1;
  return out;
}

export function buildModel(task: TaskSpec, layers: Layer[]): Sequential {
  const model = mlp(task.sizes, {
    hidden: task.hidden,
    output: task.output === 'softmax-cce' ? 'softmax' : 'sigmoid',
    init: task.init === 'he' ? 'heNormal' : 'standardNormal',
    biasInit: task.init === 'classic' ? 'standardNormal' : 'zeros',
    rng: createRng(task.seed),
    dtype: 'float32',
  });
  // tapegrad's own seeded init must reproduce the protocol's weights exactly
  model.denseLayers().forEach((dense, l) => {
    for (const [name, got, want] of [['W', dense.W.data, layers[l].W], ['b', dense.b.data, layers[l].b]] as const) {
      if (got.length !== want.length) throw new Error(`tapegrad mlp layer ${l + 1} ${name}: ${got.length} values, protocol has ${want.length}`);
      for (let i = 0; i < want.length; i++) {
        if (got[i] !== want[i]) throw new Error(`tapegrad mlp layer ${l + 1} ${name}[${i}] = ${got[i]} differs from the protocol's ${want[i]}`);
      }
    }
  });
  return model;
}

class TapegradTrainer implements Trainer {
  private readonly model: Sequential;
  private readonly params: Tensor[];
  private readonly sgd: SGD;
  private readonly xs: ColumnSampler;
  private readonly ys: ColumnSampler;
  private readonly loss: 'cce' | 'bce';

  constructor(private readonly task: TaskSpec, private readonly data: TrainData, layers: Layer[]) {
    this.model = buildModel(task, layers);
    this.params = Object.values(this.model.parameters());
    this.sgd = new SGD({ lr: task.lr });
    const { train } = data;
    // the column-major training set exists only to build the samplers, which keep their own copies
    this.xs = columnSampler(tensor(columnsOf(train.images, train.n, PIXELS), { shape: [PIXELS, train.n], dtype: 'float32' }));
    this.ys = columnSampler(tensor(oneHotColumns(train.labels), { shape: [CLASSES, train.n], dtype: 'float32' }));
    this.loss = task.output === 'softmax-cce' ? 'cce' : 'bce';
  }

  private batchCost(xb: Tensor, yb: Tensor): { cost: Tensor; head: LazyLayerTrace } {
    // as nn's fit: the hidden layers' activations, the output layer's Zᴸ for the from-logits
    // cost, and its Aᴸ only when read (evaluation's argmax; the training step never reads it)
    const layers = this.model.layers as Dense[];
    let a = xb;
    for (let l = 0; l < layers.length - 1; l++) a = layers[l].forward(a);
    const head = layers[layers.length - 1].lazyTrace(a);
    return { cost: cost(this.loss, head, yb), head };
  }

  step(indices: Int32Array, next?: Int32Array): void {
    // as nn's fit: the step's tensors go back to core's buffer pool when tidy returns
    tidy(() => {
      const xb = this.xs.take(indices);
      const yb = this.ys.take(indices);
      // as fit: the next batch is gathered on another thread (native) while this one trains
      if (next) this.xs.prefetch(next);
      this.replay.run([xb, yb], this.body);
    });
  }

  /** fit's step in its three parts, which fit's StepReplay records once and then replays. */
  private readonly body: StepBody<Tensor[]> = {
    compute: ([xb, yb]) => {
      const tape = new Tape();
      const c = tape.record(() => this.batchCost(xb, yb).cost);
      return { outputs: [c], carry: tape.gradient(c, this.params) };
    },
    between: () => {},
    update: (grads) => this.sgd.step(this.params, grads),
  };

  /** fit's step replay, as fit runs it. */
  readonly replay = new StepReplay();

  async sync(): Promise<void> {}

  async evaluate(): Promise<{ loss: number; accuracy: number }> {
    const { eval: ev } = this.data;
    return noGrad(() => {
      const x = tensor(columnsOf(ev.images, ev.n, PIXELS), { shape: [PIXELS, ev.n], dtype: 'float32' });
      const y = tensor(oneHotColumns(ev.labels), { shape: [CLASSES, ev.n], dtype: 'float32' });
      const { cost: c, head } = this.batchCost(x, y);
      const output = head.a;
      // output is [10, n]: transpose to rows for the shared argmax
      const rows = new Float32Array(ev.n * CLASSES);
      const o = output.data;
      for (let k = 0; k < CLASSES; k++) for (let m = 0; m < ev.n; m++) rows[m * CLASSES + k] = o[k * ev.n + m];
      return { loss: c.item(), accuracy: argmaxRows(rows, ev.n, CLASSES, ev.labels) };
    });
  }

  dispose(): void {}
}

/** The FMA peak (GFLOP/s) of the cores a backend's matmul of one size ran on since `start()`. */
interface PeakProbe {
  start(): void;
  forSize(size: MatmulSize): { gflops: number; cores: number };
}

function tapegradFramework(backend: string, details: string, peak?: PeakProbe, oneThreadOf?: string): Framework {
  return {
    id: `tapegrad-${backend}`,
    label: oneThreadOf ? `tapegrad (${oneThreadOf}, 1 thread)` : `tapegrad (${backend})`,
    isTapegrad: true,
    details,
    ...(oneThreadOf ? { matmulOnly: true } : {}),
    ...(peak ? { matmulPeak: (size: MatmulSize) => peak.forSize(size) } : {}),
    async activate() {
      setBackend(backend);
    },
    async createTrainer(task, data, layers) {
      setBackend(backend);
      return task.conv ? new TapegradCnnTrainer(task, data, layers) : new TapegradTrainer(task, data, layers);
    },
    async op(c: OpCase, operands: Float32Array[]): Promise<OpRun | string> {
      setBackend(backend);
      const run = tapegradOp(c, operands);
      return typeof run === 'string' ? run : { ...run, jsKernels: jsKernelCounter(getBackend()) };
    },
    async matmul(size: MatmulSize, a: Float32Array, b: Float32Array): Promise<MatmulRun> {
      setBackend(backend);
      peak?.start();
      const A = tensor(a, { shape: [size.m, size.k], dtype: 'float32' });
      const B = tensor(b, { shape: [size.k, size.n], dtype: 'float32' });
      let C: Tensor | null = null;
      return {
        run() {
          C = matmul(A, B);
        },
        async result() {
          return (C ?? matmul(A, B)).data;
        },
        dispose() {},
      };
    },
  };
}

/** The backend's count of the calls it handed to jsBackend (wasm, native); js runs everything in js. */
function jsKernelCounter(b: Backend): JsKernelCounter | undefined {
  const counted = b as Backend & { fallbacks?: () => FallbackReport; resetFallbacks?: () => void };
  if (b.name === 'js') return { backend: 'js', reset() {}, report: () => ({}) };
  const { fallbacks, resetFallbacks } = counted;
  if (typeof fallbacks !== 'function' || typeof resetFallbacks !== 'function') return undefined; // a build from before the counters
  return { backend: b.name, reset: () => resetFallbacks.call(b), report: () => fallbacks.call(b) };
}

type Conv2d = (x: Tensor, w: Tensor, options: { stride: number; padding: number }) => Tensor;

/**
 * The ops grid on the current backend: `matmul` of the two batches; conv2d's forward; conv2d's
 * forward inside a Tape, then `tape.gradient` of ⟨y, r⟩ for x and w — what a CNN's training
 * step does per layer. Both convolutions run inside tidy, so every intermediate returns to the pool.
 */
function tapegradOp(c: OpCase, operands: Float32Array[]): OpRun | string {
  const f32 = (data: Float32Array, shape: readonly number[]) => tensor(data, { shape: [...shape], dtype: 'float32' });
  let outputs: Tensor[] = [];
  if (c.kind === 'bmm') {
    const [A, B] = [f32(operands[0], c.a), f32(operands[1], c.b)];
    return {
      run() {
        outputs = [matmul(A, B)];
      },
      async result() {
        return outputs.map((t) => t.data);
      },
      dispose() {},
    };
  }
  // looked up by name: a build of core from before the convolution ops has none
  const conv2d = (core as Record<string, unknown>).conv2d as Conv2d | undefined;
  if (typeof conv2d !== 'function') return 'conv2d is not in this build of @tapegrad/core';
  const [X, W, R] = [f32(operands[0], c.x), f32(operands[1], c.w), f32(operands[2], convOutShape(c))];
  if (!c.backward) {
    return {
      run() {
        // inside tidy, as a training loop runs it: the im2col columns go back to the pool
        // instead of being a fresh (page-faulting) allocation every call
        outputs = tidy(() => [conv2d(X, W, { stride: c.stride, padding: c.padding })]);
      },
      async result() {
        return outputs.map((t) => t.data);
      },
      dispose() {},
    };
  }
  return {
    run() {
      outputs = tidy(() => {
        const tape = new Tape();
        let y: Tensor | null = null;
        const loss = tape.record(() => {
          y = conv2d(X, W, { stride: c.stride, padding: c.padding });
          return sum(mul(y, R));
        });
        return [y!, ...tape.gradient(loss, [X, W])];
      });
    },
    async result() {
      return outputs.map((t) => t.data);
    },
    dispose() {},
  };
}

/**
 * An optional tapegrad package (a backend): by name, else the workspace folder's build — so
 * the bench runs whether or not the package is linked into its node_modules.
 */
export async function importWorkspacePackage(name: string, folder: string): Promise<Record<string, unknown>> {
  const errors: string[] = [];
  try {
    return (await import(name)) as Record<string, unknown>;
  } catch (error) {
    errors.push((error as Error).message.split('\n')[0]);
  }
  const dist = new URL(`../../../packages/${folder}/dist/index.js`, import.meta.url);
  if (!existsSync(fileURLToPath(dist))) {
    errors.push(`${fileURLToPath(dist)} does not exist (package absent or not built)`);
    throw new Error(errors.join('; '));
  }
  return (await import(pathToFileURL(fileURLToPath(dist)).href)) as Record<string, unknown>;
}

const importWasmBackend = () => importWorkspacePackage('@tapegrad/backend-wasm', 'backend-wasm');
const importNativeBackend = () => importWorkspacePackage('@tapegrad/backend-native', 'backend-native');

interface NativeModule {
  loadNativeBackend?: (options?: { threads?: 'off'; name?: string }) => { backend?: { name: string }; reason?: string };
  initNativeBackend?: () => NativeFacts | undefined;
  nativeUnavailableReason?: () => string | undefined;
  DEFAULT_THREAD_THRESHOLD?: number;
}

interface NativeFacts {
  name?: string;
  kernel?: string;
  threads?: number;
  threadThreshold?: number;
  fmaPeakGflops?: (threads?: number, seconds?: number) => number;
  threadStats?: () => { twoThreadCalls: number; declined: number };
}

/**
 * Loads and registers 'native' (a guarded dynamic import: the package, or its addon, may be
 * missing) and measures this machine's FMA peak with the addon's probe, on one core and on
 * as many as the backend's matmul uses, so the matmul table can give "% of peak".
 */
async function loadNative(): Promise<{ name: string; details: string; peak: PeakProbe | null; single: { name: string; peak: PeakProbe | null } | null }> {
  const mod = (await importNativeBackend()) as NativeModule;
  if (typeof mod.initNativeBackend !== 'function') throw new Error('the module exports no initNativeBackend()');
  const backend = mod.initNativeBackend();
  if (!backend) throw new Error(mod.nativeUnavailableReason?.() ?? 'initNativeBackend() returned no backend');
  const name = backend.name ?? 'native';
  if (!listBackends().includes(name)) throw new Error(`initNativeBackend() did not register a backend named '${name}' (registered: ${listBackends().join(', ')})`);
  const threads = backend.threads ?? 1;
  const oneCore = backend.fmaPeakGflops?.(1, 0.2) ?? 0;
  const allCores = threads > 1 ? backend.fmaPeakGflops?.(threads, 0.2) ?? 0 : oneCore;
  const threshold = backend.threadThreshold ?? mod.DEFAULT_THREAD_THRESHOLD ?? Infinity;
  // With the second core busy, 'auto' runs some products on one thread (backend-native
  // README, "Two threads"): the peak is that of the cores the size's products actually ran
  // on, 1 + the fraction of them split over two threads.
  const stats = () => backend.threadStats?.() ?? { twoThreadCalls: 0, declined: 0 };
  let before = stats();
  const peak: PeakProbe | null = oneCore > 0
    ? {
      start: () => {
        before = stats();
      },
      forSize: (size) => {
        if (threads < 2 || size.m * size.k * size.n < threshold) return { gflops: oneCore, cores: 1 };
        const now = stats();
        const split = now.twoThreadCalls - before.twoThreadCalls, alone = now.declined - before.declined;
        const share = split + alone > 0 ? split / (split + alone) : 1;
        return { gflops: oneCore + share * (allCores - oneCore), cores: 1 + share * (threads - 1) };
      },
    }
    : null;
  const facts = [
    backend.kernel ? `kernel ${backend.kernel}` : null,
    `${threads} threads${threads > 1 && Number.isFinite(threshold) ? ` from m·k·n ≥ ${threshold.toExponential(0)}` : ''}`,
    oneCore > 0 ? `FMA peak ${oneCore.toFixed(1)} GFLOP/s on 1 core${threads > 1 ? `, ${allCores.toFixed(1)} on ${threads}` : ''} (addon probe)` : null,
  ].filter(Boolean);
  // its one-thread twin, for the matmul grid's one-core row
  const single = threads > 1 ? mod.loadNativeBackend?.({ threads: 'off', name: `${name}-1thread` }).backend : undefined;
  if (single) registerBackend(single as Backend);
  const singlePeak: PeakProbe | null = single && oneCore > 0 ? { start: () => {}, forSize: () => ({ gflops: oneCore, cores: 1 }) } : null;
  return { name, details: `@tapegrad/backend-native (${facts.join(', ')})`, peak, single: single ? { name: single.name, peak: singlePeak } : null };
}

/**
 * Every tapegrad backend this process can run: 'js' always, 'wasm' when @tapegrad/backend-wasm
 * loads and initialises, 'native' when @tapegrad/backend-native's addon was built here
 * (guarded dynamic imports: both packages are optional here), plus any other backend
 * registered by then.
 */
export async function loadTapegrad(): Promise<{ frameworks: Framework[]; unavailable: Unavailable[] }> {
  const unavailable: Unavailable[] = [];
  const details = new Map<string, string>([['js', 'core js backend (4×4 register-tiled matmul), 1 thread']]);
  /** One-thread twins of the two-thread backends: the matmul grid's one-core rows. */
  const oneThread = new Map<string, { of: string; details: string }>();
  try {
    const mod = await importWasmBackend();
    const init = (mod.initWasmBackend ?? mod.registerWasmBackend) as ((opts?: unknown) => unknown) | undefined;
    if (typeof init !== 'function') throw new Error('the module exports no initWasmBackend()');
    const backend = (await init()) as { name?: string; variant?: string; threads?: number; workers?: number } | undefined;
    const name = backend?.name ?? 'wasm';
    const facts = [
      backend?.variant ? `variant ${backend.variant}` : null,
      typeof backend?.threads === 'number' ? `${backend.threads} threads` : typeof backend?.workers === 'number' ? `${backend.workers} workers` : null,
    ].filter(Boolean);
    details.set(name, `@tapegrad/backend-wasm${facts.length ? ` (${facts.join(', ')})` : ''}`);
    if (!listBackends().includes(name)) throw new Error(`initWasmBackend() did not register a backend named '${name}' (registered: ${listBackends().join(', ')})`);
    // its one-thread twin, for the matmul grid's one-core row
    const create = mod.createWasmBackend as ((opts: { threads: 'off'; name: string }) => Backend & { variant?: string }) | undefined;
    if (backend?.threads === 2 && typeof create === 'function') {
      const single = create({ threads: 'off', name: `${name}-1thread` });
      registerBackend(single);
      oneThread.set(single.name, { of: name, details: `@tapegrad/backend-wasm (variant ${single.variant ?? '?'}, threads off)` });
    }
  } catch (error) {
    unavailable.push({ id: 'tapegrad-wasm', label: 'tapegrad (wasm)', isTapegrad: true, reason: `@tapegrad/backend-wasm unavailable: ${(error as Error).message}` });
  }
  const peaks = new Map<string, PeakProbe>();
  try {
    const native = await loadNative();
    details.set(native.name, native.details);
    if (native.peak) peaks.set(native.name, native.peak);
    if (native.single) {
      oneThread.set(native.single.name, { of: native.name, details: '@tapegrad/backend-native (threads off)' });
      if (native.single.peak) peaks.set(native.single.name, native.single.peak);
    }
  } catch (error) {
    unavailable.push({ id: 'tapegrad-native', label: 'tapegrad (native)', isTapegrad: true, reason: `@tapegrad/backend-native unavailable: ${(error as Error).message}` });
  }
  const frameworks = listBackends().map((name) => {
    const twin = oneThread.get(name);
    return tapegradFramework(name, twin?.details ?? details.get(name) ?? 'registered backend', peaks.get(name), twin?.of);
  });
  // the user loop and the engine, beside the fastest backend's row
  const fastest = ['native', 'wasm', 'js'].find((name) => listBackends().includes(name));
  if (fastest) frameworks.push(...tapegradCompanions(fastest));
  setBackend('js');
  return { frameworks, unavailable };
}
