import { describe, expect, it } from 'vitest';
import {
  Tape, type Tensor, abs, add, cast, clip, concat, div, equal, exp, expandDims, flatten, grad, greater, log, logSoftmax,
  logSumExp, matmul, matmulT, max, maximum, mean, minimum, mul, neg, oneHot, pow, reciprocal, relu, reshape, sigmoid,
  sign, slice, softmax, sqrt, square, squeeze, stack, step, sub, sum, tanh, tensor, transpose, unbroadcast, vjp, where,
} from '@tapegrad/core';
import { gradcheck } from '@tapegrad/core/testing';

const f64 = (data: Parameters<typeof tensor>[0], shape?: number[]) => tensor(data, { dtype: 'float64', shape });
const close = (values: readonly number[], digits = 12) => values.map((v) => expect.closeTo(v, digits));

describe('matmul', () => {
  it('multiplies matrices', () => {
    const c = matmul(f64([[1, 2, 3], [4, 5, 6]]), f64([[1, 0], [0, 1], [2, -1]]));
    expect(c.toArray()).toEqual([[7, -1], [16, -1]]);
  });

  it('vector cases follow NumPy: [k]·[k,n] → [n], [m,k]·[k] → [m], [k]·[k] → []', () => {
    const v = f64([1, 2, 3]);
    const m = f64([[1, 0], [0, 1], [1, 1]]);
    const rowTimesMatrix = matmul(v, m);
    expect(rowTimesMatrix.shape).toEqual([2]);
    expect(rowTimesMatrix.toArray()).toEqual([4, 5]);
    const matrixTimesColumn = matmul(f64([[1, 2, 3], [0, 0, 1]]), v);
    expect(matrixTimesColumn.shape).toEqual([2]);
    expect(matrixTimesColumn.toArray()).toEqual([14, 3]);
    const dot = matmul(v, f64([4, 5, 6]));
    expect(dot.shape).toEqual([]);
    expect(dot.item()).toBe(32);
  });

  it('vector cases differentiate back to vector-shaped gradients', () => {
    const v = f64([1, 2, 3]);
    const m = f64([[1, 0], [0, 1], [1, 1]]);
    const [dv, dm] = grad((a: Tensor, b: Tensor) => sum(matmul(a, b)), { argnums: [0, 1] })(v, m);
    expect(dv.toArray()).toEqual([1, 1, 2]);
    expect(dm.toArray()).toEqual([[1, 1], [2, 2], [3, 3]]);
    expect(grad((a: Tensor) => matmul(a, a))(v).toArray()).toEqual([2, 4, 6]);
  });

  it('matmulT with transpose flags equals matmul of transposed copies, gradients included', () => {
    const a = f64([[1, 2], [3, 4], [5, 6]]); // [3,2]
    const b = f64([[1, -1, 2], [0, 1, 1]]); // [2,3]
    expect(matmulT(a, b, true, true).toArray()).toEqual(matmul(transpose(a), transpose(b)).toArray());
    expect(matmulT(a, a, true, false).toArray()).toEqual([[35, 44], [44, 56]]);
    for (const [tA, tB] of [[false, false], [false, true], [true, false], [true, true]] as const) {
      const x = tA ? f64([[1, 2, 0.5], [3, -1, 2]]) : f64([[1, 3], [2, -1], [0.5, 2]]);
      const y = tB ? f64([[2, 1], [0, -1], [1, 1], [3, 0.5]]) : f64([[2, 0, 1, 3], [1, -1, 1, 0.5]]);
      expect(gradcheck((p, q) => matmulT(p, q, tA, tB), [x, y]).ok).toBe(true);
    }
  });

  it('chainable methods: a.matmul(b).add(c).sigmoid() and .T', () => {
    const a = f64([[1, 2], [3, 4]]);
    const b = f64([[1], [-1]]);
    const c = f64([[0.5], [0.5]]);
    const y = a.matmul(b).add(c).sigmoid();
    const sig = (z: number) => 1 / (1 + Math.exp(-z));
    expect(y.toFlatArray()).toEqual(close([sig(-0.5), sig(-0.5)]));
    expect(a.T.toArray()).toEqual([[1, 3], [2, 4]]);
    expect(a.T.T.toArray()).toEqual(a.toArray());
    expect(a.sub(1).mul(2).div(4).neg().toArray()).toEqual([[-0, -0.5], [-1, -1.5]]);
    expect(a.square().sqrt().toArray()).toEqual(a.toArray());
    expect(a.sum(0).toArray()).toEqual([4, 6]);
    expect(a.mean().item()).toBe(2.5);
    expect(a.max(1).toArray()).toEqual([2, 4]);
    expect(a.reshape([4]).toArray()).toEqual([1, 2, 3, 4]);
    expect(a.flatten().shape).toEqual([4]);
    expect(a.expandDims(0).shape).toEqual([1, 2, 2]);
    expect(a.expandDims(0).squeeze().shape).toEqual([2, 2]);
    expect(a.slice([1, 0]).toArray()).toEqual([[3, 4]]);
    expect(a.clip(2, 3).toArray()).toEqual([[2, 2], [3, 3]]);
    expect(a.maximum(2.5).minimum(3.5).toArray()).toEqual([[2.5, 2.5], [3, 3.5]]);
    expect(a.cast('float32').dtype).toBe('float32');
    expect(a.pow(2).toArray()).toEqual([[1, 4], [9, 16]]);
    expect(a.relu().abs().log().exp().toFlatArray()).toEqual(close([1, 2, 3, 4]));
    expect(a.tanh().toFlatArray()).toEqual(close([1, 2, 3, 4].map(Math.tanh)));
    expect(a.softmax().sum(1).toFlatArray()).toEqual(close([1, 1]));
    expect(a.logSoftmax().exp().sum(1).toFlatArray()).toEqual(close([1, 1]));
    expect(a.logSumExp(1).toFlatArray()).toEqual(close([2 + Math.log1p(Math.exp(-1)), 4 + Math.log1p(Math.exp(-1))]));
    expect(a.broadcastTo([2, 2, 2]).shape).toEqual([2, 2, 2]);
    expect(a.transpose([1, 0]).toArray()).toEqual(a.T.toArray());
  });
});

describe('reductions', () => {
  const x = f64([[[1, 2, 3], [4, 5, 6]], [[7, 8, 9], [10, 11, 12]]]); // [2,2,3]

  it('sum over all, one and several axes, with negative axes and keepDims', () => {
    expect(sum(x).item()).toBe(78);
    expect(sum(x, -1).toArray()).toEqual([[6, 15], [24, 33]]);
    expect(sum(x, -1, true).shape).toEqual([2, 2, 1]);
    expect(sum(x, [0, -1]).toArray()).toEqual([30, 48]);
    expect(sum(x, [0, 2], true).shape).toEqual([1, 2, 1]);
    expect(sum(x, [-3, -2]).toArray()).toEqual([22, 26, 30]);
    expect(sum(x, undefined, true).shape).toEqual([1, 1, 1]);
  });

  it('mean and max likewise', () => {
    expect(mean(x).item()).toBe(6.5);
    expect(mean(x, -2).toArray()).toEqual([[2.5, 3.5, 4.5], [8.5, 9.5, 10.5]]);
    expect(mean(x, [0, 1], true).toArray()).toEqual([[[5.5, 6.5, 7.5]]]);
    expect(max(x).item()).toBe(12);
    expect(max(x, -1, true).toArray()).toEqual([[[3], [6]], [[9], [12]]]);
    expect(max(x, [0, 1]).toArray()).toEqual([10, 11, 12]);
  });

  it('gradients: sum spreads dy, mean divides by the count', () => {
    const [, pullback] = vjp((t: Tensor) => sum(t, -1), x);
    expect(pullback(f64([[1, 2], [3, 4]]))[0].toArray()).toEqual([[[1, 1, 1], [2, 2, 2]], [[3, 3, 3], [4, 4, 4]]]);
    const g = grad((t: Tensor) => mean(t))(x);
    expect(g.toFlatArray()).toEqual(new Array(12).fill(1 / 12));
  });

  it('max with ties splits the gradient equally among the maxima', () => {
    const t = f64([[3, 1, 3], [2, 5, 5], [7, 7, 7]]);
    const g = grad((v: Tensor) => sum(max(v, 1)))(t);
    expect(g.toArray()).toEqual([[0.5, 0, 0.5], [0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]]);
    // the whole-tensor max: two 7s... and one more
    expect(grad((v: Tensor) => max(v))(f64([1, 4, 4, 2])).toArray()).toEqual([0, 0.5, 0.5, 0]);
    // no tie: all to the argmax
    expect(grad((v: Tensor) => max(v))(f64([1, 4, 2])).toArray()).toEqual([0, 1, 0]);
  });
});

describe('element-wise math', () => {
  it('values of the unary functions', () => {
    const x = f64([0.25, 1, 4]);
    expect(exp(x).toFlatArray()).toEqual(close([0.25, 1, 4].map(Math.exp)));
    expect(log(x).toFlatArray()).toEqual(close([0.25, 1, 4].map(Math.log)));
    expect(sqrt(x).toArray()).toEqual([0.5, 1, 2]);
    expect(reciprocal(x).toArray()).toEqual([4, 1, 0.25]);
    expect(square(x).toArray()).toEqual([0.0625, 1, 16]);
    expect(pow(x, 0.5).toArray()).toEqual([0.5, 1, 2]);
    expect(pow(x, -1).toArray()).toEqual([4, 1, 0.25]);
    expect(neg(x).toArray()).toEqual([-0.25, -1, -4]);
    expect(relu(f64([-2, 0, 3])).toArray()).toEqual([0, 0, 3]);
    expect(abs(f64([-2, 0, 3])).toArray()).toEqual([2, 0, 3]);
    expect(sign(f64([-2, 0, 3])).toArray()).toEqual([-1, 0, 1]);
    expect(step(f64([-2, 0, 3])).toArray()).toEqual([0, 0, 1]);
    expect(tanh(f64([0])).item()).toBe(0);
    expect(sigmoid(f64([0, 1000, -1000])).toArray()).toEqual([0.5, 1, 0]);
  });

  it('derivatives of the unary functions against closed forms', () => {
    const points = [-1.5, -0.3, 0.4, 2];
    const x = f64(points);
    const d = (f: (t: Tensor) => Tensor) => grad((t: Tensor) => sum(f(t)))(x).toFlatArray();
    const s = (v: number) => 1 / (1 + Math.exp(-v));
    expect(d(exp)).toEqual(close(points.map(Math.exp)));
    expect(d(sigmoid)).toEqual(close(points.map((v) => s(v) * (1 - s(v)))));
    expect(d(tanh)).toEqual(close(points.map((v) => 1 - Math.tanh(v) ** 2)));
    expect(d((t) => pow(t, 3))).toEqual(close(points.map((v) => 3 * v * v)));
    expect(d(relu)).toEqual([0, 0, 1, 1]);
    expect(d(abs)).toEqual([-1, -1, 1, 1]);
    const positive = f64([0.5, 2, 9]);
    expect(grad((t: Tensor) => sum(log(t)))(positive).toArray()).toEqual([2, 0.5, 1 / 9]);
    expect(grad((t: Tensor) => sum(sqrt(t)))(positive).toFlatArray()).toEqual(close([0.5, 2, 9].map((v) => 0.5 / Math.sqrt(v))));
    expect(grad((t: Tensor) => sum(reciprocal(t)))(positive).toFlatArray()).toEqual(close([0.5, 2, 9].map((v) => -1 / (v * v))));
  });

  it("relu′(0) = 0 and abs′(0) = 0, on purpose", () => {
    const zero = f64([0, 0]);
    expect(grad((t: Tensor) => sum(relu(t)))(zero).toArray()).toEqual([0, 0]);
    expect(grad((t: Tensor) => sum(abs(t)))(zero).toArray()).toEqual([0, 0]);
  });

  it('binary ops broadcast and unbroadcast their gradients to each operand\'s shape', () => {
    const a = f64([[1, 2, 3], [4, 5, 6]]);
    const b = f64([[10], [20]]);
    expect(add(a, b).toArray()).toEqual([[11, 12, 13], [24, 25, 26]]);
    expect(sub(a, 1).toArray()).toEqual([[0, 1, 2], [3, 4, 5]]);
    expect(div(1, f64([2, 4])).toArray()).toEqual([0.5, 0.25]);
    const [da, db] = grad((p: Tensor, q: Tensor) => sum(mul(p, q)), { argnums: [0, 1] })(a, b);
    expect(da.toArray()).toEqual([[10, 10, 10], [20, 20, 20]]);
    expect(db.toArray()).toEqual([[6], [15]]);
    const [dn, dd] = grad((p: Tensor, q: Tensor) => sum(div(p, q)), { argnums: [0, 1] })(f64([2, 6]), f64(2));
    expect(dn.toArray()).toEqual([0.5, 0.5]);
    expect(dd.item()).toBe(-2); // −(2 + 6)/4
    expect(unbroadcast(f64([[1, 2], [3, 4], [5, 6]]), [1, 2]).toArray()).toEqual([[9, 12]]);
    expect(unbroadcast(f64([[1, 2], [3, 4], [5, 6]]), []).item()).toBe(21);
  });

  it('numbers take the dtype of the tensor they meet', () => {
    expect(add(f64([1]), 0.1).dtype).toBe('float64');
    expect(add(f64([1]), 0.1).item()).toBe(1.1);
    expect(mul(2, tensor([1.5])).dtype).toBe('float32');
  });

  it('comparisons return 1 or 0 and have no gradient', () => {
    const a = f64([1, 2, 3]);
    expect(greater(a, 2).toArray()).toEqual([0, 0, 1]);
    expect(equal(a, f64([1, 0, 3])).toArray()).toEqual([1, 0, 1]);
    const tape = new Tape();
    const y = tape.record(() => sum(mul(greater(a, 1.5), a)));
    expect(tape.gradient(y, a).toArray()).toEqual([0, 1, 1]);
  });

  it('cast converts dtypes and casts the gradient back', () => {
    const x = tensor([1.5, 2]);
    const g = grad((t: Tensor) => sum(mul(cast(t, 'float64'), f64([3, 4]))))(x);
    expect(g.dtype).toBe('float32');
    expect(g.toArray()).toEqual([3, 4]);
    expect(cast(x, 'float32')).toBe(x);
  });
});

describe('where, maximum, minimum, clip', () => {
  it('where picks values and routes gradients to the picked side only', () => {
    const cond = f64([1, 0, 1]);
    const a = f64([1, 2, 3]);
    const b = f64([10, 20, 30]);
    expect(where(cond, a, b).toArray()).toEqual([1, 20, 3]);
    expect(where(cond, a, -1).toArray()).toEqual([1, -1, 3]);
    const [da, db] = grad((p: Tensor, q: Tensor) => sum(mul(where(cond, p, q), f64([1, 2, 3]))), { argnums: [0, 1] })(a, b);
    expect(da.toArray()).toEqual([1, 0, 3]);
    expect(db.toArray()).toEqual([0, 2, 0]);
    // a broadcast scalar branch collects the gradient of every position it fills
    const s = f64(5);
    expect(grad((q: Tensor) => sum(where(cond, a, q)))(s).item()).toBe(1);
  });

  it('maximum and minimum: values, and ties send the gradient to the first operand', () => {
    const a = f64([1, 5, 3]);
    const b = f64([4, 2, 3]);
    expect(maximum(a, b).toArray()).toEqual([4, 5, 3]);
    expect(minimum(a, b).toArray()).toEqual([1, 2, 3]);
    const [dMaxA, dMaxB] = grad((p: Tensor, q: Tensor) => sum(maximum(p, q)), { argnums: [0, 1] })(a, b);
    expect(dMaxA.toArray()).toEqual([0, 1, 1]);
    expect(dMaxB.toArray()).toEqual([1, 0, 0]);
    const [dMinA, dMinB] = grad((p: Tensor, q: Tensor) => sum(minimum(p, q)), { argnums: [0, 1] })(a, b);
    expect(dMinA.toArray()).toEqual([1, 0, 1]);
    expect(dMinB.toArray()).toEqual([0, 1, 0]);
    expect(maximum(0, f64([-1, 2])).toArray()).toEqual([0, 2]);
  });

  it('clip clamps values; the gradient is 1 inside and 0 where clamped', () => {
    const x = f64([-3, -1, 0, 0.5, 1, 7]);
    expect(clip(x, -1, 1).toArray()).toEqual([-1, -1, 0, 0.5, 1, 1]);
    expect(grad((t: Tensor) => sum(clip(t, -0.5, 2)))(x).toArray()).toEqual([0, 0, 1, 1, 1, 0]);
    expect(() => clip(x, 1, -1)).toThrow('clip: needs lo ≤ hi, got lo=1, hi=-1');
  });
});

describe('softmax family', () => {
  it('rows sum to 1 and match the closed form', () => {
    const logits = f64([[1, 2, 3], [-1, 0, 1], [5, 5, 5]]);
    const p = softmax(logits);
    expect(sum(p, 1).toFlatArray()).toEqual(close([1, 1, 1], 14));
    const e = [1, 2, 3].map(Math.exp);
    const z = e[0] + e[1] + e[2];
    expect(p.toFlatArray().slice(0, 3)).toEqual(close(e.map((v) => v / z), 14));
    // the row [-1, 0, 1] is [1, 2, 3] shifted: the same probabilities
    expect(p.toFlatArray().slice(3, 6)).toEqual(close(e.map((v) => v / z), 14));
    expect(p.toFlatArray().slice(6)).toEqual(close([1 / 3, 1 / 3, 1 / 3], 14));
  });

  it('is stable at ±1000, in float32 and float64', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      const logits = tensor([[1000, -1000, 999], [-1000, -1000, -1000]], { dtype });
      const p = softmax(logits);
      expect(p.toFlatArray().every(Number.isFinite)).toBe(true);
      expect(p.toFlatArray()).toEqual(close([1 / (1 + Math.exp(-1)), 0, Math.exp(-1) / (1 + Math.exp(-1)), 1 / 3, 1 / 3, 1 / 3], 6));
      const lp = logSoftmax(logits);
      expect(lp.toFlatArray().every(Number.isFinite)).toBe(true);
      expect(lp.toFlatArray()).toEqual(close([-Math.log1p(Math.exp(-1)), -2000 - Math.log1p(Math.exp(-1)), -1 - Math.log1p(Math.exp(-1)), -Math.log(3), -Math.log(3), -Math.log(3)], 3));
      expect(logSumExp(logits).toFlatArray()).toEqual(close([1000 + Math.log1p(Math.exp(-1)), -1000 + Math.log(3)], 3));
    }
  });

  it('gradients are finite at ±1000 and match the closed form p − y for cross-entropy', () => {
    const logits = f64([[1000, -1000, 999]]);
    const y = f64([[0, 0, 1]]);
    const g = grad((z: Tensor) => neg(sum(mul(y, logSoftmax(z)))))(logits);
    const p1 = 1 / (1 + Math.exp(-1));
    expect(g.toFlatArray()).toEqual(close([p1, 0, 1 - p1 - 1], 12));
  });

  it('softmax over axis 0 (examples as columns)', () => {
    const logits = f64([[0, 1], [Math.log(3), 1]]);
    expect(softmax(logits, 0).toArray()).toEqual([[0.25, 0.5], [0.75, 0.5]].map((r) => close(r, 14)));
    expect(gradcheck((t) => softmax(t, 0), [f64([[0.1, -2], [0.4, 1], [1.2, 0]])], { order: 2 }).ok).toBe(true);
    expect(gradcheck((t) => logSoftmax(t), [f64([[0.1, -2, 0.3], [0.4, 1, -1]])]).ok).toBe(true);
  });
});

describe('oneHot', () => {
  it("classAxis 'last' (default) gives [n, depth]", () => {
    const t = oneHot([2, 0, 1], 3);
    expect(t.shape).toEqual([3, 3]);
    expect(t.dtype).toBe('float32');
    expect(t.toArray()).toEqual([[0, 0, 1], [1, 0, 0], [0, 1, 0]]);
  });

  it("classAxis 'first' gives [depth, n]: column m is example m's target", () => {
    const t = oneHot(tensor([2, 0, 1, 2]), 3, { classAxis: 'first', dtype: 'float64' });
    expect(t.shape).toEqual([3, 4]);
    expect(t.dtype).toBe('float64');
    expect(t.toArray()).toEqual([[0, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 1]]);
  });
});

describe('layout ops', () => {
  it('concat and slice round trip, on both axes, with gradients sliced back', () => {
    const a = f64([[1, 2], [3, 4]]);
    const b = f64([[5, 6]]);
    const c = concat([a, b], 0);
    expect(c.toArray()).toEqual([[1, 2], [3, 4], [5, 6]]);
    expect(slice(c, [0, 0], [2, 2]).toArray()).toEqual(a.toArray());
    expect(slice(c, [2, 0], [1, 2]).toArray()).toEqual(b.toArray());
    const d = concat([a, f64([[7], [8]])], -1);
    expect(d.toArray()).toEqual([[1, 2, 7], [3, 4, 8]]);
    expect(slice(d, [0, 2], [2, 1]).toArray()).toEqual([[7], [8]]);
    const [da, db] = grad((p: Tensor, q: Tensor) => sum(mul(concat([p, q], 0), f64([[1, 2], [3, 4], [5, 6]]))), { argnums: [0, 1] })(a, b);
    expect(da.toArray()).toEqual([[1, 2], [3, 4]]);
    expect(db.toArray()).toEqual([[5, 6]]);
    // slice's gradient pads with zeros
    expect(grad((t: Tensor) => sum(slice(t, [1, 0], [1, 2])))(a).toArray()).toEqual([[0, 0], [1, 1]]);
  });

  it('stack adds an axis', () => {
    const s = stack([f64([1, 2]), f64([3, 4]), f64([5, 6])], 0);
    expect(s.toArray()).toEqual([[1, 2], [3, 4], [5, 6]]);
    expect(stack([f64([1, 2]), f64([3, 4])], -1).toArray()).toEqual([[1, 3], [2, 4]]);
  });

  it('reshape, flatten, expandDims and squeeze keep values and differentiate to the input shape', () => {
    const x = f64([[1, 2, 3], [4, 5, 6]]);
    expect(reshape(x, [3, -1]).toArray()).toEqual([[1, 2], [3, 4], [5, 6]]);
    expect(reshape(x, [2, 3])).toBe(x);
    expect(flatten(x).toArray()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(expandDims(x, -1).shape).toEqual([2, 3, 1]);
    expect(squeeze(f64([[[1], [2]]])).shape).toEqual([2]);
    expect(() => squeeze(x, 0)).toThrow('squeeze: axis 0 of [2,3] has length 2, not 1');
    const g = grad((t: Tensor) => sum(mul(reshape(t, [6]), f64([1, 2, 3, 4, 5, 6]))))(x);
    expect(g.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
  });

  it('transpose differentiates through the inverse permutation', () => {
    const x = f64(Array.from({ length: 24 }, (_, i) => i), [2, 3, 4]);
    const w = f64(Array.from({ length: 24 }, (_, i) => i * i), [4, 2, 3]);
    const g = grad((t: Tensor) => sum(mul(transpose(t, [2, 0, 1]), w)))(x);
    // g[i,j,k] = w[k,i,j]
    const expected: number[] = [];
    for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 4; k++) expected.push((k * 6 + i * 3 + j) ** 2);
    expect(g.toFlatArray()).toEqual(expected);
  });
});

it('gradcheck agrees with the VJPs of the primitives on a small composite', () => {
  const f = (w: Tensor, x: Tensor) => mean(tanh(add(matmul(w, x), exp(mul(x, -1)).sum(0, true))));
  const w = f64([[0.3, -0.2, 0.5], [0.1, 0.4, -0.6]]);
  const x = f64([[0.2, -0.1], [0.5, 0.3], [-0.4, 0.8]]);
  const report = gradcheck(f, [w, x], { order: 2 });
  expect(report.ok).toBe(true);
  expect(report.checked).toBe(24);
});
