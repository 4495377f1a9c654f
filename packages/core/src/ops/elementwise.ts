import type { BinaryKernel, UnaryKernel } from '../backend/index.js';
import { outputStorage } from '../storage.js';
import { ShapeError, fmt } from '../errors.js';
import { defineOp, type OpDef, type VjpContext, type VjpResult } from '../op.js';
import { broadcastShapes, sameShape, sizeOf } from '../shape.js';
import type { Tensor } from '../tensor.js';

/**
 * The shapes an element-wise primitive takes: one input, two that broadcast, or two of one
 * shape (the fused activation gradients, whose VJPs then need no unbroadcast).
 * Each op file declares its primitives through these, with its VJP beside them; an op
 * without a VJP (a comparison) is a constant to the tape.
 */

type Vjp<A> = (dy: Tensor, ctx: VjpContext<A>) => VjpResult;

/** An element-wise op of one tensor; `scalarOf` hands the kernel a scalar attribute (pow's exponent). */
export function unaryOp<A = undefined>(name: string, kernel: UnaryKernel, vjp?: Vjp<A>, scalarOf: (attrs: A) => number = () => 0): OpDef<A> {
  return defineOp<A>({
    name,
    shape: ([x]) => x,
    forward(backend, [x], _shapes, _outShape, dtype, attrs) {
      const out = outputStorage(backend, dtype, x.length, false);
      backend.unary(kernel, x, out, scalarOf(attrs));
      return out;
    },
    vjp,
  });
}

/** An element-wise op of two tensors under NumPy broadcasting. */
export function binaryOp(name: string, kernel: BinaryKernel, vjp?: Vjp<undefined>): OpDef<undefined> {
  return defineOp({
    name,
    shape: ([a, b]) => broadcastShapes(name, a, b),
    forward(backend, [a, b], [aShape, bShape], outShape, dtype) {
      const out = outputStorage(backend, dtype, sizeOf(outShape), false);
      backend.binary(kernel, a, aShape, b, bShape, out, outShape);
      return out;
    },
    vjp,
  });
}

/** An element-wise op of two tensors of the same shape: no broadcasting, a ShapeError otherwise. */
export function sameShapeBinaryOp(name: string, kernel: BinaryKernel, vjp?: Vjp<undefined>): OpDef<undefined> {
  return defineOp({
    name,
    shape: ([a, b]) => {
      if (!sameShape(a, b)) throw new ShapeError(name, `the two inputs must have one shape, got ${fmt(a)} and ${fmt(b)}`);
      return a;
    },
    forward(backend, [a, b], [aShape, bShape], outShape, dtype) {
      const out = outputStorage(backend, dtype, a.length, false);
      backend.binary(kernel, a, aShape, b, bShape, out, outShape);
      return out;
    },
    vjp,
  });
}
