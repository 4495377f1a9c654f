import { createRng } from '@tapegrad/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FLAG_ALWAYS_TWO, FLAG_AVX2_KERNELS, FLAG_REFERENCE_GEMM, FLAG_TWO_THREADS, loadAddon } from '../src/addon.js';
import { built } from './native.js';

/**
 * The float32 matmul's faster paths (gemm.cc: the column form for n ≤ 12, Bᵀ panels laid
 * out by packLines, the in-place path up to 64 Ki floats of B) against the paths they
 * replaced, which FLAG_REFERENCE_GEMM still runs: every element must have the same bits
 * (Object.is, so −0 and NaN count), because each element's operations are the same — one
 * FMA chain from +0 per k block, in p order, the block sums added to C in order. The
 * shapes are the training tasks' (bench protocol T1 784-128-10 batch 64, T3 784-30-10
 * batch 10) and random ones around them.
 */

const addon = built ? loadAddon().addon : undefined;

function values(seed: number, length: number, specials: boolean): Float32Array {
  const r = createRng(seed);
  return Float32Array.from({ length }, () => {
    const u = r.next();
    // zeros of both signs (the chains start from +0), and products that cancel exactly
    if (specials && u < 0.1) return u < 0.05 ? -0 : 0;
    if (specials && u < 0.15) return 1;
    return (r.next() * 2 - 1) * 4;
  });
}

function expectSameBits(actual: Float32Array, expected: Float32Array, what: string): void {
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) expect.fail(`${what}: element ${i} is ${actual[i]}, the reference path gives ${expected[i]}`);
  }
}

/** out filled with NaN first: an element the path forgets to write fails. */
function product(a: Float32Array, b: Float32Array, m: number, k: number, n: number, tA: boolean, tB: boolean, flags: number): Float32Array {
  const out = new Float32Array(m * n).fill(NaN);
  addon!.matmul(a, b, out, m, k, n, tA, tB, flags);
  return out;
}

/** A batch of `count` products on fixed operands, run with the given flags (out filled with NaN first, as product's). */
function batchedProduct(count: number, m: number, k: number, n: number, tA: boolean, tB: boolean): (flags: number) => Float32Array {
  const a = values(m + k, count * m * k, true), b = values(n + k, count * k * n, true);
  const aOffsets = Int32Array.from({ length: count }, (_, i) => i * m * k), bOffsets = Int32Array.from({ length: count }, (_, i) => i * k * n);
  return (flags) => {
    const out = new Float32Array(count * m * n).fill(NaN);
    addon!.matmulBatched(a, b, out, m, k, n, tA, tB, aOffsets, bOffsets, flags);
    return out;
  };
}

function expectPathsAgree(m: number, k: number, n: number, tA: boolean, tB: boolean, seed: number, specials: boolean, twoThreads: boolean): void {
  const a = values(seed, m * k, specials), b = values(seed + 1, k * n, specials);
  const reference = product(a, b, m, k, n, tA, tB, FLAG_REFERENCE_GEMM);
  const what = `${m}×${k}×${n} tA=${tA} tB=${tB} seed ${seed}`;
  expectSameBits(product(a, b, m, k, n, tA, tB, 0), reference, what);
  // two threads: the row cut packs B (packLines) for both threads, the column cut runs each share's own path
  if (twoThreads) expectSameBits(product(a, b, m, k, n, tA, tB, FLAG_TWO_THREADS | FLAG_ALWAYS_TWO), reference, `${what}, two threads`);
}

const taskShapes: [number, number, number][] = [
  // T3: W¹·X, δ¹·Xᵀ, W²·a¹, δ²·a¹ᵀ, W²ᵀ·δ²
  [30, 784, 10], [30, 10, 784], [10, 30, 10], [10, 10, 30], [30, 10, 10],
  // T1, both orientations of each layer's products
  [128, 784, 64], [128, 64, 784], [128, 10, 64], [10, 64, 128], [10, 128, 64], [64, 784, 128], [64, 128, 10],
];

describe.runIf(built)('float32 matmul: the fast paths give the reference paths\' bits', () => {
  it('on the training tasks\' products, all four transpose variants, one and two threads', () => {
    for (const [m, k, n] of taskShapes) {
      for (const tA of [false, true]) for (const tB of [false, true]) expectPathsAgree(m, k, n, tA, tB, m * 7 + k * 3 + n, true, true);
    }
  });

  it('on random shapes around them (fast-check: m, n ≤ 40 and k ≤ 600, so 1–3 k blocks; shrinking)', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 40 }), fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 200, max: 600 })), fc.integer({ min: 1, max: 40 }),
      fc.boolean(), fc.boolean(), fc.boolean(), fc.boolean(), fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      (m, k, n, tA, tB, specials, twoThreads, seed) => {
        expectPathsAgree(m, k, n, tA, tB, seed, specials, twoThreads);
      },
    ), { numRuns: 150, seed: 42 });
  });

  it('on narrow C (n ≤ 12: the column form) with tall A, rows past 16 and a last panel of 1–15 rows', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 12 }), fc.boolean(), fc.boolean(),
      fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      (m, k, n, tA, tB, seed) => expectPathsAgree(m, k, n, tA, tB, seed, true, false),
    ), { numRuns: 80, seed: 42 });
  });

  it('in matmulBatched, whose products each take their own path', () => {
    for (const [m, k, n] of [[30, 784, 10], [10, 10, 30], [7, 33, 13], [30, 10, 784]] as const) {
      for (const tA of [false, true]) for (const tB of [false, true]) {
        const run = batchedProduct(3, m, k, n, tA, tB);
        expectSameBits(run(0), run(FLAG_REFERENCE_GEMM), `batched ${m}×${k}×${n} tA=${tA} tB=${tB}`);
      }
    }
  });
});

/**
 * The AVX-512 set (8×32 zmm tiles: the packed loop nest and the direct path, B in 32-wide
 * panels; the column form on 16-row zmm vectors) against the AVX2 set (6×16, FLAG_AVX2_KERNELS) in the same process: a wider tile
 * only computes more elements at once, each with the same FMA chain per k block in p order
 * and the same block sums, so every element must have the same bits. The shapes are the
 * large products of T1 and T2 (784-1024-1024-10, batch 256), forward and backward, and
 * seeded random ones with edges that are no multiple of either tile.
 */
const avx512 = addon?.features().avx512f === true;
const avx512Skip = !built ? 'the addon is not built' : 'this CPU has no AVX-512F (the AVX2 set runs; nothing to compare)';

function expectSetsAgree(m: number, k: number, n: number, tA: boolean, tB: boolean, seed: number, specials: boolean, twoThreads: boolean): void {
  const a = values(seed, m * k, specials), b = values(seed + 1, k * n, specials);
  const what = `${m}×${k}×${n} tA=${tA} tB=${tB} seed ${seed}`;
  const avx2 = product(a, b, m, k, n, tA, tB, FLAG_AVX2_KERNELS);
  expectSameBits(product(a, b, m, k, n, tA, tB, 0), avx2, `${what}: AVX-512 against AVX2`);
  if (twoThreads) {
    const two = FLAG_TWO_THREADS | FLAG_ALWAYS_TWO;
    expectSameBits(product(a, b, m, k, n, tA, tB, two), avx2, `${what}: AVX-512 on two threads against AVX2`);
    expectSameBits(product(a, b, m, k, n, tA, tB, two | FLAG_AVX2_KERNELS), avx2, `${what}: AVX2 on two threads against one`);
  }
}

const largeShapes: [number, number, number, boolean, boolean][] = [
  // T2 forward (W·X: 1024×784×256, 1024×1024×256), backward δ·Xᵀ (Bᵀ) and Wᵀ·δ (Aᵀ)
  [1024, 784, 256, false, false], [1024, 1024, 256, false, false], [1024, 256, 1024, false, true], [1024, 256, 784, false, true],
  [1024, 1024, 256, true, false], [10, 1024, 256, false, false], [10, 256, 1024, false, true],
  // T1's large products (the direct path on one thread, the row cut on two)
  [128, 784, 64, false, false], [128, 64, 784, false, true], [64, 784, 128, true, false],
  // T3's (mostly the column form, shared by both sets)
  [30, 784, 10, false, false], [30, 10, 784, false, true],
];

describe.skipIf(!avx512)(`float32 matmul: the AVX-512 set gives the AVX2 set's bits${avx512 ? '' : ` (skipped: ${avx512Skip})`}`, () => {
  it('on the T1/T2/T3 products, one and two threads', () => {
    for (const [m, k, n, tA, tB] of largeShapes) expectSetsAgree(m, k, n, tA, tB, m * 7 + k * 3 + n, true, true);
  });

  it('on random shapes (fast-check: m ≤ 80, n ≤ 100, k up to 600: edges of both tiles, 1–3 k blocks; shrinking)', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 80 }), fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 200, max: 600 })), fc.integer({ min: 1, max: 100 }),
      fc.boolean(), fc.boolean(), fc.boolean(), fc.boolean(), fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      (m, k, n, tA, tB, specials, twoThreads, seed) => expectSetsAgree(m, k, n, tA, tB, seed, specials, twoThreads),
    ), { numRuns: 150, seed: 42 });
  });

  it('on larger random shapes crossing the direct path\'s limits and the 144-row blocks (fast-check, 25 runs)', () => {
    fc.assert(fc.property(
      fc.integer({ min: 100, max: 400 }), fc.integer({ min: 30, max: 800 }), fc.integer({ min: 33, max: 700 }),
      fc.boolean(), fc.boolean(), fc.boolean(), fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      (m, k, n, tA, tB, twoThreads, seed) => expectSetsAgree(m, k, n, tA, tB, seed, false, twoThreads),
    ), { numRuns: 25, seed: 42 });
  });

  it('on narrow C (n ≤ 12: the column form, one zmm vector of ≤ 16 rows and ≤ 12 columns against two ymm vectors and ≤ 6; fast-check, 60 runs)', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: 600 }), fc.integer({ min: 1, max: 12 }), fc.boolean(), fc.boolean(),
      fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      (m, k, n, tA, tB, seed) => expectSetsAgree(m, k, n, tA, tB, seed, true, false),
    ), { numRuns: 60, seed: 42 });
  });

  it('in matmulBatched', () => {
    for (const [m, k, n] of [[64, 100, 40], [7, 33, 13], [30, 10, 784], [30, 784, 10]] as const) {
      for (const tA of [false, true]) for (const tB of [false, true]) {
        const run = batchedProduct(4, m, k, n, tA, tB);
        const avx2 = run(FLAG_AVX2_KERNELS);
        expectSameBits(run(0), avx2, `batched ${m}×${k}×${n} tA=${tA} tB=${tB}`);
        expectSameBits(run(FLAG_TWO_THREADS | FLAG_ALWAYS_TWO), avx2, `batched ${m}×${k}×${n} tA=${tA} tB=${tB}, two threads`);
      }
    }
  });
});
