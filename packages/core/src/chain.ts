import type { DType } from './dtype.js';
import { add, div, mul, neg, sub } from './ops/arithmetic.js';
import { cast } from './ops/cast.js';
import { logSoftmax, logSumExp, softmax } from './ops/composite/softmax.js';
import { broadcastTo, expandDims, flatten, reshape, slice, squeeze, transpose } from './ops/layout.js';
import type { TensorLike } from './ops/lift.js';
import { abs, exp, log, pow, relu, sigmoid, sqrt, square, tanh } from './ops/math.js';
import { matmul } from './ops/matmul.js';
import { argmax, argmin, max, mean, min, sum } from './ops/reduce.js';
import { clip, maximum, minimum } from './ops/where.js';
import { type BackwardOptions, backward } from './tape.js';
import { Tensor } from './tensor.js';

/**
 * The chainable face of the ops, declared on Tensor in tensor.ts: each method forwards to
 * the plain function of the same name, so there is one implementation of every op.
 */
const methods: Partial<Record<keyof Tensor, (this: Tensor, ...args: never[]) => unknown>> = {
  add(this: Tensor, o: TensorLike) { return add(this, o); },
  sub(this: Tensor, o: TensorLike) { return sub(this, o); },
  mul(this: Tensor, o: TensorLike) { return mul(this, o); },
  div(this: Tensor, o: TensorLike) { return div(this, o); },
  neg(this: Tensor) { return neg(this); },
  exp(this: Tensor) { return exp(this); },
  log(this: Tensor) { return log(this); },
  sqrt(this: Tensor) { return sqrt(this); },
  abs(this: Tensor) { return abs(this); },
  square(this: Tensor) { return square(this); },
  pow(this: Tensor, p: number) { return pow(this, p); },
  sigmoid(this: Tensor) { return sigmoid(this); },
  tanh(this: Tensor) { return tanh(this); },
  relu(this: Tensor) { return relu(this); },
  matmul(this: Tensor, o: Tensor) { return matmul(this, o); },
  sum(this: Tensor, axes?: number | readonly number[], keepDims?: boolean) { return sum(this, axes, keepDims); },
  mean(this: Tensor, axes?: number | readonly number[], keepDims?: boolean) { return mean(this, axes, keepDims); },
  max(this: Tensor, axes?: number | readonly number[], keepDims?: boolean) { return max(this, axes, keepDims); },
  min(this: Tensor, axes?: number | readonly number[], keepDims?: boolean) { return min(this, axes, keepDims); },
  argmax(this: Tensor, axis?: number, keepDims?: boolean) { return argmax(this, axis, keepDims); },
  argmin(this: Tensor, axis?: number, keepDims?: boolean) { return argmin(this, axis, keepDims); },
  maximum(this: Tensor, o: TensorLike) { return maximum(this, o); },
  minimum(this: Tensor, o: TensorLike) { return minimum(this, o); },
  clip(this: Tensor, lo: number, hi: number) { return clip(this, lo, hi); },
  transpose(this: Tensor, perm?: readonly number[]) { return transpose(this, perm); },
  reshape(this: Tensor, shape: readonly number[]) { return reshape(this, shape); },
  flatten(this: Tensor) { return flatten(this); },
  expandDims(this: Tensor, axis: number) { return expandDims(this, axis); },
  squeeze(this: Tensor, axes?: number | readonly number[]) { return squeeze(this, axes); },
  broadcastTo(this: Tensor, shape: readonly number[]) { return broadcastTo(this, shape); },
  slice(this: Tensor, begin: readonly number[], size?: readonly number[]) { return slice(this, begin, size); },
  softmax(this: Tensor, axis?: number) { return softmax(this, axis); },
  logSoftmax(this: Tensor, axis?: number) { return logSoftmax(this, axis); },
  logSumExp(this: Tensor, axes?: number | readonly number[], keepDims?: boolean) { return logSumExp(this, axes, keepDims); },
  cast(this: Tensor, dtype: DType) { return cast(this, dtype); },
  backward(this: Tensor, dy?: Tensor, options?: BackwardOptions) { backward(this, dy, options); },
};

for (const [name, fn] of Object.entries(methods)) {
  Object.defineProperty(Tensor.prototype, name, { value: fn, writable: true, configurable: true });
}
Object.defineProperty(Tensor.prototype, 'T', {
  get(this: Tensor) { return transpose(this); },
  configurable: true,
});
