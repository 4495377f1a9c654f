import { type DType, allocate, assertDType } from '../dtype.js';
import { apply, defineOp } from '../op.js';
import type { Tensor } from '../tensor.js';

/** Changes dtype: the one explicit way to mix float32 and float64. Its VJP casts back. */
export const castOp = defineOp<{ dtype: DType }>({
  name: 'cast',
  shape: ([x]) => x,
  forward(_backend, [x], _shapes, _outShape, _inputDType, { dtype }) {
    const out = allocate(dtype, x.length);
    out.set(x);
    return out;
  },
  vjp: (dy, { inputs: [x] }) => [() => cast(dy, x.dtype)],
});

export function cast(x: Tensor, dtype: DType): Tensor {
  assertDType('cast', dtype);
  if (x.dtype === dtype) return x;
  return apply(castOp, [x], { dtype });
}
