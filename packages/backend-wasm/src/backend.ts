import { type Backend, type BinaryKernel, type FallbackReport, type Shape, type TypedArray, type UnaryKernel, ValueError, adjacentReduction, binaryLayout, countJsFallbacks, jsBackend } from '@tapegrad/core';
import { enableRelaxedSimd, relaxedSimdSupported, simdSupported } from './features.js';
import { relaxedThreadsWasm, relaxedWasm, simdThreadsWasm, simdWasm } from './generated/wasm.js';
import { MatmulWorker, WARM_BYTES, attachWorker, sharedMemoryForThreads } from './threads.js';
import { type WasmMemory, wasmApi } from './wasm-api.js';

/** Which compiled build runs: fused multiply-add (relaxed SIMD) or multiply then add. */
export type WasmVariant = 'relaxed-simd' | 'simd';

/** Options of the wasm backend: which build, its registered name, threading, and whether small calls stay in js. */
export interface WasmBackendOptions {
  /**
   * 'auto' (the default) enables relaxed SIMD where it can (see {@link enableRelaxedSimd})
   * and takes the relaxed build if the engine then accepts it, else the plain SIMD build.
   * Naming a variant forces it; 'relaxed-simd' throws where the engine refuses it.
   */
  variant?: WasmVariant | 'auto';
  /** The name it registers under; 'wasm' unless two instances must coexist (benchmarks). */
  name?: string;
  /**
   * Two-thread float32 matmul (Node worker_threads on a shared memory): 'auto' (the
   * default) splits products with m·k·n ≥ `threadThreshold` where threads are available
   * and runs everything on the calling thread elsewhere, silently; 'off' never starts a
   * worker; 'always' splits every product it can (m or n ≥ 2), for tests. `threads` on the
   * backend says which mode is active.
   */
  threads?: 'auto' | 'off' | 'always';
  /** m·k·n from which 'auto' splits a matmul over two threads (default {@link DEFAULT_THREAD_THRESHOLD}). */
  threadThreshold?: number;
  /**
   * true (the default): element-wise calls smaller than the measured sizes at which wasm
   * starts to win (a few to ~130 elements, by kernel; see `UNARY_JS_BELOW` in backend.ts)
   * run in js, where copying operands in and out would cost more than the arithmetic.
   * false: every float32 call the kernels cover runs in wasm, whatever its size (tests).
   */
  smallCallsInJs?: boolean;
}

/**
 * m·k·n from which 'auto' uses two threads. Measured (Node 20, 2-core EPYC, second core
 * free; README): 6.4·10⁶ (64×784×128 and the other T1 products) gained 1.14–1.48×, 2.1·10⁶
 * 0.8–1.3×, 0.26·10⁶ lost (0.6–0.7×).
 */
export const DEFAULT_THREAD_THRESHOLD = 4_000_000;

/** A {@link Backend} whose float32 kernels run in WebAssembly; the rest is `jsBackend`'s. */
export interface WasmBackend extends Backend {
  /** The build chosen at creation. */
  readonly variant: WasmVariant;
  /**
   * 2 if large float32 matmuls are split over two threads (a worker, started at the first
   * one, and the calling thread), 1 if everything runs on the calling thread: threads off,
   * or unavailable (no worker_threads, SharedArrayBuffer or shared wasm memory, one core),
   * or the worker failed to start.
   */
  readonly threads: 1 | 2;
  /** Bytes of WebAssembly memory held now: it grows to the largest call's operands, never shrinks. */
  memoryBytes(): number;
  /**
   * The calls this backend handed to jsBackend since it was made (or since
   * {@link WasmBackend.resetFallbacks}), by kernel ('gather', 'binary add', …), with the
   * elements they covered — float64, unsupported kernels and layouts, and the small
   * element-wise calls js runs faster (`smallCallsInJs`). Counted in the fallback only.
   */
  fallbacks(): FallbackReport;
  /** Sets the fallback counts back to zero. */
  resetFallbacks(): void;
}

interface Exports {
  memory: WasmMemory;
  heapBase(): number;
  matmulScratchBytes(): number;
  matmul(a: number, b: number, c: number, m: number, k: number, n: number, transA: number, transB: number, scratch: number): void;
  matmulBlock(a: number, b: number, c: number, m: number, k: number, n: number, transA: number, transB: number, scratch: number,
    i0: number, i1: number, j0: number, j1: number): void;
  matmulBatch(a: number, b: number, c: number, m: number, k: number, n: number, transA: number, transB: number, scratch: number,
    aOffsets: number, bOffsets: number, first: number, last: number): void;
  relu(x: number, out: number, n: number): void;
  step(x: number, out: number, n: number): void;
  exp(x: number, out: number, n: number): void;
  sigmoid(x: number, out: number, n: number): void;
  softplus(x: number, out: number, n: number): void;
  floor(x: number, out: number, n: number): void;
  ceil(x: number, out: number, n: number): void;
  round(x: number, out: number, n: number): void;
  isNaN(x: number, out: number, n: number): void;
  isFinite(x: number, out: number, n: number): void;
  erf(x: number, out: number, n: number): void;
  log1p(x: number, out: number, n: number): void;
  sin(x: number, out: number, n: number): void;
  cos(x: number, out: number, n: number): void;
  sigmoidGrad(y: number, dy: number, out: number, n: number): void;
  tanhGrad(y: number, dy: number, out: number, n: number): void;
  reluGrad(x: number, dy: number, out: number, n: number): void;
  subScaled(y: number, x: number, s: number, out: number, n: number): void;
  binary(op: number, a: number, aMode: number, b: number, bMode: number, out: number, rows: number, cols: number): void;
  sumRows(x: number, out: number, rows: number, cols: number): void;
  sumMiddle(x: number, out: number, outer: number, mid: number, inner: number): void;
  unfold(x: number, out: number, padValue: number, N: number, C: number, H: number, W: number, kH: number, kW: number,
    strideH: number, strideW: number, padH: number, padW: number, dilationH: number, dilationW: number, outH: number, outW: number, batched: number): void;
  fold(cols: number, out: number, N: number, C: number, H: number, W: number, kH: number, kW: number,
    strideH: number, strideW: number, padH: number, padW: number, dilationH: number, dilationW: number, outH: number, outW: number, batched: number): void;
}

function decodeBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

// Arithmetic, not bit operations: offsets may pass 2³¹ (wasm32 memory reaches 4 GiB), and
// typed-array indices are offsets >>> 2 for the same reason.
const align = (bytes: number) => Math.ceil(bytes / 64) * 64;
/** Element-wise kernels run on whole v128 lanes: buffers are padded to 4 floats (16 bytes). */
const padded = (floats: number) => align(floats * 4);

function chooseVariant(requested: WasmVariant | 'auto'): WasmVariant {
  if (!simdSupported()) throw new ValueError('createWasmBackend', 'this engine has no WebAssembly SIMD (Node ≥ 16.4, Chrome ≥ 91, Firefox ≥ 89, Safari ≥ 16.4)');
  if (requested === 'simd') return 'simd';
  const relaxed = enableRelaxedSimd();
  if (requested === 'relaxed-simd' && !relaxed) {
    throw new ValueError('createWasmBackend', "variant 'relaxed-simd' was requested but this engine refuses relaxed SIMD (Node 20 needs --experimental-wasm-relaxed-simd: enableRelaxedSimd() sets it where Node allows)");
  }
  return relaxed ? 'relaxed-simd' : 'simd';
}

// The operand modes of the binary kernel are core's OperandMode (as in assembly/index.ts).
const binaryOps: Partial<Record<BinaryKernel, number>> = { add: 0, sub: 1, mul: 2, div: 3, maximum: 4, minimum: 5 };


/*
 * Below these sizes (elements of the output) a call runs in js: copying operands into wasm
 * memory and the result out costs ≈ 0.2 µs a call, more than a short js loop. Crossovers
 * measured per call, js vs wasm with copies (Node 20, 2-core EPYC, `threads: 'off'`, best of 7
 * timed loops; the machine was loaded, so the ratios, not the times, carry over): exp and
 * sigmoid ≈ 15 elements (10: js 0.14 µs vs 0.23–0.4 µs; 20: 0.28 vs 0.23), softplus ≈ 10
 * (0.32 vs 0.30), relu and step ≈ 100 (100: 0.21 vs 0.21), add/sub/mul/div on equal shapes
 * or with a scalar ≈ 80–100 (100: 0.29–0.34 vs 0.23–0.31), sigmoidGrad and the other
 * activation gradients ≈ 60, subScaled ≈ 90. Never for row or column broadcasts (js's
 * general walk: 0.47 µs at 20 elements vs 0.32) nor sums (wasm ≥ 1.5× faster from 10
 * elements: js's reduce walks rows through closures).
 */
const UNARY_JS_BELOW: Partial<Record<UnaryKernel, number>> = {
  exp: 16, sigmoid: 16, softplus: 8, relu: 112, step: 112,
  // one vector instruction an element, as relu: assumed to cross over where relu does (not measured)
  floor: 112, ceil: 112, round: 112, isNaN: 112, isFinite: 112,
  // erf has no entry: js's series and continued fraction lose even at 2 elements (0.85 µs
  // vs 0.53 µs a call; 7.5× slower at 262,144, measured on the loaded 2-core machine)
  // sin and cos (musl in wasm vs V8's fdlibm, both float64, one element at a time): js at
  // 32 (0.29 vs 0.34 µs), tie at 48–64, wasm 1.1–1.3× from 96 to 4096, 1.4–1.8× at 65,536;
  // log1p: js ahead up to ≈ 1024 (0.78–0.97×), tie at 4096, wasm 1.24× at 65,536 (4th best
  // of 25 interleaved runs, loaded machine)
  sin: 64, cos: 64, log1p: 4096,
};
const BINARY_JS_BELOW = 96;
const GRAD_JS_BELOW = 64;
const SUB_SCALED_JS_BELOW = 96;
// unfold and fold, by elements of the columns (same machine and method, bench/conv.ts):
// js wins at 16–100 (0.15–0.5 µs vs 0.26–0.86), they tie at 128–144 (2×2 pooling windows
// 0.76 vs 0.81 µs; fold 0.44 vs 0.48), wasm wins from ≈ 256 (fold 1.22 vs 0.83 µs) and by
// 3–6× from a few thousand
const UNFOLD_JS_BELOW = 128;
const FOLD_JS_BELOW = 128;

/**
 * [lo, hi): the elements of x (of `length`) that a batch of `size`-element matrices at
 * `offsets` reads. A matrix reaching outside x is a RangeError naming the offset, before
 * anything is copied.
 */
function offsetsRange(offsetsName: string, offsets: Int32Array, name: string, length: number, size: number): [number, number] {
  let lo = length, hi = 0;
  for (let i = 0; i < offsets.length; i++) {
    const o = offsets[i];
    if (o < 0 || o + size > length) {
      throw new RangeError(`tapegrad wasm matmulBatched: ${offsetsName}[${i}] = ${o} puts a ${size}-element matrix at [${o}, ${o + size}), outside ${name}'s ${length} elements`);
    }
    if (o < lo) lo = o;
    if (o + size > hi) hi = o + size;
  }
  return offsets.length === 0 ? [0, 0] : [lo, hi];
}

/**
 * Compiles one build and returns a backend around it, without registering it. Compilation
 * is synchronous (`new WebAssembly.Module`), which Node always allows; browsers allow it on
 * the main thread only for small modules (each build is about 16.2 kB; current Chromium's
 * limit is 8 MB, older Chromium and some Android WebViews' is 4 kB): there, use
 * {@link createWasmBackendAsync}.
 */
export function createWasmBackend(options: WasmBackendOptions = {}): WasmBackend {
  const variant = chooseVariant(options.variant ?? 'auto');
  // chooseVariant() has checked that wasmApi exists and validates SIMD
  const memory = options.threads === 'off' ? undefined : sharedMemoryForThreads(THREAD_INITIAL_BYTES);
  const module = new wasmApi!.Module(bytesOf(variant, memory !== undefined));
  const instance = new wasmApi!.Instance(module, memory ? { env: { memory } } : {});
  return wrap(instance.exports as Exports, variant, options, memory && module);
}

/** {@link createWasmBackend} compiling asynchronously (`WebAssembly.instantiate`): for browsers' main threads. */
export async function createWasmBackendAsync(options: WasmBackendOptions = {}): Promise<WasmBackend> {
  const variant = chooseVariant(options.variant ?? 'auto');
  const memory = options.threads === 'off' ? undefined : sharedMemoryForThreads(THREAD_INITIAL_BYTES);
  const { module, instance } = await wasmApi!.instantiate(bytesOf(variant, memory !== undefined), memory ? { env: { memory } } : {});
  return wrap(instance.exports as Exports, variant, options, memory && module);
}

/** The shared memory starts at one page and grows as the single-thread one does (reserve()). */
const THREAD_INITIAL_BYTES = 65536;

function bytesOf(variant: WasmVariant, threads: boolean): Uint8Array {
  if (threads) return decodeBase64(variant === 'relaxed-simd' ? relaxedThreadsWasm : simdThreadsWasm);
  return decodeBase64(variant === 'relaxed-simd' ? relaxedWasm : simdWasm);
}

/** `threadsModule`: the compiled *Threads build when `wasm` runs on a shared memory. */
function wrap(wasm: Exports, variant: WasmVariant, options: WasmBackendOptions, threadsModule?: object): WasmBackend {
  const name = options.name ?? 'wasm';
  const memory = wasm.memory;
  const matmulScratch = align(wasm.matmulScratchBytes());
  // [heapBase, +scratch): the calling thread's matmul packing; with threads, then the
  // worker's scratch and warm-up operands; `heap` is where every call's operands start.
  const mainScratch = align(wasm.heapBase());
  const worker = threadsModule
    ? new MatmulWorker(threadsModule, memory, mainScratch + matmulScratch, mainScratch + 2 * matmulScratch)
    : undefined;
  const heap = worker ? mainScratch + 2 * matmulScratch + align(WARM_BYTES) : mainScratch;
  const matmulAt = worker ? heap : heap + matmulScratch;
  const always = options.threads === 'always';
  const threshold = options.threadThreshold ?? DEFAULT_THREAD_THRESHOLD;
  let f32 = new Float32Array(memory.buffer);

  /**
   * Computes the product on two threads (see threads.ts) if it is large enough and the
   * worker runs; false otherwise: the caller then computes it alone. C is cut along its
   * longer side (rows, or columns when C is wider than tall: each thread packs the whole
   * un-cut operand, so that is the smaller one) into 2–4 blocks, on micro-tile boundaries
   * (4 rows, 8 columns) when there are enough of them.
   */
  function matmulOnTwoThreads(pa: number, pb: number, pc: number, m: number, k: number, n: number, tA: number, tB: number): boolean {
    const work = m * k * n;
    if (!worker?.usable || (!always && work < threshold)) return false;
    const byRows = m >= n;
    const size = byRows ? m : n;
    if (size < 2) return false;
    const unit = byRows ? 4 : 8;
    // 2–4 blocks: more let a thread that runs alone take more of the work, but each block
    // repacks the whole un-cut operand
    const wanted = Math.min(4, Math.max(2, Math.floor(work / 2 ** 21)));
    let step = Math.ceil(size / wanted);
    if (size >= 2 * unit) step = Math.ceil(step / unit) * unit;
    return worker.run(pa, pb, pc, m, k, n, tA, tB, byRows, step, Math.ceil(size / step), wasm.matmulBlock, mainScratch);
  }

  /**
   * Splits a batch of 2 or ≥ 4 products between the two threads by whole products (each
   * then gets exactly the single-thread operations; no operand is packed twice), if its
   * total work is large enough and the worker runs; false otherwise. Up to 16 blocks (the
   * control block's masks hold 32), so that a thread the OS holds back leaves little to wait on.
   */
  function batchOnTwoThreads(pa: number, pb: number, pc: number, m: number, k: number, n: number, tA: number, tB: number,
    aOffsets: number, bOffsets: number, count: number): boolean {
    if (!worker?.usable || !(count === 2 || count >= 4) || (!always && count * m * k * n < threshold)) return false;
    const blocks = Math.min(count, 16), step = Math.ceil(count / blocks);
    return worker.run(pa, pb, pc, m, k, n, tA, tB, false, step, Math.ceil(count / step), wasm.matmulBlock, mainScratch,
      { aOffsets, bOffsets, count, kernel: wasm.matmulBatch });
  }

  /**
   * Makes bytes [0, end) addressable; growing detaches the old buffer, so re-view it. False
   * if the engine refuses to grow (past 4 GiB, or out of memory): the caller falls back to js.
   */
  function reserve(end: number): boolean {
    const have = memory.buffer.byteLength;
    if (end > have) {
      try {
        memory.grow(Math.ceil((end - have) / 65536));
      } catch {
        return false;
      }
    }
    if (f32.buffer !== memory.buffer) f32 = new Float32Array(memory.buffer);
    return true;
  }

  const small = options.smallCallsInJs ?? true;
  const unaryBelow: Partial<Record<UnaryKernel, number>> = small ? UNARY_JS_BELOW : {};
  const binaryBelow = small ? BINARY_JS_BELOW : 0;
  const gradBelow = small ? GRAD_JS_BELOW : 0, subScaledBelow = small ? SUB_SCALED_JS_BELOW : 0;
  const unfoldBelow = small ? UNFOLD_JS_BELOW : 0, foldBelow = small ? FOLD_JS_BELOW : 0;

  const unaryKernels: Partial<Record<UnaryKernel, (x: number, out: number, n: number) => void>> = {
    relu: wasm.relu, step: wasm.step, exp: wasm.exp, sigmoid: wasm.sigmoid, softplus: wasm.softplus,
    floor: wasm.floor, ceil: wasm.ceil, round: wasm.round, isNaN: wasm.isNaN, isFinite: wasm.isFinite, erf: wasm.erf,
    log1p: wasm.log1p, sin: wasm.sin, cos: wasm.cos,
  };
  // activation′ ⊙ dy: two operands of the output's size (the ops guarantee one shape)
  const gradKernels: Partial<Record<BinaryKernel, (y: number, dy: number, out: number, n: number) => void>> = {
    sigmoidGrad: wasm.sigmoidGrad, tanhGrad: wasm.tanhGrad, reluGrad: wasm.reluGrad,
  };

  // jsBackend's kernels, counting each call: every fallback below goes there
  const fallbacks = countJsFallbacks(), js = fallbacks.js;

  const backend: WasmBackend = {
    name,
    fallbacks: fallbacks.report,
    resetFallbacks: fallbacks.reset,
    variant,
    get threads() {
      return worker?.usable ? 2 : 1;
    },
    memoryBytes: () => memory.buffer.byteLength,

    unary(kernel: UnaryKernel, x: TypedArray, out: TypedArray, scalar: number): void {
      const run = unaryKernels[kernel];
      if (!run || !(x instanceof Float32Array) || !(out instanceof Float32Array) || x.length < (unaryBelow[kernel] ?? 0)) {
        js.unary(kernel, x, out, scalar);
        return;
      }
      // in place: x is copied in, overwritten by the result, copied out
      const n = x.length;
      if (!reserve(heap + padded(n))) {
        js.unary(kernel, x, out, scalar);
        return;
      }
      f32.set(x, heap >>> 2);
      run(heap, heap, n);
      out.set(f32.subarray(heap >>> 2, (heap >>> 2) + n));
    },

    binary(kernel, a, aShape, b, bShape, out, outShape): void {
      const grad = gradKernels[kernel];
      if (grad) {
        const n = out.length;
        if (n < gradBelow || !(a instanceof Float32Array) || !(b instanceof Float32Array) || !(out instanceof Float32Array)
          || a.length !== n || b.length !== n || !reserve(heap + 2 * padded(n))) {
          js.binary(kernel, a, aShape, b, bShape, out, outShape);
          return;
        }
        const pa = heap, pb = pa + padded(n);
        f32.set(a, pa >>> 2);
        f32.set(b, pb >>> 2);
        grad(pa, pb, pb, n); // over dy: each lane is read before it is written
        out.set(f32.subarray(pb >>> 2, (pb >>> 2) + n));
        return;
      }
      const op = binaryOps[kernel];
      const total = out.length;
      if (op === undefined || !(a instanceof Float32Array) || !(b instanceof Float32Array) || !(out instanceof Float32Array)
        // js's fast paths (equal sizes, a scalar) beat the copies on small calls; its
        // general broadcasting walk does not, so row and column broadcasts stay here
        || (total < binaryBelow && (a.length === total || a.length === 1) && (b.length === total || b.length === 1))) {
        js.binary(kernel, a, aShape, b, bShape, out, outShape);
        return;
      }
      const layout = binaryLayout(aShape, a.length, bShape, b.length, outShape, total);
      if (!layout) {
        js.binary(kernel, a, aShape, b, bShape, out, outShape);
        return;
      }
      const pa = heap, pb = pa + padded(a.length), po = pb + padded(b.length);
      if (!reserve(po + padded(total))) {
        js.binary(kernel, a, aShape, b, bShape, out, outShape);
        return;
      }
      f32.set(a, pa >>> 2);
      f32.set(b, pb >>> 2);
      wasm.binary(op, pa, layout.left.mode, pb, layout.right.mode, po, layout.rows, layout.cols);
      out.set(f32.subarray(po >>> 2, (po >>> 2) + total));
    },

    where: jsBackend.where,

    matmul(a, b, out, m, k, n, transposeA, transposeB): void {
      if (!(a instanceof Float32Array) || !(b instanceof Float32Array) || !(out instanceof Float32Array)) {
        js.matmul(a, b, out, m, k, n, transposeA, transposeB);
        return;
      }
      if (m === 0 || n === 0) return;
      if (k === 0) {
        out.fill(0);
        return;
      }
      const pa = matmulAt, pb = pa + align(m * k * 4), pc = pb + align(k * n * 4);
      if (!reserve(pc + align(m * n * 4))) {
        js.matmul(a, b, out, m, k, n, transposeA, transposeB);
        return;
      }
      f32.set(a, pa >>> 2);
      f32.set(b, pb >>> 2);
      const tA = transposeA ? 1 : 0, tB = transposeB ? 1 : 0;
      if (!matmulOnTwoThreads(pa, pb, pc, m, k, n, tA, tB)) wasm.matmul(pa, pb, pc, m, k, n, tA, tB, mainScratch);
      out.set(f32.subarray(pc >>> 2, (pc >>> 2) + m * n));
    },

    /**
     * One copy in of the range of a (and of b) that the batch reads — a broadcast operand
     * once, however many products read it —, every product in wasm, one copy out of C.
     */
    matmulBatched(a, b, out, m, k, n, transposeA, transposeB, aOffsets, bOffsets): void {
      if (!(a instanceof Float32Array) || !(b instanceof Float32Array) || !(out instanceof Float32Array)) {
        js.matmulBatched(a, b, out, m, k, n, transposeA, transposeB, aOffsets, bOffsets);
        return;
      }
      const count = aOffsets.length;
      const [aLo, aHi] = offsetsRange('aOffsets', aOffsets, 'a', a.length, m * k);
      const [bLo, bHi] = offsetsRange('bOffsets', bOffsets, 'b', b.length, k * n);
      if (bOffsets.length !== count) throw new RangeError(`tapegrad wasm matmulBatched: aOffsets has ${count} entries but bOffsets ${bOffsets.length}`);
      if (out.length < count * m * n) throw new RangeError(`tapegrad wasm matmulBatched: out has ${out.length} elements, needs ${count * m * n}`);
      if (count === 0 || m === 0 || n === 0) return;
      if (k === 0) {
        out.fill(0, 0, count * m * n);
        return;
      }
      const pa = matmulAt, pb = pa + align((aHi - aLo) * 4), pc = pb + align((bHi - bLo) * 4);
      const pOffsets = pc + align(count * m * n * 4), pbOffsets = pOffsets + align(count * 4);
      if (!reserve(pbOffsets + align(count * 4))) {
        js.matmulBatched(a, b, out, m, k, n, transposeA, transposeB, aOffsets, bOffsets);
        return;
      }
      f32.set(a.subarray(aLo, aHi), pa >>> 2);
      f32.set(b.subarray(bLo, bHi), pb >>> 2);
      // the offsets, relative to the copied ranges
      const bAt = (pbOffsets - pOffsets) / 4;
      const i32 = new Int32Array(memory.buffer, pOffsets, bAt + count);
      for (let i = 0; i < count; i++) {
        i32[i] = aOffsets[i] - aLo;
        i32[bAt + i] = bOffsets[i] - bLo;
      }
      const tA = transposeA ? 1 : 0, tB = transposeB ? 1 : 0;
      if (!batchOnTwoThreads(pa, pb, pc, m, k, n, tA, tB, pOffsets, pbOffsets, count)) {
        if (count === 1 || count === 3) {
          // few products: each is cut between the threads as matmul cuts it (if large enough)
          for (let i = 0; i < count; i++) {
            const pai = pa + i32[i] * 4, pbi = pb + i32[bAt + i] * 4, pci = pc + i * m * n * 4;
            if (!matmulOnTwoThreads(pai, pbi, pci, m, k, n, tA, tB)) wasm.matmul(pai, pbi, pci, m, k, n, tA, tB, mainScratch);
          }
        } else {
          wasm.matmulBatch(pa, pb, pc, m, k, n, tA, tB, mainScratch, pOffsets, pbOffsets, 0, count);
        }
      }
      out.set(f32.subarray(pc >>> 2, (pc >>> 2) + count * m * n));
    },

    reduce(kernel, x, shape, axes, out): void {
      if (kernel !== 'sum' || !(x instanceof Float32Array) || !(out instanceof Float32Array)) {
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
      if (out.length === 0) return;
      const px = heap, po = px + padded(x.length);
      if (!reserve(po + padded(out.length))) {
        js.reduce(kernel, x, shape, axes, out);
        return;
      }
      f32.set(x, px >>> 2);
      if (inner === 1) wasm.sumRows(px, po, outer, mid);
      else wasm.sumMiddle(px, po, outer, mid, inner);
      out.set(f32.subarray(po >>> 2, (po >>> 2) + out.length));
    },

    transpose: jsBackend.transpose,
    // max-pooling: one pass over the image each, memory-bound: js's loops
    maxPool: js.maxPool,
    maxPoolScatter: js.maxPoolScatter,
    maxPoolGather: js.maxPoolGather,
    broadcastTo: jsBackend.broadcastTo,
    slice: jsBackend.slice,
    pad: jsBackend.pad,
    // indexing, scans and arg-reductions: memory-bound, so copying into wasm memory and
    // back would cost more than the loop
    gather: jsBackend.gather,
    scatterAdd: jsBackend.scatterAdd,
    cumsum: jsBackend.cumsum,
    argReduce: jsBackend.argReduce,
    // im2col and col2im: js's loops in wasm, so the same copies and float32 sums
    unfold(x, g, padValue, out, batched): void {
      const images = g.N * g.C, size = images * g.kH * g.kW * g.outH * g.outW;
      if (!(x instanceof Float32Array) || !(out instanceof Float32Array) || size < unfoldBelow) {
        js.unfold(x, g, padValue, out, batched);
        return;
      }
      if (size === 0) return;
      const imageSize = images * g.H * g.W;
      const px = heap, po = px + padded(imageSize);
      if (!reserve(po + padded(size))) {
        js.unfold(x, g, padValue, out, batched);
        return;
      }
      f32.set(x.subarray(0, imageSize), px >>> 2);
      wasm.unfold(px, po, padValue, g.N, g.C, g.H, g.W, g.kH, g.kW, g.strideH, g.strideW, g.padH, g.padW, g.dilationH, g.dilationW, g.outH, g.outW, batched ? 1 : 0);
      out.set(f32.subarray(po >>> 2, (po >>> 2) + size));
    },

    fold(cols, g, out, batched): void {
      const images = g.N * g.C, size = images * g.kH * g.kW * g.outH * g.outW, imageSize = images * g.H * g.W;
      if (!(cols instanceof Float32Array) || !(out instanceof Float32Array) || size < foldBelow) {
        js.fold(cols, g, out, batched);
        return;
      }
      if (imageSize === 0) return;
      const pc = heap, po = pc + padded(size);
      if (!reserve(po + padded(imageSize))) {
        js.fold(cols, g, out, batched);
        return;
      }
      f32.set(cols.subarray(0, size), pc >>> 2);
      wasm.fold(pc, po, g.N, g.C, g.H, g.W, g.kH, g.kW, g.strideH, g.strideW, g.padH, g.padW, g.dilationH, g.dilationW, g.outH, g.outW, batched ? 1 : 0);
      out.set(f32.subarray(po >>> 2, (po >>> 2) + imageSize));
    },

    subScaled(y, x, s, out): void {
      const n = out.length;
      if (n < subScaledBelow || !(y instanceof Float32Array) || !(x instanceof Float32Array) || !(out instanceof Float32Array)
        || y.length !== n || x.length !== n || !reserve(heap + 2 * padded(n))) {
        js.subScaled(y, x, s, out);
        return;
      }
      const py = heap, px = py + padded(n);
      f32.set(y, py >>> 2);
      f32.set(x, px >>> 2);
      wasm.subScaled(py, px, s, py, n);
      out.set(f32.subarray(py >>> 2, (py >>> 2) + n));
    },
  };
  // the kernels listed above as jsBackend's own count their calls too
  const kernels = backend as unknown as Record<string, unknown>, counted = js as unknown as Record<string, unknown>;
  for (const [key, kernel] of Object.entries(jsBackend)) if (kernels[key] === kernel) kernels[key] = counted[key];
  if (worker) attachWorker(backend, worker);
  return backend;
}

export { enableRelaxedSimd, relaxedSimdSupported, simdSupported };
