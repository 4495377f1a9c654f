import { describe, expect, it } from 'vitest';
import {
  GradientError, Tape, type Tensor, add, exp, grad, hvp, isGradEnabled, log, matmul, mean, mul, noGrad, randn, scalar,
  sigmoid, stopGradient, sub, sum, tensor, valueAndGrad, vjp, zeros,
} from '@tapegrad/core';

const f64 = (data: Parameters<typeof tensor>[0], shape?: number[]) => tensor(data, { dtype: 'float64', shape });

/** Element-wise closeness of a tensor to plain numbers. */
function expectClose(t: Tensor, expected: readonly number[], digits = 10): void {
  expect(t.size).toBe(expected.length);
  Array.from(t.data).forEach((v, i) => expect(v, `element ${i}`).toBeCloseTo(expected[i], digits));
}

describe('Tape.gradient', () => {
  it('fan-out accumulates: f = Σ x·x + x gives 2x + 1', () => {
    const x = f64([-1, 0, 2.5]);
    const tape = new Tape();
    const f = tape.record(() => sum(add(mul(x, x), x)));
    expect(f.item()).toBe(1 - 1 + 0 + 6.25 + 2.5);
    expect(tape.gradient(f, x).toArray()).toEqual([-1, 1, 6]);
  });

  it('a tensor used many times collects every contribution', () => {
    const x = f64(3);
    const tape = new Tape();
    // x·x·x + x + x: 3x² + 2 = 29
    const f = tape.record(() => add(add(mul(mul(x, x), x), x), x));
    expect(tape.gradient(f, x).item()).toBe(29);
  });

  it('inputs the output does not depend on get zeros of their own shape and dtype', () => {
    const x = f64([1, 2]);
    const unused = zeros([2, 3], { dtype: 'float64' });
    const tape = new Tape();
    const y = tape.record(() => {
      mul(unused, 5); // recorded, but y does not depend on it
      return sum(mul(x, 4));
    });
    const [dx, dUnused] = tape.gradient(y, [x, unused]);
    expect(dx.toArray()).toEqual([4, 4]);
    expect(dUnused.shape).toEqual([2, 3]);
    expect(dUnused.dtype).toBe('float64');
    expect(dUnused.toFlatArray()).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('the gradient of y with respect to y itself is the output gradient', () => {
    const x = f64([1, 2]);
    const tape = new Tape();
    const y = tape.record(() => sum(mul(x, x)));
    const [dy, dx] = tape.gradient(y, [y, x]);
    expect(dy.item()).toBe(1);
    expect(dx.toArray()).toEqual([2, 4]);
  });

  it('takes an explicit output gradient for a non-scalar output', () => {
    const x = f64([[1, 2, 3], [4, 5, 6]]);
    const tape = new Tape();
    const y = tape.record(() => mul(x, x));
    const dy = f64([[1, 10, 100], [0, -1, 0.5]]);
    // (dy ⊙ 2x)
    expect(tape.gradient(y, x, dy).toArray()).toEqual([[2, 40, 600], [0, -10, 6]]);
  });

  it('a persistent tape answers several gradient calls and keeps its recording', () => {
    const x = f64([1, 2]);
    const tape = new Tape({ persistent: true });
    let y = x;
    const z = tape.record(() => {
      y = mul(x, x);
      return sum(mul(y, y));
    });
    const size = tape.size;
    expect(size).toBe(3);
    expect(tape.gradient(z, x).toArray()).toEqual([4, 32]); // 4x³
    expect(tape.gradient(z, y).toArray()).toEqual([2, 8]); // 2y
    expect(tape.size).toBe(size);
    // a further recording on the same tape
    const w = tape.record(() => sum(y));
    expect(tape.gradient(w, x).toArray()).toEqual([2, 4]);
    tape.reset();
    expect(tape.size).toBe(0);
  });

  it('a non-persistent tape lets go of its recording after gradient()', () => {
    const x = f64([1, 2]);
    const tape = new Tape();
    const y = tape.record(() => sum(mul(x, x)));
    expect(tape.size).toBe(2);
    tape.gradient(y, x);
    expect(tape.size).toBe(0);
  });

  it('record() may be called several times before one gradient()', () => {
    const w = f64([[2]]);
    const x = f64([[3]]);
    const tape = new Tape();
    const z = tape.record(() => matmul(w, x));
    const loss = tape.record(() => sum(mul(z, z)));
    const [dw, dz] = tape.gradient(loss, [w, z]);
    expect(dz.item()).toBe(12); // 2z
    expect(dw.item()).toBe(36); // 2z·x
  });
});

describe('gradients with respect to intermediates: Δˡ = ∂C/∂Zˡ (BACKPROP.md)', () => {
  // plain loops, independent of the library under test
  const sig = (z: number) => 1 / (1 + Math.exp(-z));
  const matmulRef = (a: number[][], b: number[][]) => a.map((row) => b[0].map((_, j) => row.reduce((s, v, p) => s + v * b[p][j], 0)));
  const rows = (t: Tensor) => t.toArray() as number[][];

  it('sigmoid + BCE, 3-4-2, M = 5: Δ² = (A² − Y)/M (BP1), Δ¹ by BP2, ∂C/∂W and ∂C/∂b by BP3 and BP4', () => {
    const M = 5;
    const X = randn([3, M], { seed: 1, dtype: 'float64' });
    const W1 = randn([4, 3], { seed: 2, dtype: 'float64' });
    const b1 = randn([4, 1], { seed: 3, dtype: 'float64' });
    const W2 = randn([2, 4], { seed: 4, dtype: 'float64' });
    const b2 = randn([2, 1], { seed: 5, dtype: 'float64' });
    const Y = f64([[1, 0, 1, 1, 0], [0, 0, 1, 0, 1]]);

    const tape = new Tape();
    let Z1 = X, Z2 = X, A2 = X;
    const C = tape.record(() => {
      Z1 = add(matmul(W1, X), b1);
      const A1 = sigmoid(Z1);
      Z2 = add(matmul(W2, A1), b2);
      A2 = sigmoid(Z2);
      // −(1/M) Σ [y log a + (1 − y) log(1 − a)]
      const perUnit = add(mul(Y, log(A2)), mul(sub(1, Y), log(sub(1, A2))));
      return mul(sum(perUnit), -1 / M);
    });
    const [dZ2, dZ1, dW2, db2, dW1, db1] = tape.gradient(C, [Z2, Z1, W2, b2, W1, b1]);

    // the forward pass by hand
    const x = rows(X), w1 = rows(W1), w2 = rows(W2), y = rows(Y);
    const bias1 = rows(b1), bias2 = rows(b2);
    const z1 = matmulRef(w1, x).map((r, i) => r.map((v) => v + bias1[i][0]));
    const a1 = z1.map((r) => r.map(sig));
    const z2 = matmulRef(w2, a1).map((r, i) => r.map((v) => v + bias2[i][0]));
    const a2 = z2.map((r) => r.map(sig));
    let cost = 0;
    a2.forEach((r, i) => r.forEach((a, m) => (cost -= (y[i][m] * Math.log(a) + (1 - y[i][m]) * Math.log(1 - a)) / M)));
    expect(C.item()).toBeCloseTo(cost, 12);

    // BP1 in closed form: f′ cancels
    const delta2 = a2.map((r, i) => r.map((a, m) => (a - y[i][m]) / M));
    expectClose(dZ2, delta2.flat(), 12);
    // BP2: Δ¹ = (W²ᵀ Δ²) ⊙ a¹(1 − a¹)
    const w2T = w2[0].map((_, j) => w2.map((r) => r[j]));
    const delta1 = matmulRef(w2T, delta2).map((r, i) => r.map((v, m) => v * a1[i][m] * (1 - a1[i][m])));
    expectClose(dZ1, delta1.flat(), 12);
    // BP3: ∂C/∂Wˡ = Δˡ (Aˡ⁻¹)ᵀ; BP4: ∂C/∂bˡ = Δˡ 𝟙
    const a1T = a1[0].map((_, m) => a1.map((r) => r[m]));
    const xT = x[0].map((_, m) => x.map((r) => r[m]));
    expectClose(dW2, matmulRef(delta2, a1T).flat(), 12);
    expectClose(dW1, matmulRef(delta1, xT).flat(), 12);
    expectClose(db2, delta2.map((r) => r.reduce((s, v) => s + v, 0)), 12);
    expectClose(db1, delta1.map((r) => r.reduce((s, v) => s + v, 0)), 12);
    expect(db1.shape).toEqual([4, 1]);
    // Δ is not zero by accident
    expect(Math.max(...delta1.flat().map(Math.abs))).toBeGreaterThan(1e-3);
  });
});

describe('grad, valueAndGrad, vjp', () => {
  it('valueAndGrad returns the value and the gradient of argument 0 by default', () => {
    const f = (x: Tensor) => sum(mul(x, x));
    const [value, g] = valueAndGrad(f)(f64([1, -2, 3]));
    expect(value.item()).toBe(14);
    expect(g.toArray()).toEqual([2, -4, 6]);
  });

  it('argnums as a number gives one tensor; as an array, one per index', () => {
    const f = (a: Tensor, b: Tensor, c: Tensor) => sum(add(mul(a, b), mul(c, 10)));
    const a = f64([1, 2]), b = f64([3, 4]), c = f64([5, 6]);
    const one = grad(f, { argnums: 1 })(a, b, c);
    expect(one.toArray()).toEqual([1, 2]);
    const [value, several] = valueAndGrad(f, { argnums: [2, 0] })(a, b, c);
    expect(value.item()).toBe(3 + 8 + 110);
    expect(several.map((t) => t.toArray())).toEqual([[10, 10], [3, 4]]);
  });

  it('grad of a non-scalar function is an error that points to vjp', () => {
    expect(() => grad((x: Tensor) => mul(x, 2))(f64([1, 2]))).toThrow(GradientError);
    expect(() => grad((x: Tensor) => mul(x, 2))(f64([1, 2]))).toThrow('grad: the function must return a scalar, got shape [2]; use vjp() or Tape.gradient with an output gradient');
    expect(() => grad((x: Tensor) => sum(x), { argnums: 1 })(f64([1]))).toThrow('grad: argument 1 is missing, not a Tensor, so it cannot be differentiated');
  });

  it('vjp returns the output and a pullback that can be called repeatedly', () => {
    const x = f64([1, 2, 3]);
    const w = f64([[1, 0, 2], [0, 1, -1]]);
    const [y, pullback] = vjp((a: Tensor, b: Tensor) => matmul(b, a), x, w);
    expect(y.toArray()).toEqual([7, -1]);
    const [dx, dw] = pullback(f64([1, 0]));
    expect(dx.toArray()).toEqual([1, 0, 2]);
    expect(dw.toArray()).toEqual([[1, 2, 3], [0, 0, 0]]);
    const [dx2] = pullback(f64([0, 2]));
    expect(dx2.toArray()).toEqual([0, 2, -2]);
  });

  it('grad(grad(f)) differentiates the backward pass: (x³)″ = 6x, (e^{2x})″ = 4e^{2x}', () => {
    const x = f64(1.5);
    expect(grad(grad((v: Tensor) => mul(mul(v, v), v)))(x).item()).toBeCloseTo(9, 12);
    expect(grad(grad(grad((v: Tensor) => mul(mul(v, v), v))))(x).item()).toBeCloseTo(6, 12);
    expect(grad(grad((v: Tensor) => exp(mul(v, 2))))(x).item()).toBeCloseTo(4 * Math.exp(3), 10);
    // σ″ = σ(1 − σ)(1 − 2σ)
    const s = 1 / (1 + Math.exp(-1.5));
    expect(grad(grad((v: Tensor) => sigmoid(v)))(x).item()).toBeCloseTo(s * (1 - s) * (1 - 2 * s), 12);
  });

  it('the second derivative of a linear function is zero, not an error (regression)', () => {
    // the first derivative is a fresh constant the outer tape never saw; this used to
    // throw "the output [] was not recorded on this tape"
    const x = f64(3);
    expect(grad(grad((v: Tensor) => add(v, 1)))(x).item()).toBe(0);
    expect(grad(grad((v: Tensor) => v))(x).item()).toBe(0);
    expect(grad(grad((v: Tensor) => mul(v, 5)))(x).item()).toBe(0);
    const [, pullback] = vjp((_: Tensor) => f64([1, 2]), x);
    expect(pullback(f64([1, 1]))[0].item()).toBe(0);
    expect(() => pullback(f64([1, 1, 1]))).toThrow('gradient: output gradient has shape [3] but the output has shape [2]');
  });

  it('nested tapes: an outer tape records the inner gradient', () => {
    const x = f64(2);
    const outer = new Tape();
    const dydx = outer.record(() => {
      const inner = new Tape();
      const y = inner.record(() => mul(mul(x, x), mul(x, x))); // x⁴
      return inner.gradient(y, x); // 4x³
    });
    expect(dydx.item()).toBe(32);
    expect(outer.gradient(dydx, x).item()).toBe(48); // 12x²
  });

  it('hvp matches H·v for ½ xᵀAx (H = (A + Aᵀ)/2) and for Σ x³ (H = diag(6x))', () => {
    const A = f64([[2, 1, 0], [3, 4, -1], [0, 5, 1]]);
    const x = f64([1, -1, 2]);
    const v = f64([0.5, 1, -2]);
    const quadratic = (p: Tensor) => mul(matmul(p, matmul(A, p)), 0.5);
    // (A + Aᵀ)/2 = [[2, 2, 0], [2, 4, 2], [0, 2, 1]]; times v
    expectClose(hvp(quadratic, x, v), [3, 1, 0], 12);
    const cubes = (p: Tensor) => sum(mul(mul(p, p), p));
    expectClose(hvp(cubes, x, v), [3, -6, -24], 12);
    expect(() => hvp(cubes, x, f64([1, 2]))).toThrow('hvp: direction v has shape [2] but x has shape [3]');
  });
});

describe('noGrad, detach, stopGradient', () => {
  it('nothing is recorded inside noGrad', () => {
    const x = f64([1, 2]);
    const tape = new Tape();
    const y = tape.record(() => noGrad(() => {
      expect(isGradEnabled()).toBe(false);
      return sum(mul(x, x));
    }));
    expect(tape.size).toBe(0);
    expect(y.node).toBeNull();
    expect(y.item()).toBe(5);
    expect(isGradEnabled()).toBe(true);
  });

  it('a Tape started inside noGrad still records', () => {
    const x = f64([1, 2]);
    const dx = noGrad(() => {
      const tape = new Tape();
      const y = tape.record(() => sum(mul(x, x)));
      expect(tape.size).toBe(2);
      return tape.gradient(y, x);
    });
    expect(dx.toArray()).toEqual([2, 4]);
    // and grad() works there too
    expect(noGrad(() => grad((v: Tensor) => sum(mul(v, 3)))(x)).toArray()).toEqual([3, 3]);
  });

  it('noGrad inside a record mutes only its own extent', () => {
    const x = f64(3);
    const tape = new Tape();
    const y = tape.record(() => {
      const constant = noGrad(() => mul(x, x)); // 9, a constant
      return mul(constant, x);
    });
    expect(tape.size).toBe(1);
    expect(tape.gradient(y, x).item()).toBe(9);
  });

  it('stopGradient and detach cut the graph: d/dx [x · sg(x)] = sg(x)', () => {
    const x = f64([2, -3]);
    for (const cut of [stopGradient, (t: Tensor) => t.detach()]) {
      const tape = new Tape();
      const y = tape.record(() => sum(mul(x, cut(mul(x, 10)))));
      expect(tape.gradient(y, x).toArray()).toEqual([20, -30]);
    }
  });
});

describe('requiresGrad and backward()', () => {
  it('accumulates into .grad, and a second backward doubles it', () => {
    const w = tensor([[1, 2], [3, 4]], { dtype: 'float64', requiresGrad: true });
    const x = f64([[1], [-1]]);
    const loss = () => sum(mul(matmul(w, x), matmul(w, x)));
    // L = Σ (Wx)², ∂L/∂W = 2 (Wx) xᵀ; Wx = [-1, -1]
    loss().backward();
    expect(w.grad!.toArray()).toEqual([[-2, 2], [-2, 2]]);
    loss().backward();
    expect(w.grad!.toArray()).toEqual([[-4, 4], [-4, 4]]);
    expect(x.grad).toBeNull();
  });

  it('takes an explicit output gradient and refuses a graph without parameters', () => {
    const a = tensor([1, 2], { dtype: 'float64', requiresGrad: true });
    mul(a, f64([3, 4])).backward(f64([1, -1]));
    expect(a.grad!.toArray()).toEqual([3, -4]);
    expect(() => mul(f64([1]), 2).backward()).toThrow(GradientError);
    expect(() => mul(f64([1]), 2).backward()).toThrow('backward: no leaf with requiresGrad leads to this [1] tensor: create parameters with { requiresGrad: true }');
    expect(() => mul(a, 2).backward()).toThrow('backward: the output has shape [2], not a scalar');
  });

  it('without createGraph, .grad is a plain constant; with it, a second derivative', () => {
    const x = tensor(3, { dtype: 'float64', requiresGrad: true });
    mul(mul(x, x), x).backward();
    expect(x.grad!.item()).toBe(27);
    expect(x.grad!.node).toBeNull();

    const y = tensor(3, { dtype: 'float64', requiresGrad: true });
    mul(mul(y, y), y).backward(undefined, { createGraph: true });
    const first = y.grad!;
    expect(first.item()).toBe(27); // 3y²
    expect(first.node).not.toBeNull();
    y.grad = null;
    first.backward();
    expect(y.grad!.item()).toBe(18); // 6y
  });

  it('ops on a requiresGrad leaf record without any tape; inside noGrad they do not', () => {
    const p = tensor([1], { requiresGrad: true });
    expect(mul(p, 2).node).not.toBeNull();
    expect(mul(p, 2).requiresGrad).toBe(true);
    expect(noGrad(() => mul(p, 2)).node).toBeNull();
  });
});

describe('deep graphs', () => {
  const depth = 20_000;

  it(`Tape.gradient through ${depth} chained adds does not overflow the stack`, () => {
    const x = tensor(0, { dtype: 'float64' });
    const tape = new Tape();
    const y = tape.record(() => {
      let acc = x;
      for (let i = 0; i < depth; i++) acc = add(acc, 1);
      return acc;
    });
    expect(y.item()).toBe(depth);
    expect(tape.size).toBe(depth);
    expect(tape.gradient(y, x).item()).toBe(1);
  });

  it(`backward() through ${depth} chained muls and adds does not overflow the stack`, () => {
    const x = tensor(1, { dtype: 'float64', requiresGrad: true });
    let acc: Tensor = x;
    for (let i = 0; i < depth; i++) acc = i % 2 === 0 ? add(acc, x) : mul(acc, 1);
    acc.backward();
    // acc = x + depth/2 · x
    expect(acc.item()).toBe(1 + depth / 2);
    expect(x.grad!.item()).toBe(1 + depth / 2);
  });

  it('mean and scalar helpers compose with the tape', () => {
    const x = f64([1, 2, 3, 4]);
    const g = grad((v: Tensor) => mean(mul(v, v)))(x);
    expect(g.toArray()).toEqual([0.5, 1, 1.5, 2]);
    expect(grad((v: Tensor) => mul(v, scalar(2, 'float64')))(f64(1)).item()).toBe(2);
  });
});

describe('returned gradients are tensors of their own', () => {
  it('y = a + b gives a and b equal but distinct gradients, neither of them the caller\'s dy', () => {
    const a = tensor([1, 2], { dtype: 'float64' });
    const b = tensor([3, 4], { dtype: 'float64' });
    const tape = new Tape();
    const y = tape.record(() => add(a, b));
    const dy = tensor([1, -1], { dtype: 'float64' });
    const [ga, gb] = tape.gradient(y, [a, b], dy);
    expect(ga).not.toBe(gb);
    expect(ga).not.toBe(dy);
    ga.assign([9, 9]);
    expect(gb.toFlatArray()).toEqual([1, -1]);
    expect(dy.toFlatArray()).toEqual([1, -1]);

    const p = tensor([1, 2], { requiresGrad: true });
    const q = tensor([3, 4], { requiresGrad: true });
    sum(add(p, q)).backward();
    expect(p.grad).not.toBe(q.grad);
    expect(p.grad!.toFlatArray()).toEqual([1, 1]);
    expect(q.grad!.toFlatArray()).toEqual([1, 1]);
  });
});
