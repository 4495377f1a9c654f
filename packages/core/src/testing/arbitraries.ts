import fc from 'fast-check';
import type { DType } from '../dtype.js';
import { Tensor } from '../tensor.js';
import { allocate } from '../dtype.js';
import { sizeOf } from '../shape.js';

/**
 * fast-check arbitraries for tensors. Everything is built from fast-check combinators, so
 * a failing case shrinks to the smallest shape and the simplest values that still fail.
 */

export interface ShapeConstraints {
  minRank?: number;
  maxRank?: number;
  /** Largest length of one axis. Default 4. */
  maxDim?: number;
  /** Smallest length of one axis. Default 1 (0-length axes are their own edge case). */
  minDim?: number;
}

/** A shape of rank minRank..maxRank (default 0..3) with axes of minDim..maxDim (default 1..4). */
export function shape(constraints: ShapeConstraints = {}): fc.Arbitrary<number[]> {
  const { minRank = 0, maxRank = 3, maxDim = 4, minDim = 1 } = constraints;
  return fc.array(fc.integer({ min: minDim, max: maxDim }), { minLength: minRank, maxLength: maxRank });
}

/**
 * Two shapes that broadcast together, covering every NumPy pattern: equal shapes, a scalar
 * against anything, [1,n] or [m,1] against [m,n], rank-1 against rank-2, and both sides
 * broadcasting at once ([m,1] with [1,n]). Built from one output shape: each operand drops
 * some leading axes and turns some others into 1.
 */
export function broadcastablePair(constraints: ShapeConstraints = {}): fc.Arbitrary<[number[], number[]]> {
  const operand = (out: number[]) =>
    fc.tuple(fc.integer({ min: 0, max: out.length }), fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }))
      .map(([drop, ones]) => out.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d)));
  const { minRank = 0, maxRank = 3, maxDim = 4, minDim = 1 } = constraints;
  const general = shape({ ...constraints, minRank, maxRank }).chain((out) => fc.tuple(operand(out), operand(out)));
  // Alone, the general construction meets [1,n] against [m,n] in under 1% of draws (a third
  // are scalar against scalar), so a 50-run property would seldom see it. Half the draws
  // therefore name a pattern outright, on an [m,n] output with m, n ≥ 2, in either order.
  if (minRank > 2 || maxRank < 2 || maxDim < 2) return general;
  const side = fc.integer({ min: Math.max(minDim, 2), max: maxDim });
  const named = (make: (m: number, n: number) => [number[], number[]]) =>
    fc.tuple(side, side, fc.boolean()).map(([m, n, swap]): [number[], number[]] => {
      const [a, b] = make(m, n);
      return swap ? [b, a] : [a, b];
    });
  return fc.oneof(
    { arbitrary: general, weight: 6 },
    named((m, n) => [[m, n], [m, n]]), // same shape
    named((m, n) => [[], [m, n]]), // a scalar against anything
    named((m, n) => [[1, n], [m, n]]), // a row against a matrix
    named((m, n) => [[m, 1], [m, n]]), // a column against a matrix
    named((m, n) => [[n], [m, n]]), // rank 1 against rank 2
    named((m, n) => [[m, 1], [1, n]]), // both sides broadcast
  );
}

/** A valid axis of a rank-r tensor, written positively or negatively (−r … r−1). */
export function axis(rank: number): fc.Arbitrary<number> {
  return fc.integer({ min: -rank, max: rank - 1 });
}

/**
 * Axes for a reduction over a rank-r tensor: undefined (all axes) or a subset, some of them
 * written negatively, the way users pass them.
 */
export function axes(rank: number): fc.Arbitrary<number[] | undefined> {
  return fc.option(
    fc.subarray(Array.from({ length: rank }, (_, i) => i)).chain((chosen) =>
      fc.array(fc.boolean(), { minLength: chosen.length, maxLength: chosen.length }).map((negative) => chosen.map((a, i) => (negative[i] ? a - rank : a)))),
    { nil: undefined, freq: 4 },
  );
}

export interface TensorConstraints {
  /** A fixed shape or an arbitrary of shapes. Default: `shape()`. */
  shape?: readonly number[] | fc.Arbitrary<number[]>;
  /** Value range. Default [-3, 3]. */
  min?: number;
  max?: number;
  /** Keep values at least `margin` away from these points (kinks such as 0 for relu and abs). */
  avoid?: readonly number[];
  /** Distance from the `avoid` points and, with `distinct`, between values. Default 0.05. */
  margin?: number;
  /** Make all values at least `margin` apart, so max and sort have no ties. */
  distinct?: boolean;
  /** Default 'float64', the dtype gradient checks need. */
  dtype?: DType;
}

function keepAway(v: number, avoid: readonly number[], margin: number, min: number, max: number): number {
  for (const point of avoid) {
    if (Math.abs(v - point) < margin) {
      const up = point + margin;
      const down = point - margin;
      v = up <= max ? up : down >= min ? down : v;
    }
  }
  return v;
}

function spreadApart(values: number[], margin: number): number[] {
  const order = values.map((_, i) => i).sort((a, b) => values[a] - values[b]);
  const out = values.slice();
  for (let k = 1; k < order.length; k++) {
    const prev = out[order[k - 1]];
    if (out[order[k]] < prev + margin) out[order[k]] = prev + margin;
  }
  return out;
}

/** Values of a given shape, within a domain, as a tensor (float64 by default). */
export function tensorOf(shapeValue: readonly number[], constraints: Omit<TensorConstraints, 'shape'> = {}): fc.Arbitrary<Tensor> {
  const { min = -3, max = 3, avoid = [], margin = 0.05, distinct = false, dtype = 'float64' } = constraints;
  const n = sizeOf(shapeValue);
  const value = fc.double({ min, max, noNaN: true, noDefaultInfinity: true });
  return fc.array(value, { minLength: n, maxLength: n }).map((raw) => {
    let values = raw.map((v) => keepAway(v, avoid, margin, min, max));
    if (distinct) values = spreadApart(values, margin);
    const data = allocate(dtype, n);
    data.set(values);
    return new Tensor(data, shapeValue, dtype);
  });
}

/** A tensor with a random (or fixed) shape and values within a domain. */
export function tensor(constraints: TensorConstraints = {}): fc.Arbitrary<Tensor> {
  const { shape: shapeSpec, ...rest } = constraints;
  const shapes = shapeSpec === undefined ? shape() : Array.isArray(shapeSpec) ? fc.constant([...shapeSpec]) : (shapeSpec as fc.Arbitrary<number[]>);
  return shapes.chain((s) => tensorOf(s, rest));
}

/** Two tensors whose shapes broadcast together (see broadcastablePair). */
export function broadcastableTensors(
  constraints: Omit<TensorConstraints, 'shape'> & ShapeConstraints & { second?: Omit<TensorConstraints, 'shape'> } = {},
): fc.Arbitrary<[Tensor, Tensor]> {
  const { minRank, maxRank, maxDim, minDim, second, ...values } = constraints;
  return broadcastablePair({ minRank, maxRank, maxDim, minDim }).chain(([a, b]) =>
    fc.tuple(tensorOf(a, values), tensorOf(b, { ...values, ...second })),
  );
}

/** Two matrices that multiply: [m,k] and [k,n], 1 ≤ m, k, n ≤ maxDim. */
export function matmulPair(constraints: Omit<TensorConstraints, 'shape'> & { maxDim?: number } = {}): fc.Arbitrary<[Tensor, Tensor]> {
  const { maxDim = 5, ...values } = constraints;
  const dim = fc.integer({ min: 1, max: maxDim });
  return fc.tuple(dim, dim, dim).chain(([m, k, n]) => fc.tuple(tensorOf([m, k], values), tensorOf([k, n], values)));
}
