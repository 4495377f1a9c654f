import { jsBackend } from '@tapegrad/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gpu, onDevice } from './gpu.js';
import { DIRECT_TILING, LARGE_TILING, MATMUL_TILINGS, type MatmulOptions, SMALL_TILING, chooseSplitK, chooseTiling, matmul, matmulBatched, matmulBatchedUsing, matmulUsing } from '../src/kernels/matmul.js';

/**
 * mulberry32: reproducible values in [−2, 2) from a seed the property draws (shrinking then
 * acts on the sizes); with `specials`, about 1 in 40 is NaN, ∞ or −∞.
 */
function filled(length: number, seed: number, specials = false): Float32Array {
  let s = seed;
  const values = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    values[i] = specials && u < 0.025 ? [NaN, Infinity, -Infinity][Math.floor(u * 120)] : u * 4 - 2;
  }
  return values;
}

/**
 * The GPU sums k float32 products in float32, js in float64: each element may differ by
 * about k·ε·Σ|a||b| (the bound of a recursive sum), ε = 2⁻²⁴. `magnitudes` is |A|·|B|.
 * Non-finite results (a NaN or ∞ among the terms) must match exactly.
 */
function firstOutsideBound(actual: Float32Array, expected: Float32Array, magnitudes: Float32Array, k: number): number {
  if (actual.length !== expected.length) return 0;
  for (let i = 0; i < expected.length; i++) {
    if (!Number.isFinite(expected[i])) {
      if (!(Object.is(actual[i], expected[i]) || (Number.isNaN(expected[i]) && Number.isNaN(actual[i])))) return i;
      continue;
    }
    const bound = (k + 2) * 2 ** -24 * magnitudes[i] + 1e-30;
    if (!(Math.abs(actual[i] - expected[i]) <= bound)) return i;
  }
  return -1;
}

interface Case {
  m: number;
  k: number;
  n: number;
  transposeA: boolean;
  transposeB: boolean;
  seed: number;
  specials?: boolean;
}

const sizes = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 70 }) }, { weight: 1, arbitrary: fc.constantFrom(0, 1, 16, 63, 64, 65, 128, 129) });
const cases: fc.Arbitrary<Case> = fc.record({
  m: sizes,
  k: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 1, max: 70 }) }, { weight: 1, arbitrary: fc.constant(0) }),
  n: sizes,
  transposeA: fc.boolean(),
  transposeB: fc.boolean(),
  seed: fc.integer(),
});

function expectedProduct(a: Float32Array, b: Float32Array, c: Case): { values: Float32Array; magnitudes: Float32Array } {
  const values = new Float32Array(c.m * c.n), magnitudes = new Float32Array(c.m * c.n);
  jsBackend.matmul(a, b, values, c.m, c.k, c.n, c.transposeA, c.transposeB);
  jsBackend.matmul(a.map(Math.abs), b.map(Math.abs), magnitudes, c.m, c.k, c.n, c.transposeA, c.transposeB);
  return { values, magnitudes };
}

async function checkMatmul(c: Case, options: MatmulOptions | undefined): Promise<void> {
  const context = await gpu();
  const a = filled(c.m * c.k, c.seed, c.specials), b = filled(c.k * c.n, c.seed ^ 0x5bd1e995, c.specials);
  // out starts as garbage, as a reused buffer would: every element must be written
  const out = onDevice(context, new Float32Array(c.m * c.n).fill(NaN));
  if (options) matmulUsing(options, context, onDevice(context, a), onDevice(context, b), out, c.m, c.k, c.n, c.transposeA, c.transposeB);
  else matmul(context, onDevice(context, a), b /* a CPU input, uploaded for the call */, out, c.m, c.k, c.n, c.transposeA, c.transposeB);
  const actual = await out.read();
  const { values, magnitudes } = expectedProduct(a, b, c);
  const at = firstOutsideBound(actual, values, magnitudes, c.k);
  expect(at, `${JSON.stringify(c)} ${JSON.stringify(options)}: out[${at}] = ${actual[at]}, js ${values[at]}`).toBe(-1);
}

describe('webgpu matmul agrees with js', () => {
  for (const tiling of MATMUL_TILINGS) {
    it(`${tiling.name} tiling (${tiling.blockM}×${tiling.blockN}): random sizes across block edges, transposes, k = 0`, async () => {
      await fc.assert(fc.asyncProperty(cases, (c) => checkMatmul(c, { tiling, parts: 1 })), { seed: 42, numRuns: 40 });
    });
  }

  it('NaN and ±∞ in random places reach exactly the outputs they should (padding adds no 0·∞)', async () => {
    const small = fc.integer({ min: 1, max: 40 });
    const special = fc.record({ m: small, k: small, n: small, transposeA: fc.boolean(), transposeB: fc.boolean(), seed: fc.integer(), specials: fc.constant(true) });
    await fc.assert(fc.asyncProperty(special, fc.constantFrom(...MATMUL_TILINGS), fc.integer({ min: 1, max: 3 }), (c, tiling, parts) => checkMatmul(c, { tiling, parts })), { seed: 42, numRuns: 30 });
  });

  it('split-k: each output block\'s k-range over several workgroups, then the parts summed', async () => {
    await fc.assert(
      fc.asyncProperty(cases, fc.constantFrom(...MATMUL_TILINGS), fc.integer({ min: 2, max: 6 }), (c, tiling, parts) => checkMatmul(c, { tiling, parts })),
      { seed: 44, numRuns: 30 },
    );
  });

  it('matmul() splits a long k over few output blocks by itself (20×5000·5000×30)', async () => {
    expect(chooseSplitK(SMALL_TILING, 20, 5000, 30, 1)).toBeGreaterThan(1);
    await checkMatmul({ m: 20, k: 5000, n: 30, transposeA: true, transposeB: false, seed: 5 }, undefined);
  });

  it('matmul() runs products with at most 16 rows, columns or k on the direct kernel, splitting a long k over threads', async () => {
    expect([chooseTiling(16, 5000, 1, 300), chooseTiling(300, 16, 1, 300), chooseTiling(300, 300, 1, 16), chooseTiling(6, 50176, 1, 25)]).toEqual([DIRECT_TILING, DIRECT_TILING, DIRECT_TILING, DIRECT_TILING]);
    expect([chooseTiling(17, 300, 1, 17), chooseTiling(2048, 2048, 1, 2048)]).toEqual([SMALL_TILING, LARGE_TILING]);
    // a convolution's weight gradient, [C_out, N·H·W]·[N·H·W, C·kH·kW]: 150 outputs, k-ranges of ≥ 512
    expect(chooseSplitK(DIRECT_TILING, 6, 6000, 25, 1)).toBe(11);
    expect(chooseSplitK(DIRECT_TILING, 6, 1000, 25, 1)).toBe(1);
    expect(chooseSplitK(DIRECT_TILING, 128, 6000, 128, 1)).toBe(1);
    await checkMatmul({ m: 6, k: 6000, n: 25, transposeA: false, transposeB: true, seed: 8 }, undefined);
    await checkMatmul({ m: 3, k: 7, n: 700, transposeA: true, transposeB: false, seed: 9 }, undefined);
  });

  it('matmul() picks a tiling and takes CPU inputs', async () => {
    await fc.assert(fc.asyncProperty(cases, (c) => checkMatmul(c, undefined)), { seed: 7, numRuns: 15 });
  });

  it('a product over several k-slabs and blocks (300×200·200×260)', async () => {
    for (const tiling of MATMUL_TILINGS) await checkMatmul({ m: 300, k: 200, n: 260, transposeA: false, transposeB: true, seed: 3 }, { tiling, parts: 1 });
  });

  it('k = 0 writes zeros over a garbage-filled out', async () => {
    const context = await gpu();
    const out = onDevice(context, [NaN, 5, 6, 7, 8, 9]);
    matmul(context, new Float32Array(0), new Float32Array(0), out, 2, 0, 3, false, false);
    expect(Array.from(await out.read())).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('propagates NaN and ∞ as a sum of products does', async () => {
    const context = await gpu();
    // [1 ∞; NaN 0]·[1 0; 1 −1] = [∞ −∞; NaN NaN]
    const a = Float32Array.of(1, Infinity, NaN, 0), b = Float32Array.of(1, 0, 1, -1);
    const out = context.allocate(4);
    matmul(context, a, b, out, 2, 2, 2, false, false);
    const expected = new Float32Array(4);
    jsBackend.matmul(a, b, expected, 2, 2, 2, false, false);
    expect(Array.from(await out.read())).toEqual(Array.from(expected));
  });
});

interface BatchCase extends Case {
  aOffsets: number[];
  bOffsets: number[];
  aMatrices: number;
  bMatrices: number;
}

const batchCases: fc.Arbitrary<BatchCase> = fc
  .record({
    m: fc.integer({ min: 0, max: 40 }),
    k: fc.integer({ min: 0, max: 40 }),
    n: fc.integer({ min: 0, max: 40 }),
    transposeA: fc.boolean(),
    transposeB: fc.boolean(),
    seed: fc.integer(),
    aMatrices: fc.integer({ min: 1, max: 4 }),
    bMatrices: fc.integer({ min: 1, max: 4 }),
    batches: fc.integer({ min: 0, max: 7 }),
  })
  .chain((r) =>
    fc.record({
      // whole matrices, repeated or broadcast (one matrix for every batch), and a shifted start
      aOffsets: fc.array(fc.integer({ min: 0, max: r.aMatrices - 1 }), { minLength: r.batches, maxLength: r.batches }),
      bOffsets: fc.array(fc.integer({ min: 0, max: r.bMatrices - 1 }), { minLength: r.batches, maxLength: r.batches }),
      shift: fc.integer({ min: 0, max: 3 }),
    }).map(({ aOffsets, bOffsets, shift }) => ({
      ...r,
      aOffsets: aOffsets.map((i) => i * r.m * r.k + shift),
      bOffsets: bOffsets.map((i) => i * r.k * r.n),
    })),
  );

async function checkBatched(c: BatchCase, options: MatmulOptions | undefined): Promise<void> {
  const context = await gpu();
  const a = filled(c.aMatrices * c.m * c.k + 3, c.seed), b = filled(c.bMatrices * c.k * c.n, c.seed ^ 0x5bd1e995);
  const aOffsets = Int32Array.from(c.aOffsets), bOffsets = Int32Array.from(c.bOffsets);
  const out = onDevice(context, new Float32Array(aOffsets.length * c.m * c.n).fill(NaN));
  if (options) matmulBatchedUsing(options, context, onDevice(context, a), onDevice(context, b), out, c.m, c.k, c.n, c.transposeA, c.transposeB, aOffsets, bOffsets);
  else matmulBatched(context, onDevice(context, a), onDevice(context, b), out, c.m, c.k, c.n, c.transposeA, c.transposeB, aOffsets, bOffsets);
  const actual = await out.read();
  const values = new Float32Array(out.length), magnitudes = new Float32Array(out.length);
  jsBackend.matmulBatched(a, b, values, c.m, c.k, c.n, c.transposeA, c.transposeB, aOffsets, bOffsets);
  jsBackend.matmulBatched(a.map(Math.abs), b.map(Math.abs), magnitudes, c.m, c.k, c.n, c.transposeA, c.transposeB, aOffsets, bOffsets);
  const at = firstOutsideBound(actual, values, magnitudes, c.k);
  expect(at, `${JSON.stringify(c)} ${JSON.stringify(options)}: out[${at}] = ${actual[at]}, js ${values[at]}`).toBe(-1);
}

describe('webgpu matmulBatched agrees with js', () => {
  it('random batches with repeated and broadcast offsets, every tiling', async () => {
    await fc.assert(
      fc.asyncProperty(batchCases, fc.constantFrom(undefined, ...MATMUL_TILINGS), (c, tiling) => checkBatched(c, tiling && { tiling, parts: 1 })),
      { seed: 42, numRuns: 40 },
    );
  });

  it('split-k of a batch, with repeated offsets and the batch·parts split over dispatches', async () => {
    await fc.assert(
      fc.asyncProperty(batchCases, fc.constantFrom(SMALL_TILING, DIRECT_TILING), fc.integer({ min: 2, max: 4 }), fc.integer({ min: 4, max: 9 }), (c, tiling, parts, most) =>
        checkBatched(c, { tiling, parts, maxWorkgroupsPerDimension: most })),
      { seed: 45, numRuns: 20 },
    );
  });

  it('splits batches, row blocks and column blocks over several dispatches past the per-dimension limit', async () => {
    const wide = batchCases.map((c) => ({ ...c, m: c.m * 4, n: c.n * 4 }));
    await fc.assert(
      fc.asyncProperty(wide, fc.integer({ min: 1, max: 2 }), (c, most) => checkBatched(c, { tiling: SMALL_TILING, parts: 1, maxWorkgroupsPerDimension: most })),
      { seed: 43, numRuns: 15 },
    );
  });
});
