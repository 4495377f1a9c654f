import { type Backend, type BinaryKernel, type UnaryKernel, createRng, jsBackend } from '@tapegrad/core';
import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import { loadAddon } from '../src/addon.js';
import { FLOAT64_NATIVE_FROM, FLOAT64_NATIVE_REDUCE_FROM } from '../src/backend.js';
import { built, missingReason, nativeBackend, toolchainPresent } from './native.js';

/**
 * Every native kernel against jsBackend, the oracle, on seeded random float32 data, for both
 * kernel sets (the AVX2-FMA one this CPU runs, and the portable one forced).
 *
 * Tolerances, and why:
 * - matmul: each C[i,j] is a k-term dot product; js sums it in float64 and rounds once, the
 *   addon in float32 (FMA chains per K_C block, then block sums). A k-term float32 sum errs
 *   by ≤ √k·u·Σ|aᵢbᵢ| in practice (u = 2⁻²⁴; Higham §2.8, §3.1); we allow
 *   16·u·√k·Σₚ|A[i,p]·B[p,j]| + k·2⁻¹⁴⁹ (the last term for subnormal results), the bound
 *   test/ops.backends.property.test.ts uses. A wrong or dropped term misses by ≈ Σ|ab|/k,
 *   hundreds of times more at these sizes.
 * - exp, sigmoid, tanh: computed in double (a polynomial with ≈ 1e-14 relative error) and
 *   rounded once, like js's Math.exp rounded to float32: ≤ 1 ulp. log and x^y (y ≠ 2) call
 *   libm in double: ≤ 1 ulp.
 * - softplus: libm's log1p and exp in double, rounded once, as js: ≤ 1 ulp. log1p, expm1,
 *   sin, cos: libm in double against Math's, erf: libm's against core's own, each rounded
 *   once: ≤ 1 ulp (the double values agree to a few double ulps).
 * - relu, step, neg, abs, sign, sqrt, x², floor, ceil, round (ties to even), isNaN, isFinite,
 *   add/sub/mul/div, comparisons, maximum/minimum (NaN-propagating), the activation
 *   gradients (sigmoidGrad, tanhGrad, reluGrad) and subScaled: the same IEEE float32
 *   operations, in the same order, as js rounds to: bit-identical (Object.is on every
 *   element, so −0 and NaN count).
 * - sums over leading/middle axes add in float32 in js's order: bit-identical; sums ending on
 *   the last axis accumulate in float64 (js: per innermost row): ≤ 1 ulp of the float64 sum.
 * - float64 matmul and matmulBatched run in the addon (the same blocked loop nest over double
 *   tiles): the float32 bound with u = 2⁻⁵³ and η = 2⁻¹⁰⁷⁴, 16·u·√k·Σₚ|A[i,p]·B[p,j]| + k·η.
 * - float64 element-wise kernels (exp, sigmoid and log by V8's own algorithms, ported; but tanh, softplus, log1p, expm1, erf,
 *   sin, cos and pow ≠ x², which stay on js: libm's last bit is not V8's), where, subScaled,
 *   sum/max/min, transpose, unfold, fold and gather run in the addon with js's operations in
 *   js's order: bit-identical. The rest of float64, and kernels the addon lacks, are
 *   jsBackend itself: bit-identical.
 */

const u = 2 ** -24;
const eta = 2 ** -149;

describe('the addon', () => {
  it('is built wherever a C++ toolchain is present (this repo\'s CI machines have g++, python3 and make)', () => {
    if (toolchainPresent()) {
      expect(missingReason, 'build/build-native.log says why the build failed').toBe('');
      expect(built).toBe(true);
    } else {
      // no compiler: the package must say why, and every native test below is reported skipped
      console.warn(`@tapegrad/backend-native not built here: ${missingReason}`);
      expect(missingReason).toMatch(/tapegrad_native\.node/);
    }
  });
});

const rng = createRng(20261123);
function random(n: number, scale = 2): Float32Array {
  return Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * scale);
}

/** Σₚ|A[i,p]·B[p,j]| in float64, for the tolerance. */
function magnitudes(a: Float32Array, b: Float32Array, m: number, k: number, n: number, tA: boolean, tB: boolean): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += Math.abs(a[tA ? p * m + i : i * k + p] * b[tB ? j * k + p : p * n + j]);
      out[i * n + j] = s;
    }
  }
  return out;
}

function expectMatmulClose(backend: Backend, a: Float32Array, b: Float32Array, m: number, k: number, n: number, tA: boolean, tB: boolean): Float32Array {
  const expected = new Float32Array(m * n), actual = new Float32Array(m * n).fill(NaN);
  jsBackend.matmul(a, b, expected, m, k, n, tA, tB);
  backend.matmul(a, b, actual, m, k, n, tA, tB);
  const mag = magnitudes(a, b, m, k, n, tA, tB);
  const rtol = 16 * u * Math.sqrt(k);
  for (let i = 0; i < m * n; i++) {
    const allowed = rtol * mag[i] + k * eta;
    if (!(Math.abs(actual[i] - expected[i]) <= allowed)) {
      throw new Error(`${m}×${k}×${n} tA=${tA} tB=${tB}: C[${Math.floor(i / n)},${i % n}] = ${actual[i]}, js ${expected[i]}, allowed ±${allowed}`);
    }
  }
  return actual;
}

/**
 * A batch as core's matmul lays it out: `aMatrices` stored matrices of a (≥ 1), read at
 * `aOffsets` (repeats: a broadcast operand read in place), likewise for b; `pad` unused
 * elements before the first matrix, so that offsets need not start at 0.
 */
interface BatchCase { a: Float32Array; b: Float32Array; aOffsets: Int32Array; bOffsets: Int32Array; m: number; k: number; n: number; tA: boolean; tB: boolean }
function batchCase(m: number, k: number, n: number, tA: boolean, tB: boolean, aIndex: number[], bIndex: number[], pad = 0): BatchCase {
  const aSize = m * k, bSize = k * n;
  return {
    a: random(pad + (Math.max(...aIndex) + 1) * aSize), b: random(pad + (Math.max(...bIndex) + 1) * bSize),
    aOffsets: Int32Array.from(aIndex, (i) => pad + i * aSize), bOffsets: Int32Array.from(bIndex, (i) => pad + i * bSize), m, k, n, tA, tB,
  };
}

/** Batch patterns of `count` products: every operand distinct, A or B broadcast, [2,c]·[1,c]-style outer broadcast, reversed order. */
function batchPatterns(count: number): Array<[string, number[], number[]]> {
  const each = Array.from({ length: count }, (_, i) => i), zero = each.map(() => 0);
  return [['distinct', each, each], ['A broadcast', zero, each], ['B broadcast', each, zero], ['outer', each.map((i) => i % 2), each.map((i) => i >> 1)],
    ['reversed', each.map((i) => count - 1 - i), each]];
}

/** Runs the batch on `backend` (into an out filled with NaN) and checks each product against js within the matmul bound. */
function expectBatchedClose(backend: Backend, c: BatchCase): Float32Array {
  const { a, b, aOffsets, bOffsets, m, k, n, tA, tB } = c;
  const count = aOffsets.length, cSize = m * n;
  const expected = new Float32Array(count * cSize), actual = new Float32Array(count * cSize).fill(NaN);
  jsBackend.matmulBatched(a, b, expected, m, k, n, tA, tB, aOffsets, bOffsets);
  backend.matmulBatched(a, b, actual, m, k, n, tA, tB, aOffsets, bOffsets);
  const rtol = 16 * u * Math.sqrt(k);
  for (let p = 0; p < count; p++) {
    const mag = magnitudes(a.subarray(aOffsets[p], aOffsets[p] + m * k), b.subarray(bOffsets[p], bOffsets[p] + k * n), m, k, n, tA, tB);
    for (let i = 0; i < cSize; i++) {
      const allowed = rtol * mag[i] + k * eta, at = p * cSize + i;
      if (!(Math.abs(actual[at] - expected[at]) <= allowed)) {
        throw new Error(`batch of ${count} × ${m}×${k}×${n} tA=${tA} tB=${tB}: product ${p} C[${Math.floor(i / n)},${i % n}] = ${actual[at]}, js ${expected[at]}, allowed ±${allowed}`);
      }
    }
  }
  return actual;
}

const f32Bits = (x: number) => new Uint32Array(Float32Array.of(x).buffer)[0];
/** Distance in float32 units in the last place (same-sign values; NaN only equals NaN). */
function ulps(x: number, y: number): number {
  if (Number.isNaN(x) || Number.isNaN(y)) return Number.isNaN(x) && Number.isNaN(y) ? 0 : Infinity;
  if (x === y) return 0;
  if (Math.sign(x) !== Math.sign(y)) return Math.abs(x) < 2 ** -125 && Math.abs(y) < 2 ** -125 ? f32Bits(Math.abs(x)) + f32Bits(Math.abs(y)) : Infinity;
  return Math.abs(f32Bits(x) - f32Bits(y));
}

function expectBitIdentical(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) throw new Error(`${what}: element ${i} = ${actual[i]}, expected ${expected[i]} exactly`);
  }
}

/** Special values first, then a spread of magnitudes and signs, then random ones. */
function specials(extra: number): Float32Array {
  const values = [0, -0, 1, -1, 0.5, -0.5, 2, NaN, Infinity, -Infinity, 1e-45, -1e-45, 1e-40, -3e-39, 1.1754944e-38, 3.4028235e38, -3.4028235e38,
    88.72, 88.73, 89, -87.3, -103.9, -104, -110, 1e-8, -1e-8, 0.0625, -0.0624, 0.1, 20, -20, 9.01, 1e30, -1e30];
  for (let e = -30; e <= 30; e += 3) values.push(2 ** e * 1.37, -(2 ** e) * 0.71);
  const out = new Float32Array(values.length + extra);
  out.set(values);
  out.set(random(extra, 12), values.length);
  return out;
}

const kernelSets = built ? [
  // every float64 call the addon covers goes to it, whatever its size (small ones go to js by default)
  { label: 'this CPU\'s choice (avx512f 8x32, avx2-fma 6x16 or portable 4x8)', make: () => nativeBackend({ name: 'native-auto', smallFloat64InJs: false }) },
  { label: 'portable (forced)', make: () => nativeBackend({ name: 'native-portable', kernels: 'portable', smallFloat64InJs: false }) },
] : [];

describe.runIf(built)('native kernels agree with jsBackend', () => {
  for (const { label, make } of kernelSets) {
    describe(label, () => {
      const backend = make();

      it('matmul, all four transpose variants, on odd and edge-tile sizes', () => {
        const sizes: [number, number, number][] = [[1, 1, 1], [5, 3, 7], [17, 33, 9], [6, 16, 16], [7, 17, 15], [13, 300, 37], [150, 257, 40], [64, 784, 128], [7, 600, 2053]];
        for (const [m, k, n] of sizes) {
          for (const tA of [false, true]) for (const tB of [false, true]) expectMatmulClose(backend, random(m * k), random(k * n), m, k, n, tA, tB);
        }
      });

      it('matmul on random shapes (fast-check, shrinking to the smallest failing case)', () => {
        fc.assert(fc.property(
          fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 40 }), fc.boolean(), fc.boolean(),
          fc.integer({ min: 0, max: 2 ** 31 - 1 }),
          (m, k, n, tA, tB, seed) => {
            const r = createRng(seed);
            const values = (len: number) => Float32Array.from({ length: len }, () => (r.next() * 2 - 1) * 4);
            expectMatmulClose(backend, values(m * k), values(k * n), m, k, n, tA, tB);
          },
        ), { numRuns: 60, seed: 42 });
      });

      it('matmul with k = 0 writes zeros, with m or n = 0 writes nothing', () => {
        const out = new Float32Array(6).fill(7);
        backend.matmul(new Float32Array(0), new Float32Array(0), out, 2, 0, 3, false, false);
        expect(Array.from(out)).toEqual([0, 0, 0, 0, 0, 0]);
        backend.matmul(new Float32Array(0), new Float32Array(12), new Float32Array(0), 0, 4, 3, false, false);
      });

      it('matmulBatched: broadcast and repeated offsets, all four transpose variants, edge sizes; bit for bit the loop of single products', () => {
        const sizes: [number, number, number][] = [[1, 1, 1], [5, 3, 7], [6, 16, 16], [7, 17, 15], [64, 32, 64], [13, 300, 37]];
        for (const [m, k, n] of sizes) {
          for (const tA of [false, true]) for (const tB of [false, true]) {
            for (const [pattern, aIndex, bIndex] of batchPatterns(m * k * n > 10000 ? 3 : 5)) {
              const c = batchCase(m, k, n, tA, tB, aIndex, bIndex, pattern === 'reversed' ? 3 : 0);
              const actual = expectBatchedClose(backend, c);
              // each product is the single-product kernel's own result (one thread)
              const single = new Float32Array(m * n);
              for (let p = 0; p < aIndex.length; p++) {
                backend.matmul(c.a.subarray(c.aOffsets[p], c.aOffsets[p] + m * k), c.b.subarray(c.bOffsets[p], c.bOffsets[p] + k * n), single, m, k, n, tA, tB);
                expectBitIdentical(actual.subarray(p * m * n, (p + 1) * m * n), single, `${pattern} ${m}×${k}×${n} tA=${tA} tB=${tB} product ${p}`);
              }
            }
          }
        }
      });

      it('small products read A and B in place (k ≤ K_C, B row-major ≤ 64 KiB): the packed kernel\'s bits, checked as A·B = A·(Bᵀ)ᵀ (a transposed B is packed)', () => {
        for (const [m, k, n] of [[1, 1, 1], [5, 3, 7], [17, 33, 9], [64, 32, 64], [13, 256, 40], [18, 64, 256]] as const) {
          for (const tA of [false, true]) {
            const a = random(m * k), b = random(k * n), bT = new Float32Array(k * n);
            for (let p = 0; p < k; p++) for (let j = 0; j < n; j++) bT[j * k + p] = b[p * n + j];
            const direct = new Float32Array(m * n), viaPacked = new Float32Array(m * n);
            backend.matmul(a, b, direct, m, k, n, tA, false);
            backend.matmul(a, bT, viaPacked, m, k, n, tA, true);
            expectBitIdentical(viaPacked, direct, `${m}×${k}×${n} tA=${tA}`);
          }
        }
      });

      it('matmulBatched with k = 0 writes zeros, with no products or m = 0 writes nothing', () => {
        const out = new Float32Array(12).fill(7);
        backend.matmulBatched(new Float32Array(0), new Float32Array(0), out, 2, 0, 3, false, true, new Int32Array(2), new Int32Array(2));
        expect(Array.from(out)).toEqual(new Array(12).fill(0));
        const untouched = new Float32Array(4).fill(7);
        backend.matmulBatched(random(6), random(6), untouched, 2, 3, 2, false, false, new Int32Array(0), new Int32Array(0));
        backend.matmulBatched(new Float32Array(0), random(6), untouched, 0, 3, 2, false, false, Int32Array.of(0, 0), Int32Array.of(0, 0));
        expect(Array.from(untouched)).toEqual([7, 7, 7, 7]);
      });

      it('exact unary kernels (relu, step, neg, abs, sign, sqrt, x², floor, ceil, round, isNaN, isFinite) are bit-identical, in place too', () => {
        const x = specials(1000);
        // halves, where round's ties-to-even shows, and values past 2²³ (all integers already)
        x.set([2.5, -2.5, 1.5, -1.5, 0.5, -0.49999997, 8388607.5, 8388609, -1e9], 1000);
        for (const kernel of ['relu', 'step', 'neg', 'abs', 'sign', 'sqrt', 'powScalar', 'floor', 'ceil', 'round', 'isNaN', 'isFinite'] as UnaryKernel[]) {
          const expected = new Float32Array(x.length), actual = new Float32Array(x.length);
          jsBackend.unary(kernel, x, expected, 2);
          backend.unary(kernel, x, actual, 2);
          expectBitIdentical(actual, expected, kernel);
          const inPlace = x.slice();
          backend.unary(kernel, inPlace, inPlace, 2);
          expectBitIdentical(inPlace, expected, `${kernel} in place`);
        }
      });

      it('subScaled (θ − η·g) is bit-identical, into a separate out, into y and into x, for an η float32 cannot hold', () => {
        const y = specials(500), x = random(y.length, 3);
        x.set(specials(0).reverse().subarray(0, 20));
        for (const s of [0.1, 0.3, -2.5, 1e-8]) {
          const expected = new Float32Array(y.length), actual = new Float32Array(y.length);
          jsBackend.subScaled(y, x, s, expected);
          backend.subScaled(y, x, s, actual);
          expectBitIdentical(actual, expected, `subScaled s=${s}`);
          const intoY = y.slice(), intoX = x.slice();
          backend.subScaled(intoY, x, s, intoY);
          backend.subScaled(y, intoX, s, intoX);
          expectBitIdentical(intoY, expected, `subScaled s=${s} into y`);
          expectBitIdentical(intoX, expected, `subScaled s=${s} into x`);
        }
      });

      it('exp, sigmoid, tanh, softplus, log, x^y, log1p, expm1, erf, sin and cos are within 1 ulp (NaN, ±Inf, overflow and subnormals as js)', () => {
        const x = specials(3000);
        const positive = x.map(Math.abs);
        const cases: [UnaryKernel, Float32Array, number][] = [
          ['exp', x, 0], ['sigmoid', x, 0], ['tanh', x, 0], ['log', positive, 0], ['log', x, 0],
          ['powScalar', positive, 0.5], ['powScalar', x, 3], ['powScalar', x, -1], ['powScalar', x, NaN], ['powScalar', x, Infinity], ['powScalar', x, 0],
          ['softplus', x, 0], ['log1p', x, 0], ['log1p', positive, 0], ['expm1', x, 0], ['erf', x, 0], ['sin', x, 0], ['cos', x, 0],
        ];
        for (const [kernel, input, scalar] of cases) {
          const expected = new Float32Array(input.length), actual = new Float32Array(input.length);
          jsBackend.unary(kernel, input, expected, scalar);
          backend.unary(kernel, input, actual, scalar);
          for (let i = 0; i < input.length; i++) {
            if (!(ulps(actual[i], expected[i]) <= 1)) throw new Error(`${kernel}(${input[i]}, ${scalar}) = ${actual[i]}, js ${expected[i]}`);
          }
        }
      });

      it('binary kernels on every broadcast pattern (equal, scalar, row, column, column∘row, rank 3, and one delegated to js) are bit-identical', () => {
        const patterns: [number[], number[], number[]][] = [
          [[5, 37], [5, 37], [5, 37]], [[5, 37], [1], [5, 37]], [[1], [5, 37], [5, 37]], [[5, 37], [1, 37], [5, 37]],
          [[37], [5, 37], [5, 37]], [[5, 37], [5, 1], [5, 37]], [[5, 1], [5, 37], [5, 37]], [[5, 1], [1, 37], [5, 37]],
          [[2, 3, 13], [13], [2, 3, 13]], [[2, 3, 13], [2, 3, 1], [2, 3, 13]], [[2, 3, 13], [2, 1, 13], [2, 3, 13]], [[64, 10], [64, 10], [64, 10]],
          [[3], [3], [3]], [[], [], []],
        ];
        const kernels: BinaryKernel[] = ['add', 'sub', 'mul', 'div', 'greater', 'greaterEqual', 'less', 'lessEqual', 'equal', 'sigmoidGrad', 'tanhGrad', 'reluGrad',
          'maximum', 'minimum'];
        for (const [aShape, bShape, outShape] of patterns) {
          const size = (s: number[]) => s.reduce((p, d) => p * d, 1);
          // a few specials among random values, and ties so the comparisons see equality
          const a = random(size(aShape)), b = random(size(bShape));
          a.set(specials(0).subarray(0, Math.min(a.length, 12)));
          if (b.length > 3) b[3] = a[3 % a.length];
          for (const kernel of kernels) {
            const expected = new Float32Array(size(outShape)), actual = new Float32Array(size(outShape));
            jsBackend.binary(kernel, a, aShape, b, bShape, expected, outShape);
            backend.binary(kernel, a, aShape, b, bShape, actual, outShape);
            expectBitIdentical(actual, expected, `${kernel} [${aShape}] ∘ [${bShape}]`);
          }
        }
      });

      it('binary kernels write over a full-size input in place (out === a, out === b, a === b === out)', () => {
        const shape = [9, 31];
        for (const kernel of ['add', 'sub', 'mul', 'div', 'less'] as BinaryKernel[]) {
          const a = random(9 * 31), b = random(9 * 31), bias = random(31);
          const check = (x: Float32Array, xs: number[], y: Float32Array, ys: number[], target: 'a' | 'b') => {
            const expected = new Float32Array(9 * 31);
            jsBackend.binary(kernel, x, xs, y, ys, expected, shape);
            const left = target === 'a' ? x.slice() : x, right = target === 'b' ? y.slice() : y;
            backend.binary(kernel, left, xs, right, ys, target === 'a' ? left : right, shape);
            expectBitIdentical(target === 'a' ? left : right, expected, `${kernel} into ${target}`);
          };
          check(a, shape, b, shape, 'a');
          check(a, shape, b, shape, 'b');
          check(a, shape, bias, [1, 31], 'a');
          const same = a.slice(), expected = new Float32Array(same.length);
          jsBackend.binary(kernel, same, shape, same, shape, expected, shape);
          backend.binary(kernel, same, shape, same, shape, same, shape);
          expectBitIdentical(same, expected, `${kernel} x∘x into x`);
        }
      });

      it('sums over contiguous axes: bit-identical over leading/middle axes, ≤ 1 ulp of the float64 sum over trailing ones', () => {
        const cases: [number[], number[]][] = [
          [[64, 10], [0]], [[64, 10], [1]], [[64, 10], [0, 1]], [[7, 5, 33], [1]], [[7, 5, 33], [0, 1]], [[7, 5, 33], [1, 2]],
          [[7, 5, 33], [2]], [[3, 1000], [1]], [[4, 3, 2], [0, 2]], [[4, 3, 2], [0]], [[5], [0]], [[2, 0, 3], [1]],
        ];
        for (const [shape, axes] of cases) {
          const x = random(shape.reduce((p, d) => p * d, 1), 3);
          const outSize = shape.reduce((p, d, i) => (axes.includes(i) ? p : p * d), 1);
          const expected = new Float32Array(outSize), actual = new Float32Array(outSize).fill(NaN);
          jsBackend.reduce('sum', x, shape, axes, expected);
          backend.reduce('sum', x, shape, axes, actual);
          const trailing = axes[axes.length - 1] === shape.length - 1 && axes.length > 0;
          const contiguous = axes.every((a, i) => i === 0 || a === axes[i - 1] + 1);
          if (trailing && contiguous) {
            // the float64 sum of each output element, rounded once
            const inner = 1, mid = axes.reduce((p, a) => p * shape[a], 1);
            for (let o = 0; o < outSize; o++) {
              let s = 0;
              for (let p = 0; p < mid; p++) s += x[(o * mid + p) * inner];
              if (!(ulps(actual[o], Math.fround(s)) <= 1)) throw new Error(`sum [${shape}] over [${axes}]: out[${o}] = ${actual[o]}, float64 sum ${s}`);
            }
          } else {
            expectBitIdentical(actual, expected, `sum [${shape}] over [${axes}]`);
          }
        }
      });

      it('unfold and fold (im2col, col2im) are bit-identical on random geometries (strides, paddings, dilations, a −∞ pad, both column layouts)', () => {
        fc.assert(fc.property(
          fc.record({
            N: fc.integer({ min: 1, max: 2 }), C: fc.integer({ min: 1, max: 3 }), H: fc.integer({ min: 1, max: 9 }), W: fc.integer({ min: 1, max: 9 }),
            kH: fc.integer({ min: 1, max: 4 }), kW: fc.integer({ min: 1, max: 4 }), strideH: fc.integer({ min: 1, max: 3 }), strideW: fc.integer({ min: 1, max: 3 }),
            padH: fc.integer({ min: 0, max: 3 }), padW: fc.integer({ min: 0, max: 3 }), dilationH: fc.integer({ min: 1, max: 3 }), dilationW: fc.integer({ min: 1, max: 3 }),
            outH: fc.integer({ min: 1, max: 8 }), outW: fc.integer({ min: 1, max: 8 }),
          }),
          fc.constantFrom(0, -Infinity),
          fc.boolean(),
          (g, padValue, batched) => {
            // outH/outW drawn freely: windows past the image read padding (fold drops them)
            const image = random(g.N * g.C * g.H * g.W), cols = g.N * g.C * g.kH * g.kW * g.outH * g.outW;
            const expected = new Float32Array(cols), actual = new Float32Array(cols).fill(NaN);
            jsBackend.unfold(image, g, padValue, expected, batched);
            backend.unfold(image, g, padValue, actual, batched);
            expectBitIdentical(actual, expected, 'unfold');
            const columns = random(cols), folded = new Float32Array(image.length), foldedJs = new Float32Array(image.length);
            folded.fill(NaN);
            jsBackend.fold(columns, g, foldedJs, batched);
            backend.fold(columns, g, folded, batched);
            expectBitIdentical(folded, foldedJs, 'fold');
          },
        ), { numRuns: 200, seed: 42 });
      });

      it('max and min over contiguous axes are bit-identical (NaN wins, −0/+0 ties keep the first, ±Inf), random shapes and axes', () => {
        // values drawn from a few, so ties (and ±0 pairs) are common; long rows (≥ 64) take the AVX2 row path
        const value = fc.constantFrom(NaN, 0, -0, Infinity, -Infinity, 1, -1, 2.5, -2.5, 3e38, -1e-45);
        fc.assert(fc.property(
          fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 4 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 4 }),
          fc.integer({ min: 0, max: 150 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 2 ** 31 - 1 }),
          (dims, firstAxis, axisCount, longLast, special, seed) => {
            const shape = [...dims];
            if (longLast > 60) shape[shape.length - 1] = longLast; // a long last axis now and then
            const first = Math.min(firstAxis, shape.length - 1), last = Math.min(first + axisCount - 1, shape.length - 1);
            const axes = Array.from({ length: last - first + 1 }, (_, i) => first + i);
            const size = shape.reduce((p, d) => p * d, 1), outSize = shape.reduce((p, d, i) => (axes.includes(i) ? p : p * d), 1);
            const local = createRng(seed), pool = fc.sample(value, { numRuns: 16, seed });
            const x = Float32Array.from({ length: size }, () => (local.next() < special ? pool[Math.floor(local.next() * 16)] : Math.round(local.next() * 8 - 4)));
            for (const kernel of ['max', 'min'] as const) {
              const expected = new Float32Array(outSize), actual = new Float32Array(outSize).fill(42);
              jsBackend.reduce(kernel, x, shape, axes, expected);
              backend.reduce(kernel, x, shape, axes, actual);
              expectBitIdentical(actual, expected, `${kernel} [${shape}] over [${axes}]`);
            }
          },
        ), { numRuns: 300, seed: 42 });
      });

      it('max over unfold\'s window axis (maxPool2d\'s layout [N, C, kH·kW, L]) and over long rows, with a NaN placed late', () => {
        for (const [shape, axes] of [[[2, 3, 9, 37], [2]], [[4, 1000], [1]], [[3, 70, 5], [1]], [[2, 4, 300], [1, 2]]] as [number[], number[]][]) {
          const x = random(shape.reduce((p, d) => p * d, 1), 5);
          for (const withNaN of [false, true]) {
            if (withNaN) x[x.length - 3] = NaN;
            for (const kernel of ['max', 'min'] as const) {
              const outSize = shape.reduce((p, d, i) => (axes.includes(i) ? p : p * d), 1);
              const expected = new Float32Array(outSize), actual = new Float32Array(outSize);
              jsBackend.reduce(kernel, x, shape, axes, expected);
              backend.reduce(kernel, x, shape, axes, actual);
              expectBitIdentical(actual, expected, `${kernel} [${shape}] over [${axes}]`);
            }
          }
        }
      });

      it('max and min of long rows whose extremum is a zero keep the first zero\'s sign, as js (the AVX2 row path re-walks them)', () => {
        for (const [pool, kernel] of [[[-0, 0, -1, -3], 'max'], [[0, -0, 1, 3], 'min']] as [number[], 'max' | 'min'][]) {
          for (let trial = 0; trial < 20; trial++) {
            const x = Float32Array.from({ length: 3 * 130 }, () => pool[Math.floor(rng.next() * 4)]);
            const expected = new Float32Array(3), actual = new Float32Array(3);
            jsBackend.reduce(kernel, x, [3, 130], [1], expected);
            backend.reduce(kernel, x, [3, 130], [1], actual);
            expectBitIdentical(actual, expected, `${kernel} of rows of ${pool}`);
          }
        }
      });

      it('transpose is bit-identical to js on random shapes and permutations (size-1 axes, merged runs, rank 1–5)', () => {
        fc.assert(fc.property(
          fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 5 }).chain((shape) =>
            fc.tuple(fc.constant(shape), fc.shuffledSubarray(shape.map((_, i) => i), { minLength: shape.length, maxLength: shape.length }))),
          ([shape, perm]) => {
            const size = shape.reduce((p, d) => p * d, 1);
            const x = random(size), expected = new Float32Array(size), actual = new Float32Array(size).fill(NaN);
            jsBackend.transpose(x, shape, perm, expected);
            backend.transpose(x, shape, perm, actual);
            expectBitIdentical(actual, expected, `transpose [${shape}] by [${perm}]`);
          },
        ), { numRuns: 200, seed: 42 });
      });

      it('maxPool, maxPoolScatter and maxPoolGather agree with js (ties, NaN, −∞, overlapping windows, padding, the 2×2 fast path)', () => {
        fc.assert(fc.property(
          fc.record({
            // widths to 40: the 2×2 scatter's AVX2 rows take 8 windows (16 columns) at a time
            N: fc.integer({ min: 1, max: 2 }), C: fc.integer({ min: 1, max: 3 }), H: fc.integer({ min: 2, max: 9 }), W: fc.integer({ min: 2, max: 40 }),
            kH: fc.integer({ min: 1, max: 3 }), kW: fc.integer({ min: 1, max: 3 }), strideH: fc.integer({ min: 1, max: 3 }), strideW: fc.integer({ min: 1, max: 3 }),
            padH: fc.integer({ min: 0, max: 1 }), padW: fc.integer({ min: 0, max: 1 }), dilationH: fc.integer({ min: 1, max: 2 }), dilationW: fc.integer({ min: 1, max: 2 }),
          }),
          fc.boolean(),
          fc.constantFrom('plain', 'ties', 'special', 'rare'),
          (win, twoByTwo, values) => {
            const g0 = twoByTwo ? { ...win, kH: 2, kW: 2, strideH: 2, strideW: 2, padH: 0, padW: 0, dilationH: 1, dilationW: 1 } : win;
            const padH = Math.min(g0.padH, g0.kH >> 1), padW = Math.min(g0.padW, g0.kW >> 1);
            const outH = Math.floor((g0.H + 2 * padH - g0.dilationH * (g0.kH - 1) - 1) / g0.strideH) + 1;
            const outW = Math.floor((g0.W + 2 * padW - g0.dilationW * (g0.kW - 1) - 1) / g0.strideW) + 1;
            if (outH < 1 || outW < 1) return;
            const g = { ...g0, padH, padW, outH, outW };
            const image = g.N * g.C * g.H * g.W, pooled = g.N * g.C * outH * outW;
            // ties: values from {0, 1}; special: NaN, ±∞ and −0 among them; rare: ±0 ties and ±∞ with a NaN now and then
            const x = values === 'plain' ? random(image)
              : random(image).map((v, i) => (values === 'ties' ? (v > 0 ? 1 : 0)
                : values === 'rare' ? (i % 41 === 7 ? NaN : [v, -0, 0, Infinity, -Infinity, v, 0, -0][i % 8])
                : [v, NaN, -Infinity, Infinity, -0, v][i % 6]));
            const check = (name: string, run: (k: typeof jsBackend, out: Float32Array) => void, size: number) => {
              const expected = new Float32Array(size), actual = new Float32Array(size).fill(NaN);
              run(jsBackend, expected);
              run(backend, actual);
              expectBitIdentical(actual, expected, name);
            };
            check('maxPool', (k, out) => k.maxPool(x, g, out), pooled);
            const dy = random(pooled), v = random(image);
            check('maxPoolScatter', (k, out) => k.maxPoolScatter(dy, x, g, out), image);
            // the gather sums up to kH·kW shares: float32 on native, float64 then rounded in js
            const expected = new Float32Array(pooled), actual = new Float32Array(pooled);
            jsBackend.maxPoolGather(v, x, g, expected);
            backend.maxPoolGather(v, x, g, actual);
            expected.forEach((e, i) => {
              if (Number.isNaN(e)) expect(actual[i]).toBeNaN();
              else expect(Math.abs(actual[i] - e)).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(e)));
            });
          },
        ), { numRuns: 200, seed: 42 });
      });

      it('counts what it hands to js, by kernel, and nothing for native calls', () => {
        const b = make();
        b.reduce('max', random(60), [5, 12], [0], new Float32Array(12));
        b.binary('add', random(6), [2, 3], random(6), [2, 3], new Float32Array(6), [2, 3]);
        expect(b.fallbacks()).toEqual({});
        b.transpose(random(12), [3, 4], [1, 0], new Float32Array(12));
        expect(b.fallbacks()).toEqual({});
        // mixed dtypes (a float32 x, a float64 out) are js's
        b.transpose(random(12), [3, 4], [1, 0], new Float64Array(12));
        b.transpose(random(20), [4, 5], [1, 0], new Float64Array(20));
        b.reduce('max', random(24), [2, 3, 4], [0, 2], new Float32Array(3)); // axes not adjacent: js's walk
        b.gather(random(12), 3, 4, 1, Int32Array.of(0, 3), new Float64Array(6));
        b.reduce('sum', new Float64Array(24), [2, 3, 4], [0, 2], new Float64Array(3));
        expect(b.fallbacks()).toMatchObject({
          transpose: { calls: 2, elements: 32 }, 'reduce max': { calls: 1, elements: 24 }, gather: { calls: 1, elements: 12 }, 'reduce sum': { calls: 1, elements: 24 },
        });
        b.resetFallbacks();
        expect(b.fallbacks()).toEqual({});
      });
    });
  }
});

describe.runIf(built)('float64 matmul in the addon', () => {
  const r = createRng(64);
  const f64 = (n: number) => Float64Array.from({ length: n }, () => r.next() * 4 - 2);
  const u64 = 2 ** -53, eta64 = 2 ** -1074;
  /** Σₚ|A[i,p]·B[p,j]| of one product (a, b read from `aAt`, `bAt`). */
  function magnitudes64(a: Float64Array, b: Float64Array, m: number, k: number, n: number, tA: boolean, tB: boolean): Float64Array {
    const out = new Float64Array(m * n);
    jsBackend.matmul(a.map(Math.abs), b.map(Math.abs), out, m, k, n, tA, tB);
    return out;
  }
  function expectClose64(actual: Float64Array, expected: Float64Array, mag: Float64Array, k: number, what: string): void {
    const rtol = 16 * u64 * Math.sqrt(k);
    for (let i = 0; i < expected.length; i++) {
      const allowed = rtol * mag[i] + k * eta64;
      if (!(Math.abs(actual[i] - expected[i]) <= allowed)) throw new Error(`${what}: C[${i}] = ${actual[i]}, js ${expected[i]}, allowed ±${allowed}`);
    }
  }

  it('agrees with js within float64 rounding on both kernel sets, every transpose, edges, several k and n blocks; two threads give one thread\'s bits', () => {
    const sets = [nativeBackend({ name: 'native-f64-1', threads: 'off' }), nativeBackend({ name: 'native-f64-portable', threads: 'off', kernels: 'portable' })];
    const twos = [nativeBackend({ name: 'native-f64-2', threads: 'always' }), nativeBackend({ name: 'native-f64-portable-2', threads: 'always', kernels: 'portable' })];
    // 1×1×1, micro-tile edges (6×8, 4×8), k past one K_C block (300, 520), n past N_C (2100), m < 2 tiles (column cuts)
    for (const [m, k, n] of [[1, 1, 1], [7, 13, 5], [6, 8, 8], [13, 300, 17], [61, 257, 90], [150, 520, 33], [3, 40, 2100], [0, 3, 4], [4, 0, 3]] as const) {
      for (const tA of [false, true]) for (const tB of [false, true]) {
        const a = f64(m * k), b = f64(k * n), expected = new Float64Array(m * n);
        jsBackend.matmul(a, b, expected, m, k, n, tA, tB);
        const mag = magnitudes64(a, b, m, k, n, tA, tB);
        sets.forEach((backend, s) => {
          const one = new Float64Array(m * n).fill(NaN), two = new Float64Array(m * n).fill(NaN);
          backend.matmul(a, b, one, m, k, n, tA, tB);
          expectClose64(one, expected, mag, k, `${backend.kernel} ${m}×${k}×${n} tA=${tA} tB=${tB}`);
          twos[s].matmul(a, b, two, m, k, n, tA, tB);
          expectBitIdentical(two, one, `${backend.kernel} two threads ${m}×${k}×${n} tA=${tA} tB=${tB}`);
        });
      }
    }
    expect(sets[0].fallbacks()).toEqual({});
  });

  it('matmulBatched: each product within float64 rounding of js, broadcast operands read in place, two threads bit-identical', () => {
    const one = nativeBackend({ name: 'native-f64-batch-1', threads: 'off' }), two = nativeBackend({ name: 'native-f64-batch-2', threads: 'always' });
    for (const [count, m, k, n] of [[1, 5, 7, 9], [3, 20, 30, 40], [8, 33, 65, 17], [2, 13, 290, 40]] as const) {
      for (const tA of [false, true]) for (const tB of [false, true]) {
        const a = f64(count * m * k), b = f64(2 * k * n);
        const aOffsets = Int32Array.from({ length: count }, (_, i) => i * m * k), bOffsets = Int32Array.from({ length: count }, (_, i) => (i % 2) * k * n);
        const expected = new Float64Array(count * m * n), c1 = new Float64Array(count * m * n).fill(NaN), c2 = new Float64Array(count * m * n).fill(NaN);
        jsBackend.matmulBatched(a, b, expected, m, k, n, tA, tB, aOffsets, bOffsets);
        one.matmulBatched(a, b, c1, m, k, n, tA, tB, aOffsets, bOffsets);
        two.matmulBatched(a, b, c2, m, k, n, tA, tB, aOffsets, bOffsets);
        for (let p = 0; p < count; p++) {
          const mag = magnitudes64(a.subarray(aOffsets[p], aOffsets[p] + m * k), b.subarray(bOffsets[p], bOffsets[p] + k * n), m, k, n, tA, tB);
          const at = (x: Float64Array) => x.subarray(p * m * n, (p + 1) * m * n);
          expectClose64(at(c1), at(expected), mag, k, `batch of ${count} × ${m}×${k}×${n} tA=${tA} tB=${tB}, product ${p}`);
        }
        expectBitIdentical(c2, c1, `batch of ${count} × ${m}×${k}×${n} tA=${tA} tB=${tB}, two threads`);
      }
    }
    expect(one.fallbacks()).toEqual({});
  });

  it('the addon refuses operands of mixed float types (the backend hands those to js)', () => {
    const { addon } = loadAddon();
    expect(() => addon!.matmul(f64(6), new Float32Array(6), new Float64Array(4), 2, 3, 2, false, false, 0)).toThrow(/b must be a Float64Array/);
    expect(() => addon!.matmul(new Float32Array(6), new Float32Array(6), new Float64Array(4), 2, 3, 2, false, false, 0)).toThrow(/out must be a Float32Array/);
    const backend = nativeBackend({ name: 'native-f64-mixed' });
    const a = f64(6), b = Float32Array.from(f64(6)), expected = new Float64Array(4), actual = new Float64Array(4);
    jsBackend.matmul(a, b, expected, 2, 3, 2, false, false);
    backend.matmul(a, b, actual, 2, 3, 2, false, false);
    expectBitIdentical(actual, expected, 'mixed matmul');
    expect(backend.fallbacks().matmul?.calls).toBe(1);
  });
});

describe.runIf(built)('float64 element-wise, reductions, where, transpose, unfold, fold and gather in the addon: bit-identical to js', () => {
  const r = createRng(7);
  const f64 = (n: number, scale = 4) => Float64Array.from({ length: n }, () => (r.next() * 2 - 1) * scale);
  /** float64's own specials (subnormals, the largest values, halves past 2⁵², ±0, NaN, ±∞) and float32's, then random values. */
  function specials64(extra: number): Float64Array {
    const values = [5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -1.7976931348623157e308, 4503599627370495.5, -4503599627370495.5,
      4503599627370497, 0.49999999999999994, -0.49999999999999994, 1e300, -1e-300, 1 / 3, ...specials(0)];
    const out = new Float64Array(values.length + extra);
    out.set(values);
    out.set(f64(extra, 12), values.length);
    return out;
  }
  const size = (shape: readonly number[]) => shape.reduce((p, d) => p * d, 1);

  for (const { label, make } of kernelSets) {
    describe(label, () => {
      const backend = make();
      beforeEach(() => backend.resetFallbacks());

      it('exact unary kernels (relu, step, neg, abs, sign, sqrt, x², floor, ceil, round, isNaN, isFinite) and exp, sigmoid (V8\'s exp ported) run natively, in place too; log & co stay on js', () => {
        const x = specials64(1000);
        x.set([2.5, -2.5, 1.5, -1.5, 0.5, -0.5, -0.4, 8388607.5, 2 ** 53 - 1, -1e9, 709.78, 709.79, -745.13, -745.14, -708.4, -720, 0.5 * Math.LN2, 1.5 * Math.LN2], 1000);
        for (const kernel of ['relu', 'step', 'neg', 'abs', 'sign', 'sqrt', 'powScalar', 'floor', 'ceil', 'round', 'isNaN', 'isFinite', 'exp', 'sigmoid', 'log'] as UnaryKernel[]) {
          const expected = new Float64Array(x.length), actual = new Float64Array(x.length).fill(7);
          jsBackend.unary(kernel, x, expected, 2);
          backend.unary(kernel, x, actual, 2);
          expectBitIdentical(actual, expected, `float64 ${kernel}`);
          const inPlace = x.slice();
          backend.unary(kernel, inPlace, inPlace, 2);
          expectBitIdentical(inPlace, expected, `float64 ${kernel} in place`);
        }
        expect(backend.fallbacks()).toEqual({});
        for (const [kernel, scalar] of [['tanh', 0], ['softplus', 0], ['powScalar', 3], ['erf', 0], ['log1p', 0]] as [UnaryKernel, number][]) {
          const expected = new Float64Array(x.length), actual = new Float64Array(x.length);
          jsBackend.unary(kernel, x, expected, scalar);
          backend.unary(kernel, x, actual, scalar);
          expectBitIdentical(actual, expected, `float64 ${kernel} (js's)`);
        }
        expect(backend.fallbacks()['unary tanh']?.calls).toBe(1);
      });

      it('float64 exp, sigmoid and log are Math.exp\'s and Math.log\'s bits (and core\'s sigmoid\'s) over 200 000 values: [−20, 20], [−750, 710], tiny |x|; log also of 2^[−1000, 1000], 1 ± tiny, subnormals', () => {
        const n = 200_000;
        const x = Float64Array.from({ length: n }, (_, i) => {
          const v = r.next();
          return i % 3 === 0 ? v * 40 - 20 : i % 3 === 1 ? v * 1460 - 750 : (v - 0.5) * 2 ** -(r.next() * 60);
        });
        for (const kernel of ['exp', 'sigmoid'] as UnaryKernel[]) {
          const expected = new Float64Array(n), actual = new Float64Array(n);
          jsBackend.unary(kernel, x, expected, 0);
          backend.unary(kernel, x, actual, 0);
          expectBitIdentical(actual, expected, `float64 ${kernel}`);
        }
        const y = Float64Array.from({ length: n }, (_, i) => {
          const v = r.next();
          return i % 4 === 0 ? 2 ** (v * 2000 - 1000) : i % 4 === 1 ? 1 + (v - 0.5) * 2 ** -(r.next() * 50) : i % 4 === 2 ? v * 1e-310 : v * 40 - 5;
        });
        const expected = new Float64Array(n), actual = new Float64Array(n);
        jsBackend.unary('log', y, expected, 0);
        backend.unary('log', y, actual, 0);
        expectBitIdentical(actual, expected, 'float64 log');
        expect(backend.fallbacks()).toEqual({});
      });

      it('binary kernels on every broadcast pattern, and in place', () => {
        const patterns: [number[], number[], number[]][] = [
          [[5, 37], [5, 37], [5, 37]], [[5, 37], [1], [5, 37]], [[1], [5, 37], [5, 37]], [[5, 37], [1, 37], [5, 37]],
          [[37], [5, 37], [5, 37]], [[5, 37], [5, 1], [5, 37]], [[5, 1], [5, 37], [5, 37]], [[5, 1], [1, 37], [5, 37]],
          [[2, 3, 13], [13], [2, 3, 13]], [[2, 3, 13], [2, 3, 1], [2, 3, 13]], [[2, 3, 13], [2, 1, 13], [2, 3, 13]], [[3], [3], [3]], [[], [], []],
        ];
        const kernels: BinaryKernel[] = ['add', 'sub', 'mul', 'div', 'greater', 'greaterEqual', 'less', 'lessEqual', 'equal', 'sigmoidGrad', 'tanhGrad', 'reluGrad',
          'maximum', 'minimum'];
        for (const [aShape, bShape, outShape] of patterns) {
          const a = f64(size(aShape)), b = f64(size(bShape));
          a.set(specials64(0).subarray(0, Math.min(a.length, 40)));
          if (b.length > 3) b[3] = a[3 % a.length];
          for (const kernel of kernels) {
            const expected = new Float64Array(size(outShape)), actual = new Float64Array(size(outShape)).fill(7);
            jsBackend.binary(kernel, a, aShape, b, bShape, expected, outShape);
            backend.binary(kernel, a, aShape, b, bShape, actual, outShape);
            expectBitIdentical(actual, expected, `float64 ${kernel} [${aShape}] ∘ [${bShape}]`);
            if (size(aShape) === size(outShape)) {
              const inPlace = a.slice();
              backend.binary(kernel, inPlace, aShape, b, bShape, inPlace, outShape);
              expectBitIdentical(inPlace, expected, `float64 ${kernel} [${aShape}] ∘ [${bShape}] into a`);
            }
          }
        }
        // only [2, 3, 13] ∘ [2, 1, 13] (no [rows, cols] view) went to js: twice per kernel, 78 elements each
        const fallbacks = Object.entries(backend.fallbacks());
        expect(fallbacks.length).toBe(kernels.length);
        for (const [, count] of fallbacks) expect(count).toEqual({ calls: 2, elements: 156 });
      });

      it('where on full, row, column and scalar operands (NaN picks a, −0 picks b); other broadcasts go to js', () => {
        const patterns: number[][][] = [
          [[4, 9], [4, 9], [4, 9], [4, 9]], [[4, 9], [1], [4, 9], [4, 9]], [[1, 9], [4, 9], [1], [4, 9]], [[4, 1], [1, 9], [4, 9], [4, 9]],
          [[4, 9], [4, 1], [1, 9], [4, 9]], [[1], [1], [1], [4, 9]], [[2, 3, 5], [2, 3, 1], [5], [2, 3, 5]], [[3, 1, 5], [1, 4, 1], [3, 4, 5], [3, 4, 5]],
        ];
        for (const [cShape, aShape, bShape, outShape] of patterns) {
          const cond = Float64Array.from({ length: size(cShape) }, (_, i) => [0, 1, -0, NaN, -2, 0.5][i % 6]);
          const a = f64(size(aShape)), b = f64(size(bShape));
          const expected = new Float64Array(size(outShape)), actual = new Float64Array(size(outShape)).fill(7);
          jsBackend.where(cond, cShape, a, aShape, b, bShape, expected, outShape);
          backend.where(cond, cShape, a, aShape, b, bShape, actual, outShape);
          expectBitIdentical(actual, expected, `float64 where [${cShape}] ? [${aShape}] : [${bShape}]`);
        }
        // the last pattern (a [1, 4, 1] among [3, 1, 5]s) is no [rows, cols] view: js's walk
        expect(backend.fallbacks()).toEqual({ where: { calls: 1, elements: 60 } });
        backend.resetFallbacks();
      });

      it('subScaled, into a separate out, into y and into x', () => {
        const y = specials64(500), x = f64(y.length, 3);
        for (const s of [0.1, 0.3, -2.5, 1e-8]) {
          const expected = new Float64Array(y.length), actual = new Float64Array(y.length);
          jsBackend.subScaled(y, x, s, expected);
          backend.subScaled(y, x, s, actual);
          expectBitIdentical(actual, expected, `float64 subScaled s=${s}`);
          const intoY = y.slice(), intoX = x.slice();
          backend.subScaled(intoY, x, s, intoY);
          backend.subScaled(y, intoX, s, intoX);
          expectBitIdentical(intoY, expected, `float64 subScaled s=${s} into y`);
          expectBitIdentical(intoX, expected, `float64 subScaled s=${s} into x`);
        }
      });

      it('sum, max and min over contiguous axes in js\'s order (runs of the last axis, −0 sums to +0, NaN wins), random shapes', () => {
        const value = fc.constantFrom(NaN, 0, -0, Infinity, -Infinity, 1, -1, 0.1, 1e16, -1e16, 1 / 3, 5e-324);
        fc.assert(fc.property(
          fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 4 }).chain((shape) => fc.tuple(
            fc.constant(shape),
            fc.integer({ min: 0, max: shape.length - 1 }).chain((first) => fc.tuple(fc.constant(first), fc.integer({ min: first, max: shape.length - 1 }))),
            fc.array(fc.oneof(value, fc.double({ noNaN: true })), { minLength: size(shape), maxLength: size(shape) }),
          )),
          ([shape, [first, last], values]) => {
            const axes = Array.from({ length: last - first + 1 }, (_, i) => first + i);
            const x = Float64Array.from(values);
            const outSize = shape.reduce((p, d, i) => (axes.includes(i) ? p : p * d), 1);
            for (const kernel of ['sum', 'max', 'min'] as const) {
              const expected = new Float64Array(outSize), actual = new Float64Array(outSize).fill(7);
              jsBackend.reduce(kernel, x, shape, axes, expected);
              backend.reduce(kernel, x, shape, axes, actual);
              expectBitIdentical(actual, expected, `float64 ${kernel} [${shape}] over [${axes}]`);
            }
          },
        ), { numRuns: 300, seed: 42 });
        // long rows (the four-rows-at-once path) and a sum of many runs
        for (const [shape, axes] of [[[9, 1000], [1]], [[3, 40, 25], [1, 2]], [[1, 5000], [1]], [[16, 7, 3], [1]]] as [number[], number[]][]) {
          const x = f64(size(shape), 1e3);
          const outSize = shape.reduce((p, d, i) => (axes.includes(i) ? p : p * d), 1);
          const expected = new Float64Array(outSize), actual = new Float64Array(outSize);
          jsBackend.reduce('sum', x, shape, axes, expected);
          backend.reduce('sum', x, shape, axes, actual);
          expectBitIdentical(actual, expected, `float64 sum [${shape}] over [${axes}]`);
        }
        expect(backend.fallbacks()).toEqual({});
      });

      it('transpose, unfold, fold and gather', () => {
        fc.assert(fc.property(
          fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 5 }).chain((shape) =>
            fc.tuple(fc.constant(shape), fc.shuffledSubarray(shape.map((_, i) => i), { minLength: shape.length, maxLength: shape.length }))),
          ([shape, perm]) => {
            const x = f64(size(shape)), expected = new Float64Array(size(shape)), actual = new Float64Array(size(shape)).fill(NaN);
            jsBackend.transpose(x, shape, perm, expected);
            backend.transpose(x, shape, perm, actual);
            expectBitIdentical(actual, expected, `float64 transpose [${shape}] by [${perm}]`);
          },
        ), { numRuns: 100, seed: 42 });
        for (const g of [
          { N: 2, C: 3, H: 7, W: 6, kH: 3, kW: 2, strideH: 1, strideW: 2, padH: 1, padW: 1, dilationH: 1, dilationW: 2, outH: 7, outW: 3 },
          { N: 1, C: 2, H: 5, W: 5, kH: 2, kW: 2, strideH: 2, strideW: 2, padH: 0, padW: 0, dilationH: 1, dilationW: 1, outH: 2, outW: 2 },
        ]) {
          for (const batched of [false, true]) {
            const image = f64(g.N * g.C * g.H * g.W), cols = g.N * g.C * g.kH * g.kW * g.outH * g.outW;
            const expected = new Float64Array(cols), actual = new Float64Array(cols).fill(NaN);
            jsBackend.unfold(image, g, -Infinity, expected, batched);
            backend.unfold(image, g, -Infinity, actual, batched);
            expectBitIdentical(actual, expected, 'float64 unfold');
            const columns = f64(cols), folded = new Float64Array(image.length).fill(NaN), foldedJs = new Float64Array(image.length);
            jsBackend.fold(columns, g, foldedJs, batched);
            backend.fold(columns, g, folded, batched);
            expectBitIdentical(folded, foldedJs, 'float64 fold');
          }
        }
        for (const [outer, axisSize, inner] of [[1, 50, 784], [3, 7, 1], [2, 5, 3], [4, 6, 40]]) {
          const indices = Int32Array.from({ length: 9 }, (_, j) => (j * 5 + 3) % axisSize);
          for (const x of [f64(outer * axisSize * inner), random(outer * axisSize * inner)]) {
            const expected = new (x.constructor as Float64ArrayConstructor)(outer * 9 * inner), actual = expected.slice().fill(NaN);
            jsBackend.gather(x, outer, axisSize, inner, indices, expected);
            backend.gather(x, outer, axisSize, inner, indices, actual);
            expectBitIdentical(actual, expected, `${x.constructor.name} gather [${outer}, ${axisSize}, ${inner}]`);
          }
        }
        expect(backend.fallbacks()).toEqual({});
        expect(() => loadAddon().addon!.gather(f64(10), 1, 10, 1, Int32Array.of(3, 10), new Float64Array(2))).toThrow(/indices\[1\] = 10 is outside \[0, 10\)/);
      });
    });
  }

  it('by default, float64 calls below FLOAT64_NATIVE_FROM elements (reductions: FLOAT64_NATIVE_REDUCE_FROM) run js\'s kernels, larger ones the addon\'s', () => {
    const backend = nativeBackend({ name: 'native-default' });
    const small = FLOAT64_NATIVE_FROM - 1, large = FLOAT64_NATIVE_REDUCE_FROM;
    for (const n of [small, large]) {
      const a = f64(n), b = f64(n);
      backend.binary('add', a, [n], b, [n], new Float64Array(n), [n]);
      backend.unary('relu', a, new Float64Array(n), 0);
      backend.reduce('sum', a, [n], [0], new Float64Array(1));
    }
    backend.reduce('max', f64(large - 1), [large - 1], [0], new Float64Array(1));
    expect(backend.fallbacks()).toEqual({
      'binary add': { calls: 1, elements: small }, 'unary relu': { calls: 1, elements: small },
      'reduce sum': { calls: 1, elements: small }, 'reduce max': { calls: 1, elements: large - 1 },
    });
  });

  it('a float32 input with a float64 out (or the reverse) is js\'s job too', () => {
    const backend = nativeBackend({ name: 'native-mixed' });
    const a = random(12), b = Float64Array.from(random(12));
    const expected = new Float64Array(12), actual = new Float64Array(12);
    jsBackend.binary('mul', a, [3, 4], b, [3, 4], expected, [3, 4]);
    backend.binary('mul', a, [3, 4], b, [3, 4], actual, [3, 4]);
    expectBitIdentical(actual, expected, 'mixed mul');
  });
});

describe.runIf(built)('two threads', () => {
  it('give the same bits as one thread (row and column cuts, every transpose variant, odd sizes)', () => {
    const one = nativeBackend({ name: 'native-1', threads: 'off' });
    const two = nativeBackend({ name: 'native-2', threads: 'always' });
    expect(two.threads).toBe(2);
    expect(one.threads).toBe(1);
    // column cuts (m < 2 micro-tiles), row cuts over one shared packing of B (several k and n blocks: 2100 > N_C)
    for (const [m, k, n] of [[2, 5, 3], [3, 7, 40], [61, 300, 17], [13, 290, 200], [300, 40, 7], [150, 257, 150], [14, 520, 2100]] as const) {
      for (const tA of [false, true]) for (const tB of [false, true]) {
        const a = random(m * k), b = random(k * n);
        const c1 = new Float32Array(m * n), c2 = new Float32Array(m * n).fill(NaN);
        one.matmul(a, b, c1, m, k, n, tA, tB);
        two.matmul(a, b, c2, m, k, n, tA, tB);
        expectBitIdentical(c2, c1, `${m}×${k}×${n} tA=${tA} tB=${tB}`);
      }
    }
    // small products (B ≤ 64 KiB) skip packing on one thread, in k blocks when k > 256 (T3's
    // 30×784×10: four of 196; 600: three of 200); the row cut of two threads packs B for both:
    // the same bits
    for (const [m, k, n] of [[12, 1, 1], [13, 7, 17], [64, 32, 64], [100, 256, 64], [37, 200, 33], [18, 64, 256], [30, 784, 10], [19, 600, 21], [13, 257, 3]] as const) {
      for (const tA of [false, true]) for (const tB of [false, true]) {
        const a = random(m * k), b = random(k * n);
        const c1 = new Float32Array(m * n), c2 = new Float32Array(m * n).fill(NaN);
        one.matmul(a, b, c1, m, k, n, tA, tB);
        two.matmul(a, b, c2, m, k, n, tA, tB);
        expectBitIdentical(c2, c1, `${m}×${k}×${n} tA=${tA} tB=${tB} (in place vs packed)`);
      }
    }
    expectMatmulClose(two, random(200 * 300), random(300 * 100), 200, 300, 100, false, true);
    // every split product is counted, with the blocks each thread took
    const stats = two.threadStats();
    expect(stats.twoThreadCalls).toBeGreaterThanOrEqual(7 * 4);
    expect(stats.blocks).toBeGreaterThanOrEqual(2 * stats.twoThreadCalls);
    expect(stats.workerBlocks).toBeLessThanOrEqual(stats.blocks);
  });
});

describe.runIf(built)('two threads, batched', () => {
  it('give the same bits as one thread: split by whole products (2 and ≥ 4 of them) or inside each (1 and 3)', () => {
    const one = nativeBackend({ name: 'native-batch-1', threads: 'off' });
    const two = nativeBackend({ name: 'native-batch-2', threads: 'always' });
    const before = two.threadStats().twoThreadCalls;
    let calls = 0;
    for (const [count, m, k, n] of [[1, 61, 300, 17], [2, 13, 290, 40], [3, 30, 40, 7], [5, 17, 33, 9], [32, 64, 32, 64], [70, 3, 5, 2]] as const) {
      for (const tA of [false, true]) for (const tB of [false, true]) {
        const each = Array.from({ length: count }, (_, i) => i);
        const c = batchCase(m, k, n, tA, tB, each.map((i) => i % 3), each);
        const c1 = new Float32Array(count * m * n), c2 = new Float32Array(count * m * n).fill(NaN);
        one.matmulBatched(c.a, c.b, c1, m, k, n, tA, tB, c.aOffsets, c.bOffsets);
        two.matmulBatched(c.a, c.b, c2, m, k, n, tA, tB, c.aOffsets, c.bOffsets);
        expectBitIdentical(c2, c1, `${count} × ${m}×${k}×${n} tA=${tA} tB=${tB}`);
        calls += count === 2 || count >= 4 ? 1 : count;
      }
    }
    expectBatchedClose(two, batchCase(64, 576, 96, false, false, [0, 0, 0, 0], [0, 1, 2, 3]));
    // one split per batch of 2 or ≥ 4 products, one per product otherwise
    expect(two.threadStats().twoThreadCalls - before).toBeGreaterThanOrEqual(calls + 1);
  });
});

describe.runIf(built)('the addon checks what it is given', () => {
  it('throws TypeError/RangeError instead of reading or writing out of bounds', () => {
    const backend = nativeBackend({ name: 'native-errors' });
    const a = random(6), b = random(6);
    expect(() => backend.matmul(a, b, new Float32Array(3), 2, 3, 2, false, false)).toThrow(RangeError);
    expect(() => backend.matmul(a, b, new Float32Array(3), 2, 3, 2, false, false)).toThrow(/out has 3 elements, needs 4/);
    expect(() => backend.matmul(a.subarray(0, 5), b, new Float32Array(4), 2, 3, 2, false, false)).toThrow(/a has 5 elements, needs 6/);
    expect(() => backend.unary('exp', a, new Float32Array(2), 0)).toThrow(/out has 2 elements, needs 6/);
    // out overlapping an input (not the in-place case the contract allows)
    const buffer = random(20);
    expect(() => backend.matmul(buffer.subarray(0, 4), b.subarray(0, 4), buffer.subarray(2, 6), 2, 2, 2, false, false)).toThrow(/share memory/);
    expect(() => backend.unary('neg', buffer.subarray(0, 8), buffer.subarray(1, 9), 0)).toThrow(/overlaps/);
    expect(() => backend.binary('add', buffer.subarray(0, 8), [8], buffer.subarray(0, 1), [1], buffer.subarray(0, 8), [8])).toThrow(/overlaps/);
    const g = { N: 1, C: 1, H: 3, W: 3, kH: 2, kW: 2, strideH: 1, strideW: 1, padH: 0, padW: 0, dilationH: 1, dilationW: 1, outH: 2, outW: 2 };
    expect(() => backend.unfold(random(9), g, 0, new Float32Array(15), false)).toThrow(/out has 15 elements, needs 16/);
    expect(() => backend.fold(random(16), { ...g, H: 4 }, new Float32Array(9), true)).toThrow(/out has 9 elements, needs 12/);
    expect(() => backend.unfold(random(9), { ...g, strideW: 0 }, 0, new Float32Array(16), false)).toThrow(/strides and dilations/);
    expect(() => backend.maxPoolScatter(random(4), random(9), g, new Float32Array(8))).toThrow(/out has 8 elements, needs 9/);
    // and nothing was written by the refused calls
    expect(buffer[2]).not.toBe(0);
  });

  it('matmulBatched refuses an offset that puts a matrix outside its array, before reading or writing anything', () => {
    const backend = nativeBackend({ name: 'native-batch-errors' });
    const a = random(12), b = random(12), out = new Float32Array(12).fill(7);
    const run = (aOffsets: number[], bOffsets: number[], target = out) =>
      backend.matmulBatched(a, b, target, 2, 3, 2, false, false, Int32Array.from(aOffsets), Int32Array.from(bOffsets));
    expect(() => run([0, 7, 0], [0, 0, 0])).toThrow(RangeError);
    expect(() => run([0, 7, 0], [0, 0, 0])).toThrow(/aOffsets\[1\] = 7 puts a 6-element matrix at \[7, 13\), outside a's 12 elements/);
    expect(() => run([0, 0, 0], [0, 0, -1])).toThrow(/bOffsets\[2\] = -1/);
    expect(() => run([0, 0], [0, 0, 0])).toThrow(/aOffsets has 2 entries but bOffsets 3/);
    expect(() => run([0, 0, 6], [0, 6, 6], new Float32Array(11))).toThrow(/out has 11 elements, needs 12/);
    expect(() => backend.matmulBatched(a, b, a.subarray(6), 1, 3, 2, false, false, Int32Array.of(0), Int32Array.of(0))).not.toThrow();
    expect(() => backend.matmulBatched(a, b, a.subarray(4, 8), 2, 3, 2, false, false, Int32Array.of(0), Int32Array.of(0))).toThrow(/share memory/);
    expect(() => backend.matmulBatched(a, b, out, 2, 3, 2, false, false, [0] as unknown as Int32Array, Int32Array.of(0))).toThrow(/aOffsets must be an Int32Array/);
    expect(Array.from(out)).toEqual(new Array(12).fill(7));
  });
});
