/**
 * Second derivatives against closed forms, not finite differences: grad(grad(f)) for scalar
 * functions and hvp(f, x, v) against Hessians written out by hand. Finite differences
 * (gradcheck's order 2, in ops.property.test.ts) agree with the tape only to ~1e-4; a closed
 * form pins the backward-of-backward to ~1e-12, so a VJP that is right to first order but
 * not written in differentiable ops cannot hide here.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  Tensor, add, exp, grad, hvp, log, logSigmoid, logSumExp, matmul, mul, pow, reciprocal, relu, sigmoid, softplus, sqrt,
  square, sum, tanh, tensor,
} from '@tapegrad/core';
import { arb } from '@tapegrad/core/testing/properties';

const SEED = 42;

const f64 = (values: ArrayLike<number>, shape: readonly number[]) => tensor(Float64Array.from(values), { shape, dtype: 'float64' });
const scalar64 = (v: number) => f64([v], []);
const σ = (z: number) => 1 / (1 + Math.exp(-z));

/** |actual − expected| ≤ tol·(1 + |expected|), element by element, with the worst one named. */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-10): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const ok = Math.abs(actual[i] - expected[i]) <= tol * (1 + Math.abs(expected[i]));
    if (!ok) expect({ index: i, value: actual[i] }).toEqual({ index: i, value: expected[i] });
  }
}

/** A plain-JS matrix·vector product, the reference for the closed forms. */
function matVec(a: ArrayLike<number>, rows: number, cols: number, v: ArrayLike<number>): number[] {
  return Array.from({ length: rows }, (_, i) => {
    let acc = 0;
    for (let j = 0; j < cols; j++) acc += a[i * cols + j] * v[j];
    return acc;
  });
}

// ---- grad(grad(f)) for scalar functions ------------------------------------------------

interface ScalarCase {
  f: (x: Tensor) => Tensor;
  /** f′ and f″ written out. */
  d1: (x: number) => number;
  d2: (x: number) => number;
  domain: { min: number; max: number };
}

const scalarCases: Record<string, ScalarCase> = {
  'x³ = pow(x, 3): f″ = 6x': { f: (x) => pow(x, 3), d1: (x) => 3 * x * x, d2: (x) => 6 * x, domain: { min: -3, max: 3 } },
  'x³ = x·x·x (fan-out): f″ = 6x': { f: (x) => mul(mul(x, x), x), d1: (x) => 3 * x * x, d2: (x) => 6 * x, domain: { min: -3, max: 3 } },
  'x² = square(x): f″ = 2': { f: square, d1: (x) => 2 * x, d2: () => 2, domain: { min: -3, max: 3 } },
  'eˣ: f″ = eˣ': { f: exp, d1: Math.exp, d2: Math.exp, domain: { min: -4, max: 4 } },
  'σ(x): σ″ = σ(1−σ)(1−2σ)': {
    f: sigmoid,
    d1: (x) => σ(x) * (1 - σ(x)),
    d2: (x) => σ(x) * (1 - σ(x)) * (1 - 2 * σ(x)),
    domain: { min: -8, max: 8 },
  },
  'tanh(x): f″ = −2·tanh·(1 − tanh²)': {
    f: tanh,
    d1: (x) => 1 - Math.tanh(x) ** 2,
    d2: (x) => -2 * Math.tanh(x) * (1 - Math.tanh(x) ** 2),
    domain: { min: -4, max: 4 },
  },
  'softplus(x): f′ = σ, f″ = σ(1−σ)': {
    f: softplus,
    d1: σ,
    d2: (x) => σ(x) * (1 - σ(x)),
    domain: { min: -30, max: 30 },
  },
  'logSigmoid(x): f′ = 1 − σ, f″ = −σ(1−σ)': {
    f: logSigmoid,
    d1: (x) => 1 - σ(x),
    d2: (x) => -σ(x) * (1 - σ(x)),
    domain: { min: -30, max: 30 },
  },
  'log x: f″ = −1/x²': { f: log, d1: (x) => 1 / x, d2: (x) => -1 / (x * x), domain: { min: 0.1, max: 10 } },
  '√x: f″ = −¼·x^(−3/2)': { f: sqrt, d1: (x) => 0.5 / Math.sqrt(x), d2: (x) => -0.25 * x ** -1.5, domain: { min: 0.1, max: 10 } },
  '1/x: f″ = 2/x³': { f: reciprocal, d1: (x) => -1 / (x * x), d2: (x) => 2 / x ** 3, domain: { min: 0.3, max: 5 } },
  'x^2.5: f″ = 3.75·x^0.5': { f: (x) => pow(x, 2.5), d1: (x) => 2.5 * x ** 1.5, d2: (x) => 3.75 * Math.sqrt(x), domain: { min: 0.1, max: 5 } },
};

describe('grad(grad(f)) equals the closed-form second derivative', () => {
  for (const [name, { f, d1, d2, domain }] of Object.entries(scalarCases)) {
    it(name, () => {
      const df = grad(f);
      const d2f = grad((x: Tensor) => df(x));
      fc.assert(fc.property(fc.double({ ...domain, noNaN: true }), (v) => {
        const x = scalar64(v);
        expectClose([df(x).item()], [d1(v)], 1e-12);
        expectClose([d2f(x).item()], [d2(v)], 1e-12);
      }), { numRuns: 30, seed: SEED });
    });
  }

  it('and a third derivative: d³/dx³ x⁴ = 24x', () => {
    const d3 = grad(grad(grad((x: Tensor) => pow(x, 4))));
    fc.assert(fc.property(fc.double({ min: -3, max: 3, noNaN: true }), (v) => {
      expectClose([d3(scalar64(v)).item()], [24 * v], 1e-12);
    }), { numRuns: 30, seed: SEED });
  });

  it('element-wise: grad of Σ f′(x) is f″(x) per element (sigmoid, any shape)', () => {
    const d2 = grad((x: Tensor) => sum(grad((u: Tensor) => sum(sigmoid(u)))(x)));
    fc.assert(fc.property(arb.tensor({ min: -6, max: 6 }), (x) => {
      expectClose(d2(x).data, x.toFlatArray().map((z) => σ(z) * (1 - σ(z)) * (1 - 2 * σ(z))), 1e-12);
    }), { numRuns: 30, seed: SEED });
  });
});

// ---- Hessian-vector products -----------------------------------------------------------

describe('hvp(f, x, v) equals the closed-form Hessian times v', () => {
  it('quadratic form f(x) = ½xᵀAx with A not symmetric: H = (A + Aᵀ)/2', () => {
    const cases = fc.integer({ min: 1, max: 5 }).chain((n) =>
      fc.tuple(arb.tensorOf([n, n]), arb.tensorOf([n]), arb.tensorOf([n])));
    fc.assert(fc.property(cases, ([a, x, v]) => {
      const n = x.shape[0];
      const f = (p: Tensor) => mul(sum(mul(p, matmul(a, p))), 0.5);
      const sym = Array.from({ length: n * n }, (_, k) => (a.data[k] + a.data[(k % n) * n + Math.floor(k / n)]) / 2);
      expectClose(hvp(f, x, v).data, matVec(sym, n, n, v.data));
    }), { numRuns: 40, seed: SEED });
  });

  it('f(x) = Σ σ(x), any shape: H = diag(σ(1−σ)(1−2σ))', () => {
    const cases = arb.shape().chain((s) => fc.tuple(arb.tensorOf(s, { min: -6, max: 6 }), arb.tensorOf(s)));
    fc.assert(fc.property(cases, ([x, v]) => {
      const expected = x.toFlatArray().map((z, i) => σ(z) * (1 - σ(z)) * (1 - 2 * σ(z)) * v.data[i]);
      expectClose(hvp((p) => sum(sigmoid(p)), x, v).data, expected, 1e-12);
    }), { numRuns: 40, seed: SEED });
  });

  it('f(x) = Σ tanh(x) ⊙ σ(x) + relu(x)·x: the three grad ops (sigmoidGrad, tanhGrad, reluGrad) differentiate again', () => {
    // f″ᵢ = tanh″σ + 2·tanh′σ′ + tanh·σ″ + 2·[x > 0] (relu(x)·x = x² for x > 0, else 0)
    const cases = arb.shape().chain((s) => fc.tuple(arb.tensorOf(s, { min: -4, max: 4, avoid: [0] }), arb.tensorOf(s)));
    fc.assert(fc.property(cases, ([x, v]) => {
      const expected = x.toFlatArray().map((z, i) => {
        const t = Math.tanh(z), s = σ(z);
        const d2 = -2 * t * (1 - t * t) * s + 2 * (1 - t * t) * s * (1 - s) + t * s * (1 - s) * (1 - 2 * s) + (z > 0 ? 2 : 0);
        return d2 * v.data[i];
      });
      expectClose(hvp((p) => add(sum(mul(tanh(p), sigmoid(p))), sum(mul(relu(p), p))), x, v).data, expected, 1e-12);
    }), { numRuns: 40, seed: SEED });
  });

  it('f(x) = logSumExp(x): H = diag(p) − ppᵀ with p = softmax(x)', () => {
    const cases = fc.integer({ min: 1, max: 6 }).chain((n) => fc.tuple(arb.tensorOf([n], { min: -5, max: 5 }), arb.tensorOf([n])));
    fc.assert(fc.property(cases, ([x, v]) => {
      const e = x.toFlatArray().map(Math.exp);
      const z = e.reduce((s, t) => s + t, 0);
      const p = e.map((t) => t / z);
      const pv = p.reduce((s, t, i) => s + t * v.data[i], 0);
      expectClose(hvp((t) => logSumExp(t), x, v).data, p.map((t, i) => t * v.data[i] - t * pv));
    }), { numRuns: 40, seed: SEED });
  });

  it('a weight matrix: f(W) = Σ σ(W·a) gives H·V = σ″(z) ⊙ (V·a)·aᵀ', () => {
    // f = Σᵢ σ(zᵢ), zᵢ = Σₖ Wᵢₖ aₖ, so ∂²f/∂Wᵢₖ∂Wⱼₗ = δᵢⱼ σ″(zᵢ) aₖ aₗ
    const cases = fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 })).chain(([m, k]) =>
      fc.tuple(arb.tensorOf([m, k]), arb.tensorOf([k, 1]), arb.tensorOf([m, k])));
    fc.assert(fc.property(cases, ([w, a, v]) => {
      const [m, k] = w.shape;
      const z = matVec(w.data, m, k, a.data);
      const va = matVec(v.data, m, k, a.data);
      const expected = Array.from({ length: m * k }, (_, idx) => {
        const i = Math.floor(idx / k), col = idx % k;
        const s = σ(z[i]);
        return s * (1 - s) * (1 - 2 * s) * va[i] * a.data[col];
      });
      expectClose(hvp((p) => sum(sigmoid(matmul(p, a))), w, v).data, expected, 1e-12);
    }), { numRuns: 40, seed: SEED });
  });
});

// ---- a small MLP: the Hessian assembled from hvp ---------------------------------------

describe('an MLP-like function: the Hessian built column by column from hvp', () => {
  // f(x) = logSumExp(W₂·tanh(W₁x + b₁)) + Σ σ(x)·x: layers, a broadcast bias, fan-out of x
  const mlpCases = fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }))
    .chain(([d, h, c]) => fc.tuple(
      arb.tensorOf([h, d]), arb.tensorOf([h, 1]), arb.tensorOf([c, h]), arb.tensorOf([d, 1], { min: -2, max: 2 }), arb.tensorOf([d, 1]),
    ));
  const mlp = (w1: Tensor, b1: Tensor, w2: Tensor) => (x: Tensor) =>
    add(logSumExp(matmul(w2, tanh(add(matmul(w1, x), b1))), 0), sum(mul(sigmoid(x), x)));

  /** Hᵢⱼ = (H·eⱼ)ᵢ, one hvp per column. */
  function hessian(f: (x: Tensor) => Tensor, x: Tensor): number[][] {
    const n = x.size;
    const columns = Array.from({ length: n }, (_, j) => hvp(f, x, f64(Array.from({ length: n }, (_, i) => (i === j ? 1 : 0)), x.shape)).toFlatArray());
    return Array.from({ length: n }, (_, i) => columns.map((col) => col[i]));
  }

  it('is symmetric, acts linearly (H·v = Σⱼ vⱼ·H[:,j]) and matches differences of gradients', () => {
    fc.assert(fc.property(mlpCases, ([w1, b1, w2, x, v]) => {
      const f = mlp(w1, b1, w2);
      const h = hessian(f, x);
      const n = x.size;
      const scale = 1 + Math.max(...h.flat().map(Math.abs));
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < i; j++) expect(Math.abs(h[i][j] - h[j][i])).toBeLessThanOrEqual(1e-12 * scale);
      }
      // one hvp along v equals the assembled Hessian times v
      expectClose(hvp(f, x, v).data, h.map((row) => row.reduce((s, hij, j) => s + hij * v.data[j], 0)), 1e-12);
      // each column is the derivative of the gradient along eⱼ (central differences of an
      // exact gradient: error O(eps²), far below the tolerance)
      const g = grad(f);
      const eps = 1e-5;
      for (let j = 0; j < n; j++) {
        const shifted = (delta: number) => g(f64(x.toFlatArray().map((t, i) => (i === j ? t + delta : t)), x.shape)).toFlatArray();
        const plus = shifted(eps), minus = shifted(-eps);
        const column = plus.map((p, i) => (p - minus[i]) / (2 * eps));
        expectClose(h.map((row) => row[j]), column, 1e-6);
      }
    }), { numRuns: 25, seed: SEED });
  });
});
