import { type ConvGeometry, jsBackend } from '@tapegrad/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { geometry } from '../../core/src/ops/conv.js';
import type { GpuArray, GpuContext } from '../src/context.js';
import { fold, maxPool, maxPoolGather, maxPoolScatter, unfold } from '../src/kernels/conv.js';
import type { GpuInput } from '../src/kernels/types.js';
import { firstMismatch, gpu, onDevice } from './gpu.js';

/**
 * The convolution kernels against jsBackend on random geometries, derived by core's own
 * `geometry()` (ops/conv.ts) from random options, as conv2d, unfold and the pools do:
 * 'same' with an even kernel pads one more at the bottom and right, which only outH/outW say.
 */

const int = (min: number, max: number) => fc.integer({ min, max });

/** Window options as a user gives them; 'same' needs stride 1 (core refuses it otherwise). */
const options = fc.record({
  N: int(1, 3), C: int(1, 3), H: int(1, 9), W: int(1, 9),
  kH: int(1, 4), kW: int(1, 4), strideH: int(1, 3), strideW: int(1, 3), dilationH: int(1, 3), dilationW: int(1, 3),
  padding: fc.oneof(fc.tuple(int(0, 2), int(0, 2)), fc.constant('same' as const)),
});

type Options = typeof options extends fc.Arbitrary<infer T> ? T : never;

/** Core's geometry for the options, or null where core refuses them (a kernel larger than the padded image). */
function coreGeometry(o: Options): ConvGeometry | null {
  const same = o.padding === 'same';
  try {
    return geometry('test', [o.N, o.C, o.H, o.W], {
      kH: o.kH, kW: o.kW, strideH: same ? 1 : o.strideH, strideW: same ? 1 : o.strideW,
      dilationH: o.dilationH, dilationW: o.dilationW, padding: o.padding,
    }, 'test');
  } catch {
    return null;
  }
}

const geometries = options.map(coreGeometry).filter((g): g is ConvGeometry => g !== null);

/** How the test values are drawn: how often windows tie, hold NaN or ±∞, or are −∞ throughout. */
type ValueMode = 'plain' | 'ties' | 'special' | 'minusInfinity';
const valueModes = fc.constantFrom<ValueMode>('plain', 'ties', 'special', 'minusInfinity');

/** A small seeded generator (mulberry32): the values follow from one shrinkable seed. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `length` float32 values. GPUs may flush subnormals (WGSL allows it), so none are drawn:
 * plain values are normal numbers in (−4, 4) or exact zeros.
 */
function values(length: number, seed: number, mode: ValueMode = 'plain'): Float32Array {
  const next = generator(seed);
  const plain = () => {
    const v = Math.fround((next() - 0.5) * 8);
    return Math.abs(v) < 1e-30 ? 0 : v;
  };
  const special = [NaN, Infinity, -Infinity, -0, 0];
  return Float32Array.from({ length }, () => {
    if (mode === 'ties') return Math.floor(next() * 3) - 1;
    if (mode === 'special') return next() < 0.15 ? special[Math.floor(next() * special.length)] : Math.floor(next() * 4) - 2;
    if (mode === 'minusInfinity') return next() < 0.7 ? -Infinity : plain();
    return plain();
  });
}

/** An output whose every element holds a value no kernel computes here, so an unwritten one shows. */
function garbage(context: GpuContext, length: number): GpuArray {
  const out = context.allocate(length, false);
  context.write(out, new Float32Array(length).fill(7777));
  return out;
}

/** The same values as a device array, or as the CPU array (which the kernel uploads for the call). */
function input(context: GpuContext, data: Float32Array, onCpu: boolean): GpuInput {
  return onCpu ? data : onDevice(context, data);
}

/** Bit-for-bit equality, any NaN matching any NaN (payloads may differ); −0 is not +0. */
function firstDifference(actual: Float32Array, expected: Float32Array): number {
  if (actual.length !== expected.length) return 0;
  for (let i = 0; i < expected.length; i++) {
    if (!(Number.isNaN(expected[i]) ? Number.isNaN(actual[i]) : Object.is(actual[i], expected[i]))) return i;
  }
  return -1;
}

function describeGeometry(g: ConvGeometry): string {
  return `[${g.N},${g.C},${g.H},${g.W}] k ${g.kH}×${g.kW} stride ${g.strideH},${g.strideW} pad ${g.padH},${g.padW} dilation ${g.dilationH},${g.dilationW} out ${g.outH}×${g.outW}`;
}

const imageSize = (g: ConvGeometry) => g.N * g.C * g.H * g.W;
const pooledSize = (g: ConvGeometry) => g.N * g.C * g.outH * g.outW;
const columnsSize = (g: ConvGeometry) => g.N * g.C * g.kH * g.kW * g.outH * g.outW;

/**
 * The contract's tolerance for float32 sums (the wasm/native tests' 1e-5): up to 16 terms
 * below 4 in magnitude, which may cancel. maxPoolGather needs it (js adds in float64); fold
 * and maxPoolScatter are checked bit-identical separately.
 */
const SUM_TOLERANCE = 1e-5;

describe('webgpu convolution kernels agree with js', () => {
  it('unfold copies every window entry exactly (padValue 0, −∞ or 2.5; NaN, ±∞ and −0 pass through; both column layouts)', async () => {
    const context = await gpu();
    await fc.assert(
      fc.asyncProperty(geometries, fc.constantFrom(0, -Infinity, 2.5), fc.boolean(), fc.boolean(), int(0, 2 ** 31 - 1), async (g, padValue, batched, onCpu, seed) => {
        const x = values(imageSize(g), seed, 'special');
        const expected = new Float32Array(columnsSize(g));
        jsBackend.unfold(x, g, padValue, expected, batched);
        const out = garbage(context, expected.length);
        unfold(context, input(context, x, onCpu), g, padValue, out, batched);
        const actual = await out.read();
        const at = firstDifference(actual, expected);
        expect(at, `unfold ${describeGeometry(g)} batched ${batched}: out[${at}] = ${actual[at]}, js ${expected[at]}`).toBe(-1);
      }),
      { seed: 42, numRuns: 40 },
    );
  });

  it('fold sums each pixel\'s column entries as js does (zeros where no window reads; both column layouts)', async () => {
    const context = await gpu();
    await fc.assert(
      fc.asyncProperty(geometries, fc.boolean(), fc.boolean(), int(0, 2 ** 31 - 1), async (g, batched, onCpu, seed) => {
        const cols = values(columnsSize(g), seed);
        const expected = new Float32Array(imageSize(g));
        jsBackend.fold(cols, g, expected, batched);
        const out = garbage(context, expected.length);
        fold(context, input(context, cols, onCpu), g, out, batched);
        const actual = await out.read();
        const at = firstMismatch(actual, expected, SUM_TOLERANCE);
        expect(at, `fold ${describeGeometry(g)} batched ${batched}: out[${at}] = ${actual[at]}, js ${expected[at]}`).toBe(-1);
      }),
      { seed: 42, numRuns: 40 },
    );
  });

  it('unfold and fold where outH/outW reach past the padding (windows that read only padding)', async () => {
    const context = await gpu();
    await fc.assert(
      fc.asyncProperty(geometries, int(0, 2), int(0, 2), fc.boolean(), int(0, 2 ** 31 - 1), async (core, moreH, moreW, batched, seed) => {
        const g = { ...core, outH: core.outH + moreH, outW: core.outW + moreW };
        const x = values(imageSize(g), seed);
        const expectedColumns = new Float32Array(columnsSize(g));
        jsBackend.unfold(x, g, -Infinity, expectedColumns, batched);
        const columns = garbage(context, expectedColumns.length);
        unfold(context, x, g, -Infinity, columns, batched);
        const actualColumns = await columns.read();
        const at = firstDifference(actualColumns, expectedColumns);
        expect(at, `unfold ${describeGeometry(g)}: out[${at}] = ${actualColumns[at]}, js ${expectedColumns[at]}`).toBe(-1);
        const cols = values(columnsSize(g), seed + 1);
        const expected = new Float32Array(imageSize(g));
        jsBackend.fold(cols, g, expected, batched);
        const out = garbage(context, expected.length);
        fold(context, cols, g, out, batched);
        const actual = await out.read();
        const at2 = firstMismatch(actual, expected, SUM_TOLERANCE);
        expect(at2, `fold ${describeGeometry(g)}: out[${at2}] = ${actual[at2]}, js ${expected[at2]}`).toBe(-1);
      }),
      { seed: 42, numRuns: 20 },
    );
  });

  it('maxPool, maxPoolScatter and maxPoolGather agree with js (ties, NaN windows, ±∞, −0, windows of −∞ sharing with the padding)', async () => {
    const context = await gpu();
    await fc.assert(
      fc.asyncProperty(geometries, valueModes, fc.boolean(), int(0, 2 ** 31 - 1), async (g, mode, onCpu, seed) => {
        const x = values(imageSize(g), seed, mode);
        const where = `${describeGeometry(g)} values ${mode}`;
        const xIn = input(context, x, onCpu);

        const expectedMax = new Float32Array(pooledSize(g));
        jsBackend.maxPool(x, g, expectedMax);
        const pooled = garbage(context, expectedMax.length);
        maxPool(context, xIn, g, pooled);
        const actualMax = await pooled.read();
        const atMax = firstDifference(actualMax, expectedMax);
        expect(atMax, `maxPool ${where}: out[${atMax}] = ${actualMax[atMax]}, js ${expectedMax[atMax]}`).toBe(-1);

        const dy = values(pooledSize(g), seed + 1);
        const expectedScatter = new Float32Array(imageSize(g));
        jsBackend.maxPoolScatter(dy, x, g, expectedScatter);
        const scattered = garbage(context, expectedScatter.length);
        maxPoolScatter(context, input(context, dy, onCpu), xIn, g, scattered);
        const actualScatter = await scattered.read();
        const atScatter = firstMismatch(actualScatter, expectedScatter, SUM_TOLERANCE);
        expect(atScatter, `maxPoolScatter ${where}: out[${atScatter}] = ${actualScatter[atScatter]}, js ${expectedScatter[atScatter]}`).toBe(-1);

        const v = values(imageSize(g), seed + 2);
        const expectedGather = new Float32Array(pooledSize(g));
        jsBackend.maxPoolGather(v, x, g, expectedGather);
        const gathered = garbage(context, expectedGather.length);
        maxPoolGather(context, input(context, v, onCpu), xIn, g, gathered);
        const actualGather = await gathered.read();
        const atGather = firstMismatch(actualGather, expectedGather, SUM_TOLERANCE);
        expect(atGather, `maxPoolGather ${where}: out[${atGather}] = ${actualGather[atGather]}, js ${expectedGather[atGather]}`).toBe(-1);
      }),
      { seed: 42, numRuns: 60 },
    );
  });

  it('fold and maxPoolScatter add in js\'s order: bit-identical (WGSL\'s float32 + is correctly rounded; no subnormals drawn)', async () => {
    const context = await gpu();
    // stride 1 and ties make pixels that several windows add into, where the order shows
    const overlapping = options.map((o) => coreGeometry({ ...o, strideH: 1, strideW: 1 })).filter((g): g is ConvGeometry => g !== null);
    await fc.assert(
      fc.asyncProperty(overlapping, fc.boolean(), int(0, 2 ** 31 - 1), async (g, batched, seed) => {
        const cols = values(columnsSize(g), seed);
        const expectedFold = new Float32Array(imageSize(g));
        jsBackend.fold(cols, g, expectedFold, batched);
        const folded = garbage(context, expectedFold.length);
        fold(context, cols, g, folded, batched);
        const actualFold = await folded.read();
        const atFold = firstDifference(actualFold, expectedFold);
        expect(atFold, `fold ${describeGeometry(g)}: out[${atFold}] = ${actualFold[atFold]}, js ${expectedFold[atFold]}`).toBe(-1);
        const x = values(imageSize(g), seed + 1, 'ties'), dy = values(pooledSize(g), seed + 2);
        const expectedScatter = new Float32Array(imageSize(g));
        jsBackend.maxPoolScatter(dy, x, g, expectedScatter);
        const scattered = garbage(context, expectedScatter.length);
        maxPoolScatter(context, dy, x, g, scattered);
        const actualScatter = await scattered.read();
        const atScatter = firstDifference(actualScatter, expectedScatter);
        expect(atScatter, `maxPoolScatter ${describeGeometry(g)}: out[${atScatter}] = ${actualScatter[atScatter]}, js ${expectedScatter[atScatter]}`).toBe(-1);
      }),
      { seed: 42, numRuns: 30 },
    );
  });

  // a 1×1×2×3 image [[1, 3, 3], [3, 0, 2]], 2×2 windows at stride 1: both windows' maximum is 3, twice each
  const pair: ConvGeometry = { N: 1, C: 1, H: 2, W: 3, kH: 2, kW: 2, strideH: 1, strideW: 1, padH: 0, padW: 0, dilationH: 1, dilationW: 1, outH: 1, outW: 2 };

  it('maxPoolScatter shares each window\'s dy among its ties and adds where windows overlap', async () => {
    const context = await gpu();
    const out = garbage(context, 6);
    maxPoolScatter(context, onDevice(context, [1, 10]), onDevice(context, [1, 3, 3, 3, 0, 2]), pair, out);
    // x[0,1] is a maximum of both windows: 1/2 + 10/2; x[0,2] only of the second, x[1,0] only of the first
    expect(Array.from(await out.read())).toEqual([0, 5.5, 5, 0.5, 0, 0]);
    const gathered = garbage(context, 2);
    maxPoolGather(context, onDevice(context, [100, 20, 4, 1, 1000, 1000]), onDevice(context, [1, 3, 3, 3, 0, 2]), pair, gathered);
    expect(Array.from(await gathered.read())).toEqual([(20 + 1) / 2, (20 + 4) / 2]);
  });

  it('a window of −∞ shares with its padding (1/9, rounded to float32, and the padding\'s shares dropped); a NaN window gives NaN to all', async () => {
    const context = await gpu();
    const g: ConvGeometry = { N: 1, C: 2, H: 1, W: 1, kH: 3, kW: 3, strideH: 1, strideW: 1, padH: 1, padW: 1, dilationH: 1, dilationW: 1, outH: 1, outW: 1 };
    const x = onDevice(context, [-Infinity, NaN]);
    const pooled = garbage(context, 2);
    maxPool(context, x, g, pooled);
    expect(Array.from(await pooled.read())).toEqual([-Infinity, NaN]);
    const scattered = garbage(context, 2);
    maxPoolScatter(context, onDevice(context, [9, 2]), x, g, scattered);
    expect(Array.from(await scattered.read())).toEqual([Math.fround(9 * Math.fround(1 / 9)), NaN]);
    const gathered = garbage(context, 2);
    maxPoolGather(context, onDevice(context, [3, 5]), x, g, gathered);
    expect(Array.from(await gathered.read())).toEqual([Math.fround(3 * Math.fround(1 / 9)), NaN]);
  });

  it('fold adds overlapping windows into a pixel: a 3×3 image, 2×2 windows of ones count each pixel\'s windows', async () => {
    const context = await gpu();
    const g: ConvGeometry = { N: 1, C: 1, H: 3, W: 3, kH: 2, kW: 2, strideH: 1, strideW: 1, padH: 0, padW: 0, dilationH: 1, dilationW: 1, outH: 2, outW: 2 };
    for (const batched of [false, true]) {
      const out = garbage(context, 9);
      fold(context, new Float32Array(16).fill(1), g, out, batched);
      expect(Array.from(await out.read())).toEqual([1, 2, 1, 2, 4, 2, 1, 2, 1]);
    }
  });

  it('covers grids that spill into y (the tests\' context spills past 2048 threads)', async () => {
    const context = await gpu();
    const g = geometry('test', [2, 4, 16, 16], { kH: 3, kW: 3, strideH: 1, strideW: 1, dilationH: 1, dilationW: 1, padding: 'same' }, 'test');
    const x = values(imageSize(g), 7, 'ties');
    const expectedColumns = new Float32Array(columnsSize(g));
    jsBackend.unfold(x, g, 0, expectedColumns, true);
    const columns = garbage(context, expectedColumns.length);
    unfold(context, x, g, 0, columns, true);
    expect(firstDifference(await columns.read(), expectedColumns)).toBe(-1);
    const expectedImage = new Float32Array(imageSize(g));
    jsBackend.fold(expectedColumns, g, expectedImage, true);
    const image = garbage(context, expectedImage.length);
    fold(context, columns, g, image, true);
    expect(firstMismatch(await image.read(), expectedImage, SUM_TOLERANCE)).toBe(-1);
    const dy = values(pooledSize(g), 8);
    const expectedScatter = new Float32Array(imageSize(g));
    jsBackend.maxPoolScatter(dy, x, g, expectedScatter);
    const scattered = garbage(context, expectedScatter.length);
    maxPoolScatter(context, dy, x, g, scattered);
    expect(firstMismatch(await scattered.read(), expectedScatter, SUM_TOLERANCE)).toBe(-1);
  });

  it('refuses arrays whose length does not fit the geometry, naming the kernel and the array', async () => {
    const context = await gpu();
    const g: ConvGeometry = { N: 1, C: 1, H: 3, W: 3, kH: 2, kW: 2, strideH: 1, strideW: 1, padH: 0, padW: 0, dilationH: 1, dilationW: 1, outH: 2, outW: 2 };
    expect(() => unfold(context, new Float32Array(9), g, 0, context.allocate(15), false)).toThrow('webgpu: unfold: out has 15 elements, needs 16');
    expect(() => fold(context, new Float32Array(16), { ...g, H: 4 }, context.allocate(9), true)).toThrow('webgpu: fold: out has 9 elements, needs 12');
    expect(() => maxPool(context, new Float32Array(8), g, context.allocate(4))).toThrow('webgpu: maxPool: x has 8 elements, needs 9');
    expect(() => maxPoolScatter(context, new Float32Array(4), new Float32Array(9), g, context.allocate(8))).toThrow('webgpu: maxPoolScatter: out has 8 elements, needs 9');
    expect(() => maxPoolGather(context, new Float32Array(9), new Float32Array(9), g, context.allocate(5))).toThrow('webgpu: maxPoolGather: out has 5 elements, needs 4');
  });

  it('an empty batch dispatches nothing and leaves the device usable', async () => {
    const context = await gpu();
    const g: ConvGeometry = { N: 0, C: 2, H: 3, W: 3, kH: 2, kW: 2, strideH: 1, strideW: 1, padH: 0, padW: 0, dilationH: 1, dilationW: 1, outH: 2, outW: 2 };
    const empty = () => context.allocate(0);
    unfold(context, empty(), g, 0, empty(), true);
    fold(context, empty(), g, empty(), false);
    maxPool(context, empty(), g, empty());
    maxPoolScatter(context, empty(), empty(), g, empty());
    maxPoolGather(context, empty(), empty(), g, empty());
    const out = garbage(context, 9);
    fold(context, new Float32Array(16).fill(1), { ...g, N: 1, C: 1 }, out, false);
    expect(Array.from(await out.read())).toEqual([1, 2, 1, 2, 4, 2, 1, 2, 1]);
  });
});
