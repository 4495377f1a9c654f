/**
 * Broadcasting by construction: every pattern of two operands up to rank 3 (a lower rank,
 * a 1 at any position, both sides at once) and zero-length axes, checked against a plain-loop
 * oracle rather than drawn at random. Each block also shows the bug the random arbitraries of
 * the past missed being caught: unbroadcast summing the wrong axis of [3,1] against [5,3,3],
 * and a zero-length axis broadcast against 2.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ShapeError, type Tensor, add, broadcastShapes, mul, reshape, sum, tensor, unbroadcast, vjp } from '@tapegrad/core';
import { arb, everyBroadcastPair, incompatiblePair, operandPatterns, patternedPair, propertySeed, zeroLengthPair } from '@tapegrad/core/testing/properties';

const f64 = (data: ArrayLike<number>, shape: number[]) => tensor(Float64Array.from(data), { shape, dtype: 'float64' });

function size(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

/** Row-major multi-index of `flat` in `shape`. */
function unravel(flat: number, shape: readonly number[]): number[] {
  const index = new Array<number>(shape.length);
  for (let i = shape.length - 1; i >= 0; i--) {
    index[i] = flat % shape[i];
    flat = Math.floor(flat / shape[i]);
  }
  return index;
}

/** The flat position in an operand of `shape` that output index `out` reads (NumPy's rule). */
function operandOffset(out: readonly number[], shape: readonly number[]): number {
  const lead = out.length - shape.length;
  let offset = 0;
  for (let i = 0; i < shape.length; i++) offset = offset * shape[i] + (shape[i] === 1 ? 0 : out[lead + i]);
  return offset;
}

/** The oracle of unbroadcast: each output element added into the operand element it came from. */
function sumBack(g: ArrayLike<number>, outShape: readonly number[], shape: readonly number[]): number[] {
  const result = new Array<number>(size(shape)).fill(0);
  for (let k = 0; k < g.length; k++) result[operandOffset(unravel(k, outShape), shape)] += g[k];
  return result;
}

/** x broadcast to outShape, by the oracle. */
function stretch(x: ArrayLike<number>, shape: readonly number[], outShape: readonly number[]): number[] {
  return Array.from({ length: size(outShape) }, (_, k) => x[operandOffset(unravel(k, outShape), shape)]);
}

/** Distinct, irregular values, so no wrong sum can agree by accident. */
const values = (n: number, salt: number) => Array.from({ length: n }, (_, i) => Math.sin(1 + 7.3 * i + salt) * 3);

function expectClose(actual: ArrayLike<number>, expected: readonly number[], label: string): void {
  expect(actual.length, label).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (Math.abs(actual[i] - expected[i]) > 1e-12 * (1 + Math.abs(expected[i]))) {
      expect.fail(`${label}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
    }
  }
}

/** unbroadcast as it was when the suite missed it: the operand's axis read without its rank offset. */
function wrongAxisUnbroadcast(g: Tensor, shape: readonly number[]): Tensor {
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) if (i < lead || (shape[i] === 1 && g.shape[i] !== 1)) axes.push(i);
  return reshape(axes.length > 0 ? sum(g, axes, true) : g, shape);
}

/** Which pairs a candidate unbroadcast gets wrong (or throws on), against the oracle. */
function unbroadcastFailures(candidate: (g: Tensor, shape: readonly number[]) => Tensor, pairs: ReadonlyArray<[number[], number[]]>): string[] {
  const failures: string[] = [];
  pairs.forEach(([a, b], n) => {
    const outShape = broadcastShapes('test', a, b);
    const g = f64(values(size(outShape), n), outShape);
    for (const shape of [a, b]) {
      const want = sumBack(g.data, outShape, shape);
      let got: ArrayLike<number> | null = null;
      try {
        got = candidate(g, shape).data;
      } catch {
        got = null;
      }
      if (got === null || got.length !== want.length || want.some((w, i) => Math.abs(got![i] - w) > 1e-9 * (1 + Math.abs(w)))) {
        failures.push(`[${shape}] from [${outShape}]`);
      }
    }
  });
  return failures;
}

describe('every broadcasting pattern, enumerated', () => {
  it('2^(r+1) − 1 operand patterns per output rank; 284 pairs up to rank 3, [3,1] against [5,3,3] among them', () => {
    expect([0, 1, 2, 3].map((r) => operandPatterns(r).length)).toEqual([1, 3, 7, 15]);
    const pairs = everyBroadcastPair(3);
    expect(pairs.length).toBe(1 + 9 + 49 + 225);
    const has = (a: number[], b: number[]) => pairs.some(([x, y]) => x.join() === a.join() && y.join() === b.join());
    expect(has([3, 1], [5, 3, 3])).toBe(true);
    expect(has([5, 3, 3], [3, 1])).toBe(true);
    expect(has([1, 3, 1], [5, 1, 3])).toBe(true); // both sides stretched, and a lower rank
    expect(has([], [5, 3, 3])).toBe(true);
    for (const [a, b] of pairs) expect(() => broadcastShapes('test', a, b)).not.toThrow();
  });

  it('the hand case: ∂/∂x Σ x·c for x [3,1] and c [5,3,3] (c = 1…9 in each of the 5 blocks) is [30, 75, 120]', () => {
    const x = f64([0.5, -1, 2], [3, 1]);
    const c = f64(Array.from({ length: 45 }, (_, i) => (i % 9) + 1), [5, 3, 3]);
    const [, pullback] = vjp((xs) => sum(mul(xs, c)), x);
    const [gx] = pullback(f64([1], []));
    expect(gx.shape).toEqual([3, 1]);
    // row i of every block summed: 5·(1+2+3), 5·(4+5+6), 5·(7+8+9); the column sums would be 60, 75, 90
    expect(Array.from(gx.data)).toEqual([30, 75, 120]);
    expect(Array.from(unbroadcast(c, [3, 1]).data)).toEqual([30, 75, 120]);
    expect(Array.from(wrongAxisUnbroadcast(c, [3, 1]).data)).toEqual([60, 75, 90]);
  });

  it('unbroadcast sums back exactly what broadcasting spread, for both operands of every pair', () => {
    expect(unbroadcastFailures(unbroadcast, everyBroadcastPair(3))).toEqual([]);
  });

  it('add and mul: value and both gradients agree with the oracle for every pair', () => {
    everyBroadcastPair(3).forEach(([aShape, bShape], n) => {
      const outShape = broadcastShapes('test', aShape, bShape);
      const a = f64(values(size(aShape), n), aShape);
      const b = f64(values(size(bShape), n + 0.5), bShape);
      const dy = f64(values(size(outShape), n + 0.25), outShape);
      const A = stretch(a.data, aShape, outShape);
      const B = stretch(b.data, bShape, outShape);
      const label = `[${aShape}] with [${bShape}]`;

      const [sumOut, addBack] = vjp((x, y) => add(x, y), a, b);
      expect(sumOut.shape, label).toEqual(outShape);
      expectClose(sumOut.data, A.map((v, i) => v + B[i]), `add ${label}`);
      const [ga, gb] = addBack(dy);
      expectClose(ga.data, sumBack(dy.data, outShape, aShape), `add ∂a ${label}`);
      expectClose(gb.data, sumBack(dy.data, outShape, bShape), `add ∂b ${label}`);

      const [product, mulBack] = vjp((x, y) => mul(x, y), a, b);
      expectClose(product.data, A.map((v, i) => v * B[i]), `mul ${label}`);
      const [ma, mb] = mulBack(dy);
      expectClose(ma.data, sumBack(Array.from(dy.data, (d, i) => d * B[i]), outShape, aShape), `mul ∂a ${label}`);
      expectClose(mb.data, sumBack(Array.from(dy.data, (d, i) => d * A[i]), outShape, bShape), `mul ∂b ${label}`);
    });
  });

  it('would have caught the wrong-axis unbroadcast: the enumeration, and a 50-run property on the arbitraries', () => {
    const failures = unbroadcastFailures(wrongAxisUnbroadcast, everyBroadcastPair(3));
    expect(failures).toContain('[3,1] from [5,3,3]');
    // and a seeded random property over arb.broadcastablePair finds it too, shrunk to a small case
    const property = (candidate: typeof unbroadcast) => fc.property(arb.broadcastablePair(), (pair) => {
      expect(unbroadcastFailures(candidate, [pair])).toEqual([]);
    });
    const seed = propertySeed('broadcast-patterns: wrong-axis unbroadcast');
    expect(fc.check(property(unbroadcast), { numRuns: 50, seed }).failed).toBe(false);
    const caught = fc.check(property(wrongAxisUnbroadcast), { numRuns: 50, seed });
    expect(caught.failed).toBe(true);
    const [[a, b]] = caught.counterexample!;
    // the shrunk pair: a lower-rank operand stretched along an axis, against rank ≥ 2
    expect(Math.max(a.length, b.length)).toBeGreaterThanOrEqual(2);
    expect(a.length).not.toBe(b.length);
  });

  it('patternedPair draws every operand pattern of rank 3 within 400 draws', () => {
    const seen = new Set<string>();
    for (const [a, b] of fc.sample(patternedPair({ minRank: 3 }), { numRuns: 400, seed: propertySeed('patternedPair coverage') })) {
      for (const s of [a, b]) seen.add(`${s.length}:${s.map((d) => (d === 1 ? 1 : 'n')).join(',')}`);
    }
    expect(seen.size).toBe(15);
  });
});

describe('zero-length axes', () => {
  it('[0,3] + [1,3] is [0,3]; [0,3] + [2,3] is a ShapeError naming the axis', () => {
    expect(broadcastShapes('add', [0, 3], [1, 3])).toEqual([0, 3]);
    expect(broadcastShapes('add', [3], [0, 3])).toEqual([0, 3]);
    expect(add(f64([], [0, 3]), f64([1, 2, 3], [1, 3])).shape).toEqual([0, 3]);
    expect(() => broadcastShapes('add', [0, 3], [2, 3])).toThrow(ShapeError);
    expect(() => add(f64([], [0, 3]), f64([1, 2, 3, 4, 5, 6], [2, 3]))).toThrow(
      new ShapeError('add', 'shapes [0,3] and [2,3] cannot be broadcast together (axis -2: 0 vs 2)'),
    );
    expect(mul(f64([1, 2], [2, 1]), f64([], [0])).shape).toEqual([2, 0]);
    expect(() => mul(f64([1, 2, 3, 4], [2, 2]), f64([], [0]))).toThrow(ShapeError);
  });

  it('any valid pair with a zero-length axis: an empty result of the broadcast shape, zero gradients of the operand shapes', () => {
    fc.assert(fc.property(zeroLengthPair(), ([aShape, bShape]) => {
      const outShape = broadcastShapes('test', aShape, bShape);
      expect(outShape).toContain(0);
      const a = f64(values(size(aShape), 1), aShape);
      const b = f64(values(size(bShape), 2), bShape);
      for (const op of [add, mul]) {
        const [y, back] = vjp((x, z) => op(x, z), a, b);
        expect(y.shape).toEqual(outShape);
        expect(y.size).toBe(0);
        const [ga, gb] = back(f64([], outShape));
        expect(ga.shape).toEqual(aShape);
        expect(gb.shape).toEqual(bShape);
        // nothing flowed back: an operand element that was stretched over an empty axis gets 0
        expect([...ga.data, ...gb.data].every((v) => v === 0)).toBe(true);
      }
    }), { numRuns: 60, seed: propertySeed('zero-length broadcast') });
  });

  it('any incompatible pair, zero-length axes included, is refused by broadcastShapes and by add with the clashing axis', () => {
    const refuses = (broadcast: typeof broadcastShapes) => fc.property(incompatiblePair(), ({ a, b, axis }) => {
      expect(() => broadcast('add', a, b)).toThrow(ShapeError);
      expect(() => broadcast('add', a, b)).toThrow(`(axis ${axis}: `);
    });
    const seed = propertySeed('incompatible broadcast');
    fc.assert(refuses(broadcastShapes), { numRuns: 100, seed });
    fc.assert(fc.property(incompatiblePair(), ({ a, b }) => {
      expect(() => add(f64(values(size(a), 0), a), f64(values(size(b), 1), b))).toThrow(ShapeError);
    }), { numRuns: 40, seed });
    // the arbitrary draws the zero-against-2 clash the suite once missed
    expect(fc.sample(incompatiblePair(), { numRuns: 200, seed }).some(({ a, b, axis }) => {
      const [da, db] = [a.at(axis), b.at(axis)];
      return (da === 0 && db !== undefined && db > 1) || (db === 0 && da !== undefined && da > 1);
    })).toBe(true);
    // and it would have caught a broadcastShapes that lets 0 stretch like 1
    const zeroStretches: typeof broadcastShapes = (op, a, b) => {
      const rank = Math.max(a.length, b.length);
      return Array.from({ length: rank }, (_, k) => {
        const i = rank - k;
        const da = i <= a.length ? a[a.length - i] : 1;
        const db = i <= b.length ? b[b.length - i] : 1;
        if (da !== db && da > 1 && db > 1) throw new ShapeError(op, `shapes cannot be broadcast together (axis -${i}: ${da} vs ${db})`);
        return Math.min(da, db) === 0 ? 0 : Math.max(da, db);
      });
    };
    expect(fc.check(refuses(zeroStretches), { numRuns: 100, seed }).failed).toBe(true);
  });
});
