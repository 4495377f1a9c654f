/**
 * One fast-check property per differentiable op: the tape's vector-Jacobian product agrees
 * with central finite differences (gradcheck, float64) on random shapes and random values
 * inside the op's domain. `order: 2` also checks the backward pass itself, i.e. that the
 * VJP is written in tape ops and differentiates again (Hessian-vector products).
 *
 * Every property is seeded, each with its own seed (the kit's propertySeed: a hash of the
 * property's name or function, so properties draw different cases), so a run is reproducible
 * and a failure prints a counterexample that replays exactly; FC_SEED=<n> or FC_SEED=random
 * runs them with another seed.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  Tensor, abs, add, broadcastShapes, broadcastTo, cast, clip, concat, customGrad, div, exp, expandDims,
  flatten, greater, grad, log, logSoftmax, logSumExp, matmul, matmulT, max, maximum, mean, minimum, mul,
  logSigmoid, neg, padTo, pow, reciprocal, relu, reshape, sigmoid, slice, softmax, softplus, sqrt, square, squeeze,
  stack, step, sub, sum, tanh, tensor, transpose, unbroadcast, vjp, where, ShapeError, Tape,
} from '@tapegrad/core';
// not re-exported by the package (internal building blocks of the activations' VJPs)
import { reluGrad, sigmoidGrad, tanhGrad } from '../packages/core/src/ops/math.js';
import {
  GradcheckError, type GradcheckOptions, arb, checkGradients, gradcheck, gradcheckProperty, propertySeed,
} from '@tapegrad/core/testing';

const SEED = 42;

/**
 * checkGradients for ops with non-tensor arguments (axes, a permutation, a mask): each case
 * is [attrs, inputs] and `op(attrs)` is the function checked. Same defaults as the kit.
 */
function checkOpGradients<A>(
  cases: fc.Arbitrary<readonly [A, Tensor[]]>,
  op: (attrs: A) => (...inputs: Tensor[]) => Tensor,
  options: Omit<GradcheckOptions, 'raise'> & { numRuns?: number } = {},
): void {
  const { numRuns = 40, ...check } = options;
  fc.assert(
    fc.property(cases, ([attrs, inputs]) => {
      gradcheck(op(attrs), inputs, { ...check, raise: true });
    }),
    { numRuns, seed: propertySeed(expect.getState().currentTestName ?? 'checkOpGradients'), includeErrorInReport: true },
  );
}

const f64 = (values: ArrayLike<number>, shape: readonly number[]) => tensor(Float64Array.from(values), { shape, dtype: 'float64' });
const dim = (max = 4) => fc.integer({ min: 1, max });


// ---- matmul ----------------------------------------------------------------------------

describe('matmul', () => {
  it('2-D: dA = dC·Bᵀ and dB = Aᵀ·dC match finite differences, to second order', () => {
    checkGradients((a, b) => matmul(a, b), arb.matmulPair(), { order: 2, numRuns: 40 });
  });

  const vectorCases: Record<string, { shapes: (k: number, n: number) => number[][]; out: (n: number) => number[] }> = {
    'vector·matrix': { shapes: (k, n) => [[k], [k, n]], out: (n) => [n] },
    'matrix·vector': { shapes: (k, n) => [[n, k], [k]], out: (n) => [n] },
    'vector·vector': { shapes: (k) => [[k], [k]], out: () => [] },
  };

  for (const [name, { shapes, out }] of Object.entries(vectorCases)) {
    it(`${name} (NumPy's 1-D rules) differentiates through the added axes`, () => {
      const pairs = fc.tuple(dim(5), dim(5)).chain(([k, n]) => {
        const [sa, sb] = shapes(k, n);
        return fc.tuple(arb.tensorOf(sa), arb.tensorOf(sb));
      });
      fc.assert(fc.property(pairs, ([a, b]) => {
        // the added axis is dropped again: a vector, or a scalar for vector·vector, holding
        // the product of the vector written as a row (left) or a column (right)
        const y = matmul(a, b);
        const n = a.rank === 2 ? a.shape[0] : b.rank === 2 ? b.shape[1] : 1;
        expect(y.shape).toEqual(out(n));
        const rowOrColumn = matmul(a.rank === 1 ? reshape(a, [1, -1]) : a, b.rank === 1 ? reshape(b, [-1, 1]) : b);
        expect(y.toFlatArray()).toEqual(rowOrColumn.toFlatArray());
      }), { numRuns: 25, seed: SEED });
      checkGradients((a, b) => matmul(a, b), pairs, { order: 2, numRuns: 30 });
    });
  }

  for (const transposeA of [false, true]) {
    for (const transposeB of [false, true]) {
      it(`matmulT(a, b, ${transposeA}, ${transposeB}) equals the explicit transpose and its VJP is right`, () => {
        const pairs = fc.tuple(dim(4), dim(4), dim(4)).chain(([m, k, n]) =>
          fc.tuple(arb.tensorOf(transposeA ? [k, m] : [m, k]), arb.tensorOf(transposeB ? [n, k] : [k, n])));
        fc.assert(fc.property(pairs, ([a, b]) => {
          const fused = matmulT(a, b, transposeA, transposeB).toFlatArray();
          const explicit = matmul(transposeA ? transpose(a) : a, transposeB ? transpose(b) : b).toFlatArray();
          expect(fused).toEqual(explicit.map((v) => expect.closeTo(v, 12)));
        }), { numRuns: 25, seed: SEED });
        checkGradients((a, b) => matmulT(a, b, transposeA, transposeB), pairs, { order: 2, numRuns: 30 });
      });
    }
  }
});

// ---- broadcasting binary ops -----------------------------------------------------------

type Pattern = 'same shape' | 'scalar operand' | '[1,n] vs [m,n]' | '[m,1] vs [m,n]' | 'rank-1 vs rank-2' | 'both sides broadcast';

/** The NumPy broadcasting patterns a pair of shapes exercises (a pair can show several). */
function patterns(a: readonly number[], b: readonly number[]): Set<Pattern> {
  const found = new Set<Pattern>();
  if (a.length === b.length && a.every((d, i) => d === b[i])) found.add('same shape');
  if ((a.length === 0) !== (b.length === 0)) found.add('scalar operand');
  for (const [p, q] of [[a, b], [b, a]]) {
    if (p.length === 2 && q.length === 2) {
      if (p[0] === 1 && q[0] > 1 && p[1] === q[1] && q[1] > 1) found.add('[1,n] vs [m,n]');
      if (p[1] === 1 && q[1] > 1 && p[0] === q[0] && q[0] > 1) found.add('[m,1] vs [m,n]');
    }
    if (p.length === 1 && q.length === 2) found.add('rank-1 vs rank-2');
  }
  // an axis where a is stretched and another where b is (right-aligned, missing axes count as 1)
  const rank = Math.max(a.length, b.length);
  const at = (s: readonly number[], i: number) => (i < rank - s.length ? 1 : s[i - (rank - s.length)]);
  let aStretched = false, bStretched = false;
  for (let i = 0; i < rank; i++) {
    if (at(a, i) === 1 && at(b, i) > 1) aStretched = true;
    if (at(b, i) === 1 && at(a, i) > 1) bStretched = true;
  }
  if (aStretched && bStretched) found.add('both sides broadcast');
  return found;
}

describe('broadcasting binary ops', () => {
  it('arb.broadcastableTensors covers every NumPy broadcasting pattern, each in ≥ 5% of draws', () => {
    // 5% of draws means a 50-run property below meets each pattern a few times; before the
    // arbitrary named its patterns, [1,n] against [m,n] came up in under 1% of draws
    const samples = fc.sample(arb.broadcastableTensors(), { numRuns: 400, seed: SEED });
    const counts = new Map<Pattern, number>();
    for (const [a, b] of samples) {
      // every generated pair really broadcasts
      expect(() => broadcastShapes('test', a.shape, b.shape)).not.toThrow();
      for (const p of patterns(a.shape, b.shape)) counts.set(p, (counts.get(p) ?? 0) + 1);
    }
    const all: Pattern[] = ['same shape', 'scalar operand', '[1,n] vs [m,n]', '[m,1] vs [m,n]', 'rank-1 vs rank-2', 'both sides broadcast'];
    for (const p of all) expect({ pattern: p, count: counts.get(p) ?? 0 }).toEqual({ pattern: p, count: expect.toSatisfy((n: number) => n >= 20) });
    // the general construction still produces rank-3 pairs and dropped leading axes
    expect(samples.some(([a, b]) => a.rank === 3 || b.rank === 3)).toBe(true);
    // and the classifier itself recognises each pattern from a hand-written example
    expect([...patterns([3, 4], [3, 4])]).toContain('same shape');
    expect([...patterns([], [3, 4])]).toContain('scalar operand');
    expect([...patterns([1, 4], [3, 4])]).toContain('[1,n] vs [m,n]');
    expect([...patterns([3, 4], [3, 1])]).toContain('[m,1] vs [m,n]');
    expect([...patterns([4], [3, 4])]).toContain('rank-1 vs rank-2');
    expect([...patterns([3, 1], [1, 4])]).toContain('both sides broadcast');
    expect([...patterns([3, 4], [3, 4])]).not.toContain('both sides broadcast');
  });

  it('add: each gradient is dy summed over the axes its operand was stretched along', () => {
    checkGradients((a, b) => add(a, b), arb.broadcastableTensors(), { order: 2, numRuns: 50 });
  });

  it('sub', () => {
    checkGradients((a, b) => sub(a, b), arb.broadcastableTensors(), { order: 2, numRuns: 50 });
  });

  it('mul', () => {
    checkGradients((a, b) => mul(a, b), arb.broadcastableTensors(), { order: 2, numRuns: 50 });
  });

  it('div (divisor kept at |b| ≥ 0.5)', () => {
    checkGradients((a, b) => div(a, b), arb.broadcastableTensors({ second: { avoid: [0], margin: 0.5 } }), { order: 2, numRuns: 50 });
  });

  it('a number operand is lifted to a scalar that broadcasts (x − 2.5, 2 / x)', () => {
    const x = arb.tensor({ avoid: [0], margin: 0.5 });
    checkGradients((t) => sub(t, 2.5), [x], { order: 2, numRuns: 25 });
    checkGradients((t) => div(2, t), [x], { order: 2, numRuns: 25 });
  });

  it('unbroadcast (the adjoint of broadcasting): sums a gradient back to an operand shape', () => {
    const cases = arb.broadcastablePair().chain(([a, b]) =>
      fc.tuple(fc.constant(a), arb.tensorOf(broadcastShapes('test', a, b)).map((g) => [g])));
    checkOpGradients(cases, (shape) => (g) => {
      const out = unbroadcast(g, shape);
      expect(out.shape).toEqual(shape);
      return out;
    }, { order: 2, numRuns: 40 });
  });
});

// ---- element-wise functions of one tensor ----------------------------------------------

describe('element-wise functions', () => {
  it('neg', () => {
    checkGradients(neg, [arb.tensor()], { order: 2, numRuns: 30 });
  });

  it('exp', () => {
    checkGradients(exp, [arb.tensor({ min: -3, max: 3 })], { order: 2, numRuns: 40 });
  });

  it('log on x ∈ [0.2, 5]', () => {
    checkGradients(log, [arb.tensor({ min: 0.2, max: 5 })], { order: 2, numRuns: 40 });
  });

  it('sigmoid', () => {
    checkGradients(sigmoid, [arb.tensor({ min: -6, max: 6 })], { order: 2, numRuns: 40 });
  });

  it('tanh', () => {
    checkGradients(tanh, [arb.tensor({ min: -4, max: 4 })], { order: 2, numRuns: 40 });
  });

  it('relu, away from the kink at 0', () => {
    checkGradients(relu, [arb.tensor({ avoid: [0] })], { order: 2, numRuns: 40 });
  });

  it('square', () => {
    checkGradients(square, [arb.tensor()], { order: 2, numRuns: 40 });
  });

  it('pow with an integer exponent in [-3, 4], x kept at |x| ≥ 0.5', () => {
    const cases = fc.tuple(fc.integer({ min: -3, max: 4 }), arb.tensor({ avoid: [0], margin: 0.5 }).map((x) => [x]));
    checkOpGradients(cases, (p) => (x) => pow(x, p), { order: 2, numRuns: 50 });
  });

  it('pow with a non-integer exponent on x > 0', () => {
    const exponent = fc.double({ min: -2.5, max: 2.5, noNaN: true }).filter((p) => !Number.isInteger(p));
    const cases = fc.tuple(exponent, arb.tensor({ min: 0.3, max: 3 }).map((x) => [x]));
    checkOpGradients(cases, (p) => (x) => pow(x, p), { order: 2, numRuns: 50 });
  });

  it('sqrt on x ∈ [0.2, 4]', () => {
    checkGradients(sqrt, [arb.tensor({ min: 0.2, max: 4 })], { order: 2, numRuns: 40 });
  });

  it('abs, away from the kink at 0', () => {
    checkGradients(abs, [arb.tensor({ avoid: [0] })], { order: 2, numRuns: 40 });
  });

  it('reciprocal, x kept at |x| ≥ 0.5', () => {
    checkGradients(reciprocal, [arb.tensor({ avoid: [0], margin: 0.5 })], { order: 2, numRuns: 40 });
  });

  it('softplus (a primitive with VJP dy·σ(x))', () => {
    checkGradients(softplus, [arb.tensor({ min: -6, max: 6 })], { order: 2, numRuns: 40 });
  });

  it('logSigmoid', () => {
    checkGradients(logSigmoid, [arb.tensor({ min: -6, max: 6 })], { order: 2, numRuns: 40 });
  });
});

// ---- the activations' VJPs as primitives -----------------------------------------------

/** Two tensors of one random shape: the first within `first`, the second in [−3, 3]. */
const sameShapePair = (first: Parameters<typeof arb.tensorOf>[1]) =>
  arb.shape().chain((s) => fc.tuple(arb.tensorOf(s, first), arb.tensorOf(s)).map(([a, b]) => [a, b]));

describe('activation gradients (sigmoidGrad, tanhGrad, reluGrad)', () => {
  it('sigmoidGrad(y, dy) = dy·y(1 − y), differentiable in both arguments to second order', () => {
    checkGradients(sigmoidGrad, sameShapePair({ min: 0.01, max: 0.99 }), { order: 2, numRuns: 40 });
  });

  it('tanhGrad(y, dy) = dy·(1 − y²), to second order', () => {
    checkGradients(tanhGrad, sameShapePair({ min: -0.99, max: 0.99 }), { order: 2, numRuns: 40 });
  });

  it('reluGrad(x, dy) = dy·[x > 0], away from the kink, to second order', () => {
    checkGradients(reluGrad, sameShapePair({ avoid: [0] }), { order: 2, numRuns: 40 });
  });

  it('float64 and float32: bit for bit the mul/sub formulas the VJPs used before (property)', () => {
    const asF32 = (t: Tensor) => cast(t, 'float32');
    fc.assert(fc.property(sameShapePair({ min: -1.5, max: 1.5 }), fc.boolean(), ([a, b], single) => {
      const [y, dy] = single ? [asF32(a), asF32(b)] : [a, b];
      const same = (actual: Tensor, expected: Tensor) => {
        expect(actual.dtype).toBe(expected.dtype);
        expect(actual.shape).toEqual(expected.shape);
        expect(Array.from(actual.data, (v) => Object.is(v, 0) ? '+0' : Object.is(v, -0) ? '-0' : v))
          .toEqual(Array.from(expected.data, (v) => Object.is(v, 0) ? '+0' : Object.is(v, -0) ? '-0' : v));
      };
      same(sigmoidGrad(y, dy), mul(dy, mul(y, sub(1, y))));
      same(tanhGrad(y, dy), mul(dy, sub(1, mul(y, y))));
      same(reluGrad(y, dy), mul(dy, step(y)));
    }), { numRuns: 100, seed: SEED });
  });

  it('name the op and both shapes when the shapes differ (no broadcasting)', () => {
    const y = f64([0.5, 0.5], [2]), dy = f64([1], [1]);
    expect(() => sigmoidGrad(y, dy)).toThrow(ShapeError);
    expect(() => sigmoidGrad(y, dy)).toThrow('sigmoidGrad: the two inputs must have one shape, got [2] and [1]');
    expect(() => reluGrad(dy, y)).toThrow('reluGrad: the two inputs must have one shape, got [1] and [2]');
  });

  it('sigmoid, tanh and relu backpropagate through one grad op each (the node a recording tape sees)', () => {
    const x = f64([-1, 0.5, 2], [3]);
    const names = [sigmoid, tanh, relu].map((f) => {
      const tape = new Tape();
      return tape.record(() => grad((u: Tensor) => sum(f(u)))(x)).node?.def.name;
    });
    expect(names).toEqual(['sigmoidGrad', 'tanhGrad', 'reluGrad']);
    const second = grad((t: Tensor) => sum(grad((u: Tensor) => sum(relu(u)))(t)))(x).toFlatArray();
    expect(second).toEqual([0, 0, 0]); // relu″ = 0 away from 0: the step is a constant
  });
});

// ---- reductions ------------------------------------------------------------------------

/** A tensor with random axes (all, or a subset with some negative) and keepDims. */
const reduceCases = (values: Parameters<typeof arb.tensorOf>[1] = {}) =>
  arb.shape({ maxRank: 3 }).chain((s) =>
    fc.tuple(fc.record({ axes: arb.axes(s.length), keepDims: fc.boolean() }), arb.tensorOf(s, values).map((x) => [x])));

describe('reductions', () => {
  it('sum over all or given axes, keepDims true and false, negative axes', () => {
    checkOpGradients(reduceCases(), ({ axes, keepDims }) => (x) => sum(x, axes, keepDims), { order: 2, numRuns: 50 });
  });

  it('mean', () => {
    checkOpGradients(reduceCases(), ({ axes, keepDims }) => (x) => mean(x, axes, keepDims), { order: 2, numRuns: 50 });
  });

  it('max, with distinct values so the maximum is unique', () => {
    checkOpGradients(reduceCases({ distinct: true }), ({ axes, keepDims }) => (x) => max(x, axes, keepDims), { order: 2, numRuns: 50 });
  });

  it('max splits the gradient equally between tied maxima (a fixed case FD cannot check)', () => {
    const x = f64([1, 3, 3, 0, 2, 2], [2, 3]);
    const [, pullback] = vjp((t) => max(t, 1), x);
    const [g] = pullback(f64([10, 4], [2]));
    expect(g.toFlatArray()).toEqual([0, 5, 5, 0, 2, 2]);
  });
});

// ---- layout ops ------------------------------------------------------------------------

function factorize(n: number): number[] {
  const out: number[] = [];
  for (let p = 2; n > 1; p++) while (n % p === 0) { out.push(p); n /= p; }
  return out;
}

describe('layout ops', () => {
  it('transpose with a random permutation (or none: reverse the axes)', () => {
    const cases = arb.shape({ maxRank: 4, maxDim: 3 }).chain((s) => {
      const rank = s.length;
      const perm = fc.shuffledSubarray(Array.from({ length: rank }, (_, i) => i), { minLength: rank, maxLength: rank })
        .chain((p) => fc.array(fc.boolean(), { minLength: rank, maxLength: rank }).map((neg) => p.map((a, i) => (neg[i] ? a - rank : a))));
      return fc.tuple(fc.option(perm, { nil: undefined, freq: 5 }), arb.tensorOf(s).map((x) => [x]));
    });
    checkOpGradients(cases, (perm) => (x) => transpose(x, perm), { order: 2, numRuns: 50 });
  });

  it('reshape to a random shape of the same size (regrouped factors, inserted 1s, one -1)', () => {
    const cases = arb.shape({ maxRank: 3 }).chain((s) => {
      const factors = s.flatMap(factorize);
      return fc.tuple(
        fc.shuffledSubarray(factors, { minLength: factors.length, maxLength: factors.length }),
        fc.array(fc.boolean(), { minLength: factors.length, maxLength: factors.length }),
        fc.array(fc.nat({ max: 3 }), { maxLength: 2 }),
        fc.boolean(),
      ).map(([order, cuts, ones, infer]) => {
        const target: number[] = [];
        order.forEach((f, i) => (i === 0 || cuts[i] ? target.push(f) : (target[target.length - 1] *= f)));
        for (const at of ones) target.splice(at % (target.length + 1), 0, 1);
        if (infer && target.length > 0) target[0] = -1;
        return target;
      }).chain((target) => fc.tuple(fc.constant(target), arb.tensorOf(s).map((x) => [x])));
    });
    checkOpGradients(cases, (shape) => (x) => {
      const y = reshape(x, shape);
      expect(y.size).toBe(x.size);
      return y;
    }, { order: 2, numRuns: 50 });
  });

  it('flatten', () => {
    checkGradients(flatten, [arb.tensor({ shape: arb.shape({ maxRank: 4, maxDim: 3 }) })], { order: 2, numRuns: 30 });
  });

  it('expandDims at any position, negative included', () => {
    const cases = arb.shape().chain((s) => fc.tuple(fc.integer({ min: -(s.length + 1), max: s.length }), arb.tensorOf(s).map((x) => [x])));
    checkOpGradients(cases, (axis) => (x) => expandDims(x, axis), { order: 2, numRuns: 30 });
  });

  it('squeeze all length-1 axes or a random subset of them', () => {
    const cases = arb.shape({ maxRank: 4, maxDim: 3 }).chain((s) => {
      const unit = s.flatMap((d, i) => (d === 1 ? [i] : []));
      const axes = fc.subarray(unit).chain((a) => fc.array(fc.boolean(), { minLength: a.length, maxLength: a.length }).map((neg) => a.map((x, i) => (neg[i] ? x - s.length : x))));
      return fc.tuple(fc.option(axes, { nil: undefined }), arb.tensorOf(s).map((x) => [x]));
    });
    checkOpGradients(cases, (axes) => (x) => squeeze(x, axes), { order: 2, numRuns: 40 });
  });

  it('broadcastTo: the gradient is summed over the broadcast axes', () => {
    const cases = arb.broadcastablePair().chain(([a, b]) => fc.tuple(fc.constant(broadcastShapes('test', a, b)), arb.tensorOf(a).map((x) => [x])));
    checkOpGradients(cases, (shape) => (x) => broadcastTo(x, shape), { order: 2, numRuns: 40 });
  });

  it('slice with a random begin (sometimes negative) and size (sometimes -1: to the end)', () => {
    const cases = arb.shape({ minRank: 1, maxRank: 3, maxDim: 5 }).chain((s) => {
      const perAxis = s.map((d) => fc.integer({ min: 0, max: d - 1 }).chain((b) =>
        fc.record({ b: fc.constant(b), size: fc.integer({ min: 1, max: d - b }), negative: fc.boolean(), toEnd: fc.boolean() })
          .map(({ size, negative, toEnd }) => ({ begin: negative ? b - d : b, size: toEnd ? -1 : size }))));
      return fc.tuple(fc.tuple(...perAxis), arb.tensorOf(s).map((x) => [x]));
    });
    checkOpGradients(cases, (axes) => (x) => slice(x, axes.map((a) => a.begin), axes.map((a) => a.size)), { order: 2, numRuns: 50 });
  });

  it('padTo (slice\'s adjoint) at a random offset inside a larger shape', () => {
    const cases = arb.shape({ maxRank: 3, maxDim: 3 }).chain((s) => fc.tuple(
      fc.tuple(fc.array(fc.nat({ max: 2 }), { minLength: s.length, maxLength: s.length }), fc.array(fc.nat({ max: 2 }), { minLength: s.length, maxLength: s.length }))
        .map(([begin, extra]) => ({ begin, shape: s.map((d, i) => d + begin[i] + extra[i]) })),
      arb.tensorOf(s).map((x) => [x]),
    ));
    checkOpGradients(cases, ({ begin, shape }) => (x) => padTo(x, begin, shape), { order: 2, numRuns: 40 });
  });

  it('concat of a random number of tensors along a random axis', () => {
    const cases = arb.shape({ minRank: 1, maxRank: 3, maxDim: 3 }).chain((s) => fc.tuple(arb.axis(s.length), fc.integer({ min: 1, max: 4 })).chain(([axis, count]) => {
      const along = (axis + s.length) % s.length;
      const parts = fc.array(fc.integer({ min: 1, max: 3 }), { minLength: count, maxLength: count })
        .chain((lengths) => fc.tuple(...lengths.map((len) => arb.tensorOf(s.map((d, i) => (i === along ? len : d))))));
      return fc.tuple(fc.constant(axis), parts);
    }));
    checkOpGradients(cases, (axis) => (...xs) => concat(xs, axis), { order: 2, numRuns: 40 });
  });

  it('stack of a random number of tensors along a random new axis', () => {
    const cases = arb.shape({ maxRank: 3, maxDim: 3 }).chain((s) => fc.tuple(
      fc.integer({ min: -(s.length + 1), max: s.length }),
      fc.integer({ min: 1, max: 4 }).chain((count) => fc.tuple(...Array.from({ length: count }, () => arb.tensorOf(s)))),
    ));
    checkOpGradients(cases, (axis) => (...xs) => stack(xs, axis), { order: 2, numRuns: 40 });
  });
});

// ---- softmax family --------------------------------------------------------------------

const alongAxisCases = arb.shape({ minRank: 1, maxRank: 3 }).chain((s) => fc.tuple(
  fc.record({ axis: arb.axis(s.length), keepDims: fc.boolean() }),
  arb.tensorOf(s, { min: -5, max: 5 }).map((x) => [x]),
));

describe('softmax family along a random axis', () => {
  it('softmax', () => {
    checkOpGradients(alongAxisCases, ({ axis }) => (x) => softmax(x, axis), { order: 2, numRuns: 40 });
  });

  it('logSoftmax', () => {
    checkOpGradients(alongAxisCases, ({ axis }) => (x) => logSoftmax(x, axis), { order: 2, numRuns: 40 });
  });

  it('logSumExp, keepDims true and false', () => {
    checkOpGradients(alongAxisCases, ({ axis, keepDims }) => (x) => logSumExp(x, axis, keepDims), { order: 2, numRuns: 40 });
  });
});

// ---- where and the ops built on it -----------------------------------------------------

/**
 * Two tensors of broadcastable shapes whose values can never tie: a lies in k + [0.35, 0.65]
 * and b in j + [−0.15, 0.15] for integers k, j, so |a − b| ≥ 0.2 for every broadcast pair.
 * The maps are monotone, so shrinking still simplifies the values.
 */
const apartTensors = arb.broadcastableTensors().map(([a, b]) => [
  f64(a.toFlatArray().map((v) => Math.floor(v) + 0.5 + 0.3 * (v - Math.floor(v) - 0.5)), a.shape),
  f64(b.toFlatArray().map((v) => Math.round(v) + 0.3 * (v - Math.round(v))), b.shape),
]);

describe('where, maximum, minimum, clip', () => {
  it('where with a fixed 0/1 mask broadcast against both branches', () => {
    const cases = arb.broadcastablePair().chain(([a, b]) => {
      const out = broadcastShapes('test', a, b);
      const condShape = fc.tuple(fc.integer({ min: 0, max: out.length }), fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }))
        .map(([drop, ones]) => out.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d)));
      const cond = condShape.chain((s) => fc.array(fc.boolean(), { minLength: s.reduce((p, d) => p * d, 1), maxLength: s.reduce((p, d) => p * d, 1) })
        .map((bits) => f64(bits.map(Number), s)));
      return fc.tuple(cond, fc.tuple(arb.tensorOf(a), arb.tensorOf(b)));
    });
    checkOpGradients(cases, (cond) => (a, b) => where(cond, a, b), { order: 2, numRuns: 50 });
  });

  it('the value-apart arbitrary really keeps every broadcast pair apart', () => {
    for (const [a, b] of fc.sample(apartTensors, { numRuns: 100, seed: SEED })) {
      const gap = abs(sub(a, b)).toFlatArray();
      expect(Math.min(...gap, Infinity)).toBeGreaterThanOrEqual(0.2 - 1e-12);
    }
  });

  it('maximum, values kept apart so there are no ties', () => {
    checkGradients((a, b) => maximum(a, b), apartTensors, { order: 2, numRuns: 50 });
  });

  it('minimum, values kept apart so there are no ties', () => {
    checkGradients((a, b) => minimum(a, b), apartTensors, { order: 2, numRuns: 50 });
  });

  it('clip to random bounds, x kept away from both bounds', () => {
    const cases = fc.tuple(fc.double({ min: -2, max: -0.2, noNaN: true }), fc.double({ min: 0.2, max: 2, noNaN: true }))
      .chain(([lo, hi]) => fc.tuple(fc.constant({ lo, hi }), arb.tensor({ avoid: [lo, hi] }).map((x) => [x])));
    checkOpGradients(cases, ({ lo, hi }) => (x) => clip(x, lo, hi), { order: 2, numRuns: 50 });
  });
});

// ---- cast ------------------------------------------------------------------------------

describe('cast', () => {
  // Finite differences need float64 end to end (gradcheck refuses anything else), so the
  // float64 → float64 path is the one gradcheck can see: cast returns its input and the
  // gradient passes through untouched. The float32 path is checked exactly below instead.
  it('float64 → float64 is the identity, gradient included', () => {
    checkGradients((x) => cast(x, 'float64'), [arb.tensor()], { order: 2, numRuns: 25 });
  });

  it('labels its output with the new dtype (regression: it kept the input\'s label)', () => {
    const x = f64([0.1, 0.2], [2]);
    const single = cast(x, 'float32');
    expect(single.dtype).toBe('float32');
    expect(single.data).toBeInstanceOf(Float32Array);
    const double = cast(tensor([1, 2]), 'float64');
    expect(double.dtype).toBe('float64');
    expect(double.data).toBeInstanceOf(Float64Array);
    // so a cast operand now mixes with the other dtype, which is what cast is for
    expect(add(double, x).toFlatArray()).toEqual([1.1, 2.2]);
    expect(cast(single, 'float64').toFlatArray()).toEqual([Math.fround(0.1), Math.fround(0.2)]);
  });

  it('float64 → float32 → float64: the VJP casts the gradient back through float32', () => {
    const pairs = arb.shape().chain((s) => fc.tuple(arb.tensorOf(s), arb.tensorOf(s)));
    fc.assert(fc.property(pairs, ([x, dy]) => {
      const [y, pullback] = vjp((t) => cast(cast(t, 'float32'), 'float64'), x);
      expect(y.dtype).toBe('float64');
      expect(y.toFlatArray()).toEqual(x.toFlatArray().map(Math.fround));
      const [g] = pullback(dy);
      expect(g.dtype).toBe('float64');
      expect(g.toFlatArray()).toEqual(dy.toFlatArray().map(Math.fround));
    }), { numRuns: 30, seed: SEED });
  });
});

// ---- numerical stability ---------------------------------------------------------------

describe('numerical stability at logits of ±1000', () => {
  const logits = f64([1000, -1000, 0, 999], [4]);
  // by hand: p ∝ exp(x − 1000) = [1, 0, e⁻¹⁰⁰⁰ = 0, e⁻¹]
  const z = 1 + Math.exp(-1);
  const p = [1 / z, 0, 0, Math.exp(-1) / z];
  const w = f64([0.5, -2, 1, 3], [4]);

  it('softmax is finite, sums to 1 and matches the closed form', () => {
    const s = softmax(logits).toFlatArray();
    expect(s.every(Number.isFinite)).toBe(true);
    expect(s).toEqual(p.map((v) => expect.closeTo(v, 14)));
    // along axis 0 of a [2,2] matrix (examples as columns)
    const cols = softmax(f64([1000, -1000, -1000, 1000], [2, 2]), 0).toFlatArray();
    expect(cols).toEqual([1, 0, 0, 1]);
  });

  it('logSoftmax and logSumExp are finite and exact where a naive formula overflows', () => {
    const ls = logSoftmax(logits).toFlatArray();
    expect(ls.every(Number.isFinite)).toBe(true);
    expect(ls).toEqual([-Math.log(z), -2000 - Math.log(z), -1000 - Math.log(z), -1 - Math.log(z)].map((v) => expect.closeTo(v, 10)));
    expect(logSumExp(f64([1000, 1000], [2])).item()).toBeCloseTo(1000 + Math.LN2, 10);
    expect(logSumExp(f64([-1000, -1000], [2])).item()).toBeCloseTo(-1000 + Math.LN2, 10);
  });

  it('their gradients are finite and match the closed forms', () => {
    const pw = p.reduce((acc, v, i) => acc + v * w.data[i], 0);
    const sumW = w.toFlatArray().reduce((s, v) => s + v, 0);
    // ∂⟨softmax(x), w⟩/∂x = p ⊙ (w − ⟨p, w⟩)
    const gs = grad((x: Tensor) => sum(mul(softmax(x), w)))(logits).toFlatArray();
    expect(gs).toEqual(p.map((v, i) => expect.closeTo(v * (w.data[i] - pw), 12)));
    // ∂⟨logSoftmax(x), w⟩/∂x = w − p·Σw
    const gl = grad((x: Tensor) => sum(mul(logSoftmax(x), w)))(logits).toFlatArray();
    expect(gl).toEqual(p.map((v, i) => expect.closeTo(w.data[i] - v * sumW, 12)));
    // ∂logSumExp/∂x = p
    const ge = grad((x: Tensor) => logSumExp(x))(logits).toFlatArray();
    expect(ge).toEqual(p.map((v) => expect.closeTo(v, 12)));
  });

  it('sigmoid and tanh of ±1000 saturate to finite values with finite (zero) gradients', () => {
    const x = f64([1000, -1000], [2]);
    expect(sigmoid(x).toFlatArray()).toEqual([1, 0]);
    expect(tanh(x).toFlatArray()).toEqual([1, -1]);
    const gs = grad((t: Tensor) => sum(sigmoid(t)))(x).toFlatArray();
    const gt = grad((t: Tensor) => sum(tanh(t)))(x).toFlatArray();
    for (const g of [...gs, ...gt]) {
      expect(Number.isFinite(g)).toBe(true);
      expect(Math.abs(g)).toBe(0);
    }
    const g2 = grad((t: Tensor) => sum(grad((u: Tensor) => sum(sigmoid(u)))(t)))(x).toFlatArray();
    expect(g2.every(Number.isFinite)).toBe(true);
  });

  it('softplus and logSigmoid of ±1000 are exact, with gradients σ(x) and σ(−x), and ½ at 0', () => {
    const x = f64([1000, -1000, 0, -30], [4]);
    expect(softplus(x).toFlatArray()).toEqual([1000, 0, Math.LN2, expect.closeTo(9.357622968840175e-14, 25)]);
    // where log(1 + eˣ) rounds 1 + eˣ to 1, softplus keeps the tiny value's digits
    expect(softplus(x).toFlatArray()[3] / Math.exp(-30)).toBeCloseTo(1, 12);
    expect(logSigmoid(x).toFlatArray()).toEqual([-0, -1000, -Math.LN2, expect.closeTo(-30, 12)]);
    expect(grad((t: Tensor) => sum(softplus(t)))(x).toFlatArray()).toEqual([1, 0, 0.5, expect.closeTo(Math.exp(-30), 25)]);
    expect(grad((t: Tensor) => sum(logSigmoid(t)))(x).toFlatArray()).toEqual([0, 1, 0.5, expect.closeTo(1, 12)]);
    // softplus″ = σ(1 − σ): ¼ at 0, 0 at ±1000
    expect(grad((t: Tensor) => sum(grad((u: Tensor) => sum(softplus(u)))(t)))(x).toFlatArray().slice(0, 3)).toEqual([0, 0, 0.25]);
  });

  it('softmax is shift-invariant even when the shift is ±1000 (property)', () => {
    const cases = fc.tuple(alongAxisCases, fc.constantFrom(1000, -1000));
    fc.assert(fc.property(cases, ([[{ axis }, [x]], shift]) => {
      const shifted = softmax(add(x, shift), axis).toFlatArray();
      const plain = softmax(x, axis).toFlatArray();
      expect(shifted.every(Number.isFinite)).toBe(true);
      expect(shifted).toEqual(plain.map((v) => expect.closeTo(v, 10)));
      // and each slice along the axis sums to 1
      expect(sum(softmax(add(x, shift), axis), axis).toFlatArray()).toEqual(Array(x.size / x.shape[(axis + x.rank) % x.rank]).fill(0).map(() => expect.closeTo(1, 12)));
    }), { numRuns: 30, seed: SEED });
  });
});

// ---- shrinking -------------------------------------------------------------------------

describe('a wrong VJP is caught, and fast-check shrinks the counterexample', () => {
  // a deliberately wrong op: d(2x) = 2·dx, but the VJP forgets the 2
  const double = customGrad({
    name: 'double',
    forward: (x: Tensor) => mul(x, 2),
    vjp: (dy) => [dy],
  });

  it('shrinks to a scalar and names input, index, analytic and numeric values', () => {
    const result = fc.check(gradcheckProperty(double, [arb.tensor()]), { seed: SEED, numRuns: 50 });
    expect(result.failed).toBe(true);
    // the first failing draw was larger; shrinking took it down
    expect(result.numShrinks).toBeGreaterThan(0);
    const [[x]] = result.counterexample!;
    expect(x.shape).toEqual([]);
    expect(x.item()).toBe(0);
    const error = result.errorInstance;
    expect(error).toBeInstanceOf(GradcheckError);
    const { report } = error as GradcheckError;
    expect(report.worst).toMatchObject({ input: 0, index: [], analytic: 1, order: 1 });
    expect(report.worst!.numeric).toBeCloseTo(2, 6);
    expect(report.message).toMatch(/gradient mismatch for input 0 \[\] at \[\]: analytic 1 vs numeric 2/);
  });

  it('a VJP wrong only for x > 1 shrinks to one element just past 1, at index [0]', () => {
    // right (slope 1) for x ≤ 1, wrong (slope ½) above: the counterexample must point there
    const halfAboveOne = customGrad({
      name: 'halfAboveOne',
      forward: (x: Tensor) => mul(x, 1),
      vjp: (dy, { inputs: [x] }) => [where(greater(x, 1), mul(dy, 0.5), dy)],
    });
    const result = fc.check(gradcheckProperty(halfAboveOne, [arb.tensor({ shape: arb.shape({ minRank: 1 }) })]), { seed: SEED, numRuns: 100 });
    expect(result.failed).toBe(true);
    const [[x]] = result.counterexample!;
    expect(x.shape).toEqual([1]);
    expect(x.item()).toBeGreaterThan(1);
    expect(x.item()).toBeLessThan(1.01);
    const { report } = result.errorInstance as GradcheckError;
    expect(report.worst).toMatchObject({ input: 0, index: [0] });
    expect(report.message).toMatch(/input 0 \[1\] at \[0\]: analytic -?[\d.e-]+ vs numeric/);
    expect(report.worst!.analytic / report.worst!.numeric).toBeCloseTo(0.5, 6);
  });

  it('the correct op passes the very same property', () => {
    const correct = customGrad({ name: 'double', forward: (x: Tensor) => mul(x, 2), vjp: (dy) => [mul(dy, 2)] });
    const result = fc.check(gradcheckProperty(correct, [arb.tensor()], { order: 2 }), { seed: SEED, numRuns: 30 });
    expect(result.failed).toBe(false);
  });
});
