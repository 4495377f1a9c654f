import type { ReduceKernel } from '../backend/index.js';
import { allocate } from '../dtype.js';
import { ShapeError, fmt } from '../errors.js';
import { apply, assertTensor, defineOp, type OpDef } from '../op.js';
import { type Shape, normalizeAxes, sizeOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { div, mul } from './arithmetic.js';
import { equal } from './compare.js';
import { broadcastTo, reshape } from './layout.js';

/** sum, max and min over all axes or the given ones (negative axes count from the end). */

interface ReduceAttrs {
  axes: readonly number[];
  keepDims: boolean;
}

function keptShape(shape: Shape, axes: readonly number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

function reduceOp(name: string, kernel: ReduceKernel, vjp: NonNullable<OpDef<ReduceAttrs>['vjp']>) {
  return defineOp<ReduceAttrs>({
    name,
    shape([x], { axes, keepDims }) {
      if (kernel === 'max') {
        for (const a of axes) if (x[a] === 0) throw new ShapeError(name, `cannot take the max over axis ${a} of length 0 in ${fmt(x)}`);
      }
      return keepDims ? keptShape(x, axes) : x.filter((_, i) => !axes.includes(i));
    },
    forward(backend, [x], [shape], outShape, dtype, { axes }) {
      const out = allocate(dtype, sizeOf(outShape));
      backend.reduce(kernel, x, shape, axes, out);
      return out;
    },
    vjp,
  });
}

// every input element contributes with slope 1: spread dy back over the reduced axes
export const sumOp = reduceOp('sum', 'sum', (dy, { inputs: [x], attrs: { axes } }) => [
  () => broadcastTo(reshape(dy, keptShape(x.shape, axes)), x.shape),
]);

// only the maximal elements move the max; ties share the gradient equally, so the result is
// a valid subgradient and sums to dy (TF gives every tie the full dy, PyTorch's amax splits)
export const maxOp = reduceOp('max', 'max', (dy, { inputs: [x], output, attrs: { axes } }) => [
  () => {
    const kept = keptShape(x.shape, axes);
    const mask = equal(x, reshape(output, kept));
    const ties = sum(mask, axes, true);
    return mul(broadcastTo(reshape(dy, kept), x.shape), div(mask, ties));
  },
]);

function reduceWith(op: typeof sumOp, x: Tensor, axes: number | readonly number[] | undefined, keepDims: boolean): Tensor {
  assertTensor(op.name, x);
  const list = normalizeAxes(op.name, axes, x.rank).sort((a, b) => a - b);
  if (list.length === 0) return x;
  return apply(op, [x], { axes: list, keepDims });
}

/** Σ over the axes (all by default). */
export function sum(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  return reduceWith(sumOp, x, axes, keepDims);
}

/** Maximum over the axes (all by default); NaN propagates. */
export function max(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  return reduceWith(maxOp, x, axes, keepDims);
}

/** Mean over the axes (all by default): sum divided by the count. */
export function mean(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  assertTensor('mean', x);
  const list = normalizeAxes('mean', axes, x.rank);
  const count = list.reduce((n, a) => n * x.shape[a], 1);
  if (count === 0) throw new ShapeError('mean', `cannot average over an empty axis of ${fmt(x.shape)}`);
  return div(sum(x, list, keepDims), count);
}
