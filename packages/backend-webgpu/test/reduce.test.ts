import { type ArgReduceKernel, type ReduceKernel, jsBackend } from '@tapegrad/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gpu, onDevice } from './gpu.js';
import { type ReductionStrategy, argReduce, argReduceUsing, cumsum, cumsumUsing, reduce, reduceUsing } from '../src/kernels/reduce.js';

const STRATEGIES: (ReductionStrategy | undefined)[] = [undefined, 'thread', 'workgroup'];
/** Small grids so the workgroup kernels' 2-D indexing is exercised by small arrays. */
const MAX_WORKGROUPS_X = 5;
const EPSILON = 2 ** -24;

/**
 * Values with ties (small integers, ±0), NaN and ±∞ sprinkled in when `specials`; normal
 * floats otherwise (GPUs may flush subnormals to zero).
 */
function valuesOf(length: number, specials: boolean): fc.Arbitrary<Float32Array> {
  const plain = fc.oneof(
    fc.float({ min: -100, max: 100, noNaN: true, noDefaultInfinity: true }).map((x) => (Math.abs(x) < 1.1754943508222875e-38 ? 0 : x)),
    fc.integer({ min: -3, max: 3 }),
    fc.constant(-0),
  );
  const value = specials ? fc.oneof({ weight: 12, arbitrary: plain }, { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity) }) : plain;
  return fc.array(value, { minLength: length, maxLength: length }).map((list) => Float32Array.from(list));
}

const shapes = fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 0, maxLength: 5 });

/** A shape of rank 0–5, a sorted subset of its axes, and values (with NaN/∞ when `specials`). */
function reduceCases(specials: boolean) {
  return shapes.chain((shape) =>
    fc.record({
      shape: fc.constant(shape),
      axes: fc.subarray(shape.map((_, i) => i)),
      x: valuesOf(shape.reduce((p, d) => p * d, 1), specials),
    }),
  );
}

/** Same NaN-ness and, elsewhere, equal (+0 and −0 equal: the order of comparisons may differ). */
function firstUnequal(actual: Float32Array, expected: Float32Array): number {
  if (actual.length !== expected.length) return 0;
  for (let i = 0; i < expected.length; i++) {
    if (Number.isNaN(expected[i]) ? !Number.isNaN(actual[i]) : actual[i] !== expected[i]) return i;
  }
  return -1;
}

/** Sums: float32 against js's float64-then-rounded, within (terms + 2)·ε·Σ|x| (∞ and NaN exactly). */
function firstSumMismatch(actual: Float32Array, expected: Float32Array, magnitudes: Float32Array, terms: number): number {
  if (actual.length !== expected.length) return 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i];
    if (!Number.isFinite(e) || !Number.isFinite(magnitudes[i])) {
      if (!(Object.is(actual[i], e) || (Number.isNaN(e) && Number.isNaN(actual[i])))) return i;
    } else if (!(Math.abs(actual[i] - e) <= (terms + 2) * EPSILON * magnitudes[i])) return i;
  }
  return -1;
}

describe('webgpu reduce agrees with js', () => {
  for (const kernel of ['sum', 'max', 'min'] as ReduceKernel[]) {
    it(`${kernel}: random shapes (rank 0–5, sizes 0–5) and axis subsets, each strategy, terms split in parts, NaN and ±∞`, async () => {
      const context = await gpu();
      await fc.assert(
        fc.asyncProperty(reduceCases(true), fc.constantFrom(...STRATEGIES), fc.integer({ min: 1, max: 4 }), async ({ shape, axes, x }, strategy, parts) => {
          const outSize = shape.reduce((p, d, i) => (axes.includes(i) ? p : p * d), 1);
          const terms = axes.reduce((p, a) => p * shape[a], 1);
          const out = onDevice(context, new Float32Array(outSize).fill(12345));
          reduceUsing({ strategy, maxWorkgroupsX: MAX_WORKGROUPS_X, parts }, context, kernel, onDevice(context, x), shape, axes, out);
          const actual = await out.read();
          const expected = new Float32Array(outSize);
          jsBackend.reduce(kernel, x, shape, axes, expected);
          let at: number;
          if (kernel === 'sum') {
            const magnitudes = new Float32Array(outSize);
            jsBackend.reduce('sum', x.map(Math.abs), shape, axes, magnitudes);
            at = firstSumMismatch(actual, expected, magnitudes, terms);
          } else at = firstUnequal(actual, expected);
          expect(at, `${kernel} ${strategy} (${parts} parts) [${shape}] axes [${axes}]: out[${at}] = ${actual[at]}, js ${expected[at]}`).toBe(-1);
        }),
        { seed: 42, numRuns: 60 },
      );
    });
  }

  it('long sums stay within a few ε of the float64 sum: 100 000 terms of one output (split in parts by default), 300 outputs of 1000 terms', async () => {
    const context = await gpu();
    const cases: [number[], number[]][] = [[[100_000], [0]], [[300, 1000], [1]], [[1000, 300], [0]]];
    for (const [shape, axes] of cases) {
      const size = shape.reduce((p, d) => p * d, 1);
      // inexact in float32 and positive: a plain float32 running sum drifts by ~n·ε relative
      const x = Float32Array.from({ length: size }, (_, i) => 0.1 + (i % 7) * 0.013);
      const outSize = size / shape[axes[0]];
      // in float64 (js's float32 path adds into a float32 out along a leading axis)
      const exact = new Float64Array(outSize);
      jsBackend.reduce('sum', Float64Array.from(x), shape, axes, exact);
      for (const strategy of STRATEGIES) {
        const out = context.allocate(outSize);
        reduceUsing({ strategy, parts: strategy === 'workgroup' ? 1 : undefined }, context, 'sum', x, shape, axes, out);
        const actual = await out.read();
        for (let i = 0; i < outSize; i++) expect(Math.abs(actual[i] - exact[i]) / exact[i], `${strategy} [${shape}] out[${i}]`).toBeLessThanOrEqual(16 * EPSILON);
      }
    }
  });

  it('empty reductions: sum 0, max −∞, min +∞, over a garbage-filled out', async () => {
    const context = await gpu();
    for (const [kernel, value] of [['sum', 0], ['max', -Infinity], ['min', Infinity]] as [ReduceKernel, number][]) {
      for (const strategy of ['thread', 'workgroup'] as ReductionStrategy[]) {
        const out = onDevice(context, [7, 7, 7]);
        reduceUsing({ strategy }, context, kernel, new Float32Array(0), [3, 0], [1], out);
        expect(Array.from(await out.read())).toEqual([value, value, value]);
      }
    }
    const out = onDevice(context, [5]);
    reduce(context, 'sum', Float32Array.of(2.5), [], [], out);
    expect(Array.from(await out.read())).toEqual([2.5]);
  });
});

const argCases = fc.record({
  outer: fc.integer({ min: 0, max: 6 }),
  axisSize: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 12 }) }, { weight: 1, arbitrary: fc.integer({ min: 250, max: 600 }) }),
  inner: fc.integer({ min: 0, max: 6 }),
}).chain((dims) => fc.record({ dims: fc.constant(dims), x: valuesOf(dims.outer * dims.axisSize * dims.inner, true) }));

describe('webgpu argReduce agrees with js', () => {
  for (const kernel of ['argmax', 'argmin'] as ArgReduceKernel[]) {
    it(`${kernel}: ties, NaN and ±∞, each strategy (exact)`, async () => {
      const context = await gpu();
      await fc.assert(
        fc.asyncProperty(argCases, fc.constantFrom(...STRATEGIES), async ({ dims: { outer, axisSize, inner }, x }, strategy) => {
          const out = onDevice(context, new Float32Array(outer * inner).fill(-1));
          argReduceUsing({ strategy, maxWorkgroupsX: MAX_WORKGROUPS_X }, context, kernel, onDevice(context, x), outer, axisSize, inner, out);
          const actual = await out.read();
          const expected = new Float32Array(outer * inner);
          jsBackend.argReduce(kernel, x, outer, axisSize, inner, expected);
          expect(Array.from(actual), `${kernel} ${strategy} [${outer}, ${axisSize}, ${inner}]`).toEqual(Array.from(expected));
        }),
        { seed: 42, numRuns: 50 },
      );
    });
  }

  it('the first NaN wins, else the first of equal extremes, across threads of a workgroup', async () => {
    const context = await gpu();
    const x = new Float32Array(1000).fill(1);
    x[700] = 5; x[300] = 5; x[900] = NaN; x[600] = NaN;
    for (const strategy of ['thread', 'workgroup'] as ReductionStrategy[]) {
      const out = context.allocate(1);
      argReduceUsing({ strategy }, context, 'argmax', x, 1, 1000, 1, out);
      expect((await out.read())[0]).toBe(600);
      x[600] = 1; x[900] = 1;
      argReduceUsing({ strategy }, context, 'argmax', x, 1, 1000, 1, out);
      expect((await out.read())[0]).toBe(300);
      argReduce(context, 'argmin', x, 1, 1000, 1, out);
      expect((await out.read())[0]).toBe(0);
      x[600] = NaN; x[900] = NaN;
    }
  });
});

const scanCases = fc.record({
  outer: fc.integer({ min: 0, max: 5 }),
  axisSize: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 20 }) }, { weight: 1, arbitrary: fc.integer({ min: 255, max: 700 }) }),
  inner: fc.integer({ min: 0, max: 5 }),
  reverse: fc.boolean(),
  exclusive: fc.boolean(),
}).chain((dims) => fc.record({ dims: fc.constant(dims), x: valuesOf(dims.outer * dims.axisSize * dims.inner, true) }));

/** Running sums: each element within (steps + 2)·ε·(running Σ|x|) of js's float64 sum (∞ and NaN exactly). */
function firstScanMismatch(actual: Float32Array, expected: Float32Array, magnitudes: Float32Array, steps: number): number {
  return firstSumMismatch(actual, expected, magnitudes, steps);
}

describe('webgpu cumsum agrees with js', () => {
  it('inclusive and exclusive, reversed or not, NaN and ±∞, each strategy', async () => {
    const context = await gpu();
    await fc.assert(
      fc.asyncProperty(scanCases, fc.constantFrom(...STRATEGIES), async ({ dims: { outer, axisSize, inner, reverse, exclusive }, x }, strategy) => {
        const out = onDevice(context, new Float32Array(x.length).fill(12345));
        cumsumUsing({ strategy, maxWorkgroupsX: MAX_WORKGROUPS_X }, context, onDevice(context, x), outer, axisSize, inner, reverse, exclusive, out);
        const actual = await out.read();
        const expected = new Float32Array(x.length), magnitudes = new Float32Array(x.length);
        jsBackend.cumsum(x, outer, axisSize, inner, reverse, exclusive, expected);
        jsBackend.cumsum(x.map(Math.abs), outer, axisSize, inner, reverse, exclusive, magnitudes);
        const at = firstScanMismatch(actual, expected, magnitudes, axisSize);
        expect(at, `${strategy} [${outer}, ${axisSize}, ${inner}] reverse ${reverse} exclusive ${exclusive}: out[${at}] = ${actual[at]}, js ${expected[at]}`).toBe(-1);
      }),
      { seed: 42, numRuns: 60 },
    );
  });

  it('a compensated scan of 200 000 terms stays within a few ε of the float64 one', async () => {
    const context = await gpu();
    const n = 200_000;
    const x = Float32Array.from({ length: n }, (_, i) => 0.1 + (i % 11) * 0.007);
    const expected = new Float32Array(n);
    jsBackend.cumsum(x, 1, n, 1, false, false, expected);
    for (const strategy of ['thread', 'workgroup'] as ReductionStrategy[]) {
      const out = context.allocate(n);
      cumsumUsing({ strategy }, context, x, 1, n, 1, false, false, out);
      const actual = await out.read();
      let worst = 0;
      for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / expected[i]);
      // a plain float32 running sum drifts to ~1e-4 relative here
      expect(worst, strategy).toBeLessThanOrEqual(4 * EPSILON);
    }
  });

  it('cumsum() chooses a strategy and computes in place', async () => {
    const context = await gpu();
    const x = onDevice(context, [1, 2, 3, 4]);
    cumsum(context, x, 1, 4, 1, true, true, x);
    expect(Array.from(await x.read())).toEqual([9, 7, 4, 0]);
  });
});
