/**
 * BENCH-PROTOCOL.md, rebuilt from its text alone: the MNIST split, the per-epoch example
 * orders and the initial weights, as plain typed arrays. Every framework in the benchmark is
 * fed from this module (never from another framework's loader or initialiser), so all of them
 * do exactly the same work and must reach the same test accuracy up to float32 rounding.
 *
 * Layout conventions here, which each runner converts to its own:
 * - images are row-major [N, 784] (example m is row m), labels are digits 0..9;
 * - Wˡ is row-major [out, in] as the protocol fills it, bˡ is [out].
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

export const PIXELS = 784;
export const CLASSES = 10;

// ---- randomness ------------------------------------------------------------------------

/** The protocol's generator, verbatim. */
export function mulberry32(a: number): () => number {
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One normal sample per pair of uniforms: sqrt(−2·ln(1−u1))·cos(2π·u2). */
export function normal(rng: () => number): number {
  const u1 = rng();
  const u2 = rng();
  return Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
}

/** The seed of the protocol's example orders. */
export const ORDER_SEED = 42;

/**
 * Step s's batch of the protocol's sequence for scripts that time steps outside the harness:
 * epoch after epoch (one generator seeded 42, as epochOrders), each epoch's consecutive slices,
 * its last one short — the batches the harness hands a trainer, and those @tapegrad/datasets'
 * batches() yields (the user loop iterates them). Orders are drawn as far as asked.
 */
export function protocolBatches(n: number, batchSize: number): (s: number) => Int32Array {
  const rng = mulberry32(ORDER_SEED);
  const perEpoch = Math.ceil(n / batchSize);
  const orders: Int32Array[] = [];
  return (s: number) => {
    const epoch = Math.floor(s / perEpoch), b = s % perEpoch;
    while (orders.length <= epoch) orders.push(drawOrder(n, rng));
    return orders[epoch].subarray(b * batchSize, Math.min((b + 1) * batchSize, n));
  };
}

/** The example orders of epochs 0..epochs−1: one generator seeded 42, state carried over. */
export function epochOrders(n: number, epochs: number, seed = ORDER_SEED): Int32Array[] {
  const rng = mulberry32(seed);
  return Array.from({ length: epochs }, () => drawOrder(n, rng));
}

/** One epoch's order: the identity, Fisher–Yates'd from i = n−1 down to 1 with j = floor(rng()·(i+1)). */
function drawOrder(n: number, rng: () => number): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i >= 1; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

/** The protocol's own check: the first five indices of epoch 0 with seed 42. */
export const PROTOCOL_CHECK = [7340, 1210, 6119, 2666, 7366] as const;

export function protocolCheck(): { ok: boolean; expected: number[]; got: number[] } {
  const got = Array.from(epochOrders(7996, 1)[0].subarray(0, 5));
  return { ok: got.every((v, i) => v === PROTOCOL_CHECK[i]), expected: [...PROTOCOL_CHECK], got };
}

// ---- tasks -----------------------------------------------------------------------------

export type TaskId = 'T1' | 'T2' | 'T3' | 'T4';
export const TASK_IDS: readonly TaskId[] = ['T1', 'T2', 'T3', 'T4'];

/** One convolution of a CNN task: kernels [out, in, k, k], stride 1, then relu and a 2×2 max-pool of stride 2. */
export interface ConvSpec {
  inChannels: number;
  outChannels: number;
  kernel: number;
  padding: number;
}

export interface TaskSpec {
  id: TaskId;
  name: string;
  /**
   * The dense layers' sizes, input first. For a CNN task the input is the flattened
   * (channel, row, column) output of the last pooling, and `conv` lists the convolutions before it.
   */
  sizes: readonly number[];
  /** The convolutions (each: conv, relu, max-pool 2×2 stride 2) before the dense layers; absent for an MLP. */
  conv?: readonly ConvSpec[];
  hidden: 'relu' | 'sigmoid';
  /** softmax + categorical CE (mean over batch), or sigmoid + BCE summed over units (mean over batch). */
  output: 'softmax-cce' | 'sigmoid-bce';
  lr: number;
  /** PyTorch's SGD momentum (v ← μ·v + g, θ ← θ − η·v, v starts at 0); absent: plain SGD. */
  momentum?: number;
  batch: number;
  epochs: number;
  init: 'he' | 'classic';
  seed: number;
  /** How far frameworks' test accuracies may differ after a full run (BENCH-PROTOCOL). */
  accuracyTolerance: number;
}

export const TASKS: Readonly<Record<TaskId, TaskSpec>> = {
  T1: { id: 'T1', name: 'mlp-small', sizes: [784, 128, 10], hidden: 'relu', output: 'softmax-cce', lr: 0.1, batch: 64, epochs: 5, init: 'he', seed: 1001, accuracyTolerance: 0.005 },
  T2: { id: 'T2', name: 'mlp-wide', sizes: [784, 1024, 1024, 10], hidden: 'relu', output: 'softmax-cce', lr: 0.05, batch: 256, epochs: 3, init: 'he', seed: 1002, accuracyTolerance: 0.005 },
  T3: { id: 'T3', name: 'seed-faithful', sizes: [784, 30, 10], hidden: 'sigmoid', output: 'sigmoid-bce', lr: 0.5, batch: 10, epochs: 10, init: 'classic', seed: 1003, accuracyTolerance: 0.005 },
  // LeNet-5 style: [N,1,28,28] → conv 5×5 pad 2 → 6×28×28 → pool → 6×14×14 → conv 5×5 → 16×10×10 → pool → 16×5×5 = 400
  T4: {
    id: 'T4', name: 'cnn', sizes: [400, 120, 84, 10],
    conv: [{ inChannels: 1, outChannels: 6, kernel: 5, padding: 2 }, { inChannels: 6, outChannels: 16, kernel: 5, padding: 0 }],
    hidden: 'relu', output: 'softmax-cce', lr: 0.01, momentum: 0.9, batch: 64, epochs: 10, init: 'he', seed: 1004,
    // float32 and float64 PyTorch runs differ by up to ≈ 0.003 per epoch on T4 (BENCH-PROTOCOL)
    accuracyTolerance: 0.01,
  },
};

export function describeTask(t: TaskSpec): string {
  const out = t.output === 'softmax-cce' ? 'softmax+CE' : 'sigmoid+BCE(sum)';
  const opt = t.momentum ? `SGD momentum ${t.momentum}` : 'SGD';
  const arch = t.conv
    ? `${t.conv.map((c) => `conv${c.kernel}×${c.kernel} ${c.inChannels}→${c.outChannels}${c.padding ? ` pad ${c.padding}` : ''}+pool2`).join(', ')}, ${t.sizes.join('-')}`
    : t.sizes.join('-');
  return `${t.id} ${t.name} ${arch} ${t.hidden}/${out}, batch ${t.batch}, lr ${t.lr} (${opt}), ${t.init} init (seed ${t.seed})`;
}

export interface Layer {
  /** Row-major [out, in] (a convolution: [out, inChannels, k, k], i.e. [out, in] with in = inChannels·k·k). */
  W: Float32Array;
  /** [out]. */
  b: Float32Array;
  /** Fan-in: a dense layer's inputs, a convolution's inChannels·k·k. */
  inputs: number;
  outputs: number;
  /** Set for a convolution. */
  conv?: ConvSpec;
}

/**
 * Initial weights, layer by layer from one generator: W¹, (b¹), W², (b²), … as the protocol
 * fixes; for a CNN task the convolutions come first, each filled row-major as [out, in, k, k].
 */
export function initialWeights(task: TaskSpec): Layer[] {
  const rng = mulberry32(task.seed);
  const shapes: { inputs: number; outputs: number; conv?: ConvSpec }[] = [
    ...(task.conv ?? []).map((c) => ({ inputs: c.inChannels * c.kernel * c.kernel, outputs: c.outChannels, conv: c })),
    ...task.sizes.slice(1).map((outputs, l) => ({ inputs: task.sizes[l], outputs })),
  ];
  const layers: Layer[] = [];
  for (const { inputs, outputs, conv } of shapes) {
    const sd = task.init === 'he' ? Math.sqrt(2 / inputs) : 1;
    const W = new Float32Array(outputs * inputs);
    for (let i = 0; i < W.length; i++) W[i] = normal(rng) * sd;
    const b = new Float32Array(outputs);
    if (task.init === 'classic') for (let i = 0; i < outputs; i++) b[i] = normal(rng);
    layers.push({ W, b, inputs, outputs, ...(conv ? { conv } : {}) });
  }
  return layers;
}

/** Wˡ transposed to [in, out] (row-major), the layout of frameworks that multiply X[batch, in]·W. */
export function transposed(layer: Layer): Float32Array {
  const { W, inputs, outputs } = layer;
  const t = new Float32Array(W.length);
  for (let o = 0; o < outputs; o++) for (let i = 0; i < inputs; i++) t[i * outputs + o] = W[o * inputs + i];
  return t;
}

// ---- data ------------------------------------------------------------------------------

export interface Split {
  /** Row-major [n, 784], pixels in [0, 1] rounded to float32. */
  images: Float32Array;
  labels: Uint8Array;
  n: number;
}

export interface MnistSplit {
  train: Split;
  test: Split;
}

let cached: MnistSplit | null = null;

/**
 * The `mnist` package's 10,000 digits: for each digit d, in package order, the first
 * floor(0.8·n_d) samples train and the rest test, each split concatenated digit 0..9.
 */
export function loadProtocolMnist(): MnistSplit {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const digits: Float64Array[] = [];
  for (let d = 0; d < CLASSES; d++) {
    const parsed = JSON.parse(readFileSync(require.resolve(`mnist/src/digits/${d}.json`), 'utf8')) as { data: number[] };
    if (!Array.isArray(parsed.data) || parsed.data.length % PIXELS !== 0) throw new Error(`mnist digit ${d}: unexpected data`);
    digits.push(Float64Array.from(parsed.data));
  }
  const counts = digits.map((d) => d.length / PIXELS);
  const trainCounts = counts.map((n) => Math.floor(0.8 * n));
  const nTrain = trainCounts.reduce((a, b) => a + b, 0);
  const nTest = counts.reduce((a, b) => a + b, 0) - nTrain;
  const train: Split = { images: new Float32Array(nTrain * PIXELS), labels: new Uint8Array(nTrain), n: nTrain };
  const test: Split = { images: new Float32Array(nTest * PIXELS), labels: new Uint8Array(nTest), n: nTest };
  let tr = 0;
  let te = 0;
  for (let d = 0; d < CLASSES; d++) {
    for (let s = 0; s < counts[d]; s++) {
      const isTrain = s < trainCounts[d];
      const split = isTrain ? train : test;
      const m = isTrain ? tr++ : te++;
      split.images.set(digits[d].subarray(s * PIXELS, (s + 1) * PIXELS), m * PIXELS);
      split.labels[m] = d;
    }
  }
  cached = { train, test };
  return cached;
}

/** The first `n` examples of a split (the --tiny evaluation subset). */
export function headOf(split: Split, n: number): Split {
  if (n >= split.n) return split;
  return { images: split.images.subarray(0, n * PIXELS), labels: split.labels.subarray(0, n), n };
}

/** One-hot rows [n, 10] of the labels. */
export function oneHotRows(labels: ArrayLike<number>): Float32Array {
  const out = new Float32Array(labels.length * CLASSES);
  for (let i = 0; i < labels.length; i++) out[i * CLASSES + labels[i]] = 1;
  return out;
}

/** Rows `indices` of a row-major [*, width] matrix, into `out` ([indices.length, width]). */
export function gatherRows(src: Float32Array, width: number, indices: ArrayLike<number>, out: Float32Array): Float32Array {
  for (let r = 0; r < indices.length; r++) out.set(src.subarray(indices[r] * width, (indices[r] + 1) * width), r * width);
  return out;
}

/** Columns view: [width, indices.length] with column r = row indices[r] of src (examples as columns). */
export function gatherColumns(src: Float32Array, width: number, indices: ArrayLike<number>, out: Float32Array): Float32Array {
  const b = indices.length;
  for (let r = 0; r < b; r++) {
    const from = indices[r] * width;
    for (let f = 0; f < width; f++) out[f * b + r] = src[from + f];
  }
  return out;
}

// ---- matmul ----------------------------------------------------------------------------

export interface MatmulSize {
  m: number;
  k: number;
  n: number;
}

export const MATMUL_SIZES: readonly MatmulSize[] = [
  { m: 64, k: 784, n: 128 },
  { m: 128, k: 64, n: 784 },
  { m: 256, k: 256, n: 256 },
  { m: 512, k: 512, n: 512 },
  { m: 1024, k: 1024, n: 1024 },
];

export const TINY_MATMUL_SIZES: readonly MatmulSize[] = [
  { m: 16, k: 32, n: 8 },
  { m: 64, k: 784, n: 128 },
];

export function sizeLabel(s: MatmulSize): string {
  return `${s.m}×${s.k}×${s.n}`;
}

/** A and B (row-major [m,k] and [k,n]) with entries uniform in [−1, 1), from mulberry32(7). */
export function matmulOperands(s: MatmulSize): { a: Float32Array; b: Float32Array } {
  const rng = mulberry32(7 + s.m * 31 + s.k * 17 + s.n);
  const a = new Float32Array(s.m * s.k);
  const b = new Float32Array(s.k * s.n);
  for (let i = 0; i < a.length; i++) a[i] = 2 * rng() - 1;
  for (let i = 0; i < b.length; i++) b[i] = 2 * rng() - 1;
  return { a, b };
}

/**
 * The largest |C − A·B| over 64 sampled entries, each computed in float64, relative to the
 * entry's Σ|aᵢ·bᵢ| (so the bound does not depend on the size): a wrong result is ≫ 1e-5.
 */
export function matmulError(s: MatmulSize, a: Float32Array, b: Float32Array, c: ArrayLike<number>): number {
  const rng = mulberry32(99);
  let worst = 0;
  for (let t = 0; t < 64; t++) {
    const i = Math.floor(rng() * s.m);
    const j = Math.floor(rng() * s.n);
    let dot = 0;
    let mag = 0;
    for (let p = 0; p < s.k; p++) {
      const v = a[i * s.k + p] * b[p * s.n + j];
      dot += v;
      mag += Math.abs(v);
    }
    worst = Math.max(worst, Math.abs(c[i * s.n + j] - dot) / Math.max(mag, 1e-30));
  }
  return worst;
}
