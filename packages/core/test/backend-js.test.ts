import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  type Backend, type CpuBackend, type BinaryKernel, JS_BACKEND_PRIORITY, ValueError, add, broadcastTo, createRng, getBackend, jsBackend, listBackends, matmul,
  max, mul, padTo, registerBackend, setBackend, slice, sum, tensor, transpose, where,
} from '@tapegrad/core';

/**
 * The js backend against naive reference loops: one multi-index at a time, no strides, no
 * fast paths. Data is random (seeded) so no pattern in the values can hide an indexing bug.
 */

const rng = createRng(2024);
const randomArray = (n: number) => Float64Array.from({ length: n }, () => Math.round((rng.next() * 4 - 2) * 1000) / 1000);
const size = (shape: readonly number[]) => shape.reduce((p, d) => p * d, 1);

/** Row-major multi-index of flat position `flat`. */
function unravel(flat: number, shape: readonly number[]): number[] {
  const index = new Array<number>(shape.length);
  for (let i = shape.length - 1; i >= 0; i--) {
    index[i] = flat % shape[i];
    flat = Math.floor(flat / shape[i]);
  }
  return index;
}

function ravel(index: readonly number[], shape: readonly number[]): number {
  let flat = 0;
  for (let i = 0; i < shape.length; i++) flat = flat * shape[i] + index[i];
  return flat;
}

/** The element of `shape` that broadcasting reads for output index `outIndex`. */
function broadcastIndex(outIndex: readonly number[], shape: readonly number[]): number {
  const lead = outIndex.length - shape.length;
  return ravel(shape.map((d, i) => (d === 1 ? 0 : outIndex[i + lead])), shape);
}

function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  return Array.from({ length: rank }, (_, i) => {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    return da === 1 ? db : da;
  });
}

function expectAllClose(actual: ArrayLike<number>, expected: ArrayLike<number>, digits = 12): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (Number.isNaN(expected[i])) expect(actual[i], `element ${i}`).toBeNaN();
    else expect(actual[i], `element ${i}`).toBeCloseTo(expected[i], digits);
  }
}

describe('matmul kernel', () => {
  // with m, n not multiples of 4: the 4×1, 1×4 and 1×1 edge tiles (T3's [30,784]·[784,10])
  const cases: Array<[number, number, number]> = [[3, 5, 4], [1, 7, 2], [6, 1, 3], [4, 3, 1], [5, 8, 6], [9, 7, 10], [30, 13, 10], [7, 5, 9]];
  for (const [m, k, n] of cases) {
    for (const transposeA of [false, true]) {
      for (const transposeB of [false, true]) {
        it(`m=${m} k=${k} n=${n} transposeA=${transposeA} transposeB=${transposeB}`, () => {
          // A is stored [m,k], or [k,m] when transposed; B is [k,n], or [n,k]
          const a = randomArray(m * k);
          const b = randomArray(k * n);
          const A = (i: number, p: number) => (transposeA ? a[p * m + i] : a[i * k + p]);
          const B = (p: number, j: number) => (transposeB ? b[j * k + p] : b[p * n + j]);
          const expected = new Float64Array(m * n);
          for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
            let acc = 0;
            for (let p = 0; p < k; p++) acc += A(i, p) * B(p, j);
            expected[i * n + j] = acc;
          }
          const out = new Float64Array(m * n).fill(99); // the kernel must overwrite, not add
          jsBackend.matmul(a, b, out, m, k, n, transposeA, transposeB);
          // every element is summed in order of p in double precision, tiles or not: exact
          expect(Array.from(out)).toEqual(Array.from(expected));
          const a32 = Float32Array.from(a), b32 = Float32Array.from(b), out32 = new Float32Array(m * n);
          jsBackend.matmul(a32, b32, out32, m, k, n, transposeA, transposeB);
          const A32 = (i: number, p: number) => (transposeA ? a32[p * m + i] : a32[i * k + p]);
          const B32 = (p: number, j: number) => (transposeB ? b32[j * k + p] : b32[p * n + j]);
          const expected32 = Float32Array.from({ length: m * n }, (_, e) => {
            let acc = 0;
            for (let p = 0; p < k; p++) acc += A32(Math.floor(e / n), p) * B32(p, e % n);
            return acc;
          });
          expect(Array.from(out32)).toEqual(Array.from(expected32));
        });
      }
    }
  }

  it('matmul op on float32 agrees with the float64 reference to float32 precision', () => {
    const a = randomArray(6 * 9), b = randomArray(9 * 5);
    const c = matmul(tensor(a, { shape: [6, 9], dtype: 'float32' }), tensor(b, { shape: [9, 5], dtype: 'float32' }));
    const ref = matmul(tensor(a, { shape: [6, 9], dtype: 'float64' }), tensor(b, { shape: [9, 5], dtype: 'float64' }));
    expect(c.data).toBeInstanceOf(Float32Array);
    expectAllClose(c.data, ref.data, 4);
  });
});

describe('binary kernels with broadcasting', () => {
  const patterns: Array<[number[], number[]]> = [
    [[2, 3], [2, 3]],
    [[2, 3], []],
    [[], [2, 3]],
    [[2, 1], [1, 3]],
    [[3], [2, 3]],
    [[2, 3, 4], [3, 1]],
    [[1, 3, 1], [2, 1, 4]],
    [[4, 1, 3], [5, 1]],
    [[2, 1, 3, 1], [1, 4, 1, 2]],
    [[5], [1]],
    // the row-by-row fast path: a column, a row, leading and inner 1s, both at once
    [[4, 5], [4, 1]],
    [[4, 5], [1, 5]],
    [[1, 5], [4, 5]],
    [[2, 3, 5], [2, 1, 1]],
    [[2, 3, 5], [3, 5]],
    [[1, 4, 1], [1, 4, 6]],
    [[3, 1], [1, 6]],
    [[1], [3, 2]],
  ];
  const kernels: Array<[BinaryKernel, (x: number, y: number) => number]> = [
    ['add', (x, y) => x + y],
    ['sub', (x, y) => x - y],
    ['mul', (x, y) => x * y],
    ['div', (x, y) => x / y],
    ['greater', (x, y) => (x > y ? 1 : 0)],
    ['greaterEqual', (x, y) => (x >= y ? 1 : 0)],
    ['less', (x, y) => (x < y ? 1 : 0)],
    ['lessEqual', (x, y) => (x <= y ? 1 : 0)],
    ['equal', (x, y) => (x === y ? 1 : 0)],
  ];
  for (const [aShape, bShape] of patterns) {
    it(`[${aShape}] with [${bShape}], every kernel`, () => {
      const outShape = broadcastShape(aShape, bShape);
      const a = randomArray(size(aShape));
      const b = randomArray(size(bShape));
      // a few exact ties so the comparisons see equality
      if (a.length > 0 && b.length > 0) a[0] = b[0];
      for (const [kernel, f] of kernels) {
        const expected = new Float64Array(size(outShape));
        for (let i = 0; i < expected.length; i++) {
          const index = unravel(i, outShape);
          expected[i] = f(a[broadcastIndex(index, aShape)], b[broadcastIndex(index, bShape)]);
        }
        const out = new Float64Array(expected.length);
        jsBackend.binary(kernel, a, aShape, b, bShape, out, outShape);
        expectAllClose(out, expected, 14);
      }
      // and through the op, with its shape rule
      const viaOp = add(tensor(a, { shape: aShape }), tensor(b, { shape: bShape }));
      expect(viaOp.shape).toEqual(outShape);
    });
  }
});

describe('unary kernels', () => {
  it('match Math on random data, with step(0) = 0 and sign(0) = 0', () => {
    const x = randomArray(50);
    x[0] = 0;
    const positive = x.map(Math.abs);
    const refs: Array<[Parameters<Backend['unary']>[0], (v: number) => number, Float64Array]> = [
      ['neg', (v) => -v, x], ['exp', Math.exp, x], ['log', Math.log, positive], ['tanh', Math.tanh, x],
      ['sqrt', Math.sqrt, positive], ['abs', Math.abs, x], ['relu', (v) => Math.max(v, 0), x],
      ['sigmoid', (v) => 1 / (1 + Math.exp(-v)), x], ['sign', Math.sign, x], ['step', (v) => (v > 0 ? 1 : 0), x],
    ];
    for (const [kernel, f, input] of refs) {
      const out = new Float64Array(input.length);
      jsBackend.unary(kernel, input, out, 0);
      expectAllClose(out, input.map(f), 14);
    }
    const out = new Float64Array(positive.length);
    jsBackend.unary('powScalar', positive, out, 1.5);
    expectAllClose(out, positive.map((v) => v ** 1.5), 14);
    jsBackend.unary('powScalar', x, out, 2);
    expectAllClose(out, x.map((v) => v * v), 14);
  });

  it('sigmoid does not overflow at ±1000', () => {
    const out = new Float64Array(2);
    jsBackend.unary('sigmoid', new Float64Array([1000, -1000]), out, 0);
    expect(Array.from(out)).toEqual([1, 0]);
  });

  it('softplus = log(1 + eˣ): exact at ±1000, ln 2 at 0, the digits of e⁻³⁰ at −30, NaN stays NaN', () => {
    const x = new Float64Array([1000, -1000, 0, -30, 30, 2, NaN]);
    const out = new Float64Array(x.length);
    jsBackend.unary('softplus', x, out, 0);
    expect(Array.from(out.subarray(0, 3))).toEqual([1000, 0, Math.LN2]);
    // log(1 + e⁻³⁰) would round 1 + e⁻³⁰ first (losing 3 digits); log1p(ε) = ε − ε²/2 + …
    const e = Math.exp(-30);
    expect(out[3] / (e - (e * e) / 2)).toBeCloseTo(1, 15);
    expect(out[4]).toBe(30 + Math.log1p(Math.exp(-30)));
    expect(out[5]).toBeCloseTo(Math.log(1 + Math.exp(2)), 15);
    expect(out[6]).toBeNaN();
  });
});

describe('fused kernels equal the kernels they replace, bit for bit (float32 and float64)', () => {
  const bits = (a: ArrayLike<number>) => Array.from(a, (v) => (Object.is(v, -0) ? '-0' : v));
  it('sigmoidGrad, tanhGrad and reluGrad: dy·(y·(1 − y)), dy·(1 − y·y), dy·step(x), specials included', () => {
    for (const Array_ of [Float32Array, Float64Array]) {
      const y = Array_.from([...randomArray(40), 0, -0, 1, -1, NaN, Infinity, 0.5, -2]);
      const dy = Array_.from([...randomArray(40), -3, 2, -0, Infinity, 1, 0, NaN, -Infinity]);
      const n = y.length, one = Array_.of(1);
      const run = (kernel: BinaryKernel, a: ArrayLike<number>, b: ArrayLike<number>, bShape: number[] = [n]) => {
        const out = new Array_(n);
        jsBackend.binary(kernel, a as Float64Array, [n], b as Float64Array, bShape, out, [n]);
        return out;
      };
      const stepY = new Array_(n);
      jsBackend.unary('step', y, stepY, 0);
      const oneMinus = (a: ArrayLike<number>) => {
        const out = new Array_(n);
        jsBackend.binary('sub', one, [], a as Float64Array, [n], out, [n]);
        return out;
      };
      expect(bits(run('sigmoidGrad', y, dy))).toEqual(bits(run('mul', dy, run('mul', y, oneMinus(y)))));
      expect(bits(run('tanhGrad', y, dy))).toEqual(bits(run('mul', dy, oneMinus(run('mul', y, y)))));
      expect(bits(run('reluGrad', y, dy))).toEqual(bits(run('mul', dy, stepY)));
      // with a broadcast operand the general path walks rows: same formula
      const row = run('sigmoidGrad', y, dy.subarray(0, 1), [1]);
      expect(bits(row)).toEqual(bits(run('mul', run('mul', y, oneMinus(y)), dy.subarray(0, 1), [1])));
    }
  });

  it('subScaled(y, x, s) = sub(y, mul(x, [s])), s rounded as a lifted scalar, in place too', () => {
    for (const Array_ of [Float32Array, Float64Array]) {
      const y = Array_.from(randomArray(50)), x = Array_.from(randomArray(50));
      for (const s of [0.1, 0.3, -7, 1e-8]) {
        const scaled = new Array_(50), expected = new Array_(50), actual = new Array_(50);
        jsBackend.binary('mul', x, [50], Array_.of(s), [], scaled, [50]);
        jsBackend.binary('sub', y, [50], scaled, [50], expected, [50]);
        jsBackend.subScaled(y, x, s, actual);
        expect(bits(actual)).toEqual(bits(expected));
        const inPlace = y.slice();
        jsBackend.subScaled(inPlace, x, s, inPlace);
        expect(bits(inPlace)).toEqual(bits(expected));
      }
    }
  });
});

describe('element-wise kernels in place (out === an input of the output size, as SGD calls them)', () => {
  it('give the same values as with a separate out, float32 and float64, with and without broadcasting', () => {
    for (const Array_ of [Float32Array, Float64Array]) {
      const x = Array_.from(randomArray(60)), y = Array_.from(randomArray(12)), s = Array_.of(0.1);
      for (const kernel of ['add', 'sub', 'mul', 'div'] as BinaryKernel[]) {
        for (const [b, bShape] of [[Array_.from(randomArray(60)), [5, 12]], [y, [1, 12]], [s, []]] as const) {
          const separate = new Array_(60);
          jsBackend.binary(kernel, x, [5, 12], b, bShape, separate, [5, 12]);
          const inPlace = x.slice();
          jsBackend.binary(kernel, inPlace, [5, 12], b, bShape, inPlace, [5, 12]);
          expect(Array.from(inPlace), `${kernel} ${bShape}`).toEqual(Array.from(separate));
          const right = Array_.from(randomArray(60)), rightInPlace = right.slice(), separateRight = new Array_(60);
          jsBackend.binary(kernel, y, [1, 12], right, [5, 12], separateRight, [5, 12]);
          jsBackend.binary(kernel, y, [1, 12], rightInPlace, [5, 12], rightInPlace, [5, 12]);
          expect(Array.from(rightInPlace), `${kernel} into b`).toEqual(Array.from(separateRight));
        }
      }
      for (const kernel of ['neg', 'exp', 'relu', 'step', 'sigmoid'] as const) {
        const separate = new Array_(60);
        jsBackend.unary(kernel, x, separate, 0);
        const inPlace = x.slice();
        jsBackend.unary(kernel, inPlace, inPlace, 0);
        expect(Array.from(inPlace), kernel).toEqual(Array.from(separate));
      }
    }
  });
});

describe('reduce kernels', () => {
  function reference(kind: 'sum' | 'max', x: ArrayLike<number>, shape: number[], axes: number[]): Float64Array {
    const kept = shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const out = new Float64Array(size(kept)).fill(kind === 'sum' ? 0 : -Infinity);
    for (let i = 0; i < x.length; i++) {
      const index = unravel(i, shape).map((v, a) => (axes.includes(a) ? 0 : v));
      const o = ravel(index, kept);
      if (kind === 'sum') out[o] += x[i];
      else if (Number.isNaN(x[i]) || Number.isNaN(out[o])) out[o] = NaN;
      else out[o] = Math.max(out[o], x[i]);
    }
    return out;
  }

  const cases: Array<[number[], number[]]> = [
    [[2, 3, 4], [0]], [[2, 3, 4], [1]], [[2, 3, 4], [2]], [[2, 3, 4], [0, 2]], [[2, 3, 4], [1, 2]],
    [[2, 3, 4], [0, 1]], [[2, 3, 4], [0, 1, 2]], [[3, 1, 4, 2], [1, 3]], [[5], [0]], [[4, 6], [1]],
  ];
  for (const [shape, axes] of cases) {
    it(`sum and max of [${shape}] over axes [${axes}]`, () => {
      const x = randomArray(size(shape));
      for (const kind of ['sum', 'max'] as const) {
        const kept = shape.map((d, i) => (axes.includes(i) ? 1 : d));
        const out = new Float64Array(size(kept)).fill(123);
        jsBackend.reduce(kind, x, shape, axes, out);
        expectAllClose(out, reference(kind, x, shape, axes), 12);
      }
    });
  }

  it('max propagates NaN only into the slices that contain it', () => {
    const shape = [3, 4];
    const x = randomArray(12);
    x[5] = NaN; // row 1, column 1
    const rows = new Float64Array(3);
    jsBackend.reduce('max', x, shape, [1], rows);
    expect(rows[1]).toBeNaN();
    expect(rows[0]).toBe(Math.max(...x.slice(0, 4)));
    expect(rows[2]).toBe(Math.max(...x.slice(8, 12)));
    const cols = new Float64Array(4);
    jsBackend.reduce('max', x, shape, [0], cols);
    expectAllClose(cols, reference('max', x, shape, [0]));
    expect(Number.isNaN(cols[1])).toBe(true);
    expect(cols.filter(Number.isNaN).length).toBe(1);
    // a NaN first in its slice, then larger numbers: still NaN
    const first = new Float64Array([NaN, 5, 7]);
    const out = new Float64Array(1);
    jsBackend.reduce('max', first, [3], [0], out);
    expect(out[0]).toBeNaN();
    // through the op, too
    expect(max(tensor([[1, NaN], [3, 4]]), 1).toFlatArray()).toEqual([NaN, 4]);
  });

  it('sum and max over adjacent axes (the no-walk path) add in the walk\'s order: bit for bit, float32 and float64', () => {
    // The order js promises: each innermost row (last axis) summed into a local that is then
    // added to its output, rounded to the dtype, when the last axis is reduced (size > 1);
    // otherwise element by element into the output, in index order.
    function walkOrder(kind: 'sum' | 'max', x: Float32Array | Float64Array, shape: number[], axes: number[]): Float32Array | Float64Array {
      const kept = shape.map((d, i) => (axes.includes(i) ? 1 : d));
      const out = x instanceof Float32Array ? new Float32Array(size(kept)) : new Float64Array(size(kept));
      out.fill(kind === 'sum' ? 0 : -Infinity);
      const rowLength = shape[shape.length - 1];
      const lastReduced = axes.includes(shape.length - 1) && rowLength !== 1;
      for (let start = 0; start < x.length; start += rowLength) {
        let acc = 0;
        for (let j = 0; j < rowLength; j++) {
          const i = start + j;
          const o = ravel(unravel(i, shape).map((v, a) => (axes.includes(a) ? 0 : v)), kept);
          if (kind === 'max') {
            if (x[i] > out[o] || x[i] !== x[i]) out[o] = x[i];
          } else if (lastReduced) acc += x[i];
          else out[o] += x[i];
        }
        if (kind === 'sum' && lastReduced) out[ravel(unravel(start, shape).map((v, a) => (axes.includes(a) ? 0 : v)), kept)] += acc;
      }
      return out;
    }
    const cases = fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 }).chain((shape) =>
      fc.tuple(fc.constant(shape), fc.integer({ min: 0, max: shape.length - 1 }).chain((a) =>
        fc.integer({ min: a, max: shape.length - 1 }).map((b) => Array.from({ length: b - a + 1 }, (_, k) => a + k))),
      fc.boolean(), fc.constantFrom<'sum' | 'max'>('sum', 'max'), fc.integer()));
    fc.assert(fc.property(cases, ([shape, axes, single, kind, seed]) => {
      const r = createRng(seed);
      const values = Array.from({ length: size(shape) }, () => (r.next() - 0.5) * 10 ** Math.floor(r.next() * 8 - 3));
      const x = single ? Float32Array.from(values) : Float64Array.from(values);
      const expected = walkOrder(kind, x, shape, axes);
      const actual = single ? new Float32Array(expected.length) : new Float64Array(expected.length);
      jsBackend.reduce(kind, x, shape, axes, actual);
      expect(Array.from(actual)).toEqual(Array.from(expected));
    }), { numRuns: 300, seed: 42 });
  });

  it('sum over an empty axis is 0; the op refuses max over one', () => {
    const out = new Float64Array(2).fill(5);
    jsBackend.reduce('sum', new Float64Array(0), [2, 0], [1], out);
    expect(Array.from(out)).toEqual([0, 0]);
    expect(sum(tensor(new Float64Array(0), { shape: [2, 0] }), 1).toFlatArray()).toEqual([0, 0]);
    expect(() => max(tensor(new Float64Array(0), { shape: [2, 0] }), 1)).toThrow('max: cannot take the max over axis 1 of length 0 in [2,0]');
  });
});

describe('layout kernels', () => {
  const permutations = (n: number): number[][] => (n === 1 ? [[0]] : permutations(n - 1).flatMap((p) => Array.from({ length: n }, (_, i) => [...p.slice(0, i), n - 1, ...p.slice(i)])));

  it('transpose: all six permutations of a [2,3,4] tensor and a 4-D one', () => {
    for (const [shape, perms] of [[[2, 3, 4], permutations(3)], [[2, 1, 3, 2], [[3, 1, 0, 2], [2, 3, 0, 1]]]] as Array<[number[], number[][]]>) {
      for (const perm of perms) {
        const x = randomArray(size(shape));
        const outShape = perm.map((p) => shape[p]);
        const expected = new Float64Array(x.length);
        for (let i = 0; i < x.length; i++) {
          const outIndex = unravel(i, outShape);
          const inIndex = new Array<number>(shape.length);
          perm.forEach((p, axis) => (inIndex[p] = outIndex[axis]));
          expected[i] = x[ravel(inIndex, shape)];
        }
        const out = new Float64Array(x.length);
        jsBackend.transpose(x, shape, perm, out);
        expect(Array.from(out), `perm [${perm}]`).toEqual(Array.from(expected));
        const viaOp = transpose(tensor(x, { shape }), perm);
        expect(viaOp.shape).toEqual(outShape);
        expect(Array.from(viaOp.data)).toEqual(Array.from(expected));
      }
    }
  });

  it('broadcastTo repeats along size-1 and missing leading axes', () => {
    const cases: Array<[number[], number[]]> = [[[3, 1], [2, 3, 4]], [[4], [3, 4]], [[], [2, 2]], [[1, 3, 1], [2, 3, 5]], [[2, 1], [2, 6]],
      // rows, columns, a scalar, the identity and 1s around them (the no-walk paths)
      [[1, 10], [10, 10]], [[10, 1], [10, 10]], [[1], [4, 3]], [[3, 4], [3, 4]], [[2, 1, 1], [2, 3, 5]], [[3, 5], [2, 3, 5]], [[1, 4, 1], [1, 4, 6]]];
    for (const [shape, outShape] of cases) {
      const x = randomArray(size(shape));
      const expected = Float64Array.from({ length: size(outShape) }, (_, i) => x[broadcastIndex(unravel(i, outShape), shape)]);
      const out = new Float64Array(expected.length);
      jsBackend.broadcastTo(x, shape, out, outShape);
      expect(Array.from(out), `[${shape}] → [${outShape}]`).toEqual(Array.from(expected));
      expect(Array.from(broadcastTo(tensor(x, { shape }), outShape).data)).toEqual(Array.from(expected));
    }
  });

  it('slice copies a box, pad writes it back into zeros', () => {
    const shape = [4, 5, 6];
    const begin = [1, 0, 2];
    const outShape = [2, 5, 3];
    const x = randomArray(size(shape));
    const expected = Float64Array.from({ length: size(outShape) }, (_, i) => x[ravel(unravel(i, outShape).map((v, a) => v + begin[a]), shape)]);
    const out = new Float64Array(expected.length);
    jsBackend.slice(x, shape, begin, out, outShape);
    expect(Array.from(out)).toEqual(Array.from(expected));
    expect(Array.from(slice(tensor(x, { shape }), begin, outShape).data)).toEqual(Array.from(expected));

    const padded = new Float64Array(size(shape));
    jsBackend.pad(out, outShape, begin, padded, shape);
    for (let i = 0; i < padded.length; i++) {
      const index = unravel(i, shape);
      const inside = index.every((v, a) => v >= begin[a] && v < begin[a] + outShape[a]);
      expect(padded[i], `element ${i}`).toBe(inside ? x[i] : 0);
    }
    expect(Array.from(padTo(tensor(out, { shape: outShape }), begin, shape).data)).toEqual(Array.from(padded));
  });

  it('slice with negative begin and size -1 runs to the end', () => {
    const x = tensor([[1, 2, 3], [4, 5, 6]]);
    expect(slice(x, [-1, 1]).toArray()).toEqual([[5, 6]]);
    expect(slice(x, [0, 1], [-1, 1]).toArray()).toEqual([[2], [5]]);
  });
});

describe('where kernel', () => {
  const cases: Array<[number[], number[], number[]]> = [
    [[2, 3], [2, 3], [2, 3]], [[2, 1], [1, 3], []], [[3], [2, 3], [2, 1]], [[], [2, 2], [2, 2]], [[1, 3, 1], [2, 1, 4], [4]],
  ];
  for (const [cShape, aShape, bShape] of cases) {
    it(`cond [${cShape}], a [${aShape}], b [${bShape}]`, () => {
      const outShape = broadcastShape(broadcastShape(cShape, aShape), bShape);
      const cond = randomArray(size(cShape)).map((v) => (v > 0 ? 1 : 0));
      const a = randomArray(size(aShape));
      const b = randomArray(size(bShape));
      const expected = Float64Array.from({ length: size(outShape) }, (_, i) => {
        const index = unravel(i, outShape);
        return cond[broadcastIndex(index, cShape)] !== 0 ? a[broadcastIndex(index, aShape)] : b[broadcastIndex(index, bShape)];
      });
      const out = new Float64Array(expected.length);
      jsBackend.where(cond, cShape, a, aShape, b, bShape, out, outShape);
      expect(Array.from(out)).toEqual(Array.from(expected));
      const viaOp = where(tensor(cond, { shape: cShape }), tensor(a, { shape: aShape }), tensor(b, { shape: bShape }));
      expect(viaOp.shape).toEqual(outShape);
      expect(Array.from(viaOp.data)).toEqual(Array.from(expected));
    });
  }
});

describe('backend registry', () => {
  afterEach(() => setBackend('js'));

  it('starts on js, lists it, and names the registered backends when a name is unknown', () => {
    expect(getBackend()).toBe(jsBackend);
    expect(getBackend().name).toBe('js');
    expect(listBackends()).toContain('js');
    expect(() => setBackend('nope')).toThrow(ValueError);
    expect(() => setBackend('nope')).toThrow(/^setBackend: unknown backend 'nope': registered are js/);
    expect(getBackend()).toBe(jsBackend);
  });

  it('runs every op through the chosen backend, selectable by object or by name', () => {
    const calls: string[] = [];
    const counting: CpuBackend = {
      ...jsBackend,
      name: 'counting',
      matmul(...args) {
        calls.push('matmul');
        jsBackend.matmul(...args);
      },
      binary(...args) {
        calls.push(`binary:${args[0]}`);
        jsBackend.binary(...args);
      },
    };
    setBackend(counting);
    expect(getBackend().name).toBe('counting');
    expect(listBackends()).toEqual(expect.arrayContaining(['js', 'counting']));
    const y = mul(matmul(tensor([[1, 2]]), tensor([[3], [4]])), 2);
    expect(y.toArray()).toEqual([[22]]);
    expect(calls).toEqual(['matmul', 'binary:mul']);

    setBackend('js');
    mul(tensor([1]), 2);
    expect(calls).toHaveLength(2);
    setBackend('counting');
    expect(getBackend()).toBe(counting);
    registerBackend({ ...jsBackend, name: 'other' });
    expect(listBackends()).toContain('other');
    expect(getBackend()).toBe(counting);
  });

  it('defaults to the registered backend of highest priority until one is chosen', () => {
    setBackend('auto');
    expect(getBackend()).toBe(jsBackend);
    // priority 0 (the default): a wrapper or test double never becomes the default by itself
    const quiet: Backend = { ...jsBackend, name: 'quiet' };
    registerBackend(quiet);
    expect(getBackend()).toBe(jsBackend);
    const fast: Backend = { ...jsBackend, name: 'fast' };
    const faster: Backend = { ...jsBackend, name: 'faster' };
    try {
      registerBackend(fast, { priority: JS_BACKEND_PRIORITY + 10 });
      expect(getBackend()).toBe(fast);
      registerBackend(faster, { priority: JS_BACKEND_PRIORITY + 20 });
      expect(getBackend()).toBe(faster);
      // an explicit choice sticks: a faster backend registered later does not take over
      setBackend('fast');
      registerBackend({ ...jsBackend, name: 'fastest' }, { priority: JS_BACKEND_PRIORITY + 30 });
      expect(getBackend()).toBe(fast);
      // until 'auto' hands the choice back
      setBackend('auto');
      expect(getBackend().name).toBe('fastest');
    } finally {
      for (const name of ['fast', 'faster', 'fastest']) registerBackend({ ...jsBackend, name });
    }
    expect(getBackend()).toBe(jsBackend);
  });

  it('says where an unregistered wasm or native backend comes from, and reserves auto', () => {
    expect(() => setBackend('wasm')).toThrow(/unknown backend 'wasm': registered are js.*; initWasmBackend\(\) from '@tapegrad\/backend-wasm' registers it$/);
    expect(() => setBackend('native')).toThrow(/initNativeBackend\(\) from '@tapegrad\/backend-native'/);
    expect(() => registerBackend({ ...jsBackend, name: 'auto' })).toThrow(/^registerBackend: 'auto' is reserved/);
  });
});
