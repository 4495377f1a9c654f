import { copyStorage, outputStorage } from '../storage.js';
import { ShapeError, ValueError, fmt } from '../errors.js';
import { apply, assertTensor, defineOp } from '../op.js';
import { type Shape, broadcastShapes, checkShape, normalizeAxis, sameShape, sizeOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { sum } from './reduce.js';

/**
 * Ops that move values without arithmetic: reshape, transpose, broadcastTo, slice, pad,
 * concat. Each one's VJP is another layout op (transpose ↔ inverse transpose, slice ↔ pad,
 * broadcastTo ↔ sum), so they differentiate to any order.
 */

// ---- reshape ---------------------------------------------------------------------------

export const reshapeOp = defineOp<{ shape: Shape }>({
  name: 'reshape',
  shape([x], { shape }) {
    if (sizeOf(shape) !== sizeOf(x)) throw new ShapeError('reshape', `cannot reshape ${fmt(x)} (${sizeOf(x)} elements) to ${fmt(shape)} (${sizeOf(shape)} elements)`);
    return shape;
  },
  // a copy, not a view: no two tensors share a buffer, so assign() stays safe; not zeroed,
  // so inside tidy() the copy reuses a pooled buffer without a memset first
  forward: (backend, [x], _shapes, _outShape, dtype) => {
    const out = outputStorage(backend, dtype, x.length, false);
    copyStorage(backend, x, out);
    return out;
  },
  vjp: (dy, { inputs: [x] }) => [() => reshape(dy, x.shape)],
});

/** Same values, new shape; one dimension may be -1 and is then inferred. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  assertTensor('reshape', x);
  const wanted = [...shape];
  const unknown = wanted.indexOf(-1);
  if (unknown >= 0) {
    if (wanted.indexOf(-1, unknown + 1) >= 0) throw new ShapeError('reshape', `only one dimension may be -1, got ${fmt(shape)}`);
    const known = wanted.reduce((p, d, i) => (i === unknown ? p : p * d), 1);
    if (known === 0 || x.size % known !== 0) throw new ShapeError('reshape', `cannot reshape ${fmt(x.shape)} (${x.size} elements) to ${fmt(shape)}`);
    wanted[unknown] = x.size / known;
  }
  const checked = checkShape('reshape', wanted);
  if (sameShape(checked, x.shape)) return x;
  return apply(reshapeOp, [x], { shape: checked });
}

/** Collapses every axis into one. */
export function flatten(x: Tensor): Tensor {
  return reshape(x, [x.size]);
}

/** Inserts an axis of length 1 at `axis` (negative counts from the end of the new shape). */
export function expandDims(x: Tensor, axis: number): Tensor {
  assertTensor('expandDims', x);
  const position = normalizeAxis('expandDims', axis, x.rank + 1);
  const shape = [...x.shape];
  shape.splice(position, 0, 1);
  return reshape(x, shape);
}

/** Removes axes of length 1 (all of them, or the ones given). */
export function squeeze(x: Tensor, axes?: number | readonly number[]): Tensor {
  assertTensor('squeeze', x);
  const list = axes === undefined ? x.shape.flatMap((d, i) => (d === 1 ? [i] : [])) : (typeof axes === 'number' ? [axes] : [...axes]).map((a) => normalizeAxis('squeeze', a, x.rank));
  for (const a of list) if (x.shape[a] !== 1) throw new ShapeError('squeeze', `axis ${a} of ${fmt(x.shape)} has length ${x.shape[a]}, not 1`);
  return reshape(x, x.shape.filter((_, i) => !list.includes(i)));
}

// ---- transpose -------------------------------------------------------------------------

export const transposeOp = defineOp<{ perm: readonly number[] }>({
  name: 'transpose',
  shape: ([x], { perm }) => perm.map((p) => x[p]),
  forward(backend, [x], [shape], _outShape, dtype, { perm }) {
    const out = outputStorage(backend, dtype, x.length, false);
    backend.transpose(x, shape, perm, out);
    return out;
  },
  vjp: (dy, { attrs: { perm } }) => {
    const inverse = new Array<number>(perm.length);
    perm.forEach((p, i) => (inverse[p] = i));
    return [() => transpose(dy, inverse)];
  },
});

/** Permutes axes; without `perm`, reverses them (a matrix's transpose). */
export function transpose(x: Tensor, perm?: readonly number[]): Tensor {
  assertTensor('transpose', x);
  const order = perm ? perm.map((p) => normalizeAxis('transpose', p, x.rank)) : x.shape.map((_, i) => x.rank - 1 - i);
  if (order.length !== x.rank || new Set(order).size !== x.rank) {
    throw new ShapeError('transpose', `perm [${perm?.join(',')}] is not a permutation of the ${x.rank} axes of ${fmt(x.shape)}`);
  }
  if (order.every((p, i) => p === i)) return x;
  return apply(transposeOp, [x], { perm: order });
}

// ---- broadcastTo and its adjoint -------------------------------------------------------

export const broadcastToOp = defineOp<{ shape: Shape }>({
  name: 'broadcastTo',
  shape([x], { shape }) {
    const out = broadcastShapes('broadcastTo', x, shape);
    if (!sameShape(out, shape)) throw new ShapeError('broadcastTo', `cannot broadcast ${fmt(x)} to ${fmt(shape)}`);
    return shape;
  },
  forward(backend, [x], [shape], outShape, dtype) {
    const out = outputStorage(backend, dtype, sizeOf(outShape), true);
    backend.broadcastTo(x, shape, out, outShape);
    return out;
  },
  vjp: (dy, { inputs: [x] }) => [() => unbroadcast(dy, x.shape)],
});

/** Repeats x along its length-1 (or missing leading) axes to `shape`, NumPy rules. */
export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor {
  assertTensor('broadcastTo', x);
  const target = checkShape('broadcastTo', [...shape]);
  if (sameShape(target, x.shape)) return x;
  return apply(broadcastToOp, [x], { shape: target });
}

/**
 * The adjoint of broadcasting: sums g over the axes that broadcasting stretched, so the
 * gradient of a broadcast operand has the operand's own shape. Every binary op uses it.
 */
export function unbroadcast(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const summed = axes.length > 0 ? sum(g, axes, true) : g;
  return reshape(summed, shape);
}

// ---- slice and pad ---------------------------------------------------------------------

export const sliceOp = defineOp<{ begin: readonly number[]; size: Shape }>({
  name: 'slice',
  shape: (_shapes, { size }) => size,
  forward(backend, [x], [shape], outShape, dtype, { begin }) {
    const out = outputStorage(backend, dtype, sizeOf(outShape), true);
    backend.slice(x, shape, begin, out, outShape);
    return out;
  },
  vjp: (dy, { inputs: [x], attrs: { begin } }) => [() => padTo(dy, begin, x.shape)],
});

/**
 * The box of x starting at `begin` with extent `size` per axis. A negative begin counts
 * from the end; a size of -1 runs to the end of that axis.
 */
export function slice(x: Tensor, begin: readonly number[], size?: readonly number[]): Tensor {
  assertTensor('slice', x);
  if (begin.length !== x.rank || (size && size.length !== x.rank)) {
    throw new ShapeError('slice', `begin [${begin.join(',')}]${size ? ` and size [${size.join(',')}]` : ''} must have one entry per axis of ${fmt(x.shape)}`);
  }
  const start = begin.map((b, i) => (b < 0 ? b + x.shape[i] : b));
  const extent = start.map((b, i) => (size === undefined || size[i] === -1 ? x.shape[i] - b : size[i]));
  for (let i = 0; i < x.rank; i++) {
    if (!Number.isInteger(start[i]) || !Number.isInteger(extent[i]) || start[i] < 0 || extent[i] < 0 || start[i] + extent[i] > x.shape[i]) {
      throw new ShapeError('slice', `begin [${begin.join(',')}] size [${(size ?? []).join(',')}] is out of bounds for ${fmt(x.shape)} (axis ${i})`);
    }
  }
  if (sameShape(extent, x.shape)) return x;
  return apply(sliceOp, [x], { begin: start, size: extent });
}

export const padOp = defineOp<{ begin: readonly number[]; shape: Shape }>({
  name: 'pad',
  shape([x], { begin, shape }) {
    // an offset that is NaN or fractional fails every comparison below: refuse it by name
    if (x.length !== shape.length || begin.length !== x.length || x.some((d, i) => !Number.isInteger(begin[i]) || begin[i] < 0 || begin[i] + d > shape[i])) {
      throw new ShapeError('pad', `cannot place ${fmt(x)} at [${begin.join(',')}] inside ${fmt(shape)}`);
    }
    return shape;
  },
  forward(backend, [x], [xShape], outShape, dtype, { begin }) {
    const out = outputStorage(backend, dtype, sizeOf(outShape), true);
    backend.pad(x, xShape, begin, out, outShape);
    return out;
  },
  vjp: (dy, { inputs: [x], attrs: { begin } }) => [() => slice(dy, begin, x.shape)],
});

/**
 * Places x at offset `begin` (one integer ≥ 0 per axis, x fitting inside) in zeros of
 * `shape`: slice's adjoint. Anything else is a ShapeError naming pad.
 */
export function padTo(x: Tensor, begin: readonly number[], shape: readonly number[]): Tensor {
  return apply(padOp, [x], { begin: [...begin], shape: checkShape('pad', [...shape]) });
}

// ---- concat ----------------------------------------------------------------------------

export const concatOp = defineOp<{ axis: number }>({
  name: 'concat',
  shape(shapes, { axis }) {
    const first = shapes[0];
    let total = 0;
    for (const s of shapes) {
      if (s.length !== first.length || s.some((d, i) => i !== axis && d !== first[i])) {
        throw new ShapeError('concat', `shapes ${shapes.map(fmt).join(', ')} differ outside axis ${axis}`);
      }
      total += s[axis];
    }
    return first.map((d, i) => (i === axis ? total : d));
  },
  forward(backend, inputs, shapes, outShape, dtype, { axis }) {
    const out = outputStorage(backend, dtype, sizeOf(outShape), true);
    let offset = 0;
    inputs.forEach((x, k) => {
      const begin = outShape.map((_, i) => (i === axis ? offset : 0));
      backend.pad(x, shapes[k], begin, out, outShape);
      offset += shapes[k][axis];
    });
    return out;
  },
  vjp: (dy, { inputs, attrs: { axis } }) => {
    let offset = 0;
    return inputs.map((x) => {
      const begin = x.shape.map((_, i) => (i === axis ? offset : 0));
      offset += x.shape[axis];
      return () => slice(dy, begin, x.shape);
    });
  },
});

/** Joins tensors along an existing axis; all other dimensions must match. */
export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  if (!Array.isArray(tensors) || tensors.length === 0) throw new ValueError('concat', 'needs a non-empty array of tensors');
  const rank = tensors[0].rank;
  if (rank === 0) throw new ShapeError('concat', 'cannot concatenate scalars; reshape them to [1] first');
  return apply(concatOp, tensors, { axis: normalizeAxis('concat', axis, rank) });
}

/** Joins tensors of one shape along a new axis. */
export function stack(tensors: readonly Tensor[], axis = 0): Tensor {
  if (!Array.isArray(tensors) || tensors.length === 0) throw new ValueError('stack', 'needs a non-empty array of tensors');
  const position = normalizeAxis('stack', axis, tensors[0].rank + 1);
  return concat(tensors.map((t) => expandDims(t, position)), position);
}
