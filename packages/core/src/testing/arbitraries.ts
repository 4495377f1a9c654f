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
  // are scalar against scalar), so a 50-run property would seldom see it. Two draws in five
  // therefore name a pattern outright, on an [m,n] output with m, n ≥ 2, in either order, and
  // one in five is a patternedPair: any rank difference with a 1 at any position, uniformly.
  if (minRank > 2 || maxRank < 2 || maxDim < 2) return general;
  const side2 = Math.max(minDim, 2);
  const side = fc.integer({ min: side2, max: maxDim });
  const named = (make: (m: number, n: number) => [number[], number[]]) =>
    fc.tuple(side, side, fc.boolean()).map(([m, n, swap]): [number[], number[]] => {
      const [a, b] = make(m, n);
      return swap ? [b, a] : [a, b];
    });
  return fc.oneof(
    { arbitrary: general, weight: 6 },
    // every rank difference and every position of a 1, uniformly ([3,1] against [5,3,3] too)
    { arbitrary: patternedPair({ minRank, maxRank: Math.min(maxRank, 3), minDim: side2, maxDim: Math.max(side2, Math.min(maxDim, 3)) }), weight: 3 },
    named((m, n) => [[m, n], [m, n]]), // same shape
    named((m, n) => [[], [m, n]]), // a scalar against anything
    named((m, n) => [[1, n], [m, n]]), // a row against a matrix
    named((m, n) => [[m, 1], [m, n]]), // a column against a matrix
    named((m, n) => [[n], [m, n]]), // rank 1 against rank 2
    named((m, n) => [[m, 1], [1, n]]), // both sides broadcast
  );
}

// ---- broadcasting patterns, enumerated ------------------------------------------------

/**
 * How one operand relates to a broadcast output of rank r: its first `drop` axes are absent
 * (a lower rank), and of the axes it has, those marked in `ones` have length 1 (stretched).
 */
export interface OperandPattern {
  drop: number;
  ones: readonly boolean[];
}

/** Every pattern of an operand against a rank-r output: Σₖ 2ᵏ (k = 0 … r) = 2^(r+1) − 1 of them. */
export function operandPatterns(rank: number): OperandPattern[] {
  const patterns: OperandPattern[] = [];
  for (let drop = 0; drop <= rank; drop++) {
    const kept = rank - drop;
    for (let mask = 0; mask < 2 ** kept; mask++) {
      patterns.push({ drop, ones: Array.from({ length: kept }, (_, i) => ((mask >> i) & 1) === 1) });
    }
  }
  return patterns;
}

/** The operand's shape for an output shape: leading axes dropped, marked axes set to 1. */
export function applyPattern(out: readonly number[], pattern: OperandPattern): number[] {
  return out.slice(pattern.drop).map((d, i) => (pattern.ones[i] ? 1 : d));
}

/**
 * Every broadcasting pattern up to `maxRank` (default 3) as concrete shape pairs, for a test
 * that must not depend on what a random draw happens to meet: each pair of operand patterns
 * (both sides lower-ranked or stretched at once included) on the output [.., 5, 3, 3] — two
 * axes of equal length, so an adjoint that sums the wrong one gives a wrong number of the
 * right shape, not a shape error. 1 + 9 + 49 + 225 pairs for ranks 0 … 3.
 */
export function everyBroadcastPair(maxRank = 3): Array<[number[], number[]]> {
  const lengths = [4, 5, 3, 3];
  const pairs: Array<[number[], number[]]> = [];
  for (let rank = 0; rank <= maxRank; rank++) {
    const out = lengths.slice(lengths.length - rank);
    if (rank > lengths.length) throw new RangeError(`everyBroadcastPair: maxRank ${maxRank} > ${lengths.length}`);
    const patterns = operandPatterns(rank);
    for (const a of patterns) for (const b of patterns) pairs.push([applyPattern(out, a), applyPattern(out, b)]);
  }
  return pairs;
}

/**
 * Two broadcastable shapes drawn uniformly over the pattern pairs of everyBroadcastPair
 * (rank 0..maxRank), with each output axis of length minDim..maxDim (default 2..3, so equal
 * lengths are common and a 1 always stretches).
 */
export function patternedPair(constraints: ShapeConstraints = {}): fc.Arbitrary<[number[], number[]]> {
  const { minRank = 0, maxRank = 3, minDim = 2, maxDim = 3 } = constraints;
  return fc.integer({ min: minRank, max: maxRank }).chain((rank) => {
    const patterns = operandPatterns(rank);
    return fc.tuple(
      fc.array(fc.integer({ min: minDim, max: maxDim }), { minLength: rank, maxLength: rank }),
      fc.constantFrom(...patterns),
      fc.constantFrom(...patterns),
    ).map(([out, a, b]): [number[], number[]] => [applyPattern(out, a), applyPattern(out, b)]);
  });
}

/**
 * Broadcastable shapes with a zero-length output axis: one operand has 0 there, the other 0
 * or 1 or no such axis (NumPy: [0,3] + [1,3] is [0,3]). Any pattern, any rank 1..maxRank.
 */
export function zeroLengthPair(constraints: ShapeConstraints = {}): fc.Arbitrary<[number[], number[]]> {
  const { maxRank = 3, minDim = 2, maxDim = 3 } = constraints;
  return fc.integer({ min: 1, max: maxRank }).chain((rank) => {
    const patterns = operandPatterns(rank);
    return fc.tuple(
      fc.array(fc.integer({ min: minDim, max: maxDim }), { minLength: rank, maxLength: rank }),
      fc.constantFrom(...patterns),
      fc.constantFrom(...patterns),
      fc.integer({ min: 0, max: rank - 1 }),
    ).filter(([, a, b, zeroAxis]) => [a, b].some((p) => zeroAxis >= p.drop && !p.ones[zeroAxis - p.drop])).map(([out, a, b, zeroAxis]): [number[], number[]] => {
      const zeroed = out.map((d, i) => (i === zeroAxis ? 0 : d));
      return [applyPattern(zeroed, a), applyPattern(zeroed, b)];
    });
  });
}

/**
 * Shapes that must NOT broadcast, with the axis (counted from the end, −1 = last) where they
 * clash: two lengths that differ and are neither 1, zero-length axes included ([0,3] against
 * [2,3]); the other axes agree, and either operand may have the lower rank.
 */
export function incompatiblePair(constraints: ShapeConstraints = {}): fc.Arbitrary<{ a: number[]; b: number[]; axis: number }> {
  const { maxRank = 3, maxDim = 4 } = constraints;
  const length = fc.constantFrom(0, ...Array.from({ length: maxDim - 1 }, (_, i) => i + 2));
  return fc.integer({ min: 1, max: maxRank }).chain((rank) => fc.tuple(
    fc.array(fc.integer({ min: 1, max: maxDim }), { minLength: rank, maxLength: rank }),
    fc.integer({ min: 0, max: rank - 1 }),
    length, length,
    fc.integer({ min: 0, max: rank - 1 }),
    fc.boolean(),
  )).filter(([, , da, db]) => da !== db).map(([out, clash, da, db, drop, swap]) => {
    const a = out.map((d, i) => (i === clash ? da : d));
    const b = out.map((d, i) => (i === clash ? db : d));
    // one side may lose leading axes, but not the clashing one
    const shorter = b.slice(Math.min(drop, clash));
    const [x, y] = swap ? [shorter, a] : [a, shorter];
    return { a: x, b: y, axis: clash - out.length };
  });
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

/** What arb.tensor draws: shape, value range (and values to keep away from), distinctness, dtype. */
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
