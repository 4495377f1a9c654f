import { type Backend, type BinaryKernel, type ConvGeometry, type UnaryKernel, createRng, jsBackend } from '@tapegrad/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createWasmBackend, enableRelaxedSimd } from '../src/index.js';

/**
 * Every wasm kernel against jsBackend, the oracle, on seeded random float32 data.
 *
 * Tolerances, and why:
 * - matmul: each C[i,j] is a k-term dot product; js sums it in float64, wasm in float32
 *   (in blocks of K_C, with or without a fused multiply-add). Rounding errors of a
 *   k-term sum grow like √k·u·Σ|aᵢbᵢ| (u = 2⁻²⁴, the unit roundoff; Higham, "Accuracy and
 *   Stability of Numerical Algorithms", §2.8 and §3.1), so we allow
 *   |wasm − js| ≤ 2·√k·u·Σₚ|A[i,p]·B[p,j]|: room for both sides' errors. With random signs
 *   the errors are far smaller still (the largest ratio seen is 0.04, see the last test).
 *   A wrong element or a dropped term misses by ≈ Σ|ab|/k: over 20× the bound at k = 784.
 * - exp, sigmoid and softplus: polynomials, not the libm js calls: ≤ 2 ulp measured, 4 ulp
 *   allowed. erf: polynomials in float64, rounded once: ≤ 1 ulp from js's float64 erf.
 *   log1p, sin, cos: AssemblyScript's Math (musl, float64) against V8's (fdlibm), each
 *   rounded once: ≤ 1 ulp (both are within a float64 ulp of the true value).
 * - everything else (relu, step, floor, ceil, round, isNaN, isFinite, add/sub/mul/div,
 *   maximum/minimum, the activation gradients, column sums, unfold, fold) does the same
 *   float32 operations as js, in js's order: bit-identical. Sums ending on the last axis accumulate in float64
 *   (js does per innermost row): within 1 ulp of the float64 sum.
 * - float64 is delegated to jsBackend: bit-identical by construction, checked anyway.
 */

const u = 2 ** -24;

const relaxedAvailable = enableRelaxedSimd();
// smallCallsInJs: false, so that every size here runs the wasm kernels (the default hands
// calls below a few dozen elements to js: tested at the end)
const backends: Backend[] = [
  createWasmBackend({ variant: 'simd', name: 'wasm-simd', smallCallsInJs: false }),
  ...(relaxedAvailable ? [createWasmBackend({ variant: 'relaxed-simd', name: 'wasm-relaxed', smallCallsInJs: false })] : []),
];

const rng = createRng(20240607);
function random(n: number, scale = 2): Float32Array {
  return Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * scale);
}

/** C[i,j] and Σₚ|A[i,p]·B[p,j]| in float64, for the tolerance. */
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

/** Largest |wasm − js| / (√k·u·Σ|ab|) over C: must stay ≤ 2. */
function matmulErrorRatio(backend: Backend, m: number, k: number, n: number, tA: boolean, tB: boolean): number {
  const a = random(m * k), b = random(k * n);
  const expected = new Float32Array(m * n), actual = new Float32Array(m * n).fill(NaN);
  jsBackend.matmul(a, b, expected, m, k, n, tA, tB);
  backend.matmul(a, b, actual, m, k, n, tA, tB);
  const mag = magnitudes(a, b, m, k, n, tA, tB);
  let worst = 0;
  for (let i = 0; i < m * n; i++) {
    const scale = Math.sqrt(k) * u * mag[i];
    const ratio = Math.abs(actual[i] - expected[i]) / (scale || 1);
    if (!(ratio <= 2)) throw new Error(`C[${Math.floor(i / n)},${i % n}] = ${actual[i]}, js ${expected[i]}, allowed ±${2 * scale}`);
    worst = Math.max(worst, ratio);
  }
  return worst;
}

/**
 * A batch as core's matmul lays it out: matrices of a read at `aOffsets` (repeats: a
 * broadcast operand read in place), likewise for b; `pad` unused elements before the first
 * matrix, so that offsets need not start at 0.
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

/** Runs the batch on `backend` (into an out filled with NaN) and checks each product against js within the matmul bound (2·√k·u·Σ|ab|). */
function expectBatchedClose(backend: Backend, c: BatchCase): Float32Array {
  const { a, b, aOffsets, bOffsets, m, k, n, tA, tB } = c;
  const count = aOffsets.length, cSize = m * n;
  const expected = new Float32Array(count * cSize), actual = new Float32Array(count * cSize).fill(NaN);
  jsBackend.matmulBatched(a, b, expected, m, k, n, tA, tB, aOffsets, bOffsets);
  backend.matmulBatched(a, b, actual, m, k, n, tA, tB, aOffsets, bOffsets);
  for (let p = 0; p < count; p++) {
    const mag = magnitudes(a.subarray(aOffsets[p], aOffsets[p] + m * k), b.subarray(bOffsets[p], bOffsets[p] + k * n), m, k, n, tA, tB);
    for (let i = 0; i < cSize; i++) {
      const allowed = 2 * Math.sqrt(k) * u * mag[i], at = p * cSize + i;
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
  if (Math.sign(x) !== Math.sign(y)) return Infinity;
  return Math.abs(f32Bits(x) - f32Bits(y));
}

function expectBitIdentical(actual: ArrayLike<number>, expected: ArrayLike<number>): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) throw new Error(`element ${i}: ${actual[i]}, expected ${expected[i]} exactly`);
  }
}

function expectUlps(actual: ArrayLike<number>, expected: ArrayLike<number>, allowed: number, inputs?: ArrayLike<number>): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const d = ulps(actual[i], expected[i]);
    // subnormal results carry fewer bits: compare them absolutely, to the smallest normal's ulp
    const tiny = Math.abs(expected[i]) < 2 ** -126 && Math.abs(actual[i] - expected[i]) <= allowed * 2 ** -149;
    if (d > allowed && !tiny) throw new Error(`element ${i}${inputs ? ` (x = ${inputs[i]})` : ''}: ${actual[i]}, expected ${expected[i]} (${d} ulp)`);
  }
}

for (const backend of backends) {
  const variant = (backend as { variant?: string }).variant;

  describe(`${variant} build: matmul against js`, () => {
    const sizes: Array<[number, number, number]> = [
      [1, 1, 1], [5, 3, 7], [17, 33, 9], [4, 8, 8], [3, 1, 11], [1, 300, 1], [9, 257, 31],
      [64, 784, 128], [128, 64, 784], [130, 520, 67],
    ];
    for (const [m, k, n] of sizes) {
      for (const tA of [false, true]) {
        for (const tB of [false, true]) {
          it(`${m}×${k}×${n}${tA ? ' Aᵀ' : ''}${tB ? ' Bᵀ' : ''}`, () => {
            expect(matmulErrorRatio(backend, m, k, n, tA, tB)).toBeLessThanOrEqual(2);
          });
        }
      }
    }

    it('crosses the N_C = 2048 column block and several K_C blocks (7×600×2053)', () => {
      expect(matmulErrorRatio(backend, 7, 600, 2053, false, true)).toBeLessThanOrEqual(2);
    });

    it('empty products: k = 0 gives zeros, m = 0 or n = 0 writes nothing', () => {
      const out = new Float32Array(6).fill(7);
      backend.matmul(new Float32Array(0), new Float32Array(0), out, 2, 0, 3, false, false);
      expectBitIdentical(out, new Float32Array(6));
      const none = new Float32Array(0);
      backend.matmul(new Float32Array(0), random(12), none, 0, 4, 3, false, false);
      backend.matmul(random(8), new Float32Array(0), none, 2, 4, 0, false, false);
    });

    it('keeps no state between calls: a big call, then a small one, then the big one again', () => {
      for (const [m, k, n] of [[200, 300, 100], [3, 5, 2], [200, 300, 100]] as const) {
        expect(matmulErrorRatio(backend, m, k, n, true, false)).toBeLessThanOrEqual(2);
      }
    });

    it('matmulBatched: broadcast and repeated offsets, all four transpose variants, edge sizes; bit for bit the loop of single products', () => {
      const sizes: [number, number, number][] = [[1, 1, 1], [5, 3, 7], [4, 8, 8], [7, 17, 15], [64, 32, 64], [13, 300, 37]];
      for (const [m, k, n] of sizes) {
        for (const tA of [false, true]) for (const tB of [false, true]) {
          for (const [pattern, aIndex, bIndex] of batchPatterns(m * k * n > 10000 ? 3 : 5)) {
            const c = batchCase(m, k, n, tA, tB, aIndex, bIndex, pattern === 'reversed' ? 3 : 0);
            const actual = expectBatchedClose(backend, c);
            // each product is the single-product kernel's own result
            const single = new Float32Array(m * n);
            for (let p = 0; p < aIndex.length; p++) {
              backend.matmul(c.a.subarray(c.aOffsets[p], c.aOffsets[p] + m * k), c.b.subarray(c.bOffsets[p], c.bOffsets[p] + k * n), single, m, k, n, tA, tB);
              expectBitIdentical(actual.subarray(p * m * n, (p + 1) * m * n), single);
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
          expectBitIdentical(viaPacked, direct);
        }
      }
    });

    it('matmulBatched with k = 0 writes zeros, with no products or m = 0 writes nothing', () => {
      const out = new Float32Array(12).fill(7);
      backend.matmulBatched(new Float32Array(0), new Float32Array(0), out, 2, 0, 3, false, true, new Int32Array(2), new Int32Array(2));
      expectBitIdentical(out, new Float32Array(12));
      const untouched = new Float32Array(4).fill(7);
      backend.matmulBatched(random(6), random(6), untouched, 2, 3, 2, false, false, new Int32Array(0), new Int32Array(0));
      backend.matmulBatched(new Float32Array(0), random(6), untouched, 0, 3, 2, false, false, Int32Array.of(0, 0), Int32Array.of(0, 0));
      expectBitIdentical(untouched, [7, 7, 7, 7]);
    });

    it('matmulBatched refuses an offset that puts a matrix outside its array, before writing anything', () => {
      const a = random(12), b = random(12), out = new Float32Array(12).fill(7);
      const run = (aOffsets: number[], bOffsets: number[], target = out) =>
        backend.matmulBatched(a, b, target, 2, 3, 2, false, false, Int32Array.from(aOffsets), Int32Array.from(bOffsets));
      expect(() => run([0, 7, 0], [0, 0, 0])).toThrow(RangeError);
      expect(() => run([0, 7, 0], [0, 0, 0])).toThrow(/aOffsets\[1\] = 7 puts a 6-element matrix at \[7, 13\), outside a's 12 elements/);
      expect(() => run([0, 0, 0], [0, 0, -1])).toThrow(/bOffsets\[2\] = -1/);
      expect(() => run([0, 0], [0, 0, 0])).toThrow(/aOffsets has 2 entries but bOffsets 3/);
      expect(() => run([0, 0, 6], [0, 6, 6], new Float32Array(11))).toThrow(/out has 11 elements, needs 12/);
      expectBitIdentical(out, new Array(12).fill(7));
    });

    it('propagates NaN and Inf as js does', () => {
      const a = random(4 * 6), b = random(6 * 5);
      a[7] = NaN;
      b[11] = Infinity;
      const expected = new Float32Array(20), actual = new Float32Array(20);
      jsBackend.matmul(a, b, expected, 4, 6, 5, false, false);
      backend.matmul(a, b, actual, 4, 6, 5, false, false);
      for (let i = 0; i < 20; i++) {
        expect(Number.isNaN(actual[i])).toBe(Number.isNaN(expected[i]));
        if (!Number.isFinite(expected[i])) expect(actual[i]).toBe(expected[i]);
      }
    });
  });

  describe(`${variant} build: element-wise and sums against js`, () => {
    const specials = Float32Array.of(NaN, Infinity, -Infinity, 0, -0, 1e-30, -1e-30, 88.72, 88.73, -87.3, -103.9, -104, -200, 15.5, -15.5, 3e38);
    const lengths = [1, 3, 4, 5, 17, 1000, 4099];

    for (const kernel of ['relu', 'step', 'floor', 'ceil', 'round', 'isNaN', 'isFinite'] as const) {
      it(`${kernel}: bit-identical, specials included`, () => {
        for (const n of lengths) {
          const x = random(n, 10);
          // halves every third element: round's ties (to even), floor's and ceil's exact cases
          for (let i = 0; i < n; i += 3) x[i] = Math.round(x[i] * 2) / 2;
          const expected = new Float32Array(n), actual = new Float32Array(n);
          jsBackend.unary(kernel, x, expected, 0);
          backend.unary(kernel, x, actual, 0);
          expectBitIdentical(actual, expected);
        }
        const expected = new Float32Array(specials.length), actual = new Float32Array(specials.length);
        jsBackend.unary(kernel, specials, expected, 0);
        backend.unary(kernel, specials, actual, 0);
        expectBitIdentical(actual, expected);
      });
    }

    for (const kernel of ['exp', 'sigmoid', 'softplus'] as const) {
      it(`${kernel}: within 4 ulp over [−110, 90] and at the specials (NaN, ±Inf, ±0, overflow, subnormals)`, () => {
        const n = 200_001;
        const x = Float32Array.from({ length: n }, (_, i) => -110 + (200 * i) / (n - 1));
        for (const input of [x, specials, random(4099, 20)]) {
          const expected = new Float32Array(input.length), actual = new Float32Array(input.length);
          jsBackend.unary(kernel, input, expected, 0);
          backend.unary(kernel, input, actual, 0);
          expectUlps(actual, expected, 4, input);
        }
      });
    }

    it('erf: within 1 ulp of js\'s float64 erf rounded, over [−6, 6] (both seams of its three pieces) and at the specials', () => {
      const n = 200_001;
      const x = Float32Array.from({ length: n }, (_, i) => -6 + (12 * i) / (n - 1));
      const seams = Float32Array.from([0.9, 3.95].flatMap((s) => [s, -s, Math.fround(s) * (1 - 2 ** -23), Math.fround(s) * (1 + 2 ** -23)]));
      for (const input of [x, seams, specials, random(4099, 4)]) {
        const expected = new Float32Array(input.length), actual = new Float32Array(input.length);
        jsBackend.unary('erf', input, expected, 0);
        backend.unary('erf', input, actual, 0);
        expectUlps(actual, expected, 1, input);
      }
    });

    // log1p's domain starts at −1 (−1 → −∞, below → NaN); sin and cos reduce arguments up to
    // 3·10³⁸ (float32's largest), where the float64 reduction matters
    const mathRanges: Record<'log1p' | 'sin' | 'cos', [number, number]> = { log1p: [-1, 100], sin: [-100, 100], cos: [-100, 100] };
    for (const kernel of ['log1p', 'sin', 'cos'] as const) {
      it(`${kernel}: within 1 ulp of js (Math's float64 ${kernel} rounded) over [${mathRanges[kernel]}], tiny, huge and special inputs`, () => {
        const [lo, hi] = mathRanges[kernel], n = 100_001;
        const x = Float32Array.from({ length: n }, (_, i) => lo + ((hi - lo) * i) / (n - 1));
        const extremes = Float32Array.of(-1, Math.fround(-1 + 2 ** -24), -0.999, -0.5, 1e-8, -1e-8, 2 ** -126, 2 ** -149, -(2 ** -149), 1e4, -1e4, 123456.7, 1e6, 8.5e7, 1e20, -1e30, 3e38, -3.4e38, -1.5, -2);
        for (const input of [x, extremes, specials, random(4099, 1e3)]) {
          const expected = new Float32Array(input.length), actual = new Float32Array(input.length);
          jsBackend.unary(kernel, input, expected, 0);
          backend.unary(kernel, input, actual, 0);
          expectUlps(actual, expected, 1, input);
        }
      });
    }

    it('delegates the other unary kernels to js (bit-identical)', () => {
      const x = random(101, 3);
      for (const kernel of ['neg', 'log', 'tanh', 'sqrt', 'abs', 'sign', 'powScalar', 'expm1'] as UnaryKernel[]) {
        const expected = new Float32Array(101), actual = new Float32Array(101);
        jsBackend.unary(kernel, x, expected, 3);
        backend.unary(kernel, x, actual, 3);
        expectBitIdentical(actual, expected);
      }
    });

    // [a's shape, b's shape, out shape]: the cases the kernel reads directly, then ones it
    // hands to js (mixed broadcast axes)
    const shapes: Array<[number[], number[], number[]]> = [
      [[7], [7], [7]], [[13, 9], [13, 9], [13, 9]],
      [[13, 9], [1, 9], [13, 9]], [[13, 9], [9], [13, 9]], [[1, 9], [13, 9], [13, 9]],
      [[13, 9], [13, 1], [13, 9]], [[13, 1], [13, 9], [13, 9]],
      [[13, 9], [], [13, 9]], [[1], [13, 9], [13, 9]], [[], []  , []],
      [[13, 1], [1, 9], [13, 9]], [[1, 9], [13, 1], [13, 9]],
      [[2, 3, 5], [3, 5], [2, 3, 5]], [[2, 3, 5], [2, 1, 1], [2, 3, 5]], [[2, 3, 5], [2, 3, 1], [2, 3, 5]],
      [[64, 128], [1, 128], [64, 128]], [[256, 1030], [256, 1], [256, 1030]],
      [[2, 3, 5], [3, 1], [2, 3, 5]], [[2, 1, 5], [1, 3, 1], [2, 3, 5]], [[4, 1, 6], [4, 5, 6], [4, 5, 6]],
    ];
    const size = (s: number[]) => s.reduce((p, d) => p * d, 1);
    for (const kernel of ['add', 'sub', 'mul', 'div', 'greater', 'equal', 'maximum', 'minimum'] as BinaryKernel[]) {
      it(`${kernel}: bit-identical for every broadcast pattern`, () => {
        for (const [aShape, bShape, outShape] of shapes) {
          const a = random(size(aShape)), b = random(size(bShape));
          if (kernel === 'equal' || kernel === 'maximum' || kernel === 'minimum') b.set(a.subarray(0, Math.min(a.length, b.length) >> 1));
          // NaN on either side, and ±0 against ∓0 (ties: a is picked)
          if (kernel === 'maximum' || kernel === 'minimum') {
            a.set([NaN, 1, -0, 0].slice(0, a.length));
            b.set([2, NaN, 0, -0].slice(0, b.length));
          }
          const expected = new Float32Array(size(outShape)), actual = new Float32Array(size(outShape)).fill(NaN);
          jsBackend.binary(kernel, a, aShape, b, bShape, expected, outShape);
          backend.binary(kernel, a, aShape, b, bShape, actual, outShape);
          expectBitIdentical(actual, expected);
        }
      });
    }

    it('sigmoidGrad, tanhGrad, reluGrad: bit-identical to js (and so to the mul/sub kernels), specials and in place included', () => {
      for (const kernel of ['sigmoidGrad', 'tanhGrad', 'reluGrad'] as BinaryKernel[]) {
        for (const n of [...lengths, specials.length]) {
          const y = n === specials.length ? specials : random(n, kernel === 'reluGrad' ? 3 : 1.2);
          const dy = random(n, 3);
          if (n === specials.length) dy.set([1, -2, NaN, Infinity, -Infinity, 0.5, -0, 2, 3, 1e-30, 7, 1, 1, -1, 2, 1]);
          const expected = new Float32Array(n), actual = new Float32Array(n).fill(NaN);
          jsBackend.binary(kernel, y, [n], dy, [n], expected, [n]);
          backend.binary(kernel, y, [n], dy, [n], actual, [n]);
          expectBitIdentical(actual, expected);
          const inPlace = dy.slice();
          backend.binary(kernel, y, [n], inPlace, [n], inPlace, [n]);
          expectBitIdentical(inPlace, expected);
        }
      }
    });

    it('subScaled (y − s·x): bit-identical to the mul then sub kernels, in place over y or x too', () => {
      for (const n of [...lengths, specials.length]) {
        const y = n === specials.length ? specials : random(n, 3), x = random(n, 5);
        for (const s of [0.1, 0.3, -2, 1e-3]) {
          const scaled = new Float32Array(n), expected = new Float32Array(n);
          jsBackend.binary('mul', x, [n], Float32Array.of(s), [], scaled, [n]);
          jsBackend.binary('sub', y, [n], scaled, [n], expected, [n]);
          const actual = new Float32Array(n).fill(NaN);
          backend.subScaled(y, x, s, actual);
          expectBitIdentical(actual, expected);
          const overY = y.slice(), overX = x.slice();
          backend.subScaled(overY, x, s, overY);
          backend.subScaled(y, overX, s, overX);
          expectBitIdentical(overY, expected);
          expectBitIdentical(overX, expected);
        }
      }
    });

    it('div by zero and NaN operands: bit-identical', () => {
      const a = Float32Array.of(1, -1, 0, NaN, Infinity, 2, 3, 4), b = Float32Array.of(0, 0, 0, 1, Infinity, -0, NaN, 2);
      for (const kernel of ['add', 'sub', 'mul', 'div'] as const) {
        const expected = new Float32Array(8), actual = new Float32Array(8);
        jsBackend.binary(kernel, a, [8], b, [8], expected, [8]);
        backend.binary(kernel, a, [8], b, [8], actual, [8]);
        expectBitIdentical(actual, expected);
      }
    });

    // [shape, axes]: rows, columns, middle axes, all, and a non-contiguous set (js)
    const reductions: Array<[number[], number[]]> = [
      [[13, 9], [1]], [[13, 9], [0]], [[13, 9], [0, 1]], [[1000], [0]], [[4099], [0]], [[1], [0]],
      [[2, 3, 5], [1]], [[2, 3, 5], [1, 2]], [[2, 3, 5], [0, 1]], [[4, 6, 7, 3], [1, 2]], [[2, 3, 5], [0, 2]],
      [[64, 128], [0]], [[256, 1030], [1]], [[3, 0, 4], [1]], [[0, 5], [0]],
    ];
    for (const [shape, axes] of reductions) {
      it(`sum over axes [${axes}] of [${shape}]`, () => {
        const x = random(size(shape));
        const outSize = size(shape.map((d, i) => (axes.includes(i) ? 1 : d)));
        const expected = new Float32Array(outSize), actual = new Float32Array(outSize).fill(NaN);
        jsBackend.reduce('sum', x, shape, axes, expected);
        backend.reduce('sum', x, shape, axes, actual);
        const contiguous = axes.every((a, i) => i === 0 || a === axes[i - 1] + 1);
        // column sums (and non-contiguous axes, which go to js) repeat js's float32 additions
        if (!contiguous || axes[axes.length - 1] !== shape.length - 1) {
          expectBitIdentical(actual, expected);
          return;
        }
        // Sums that end on the last axis: js adds each innermost row in float64 but rounds
        // the running total to float32 after every row; wasm keeps float64 throughout.
        // So wasm is within 1 ulp of the float64 sum, and js within its own bound of wasm.
        const reduced = size(shape) / Math.max(outSize, 1), rowsPerOutput = reduced / shape[shape.length - 1];
        const exact = new Float64Array(outSize), magnitude = new Float64Array(outSize);
        const outer = size(shape.slice(0, axes[0]));
        for (let o = 0; o < outer; o++) {
          for (let r = 0; r < reduced; r++) {
            exact[o] += x[o * reduced + r];
            magnitude[o] += Math.abs(x[o * reduced + r]);
          }
        }
        expectUlps(actual, Float32Array.from(exact), 1);
        for (let o = 0; o < outSize; o++) {
          expect(Math.abs(actual[o] - expected[o])).toBeLessThanOrEqual((rowsPerOutput + 1) * u * magnitude[o]);
        }
      });
    }

    it('max reductions are delegated to js (bit-identical, NaN wins)', () => {
      const x = random(60);
      x[17] = NaN;
      for (const axes of [[0], [1], [0, 1]]) {
        const outSize = axes.length === 2 ? 1 : axes[0] === 0 ? 12 : 5;
        const expected = new Float32Array(outSize), actual = new Float32Array(outSize);
        jsBackend.reduce('max', x, [5, 12], axes, expected);
        backend.reduce('max', x, [5, 12], axes, actual);
        expectBitIdentical(actual, expected);
      }
    });
  });

  describe(`${variant} build: unfold and fold (im2col, col2im) against js`, () => {
    /** Runs both kernels on one geometry, wasm against js, bit for bit (Object.is: −0, NaN, ±∞ count). */
    function checkGeometry(g: ConvGeometry, padValue: number, scale = 2): void {
      const image = random(g.N * g.C * g.H * g.W, scale), cols = g.N * g.C * g.kH * g.kW * g.outH * g.outW;
      for (const batched of [false, true]) {
        const expected = new Float32Array(cols), actual = new Float32Array(cols).fill(NaN);
        jsBackend.unfold(image, g, padValue, expected, batched);
        backend.unfold(image, g, padValue, actual, batched);
        expectBitIdentical(actual, expected);
        const columns = random(cols, scale), foldedJs = new Float32Array(image.length), folded = new Float32Array(image.length).fill(NaN);
        jsBackend.fold(columns, g, foldedJs, batched);
        backend.fold(columns, g, folded, batched);
        expectBitIdentical(folded, foldedJs);
      }
    }

    it('bit-identical on random geometries (strides, paddings, dilations, windows past the image, a −∞ pad)', () => {
      fc.assert(fc.property(
        fc.record({
          N: fc.integer({ min: 1, max: 2 }), C: fc.integer({ min: 1, max: 3 }), H: fc.integer({ min: 1, max: 9 }), W: fc.integer({ min: 1, max: 11 }),
          kH: fc.integer({ min: 1, max: 4 }), kW: fc.integer({ min: 1, max: 4 }), strideH: fc.integer({ min: 1, max: 3 }), strideW: fc.integer({ min: 1, max: 3 }),
          padH: fc.integer({ min: 0, max: 3 }), padW: fc.integer({ min: 0, max: 3 }), dilationH: fc.integer({ min: 1, max: 3 }), dilationW: fc.integer({ min: 1, max: 3 }),
          outH: fc.integer({ min: 1, max: 8 }), outW: fc.integer({ min: 1, max: 10 }),
        }),
        fc.constantFrom(0, -Infinity),
        // outH/outW drawn freely: the far side's padding differs from the near side's
        // (asymmetric), and windows entirely past the image read padding only (fold drops them)
        (g, padValue) => checkGeometry(g, padValue),
      ), { numRuns: 200, seed: 42 });
    });

    it('bit-identical on conv-sized geometries (3×3 pad 1, 5×5 stride 2, 2×2 pool, rows of 37 crossing the 4-float vectors), where fold sums up to 9 terms an element', () => {
      const geometries: ConvGeometry[] = [
        { N: 2, C: 5, H: 16, W: 37, kH: 3, kW: 3, strideH: 1, strideW: 1, padH: 1, padW: 1, dilationH: 1, dilationW: 1, outH: 16, outW: 37 },
        { N: 1, C: 3, H: 23, W: 29, kH: 5, kW: 5, strideH: 2, strideW: 2, padH: 2, padW: 2, dilationH: 1, dilationW: 1, outH: 12, outW: 15 },
        { N: 3, C: 4, H: 12, W: 12, kH: 2, kW: 2, strideH: 2, strideW: 2, padH: 0, padW: 0, dilationH: 1, dilationW: 1, outH: 6, outW: 6 },
        { N: 1, C: 2, H: 20, W: 21, kH: 3, kW: 3, strideH: 1, strideW: 1, padH: 2, padW: 2, dilationH: 2, dilationW: 2, outH: 20, outW: 21 },
      ];
      for (const g of geometries) {
        checkGeometry(g, 0, 1e3);
        checkGeometry(g, -Infinity);
      }
    });

    it('NaN and ±∞ in the image and the columns: bit-identical', () => {
      const g: ConvGeometry = { N: 1, C: 2, H: 5, W: 6, kH: 3, kW: 2, strideH: 1, strideW: 2, padH: 1, padW: 1, dilationH: 1, dilationW: 1, outH: 5, outW: 4 };
      const image = random(60), cols = new Float32Array(2 * 6 * 20).map((_, i) => [NaN, Infinity, -Infinity, -0, 1.5][i % 5]);
      image[3] = NaN; image[17] = Infinity; image[40] = -Infinity; image[41] = -0;
      const expected = new Float32Array(cols.length), actual = new Float32Array(cols.length);
      jsBackend.unfold(image, g, -Infinity, expected, false);
      backend.unfold(image, g, -Infinity, actual, false);
      expectBitIdentical(actual, expected);
      const foldedJs = new Float32Array(60), folded = new Float32Array(60);
      jsBackend.fold(cols, g, foldedJs, false);
      backend.fold(cols, g, folded, false);
      expectBitIdentical(folded, foldedJs);
    });

    it('keeps no state between calls: a large fold, then a small one, then the large one again', () => {
      const large: ConvGeometry = { N: 2, C: 8, H: 24, W: 24, kH: 3, kW: 3, strideH: 1, strideW: 1, padH: 1, padW: 1, dilationH: 1, dilationW: 1, outH: 24, outW: 24 };
      const small: ConvGeometry = { N: 1, C: 1, H: 3, W: 3, kH: 2, kW: 2, strideH: 1, strideW: 1, padH: 0, padW: 0, dilationH: 1, dilationW: 1, outH: 2, outW: 2 };
      for (const g of [large, small, large]) checkGeometry(g, 0);
    });

    it('float64 is js\'s, bit for bit', () => {
      const g: ConvGeometry = { N: 1, C: 2, H: 6, W: 7, kH: 3, kW: 3, strideH: 2, strideW: 1, padH: 1, padW: 2, dilationH: 1, dilationW: 2, outH: 3, outW: 5 };
      const image = Float64Array.from(random(84)), cols = Float64Array.from(random(2 * 9 * 15));
      const expected = new Float64Array(cols.length), actual = new Float64Array(cols.length);
      jsBackend.unfold(image, g, 0, expected, false);
      backend.unfold(image, g, 0, actual, false);
      expectBitIdentical(actual, expected);
      const foldedJs = new Float64Array(84), folded = new Float64Array(84);
      jsBackend.fold(cols, g, foldedJs, false);
      backend.fold(cols, g, folded, false);
      expectBitIdentical(folded, foldedJs);
    });
  });

  describe(`${variant} build: float64 is js, bit for bit`, () => {
    const r64 = (n: number) => Float64Array.from(random(n), (v, i) => v + i * 1e-12);
    it('matmul, all four transpose variants', () => {
      for (const [m, k, n] of [[5, 3, 7], [17, 33, 9], [64, 100, 32]]) {
        for (const tA of [false, true]) {
          for (const tB of [false, true]) {
            const a = r64(m * k), b = r64(k * n);
            const expected = new Float64Array(m * n), actual = new Float64Array(m * n);
            jsBackend.matmul(a, b, expected, m, k, n, tA, tB);
            backend.matmul(a, b, actual, m, k, n, tA, tB);
            expectBitIdentical(actual, expected);
          }
        }
      }
    });

    it('unary, binary, reduce, where, transpose, broadcastTo, slice, pad', () => {
      const x = r64(60), y = r64(12);
      for (const kernel of ['relu', 'step', 'exp', 'sigmoid', 'softplus', 'tanh', 'neg'] as UnaryKernel[]) {
        const e = new Float64Array(60), a = new Float64Array(60);
        jsBackend.unary(kernel, x, e, 0);
        backend.unary(kernel, x, a, 0);
        expectBitIdentical(a, e);
      }
      for (const kernel of ['sigmoidGrad', 'tanhGrad', 'reluGrad'] as const) {
        const e = new Float64Array(60), a = new Float64Array(60);
        jsBackend.binary(kernel, x, [60], x.map((v) => v * 3), [60], e, [60]);
        backend.binary(kernel, x, [60], x.map((v) => v * 3), [60], a, [60]);
        expectBitIdentical(a, e);
      }
      for (const kernel of ['add', 'sub', 'mul', 'div'] as const) {
        const e = new Float64Array(60), a = new Float64Array(60);
        jsBackend.binary(kernel, x, [5, 12], y, [1, 12], e, [5, 12]);
        backend.binary(kernel, x, [5, 12], y, [1, 12], a, [5, 12]);
        expectBitIdentical(a, e);
      }
      for (const axes of [[0], [1], [0, 1]]) {
        const outSize = axes.length === 2 ? 1 : axes[0] === 0 ? 12 : 5;
        const e = new Float64Array(outSize), a = new Float64Array(outSize);
        jsBackend.reduce('sum', x, [5, 12], axes, e);
        backend.reduce('sum', x, [5, 12], axes, a);
        expectBitIdentical(a, e);
      }
      const run = (f: (b: Backend, out: Float64Array) => void, n: number) => {
        const e = new Float64Array(n), a = new Float64Array(n);
        f(jsBackend, e);
        f(backend, a);
        expectBitIdentical(a, e);
      };
      const cond = Float64Array.from(x, (v) => (v > 0 ? 1 : 0));
      run((b, out) => b.where(cond, [5, 12], x, [5, 12], y, [1, 12], out, [5, 12]), 60);
      run((b, out) => b.transpose(x, [5, 12], [1, 0], out), 60);
      run((b, out) => b.broadcastTo(y, [1, 12], out, [3, 12]), 36);
      run((b, out) => b.slice(x, [5, 12], [1, 2], out, [3, 4]), 12);
      run((b, out) => b.pad(y, [3, 4], [1, 2], out, [5, 12]), 60);
      run((b, out) => b.subScaled(x, x.map((v) => v * 3), 0.1, out), 60);
    });
  });
}

describe('tolerance check', () => {
  it('the matmul error ratio stays well inside its bound (0.04 seen; bound 2)', () => {
    let worst = 0;
    for (const backend of backends) {
      for (const tB of [false, true]) worst = Math.max(worst, matmulErrorRatio(backend, 64, 784, 128, false, tB));
    }
    expect(worst).toBeLessThan(0.25);
  });
});

// The Backend contract lets unary and binary write over a full-size input (SGD updates
// parameters in place that way): same values as with a separate out, bit for bit.
for (const backend of backends) {
  describe(`${backend.name}: element-wise kernels in place`, () => {
    it('binary into a or b (full, row, column and scalar operands) and unary into x equal jsBackend with a separate out', () => {
      const x = random(5 * 12), full = random(5 * 12), row = random(12), column = random(5), scalar = Float32Array.of(0.1);
      for (const kernel of ['add', 'sub', 'mul', 'div'] as BinaryKernel[]) {
        for (const [b, bShape] of [[full, [5, 12]], [row, [1, 12]], [column, [5, 1]], [scalar, []]] as const) {
          const expected = new Float32Array(60);
          jsBackend.binary(kernel, x, [5, 12], b, bShape, expected, [5, 12]);
          const inPlace = x.slice();
          backend.binary(kernel, inPlace, [5, 12], b, bShape, inPlace, [5, 12]);
          expectBitIdentical(inPlace, expected);
          const expectedRight = new Float32Array(60);
          jsBackend.binary(kernel, b, bShape, x, [5, 12], expectedRight, [5, 12]);
          const right = x.slice();
          backend.binary(kernel, b, bShape, right, [5, 12], right, [5, 12]);
          expectBitIdentical(right, expectedRight);
        }
      }
      for (const kernel of ['relu', 'step'] as UnaryKernel[]) {
        const expected = new Float32Array(60);
        jsBackend.unary(kernel, x, expected, 0);
        const inPlace = x.slice();
        backend.unary(kernel, inPlace, inPlace, 0);
        expectBitIdentical(inPlace, expected);
      }
    });
  });
}

describe('the default backend runs small calls in js and larger ones in wasm, with the same numbers', () => {
  const byDefault = createWasmBackend({ variant: 'simd', name: 'wasm-default', threads: 'off' });
  const everySize = backends[0];
  it('unfold and fold below and above their crossover (128 column elements) equal js bit for bit', () => {
    for (const [H, k] of [[3, 2], [6, 2], [8, 2], [9, 2], [4, 3], [5, 3], [12, 3]]) {
      const g: ConvGeometry = { N: 1, C: 2, H, W: H, kH: k, kW: k, strideH: 1, strideW: 1, padH: 1, padW: 0, dilationH: 1, dilationW: 1, outH: H + 3 - k, outW: H + 1 - k };
      const image = random(2 * H * H), cols = 2 * k * k * g.outH * g.outW;
      const expected = new Float32Array(cols), actual = new Float32Array(cols);
      jsBackend.unfold(image, g, 0, expected, false);
      byDefault.unfold(image, g, 0, actual, false);
      expectBitIdentical(actual, expected);
      const columns = random(cols), foldedJs = new Float32Array(image.length), folded = new Float32Array(image.length);
      jsBackend.fold(columns, g, foldedJs, false);
      byDefault.fold(columns, g, folded, false);
      expectBitIdentical(folded, foldedJs);
    }
  });

  // (a broadcasting add always runs in wasm.) exp and softplus differ from js by a few ulp in wasm, so a call
  // that runs in js gives js's number exactly and one that runs in wasm gives everySize's
  it('element-wise kernels at 1–300 elements equal js below the crossover and the wasm kernels above it', () => {
    for (const n of [1, 3, 7, 15, 16, 40, 63, 64, 95, 96, 111, 112, 127, 128, 300]) {
      const x = random(n, 4), y = random(n, 4), col = random(Math.max(1, n / 5 | 0));
      const cases: Array<[string, (b: Backend, out: Float32Array) => void, number]> = [
        ['exp', (b, out) => b.unary('exp', x, out, 0), 16],
        ['softplus', (b, out) => b.unary('softplus', x, out, 0), 8],
        ['relu', (b, out) => b.unary('relu', x, out, 0), 112],
        ['add', (b, out) => b.binary('add', x, [n], y, [n], out, [n]), 96],
        ['sigmoidGrad', (b, out) => b.binary('sigmoidGrad', x, [n], y, [n], out, [n]), 64],
        ['subScaled', (b, out) => b.subScaled(x, y, 0.3, out), 96],
      ];
      if (n % 5 === 0) {
        const rows = n / 5;
        cases.push(['add column', (b, out) => b.binary('add', x, [rows, 5], col.subarray(0, rows), [rows, 1], out, [rows, 5]), 0]);
      }
      for (const [name, run, below] of cases) {
        const expected = new Float32Array(n), viaWasm = new Float32Array(n), actual = new Float32Array(n);
        run(jsBackend, expected);
        run(everySize, viaWasm);
        run(byDefault, actual);
        try {
          expectBitIdentical(actual, n < below ? expected : viaWasm);
        } catch (e) {
          throw new Error(`${name} at n = ${n}: ${(e as Error).message}`);
        }
      }
    }
  });
});

describe('fallbacks(): the calls handed to js, by kernel', () => {
  it('counts js\'s kernels (listed ones, float64, small calls) and not the wasm ones; reset empties it', () => {
    const b = createWasmBackend({ variant: 'simd', name: 'wasm-fallbacks', threads: 'off' });
    const x = Float32Array.from({ length: 400 }, (_, i) => Math.sin(i));
    b.unary('exp', x, new Float32Array(400), 0);
    b.reduce('sum', x, [20, 20], [1], new Float32Array(20));
    expect(b.fallbacks()).toEqual({});
    b.transpose(x, [20, 20], [1, 0], new Float32Array(400));
    b.reduce('max', x, [20, 20], [1], new Float32Array(20));
    b.unary('exp', new Float64Array(8), new Float64Array(8), 0);
    b.gather(x, 20, 20, 1, Int32Array.of(0, 3), new Float32Array(40));
    expect(b.fallbacks()).toEqual({
      transpose: { calls: 1, elements: 400 }, 'reduce max': { calls: 1, elements: 400 }, 'unary exp': { calls: 1, elements: 8 }, gather: { calls: 1, elements: 400 },
    });
    b.resetFallbacks();
    expect(b.fallbacks()).toEqual({});
  });

  it('unfold and fold: counted below their crossover (128 column elements) and for float64, not above', () => {
    const b = createWasmBackend({ variant: 'simd', name: 'wasm-fallbacks-conv', threads: 'off' });
    const geometry = (H: number): ConvGeometry => ({ N: 1, C: 1, H, W: H, kH: 2, kW: 2, strideH: 1, strideW: 1, padH: 0, padW: 0, dilationH: 1, dilationW: 1, outH: H - 1, outW: H - 1 });
    const large = geometry(9), small = geometry(4); // 4·64 = 256 and 4·9 = 36 column elements
    b.unfold(random(81), large, 0, new Float32Array(256), false);
    b.fold(random(256), large, new Float32Array(81), false);
    expect(b.fallbacks()).toEqual({});
    b.unfold(random(16), small, 0, new Float32Array(36), false);
    b.fold(random(36), small, new Float32Array(16), false);
    b.unfold(new Float64Array(81), large, 0, new Float64Array(256), false);
    expect(b.fallbacks()).toEqual({ unfold: { calls: 2, elements: 36 + 256 }, fold: { calls: 1, elements: 36 } });
  });
});
