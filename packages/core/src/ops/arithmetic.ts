import type { BinaryKernel } from '../backend/index.js';
import { allocate } from '../dtype.js';
import { apply, defineOp, type OpDef, type VjpContext, type VjpResult } from '../op.js';
import { broadcastShapes, sizeOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { type TensorLike, liftPair } from './lift.js';
import { unbroadcast } from './layout.js';

/**
 * add, sub, mul, div and neg. Binary ops broadcast as NumPy does; the gradient of a
 * broadcast operand is summed back to its own shape by `unbroadcast`, written once.
 */

function binaryOp(name: string, kernel: BinaryKernel, vjp: (dy: Tensor, ctx: VjpContext<undefined>) => VjpResult): OpDef<undefined> {
  return defineOp({
    name,
    shape: ([a, b]) => broadcastShapes(name, a, b),
    forward(backend, [a, b], [aShape, bShape], outShape, dtype) {
      const out = allocate(dtype, sizeOf(outShape));
      backend.binary(kernel, a, aShape, b, bShape, out, outShape);
      return out;
    },
    vjp,
  });
}

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

export const negOp = defineOp({
  name: 'neg',
  shape: ([x]) => x,
  forward(backend, [x], _shapes, _outShape, dtype) {
    const out = allocate(dtype, x.length);
    backend.unary('neg', x, out, 0);
    return out;
  },
  vjp: (dy) => [() => neg(dy)],
});

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
