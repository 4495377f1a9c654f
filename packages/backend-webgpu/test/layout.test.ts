import { jsBackend, stridesOf } from '@tapegrad/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { broadcastOperandArb, firstDifference, gpu, onDevice, shapeArb, sizeOf, valuesArb } from './gpu.js';
import type { GpuArray } from '../src/context.js';
import { broadcastTo, pad, slice, transpose } from '../src/kernels/layout.js';
import { broadcastStrides, walkParams } from '../src/kernels/walk.js';

/**
 * Layout kernels copy bits, so every float32 is fair: subnormals, NaN, ±0 and ±∞ included,
 * and the results must equal js's exactly.
 */
const anyFloat = fc.float();

/** A shape and a box inside it: begin and size per axis (sizes 0 allowed). */
const boxCase = shapeArb().chain((shape) => fc.tuple(
  fc.constant(shape),
  fc.tuple(...shape.map((d) => fc.integer({ min: 0, max: d }).chain((begin) => fc.tuple(fc.constant(begin), fc.integer({ min: 0, max: d - begin }))))),
)).map(([shape, axes]) => ({ shape, begin: axes.map(([b]) => b), box: axes.map(([, n]) => n) }));

describe('webgpu layout kernels agree with js, bit for bit', () => {
  it('transpose: random shapes of rank 0–6 and permutations', async () => {
    const context = await gpu();
    const cases = shapeArb().chain((shape) => fc.tuple(
      fc.constant(shape),
      fc.shuffledSubarray(shape.map((_, i) => i), { minLength: shape.length, maxLength: shape.length }),
      valuesArb(sizeOf(shape), anyFloat),
    ));
    await fc.assert(
      fc.asyncProperty(cases, async ([shape, perm, x]) => {
        const out = context.allocate(x.length, false);
        transpose(context, onDevice(context, x), shape, perm, out);
        const expected = new Float32Array(x.length);
        jsBackend.transpose(x, shape, perm, expected);
        const actual = await out.read();
        expect(firstDifference(actual, expected), `transpose ${JSON.stringify(shape)} by ${JSON.stringify(perm)}`).toBe(-1);
      }),
      { seed: 1411, numRuns: 40 },
    );
  });

  it('broadcastTo: a 1 at any position, lower ranks, zero-length axes', async () => {
    const context = await gpu();
    const cases = shapeArb().chain((outShape) => fc.tuple(fc.constant(outShape), broadcastOperandArb(outShape)))
      .chain(([outShape, shape]) => fc.tuple(fc.constant(outShape), fc.constant(shape), valuesArb(sizeOf(shape), anyFloat)));
    await fc.assert(
      fc.asyncProperty(cases, async ([outShape, shape, x]) => {
        const out = context.allocate(sizeOf(outShape), false);
        broadcastTo(context, onDevice(context, x), shape, out, outShape);
        const expected = new Float32Array(out.length);
        jsBackend.broadcastTo(x, shape, expected, outShape);
        const actual = await out.read();
        expect(firstDifference(actual, expected), `broadcastTo ${JSON.stringify(shape)} → ${JSON.stringify(outShape)}`).toBe(-1);
      }),
      { seed: 1412, numRuns: 40 },
    );
  });

  it('slice: random boxes, empty ones included', async () => {
    const context = await gpu();
    const cases = boxCase.chain((c) => fc.tuple(fc.constant(c), valuesArb(sizeOf(c.shape), anyFloat)));
    await fc.assert(
      fc.asyncProperty(cases, async ([{ shape, begin, box }, x]) => {
        const out = context.allocate(sizeOf(box), false);
        slice(context, onDevice(context, x), shape, begin, out, box);
        const expected = new Float32Array(out.length);
        jsBackend.slice(x, shape, begin, expected, box);
        const actual = await out.read();
        expect(firstDifference(actual, expected), `slice ${JSON.stringify(shape)} at ${JSON.stringify(begin)} size ${JSON.stringify(box)}`).toBe(-1);
      }),
      { seed: 1413, numRuns: 40 },
    );
  });

  it('pad: writes the box and nothing else (out prefilled with other values to show it)', async () => {
    const context = await gpu();
    const cases = boxCase.chain((c) => fc.tuple(fc.constant(c), valuesArb(sizeOf(c.box), anyFloat)));
    await fc.assert(
      fc.asyncProperty(cases, async ([{ shape: outShape, begin, box }, x]) => {
        const before = Float32Array.from({ length: sizeOf(outShape) }, (_, i) => -1000 - i);
        const out = onDevice(context, before);
        pad(context, onDevice(context, x), box, begin, out, outShape);
        const expected = before.slice();
        jsBackend.pad(x, box, begin, expected, outShape);
        const actual = await out.read();
        expect(firstDifference(actual, expected), `pad ${JSON.stringify(box)} at ${JSON.stringify(begin)} into ${JSON.stringify(outShape)}`).toBe(-1);
      }),
      { seed: 1414, numRuns: 40 },
    );
  });

  it('pad into a zero-filled out, as core allocates it', async () => {
    const context = await gpu();
    const out = context.allocate(12, true);
    pad(context, Float32Array.from([1, 2, 3, 4]), [2, 2], [1, 1], out, [3, 4]);
    expect(Array.from(await out.read())).toEqual([0, 0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0]);
  });

  it('crosses the 2-D grid (past 2048 threads here) in every kernel', async () => {
    const context = await gpu();
    const shape = [70, 3, 50];
    const x = Float32Array.from({ length: sizeOf(shape) }, (_, i) => i * 0.5 - 3000);
    const check = async (out: GpuArray, expected: Float32Array) => expect(firstDifference(await out.read(), expected)).toBe(-1);

    const transposed = context.allocate(x.length, false);
    transpose(context, x, shape, [2, 0, 1], transposed);
    const expectedT = new Float32Array(x.length);
    jsBackend.transpose(x, shape, [2, 0, 1], expectedT);
    await check(transposed, expectedT);

    const broadcast = context.allocate(4 * x.length, false);
    broadcastTo(context, x, [70, 1, 3, 50], broadcast, [70, 4, 3, 50]);
    const expectedB = new Float32Array(4 * x.length);
    jsBackend.broadcastTo(x, [70, 1, 3, 50], expectedB, [70, 4, 3, 50]);
    await check(broadcast, expectedB);

    const sliced = context.allocate(60 * 2 * 40, false);
    slice(context, x, shape, [5, 1, 7], sliced, [60, 2, 40]);
    const expectedS = new Float32Array(sliced.length);
    jsBackend.slice(x, shape, [5, 1, 7], expectedS, [60, 2, 40]);
    await check(sliced, expectedS);

    const padded = context.allocate(72 * 5 * 53, true);
    pad(context, x, shape, [1, 2, 3], padded, [72, 5, 53]);
    const expectedP = new Float32Array(padded.length);
    jsBackend.pad(x, shape, [1, 2, 3], expectedP, [72, 5, 53]);
    await check(padded, expectedP);
  });
});

describe('the strided walk', () => {
  it('drops size-1 axes and merges axes every operand steps through contiguously', () => {
    // [threads, rank, 3 bases, shape…, strides per operand…]
    const same = [2, 1, 3, 4];
    expect(walkParams(same, [stridesOf(same), stridesOf(same)])).toEqual([24, 1, 0, 0, 0, 24, 1, 1]);
    const out = [4, 1, 5, 6];
    expect(walkParams(out, [stridesOf(out), broadcastStrides([1, 1, 1, 6], out)])).toEqual([120, 2, 0, 0, 0, 20, 6, 6, 1, 0, 1]);
    expect(walkParams([], [[], []], [3, 7])).toEqual([1, 0, 3, 7, 0]);
    expect(walkParams([3, 0, 2], [stridesOf([3, 0, 2])])[0]).toBe(0);
  });
});
