import type { ArgReduceKernel, ReduceKernel } from '../backend/index.js';
import { outputStorage } from '../storage.js';
import { ShapeError, fmt } from '../errors.js';
import { apply, assertTensor, defineOp, type OpDef } from '../op.js';
import { type Shape, aroundAxis, normalizeAxes, normalizeAxis, sizeOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { div, mul } from './arithmetic.js';
import { equal } from './compare.js';
import { broadcastTo, reshape } from './layout.js';

/** sum, max and min over all axes or the given ones (negative axes count from the end). */

interface ReduceAttrs {
  axes: readonly number[];
  keepDims: boolean;
}

/** shape with the reduced axes kept as 1s (a loop and push, for the reason normalizeAxes gives). */
function keptShape(shape: Shape, axes: readonly number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < shape.length; i++) out.push(axes.includes(i) ? 1 : shape[i]);
  return out;
}

/** shape without the reduced axes. */
function droppedShape(shape: Shape, axes: readonly number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < shape.length; i++) if (!axes.includes(i)) out.push(shape[i]);
  return out;
}

function reduceOp(name: string, kernel: ReduceKernel, vjp: NonNullable<OpDef<ReduceAttrs>['vjp']>) {
  return defineOp<ReduceAttrs>({
    name,
    shape([x], { axes, keepDims }) {
      if (kernel !== 'sum') {
        for (const a of axes) if (x[a] === 0) throw new ShapeError(name, `cannot take the ${name} over axis ${a} of length 0 in ${fmt(x)}`);
      }
      return keepDims ? keptShape(x, axes) : droppedShape(x, axes);
    },
    forward(backend, [x], [shape], outShape, dtype, { axes }) {
      const out = outputStorage(backend, dtype, sizeOf(outShape), true);
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

// only the extreme elements move the max (min); ties share the gradient equally, so the
// result is a valid subgradient and sums to dy (TF gives every tie the full dy, PyTorch's
// amax/amin split)
const extremeVjp: NonNullable<OpDef<ReduceAttrs>['vjp']> = (dy, { inputs: [x], output, attrs: { axes } }) => [
  () => {
    const kept = keptShape(x.shape, axes);
    const mask = equal(x, reshape(output, kept));
    const ties = sum(mask, axes, true);
    return mul(broadcastTo(reshape(dy, kept), x.shape), div(mask, ties));
  },
];
export const maxOp = reduceOp('max', 'max', extremeVjp);
export const minOp = reduceOp('min', 'min', extremeVjp);

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

/**
 * Maximum over the axes (all by default); NaN propagates. Tied maxima share the gradient
 * equally (PyTorch's amax; TF gives each the whole gradient).
 */
export function max(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  return reduceWith(maxOp, x, axes, keepDims);
}

/**
 * Minimum over the axes (all by default); NaN propagates. Tied minima share the gradient
 * equally, as in `max`.
 */
export function min(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  return reduceWith(minOp, x, axes, keepDims);
}

/** Mean over the axes (all by default): sum divided by the count. */
export function mean(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  assertTensor('mean', x);
  const list = normalizeAxes('mean', axes, x.rank);
  const count = list.reduce((n, a) => n * x.shape[a], 1);
  if (count === 0) throw new ShapeError('mean', `cannot average over an empty axis of ${fmt(x.shape)}`);
  return div(sum(x, list, keepDims), count);
}

// ---- argmax and argmin -----------------------------------------------------------------

const argOp = (kernel: ArgReduceKernel) => defineOp<{ axis: number; keepDims: boolean }>({
  name: kernel,
  shape([x], { axis, keepDims }) {
    if (x[axis] === 0) throw new ShapeError(kernel, `cannot take the ${kernel} over axis ${axis} of length 0 in ${fmt(x)}`);
    return keepDims ? keptShape(x, [axis]) : x.filter((_, i) => i !== axis);
  },
  forward(backend, [x], [shape], outShape, dtype, { axis }) {
    const out = outputStorage(backend, dtype, sizeOf(outShape), false); // argReduce writes every element
    backend.argReduce(kernel, x, ...aroundAxis(shape, axis), out);
    return out;
  },
  // no vjp: an index is piecewise constant in x, so the output is a constant
});
const argmaxOp = argOp('argmax');
const argminOp = argOp('argmin');

function argWith(op: typeof argmaxOp, x: Tensor, axis: number | undefined, keepDims: boolean): Tensor {
  assertTensor(op.name, x);
  if (axis === undefined) {
    // over the flattened tensor, as NumPy and PyTorch; keepDims keeps every axis as a 1
    const flat = apply(op, [reshape(x, [x.size])], { axis: 0, keepDims: false });
    return keepDims ? reshape(flat, x.shape.map(() => 1)) : flat;
  }
  return apply(op, [x], { axis: normalizeAxis(op.name, axis, x.rank), keepDims });
}

/**
 * The index of the largest element along `axis` (of the flattened x without one), in x's
 * dtype, as tapegrad has only float dtypes (exact up to 2²⁴ in float32). Ties give the
 * first index and a NaN counts as larger than everything (the first NaN wins), as in NumPy
 * and PyTorch. A constant: no gradient.
 */
export function argmax(x: Tensor, axis?: number, keepDims = false): Tensor {
  return argWith(argmaxOp, x, axis, keepDims);
}

/**
 * The index of the smallest element along `axis` (of the flattened x without one): the
 * first on ties, the first NaN if there is one (as `min` returns NaN), as in NumPy and
 * PyTorch. In x's dtype; a constant.
 */
export function argmin(x: Tensor, axis?: number, keepDims = false): Tensor {
  return argWith(argminOp, x, axis, keepDims);
}
