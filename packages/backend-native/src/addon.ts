import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** What the CPU and the build run (the addon's `features()`). */
export interface NativeFeatures {
  /** AVX2 and FMA, found at run time (__builtin_cpu_supports): the fast kernels run. */
  avx2Fma: boolean;
  /** AVX-512F (with AVX2 and FMA), found at run time: the float32 matmul runs on 8×32 zmm tiles. */
  avx512f: boolean;
  /** The kernel set chosen for this CPU: 'avx512f 8x32' with AVX-512F, 'avx2-fma 6x16' with AVX2 + FMA, else 'portable 4x8'. */
  kernel: string;
  /** The set `{ kernels: 'avx2' }` runs: 'avx2-fma 6x16' (the portable set's name without AVX2 + FMA). */
  avx2Kernel: string;
  /** The portable set's name (what `{ kernels: 'portable' }` runs). */
  portableKernel: string;
  /** The cores this process may run on (its affinity mask: `taskset`, a container's cpuset), not the machine's count. */
  hardwareThreads: number;
}

/** The addon's functions (src/native/addon.cc); every array is read and written in place. */
export interface NativeAddon {
  /** All three Float32Array, or all three Float64Array (the type of `a` decides; the others must match). */
  matmul(a: Float32Array | Float64Array, b: Float32Array | Float64Array, out: Float32Array | Float64Array, m: number, k: number, n: number,
    transposeA: boolean, transposeB: boolean, flags: number): void;
  /** out[i·m·n …] = op(A_i)·op(B_i) with A_i at a[aOffsets[i]], B_i at b[bOffsets[i]]; every offset is range-checked first. Float32 or float64, as matmul. */
  matmulBatched(a: Float32Array | Float64Array, b: Float32Array | Float64Array, out: Float32Array | Float64Array, m: number, k: number, n: number,
    transposeA: boolean, transposeB: boolean, aOffsets: Int32Array, bOffsets: Int32Array, flags: number): void;
  /** Float32Arrays, or Float64Arrays for the kernels js computes exactly (relu, step, neg, abs, sign, sqrt, floor, ceil, round, isNaN, isFinite, x²; others throw). */
  unary(op: number, x: Float32Array | Float64Array, out: Float32Array | Float64Array, scalar: number, flags: number): void;
  /** Float32Arrays or Float64Arrays (the type of `a` decides). */
  binary(op: number, a: Float32Array | Float64Array, aMode: number, b: Float32Array | Float64Array, bMode: number, out: Float32Array | Float64Array,
    rows: number, cols: number, flags: number): void;
  /** out = cond ≠ 0 ? a : b over [rows, cols], each operand read in its mode (core's OperandMode); Float64Arrays. */
  where(cond: Float64Array, cMode: number, a: Float64Array, aMode: number, b: Float64Array, bMode: number, out: Float64Array,
    rows: number, cols: number, flags: number): void;
  /** x seen as [outer, mid, inner], mid summed away; float64 with inner = 1 in runs of `run` (the shape's last axis), as js. */
  sum(x: Float32Array | Float64Array, out: Float32Array | Float64Array, outer: number, mid: number, inner: number, flags: number, run?: number): void;
  /** x seen as [outer, mid, inner], mid reduced away by max (`max` true) or min; NaN wins, ties keep the first (js's rule). */
  extremum(max: boolean, x: Float32Array | Float64Array, out: Float32Array | Float64Array, outer: number, mid: number, inner: number, flags: number): void;
  subScaled(y: Float32Array | Float64Array, x: Float32Array | Float64Array, s: number, out: Float32Array | Float64Array, flags: number): void;
  /** geometry: core's ConvGeometry as 14 numbers (N, C, H, W, kH, kW, strideH, strideW, padH, padW, dilationH, dilationW, outH, outW). */
  unfold(x: Float32Array | Float64Array, geometry: Int32Array, padValue: number, out: Float32Array | Float64Array, batched: boolean): void;
  fold(cols: Float32Array | Float64Array, geometry: Int32Array, out: Float32Array | Float64Array, batched: boolean): void;
  /** out = x [shape] with its axes permuted (out axis i is x axis perm[i]); rank ≤ 16. */
  transpose(x: Float32Array | Float64Array, shape: Int32Array, perm: Int32Array, out: Float32Array | Float64Array): void;
  /** out [outer, indices.length, inner] = x [outer, axisSize, inner] at `indices` along the middle axis; every index is range-checked. */
  gather(x: Float32Array | Float64Array, outer: number, axisSize: number, inner: number, indices: Int32Array, out: Float32Array | Float64Array): void;
  /**
   * out [rowLength, n] = the rows `indices` of the row-major x [N, rowLength] as columns, on
   * the addon's background thread when flags has FLAG_TWO_THREADS (else now); returns a ticket
   * for backgroundWait (0: already done). Everything is checked before the job starts; x and out
   * must stay alive and untouched until the wait returns. One job at a time, process-wide: a
   * second start waits for the first job to finish.
   */
  gatherColumnsStart(x: Float32Array | Float64Array, rowLength: number, indices: Int32Array, out: Float32Array | Float64Array, flags: number): number;
  /** Returns once the job of that ticket is done. */
  backgroundWait(ticket: number): void;
  maxPool(x: Float32Array, geometry: Int32Array, out: Float32Array): void;
  maxPoolScatter(dy: Float32Array, x: Float32Array, geometry: Int32Array, out: Float32Array): void;
  maxPoolGather(v: Float32Array, x: Float32Array, geometry: Int32Array, out: Float32Array): void;
  /** float64 true: 4-wide double FMAs (the float64 peak), else 8-wide float. */
  fmaPeakGflops(threads: number, seconds: number, float64: boolean): number;
  features(): NativeFeatures;
  threadStats(): ThreadStats;
}

/** How the two-thread matmul has fared in this process (all backends share one worker). */
export interface ThreadStats {
  /** Products split over both threads. */
  twoThreadCalls: number;
  /** Products 'auto' kept on the calling thread because the second core was busy lately. */
  declined: number;
  /** Times the worker's share fell below a quarter, starting a pause of 32 products. */
  backoffs: number;
  /** Blocks of the split products, and how many of them the worker computed. */
  blocks: number;
  workerBlocks: number;
}

/** Per-call flags (addon.cc). */
export const FLAG_TWO_THREADS = 1;
export const FLAG_PORTABLE = 2;
export const FLAG_ALWAYS_TWO = 4;
/** float32 matmul and matmulBatched: the paths as they were before the column form, packLines and the wider direct path (tests compare their bits). */
export const FLAG_REFERENCE_GEMM = 8;
/** The AVX2 kernel set even where the CPU has AVX-512 (tests compare its bits, benches time it). */
export const FLAG_AVX2_KERNELS = 16;

/**
 * Where the build puts the addon: ../build/Release from this module, which is src/ when the
 * tests run the TypeScript and dist/ when the bundle runs (ESM, or CommonJS through tsup's
 * import.meta.url shim): the same depth either way.
 */
export const DEFAULT_ADDON_PATH = fileURLToPath(new URL('../build/Release/tapegrad_native.node', import.meta.url));

export type AddonLoad = { addon: NativeAddon; reason?: undefined } | { addon?: undefined; reason: string };

const cache = new Map<string, AddonLoad>();

/** Loads the addon synchronously (require of the .node file), once per path; never throws. */
export function loadAddon(path: string = DEFAULT_ADDON_PATH): AddonLoad {
  let result = cache.get(path);
  if (result) return result;
  if (!existsSync(path)) {
    result = { reason: `${path} was not built (no C++ compiler, or the build failed: build/build-native.log says why; \`node scripts/build-native.mjs --force\` in @tapegrad/backend-native retries)` };
  } else {
    try {
      const addon = createRequire(import.meta.url)(path) as NativeAddon;
      if (typeof addon?.matmul !== 'function' || typeof addon.features !== 'function') throw new Error('it does not export the tapegrad kernels');
      result = { addon };
    } catch (error) {
      result = { reason: `${path} failed to load: ${String((error as Error)?.message ?? error).split('\n')[0]}` };
    }
  }
  cache.set(path, result);
  return result;
}
