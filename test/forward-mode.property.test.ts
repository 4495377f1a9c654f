/**
 * Forward mode (jvp, linearize, jacobian, hessian) against the reverse mode it is built from
 * and against finite differences, op by op. For random tangents v and cotangents u:
 *   ⟨J·v, u⟩ = ⟨v, Jᵀ·u⟩         (jvp is the transpose of vjp),
 *   J·v ≈ (f(x + εv) − f(x − εv)) / 2ε and ⟨v, Jᵀu⟩ ≈ ⟨fd, u⟩ (both are derivatives of f).
 * Seeded (fast-check seed 42); float64.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  Tensor, abs, add, broadcastTo, clip, concat, createRng, div, einsum, exp, grad, hessian, jacobian, jvp, linearize,
  log, logSigmoid, logSoftmax, logSumExp, matmul, max, maximum, mean, minimum, mul, neg, padTo, pow, randn, reciprocal,
  relu, reshape, sigmoid, slice, softmax, softplus, sqrt, square, stack, sub, sum, tanh, tensor, transpose, vjp, where,
  greater, ShapeError, hvp,
} from '@tapegrad/core';
import { arb } from '@tapegrad/core/testing/properties';

const SEED = 42;
const RUNS = 25;

function dot(a: Tensor, b: Tensor): number {
  let s = 0;
  for (let i = 0; i < a.size; i++) s += a.data[i] * b.data[i];
  return s;
}

function shifted(x: Tensor, v: Tensor, eps: number): Tensor {
  return tensor(Array.from(x.data, (xi, i) => xi + eps * v.data[i]), { dtype: 'float64', shape: [...x.shape] });
}

/** Checks jvp against vjp and both against central differences, for one f and one point. */
function checkForwardMode(f: (...xs: Tensor[]) => Tensor, inputs: Tensor[], seed: number): void {
  const rng = createRng(seed);
  const tangents = inputs.map((x) => randn([...x.shape], { dtype: 'float64', rng }));
  const [y, jv] = jvp(f, inputs, tangents);
  expect(jv.shape).toEqual(y.shape);
  const u = randn([...y.shape], { dtype: 'float64', rng });
  const [, pullback] = vjp(f, ...inputs);
  const jtu = pullback(u);
  const forward = dot(jv, u);
  const reverse = jtu.reduce((s, g, i) => s + dot(g, tangents[i]), 0);
  const scale = 1 + Math.abs(forward) + Math.abs(reverse);
  expect(Math.abs(forward - reverse) / scale, `⟨Jv,u⟩ ${forward} vs ⟨v,Jᵀu⟩ ${reverse}`).toBeLessThan(1e-12);
  const eps = 1e-6;
  const plus = f(...inputs.map((x, i) => shifted(x, tangents[i], eps)));
  const minus = f(...inputs.map((x, i) => shifted(x, tangents[i], -eps)));
  const fd = Array.from(plus.data, (p, i) => (p - minus.data[i]) / (2 * eps));
  const jvScale = 1 + Math.max(0, ...fd.map(Math.abs));
  fd.forEach((d, i) => expect(Math.abs(jv.data[i] - d) / jvScale, `J·v[${i}] ${jv.data[i]} vs finite difference ${d}`).toBeLessThan(1e-5));
  const fdPairing = fd.reduce((s, d, i) => s + d * u.data[i], 0);
  expect(Math.abs(reverse - fdPairing) / (1 + Math.abs(fdPairing)), `⟨v,Jᵀu⟩ ${reverse} vs ⟨fd,u⟩ ${fdPairing}`).toBeLessThan(1e-5);
}

type Case = [string, fc.Arbitrary<Tensor[]>, (...xs: Tensor[]) => Tensor];

const any = arb.tensor({ shape: arb.shape({ maxRank: 3, maxDim: 3 }) }).map((t) => [t]);
const positive = arb.tensor({ shape: arb.shape({ maxRank: 3, maxDim: 3 }), min: 0.2, max: 3 }).map((t) => [t]);
const awayFromZero = arb.tensor({ shape: arb.shape({ maxRank: 3, maxDim: 3 }), avoid: [0], margin: 0.05 }).map((t) => [t]);
const matrix = arb.tensor({ shape: arb.shape({ minRank: 2, maxRank: 2, maxDim: 3 }), distinct: true }).map((t) => [t]);
const pair = arb.broadcastableTensors({ maxRank: 2, maxDim: 3 }).map(([a, b]) => [a, b]);
const pairPositiveSecond = arb.broadcastableTensors({ maxRank: 2, maxDim: 3, second: { min: 0.3, max: 3 } }).map(([a, b]) => [a, b]);
const pairApart = fc.integer({ min: 1, max: 3 }).chain((n) => fc.tuple(arb.tensorOf([2, n]), arb.tensorOf([2, n])))
  .map(([a, b]) => [a, add(b, where(greater(sub(b, a).abs(), 0.05), 0, 0.1))]);
const matmulPair = arb.matmulPair({ maxDim: 3 }).map(([a, b]) => [a, b]);

const cases: Case[] = [
  ['add', pair, add], ['sub', pair, sub], ['mul', pair, mul], ['div', pairPositiveSecond, div], ['neg', any, neg],
  ['exp', any, exp], ['log', positive, log], ['sqrt', positive, sqrt], ['abs', awayFromZero, abs], ['square', any, square],
  ['pow 3', any, (x) => pow(x, 3)], ['reciprocal', positive, reciprocal], ['sigmoid', any, sigmoid], ['tanh', any, tanh],
  ['relu', awayFromZero, relu], ['softplus', any, softplus], ['logSigmoid', any, logSigmoid],
  ['clip', arb.tensor({ avoid: [-1, 1], shape: [3, 2] }).map((t) => [t]), (x) => clip(x, -1, 1)],
  ['maximum', pairApart, maximum], ['minimum', pairApart, minimum],
  ['sum (all)', any, (x) => sum(x)], ['sum axis 0', matrix, (x) => sum(x, 0)], ['mean axis 1', matrix, (x) => mean(x, 1, true)],
  ['max axis 1', matrix, (x) => max(x, 1)], ['softmax', matrix, (x) => softmax(x, -1)], ['logSoftmax', matrix, (x) => logSoftmax(x, 0)],
  ['logSumExp', matrix, (x) => logSumExp(x, 1)],
  ['matmul', matmulPair, matmul], ['einsum ij,jk->ik', matmulPair, (a, b) => einsum('ij,jk->ik', a, b)],
  ['transpose', matrix, (x) => transpose(x)], ['reshape', matrix, (x) => reshape(x, [x.size])],
  ['broadcastTo', matrix, (x) => broadcastTo(x, [2, ...x.shape])], ['slice', matrix, (x) => slice(x, [0, 0], [1, x.shape[1]])],
  ['padTo', matrix, (x) => padTo(x, [1, 0], [x.shape[0] + 1, x.shape[1] + 2])],
  ['concat', fc.tuple(arb.tensorOf([2, 3]), arb.tensorOf([1, 3])).map(([a, b]) => [a, b]), (a, b) => concat([a, b], 0)],
  ['stack', fc.tuple(arb.tensorOf([2, 3]), arb.tensorOf([2, 3])).map(([a, b]) => [a, b]), (a, b) => stack([a, b], 1)],
  ['where', fc.tuple(arb.tensorOf([2, 3], { avoid: [0] }), arb.tensorOf([2, 3]), arb.tensorOf([2, 3])).map(([c, a, b]) => [c, a, b]), (c, a, b) => where(greater(c, 0), a, b)],
  ['a 2-layer network', fc.tuple(arb.tensorOf([3, 2]), arb.tensorOf([2, 3]), arb.tensorOf([2, 4])).map(([w1, w2, x]) => [w1, w2, x]),
    (w1, w2, x) => sigmoid(matmul(w2, tanh(matmul(w1, x))))],
];

describe('jvp: ⟨J·v, u⟩ = ⟨v, Jᵀ·u⟩, and both agree with finite differences', () => {
  for (const [name, inputs, f] of cases) {
    it(name, () => {
      fc.assert(fc.property(inputs, fc.integer({ min: 0, max: 1e6 }), (xs, seed) => checkForwardMode(f, xs, seed)), { numRuns: RUNS, seed: SEED });
    });
  }
});

describe('jacobian and hessian', () => {
  const x = tensor([0.3, -1.2, 2], { dtype: 'float64' });
  const f = (v: Tensor) => mul(softmax(v), sum(square(v)));

  it('rev and fwd modes agree and are laid out [...y.shape, ...x.shape]', () => {
    const rev = jacobian(f, x, { mode: 'rev' });
    const fwd = jacobian(f, x, { mode: 'fwd' });
    expect(rev.shape).toEqual([3, 3]);
    rev.data.forEach((r, i) => expect(fwd.data[i]).toBeCloseTo(r, 12));
    // column j is J·e_j from jvp; row i is e_iᵀJ from vjp
    const [, column1] = jvp(f, [x], [tensor([0, 1, 0], { dtype: 'float64' })]);
    [rev.data[1], rev.data[4], rev.data[7]].forEach((v, i) => expect(column1.data[i]).toBeCloseTo(v, 12));
    const W = tensor([[1, 2, 3], [4, 5, 6]], { dtype: 'float64' });
    const lin = jacobian((v) => matmul(W, v.reshape([3, 1])).reshape([2]), x, { mode: 'fwd' });
    expect(lin.toArray()).toEqual(W.toArray());
  });

  it('hessian of a quadratic is its matrix; of Σ exp it is diagonal; and it matches hvp', () => {
    const A = tensor([[2, 1], [1, 3]], { dtype: 'float64' });
    const quad = (v: Tensor) => mul(0.5, sum(mul(v, matmul(A, v.reshape([2, 1])).reshape([2]))));
    expect(hessian(quad, tensor([1, -1], { dtype: 'float64' })).toArray()).toEqual([[2, 1], [1, 3]]);
    const h = hessian((v) => sum(exp(v)), x);
    expect(h.shape).toEqual([3, 3]);
    h.toFlatArray().forEach((value, k) => expect(value).toBeCloseTo(k % 4 === 0 ? Math.exp(x.data[k / 4]) : 0, 12));
    const g = (v: Tensor) => sum(mul(tanh(v), square(v)));
    const H = hessian(g, x);
    const dir = tensor([1, 2, -1], { dtype: 'float64' });
    const hv = hvp(g, x, dir);
    const Hv = matmul(H, dir.reshape([3, 1])).reshape([3]);
    hv.data.forEach((value, i) => expect(Hv.data[i]).toBeCloseTo(value, 12));
  });

  it('linearize pushes many tangents through one linearisation; jvp composes with grad', () => {
    const [y, push] = linearize((v) => mul(v, v), [x]);
    expect(y.toArray()).toEqual(Array.from(x.data, (v) => v * v));
    expect(push([tensor([1, 0, 0], { dtype: 'float64' })]).toFlatArray().map((v) => v + 0)).toEqual([0.6, 0, 0]);
    expect(push([tensor([0, 0, 1], { dtype: 'float64' })]).toFlatArray().map((v) => v + 0)).toEqual([0, 0, 4]);
    // forward-over-reverse: d/dt ∇f(x + t v) = H v
    const g = (v: Tensor) => sum(mul(tanh(v), square(v)));
    const dir = tensor([1, 2, -1], { dtype: 'float64' });
    const [, hv] = jvp((v) => grad(g)(v), [x], [dir]);
    hvp(g, x, dir).data.forEach((value, i) => expect(hv.data[i]).toBeCloseTo(value, 12));
    // a function constant in x, and the identity
    expect(jvp(() => tensor([1, 2], { dtype: 'float64' }), [x], [x])[1].toArray()).toEqual([0, 0]);
    expect(jvp((v) => v, [x], [dir])[1].toArray()).toEqual([1, 2, -1]);
  });

  it('refuses tangents that do not match the primals', () => {
    expect(() => jvp(exp, [x], [tensor([1, 2], { dtype: 'float64' })])).toThrow(ShapeError);
    expect(() => jvp(exp, [x], [tensor([1, 2, 3], { dtype: 'float32' })])).toThrow(/tangent 0 is float32 but primal 0 is float64/);
    expect(() => jvp(exp, [x], [])).toThrow(/0 tangents for 1 primals/);
    expect(() => jacobian(exp, x, { mode: 'sideways' as 'fwd' })).toThrow(/mode must be 'rev' or 'fwd'/);
  });
});
