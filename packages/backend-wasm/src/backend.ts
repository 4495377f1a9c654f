import { type Backend, type BinaryKernel, type Shape, type TypedArray, type UnaryKernel, ValueError, jsBackend } from '@tapegrad/core';
import { enableRelaxedSimd, relaxedSimdSupported, simdSupported } from './features.js';
import { relaxedWasm, simdWasm } from './generated/wasm.js';
import { type WasmMemory, wasmApi } from './wasm-api.js';

/** Which compiled build runs: fused multiply-add (relaxed SIMD) or multiply then add. */
export type WasmVariant = 'relaxed-simd' | 'simd';

export interface WasmBackendOptions {
  /**
   * 'auto' (the default) enables relaxed SIMD where it can (see {@link enableRelaxedSimd})
   * and takes the relaxed build if the engine then accepts it, else the plain SIMD build.
   * Naming a variant forces it; 'relaxed-simd' throws where the engine refuses it.
   */
  variant?: WasmVariant | 'auto';
  /** The name it registers under; 'wasm' unless two instances must coexist (benchmarks). */
  name?: string;
}

/** A {@link Backend} whose float32 kernels run in WebAssembly; the rest is `jsBackend`'s. */
export interface WasmBackend extends Backend {
  /** The build chosen at creation. */
  readonly variant: WasmVariant;
  /** Bytes of WebAssembly memory held now: it grows to the largest call's operands, never shrinks. */
  memoryBytes(): number;
}

interface Exports {
  memory: WasmMemory;
  heapBase(): number;
  matmulScratchBytes(): number;
  matmul(a: number, b: number, c: number, m: number, k: number, n: number, transA: number, transB: number, scratch: number): void;
  relu(x: number, out: number, n: number): void;
  step(x: number, out: number, n: number): void;
  exp(x: number, out: number, n: number): void;
  sigmoid(x: number, out: number, n: number): void;
  binary(op: number, a: number, aMode: number, b: number, bMode: number, out: number, rows: number, cols: number): void;
  sumRows(x: number, out: number, rows: number, cols: number): void;
  sumMiddle(x: number, out: number, outer: number, mid: number, inner: number): void;
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

// Modes of a binary operand over the output seen as [rows, cols] (as in assembly/index.ts).
const FULL = 0, ROW = 1, COLUMN = 2, SCALAR = 3;
const binaryOps: Partial<Record<BinaryKernel, number>> = { add: 0, sub: 1, mul: 2, div: 3 };

interface Operand {
  mode: number;
  /** Rows of the [rows, cols] view the mode needs; -1 for FULL and SCALAR (any view). */
  rows: number;
}

/**
 * How an operand of `shape` broadcasts to `outShape`, if the kernel can read it directly:
 * as itself, as one value, as one row repeated (its broadcast axes all come before its
 * kept axes: a bias [1, n]) or as one value per row (kept axes first: [m, 1]).
 */
function classify(shape: Shape, outShape: Shape, size: number, outSize: number): Operand | undefined {
  if (size === outSize) return { mode: FULL, rows: -1 };
  if (size === 1) return { mode: SCALAR, rows: -1 };
  const lead = outShape.length - shape.length;
  let firstKept = -1, lastKept = -1, firstBroadcast = -1, lastBroadcast = -1;
  for (let i = 0; i < outShape.length; i++) {
    if (outShape[i] === 1) continue;
    const d = i < lead ? 1 : shape[i - lead];
    if (d === 1) {
      if (firstBroadcast < 0) firstBroadcast = i;
      lastBroadcast = i;
    } else {
      if (firstKept < 0) firstKept = i;
      lastKept = i;
    }
  }
  const rowsBefore = (axis: number) => {
    let rows = 1;
    for (let i = 0; i < axis; i++) rows *= outShape[i];
    return rows;
  };
  if (lastBroadcast < firstKept) return { mode: ROW, rows: rowsBefore(firstKept) };
  if (lastKept < firstBroadcast) return { mode: COLUMN, rows: rowsBefore(firstBroadcast) };
  return undefined;
}

/**
 * Compiles one build and returns a backend around it, without registering it. Compilation
 * is synchronous (`new WebAssembly.Module`), which Node always allows; browsers allow it on
 * the main thread only for small modules (each build is about 5.5 kB; current Chromium's
 * limit is 8 MB, older Chromium and some Android WebViews' is 4 kB): there, use
 * {@link createWasmBackendAsync}.
 */
export function createWasmBackend(options: WasmBackendOptions = {}): WasmBackend {
  const variant = chooseVariant(options.variant ?? 'auto');
  // chooseVariant() has checked that wasmApi exists and validates SIMD
  const instance = new wasmApi!.Instance(new wasmApi!.Module(bytesOf(variant)), {});
  return wrap(instance.exports as Exports, variant, options.name ?? 'wasm');
}

/** {@link createWasmBackend} compiling asynchronously (`WebAssembly.instantiate`): for browsers' main threads. */
export async function createWasmBackendAsync(options: WasmBackendOptions = {}): Promise<WasmBackend> {
  const variant = chooseVariant(options.variant ?? 'auto');
  const { instance } = await wasmApi!.instantiate(bytesOf(variant), {});
  return wrap(instance.exports as Exports, variant, options.name ?? 'wasm');
}

function bytesOf(variant: WasmVariant): Uint8Array {
  return decodeBase64(variant === 'relaxed-simd' ? relaxedWasm : simdWasm);
}

function wrap(wasm: Exports, variant: WasmVariant, name: string): WasmBackend {
  const memory = wasm.memory;
  const heap = align(wasm.heapBase());
  const matmulScratch = align(wasm.matmulScratchBytes());
  let f32 = new Float32Array(memory.buffer);

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

  const unaryKernels: Partial<Record<UnaryKernel, (x: number, out: number, n: number) => void>> = {
    relu: wasm.relu, step: wasm.step, exp: wasm.exp, sigmoid: wasm.sigmoid,
  };

  const backend: WasmBackend = {
    name,
    variant,
    memoryBytes: () => memory.buffer.byteLength,

    unary(kernel: UnaryKernel, x: TypedArray, out: TypedArray, scalar: number): void {
      const run = unaryKernels[kernel];
      if (!run || !(x instanceof Float32Array) || !(out instanceof Float32Array)) {
        jsBackend.unary(kernel, x, out, scalar);
        return;
      }
      // in place: x is copied in, overwritten by the result, copied out
      const n = x.length;
      if (!reserve(heap + padded(n))) {
        jsBackend.unary(kernel, x, out, scalar);
        return;
      }
      f32.set(x, heap >>> 2);
      run(heap, heap, n);
      out.set(f32.subarray(heap >>> 2, (heap >>> 2) + n));
    },

    binary(kernel, a, aShape, b, bShape, out, outShape): void {
      const op = binaryOps[kernel];
      if (op === undefined || !(a instanceof Float32Array) || !(b instanceof Float32Array) || !(out instanceof Float32Array)) {
        jsBackend.binary(kernel, a, aShape, b, bShape, out, outShape);
        return;
      }
      const total = out.length;
      const left = classify(aShape, outShape, a.length, total);
      const right = classify(bShape, outShape, b.length, total);
      const rows = left && right ? Math.max(left.rows, right.rows) : -1;
      if (!left || !right || (left.rows >= 0 && right.rows >= 0 && left.rows !== right.rows)) {
        jsBackend.binary(kernel, a, aShape, b, bShape, out, outShape);
        return;
      }
      const view = rows > 0 ? rows : 1;
      const pa = heap, pb = pa + padded(a.length), po = pb + padded(b.length);
      if (!reserve(po + padded(total))) {
        jsBackend.binary(kernel, a, aShape, b, bShape, out, outShape);
        return;
      }
      f32.set(a, pa >>> 2);
      f32.set(b, pb >>> 2);
      wasm.binary(op, pa, left.mode, pb, right.mode, po, view, total / view);
      out.set(f32.subarray(po >>> 2, (po >>> 2) + total));
    },

    where: jsBackend.where,

    matmul(a, b, out, m, k, n, transposeA, transposeB): void {
      if (!(a instanceof Float32Array) || !(b instanceof Float32Array) || !(out instanceof Float32Array)) {
        jsBackend.matmul(a, b, out, m, k, n, transposeA, transposeB);
        return;
      }
      if (m === 0 || n === 0) return;
      if (k === 0) {
        out.fill(0);
        return;
      }
      const pa = heap + matmulScratch, pb = pa + align(m * k * 4), pc = pb + align(k * n * 4);
      if (!reserve(pc + align(m * n * 4))) {
        jsBackend.matmul(a, b, out, m, k, n, transposeA, transposeB);
        return;
      }
      f32.set(a, pa >>> 2);
      f32.set(b, pb >>> 2);
      wasm.matmul(pa, pb, pc, m, k, n, transposeA ? 1 : 0, transposeB ? 1 : 0, heap);
      out.set(f32.subarray(pc >>> 2, (pc >>> 2) + m * n));
    },

    reduce(kernel, x, shape, axes, out): void {
      if (kernel !== 'sum' || !(x instanceof Float32Array) || !(out instanceof Float32Array)) {
        jsBackend.reduce(kernel, x, shape, axes, out);
        return;
      }
      // contiguous axes collapse the shape to [outer, mid, inner]; others go to js
      for (let i = 1; i < axes.length; i++) {
        if (axes[i] !== axes[i - 1] + 1) {
          jsBackend.reduce(kernel, x, shape, axes, out);
          return;
        }
      }
      let outer = 1, mid = 1, inner = 1;
      const first = axes[0], last = axes[axes.length - 1];
      for (let i = 0; i < shape.length; i++) {
        if (i < first) outer *= shape[i];
        else if (i <= last) mid *= shape[i];
        else inner *= shape[i];
      }
      if (out.length === 0) return;
      const px = heap, po = px + padded(x.length);
      if (!reserve(po + padded(out.length))) {
        jsBackend.reduce(kernel, x, shape, axes, out);
        return;
      }
      f32.set(x, px >>> 2);
      if (inner === 1) wasm.sumRows(px, po, outer, mid);
      else wasm.sumMiddle(px, po, outer, mid, inner);
      out.set(f32.subarray(po >>> 2, (po >>> 2) + out.length));
    },

    transpose: jsBackend.transpose,
    broadcastTo: jsBackend.broadcastTo,
    slice: jsBackend.slice,
    pad: jsBackend.pad,
  };
  return backend;
}

export { enableRelaxedSimd, relaxedSimdSupported, simdSupported };
