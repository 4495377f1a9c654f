import type { BinaryKernel, UnaryKernel } from '../backend/index.js';
import { allocate } from '../dtype.js';
import { defineOp, type OpDef, type VjpContext, type VjpResult } from '../op.js';
import { broadcastShapes, sizeOf } from '../shape.js';
import type { Tensor } from '../tensor.js';

/**
 * The two shapes every element-wise primitive takes: one input, or two that broadcast.
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
      const out = allocate(dtype, x.length);
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
      const out = allocate(dtype, sizeOf(outShape));
      backend.binary(kernel, a, aShape, b, bShape, out, outShape);
      return out;
    },
    vjp,
  });
}
