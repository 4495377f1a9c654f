/**
 * `mul(x, s)` of a number s, outside tidy and any recording, is deferred (its values computed
 * on first read) so that `sub(w, mul(g, lr))` — the README's functional SGD update — runs as
 * one subScaled kernel into one buffer (ops/arithmetic.ts). The claim: nothing a user can
 * observe changes — the values are bit for bit those of mul then sub (NaN, ±∞, ±0 and
 * subnormals included), the source may be assigned or released afterwards, and the tape
 * (grad-of-grad included) sees exactly what it saw before.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type DType, ReleasedTensorError, Tape, Tensor, add, grad, keep, mul, outsideTidy, sub, sum, tensor, tidy,
} from '@tapegrad/core';
import { deferredValuesOf } from '../src/tensor.js';

const SEED = 42;

/** The same values in a typed array of `dtype` (float32 rounds them, as a tensor of it would). */
function make(values: number[], dtype: DType, shape: number[] = [values.length]): Tensor {
  return tensor(dtype === 'float64' ? Float64Array.from(values) : Float32Array.from(values), { shape, dtype });
}

/** Element-wise Object.is: NaN equals NaN, +0 differs from −0. */
function bits(t: Tensor): string[] {
  return Array.from(t.data, (v) => (Object.is(v, -0) ? '-0' : String(v)));
}

/** mul computed now (its values read at once), so the op after it takes the unfused path. */
function eagerMul(x: Tensor | number, y: Tensor | number): Tensor {
  const product = mul(x, y);
  void product.data;
  expect(deferredValuesOf(product)).toBeNull();
  return product;
}

/** Doubles of every kind: ordinary, huge (overflow to ∞ in float32), tiny (subnormal), ±0, ±∞, NaN. */
const value = fc.oneof(
  fc.double({ min: -4, max: 4 }),
  fc.double(),
  fc.constantFrom(0, -0, Infinity, -Infinity, NaN, 1e-40, -3e-39, 3.4e38),
);
const scalar = fc.oneof(fc.double({ min: -2, max: 2, noNaN: true }), fc.constantFrom(0.1, 0.05, 0.5, -0.1, 0, -0, 1e-30, 3e38, Infinity, NaN));
const dtypes = fc.constantFrom<DType>('float32', 'float64');
const operands = fc.integer({ min: 1, max: 9 }).chain((n) => fc.tuple(fc.array(value, { minLength: n, maxLength: n }), fc.array(value, { minLength: n, maxLength: n })));

describe('mul by a number outside tidy is deferred, and sub/add fold it in', () => {
  it('defers mul(x, s) and mul(s, x) outside tidy and recordings; runs it now inside tidy, a recording or on requiresGrad', () => {
    const x = tensor([1, 2, 3]);
    expect(deferredValuesOf(mul(x, 0.5))).not.toBeNull();
    expect(deferredValuesOf(mul(0.5, x))).not.toBeNull();
    expect(deferredValuesOf(mul(x, x))).toBeNull();
    tidy(() => {
      expect(deferredValuesOf(mul(x, 0.5))).toBeNull();
    });
    new Tape().record(() => {
      expect(deferredValuesOf(mul(x, 0.5))).toBeNull();
    });
    const p = tensor([1, 2], { requiresGrad: true });
    expect(deferredValuesOf(mul(p, 0.5))).toBeNull();
  });

  it('a deferred product reads as mul computed at once: values, shape, size, dtype (float32 and float64)', () => {
    const m = mul(tensor([[1, 2, 3], [4, 5, 6]], { dtype: 'float64' }), 0.1);
    expect(m.shape).toEqual([2, 3]);
    expect(m.size).toBe(6);
    expect(m.dtype).toBe('float64');
    expect(m.device).toBe('cpu');
    expect(deferredValuesOf(m)).not.toBeNull();
    expect(Array.from(m.data)).toEqual([0.1, 0.2, 0.30000000000000004, 0.4, 0.5, 0.6000000000000001]);
    expect(deferredValuesOf(m)).toBeNull();
    expect(mul(tensor([3]), 0.1).item()).toBe(Math.fround(Math.fround(0.1) * 3));
  });

  it('sub(w, mul(g, s)), add(w, mul(g, s)), add(mul(s, g), w): bit for bit mul then sub/add, leaving the product deferred', () => {
    fc.assert(
      fc.property(operands, scalar, dtypes, ([w0, g0], s, dtype) => {
        const w = make(w0, dtype);
        const g = make(g0, dtype);
        const folded = [sub(w, mul(g, s)), add(w, mul(g, s)), add(mul(s, g), w), sub(w, mul(s, g))];
        const unfused = [sub(w, eagerMul(g, s)), add(w, eagerMul(g, s)), add(eagerMul(s, g), w), sub(w, eagerMul(s, g))];
        folded.forEach((f, i) => expect(bits(f)).toEqual(bits(unfused[i])));
        // the folded update never computed its product; read now, it is mul's own
        const product = mul(g, s);
        sub(w, product);
        expect(deferredValuesOf(product)).not.toBeNull();
        expect(bits(product)).toEqual(bits(eagerMul(g, s)));
      }),
      { seed: SEED, numRuns: 150 },
    );
  });

  it('does not fold where mul then sub would broadcast (the product is computed, the values are those of the ops)', () => {
    const w = tensor([[1, 2], [3, 4]]);
    const row = tensor([10, 20]);
    expect(Array.from(sub(w, mul(row, 0.5)).data)).toEqual([-4, -8, -2, -6]);
    expect(Array.from(sub(row, mul(w, 0.5)).data)).toEqual([9.5, 19, 8.5, 18]);
    expect(Array.from(sub(mul(w, 2), w).data)).toEqual([1, 2, 3, 4]);
  });

  it('the source assigned after mul: the product keeps the old values, the source has the new ones', () => {
    const g = tensor([1, 2, 3]);
    const before = g.data;
    const product = mul(g, 10);
    const update = mul(g, -1);
    g.assign([7, 8, 9]);
    expect(Array.from(g.data)).toEqual([7, 8, 9]);
    expect(Array.from(product.data)).toEqual([10, 20, 30]);
    expect(Array.from(sub(tensor([0, 0, 0]), update).data)).toEqual([1, 2, 3]);
    expect(Array.from(before)).toEqual([1, 2, 3]); // the lent buffer itself was left alone
    g.assignInPlace((d) => d.fill(5));
    expect(Array.from(mul(g, 2).data)).toEqual([10, 10, 10]);
  });

  it('a source released by its tidy: the deferred product still reads its own values, the pool never hands the buffer out', () => {
    let product: Tensor | null = null;
    tidy(() => {
      const g = add(tensor([1, 2, 3, 4]), 0); // created inside: released when tidy returns
      product = outsideTidy(() => mul(g, 2));
    });
    const others = tidy(() => [0, 1, 2].map((k) => keep(add(tensor([k, k, k, k]), 0))));
    expect(others.map((t) => Array.from(t.data))).toEqual([[0, 0, 0, 0], [1, 1, 1, 1], [2, 2, 2, 2]]);
    expect(Array.from(product!.data)).toEqual([2, 4, 6, 8]);
  });

  it('a deferred product first read inside a tidy keeps its values after it: its buffer is its own, not the pool\'s', () => {
    const g = tensor([1, 2, 3]);
    const product = mul(g, 3);
    tidy(() => sum(add(product, 1)).item());
    for (let k = 0; k < 3; k++) tidy(() => add(tensor([9, 9, 9]), k).data);
    expect(Array.from(product.data)).toEqual([3, 6, 9]);
  });

  it('the tape: sub(w, mul(g, s)) inside a recording is differentiated as before (first and second order)', () => {
    const w = tensor([1, -2, 3], { dtype: 'float64' });
    const g = tensor([0.5, 4, -1], { dtype: 'float64' });
    const f = (wv: Tensor, gv: Tensor) => sum(mul(sub(wv, mul(gv, 0.1)), sub(wv, mul(gv, 0.1))));
    const [dw, dg] = grad(f, { argnums: [0, 1] })(w, g);
    expect(Array.from(dw.data)).toEqual([2 * (1 - 0.05), 2 * (-2 - 0.4), 2 * (3 + 0.1)]);
    expect(Array.from(dg.data)).toEqual(Array.from(dw.data, (v) => -0.1 * v));
    // ∂²f/∂w² = 2 on the diagonal: the gradient of sum(∂f/∂w)
    const second = grad((wv: Tensor) => sum(grad((u: Tensor) => f(u, g))(wv)))(w);
    expect(Array.from(second.data)).toEqual([2, 2, 2]);
    // a product deferred outside, then used inside a recording, is a constant there (as mul's output was)
    const outside = mul(g, 0.1);
    const tape = new Tape();
    const y = tape.record(() => sum(mul(sub(w, outside), w)));
    const [dwOut, dOutside] = tape.gradient(y, [w, outside]);
    expect(Array.from(dwOut.data)).toEqual([2 * 1 - 0.05, 2 * -2 - 0.4, 2 * 3 + 0.1]);
    expect(Array.from(dOutside.data)).toEqual([-1, 2, -3]);
  });

  it('a released source or operand still fails with the released-tensor error, not a wrong value', () => {
    let inner: Tensor | null = null;
    tidy(() => {
      inner = add(tensor([1, 2]), 0);
    });
    expect(() => mul(inner!, 2)).toThrow(ReleasedTensorError);
    const product = mul(tensor([1, 2]), 2);
    expect(() => sub(inner!, product)).toThrow(ReleasedTensorError);
  });
});
