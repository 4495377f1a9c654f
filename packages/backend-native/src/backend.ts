import { type Backend, type BinaryKernel, type ConvGeometry, type FallbackReport, type ReduceKernel, type Shape, type TypedArray, type UnaryKernel, adjacentReduction, binaryLayout, countJsFallbacks, operandLayout } from '@tapegrad/core';
import { FLAG_ALWAYS_TWO, FLAG_AVX2_KERNELS, FLAG_PORTABLE, FLAG_REFERENCE_GEMM, FLAG_TWO_THREADS, type NativeAddon, type NativeFeatures, type ThreadStats } from './addon.js';

/** Options of the native backend: its registered name, threading, and AVX2-FMA or portable kernels. */
export interface NativeBackendOptions {
  /** The name it registers under; 'native' unless two instances must coexist (tests, benchmarks). */
  name?: string;
  /**
   * Two-thread float32 matmul: 'auto' (the default) splits products with m·k·n ≥
   * `threadThreshold` over the calling thread and one persistent worker thread (started at
   * the first such product) when the machine has two hardware threads, and pauses splitting
   * while the worker's share of the work shows the second core busy; 'off' never splits;
   * 'always' splits every product it can (m or n ≥ 2), busy or not, for tests.
   */
  threads?: 'auto' | 'off' | 'always';
  /**
   * m·k·n from which 'auto' uses two threads (default {@link DEFAULT_THREAD_THRESHOLD};
   * float32 under the AVX-512 set {@link AVX512_THREAD_THRESHOLD}).
   */
  threadThreshold?: number;
  /**
   * 'auto' (the default): the AVX-512 set where the CPU has AVX-512F (float32 matmul on 8×32
   * zmm tiles, the rest AVX2's), else the AVX2-FMA kernels where it has those, else the
   * portable ones; 'avx2' caps it at the AVX2 set (the same bits: tests, A/B timing);
   * 'portable' forces the portable C++ kernels (to test them on an AVX2 machine).
   */
  kernels?: 'auto' | 'avx2' | 'portable';
  /**
   * 'fast' (the default): float32 matmul takes its fastest path for the shape (README,
   * "matmul"); 'reference' takes the paths it took before the column form, the Bᵀ panel
   * transposes and the wider in-place path, with the same bits, for A/B timing
   * (bench/src/gemm-ab.ts).
   */
  gemm?: 'fast' | 'reference';
  /**
   * true (the default): float64 calls below {@link FLOAT64_NATIVE_FROM} elements (reductions:
   * {@link FLOAT64_NATIVE_REDUCE_FROM}) run js's kernels, which are faster there and give the
   * same bits; false sends every float64 call the addon covers to the addon (tests).
   */
  smallFloat64InJs?: boolean;
}

/**
 * m·k·n from which 'auto' uses two threads: T1's products (6.4·10⁶) and up. The wasm
 * backend measured two threads winning from ≈ 6·10⁶ and losing below ≈ 2·10⁶ on a quiet
 * machine; the per-call cost of the split (waking the worker, packing B once) is about the
 * same here, so the same threshold (README, "Two threads").
 */
export const DEFAULT_THREAD_THRESHOLD = 4_000_000;

/**
 * The same for float32 products where the AVX-512 set runs: its one thread is ≈ 1.9× the
 * AVX2 set's, so the split's fixed costs weigh twice as much. Measured on this 2-core EPYC
 * (one thread against two, each product alone, medians of 7 alternated rounds): 1.02 at
 * 128×784×64 (6.4·10⁶) and 128×784×128, 1.25 at 256×784×128 (2.6·10⁷), 1.47 at 512×784×256;
 * and in T1's training step (its products 6.4·10⁶) one thread beat two in every block of 125
 * steps, warm-up included (three alternated pairs; README, "Two threads").
 */
export const AVX512_THREAD_THRESHOLD = 20_000_000;

/**
 * A {@link Backend} whose float32 kernels, and float64 matmul, element-wise kernels (but
 * those js computes with V8's Math), reductions, where, subScaled, transpose, unfold, fold
 * and gather, run in the C++ addon; the rest is `jsBackend`'s.
 */
export interface NativeBackend extends Backend {
  /** The kernel set that runs: 'avx512f 8x32', 'avx2-fma 6x16' or 'portable 4x8'. */
  readonly kernel: string;
  /** 2 if large float32 matmuls use two threads, 1 if everything runs on the calling thread. */
  readonly threads: 1 | 2;
  /** m·k·n from which 'auto' splits a float32 product over the two threads. */
  readonly threadThreshold: number;
  readonly features: NativeFeatures;
  /**
   * The machine's FMA throughput in GFLOP/s: `threads` cores running independent 8-wide
   * float32 FMAs (16-wide where the CPU has AVX-512F, whose zmm FMAs the float32 matmul
   * then runs; `dtype` 'float64': 4-wide double ones) on registers for about `seconds`
   * (best of the repetitions). 0 without AVX2 + FMA.
   */
  fmaPeakGflops(threads?: number, seconds?: number, dtype?: 'float32' | 'float64'): number;
  /** How the two-thread matmul has fared in this process (shared by every native backend). */
  threadStats(): ThreadStats;
  /**
   * The calls this backend handed to jsBackend since it was made (or since
   * {@link NativeBackend.resetFallbacks}), by kernel ('gather', 'reduce prod', …), with the
   * elements they covered: what ran at js speed. Counted in the fallback only.
   */
  fallbacks(): FallbackReport;
  /** Sets the fallback counts back to zero. */
  resetFallbacks(): void;
}

/**
 * Values from which an optimiser's update (`subScaled`) runs in two halves, the second on the
 * matmul worker (the addon splits when asked): T1's W¹ (100,352 values) reads 800 KB that
 * mostly sit in the other core's cache or beyond.
 */
export const SPLIT_UPDATE_FROM = 65536;

/** The arrays of the background gather in flight (at most one: the addon runs one at a time), kept from the garbage collector. */
let backgroundJob: { x: TypedArray; out: TypedArray } | null = null;

const UNARY: Partial<Record<UnaryKernel, number>> = {
  relu: 0, step: 1, neg: 2, abs: 3, sign: 4, sqrt: 5, exp: 6, sigmoid: 7, tanh: 8, log: 9, powScalar: 10, softplus: 11,
  log1p: 12, expm1: 13, erf: 14, sin: 15, cos: 16, floor: 17, ceil: 18, round: 19, isNaN: 20, isFinite: 21,
};
const BINARY: Partial<Record<BinaryKernel, number>> = {
  add: 0, sub: 1, mul: 2, div: 3, greater: 4, greaterEqual: 5, less: 6, lessEqual: 7, equal: 8,
  sigmoidGrad: 9, tanhGrad: 10, reluGrad: 11, maximum: 12, minimum: 13,
};

/**
 * The float64 unary kernels the addon computes with js's bits: those js computes exactly, and
 * exp, sigmoid and log (V8's exp and log algorithms ported: elementwise.h, jsExp, jsLog). tanh, softplus,
 * log1p, expm1, erf, sin, cos and pow other than x² stay on js in float64, since C's libm and
 * V8's Math differ in the last bit (README, "float64").
 */
const EXACT_FLOAT64_UNARY: ReadonlySet<UnaryKernel> = new Set(['relu', 'step', 'neg', 'abs', 'sign', 'sqrt', 'floor', 'ceil', 'round', 'isNaN', 'isFinite', 'exp', 'sigmoid', 'log']);

type Float = Float32Array | Float64Array;

/**
 * float64 calls smaller than this stay on js (the same bits either way): an addon call costs
 * ≈ 0.2–0.3 µs of Node-API overhead, while js's loop does 16 elements of mul in ≈ 80 ns and 64
 * in ≈ 140 ns; native wins from ≈ 256 (mul 0.30 vs 0.50 µs, relu 0.21 vs 0.41 µs; 1024: 4–5×).
 * gradcheck's and the property tests' float64 tensors are mostly far below it.
 */
export const FLOAT64_NATIVE_FROM = 256;
/** The same for float64 reductions: js's in-order sum is latency-bound like the addon's (1024 elements: 0.78 vs 0.88 µs). */
export const FLOAT64_NATIVE_REDUCE_FROM = 1024;

/**
 * True when every array is a Float32Array, or every one a Float64Array with `size` ≥
 * `float64From` (smaller float64 calls are cheaper in js): one addon call takes them.
 */
function sameFloat(size: number, float64From: number, a: TypedArray, b: TypedArray, c?: TypedArray): boolean {
  if (a instanceof Float32Array) return b instanceof Float32Array && (c === undefined || c instanceof Float32Array);
  return a instanceof Float64Array && b instanceof Float64Array && (c === undefined || c instanceof Float64Array) && size >= float64From;
}

// The operand modes of the addon's binary kernel are core's OperandMode (as in addon.cc).

/** A ConvGeometry as the addon reads it: 14 numbers in a fixed order. */
function geometryArray(g: ConvGeometry): Int32Array {
  return Int32Array.of(g.N, g.C, g.H, g.W, g.kH, g.kW, g.strideH, g.strideW, g.padH, g.padW, g.dilationH, g.dilationW, g.outH, g.outW);
}

/**
 * Wraps the loaded addon as a backend, without registering it. The object starts as a copy
 * of `jsBackend`'s kernels (each counting its calls, for `fallbacks()`), so every kernel not
 * replaced here (broadcastTo, slice, pad, scatterAdd, …, float32 where, and any kernel core
 * adds later) is js's; so are mixed dtypes and the float64 kernels listed in
 * EXACT_FLOAT64_UNARY's comment. float64 is bit-identical to js except matmul and
 * matmulBatched, which agree with js within float64 rounding (a blocked, FMA-contracted sum
 * instead of js's in-order one).
 */
export function wrapAddon(addon: NativeAddon, options: NativeBackendOptions = {}): NativeBackend {
  const features = addon.features();
  const portable = options.kernels === 'portable';
  const flags = portable ? FLAG_PORTABLE : options.kernels === 'avx2' ? FLAG_AVX2_KERNELS : 0;
  const gemmFlags = flags | (options.gemm === 'reference' ? FLAG_REFERENCE_GEMM : 0);
  const mode = options.threads ?? 'auto';
  const twoCores = features.hardwareThreads >= 2;
  const avx512 = !portable && options.kernels !== 'avx2' && features.kernel.startsWith('avx512');
  // float32 products; float64's kernels are AVX2 on every set
  const threshold = options.threadThreshold ?? (avx512 ? AVX512_THREAD_THRESHOLD : DEFAULT_THREAD_THRESHOLD);
  const float64Threshold = options.threadThreshold ?? DEFAULT_THREAD_THRESHOLD;
  // jsBackend's kernels, counting each call: everything below that is not native goes there
  const fallbacks = countJsFallbacks(), js = fallbacks.js;
  const smallInJs = options.smallFloat64InJs ?? true;
  const float64From = smallInJs ? FLOAT64_NATIVE_FROM : 0, float64ReduceFrom = smallInJs ? FLOAT64_NATIVE_REDUCE_FROM : 0;

  // ---- float64: matmul and matmulBatched in the addon (gemm.cc's loop nest over double
  // tiles), split over two threads as float32's are; every other float64 kernel is js's
  const float64Flags = (work: number): number => {
    const two = twoCores && (mode === 'always' || (mode === 'auto' && work >= float64Threshold));
    return flags | (two ? FLAG_TWO_THREADS | (mode === 'always' ? FLAG_ALWAYS_TWO : 0) : 0);
  };
  const allFloat64 = (a: TypedArray, b: TypedArray, out: TypedArray): boolean =>
    a instanceof Float64Array && b instanceof Float64Array && out instanceof Float64Array;
  const float64Kernels = {
    matmul(a: Float64Array, b: Float64Array, out: Float64Array, m: number, k: number, n: number, transposeA: boolean, transposeB: boolean): void {
      addon.matmul(a, b, out, m, k, n, transposeA, transposeB, float64Flags(m * k * n));
    },
    matmulBatched(a: Float64Array, b: Float64Array, out: Float64Array, m: number, k: number, n: number,
      transposeA: boolean, transposeB: boolean, aOffsets: Int32Array, bOffsets: Int32Array): void {
      // the same split rule as float32's matmulBatched below
      const count = aOffsets.length;
      const work = count === 2 || count >= 4 ? count * m * k * n : m * k * n;
      addon.matmulBatched(a, b, out, m, k, n, transposeA, transposeB, aOffsets, bOffsets, float64Flags(work));
    },
  };
  // ---- end of float64

  const kernels = {
    unary(kernel: UnaryKernel, x: TypedArray, out: TypedArray, scalar: number): void {
      const op = UNARY[kernel];
      const native = op !== undefined && (x instanceof Float32Array ? out instanceof Float32Array
        : x instanceof Float64Array && out instanceof Float64Array && x.length >= float64From
          && (EXACT_FLOAT64_UNARY.has(kernel) || (kernel === 'powScalar' && scalar === 2)));
      if (!native) {
        js.unary(kernel, x, out, scalar);
        return;
      }
      addon.unary(op, x as Float, out as Float, scalar, flags);
    },

    binary(kernel: BinaryKernel, a: TypedArray, aShape: Shape, b: TypedArray, bShape: Shape,
      out: TypedArray, outShape: Shape): void {
      const op = BINARY[kernel];
      if (op === undefined || !sameFloat(out.length, float64From, a, b, out)) {
        js.binary(kernel, a, aShape, b, bShape, out, outShape);
        return;
      }
      const total = out.length;
      if (total === 0) return;
      const layout = binaryLayout(aShape, a.length, bShape, b.length, outShape, total);
      if (!layout) {
        js.binary(kernel, a, aShape, b, bShape, out, outShape);
        return;
      }
      addon.binary(op, a as Float, layout.left.mode, b as Float, layout.right.mode, out as Float, layout.rows, layout.cols, flags);
    },

    // float64 only (float32's is js's): the three operands each a full, row, column or scalar
    // view of one [rows, cols] output, as binary's; other broadcasts go to js
    where(cond: TypedArray, condShape: Shape, a: TypedArray, aShape: Shape, b: TypedArray, bShape: Shape, out: TypedArray, outShape: Shape): void {
      const total = out.length;
      if (total >= float64From && total > 0 && cond instanceof Float64Array && a instanceof Float64Array && sameFloat(total, float64From, a, b, out)) {
        const c = operandLayout(condShape, outShape, cond.length, total);
        const l = operandLayout(aShape, outShape, a.length, total);
        const r = operandLayout(bShape, outShape, b.length, total);
        if (c && l && r) {
          const rows = Math.max(c.rows, l.rows, r.rows, 1);
          if ((c.rows < 0 || c.rows === rows) && (l.rows < 0 || l.rows === rows) && (r.rows < 0 || r.rows === rows)) {
            addon.where(cond, c.mode, a, l.mode, b as Float64Array, r.mode, out as Float64Array, rows, total / rows, flags);
            return;
          }
        }
      }
      js.where(cond, condShape, a, aShape, b, bShape, out, outShape);
    },

    matmul(a: TypedArray, b: TypedArray, out: TypedArray,
      m: number, k: number, n: number, transposeA: boolean, transposeB: boolean): void {
      if (allFloat64(a, b, out)) {
        float64Kernels.matmul(a as Float64Array, b as Float64Array, out as Float64Array, m, k, n, transposeA, transposeB);
        return;
      }
      if (!(a instanceof Float32Array) || !(b instanceof Float32Array) || !(out instanceof Float32Array)) {
        js.matmul(a, b, out, m, k, n, transposeA, transposeB);
        return;
      }
      const two = twoCores && (mode === 'always' || (mode === 'auto' && m * k * n >= threshold));
      addon.matmul(a, b, out, m, k, n, transposeA, transposeB, gemmFlags | (two ? FLAG_TWO_THREADS | (mode === 'always' ? FLAG_ALWAYS_TWO : 0) : 0));
    },

    matmulBatched(a: TypedArray, b: TypedArray, out: TypedArray, m: number, k: number, n: number,
      transposeA: boolean, transposeB: boolean, aOffsets: Int32Array, bOffsets: Int32Array): void {
      if (allFloat64(a, b, out)) {
        float64Kernels.matmulBatched(a as Float64Array, b as Float64Array, out as Float64Array, m, k, n, transposeA, transposeB, aOffsets, bOffsets);
        return;
      }
      if (!(a instanceof Float32Array) || !(b instanceof Float32Array) || !(out instanceof Float32Array)) {
        js.matmulBatched(a, b, out, m, k, n, transposeA, transposeB, aOffsets, bOffsets);
        return;
      }
      // The addon splits whole products between the threads when there are 2 or ≥ 4 of them
      // (then the batch's total work is what pays for the split), else it cuts each product
      // as matmul does (then each product's own size decides, as for matmul)
      const count = aOffsets.length;
      const work = count === 2 || count >= 4 ? count * m * k * n : m * k * n;
      const two = twoCores && (mode === 'always' || (mode === 'auto' && work >= threshold));
      addon.matmulBatched(a, b, out, m, k, n, transposeA, transposeB, aOffsets, bOffsets,
        gemmFlags | (two ? FLAG_TWO_THREADS | (mode === 'always' ? FLAG_ALWAYS_TWO : 0) : 0));
    },

    subScaled(y: TypedArray, x: TypedArray, s: number, out: TypedArray): void {
      if (!sameFloat(out.length, float64From, y, x, out)) {
        js.subScaled(y, x, s, out);
        return;
      }
      // float32: s is rounded to float32 in the addon, as a lifted scalar (and js's kernel) is;
      // a large update in two halves, one on the worker (SPLIT_UPDATE_FROM)
      const two = twoCores && mode !== 'off' && out.length >= SPLIT_UPDATE_FROM;
      addon.subScaled(y as Float, x as Float, s, out as Float, flags | (two ? FLAG_TWO_THREADS : 0));
    },

    // convolution: im2col and col2im, float32 and float64 in the addon (conv.cc), bit-identical to js's
    unfold(x: TypedArray, geometry: ConvGeometry, padValue: number, out: TypedArray, batched: boolean): void {
      if (!sameFloat(out.length, float64From, x, out)) {
        js.unfold(x, geometry, padValue, out, batched);
        return;
      }
      addon.unfold(x as Float, geometryArray(geometry), padValue, out as Float, batched);
    },

    fold(cols: TypedArray, geometry: ConvGeometry, out: TypedArray, batched: boolean): void {
      if (!sameFloat(cols.length, float64From, cols, out)) {
        js.fold(cols, geometry, out, batched);
        return;
      }
      addon.fold(cols as Float, geometryArray(geometry), out as Float, batched);
    },

    // a copy with the axes permuted: contiguous runs of x copied whole (conv2d's [O, N, L] → [N, O, L])
    transpose(x: TypedArray, shape: Shape, perm: readonly number[], out: TypedArray): void {
      if (!sameFloat(out.length, float64From, x, out) || shape.length > 16) {
        js.transpose(x, shape, perm, out);
        return;
      }
      addon.transpose(x as Float, Int32Array.from(shape), Int32Array.from(perm), out as Float);
    },

    // take, and a training loop's batch gather (core's columnSampler): one memcpy per index
    gather(x: TypedArray, outer: number, axisSize: number, inner: number, indices: Int32Array, out: TypedArray): void {
      if (!sameFloat(out.length, float64From, x, out)) {
        js.gather(x, outer, axisSize, inner, indices, out);
        return;
      }
      addon.gather(x as Float, outer, axisSize, inner, indices, out as Float);
    },

    // a training loop's batch that was not gathered ahead (core's columnSampler.take): the
    // same copies as js's loop, ≈ 3× faster (T3's 784 × 10: 4 µs against 12.5; bench README)
    gatherColumns(x: TypedArray, rowLength: number, indices: Int32Array, out: TypedArray): void {
      addon.gatherColumnsStart(x as Float, rowLength, indices, out as Float, 0);
    },

    // a training loop's next batch (core's columnSampler.prefetch), gathered on the addon's
    // background thread while the current step runs; on this thread when threads are 'off'
    gatherColumnsAsync(x: TypedArray, rowLength: number, indices: Int32Array, out: TypedArray): () => void {
      const ticket = addon.gatherColumnsStart(x as Float, rowLength, indices, out as Float, twoCores && mode !== 'off' ? FLAG_TWO_THREADS : 0);
      if (ticket === 0) return () => {};
      // the job's arrays stay reachable until it is done: here until it is waited for, or
      // until the next start (which the addon lets begin only once this job is finished)
      const job = { x, out };
      backgroundJob = job;
      return () => {
        addon.backgroundWait(ticket);
        if (backgroundJob === job) backgroundJob = null;
      };
    },

    // max-pooling: one pass over each window (conv.cc), the same comparisons as js's
    maxPool(x: TypedArray, geometry: ConvGeometry, out: TypedArray): void {
      if (!(x instanceof Float32Array) || !(out instanceof Float32Array)) {
        js.maxPool(x, geometry, out);
        return;
      }
      addon.maxPool(x, geometryArray(geometry), out);
    },

    maxPoolScatter(dy: TypedArray, x: TypedArray, geometry: ConvGeometry, out: TypedArray): void {
      if (!(dy instanceof Float32Array) || !(x instanceof Float32Array) || !(out instanceof Float32Array)) {
        js.maxPoolScatter(dy, x, geometry, out);
        return;
      }
      addon.maxPoolScatter(dy, x, geometryArray(geometry), out);
    },

    maxPoolGather(v: TypedArray, x: TypedArray, geometry: ConvGeometry, out: TypedArray): void {
      if (!(v instanceof Float32Array) || !(x instanceof Float32Array) || !(out instanceof Float32Array)) {
        js.maxPoolGather(v, x, geometry, out);
        return;
      }
      addon.maxPoolGather(v, x, geometryArray(geometry), out);
    },

    reduce(kernel: ReduceKernel, x: TypedArray, shape: Shape, axes: readonly number[], out: TypedArray): void {
      if (!sameFloat(x.length, float64ReduceFrom, x, out) || x.length === 0) {
        js.reduce(kernel, x, shape, axes, out);
        return;
      }
      // adjacent axes collapse the shape to [outer, mid, inner]; others go to js
      const collapsed = adjacentReduction(shape, axes);
      if (!collapsed) {
        js.reduce(kernel, x, shape, axes, out);
        return;
      }
      const { outer, mid, inner } = collapsed;
      // float64 sums js's way: with inner = 1, in runs of the last axis (reduceContiguous)
      if (kernel === 'sum') addon.sum(x as Float, out as Float, outer, mid, inner, flags, shape[shape.length - 1]);
      else addon.extremum(kernel === 'max', x as Float, out as Float, outer, mid, inner, flags);
    },
  };

  return {
    ...js,
    name: options.name ?? 'native',
    ...kernels,
    kernel: portable ? features.portableKernel : options.kernels === 'avx2' ? features.avx2Kernel : features.kernel,
    threads: twoCores && mode !== 'off' ? 2 : 1,
    threadThreshold: threshold,
    features,
    fmaPeakGflops: (threads = 1, seconds = 0.05, dtype: 'float32' | 'float64' = 'float32') => addon.fmaPeakGflops(threads, seconds, dtype === 'float64'),
    threadStats: () => addon.threadStats(),
    fallbacks: fallbacks.report,
    resetFallbacks: fallbacks.reset,
  };
}
