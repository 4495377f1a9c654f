import { jsBackend } from '@tapegrad/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { firstDifference, gpu, normalFloat, onDevice, valuesArb } from './gpu.js';
import { gather, scatterAdd } from '../src/kernels/indexing.js';

/**
 * x seen as [outer, axisSize, inner] with indices in [0, axisSize): zero-length outer, inner
 * and index lists included, and few rows so that indices repeat.
 */
const indexingCase = fc.record({
  outer: fc.integer({ min: 0, max: 4 }),
  axisSize: fc.integer({ min: 1, max: 6 }),
  inner: fc.integer({ min: 0, max: 5 }),
}).chain((geometry) => fc.tuple(
  fc.constant(geometry),
  fc.array(fc.integer({ min: 0, max: geometry.axisSize - 1 }), { minLength: 0, maxLength: 10 }).map((list) => Int32Array.from(list)),
));

/** Normal numbers, and now and then ±∞, NaN or ±0 (whose sums depend on the order of addition). */
const summand = fc.oneof({ weight: 10, arbitrary: normalFloat }, { weight: 1, arbitrary: fc.constantFrom(Infinity, -Infinity, NaN, 0, -0, 1e30, -1e30) });

describe('webgpu indexing kernels agree with js', () => {
  it('gather copies rows bit for bit (any float32: subnormals, NaN, ±0)', async () => {
    const context = await gpu();
    const cases = indexingCase.chain(([g, indices]) => fc.tuple(fc.constant(g), fc.constant(indices), valuesArb(g.outer * g.axisSize * g.inner, fc.float())));
    await fc.assert(
      fc.asyncProperty(cases, async ([{ outer, axisSize, inner }, indices, x]) => {
        const out = context.allocate(outer * indices.length * inner, false);
        gather(context, onDevice(context, x), outer, axisSize, inner, indices, out);
        const expected = new Float32Array(out.length);
        jsBackend.gather(x, outer, axisSize, inner, indices, expected);
        const actual = await out.read();
        expect(firstDifference(actual, expected), `gather [${outer}, ${axisSize}, ${inner}] at ${Array.from(indices)}`).toBe(-1);
      }),
      { seed: 1421, numRuns: 40 },
    );
  });

  it('scatterAdd accumulates repeated indices in order of j, exactly as js', async () => {
    const context = await gpu();
    const cases = indexingCase.chain(([g, indices]) => fc.tuple(fc.constant(g), fc.constant(indices), valuesArb(g.outer * indices.length * g.inner, summand)));
    await fc.assert(
      fc.asyncProperty(cases, async ([{ outer, axisSize, inner }, indices, dy]) => {
        const out = context.allocate(outer * axisSize * inner, true);
        scatterAdd(context, onDevice(context, dy), outer, axisSize, inner, indices, out);
        const expected = new Float32Array(out.length);
        jsBackend.scatterAdd(dy, outer, axisSize, inner, indices, expected);
        const actual = await out.read();
        const at = firstDifference(actual, expected);
        expect(at, `scatterAdd [${outer}, ${axisSize}, ${inner}] at ${Array.from(indices)}: ${actual[at]}, js ${expected[at]}`).toBe(-1);
      }),
      { seed: 1422, numRuns: 40 },
    );
  });

  it('scatterAdd sums in order of j: 1e8 + 1 − 1e8 differs from 1e8 − 1e8 + 1 in float32', async () => {
    const context = await gpu();
    const out = context.allocate(2, true);
    scatterAdd(context, Float32Array.from([1e8, 1, -1e8, 5]), 1, 2, 1, Int32Array.from([0, 0, 0, 1]), out);
    expect(Array.from(await out.read())).toEqual([0, 5]);
    const reordered = context.allocate(2, true);
    scatterAdd(context, Float32Array.from([1e8, -1e8, 1, 5]), 1, 2, 1, Int32Array.from([0, 0, 0, 1]), reordered);
    expect(Array.from(await reordered.read())).toEqual([1, 5]);
  });

  it('an embedding table crosses the 2-D grid: [500, 16] gathered and scattered by 300 indices', async () => {
    const context = await gpu();
    const [rows, dim] = [500, 16];
    const table = Float32Array.from({ length: rows * dim }, (_, i) => Math.sin(i) * 10);
    const indices = Int32Array.from({ length: 300 }, (_, j) => (j * 37) % 211);
    const gathered = context.allocate(300 * dim, false);
    gather(context, table, 1, rows, dim, indices, gathered);
    const expectedGather = new Float32Array(gathered.length);
    jsBackend.gather(table, 1, rows, dim, indices, expectedGather);
    expect(firstDifference(await gathered.read(), expectedGather)).toBe(-1);

    const dy = Float32Array.from({ length: 300 * dim }, (_, i) => Math.cos(i));
    const grad = context.allocate(rows * dim, true);
    scatterAdd(context, dy, 1, rows, dim, indices, grad);
    const expectedScatter = new Float32Array(grad.length);
    jsBackend.scatterAdd(dy, 1, rows, dim, indices, expectedScatter);
    expect(firstDifference(await grad.read(), expectedScatter)).toBe(-1);
  });
});
