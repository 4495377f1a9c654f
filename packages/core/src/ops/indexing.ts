import { cpuTensor } from '../creation.js';
import { outputStorage } from '../storage.js';
import { DeviceTensorError, ShapeError, TapegradError, ValueError, fmt } from '../errors.js';
import { type OpDef, apply, assertTensor, defineOp } from '../op.js';
import { type Shape, aroundAxis, normalizeAxis, sizeOf } from '../shape.js';
import { type NestedArray, Tensor } from '../tensor.js';
import { reshape } from './layout.js';

/**
 * take (NumPy's take: an embedding lookup, a gather along one axis) and its adjoint
 * scatterAdd. Each is the other's VJP, so both differentiate to any order. Indices are
 * data, not inputs: they get no gradient.
 */

/** Indices for take: nested numbers, an Int32Array, or a tensor of integral values. */
export type Indices = NestedArray | Int32Array | Tensor;

interface IndexAttrs {
  axis: number;
  indices: Int32Array;
  indexShape: Shape;
}

function position(flat: number, shape: Shape): string {
  const at = new Array<number>(shape.length);
  for (let i = shape.length - 1; i >= 0; i--) {
    at[i] = flat % shape[i];
    flat = Math.floor(flat / shape[i]);
  }
  return fmt(at);
}

/** The values and shape of indices given in any of the accepted forms (nothing checked yet). */
function parseIndices(op: string, indices: Indices): { source: ArrayLike<number>; shape: Shape } {
  if (indices instanceof Int32Array) return { source: indices, shape: [indices.length] };
  if (indices instanceof Tensor) {
    // indices steer the kernel from the CPU (checked, then handed over as an Int32Array)
    if (indices.device !== 'cpu') {
      throw new DeviceTensorError(op, `the indices ${fmt(indices.shape)} live on the '${indices.device}' device; pass CPU indices (read them with \`await indices.dataAsync()\`)`);
    }
    return { source: indices.data, shape: indices.shape };
  }
  if (typeof indices === 'number' || Array.isArray(indices)) {
    try {
      const parsed = cpuTensor(indices, { dtype: 'float64' });
      return { source: parsed.data, shape: parsed.shape };
    } catch (e) {
      throw e instanceof TapegradError ? new ValueError(op, `indices: ${e.message}`) : e;
    }
  }
  throw new ValueError(op, `indices must be nested numbers, an Int32Array or a Tensor, got ${indices === null ? 'null' : typeof indices}`);
}

/**
 * Copies indices into an Int32Array, checking each is an integer in [0, axisSize). Negative
 * indices are refused, not wrapped as NumPy would: as in PyTorch's index_select and
 * embedding, a −1 is far more often a bug (a padding label) than a request for the last row.
 */
function checkIndices(op: string, source: ArrayLike<number>, shape: Shape, axis: number, axisSize: number, xShape: Shape): Int32Array {
  const values = new Int32Array(source.length);
  for (let i = 0; i < source.length; i++) {
    const v = source[i];
    if (!Number.isInteger(v)) throw new ValueError(op, `index ${v} at ${position(i, shape)} is not an integer`);
    if (v < 0 || v >= axisSize) {
      throw new ValueError(op, `index ${v} at ${position(i, shape)} is out of range for axis ${axis} of size ${axisSize} in ${fmt(xShape)} (indices must lie in [0, ${axisSize}); negative ones are not wrapped)`);
    }
    values[i] = v;
  }
  return values;
}

export const takeOp: OpDef<IndexAttrs> = defineOp<IndexAttrs>({
  name: 'take',
  shape: ([x], { axis, indexShape }) => [...x.slice(0, axis), ...indexShape, ...x.slice(axis + 1)],
  forward(backend, [x], [shape], outShape, dtype, { axis, indices }) {
    // gather writes every element: no need to zero a reused buffer first
    const out = outputStorage(backend, dtype, sizeOf(outShape), false);
    const [outer, axisSize, inner] = aroundAxis(shape, axis);
    backend.gather(x, outer, axisSize, inner, indices, out);
    return out;
  },
  // each output element is one input element, so the gradient is dy sent back to where it
  // came from; an index used twice collects both contributions
  vjp: (dy, { inputs: [x], attrs }) => [() => apply(scatterAddOp, [dy], { ...attrs, axisSize: x.shape[attrs.axis] })],
});

export const scatterAddOp: OpDef<IndexAttrs & { axisSize: number }> = defineOp<IndexAttrs & { axisSize: number }>({
  name: 'scatterAdd',
  shape([dy], { axis, indexShape, axisSize }) {
    const k = indexShape.length;
    if (dy.length < axis + k || indexShape.some((d, i) => dy[axis + i] !== d)) {
      throw new ShapeError('scatterAdd', `updates ${fmt(dy)} do not have the indices' shape ${fmt(indexShape)} at axis ${axis}`);
    }
    return [...dy.slice(0, axis), axisSize, ...dy.slice(axis + k)];
  },
  forward(backend, [dy], _shapes, outShape, dtype, { axis, indices }) {
    const out = outputStorage(backend, dtype, sizeOf(outShape), true);
    const [outer, axisSize, inner] = aroundAxis(outShape, axis);
    backend.scatterAdd(dy, outer, axisSize, inner, indices, out);
    return out;
  },
  // linear, and the adjoint of take: the gradient is take of dy at the same indices
  vjp: (dy, { attrs: { axis, indices, indexShape } }) => [() => apply(takeOp, [dy], { axis, indices, indexShape })],
});

/**
 * NumPy's `take`: the slices of x at `indices` along `axis`. The output shape is
 * `x.shape[:axis] + indices.shape + x.shape[axis+1:]`; without an axis, x is flattened
 * first. `take(embeddings, tokens, 0)` with embeddings [vocab, dim] and tokens [N, T] is an
 * embedding lookup giving [N, T, dim]. The gradient scatters dy back (repeated indices
 * accumulate); the indices get none.
 *
 * Indices are nested numbers, an Int32Array or a tensor holding integral values (any dtype).
 * Unlike NumPy, a negative index is an error, not counted from the end (as in PyTorch's
 * `index_select`), and so is one ≥ the axis length: a ValueError naming the index, its
 * position, the axis and its size.
 *
 * ```ts
 * take(tensor([[1, 2], [3, 4], [5, 6]]), [[2, 0]], 0)   // [[[5, 6], [1, 2]]], shape [1,2,2]
 * ```
 */
export function take(x: Tensor, indices: Indices, axis?: number): Tensor {
  assertTensor('take', x);
  const source = axis === undefined ? reshape(x, [x.size]) : x;
  const a = axis === undefined ? 0 : normalizeAxis('take', axis, x.rank);
  const { source: values, shape } = parseIndices('take', indices);
  return apply(takeOp, [source], { axis: a, indices: checkIndices('take', values, shape, a, source.shape[a], x.shape), indexShape: shape });
}

/**
 * take's adjoint (PyTorch's `index_add` into zeros): a tensor whose axis `axis` has length
 * `size`, zero except that each slice of `updates` is added at its index along that axis.
 * `updates` has take's output shape, `x.shape[:axis] + indices.shape + x.shape[axis+1:]`;
 * repeated indices accumulate. Differentiable in `updates` (the gradient is take).
 */
export function scatterAdd(updates: Tensor, indices: Indices, axis: number, size: number): Tensor {
  assertTensor('scatterAdd', updates);
  if (!Number.isInteger(size) || size < 0) throw new ValueError('scatterAdd', `size must be a non-negative integer, got ${size}`);
  const { source, shape } = parseIndices('scatterAdd', indices);
  // the result's rank: updates' with the indices' axes replaced by one
  const a = normalizeAxis('scatterAdd', axis, updates.rank - shape.length + 1);
  const values = checkIndices('scatterAdd', source, shape, a, size, updates.shape);
  return apply(scatterAddOp, [updates], { axis: a, indices: values, indexShape: shape, axisSize: size });
}
