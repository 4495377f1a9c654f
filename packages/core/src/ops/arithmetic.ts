import { apply } from '../op.js';
import type { Tensor } from '../tensor.js';
import { binaryOp, unaryOp } from './elementwise.js';
import { type TensorLike, liftPair } from './lift.js';
import { unbroadcast } from './layout.js';

/**
 * add, sub, mul, div and neg. Binary ops broadcast as NumPy does; the gradient of a
 * broadcast operand is summed back to its own shape by `unbroadcast`, written once.
 */

// d(a+b) = da + db
export const addOp = binaryOp('add', 'add', (dy, { inputs: [a, b] }) => [
  () => unbroadcast(dy, a.shape),
  () => unbroadcast(dy, b.shape),
]);

// d(a−b) = da − db
export const subOp = binaryOp('sub', 'sub', (dy, { inputs: [a, b] }) => [
  () => unbroadcast(dy, a.shape),
  () => unbroadcast(neg(dy), b.shape),
]);

// d(a·b) = b·da + a·db
export const mulOp = binaryOp('mul', 'mul', (dy, { inputs: [a, b] }) => [
  () => unbroadcast(mul(dy, b), a.shape),
  () => unbroadcast(mul(dy, a), b.shape),
]);

// d(a/b) = da/b − (a/b²)·db; the output a/b is reused for the second term
export const divOp = binaryOp('div', 'div', (dy, { inputs: [a, b], output }) => [
  () => unbroadcast(div(dy, b), a.shape),
  () => unbroadcast(neg(mul(dy, div(output, b))), b.shape),
]);

// d(−x) = −dx
export const negOp = unaryOp('neg', 'neg', (dy) => [() => neg(dy)]);

/** a + b, broadcasting. */
export function add(a: TensorLike, b: TensorLike): Tensor {
  return apply(addOp, liftPair('add', a, b), undefined);
}

/** a − b, broadcasting. */
export function sub(a: TensorLike, b: TensorLike): Tensor {
  return apply(subOp, liftPair('sub', a, b), undefined);
}

/** a ⊙ b (element-wise), broadcasting. */
export function mul(a: TensorLike, b: TensorLike): Tensor {
  return apply(mulOp, liftPair('mul', a, b), undefined);
}

/** a / b (element-wise), broadcasting. */
export function div(a: TensorLike, b: TensorLike): Tensor {
  return apply(divOp, liftPair('div', a, b), undefined);
}

/** −x. */
export function neg(x: Tensor): Tensor {
  return apply(negOp, [x], undefined);
}
