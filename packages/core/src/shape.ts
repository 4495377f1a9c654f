import { ShapeError, ValueError, fmt } from './errors.js';

/** A tensor's dimensions, outermost first (row-major). */
export type Shape = readonly number[];

export function sizeOf(shape: Shape): number {
  let size = 1;
  for (const d of shape) size *= d;
  return size;
}

/** Row-major strides: the step in the flat buffer for one step along each axis. */
export function stridesOf(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let stride = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = stride;
    stride *= shape[i];
  }
  return strides;
}

/** Rejects NaN, negative, fractional and non-numeric dimensions, naming the op. */
export function checkShape(op: string, shape: unknown): number[] {
  if (!Array.isArray(shape)) throw new ValueError(op, `shape must be an array of integers, got ${String(shape)}`);
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) {
      throw new ValueError(op, `invalid shape [${shape.map(String).join(',')}]: dimensions must be non-negative integers`);
    }
  }
  return shape.slice() as number[];
}

export function sameShape(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * NumPy broadcasting: align shapes on the right; each pair of dimensions must be equal or
 * one of them 1. Anything else is an error, never a silent stretch.
 */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 1; i <= rank; i++) {
    const da = i <= a.length ? a[a.length - i] : 1;
    const db = i <= b.length ? b[b.length - i] : 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(op, `shapes ${fmt(a)} and ${fmt(b)} cannot be broadcast together (axis -${i}: ${da} vs ${db})`);
    }
    out[rank - i] = da === 1 ? db : da;
  }
  return out;
}

/**
 * Turns negative axes into positive ones, checks the range and rejects duplicates.
 *
 * The result is built by push into an empty literal, not by map/filter: V8's optimised
 * map/filter make holey arrays where its builtins make packed ones, so the same call would hand
 * out arrays of a second kind once it is optimised — and every optimised consumer of axes
 * (sum's, its kernels') would be deoptimised in the middle of training (measured: T1's
 * reduction path, around step 280).
 */
export function normalizeAxes(op: string, axes: number | readonly number[] | undefined, rank: number): number[] {
  const out: number[] = [];
  if (axes === undefined) {
    for (let i = 0; i < rank; i++) out.push(i);
    return out;
  }
  const list = typeof axes === 'number' ? [axes] : Array.isArray(axes) ? axes : [...(axes as Iterable<number>)];
  let scalarAxis = false; // a scalar's axis 0 (or −1): checked for repeats, nothing to reduce over
  for (let k = 0; k < list.length; k++) {
    const axis = list[k];
    if (!Number.isInteger(axis) || axis < -rank || axis >= Math.max(rank, 1) || (rank === 0 && axis !== 0 && axis !== -1)) {
      throw new ShapeError(op, `axis ${axis} is out of range for a tensor of rank ${rank}`);
    }
    const positive = rank === 0 ? 0 : axis < 0 ? axis + rank : axis;
    if (rank === 0 ? scalarAxis : out.includes(positive)) throw new ShapeError(op, `axis ${axis} is repeated in [${Array.from(list).join(',')}]`);
    if (rank === 0) scalarAxis = true;
    else out.push(positive);
  }
  return out;
}

/**
 * [outer, axisSize, inner]: the sizes before, at and after `axis` — the view of a row-major
 * tensor that the kernels working along one axis (gather, scatterAdd, cumsum, argReduce) take.
 */
export function aroundAxis(shape: Shape, axis: number): [number, number, number] {
  return [sizeOf(shape.slice(0, axis)), shape[axis], sizeOf(shape.slice(axis + 1))];
}

export function normalizeAxis(op: string, axis: number, rank: number): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new ShapeError(op, `axis ${axis} is out of range for a tensor of rank ${rank}`);
  }
  return axis < 0 ? axis + rank : axis;
}
