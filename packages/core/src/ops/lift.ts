import { getBackend } from '../backend/index.js';
import { allocate } from '../dtype.js';
import { ValueError } from '../errors.js';
import { Tensor } from '../tensor.js';

/** A tensor, or a plain number that takes the dtype of the tensor it meets. */
export type TensorLike = Tensor | number;

/**
 * Turns a number into a rank-0 tensor of `like`'s dtype, on the active backend's device if
 * it has one (as a creation function places it); tensors pass through.
 */
export function lift(op: string, x: TensorLike, like: TensorLike): Tensor {
  if (x instanceof Tensor) return x;
  if (typeof x !== 'number') throw new ValueError(op, `expected a Tensor or a number, got ${x === null ? 'null' : typeof x}`);
  const dtype = like instanceof Tensor ? like.dtype : 'float32';
  const memory = getBackend().memory;
  if (memory !== undefined) return new Tensor(memory.upload(dtype === 'float64' ? Float64Array.of(x) : Float32Array.of(x)), [], dtype);
  const data = allocate(dtype, 1);
  data[0] = x;
  return new Tensor(data, [], dtype);
}

/** Lifts both operands of a binary op; a number takes the other side's dtype. */
export function liftPair(op: string, a: TensorLike, b: TensorLike): [Tensor, Tensor] {
  return [lift(op, a, b), lift(op, b, a)];
}
