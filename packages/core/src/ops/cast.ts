import { type DType, assertDType } from '../dtype.js';
import { DeviceTensorError } from '../errors.js';
import { apply, defineOp } from '../op.js';
import { isDeviceArray, placed, stagingBuffer } from '../storage.js';
import { noteCopy } from '../step-hooks.js';
import type { Tensor } from '../tensor.js';

/** Changes dtype: the one explicit way to mix float32 and float64. Its VJP casts back. */
export const castOp = defineOp<{ dtype: DType }>({
  name: 'cast',
  shape: ([x]) => x,
  // without this rule apply() labels the output with the input's dtype: cast(x, 'float32')
  // of a float64 x would hold a Float32Array yet claim float64, and the VJP's cast back
  // would then be a no-op
  dtype: (_inputDType, { dtype }) => dtype,
  // converted on the CPU (no backend has a cast kernel) and uploaded when the backend has a device
  forward(backend, [x], [shape], _outShape, dtype) {
    if (isDeviceArray(x)) {
      throw new DeviceTensorError('cast', `the input [${shape.join(',')}] lives on the '${x.device}' device, which has no cast kernel; cast on the CPU: \`tensor(await x.dataAsync(), { shape: x.shape, dtype })\``);
    }
    const out = stagingBuffer(backend, dtype, x.length);
    noteCopy(x, out);
    out.set(x);
    return placed(backend, out);
  },
  vjp: (dy, { inputs: [x] }) => [() => cast(dy, x.dtype)],
});

/** x's values in another dtype (x itself when it already has it); the gradient is cast back. */
export function cast(x: Tensor, dtype: DType): Tensor {
  assertDType('cast', dtype);
  if (x.dtype === dtype) return x;
  return apply(castOp, [x], { dtype });
}
