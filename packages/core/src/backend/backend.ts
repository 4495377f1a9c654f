import type { TypedArray } from '../dtype.js';
import type { Shape } from '../shape.js';

/** Element-wise kernels of one input. `step` is 1 where x > 0, else 0 (relu's derivative). */
export type UnaryKernel =
  | 'neg' | 'exp' | 'log' | 'sigmoid' | 'relu' | 'tanh' | 'sqrt' | 'abs' | 'sign' | 'step'
  | 'powScalar';

/** Element-wise kernels of two broadcast inputs; comparisons write 1 or 0. */
export type BinaryKernel =
  | 'add' | 'sub' | 'mul' | 'div'
  | 'greater' | 'greaterEqual' | 'less' | 'lessEqual' | 'equal';

export type ReduceKernel = 'sum' | 'max';

/**
 * The seam between ops and arithmetic. Every kernel writes into an `out` buffer that the
 * caller allocated with the right dtype and size, so a backend never decides shapes or
 * dtypes (ops do, in one place) and a faster backend can replace this one without touching
 * the tape or any op's vector-Jacobian product.
 *
 * `unary` and `binary` may be given `out` === an input of the output's size (optimisers
 * update parameters in place that way): read each element before writing it, or copy the
 * inputs first (as a backend computing in its own memory does anyway).
 *
 * Shapes passed to a kernel are already validated and, for broadcasting kernels, already
 * right-aligned to the output's rank.
 */
export interface Backend {
  readonly name: string;
  unary(kernel: UnaryKernel, x: TypedArray, out: TypedArray, scalar: number): void;
  binary(kernel: BinaryKernel, a: TypedArray, aShape: Shape, b: TypedArray, bShape: Shape, out: TypedArray, outShape: Shape): void;
  /** out = cond ≠ 0 ? a : b, all three broadcast to outShape. */
  where(cond: TypedArray, condShape: Shape, a: TypedArray, aShape: Shape, b: TypedArray, bShape: Shape, out: TypedArray, outShape: Shape): void;
  /** out[m,n] = op(A)·op(B), op = transpose when the flag is set; A is stored [m,k] or [k,m]. */
  matmul(a: TypedArray, b: TypedArray, out: TypedArray, m: number, k: number, n: number, transposeA: boolean, transposeB: boolean): void;
  /** Reduces the given (sorted, positive) axes; out has the keepDims shape's size. */
  reduce(kernel: ReduceKernel, x: TypedArray, shape: Shape, axes: readonly number[], out: TypedArray): void;
  /** out = x with its axes permuted: out axis i is x axis perm[i]. */
  transpose(x: TypedArray, shape: Shape, perm: readonly number[], out: TypedArray): void;
  /** Repeats x (already right-aligned to outShape's rank) along its size-1 axes. */
  broadcastTo(x: TypedArray, shape: Shape, out: TypedArray, outShape: Shape): void;
  /** Copies the box [begin, begin + outShape) of x into out. */
  slice(x: TypedArray, shape: Shape, begin: readonly number[], out: TypedArray, outShape: Shape): void;
  /** Writes x into a zero-filled out at offset `begin` (slice's adjoint). */
  pad(x: TypedArray, shape: Shape, begin: readonly number[], out: TypedArray, outShape: Shape): void;
}
