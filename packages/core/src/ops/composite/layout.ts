import { ones } from '../../creation.js';
import { ShapeError, ValueError, fmt } from '../../errors.js';
import { assertTensor } from '../../op.js';
import { normalizeAxes, normalizeAxis } from '../../shape.js';
import type { Tensor } from '../../tensor.js';
import { take } from '../indexing.js';
import { broadcastTo, padTo, reshape, slice, transpose } from '../layout.js';
import { where } from '../where.js';

/**
 * Layout ops composed from take, slice, padTo, broadcastTo and reshape: no kernels of
 * their own, and gradients of every order for free (take's is a scatter-add, slice's a pad).
 */

const range = (n: number, at: (i: number) => number = (i) => i): Int32Array => Int32Array.from({ length: n }, (_, i) => at(i));

// ---- pad -------------------------------------------------------------------------------

/** A pair [before, after] per axis, or one number for every side of every axis. */
export type Pads = number | readonly (readonly [number, number])[];

/** Options of pad: the mode and the constant value. */
export interface PadOptions {
  /**
   * 'constant' (default) fills with `value`; 'reflect' mirrors the edge without repeating
   * it (NumPy's 'reflect', PyTorch's 'reflect': [1,2,3] → 3,2|1,2,3|2,1), so each pad must be
   * smaller than its axis; 'replicate' repeats the edge element (NumPy's 'edge').
   */
  mode?: 'constant' | 'reflect' | 'replicate';
  /** The fill for 'constant' (default 0); may be ±∞ (a max-pool's padding is −∞). A number in every mode. */
  value?: number;
}

/**
 * Pads x. `pads` lists `[before, after]` per axis from the FIRST axis, as NumPy's `np.pad`;
 * a shorter list applies to the trailing axes (`[[1, 1], [2, 2]]` pads H and W of an NCHW
 * tensor), and one number pads every side of every axis. PyTorch's `F.pad` instead takes a
 * flat list from the LAST axis backwards: its `(left, right, top, bottom)` is
 * `[[top, bottom], [left, right]]` here. Pads are non-negative integers (no cropping: use
 * `slice`). Gradients: a slice for 'constant'; for 'reflect' and 'replicate' (built from
 * `take` along each padded axis) the edge rows collect the gradient of their copies.
 *
 * ```ts
 * pad(tensor([1, 2, 3]), [[2, 1]], { mode: 'reflect' })   // [3, 2, 1, 2, 3, 2]
 * ```
 */
export function pad(x: Tensor, pads: Pads, options: PadOptions = {}): Tensor {
  assertTensor('pad', x);
  const { mode = 'constant', value = 0 } = options;
  // the options are checked even where there is nothing to pad
  if (mode !== 'constant' && mode !== 'reflect' && mode !== 'replicate') throw new ValueError('pad', `mode must be 'constant', 'reflect' or 'replicate', got ${String(mode)}`);
  if (typeof value !== 'number') throw new ValueError('pad', `value must be a number, got ${typeof value}`);
  const perAxis = padsPerAxis(x.shape, pads);
  if (perAxis.every(([b, a]) => b === 0 && a === 0)) return x;
  if (mode === 'constant') {
    const begin = perAxis.map(([b]) => b);
    const shape = x.shape.map((d, i) => d + perAxis[i][0] + perAxis[i][1]);
    const padded = padTo(x, begin, shape);
    if (Object.is(value, 0)) return padded; // not −0: a fill of −0 keeps its sign, as NumPy's
    // a mask rather than "+ value outside": value = ±∞ must not turn the inside into NaN
    const inside = padTo(ones(x.shape, { dtype: x.dtype }), begin, shape);
    return where(inside, padded, value);
  }
  let out = x;
  perAxis.forEach(([before, after], axis) => {
    if (before === 0 && after === 0) return;
    const n = x.shape[axis];
    if (mode === 'reflect' && (before >= n || after >= n)) {
      throw new ShapeError('pad', `reflect padding [${before}, ${after}] of axis ${axis} must be smaller than its length ${n} in ${fmt(x.shape)}`);
    }
    if (n === 0) throw new ShapeError('pad', `cannot ${mode}-pad axis ${axis} of length 0 in ${fmt(x.shape)}`);
    const source = (i: number) => {
      const k = i - before;
      if (mode === 'replicate') return Math.min(Math.max(k, 0), n - 1);
      return k < 0 ? -k : k >= n ? 2 * (n - 1) - k : k;
    };
    out = take(out, range(before + n + after, source), axis);
  });
  return out;
}

function padsPerAxis(shape: readonly number[], pads: Pads): [number, number][] {
  const rank = shape.length;
  if (typeof pads !== 'number' && !Array.isArray(pads)) throw new ValueError('pad', `pads must be a number or an array of [before, after] pairs, got ${typeof pads}`);
  const list: readonly (readonly [number, number])[] = typeof pads === 'number' ? shape.map(() => [pads, pads] as const) : pads;
  if (list.length > rank) throw new ShapeError('pad', `${list.length} pairs of pads for the ${rank} axes of ${fmt(shape)}`);
  const out = shape.map((): [number, number] => [0, 0]);
  list.forEach((pair, k) => {
    if (!Array.isArray(pair) || pair.length !== 2 || !pair.every((p) => Number.isInteger(p) && p >= 0)) {
      throw new ValueError('pad', `pads must be pairs of non-negative integers [before, after], got ${JSON.stringify(pair)} in ${JSON.stringify(pads)}`);
    }
    out[rank - list.length + k] = [pair[0], pair[1]];
  });
  return out;
}

// ---- tile, repeat, flip ------------------------------------------------------------------

/**
 * NumPy's `tile`: x repeated `reps[i]` times along axis i. A shorter `reps` is padded with
 * leading 1s, a shorter x with leading axes of length 1 (so the result has rank
 * max(x.rank, reps.length)). PyTorch's `Tensor.repeat` is the same when reps.length ≥ rank.
 * One broadcast and a reshape; the gradient sums the copies.
 */
export function tile(x: Tensor, reps: number | readonly number[]): Tensor {
  assertTensor('tile', x);
  const list = typeof reps === 'number' ? [reps] : [...reps];
  if (!list.every((r) => Number.isInteger(r) && r >= 0)) throw new ValueError('tile', `reps must be non-negative integers, got [${list.join(',')}]`);
  const rank = Math.max(x.rank, list.length);
  const shape = [...Array<number>(rank - x.rank).fill(1), ...x.shape];
  const r = [...Array<number>(rank - list.length).fill(1), ...list];
  // [1, d0, 1, d1, …] broadcast to [r0, d0, r1, d1, …], then each pair merged
  const spread = reshape(x, shape.flatMap((d) => [1, d]));
  const copies = broadcastTo(spread, shape.flatMap((d, i) => [r[i], d]));
  return reshape(copies, shape.map((d, i) => d * r[i]));
}

/**
 * NumPy's `repeat` (PyTorch's `repeat_interleave`): each element along `axis` repeated
 * `repeats` times, or `repeats[i]` times for element i; without an axis, x is flattened
 * first. [1, 2] with repeats 2 gives [1, 1, 2, 2] (tile gives [1, 2, 1, 2]).
 */
export function repeat(x: Tensor, repeats: number | readonly number[], axis?: number): Tensor {
  assertTensor('repeat', x);
  const source = axis === undefined ? reshape(x, [x.size]) : x;
  const a = axis === undefined ? 0 : normalizeAxis('repeat', axis, x.rank);
  const n = source.shape[a];
  const counts = typeof repeats === 'number' ? Array<number>(n).fill(repeats) : [...repeats];
  if (counts.length !== n) throw new ShapeError('repeat', `${counts.length} repeats for axis ${a} of length ${n} in ${fmt(x.shape)}`);
  if (!counts.every((r) => Number.isInteger(r) && r >= 0)) throw new ValueError('repeat', `repeats must be non-negative integers, got ${JSON.stringify(repeats)}`);
  const indices: number[] = [];
  counts.forEach((r, i) => { for (let k = 0; k < r; k++) indices.push(i); });
  return take(source, Int32Array.from(indices), a);
}

/** Reverses the order of elements along the axes (all by default, as NumPy's `flip`). */
export function flip(x: Tensor, axes?: number | readonly number[]): Tensor {
  assertTensor('flip', x);
  let out = x;
  for (const a of normalizeAxes('flip', axes, x.rank)) {
    const n = x.shape[a];
    if (n > 1) out = take(out, range(n, (i) => n - 1 - i), a);
  }
  return out;
}

// ---- split and chunk -------------------------------------------------------------------

/**
 * PyTorch's `split`: pieces of `size` along `axis` (the last one shorter if the length is
 * not a multiple), or pieces of the given sizes, which must add up to the axis length.
 * (NumPy's `split` takes a count or split points instead: use `chunk` for a count.)
 */
export function split(x: Tensor, sizes: number | readonly number[], axis = 0): Tensor[] {
  assertTensor('split', x);
  const a = normalizeAxis('split', axis, x.rank);
  const n = x.shape[a];
  let list: number[];
  if (typeof sizes === 'number') {
    if (!Number.isInteger(sizes) || sizes <= 0) throw new ValueError('split', `the piece size must be a positive integer, got ${sizes}`);
    list = [];
    for (let at = 0; at < n; at += sizes) list.push(Math.min(sizes, n - at));
    if (n === 0) list.push(0);
  } else {
    list = [...sizes];
    if (!list.every((s) => Number.isInteger(s) && s >= 0)) throw new ValueError('split', `sizes must be non-negative integers, got [${list.join(',')}]`);
    const total = list.reduce((p, s) => p + s, 0);
    if (total !== n) throw new ShapeError('split', `sizes [${list.join(',')}] add up to ${total}, but axis ${a} of ${fmt(x.shape)} has length ${n}`);
  }
  let offset = 0;
  return list.map((s) => {
    const begin = x.shape.map((_, i) => (i === a ? offset : 0));
    offset += s;
    return slice(x, begin, x.shape.map((d, i) => (i === a ? s : d)));
  });
}

/**
 * PyTorch's `chunk`: `chunks` pieces of ⌈n / chunks⌉ along `axis`, the last one shorter;
 * like PyTorch, fewer pieces come back when the length does not allow that many
 * (6 elements in 4 chunks gives 3 pieces of 2).
 */
export function chunk(x: Tensor, chunks: number, axis = 0): Tensor[] {
  assertTensor('chunk', x);
  if (!Number.isInteger(chunks) || chunks <= 0) throw new ValueError('chunk', `chunks must be a positive integer, got ${chunks}`);
  const a = normalizeAxis('chunk', axis, x.rank);
  return split(x, Math.max(1, Math.ceil(x.shape[a] / chunks)), a);
}

// ---- diagonal --------------------------------------------------------------------------

/**
 * PyTorch's `diagonal(x, offset, dim1, dim2)`: the elements x[…, i, …, i + offset, …] of
 * the two axes, which are removed, the diagonal becoming the last axis. offset > 0 is above
 * the main diagonal, < 0 below. `sum(diagonal(a))` is a trace.
 */
export function diagonal(x: Tensor, offset = 0, axis1 = 0, axis2 = 1): Tensor {
  assertTensor('diagonal', x);
  if (!Number.isInteger(offset)) throw new ValueError('diagonal', `offset must be an integer, got ${offset}`);
  const a1 = normalizeAxis('diagonal', axis1, x.rank), a2 = normalizeAxis('diagonal', axis2, x.rank);
  if (a1 === a2) throw new ShapeError('diagonal', `axis1 and axis2 are both axis ${a1} of ${fmt(x.shape)}`);
  const rows = x.shape[a1], cols = x.shape[a2];
  const length = Math.max(0, Math.min(rows + Math.min(offset, 0), cols - Math.max(offset, 0)));
  const rest = x.shape.map((_, i) => i).filter((i) => i !== a1 && i !== a2);
  const last = reshape(transpose(x, [...rest, a1, a2]), [...rest.map((i) => x.shape[i]), rows * cols]);
  const start = offset >= 0 ? offset : -offset * cols;
  return take(last, range(length, (i) => start + i * (cols + 1)), rest.length);
}
