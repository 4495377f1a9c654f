import { type Backend, type DType, type TypedArray, getBackend } from '@tapegrad/core';

/**
 * The element-wise kernels of the ops an optimiser's update formula is written in, run
 * straight on typed arrays: each call is the one backend kernel the op would run, with the
 * same operands in the same order and a scalar lifted as the ops lift it (one element of the
 * operand's dtype, shape []), so the numbers are bit for bit those of the formula built from
 * ops, on every backend — but the result goes into a buffer the caller owns (a state
 * buffer, θ itself, a scratch) instead of a fresh tensor per intermediate.
 *
 * Every array passed is full-size (the parameter's size) or a scalar; `out` may be one of
 * the inputs (the Backend contract allows that).
 */
export class InPlace {
  readonly #backend: Backend;
  readonly #shape: readonly number[];
  readonly #scalar: Float32Array | Float64Array;

  constructor(dtype: DType, shape: readonly number[]) {
    this.#backend = getBackend();
    this.#shape = shape;
    this.#scalar = dtype === 'float64' ? new Float64Array(1) : new Float32Array(1);
  }

  /** out = a ⊙ s for the ops' `kernel(a, s)` with a number s. */
  scalarRight(kernel: 'add' | 'sub' | 'mul' | 'div', a: TypedArray, s: number, out: TypedArray): void {
    this.#scalar[0] = s;
    this.#backend.binary(kernel, a, this.#shape, this.#scalar, [], out, this.#shape);
  }

  /** out = a ⊙ b for two full-size operands. */
  binary(kernel: 'add' | 'sub' | 'mul' | 'div', a: TypedArray, b: TypedArray, out: TypedArray): void {
    this.#backend.binary(kernel, a, this.#shape, b, this.#shape, out, this.#shape);
  }

  unary(kernel: 'sqrt', x: TypedArray, out: TypedArray): void {
    this.#backend.unary(kernel, x, out, 0);
  }

  /**
   * out = y − s·x in one backend call: the numbers of sub(y, mul(x, s)) (the Backend
   * contract rounds as those two kernels do, and never fuses), one pass instead of two and
   * no buffer for s·x.
   */
  subScaled(y: TypedArray, x: TypedArray, s: number, out: TypedArray): void {
    this.#backend.subScaled(y, x, s, out);
  }
}

/**
 * Scratch buffers for the intermediates of an update, one set per optimiser and dtype, as
 * large as the largest parameter seen and reused by every parameter and every step: after
 * the first step an update allocates nothing, and the memory cost is a few copies of one
 * parameter rather than of all of them.
 */
export class Scratch {
  #buffers: Record<'float32' | 'float64', Array<Float32Array | Float64Array>> = { float32: [], float64: [] };

  /** Buffer `slot` (0, 1, …) viewed at `size` elements of `dtype`; its contents are garbage. */
  get(dtype: DType, size: number, slot: number): TypedArray {
    const kind = dtype === 'float64' ? 'float64' : 'float32';
    const list = this.#buffers[kind];
    let buffer = list[slot];
    if (!buffer || buffer.length < size) {
      buffer = kind === 'float64' ? new Float64Array(size) : new Float32Array(size);
      list[slot] = buffer;
    }
    return buffer.length === size ? buffer : buffer.subarray(0, size);
  }

  clear(): void {
    this.#buffers = { float32: [], float64: [] };
  }
}
