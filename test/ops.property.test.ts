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
  stack, step, sub, sum, tanh, tensor, transpose, unbroadcast, vjp, where, ShapeError, Tape, einsum, log1p, expm1, erf,
  sin, cos, rsqrt, gelu, silu, elu, leakyRelu, floor, ceil, round, sign, isNaN, isFinite, dropout, createRng,
  ValueError, argmax, argmin, chunk, cumsum, diagonal, flip, min, pad, prod, repeat, scatterAdd, split, std, take,
  tile, variance, conv1d, conv2d, convTranspose2d, fold, unfold, maxPool2d, avgPool2d, adaptiveAvgPool2d, hvp, randn,
} from '@tapegrad/core';
// not re-exported by the package (internal building blocks of the activations' VJPs)
import { reluGrad, sigmoidGrad, tanhGrad } from '../packages/core/src/ops/math.js';
import {
  GradcheckError, type GradcheckOptions, arb, checkGradients, gradcheck, gradcheckProperty, propertySeed,
} from '@tapegrad/core/testing/properties';

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

/**
 * Batched matmul cases: batch axes that broadcast in every NumPy pattern (from
 * arb.broadcastablePair, up to rank 2 of batch), matrices up to 3×3, each transpose flag.
 */
const batchedMatmulCases = fc.tuple(arb.broadcastablePair({ maxRank: 2, maxDim: 3 }), dim(3), dim(3), dim(3), fc.boolean(), fc.boolean())
  .filter(([[ba, bb]]) => ba.length > 0 || bb.length > 0)
  .chain(([[ba, bb], m, k, n, tA, tB]) => fc.tuple(
    fc.constant({ tA, tB }),
    fc.tuple(arb.tensorOf([...ba, ...(tA ? [k, m] : [m, k])]), arb.tensorOf([...bb, ...(tB ? [n, k] : [k, n])])),
  ));

describe('batched matmul', () => {
  it('equals the 2-D product of each pair of matrices, the batch axes broadcast as in NumPy', () => {
    fc.assert(fc.property(batchedMatmulCases, ([{ tA, tB }, [a, b]]) => {
      const c = matmulT(a, b, tA, tB);
      const batch = broadcastShapes('test', a.shape.slice(0, -2), b.shape.slice(0, -2));
      expect(c.shape.slice(0, -2)).toEqual(batch);
      // each output matrix against the 2-D product of the matrices its batch index picks
      const aFull = broadcastTo(a, [...batch, ...a.shape.slice(-2)]), bFull = broadcastTo(b, [...batch, ...b.shape.slice(-2)]);
      const count = batch.reduce((p, d) => p * d, 1);
      const flat = (t: Tensor) => reshape(t, [count, ...t.shape.slice(-2)]);
      const [af, bf, cf] = [flat(aFull), flat(bFull), flat(c)];
      for (let i = 0; i < count; i++) {
        const pick = (t: Tensor) => reshape(slice(t, [i, 0, 0], [1, -1, -1]), t.shape.slice(1));
        expect(pick(cf).toFlatArray()).toEqual(matmulT(pick(af), pick(bf), tA, tB).toFlatArray());
      }
    }), { numRuns: 40, seed: SEED });
  });

  it('gradients unbroadcast over the batch axes, to second order', () => {
    checkOpGradients(batchedMatmulCases, ({ tA, tB }) => (a, b) => matmulT(a, b, tA, tB), { order: 2, numRuns: 40 });
  });

  it('a vector against a batch of matrices keeps NumPy\'s 1-D rules', () => {
    const a = f64([1, 2], [2]);
    const b = f64([1, 0, 0, 1, 2, 0, 0, 2, 3, 1, 1, 3], [3, 2, 2]);
    const left = matmul(a, b), right = matmul(b, a);
    expect(left.shape).toEqual([3, 2]);
    expect(left.toFlatArray()).toEqual([1, 2, 2, 4, 5, 7]);
    expect(right.shape).toEqual([3, 2]);
    expect(right.toFlatArray()).toEqual([1, 2, 2, 4, 5, 7]);
    checkGradients((x, y) => matmul(x, y), [arb.tensorOf([3]), arb.tensorOf([2, 1, 3, 2])], { order: 2, numRuns: 15 });
    checkGradients((x, y) => matmul(x, y), [arb.tensorOf([2, 3, 2]), arb.tensorOf([2])], { order: 2, numRuns: 15 });
  });

  it('a stack of matrices against one shared matrix (the single-product path) and a shared left operand', () => {
    checkGradients((x, y) => matmul(x, y), [arb.tensorOf([2, 3, 2, 4]), arb.tensorOf([4, 3])], { order: 2, numRuns: 15 });
    checkGradients((x, y) => matmulT(x, y, false, true), [arb.tensorOf([2, 3, 4]), arb.tensorOf([1, 3, 4])], { order: 2, numRuns: 15 });
    checkGradients((x, y) => matmul(x, y), [arb.tensorOf([3, 2]), arb.tensorOf([4, 2, 3])], { order: 2, numRuns: 15 });
  });

  it('refuses batch axes that do not broadcast and mismatched inner dimensions, naming the shapes', () => {
    const a = f64(new Array(24).fill(1), [2, 3, 4]);
    expect(() => matmul(a, f64(new Array(60).fill(1), [3, 4, 5]))).toThrow('matmul: batch axes [2] and [3] cannot be broadcast together: [2,3,4] · [3,4,5]');
    expect(() => matmul(a, f64(new Array(30).fill(1), [2, 3, 5]))).toThrow('matmul: inner dimensions differ: [2,3,4] · [2,3,5]');
  });
});

// ---- einsum ----------------------------------------------------------------------------

/**
 * Random einsum specs over labels a–d (lengths 1–3): one to three operands of rank 0–3,
 * labels repeating inside an operand (diagonals, traces) and across operands (contractions,
 * batch axes), and an explicit output of distinct labels in any order.
 */
const einsumCases = fc.tuple(
  fc.tuple(dim(3), dim(3), dim(3), dim(3)),
  fc.array(fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { maxLength: 3 }), { minLength: 1, maxLength: 3 }),
  fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
  fc.integer({ min: 0, max: 23 }),
).chain(([lengths, terms, keepLabel, rotation]) => {
  const size: Record<string, number> = { a: lengths[0], b: lengths[1], c: lengths[2], d: lengths[3] };
  const used = [...new Set(terms.flat())];
  const out = used.filter((l) => keepLabel['abcd'.indexOf(l)]);
  const order = out.map((_, i) => out[(i + rotation) % out.length]);
  const spec = `${terms.map((t) => t.join('')).join(',')}->${order.join('')}`;
  return fc.tuple(fc.constant(spec), fc.tuple(...terms.map((t) => arb.tensorOf(t.map((l) => size[l])))));
});

/** einsum by definition: sum over every assignment of the labels of the product of the entries. */
function einsumByLoops(spec: string, xs: readonly Tensor[]): { shape: number[]; values: number[] } {
  const [lhs, rhs] = spec.split('->');
  const terms = lhs.split(',');
  const size = new Map<string, number>();
  terms.forEach((t, i) => [...t].forEach((l, axis) => size.set(l, xs[i].shape[axis])));
  const labels = [...size.keys()];
  const shape = [...rhs].map((l) => size.get(l)!);
  const values = new Array<number>(shape.reduce((p, d) => p * d, 1)).fill(0);
  const value = new Map<string, number>();
  const visit = (depth: number): void => {
    if (depth === labels.length) {
      let product = 1;
      terms.forEach((t, i) => {
        let offset = 0;
        [...t].forEach((l, axis) => (offset = offset * xs[i].shape[axis] + value.get(l)!));
        product *= xs[i].data[offset];
      });
      let at = 0;
      for (const l of rhs) at = at * size.get(l)! + value.get(l)!;
      values[at] += product;
      return;
    }
    for (let v = 0; v < size.get(labels[depth])!; v++) {
      value.set(labels[depth], v);
      visit(depth + 1);
    }
  };
  visit(0);
  return { shape, values };
}

describe('einsum', () => {
  it('equals its definition (a sum over every label assignment) on random specs', () => {
    fc.assert(fc.property(einsumCases, ([spec, xs]) => {
      const y = einsum(spec, ...xs);
      const expected = einsumByLoops(spec, xs);
      expect(y.shape).toEqual(expected.shape);
      expect(y.toFlatArray()).toEqual(expected.values.map((v) => expect.closeTo(v, 10)));
    }), { numRuns: 150, seed: SEED });
  });

  it('gradients of random specs, to second order', () => {
    checkOpGradients(einsumCases, (spec) => (...xs) => einsum(spec, ...xs), { order: 2, numRuns: 40 });
  });

  it('the everyday specs: batched matmul, attention scores, trace, diagonal, outer product, implicit output, ellipsis', () => {
    const m = f64([1, 2, 3, 4], [2, 2]);
    expect(einsum('ii->', m).toFlatArray()).toEqual([5]);
    expect(einsum('ii->i', m).toFlatArray()).toEqual([1, 4]);
    expect(einsum('ij', m).toFlatArray()).toEqual([1, 2, 3, 4]);
    expect(einsum('ji', m).toFlatArray()).toEqual([1, 3, 2, 4]); // implicit output: alphabetical
    expect(einsum('i,j->ij', f64([1, 2], [2]), f64([3, 4, 5], [3])).toFlatArray()).toEqual([3, 4, 5, 6, 8, 10]);
    expect(einsum('ij,jk,kl->il', m, m, m).toFlatArray()).toEqual([37, 54, 81, 118]);
    const q = f64(Array.from({ length: 24 }, (_, i) => i / 10), [2, 3, 4]);
    const k = f64(Array.from({ length: 40 }, (_, i) => 1 - i / 20), [2, 5, 4]);
    expect(einsum('bqd,bkd->bqk', q, k).toFlatArray()).toEqual(matmulT(q, k, false, true).toFlatArray().map((v) => expect.closeTo(v, 12)));
    expect(einsum('...ij->...ji', q).shape).toEqual([2, 4, 3]);
    expect(einsum('...ij,...jk->...ik', q, transpose(k, [0, 2, 1])).shape).toEqual([2, 3, 5]);
    // a length-1 label broadcasts against the other operand's
    expect(einsum('ij,ij->ij', m, f64([10, 100], [1, 2])).toFlatArray()).toEqual([10, 200, 30, 400]);
    checkGradients((x) => einsum('ii->', x), [arb.tensorOf([3, 3])], { order: 2, numRuns: 10 });
    checkGradients((x, y) => einsum('...ij,...jk->...ik', x, y), [arb.tensorOf([2, 2, 3]), arb.tensorOf([2, 3, 2])], { order: 2, numRuns: 10 });
  });

  it('a bad spec is a typed error quoting it', () => {
    const m = f64([1, 2, 3, 4], [2, 2]);
    expect(() => einsum('ij,jk', m)).toThrow('einsum: "ij,jk" names 2 operands but 1 tensor was given');
    expect(() => einsum('ij->k', m)).toThrow(`einsum: "ij->k": output label 'k' appears in no operand`);
    expect(() => einsum('ij->ii', m)).toThrow(`einsum: "ij->ii": output label 'i' appears twice`);
    expect(() => einsum('i1', m)).toThrow(`einsum: "i1": '1' in operand 0 ('i1') is not a letter`);
    expect(() => einsum('ijk', m)).toThrow(ShapeError);
    expect(() => einsum('ijk', m)).toThrow(`einsum: "ijk": operand 0 ('ijk') has 3 labels but its tensor has rank 2`);
    expect(() => einsum('ij,ij', m, f64([1, 2, 3, 4, 5, 6], [2, 3]))).toThrow(`einsum: "ij,ij": label 'j' has length 2 in one place and 3 in another ([2,2], [2,3])`);
    expect(() => einsum('i->j->k', m)).toThrow('has more than one');
    expect(() => einsum('...i->i', m)).toThrow(`the output must say where they go`);
  });
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

// ---- element-wise, part 2 ----------------------------------------------------------------

/** Bits of every element, −0 and NaN told apart: for exact expectations. */
const bitsOf = (t: Tensor) => Array.from(t.data, (v) => (Object.is(v, -0) ? '-0' : Number.isNaN(v) ? 'NaN' : v));

describe('element-wise, part 2', () => {
  it('log1p on x ∈ [−0.8, 4]', () => {
    checkGradients(log1p, [arb.tensor({ min: -0.8, max: 4 })], { order: 2, numRuns: 30 });
  });

  it('expm1', () => {
    checkGradients(expm1, [arb.tensor({ min: -3, max: 3 })], { order: 2, numRuns: 30 });
  });

  it('erf', () => {
    checkGradients(erf, [arb.tensor({ min: -3, max: 3 })], { order: 2, numRuns: 30 });
  });

  it('sin and cos', () => {
    checkGradients(sin, [arb.tensor({ min: -6, max: 6 })], { order: 2, numRuns: 30 });
    checkGradients(cos, [arb.tensor({ min: -6, max: 6 })], { order: 2, numRuns: 30 });
  });

  it('rsqrt on x ∈ [0.2, 4]', () => {
    checkGradients(rsqrt, [arb.tensor({ min: 0.2, max: 4 })], { order: 2, numRuns: 30 });
  });

  it("gelu, exact (erf) and approximate: 'tanh'", () => {
    checkGradients((x) => gelu(x), [arb.tensor({ min: -4, max: 4 })], { order: 2, numRuns: 30 });
    checkGradients((x) => gelu(x, { approximate: 'tanh' }), [arb.tensor({ min: -4, max: 4 })], { order: 2, numRuns: 30 });
  });

  it('silu', () => {
    checkGradients(silu, [arb.tensor({ min: -6, max: 6 })], { order: 2, numRuns: 30 });
  });

  it('elu with a random alpha, away from the kink at 0', () => {
    const cases = fc.tuple(fc.double({ min: 0.1, max: 2, noNaN: true }), arb.tensor({ avoid: [0] }).map((x) => [x]));
    checkOpGradients(cases, (alpha) => (x) => elu(x, alpha), { order: 2, numRuns: 30 });
  });

  it('leakyRelu with a random slope, away from the kink at 0', () => {
    const cases = fc.tuple(fc.double({ min: -0.5, max: 0.5, noNaN: true }), arb.tensor({ avoid: [0] }).map((x) => [x]));
    checkOpGradients(cases, (slope) => (x) => leakyRelu(x, slope), { order: 2, numRuns: 30 });
  });

  it('floor, ceil, round and sign, away from their jumps: gradient 0, to second order', () => {
    const integers = [-3, -2, -1, 0, 1, 2, 3];
    for (const f of [floor, ceil, sign]) checkGradients(f, [arb.tensor({ avoid: integers })], { order: 2, numRuns: 15 });
    checkGradients(round, [arb.tensor({ avoid: integers.map((i) => i + 0.5) })], { order: 2, numRuns: 15 });
  });

  it('dropout with a fixed seed is x·mask, differentiable to second order', () => {
    const cases = fc.tuple(fc.double({ min: 0.05, max: 0.9, noNaN: true }), arb.tensor().map((x) => [x]));
    checkOpGradients(cases, (p) => (x) => dropout(x, p, { seed: 7 }), { order: 2, numRuns: 20 });
  });

  it('the values: PyTorch\'s formulas at known points, and the edges (±0, ±∞, NaN)', () => {
    const x = f64([-0, 0, 1, -1, 2, Infinity, -Infinity, NaN], [8]);
    expect(bitsOf(log1p(f64([1e-20, -0, -1, -2], [4])))).toEqual([1e-20, '-0', -Infinity, 'NaN']);
    expect(bitsOf(expm1(f64([1e-20, -0, -Infinity, 710], [4])))).toEqual([1e-20, '-0', -1, Infinity]);
    expect(bitsOf(erf(x))).toEqual(['-0', 0, expect.closeTo(0.8427007929497149, 15), expect.closeTo(-0.8427007929497149, 15), expect.closeTo(0.9953222650189527, 15), 1, -1, 'NaN']);
    expect(bitsOf(sin(f64([-0, Math.PI / 2, Infinity], [3])))).toEqual(['-0', 1, 'NaN']);
    expect(bitsOf(cos(f64([0, Math.PI, NaN], [3])))).toEqual([1, -1, 'NaN']);
    expect(bitsOf(rsqrt(f64([4, 0, -1, Infinity], [4])))).toEqual([0.5, Infinity, 'NaN', 0]);
    // gelu(1) = Φ(1) = 0.8413447460685429; the tanh form differs by ≤ 4.8·10⁻⁴ over ℝ
    const g = gelu(f64([1, -1, 0, 2.7], [4])).toFlatArray(), gt = gelu(f64([1, -1, 0, 2.7], [4]), { approximate: 'tanh' }).toFlatArray();
    expect(g[0]).toBeCloseTo(0.8413447460685429, 15);
    expect(g[1]).toBeCloseTo(-0.15865525393145707, 15);
    expect(g[2]).toBe(0);
    expect(gt[0]).toBeCloseTo(0.8411919906082768, 15);
    expect(Math.abs(gt[3] - g[3])).toBeGreaterThan(4e-4);
    expect(Math.abs(gt[3] - g[3])).toBeLessThan(4.8e-4);
    expect(silu(f64([0, 1, -1], [3])).toFlatArray()).toEqual([0, 1 / (1 + Math.exp(-1)), -1 / (1 + Math.exp(1))]);
    expect(elu(f64([2, -1, 0, -Infinity, 1000], [5]), 1.5).toFlatArray()).toEqual([2, 1.5 * Math.expm1(-1), 0, -1.5, 1000]);
    expect(bitsOf(leakyRelu(f64([2, -3, -0, NaN], [4])))).toEqual([2, -0.03, '-0', 'NaN']);
    expect(leakyRelu(f64([-3], [1]), 0.2).toFlatArray()).toEqual([-0.6000000000000001]);
    for (const dtype of ['float32', 'float64'] as const) {
      expect(gelu(tensor([1, -2], { dtype })).dtype).toBe(dtype);
      expect(dropout(tensor([1, -2], { dtype }), 0.5, { seed: 1 }).dtype).toBe(dtype);
    }
  });

  it('the gradients at the kinks follow PyTorch: elu′(0) = α, leakyRelu′(0) = slope, and no NaN from elu at large x', () => {
    const at = (f: (t: Tensor) => Tensor, values: number[]) => grad((t: Tensor) => sum(f(t)))(f64(values, [values.length])).toFlatArray();
    expect(at((t) => elu(t, 0.7), [0, 1000, -1])).toEqual([0.7, 1, 0.7 * Math.exp(-1)]);
    expect(at((t) => leakyRelu(t, 0.1), [0, 2, -2])).toEqual([0.1, 1, 0.1]);
    expect(at((t) => gelu(t), [0])).toEqual([0.5]);
    expect(at((t) => silu(t), [0])).toEqual([0.5]);
  });

  it('erf matches 20-digit values to 10⁻¹⁴ relative (js computes it: Math has no erf)', () => {
    const known: [number, number][] = [
      [1e-300, 1.1283791670955125739e-300], [1e-10, 1.1283791670955125739e-10], [0.1, 0.1124629160182848922],
      [0.5, 0.52049987781304653768], [0.9999, 0.84265927804875947342], [1, 0.84270079294971486934],
      [1.5, 0.96610514647531072707], [1.9999, 0.99532019790702939146], [2, 0.99532226501895273416],
      [2.5, 0.99959304798255504106], [3, 0.99997790950300141456], [4, 0.99999998458274209972],
      [5, 0.99999999999846254021], [5.9, 0.9999999999999999281], [-0.75, -0.7111556336535151316], [-2.25, -0.9985372834133188483],
    ];
    const values = erf(f64(known.map(([x]) => x), [known.length])).toFlatArray();
    known.forEach(([x, expected], i) => {
      expect({ x, relativeError: Math.abs(values[i] - expected) / Math.abs(expected) }).toEqual({ x, relativeError: expect.toSatisfy((e: number) => e <= 1e-14) });
    });
    expect(erf(f64([-3], [1])).item()).toBe(-values[10]); // odd, exactly
  });

  it('floor, ceil, round and sign: round halves to even (PyTorch, NumPy), −0 kept, gradient 0 (not "no gradient")', () => {
    const x = f64([-2.5, -1.5, -0.5, -0.2, 0.5, 1.5, 2.5, 0.49999999999999994, 4503599627370497, -0, NaN, Infinity], [12]);
    expect(bitsOf(round(x))).toEqual([-2, -2, '-0', '-0', 0, 2, 2, 0, 4503599627370497, '-0', 'NaN', Infinity]);
    expect(bitsOf(floor(x))).toEqual([-3, -2, -1, -1, 0, 1, 2, 0, 4503599627370497, '-0', 'NaN', Infinity]);
    expect(bitsOf(ceil(x))).toEqual([-2, -1, '-0', '-0', 1, 2, 3, 1, 4503599627370497, '-0', 'NaN', Infinity]);
    expect(bitsOf(sign(x))).toEqual([-1, -1, -1, -1, 1, 1, 1, 1, 1, 0, 0, 1]);
    expect(bitsOf(round(tensor([0.5, 1.5, 2.5, -3.5], { dtype: 'float32' })))).toEqual([0, 2, 2, -4]);
    for (const f of [floor, ceil, round, sign]) {
      const y = f64([0.3, -1.7, 2.5], [3]);
      expect(grad((t: Tensor) => sum(mul(f(t), t)))(y).toFlatArray()).toEqual(f(y).toFlatArray());
      // backward() reaches the leaf and gives it a zero gradient, as PyTorch
      const leaf = tensor([0.3, -1.7], { dtype: 'float64', requiresGrad: true });
      sum(f(leaf)).backward();
      expect(leaf.grad!.toFlatArray()).toEqual([0, 0]);
    }
  });

  it('isNaN and isFinite: 1 or 0 in the input\'s dtype, constants to the tape', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      const x = tensor([NaN, Infinity, -Infinity, 0, -1e-45, 3.4e38], { dtype });
      expect(isNaN(x).dtype).toBe(dtype);
      expect(isNaN(x).toFlatArray()).toEqual([1, 0, 0, 0, 0, 0]);
      expect(isFinite(x).toFlatArray()).toEqual([0, 0, 0, 1, 1, 1]);
    }
    const leaf = tensor([1, NaN], { dtype: 'float64', requiresGrad: true });
    expect(isNaN(leaf).requiresGrad).toBe(false);
    expect(() => sum(isFinite(leaf)).backward()).toThrow('no leaf with requiresGrad leads to this');
  });

  it('NaN propagates through relu, maximum, minimum, clip and max (it was relu(NaN) = 0 and clip(NaN) = lo)', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      const x = tensor([NaN, -1, 2, -0], { dtype });
      expect(bitsOf(relu(x))).toEqual(['NaN', 0, 2, 0]);
      expect(bitsOf(maximum(x, 0))).toEqual(['NaN', 0, 2, '-0']);
      expect(bitsOf(maximum(0, x))).toEqual(['NaN', 0, 2, 0]);
      expect(bitsOf(minimum(x, 0))).toEqual(['NaN', -1, 0, '-0']);
      expect(bitsOf(minimum(0, x))).toEqual(['NaN', -1, 0, 0]);
      expect(bitsOf(clip(x, -0.5, 0.5))).toEqual(['NaN', -0.5, 0.5, '-0']);
      expect(bitsOf(max(x))).toEqual(['NaN']);
      expect(bitsOf(max(tensor([[1, NaN], [3, 2]], { dtype }), 1))).toEqual(['NaN', 3]);
    }
    // the tie rule is unchanged: the whole gradient to the first argument
    const a = f64([1, 2], [2]), b = f64([1, 3], [2]);
    const [ga, gb] = grad((u: Tensor, v: Tensor) => sum(maximum(u, v)), { argnums: [0, 1] })(a, b);
    expect([ga.toFlatArray(), gb.toFlatArray()]).toEqual([[1, 0], [0, 1]]);
  });

  it('dropout: the same seed gives the same mask, p = 0 is x itself, p = 1 gives x·0, the mean is kept', () => {
    const x = f64(Array.from({ length: 20000 }, () => 1), [100, 200]);
    const y = dropout(x, 0.3, { seed: 11 });
    expect(y.toFlatArray()).toEqual(dropout(x, 0.3, { seed: 11 }).toFlatArray());
    expect(y.toFlatArray()).not.toEqual(dropout(x, 0.3, { seed: 12 }).toFlatArray());
    const values = y.toFlatArray();
    const dropped = values.filter((v) => v === 0).length / values.length;
    // each element is 0 or 1/0.7: the mean's standard deviation is √(0.3/0.7/20000) ≈ 0.0046
    expect(Math.abs(dropped - 0.3)).toBeLessThan(0.02);
    expect(values.every((v) => v === 0 || v === 1 / 0.7)).toBe(true);
    expect(Math.abs(mean(y).item() - 1)).toBeLessThan(0.02);
    expect(dropout(x, 0, { seed: 1 })).toBe(x);
    expect(bitsOf(dropout(f64([2, -3, NaN], [3]), 1, { seed: 1 }))).toEqual([0, '-0', 'NaN']);
    // the gradient is the mask: dropped elements get none, kept ones 1/(1 − p)
    const g = grad((t: Tensor) => sum(dropout(t, 0.3, { seed: 11 })))(x).toFlatArray();
    expect(g).toEqual(values);
    // an rng draws a fresh mask per call
    const rng = createRng(5);
    expect(dropout(x, 0.5, { rng }).toFlatArray()).not.toEqual(dropout(x, 0.5, { rng }).toFlatArray());
  });

  it('bad arguments are typed errors naming the op', () => {
    const x = f64([1, 2], [2]);
    expect(() => dropout(x, 1.5, { seed: 1 })).toThrow(ValueError);
    expect(() => dropout(x, 1.5, { seed: 1 })).toThrow('dropout: p must be a probability in [0, 1], got 1.5');
    expect(() => dropout(x, NaN, { seed: 1 })).toThrow('dropout: p must be a probability in [0, 1], got NaN');
    expect(() => dropout(x, 0.5, {})).toThrow('dropout: needs a seed or an rng');
    expect(() => gelu(x, { approximate: 'erf' as 'none' })).toThrow("gelu: approximate must be 'none' or 'tanh', got erf");
    expect(() => elu(x, NaN)).toThrow('elu: alpha must be a finite number, got NaN');
    expect(() => leakyRelu(x, Infinity)).toThrow('leakyRelu: slope must be a finite number, got Infinity');
    expect(() => gelu([1, 2] as unknown as Tensor)).toThrow('gelu: input 0 is an array, not a Tensor');
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

// ---- indexing and layout ---------------------------------------------------------------

/** Indices of a random shape (rank 0–2, possibly empty), each in [0, size), repeats likely. */
const indicesOf = (size: number) => arb.shape({ maxRank: 2, minDim: 0, maxDim: 3 }).chain((s) =>
  fc.array(fc.integer({ min: 0, max: size - 1 }), { minLength: s.reduce((p, d) => p * d, 1), maxLength: s.reduce((p, d) => p * d, 1) })
    .map((values) => f64(values, s)));

/** A tensor, an axis (or none: take from the flattened tensor) and indices along it. */
const takeCases = arb.shape({ minRank: 1, maxRank: 3 }).chain((s) => fc.option(arb.axis(s.length), { nil: undefined, freq: 4 }).chain((axis) => {
  const size = axis === undefined ? s.reduce((p, d) => p * d, 1) : s[(axis + s.length) % s.length];
  return fc.tuple(fc.record({ axis: fc.constant(axis), indices: indicesOf(size) }), arb.tensorOf(s).map((x) => [x]));
}));

/** Per-axis [before, after] pads (a shorter list for the trailing axes), each < the axis length for reflect. */
const padCases = arb.shape({ minRank: 1, maxRank: 3 }).chain((s) => fc.tuple(
  fc.record({
    mode: fc.constantFrom('constant' as const, 'reflect' as const, 'replicate' as const),
    value: fc.constantFrom(0, 1.5, -2),
    skip: fc.integer({ min: 0, max: s.length - 1 }),
    sides: fc.array(fc.tuple(fc.nat({ max: 3 }), fc.nat({ max: 3 })), { minLength: s.length, maxLength: s.length }),
  }).map(({ mode, value, skip, sides }) => ({
    mode, value,
    pads: sides.slice(skip).map(([b, a], k): [number, number] => {
      const d = s[skip + k];
      return mode === 'reflect' ? [b % d, a % d] : [b, a];
    }),
  })),
  arb.tensorOf(s).map((x) => [x]),
));

describe('indexing and layout', () => {
  it('take along a random axis (or the flattened tensor) with repeated indices of any shape', () => {
    checkOpGradients(takeCases, ({ axis, indices }) => (x) => {
      const y = take(x, indices, axis);
      const source = axis === undefined ? [x.size] : x.shape;
      const a = axis === undefined ? 0 : (axis + x.rank) % x.rank;
      expect(y.shape).toEqual([...source.slice(0, a), ...indices.shape, ...source.slice(a + 1)]);
      return y;
    }, { order: 2, numRuns: 40 });
  });

  it('take gathers x[…, indices[j], …] (against a direct loop)', () => {
    fc.assert(fc.property(takeCases, ([{ axis, indices }, [x]]) => {
      const source = axis === undefined ? [x.size] : x.shape;
      const a = axis === undefined ? 0 : (axis + x.rank) % x.rank;
      const outer = source.slice(0, a).reduce((p, d) => p * d, 1), n = source[a], inner = source.slice(a + 1).reduce((p, d) => p * d, 1);
      const expected: number[] = [];
      for (let o = 0; o < outer; o++) for (const j of indices.data) for (let i = 0; i < inner; i++) expected.push(x.data[(o * n + j) * inner + i]);
      expect(take(x, indices, axis).toFlatArray()).toEqual(expected);
      // the same from a nested array and from an Int32Array (rank 1)
      expect(take(x, indices.toArray(), axis).toFlatArray()).toEqual(expected);
      if (indices.rank === 1) expect(take(x, Int32Array.from(indices.data), axis).toFlatArray()).toEqual(expected);
    }), { numRuns: 40, seed: SEED });
  });

  it('scatterAdd (take\'s adjoint, itself differentiable: its VJP is take)', () => {
    const cases = takeCases.filter(([{ axis }]) => axis !== undefined).chain(([{ axis, indices }, [x]]) => {
      const a = (axis! + x.rank) % x.rank;
      const shape = [...x.shape.slice(0, a), ...indices.shape, ...x.shape.slice(a + 1)];
      return fc.tuple(fc.constant({ axis: axis!, indices, size: x.shape[a] }), arb.tensorOf(shape).map((u) => [u]));
    });
    checkOpGradients(cases, ({ axis, indices, size }) => (u) => scatterAdd(u, indices, axis, size), { order: 2, numRuns: 40 });
  });

  it('take with repeated indices: the gradient counts how often each row was taken (embedding)', () => {
    const table = f64([1, 2, 3, 4, 5, 6, 7, 8], [4, 2]); // vocab 4, dim 2
    const tokens = [[3, 0, 3], [3, 1, 0]];
    expect(take(table, tokens, 0).shape).toEqual([2, 3, 2]);
    expect(take(table, tokens, 0).toArray()).toEqual([[[7, 8], [1, 2], [7, 8]], [[7, 8], [3, 4], [1, 2]]]);
    const g = grad((t: Tensor) => sum(take(t, tokens, 0)))(table);
    expect(g.toArray()).toEqual([[2, 2], [1, 1], [0, 0], [3, 3]]);
    // a float32 tensor of indices works as well, and gets no gradient
    const ids = f64([2, 2], [1, 2]);
    expect(take(tensor([10, 20, 30]), cast(ids, 'float32')).toArray()).toEqual([[30, 30]]);
    expect(grad((i: Tensor) => sum(take(f64([10, 20, 30], [3]), i)))(ids).toFlatArray()).toEqual([0, 0]);
  });

  it('take refuses bad indices with a ValueError naming the index, the axis and its size', () => {
    const x = f64([1, 2, 3, 4, 5, 6], [3, 2]);
    expect(() => take(x, [[0, 3]], 0)).toThrow(ValueError);
    expect(() => take(x, [[0, 3]], 0)).toThrow('take: index 3 at [0,1] is out of range for axis 0 of size 3 in [3,2] (indices must lie in [0, 3); negative ones are not wrapped)');
    expect(() => take(x, [-1], 1)).toThrow('take: index -1 at [0] is out of range for axis 1 of size 2 in [3,2]');
    expect(() => take(x, [0, 1.5], 0)).toThrow('take: index 1.5 at [1] is not an integer');
    expect(() => take(x, tensor([NaN]), 0)).toThrow('take: index NaN at [0] is not an integer');
    expect(() => take(x, tensor([Infinity]), 0)).toThrow('take: index Infinity at [0] is not an integer');
    expect(() => take(x, [[0], [1, 2]], 0)).toThrow(/^take: indices: tensor: ragged nested array/);
    expect(() => take(x, [0], 2)).toThrow(ShapeError);
    expect(() => take(x, 6)).toThrow('take: index 6 at [] is out of range for axis 0 of size 6 in [3,2]');
    expect(() => scatterAdd(x, [0, 1, 1], 1, 2)).toThrow('scatterAdd: updates [3,2] do not have the indices\' shape [3] at axis 1');
    expect(scatterAdd(f64([1, 2, 3], [3]), [1, 0, 1], 0, 3).toFlatArray()).toEqual([2, 4, 0]);
    expect(scatterAdd(f64([1, 2, 3, 4], [2, 2]), [1, 1], -1, 3).toArray()).toEqual([[0, 3, 0], [0, 7, 0]]);
    expect(() => scatterAdd(x, [0, 2], -1, 2)).toThrow('scatterAdd: index 2 at [1] is out of range for axis 1 of size 2 in [3,2]');
  });

  it('pad: constant (any value), reflect and replicate, per-axis pairs for the trailing axes', () => {
    checkOpGradients(padCases, ({ mode, value, pads }) => (x) => pad(x, pads, { mode, value }), { order: 2, numRuns: 40 });
  });

  it('pad: fixed cases, ±∞ fill, and its errors', () => {
    const x = f64([1, 2, 3, 4, 5, 6], [2, 3]);
    expect(pad(x, [[1, 0], [0, 2]]).toArray()).toEqual([[0, 0, 0, 0, 0], [1, 2, 3, 0, 0], [4, 5, 6, 0, 0]]);
    // one pair: the last axis only (PyTorch's F.pad(x, (2, 1)))
    expect(pad(x, [[2, 1]], { mode: 'reflect' }).toArray()).toEqual([[3, 2, 1, 2, 3, 2], [6, 5, 4, 5, 6, 5]]);
    expect(pad(x, [[1, 1], [1, 1]], { mode: 'replicate' }).toArray()).toEqual([[1, 1, 2, 3, 3], [1, 1, 2, 3, 3], [4, 4, 5, 6, 6], [4, 4, 5, 6, 6]]);
    expect(pad(x, 1, { value: -Infinity }).toFlatArray().slice(5, 10)).toEqual([-Infinity, 1, 2, 3, -Infinity]);
    const g = grad((t: Tensor) => sum(pad(t, [[0, 0], [2, 2]], { mode: 'replicate' })))(x);
    expect(g.toArray()).toEqual([[3, 1, 3], [3, 1, 3]]);
    expect(() => pad(x, [[3, 0]], { mode: 'reflect' })).toThrow('pad: reflect padding [3, 0] of axis 1 must be smaller than its length 3 in [2,3]');
    expect(() => pad(x, [[1, 1], [1, 1], [1, 1]])).toThrow('pad: 3 pairs of pads for the 2 axes of [2,3]');
    expect(() => pad(x, [[-1, 0]])).toThrow(ValueError);
  });

  it('tile (NumPy rules: reps or x padded with leading 1s)', () => {
    const cases = arb.shape({ maxRank: 3, maxDim: 3 }).chain((s) => fc.tuple(fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 3 }), arb.tensorOf(s).map((x) => [x])));
    checkOpGradients(cases, (reps) => (x) => tile(x, reps), { order: 2, numRuns: 30 });
    const x = f64([1, 2, 3, 4], [2, 2]);
    expect(tile(f64([1, 2], [2]), [2, 2]).toArray()).toEqual([[1, 2, 1, 2], [1, 2, 1, 2]]);
    expect(tile(x, 2).toArray()).toEqual([[1, 2, 1, 2], [3, 4, 3, 4]]);
    expect(tile(x, [2, 1, 1]).shape).toEqual([2, 2, 2]);
  });

  it('repeat (repeat_interleave): a count or one count per element, along an axis or flattened', () => {
    const cases = arb.shape({ minRank: 1, maxRank: 3, maxDim: 3 }).chain((s) => fc.option(arb.axis(s.length), { nil: undefined }).chain((axis) => {
      const n = axis === undefined ? s.reduce((p, d) => p * d, 1) : s[(axis + s.length) % s.length];
      const repeats = fc.oneof(fc.integer({ min: 0, max: 3 }), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: n, maxLength: n }));
      return fc.tuple(fc.record({ axis: fc.constant(axis), repeats }), arb.tensorOf(s).map((x) => [x]));
    }));
    checkOpGradients(cases, ({ axis, repeats }) => (x) => repeat(x, repeats, axis), { order: 2, numRuns: 30 });
    const x = f64([1, 2, 3, 4], [2, 2]);
    expect(repeat(x, 2).toArray()).toEqual([1, 1, 2, 2, 3, 3, 4, 4]);
    expect(repeat(x, [1, 2], 0).toArray()).toEqual([[1, 2], [3, 4], [3, 4]]);
    expect(() => repeat(x, [1, 2, 3], 1)).toThrow('repeat: 3 repeats for axis 1 of length 2 in [2,2]');
  });

  it('flip over all or some axes', () => {
    const cases = arb.shape({ maxRank: 3 }).chain((s) => fc.tuple(arb.axes(s.length), arb.tensorOf(s).map((x) => [x])));
    checkOpGradients(cases, (axes) => (x) => flip(x, axes), { order: 2, numRuns: 30 });
    expect(flip(f64([1, 2, 3, 4, 5, 6], [2, 3]), -1).toArray()).toEqual([[3, 2, 1], [6, 5, 4]]);
  });

  it('split (a piece size or sizes) and chunk (a count), gradients through every piece', () => {
    const cases = arb.shape({ minRank: 1, maxRank: 3 }).chain((s) => arb.axis(s.length).chain((axis) => {
      const n = s[(axis + s.length) % s.length];
      const sizes = fc.oneof(
        fc.integer({ min: 1, max: n + 1 }),
        fc.array(fc.integer({ min: 0, max: n }), { minLength: 1, maxLength: 3 }).map((parts) => {
          const out: number[] = [];
          let left = n;
          for (const p of parts) { const take = Math.min(p, left); out.push(take); left -= take; }
          out.push(left);
          return out;
        }),
      );
      return fc.tuple(fc.record({ axis: fc.constant(axis), sizes, chunks: fc.integer({ min: 1, max: 5 }) }), arb.tensorOf(s).map((x) => [x]));
    }));
    // each piece weighted differently, so a piece's gradient landing on another shows up
    const weighted = (pieces: Tensor[], axis: number) => concat(pieces.map((p, i) => mul(p, i + 1)), axis);
    checkOpGradients(cases, ({ axis, sizes }) => (x) => weighted(split(x, sizes, axis), axis), { order: 2, numRuns: 30 });
    checkOpGradients(cases, ({ axis, chunks }) => (x) => weighted(chunk(x, chunks, axis), axis), { order: 2, numRuns: 30 });
    const x = f64([0, 1, 2, 3, 4, 5], [6]);
    expect(split(x, 4).map((p) => p.toArray())).toEqual([[0, 1, 2, 3], [4, 5]]);
    expect(split(x, [1, 0, 5]).map((p) => p.shape)).toEqual([[1], [0], [5]]);
    expect(chunk(x, 4).map((p) => p.toArray())).toEqual([[0, 1], [2, 3], [4, 5]]); // as torch.chunk: 3 pieces
    expect(() => split(x, [2, 2])).toThrow('split: sizes [2,2] add up to 4, but axis 0 of [6] has length 6');
  });

  it('diagonal with a random offset and pair of axes; sum(diagonal) is the trace', () => {
    const cases = arb.shape({ minRank: 2, maxRank: 3 }).chain((s) => {
      const axes = fc.shuffledSubarray(s.map((_, i) => i), { minLength: 2, maxLength: 2 });
      return fc.tuple(fc.record({ axes, offset: fc.integer({ min: -3, max: 3 }) }), arb.tensorOf(s).map((x) => [x]));
    });
    checkOpGradients(cases, ({ axes: [a1, a2], offset }) => (x) => diagonal(x, offset, a1, a2), { order: 2, numRuns: 30 });
    const m = f64([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [3, 4]);
    expect(diagonal(m).toArray()).toEqual([0, 5, 10]);
    expect(diagonal(m, 1).toArray()).toEqual([1, 6, 11]);
    expect(diagonal(m, -1).toArray()).toEqual([4, 9]);
    expect(diagonal(m, 0, 1, 0).toArray()).toEqual([0, 5, 10]);
    expect(sum(diagonal(f64([1, 2, 3, 4], [2, 2]))).item()).toBe(5);
  });
});

// ---- reductions, part 2 ----------------------------------------------------------------

describe('reductions, part 2', () => {
  it('min, with distinct values so the minimum is unique', () => {
    checkOpGradients(reduceCases({ distinct: true }), ({ axes, keepDims }) => (x) => min(x, axes, keepDims), { order: 2, numRuns: 40 });
  });

  it('min propagates NaN and splits the gradient between ties, as max does', () => {
    const x = f64([1, NaN, 3, 0, 2, 0], [2, 3]);
    expect(min(x, 1).toFlatArray()).toEqual([NaN, 0]);
    expect(min(x).toFlatArray()).toEqual([NaN]);
    const [, pullback] = vjp((t) => min(t, 1), f64([1, 1, 3, 0, 2, 0], [2, 3]));
    expect(pullback(f64([10, 4], [2]))[0].toFlatArray()).toEqual([5, 5, 0, 2, 0, 2]);
    expect(() => min(f64([], [2, 0]), 1)).toThrow('min: cannot take the min over axis 1 of length 0 in [2,0]');
    // and as methods, like max
    const y = f64([4, 1, 3, 2, 5, 0], [2, 3]);
    expect([y.min(1).toFlatArray(), y.argmin(1).toFlatArray(), y.argmax(0, true).toArray(), y.logSumExp([0, 1]).shape])
      .toEqual([[1, 0], [1, 2], [[0, 1, 0]], []]);
  });

  it('argmax and argmin: the first extreme index along an axis (or flattened), NaN first, against a loop', () => {
    // values from a small set, so ties are common; NaN now and then
    const cases = arb.shape({ minRank: 1, maxRank: 3 }).chain((s) => fc.tuple(
      fc.record({ axis: fc.option(arb.axis(s.length), { nil: undefined }), keepDims: fc.boolean() }),
      fc.array(fc.constantFrom(-1, 0, 2, 2.5, NaN), { minLength: s.reduce((p, d) => p * d, 1), maxLength: s.reduce((p, d) => p * d, 1) }).map((v) => f64(v, s)),
    ));
    fc.assert(fc.property(cases, ([{ axis, keepDims }, x]) => {
      const a = axis === undefined ? 0 : (axis + x.rank) % x.rank;
      const shape = axis === undefined ? [x.size] : x.shape;
      const outer = shape.slice(0, a).reduce((p, d) => p * d, 1), n = shape[a], inner = shape.slice(a + 1).reduce((p, d) => p * d, 1);
      for (const [f, better] of [[argmax, (v: number, b: number) => v > b], [argmin, (v: number, b: number) => v < b]] as const) {
        const expected: number[] = [];
        for (let o = 0; o < outer; o++) {
          for (let i = 0; i < inner; i++) {
            let at = 0;
            for (let k = 0; k < n; k++) {
              const v = x.data[(o * n + k) * inner + i], b = x.data[(o * n + at) * inner + i];
              if (Number.isNaN(b)) break;
              if (Number.isNaN(v) || better(v, b)) at = k;
            }
            expected.push(at);
          }
        }
        const y = f(x, axis, keepDims);
        expect(y.toFlatArray()).toEqual(expected);
        expect(y.dtype).toBe('float64');
        const kept = axis === undefined ? x.shape.map(() => 1) : x.shape.map((d, i) => (i === a ? 1 : d));
        expect(y.shape).toEqual(keepDims ? kept : axis === undefined ? [] : x.shape.filter((_, i) => i !== a));
      }
    }), { numRuns: 60, seed: SEED });
    expect(argmax(tensor([[1, 5, 5], [NaN, 2, NaN]]), 1).toArray()).toEqual([1, 0]);
    expect(argmax(tensor([1, 5, 5])).dtype).toBe('float32');
    // a constant: no gradient flows through an index
    expect(grad((t: Tensor) => sum(mul(argmax(t, 0), t)))(f64([1, 3, 2], [3])).toFlatArray()).toEqual([1, 1, 1]);
  });

  it('cumsum along a random axis, inclusive or exclusive, forward or reversed', () => {
    const cases = arb.shape({ minRank: 1, maxRank: 3 }).chain((s) => fc.tuple(
      fc.record({ axis: arb.axis(s.length), reverse: fc.boolean(), exclusive: fc.boolean() }), arb.tensorOf(s).map((x) => [x])));
    checkOpGradients(cases, ({ axis, reverse, exclusive }) => (x) => cumsum(x, axis, { reverse, exclusive }), { order: 2, numRuns: 40 });
    const x = f64([1, 2, 3, 4, 5, 6], [2, 3]);
    expect(cumsum(x, 1).toArray()).toEqual([[1, 3, 6], [4, 9, 15]]);
    expect(cumsum(x, 0, { reverse: true }).toArray()).toEqual([[5, 7, 9], [4, 5, 6]]);
    expect(cumsum(x, -1, { exclusive: true }).toArray()).toEqual([[0, 1, 3], [0, 4, 9]]);
    expect(cumsum(x, 1, { exclusive: true, reverse: true }).toArray()).toEqual([[5, 3, 0], [11, 6, 0]]);
  });

  it('prod, zeros included: the gradient Π_{j≠i} x_j stays exact', () => {
    // values in [−2, 2], about one in four exactly 0 (one zero, two, …)
    const cases = arb.shape({ maxRank: 3 }).chain((s) => fc.tuple(
      fc.record({ axes: arb.axes(s.length), keepDims: fc.boolean() }),
      fc.array(fc.oneof({ arbitrary: fc.double({ min: -2, max: 2, noNaN: true }), weight: 3 }, fc.constant(0)),
        { minLength: s.reduce((p, d) => p * d, 1), maxLength: s.reduce((p, d) => p * d, 1) }).map((v) => [f64(v, s)]),
    ));
    checkOpGradients(cases, ({ axes, keepDims }) => (x) => prod(x, axes, keepDims), { order: 2, numRuns: 40 });
    const x = f64([2, 0, 3, 0, 0, 4, 1, 2, 3], [3, 3]);
    expect(prod(x, 1).toArray()).toEqual([0, 0, 6]);
    expect(grad((t: Tensor) => sum(prod(t, 1)))(x).toArray()).toEqual([[0, 6, 0], [0, 0, 0], [6, 3, 2]]);
    expect(prod(f64([], [2, 0]), 1).toArray()).toEqual([1, 1]);
  });

  it('logSumExp over several axes equals logSumExp over one axis at a time', () => {
    checkOpGradients(reduceCases({ min: -5, max: 5 }), ({ axes, keepDims }) => (x) => logSumExp(x, axes ?? x.shape.map((_, i) => i), keepDims), { order: 2, numRuns: 40 });
    const x = f64([1, 2, 3, 4, 5, 6], [1, 2, 3]);
    expect(logSumExp(x, [0, 2]).toFlatArray()).toEqual(logSumExp(logSumExp(x, 2), 0).toFlatArray().map((v) => expect.closeTo(v, 12)));
    expect(logSumExp(x, [-1, 1], true).shape).toEqual([1, 1, 1]);
  });

  it('logSumExp of an all −∞ slice is −∞ and of one holding +∞ is +∞ (not NaN); NaN stays NaN', () => {
    const x = f64([-Infinity, -Infinity, Infinity, 1, NaN, 0, -Infinity, 0], [4, 2]);
    expect(logSumExp(x, 1).toFlatArray()).toEqual([-Infinity, Infinity, NaN, 0]);
    expect(logSumExp(cast(x, 'float32'), 1).toFlatArray()).toEqual([-Infinity, Infinity, NaN, 0]);
    expect(logSumExp(f64([-Infinity, -Infinity, -Infinity, -Infinity], [2, 2]), [0, 1]).item()).toBe(-Infinity);
  });

  it('variance and std (correction 1 or 0) over random axes', () => {
    const cases = reduceCases({ distinct: true, margin: 0.1 }).chain(([{ axes, keepDims }, [x]]) => {
      const n = (axes ?? x.shape.map((_, i) => i)).reduce((p, a) => p * x.shape[(a + x.rank) % x.rank], 1);
      return fc.tuple(fc.record({ axes: fc.constant(axes), keepDims: fc.constant(keepDims), correction: fc.constantFrom(...(n > 1 ? [0, 1] : [0])) }), fc.constant([x] as Tensor[]));
    });
    checkOpGradients(cases, ({ axes, keepDims, correction }) => (x) => variance(x, axes, { correction, keepDims }), { order: 2, numRuns: 40 });
    // std needs a spread (√ is not differentiable at 0): at least two distinct values per slice
    const spread = cases.filter(([{ axes }, [x]]) => (axes ?? x.shape.map((_, i) => i)).reduce((p, a) => p * x.shape[(a + x.rank) % x.rank], 1) > 1);
    checkOpGradients(spread, ({ axes, keepDims, correction }) => (x) => std(x, axes, { correction, keepDims }), { order: 2, numRuns: 40 });
    const x = f64([1, 2, 3, 4, 6, 8], [2, 3]);
    expect(variance(x, 1).toFlatArray()).toEqual([1, 4]);
    expect(variance(x, 1, { correction: 0 }).toFlatArray()).toEqual([expect.closeTo(2 / 3, 14), expect.closeTo(8 / 3, 14)]);
    expect(std(x, -1, { keepDims: true }).toArray()).toEqual([[1], [2]]);
    expect(() => variance(f64([1, 2], [2, 1]), 1)).toThrow('variance: 1 element over axes [1] of [2,1] leave no degrees of freedom with correction 1');
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

// ---- convolution and pooling -----------------------------------------------------------

describe('convolution and pooling', () => {
  type Pad = 'valid' | 'same' | [number, number];
  interface ConvCase {
    N: number; G: number; cPer: number; oPer: number; H: number; W: number; kH: number; kW: number;
    stride: [number, number]; dilation: [number, number]; padding: Pad;
  }

  /** Small random convolutions: every option, with H and W large enough for the kernel. */
  const convCases = (maxSpatial = 5): fc.Arbitrary<ConvCase> => fc.record({
    N: fc.integer({ min: 1, max: 2 }), G: fc.integer({ min: 1, max: 2 }), cPer: fc.integer({ min: 1, max: 2 }),
    oPer: fc.integer({ min: 1, max: 2 }), kH: fc.integer({ min: 1, max: 3 }), kW: fc.integer({ min: 1, max: 3 }),
    stride: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
    dilation: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
    padding: fc.oneof(fc.constant('valid' as const), fc.constant('same' as const), fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 }))),
  }).chain((c) => {
    const stride: [number, number] = c.padding === 'same' ? [1, 1] : c.stride;
    const pad = Array.isArray(c.padding) ? c.padding : [0, 0];
    const minH = Math.max(1, c.dilation[0] * (c.kH - 1) + 1 - 2 * pad[0]);
    const minW = Math.max(1, c.dilation[1] * (c.kW - 1) + 1 - 2 * pad[1]);
    return fc.record({ H: fc.integer({ min: minH, max: Math.max(minH, maxSpatial) }), W: fc.integer({ min: minW, max: Math.max(minW, maxSpatial) }) })
      .map(({ H, W }) => ({ ...c, stride, H, W }));
  });

  const convInputs = (c: ConvCase) => fc.tuple(
    arb.tensorOf([c.N, c.G * c.cPer, c.H, c.W]), arb.tensorOf([c.G * c.oPer, c.cPer, c.kH, c.kW]));
  const convOptions = (c: ConvCase) => ({ stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.G });

  /** Top/left padding and output size of one axis, from the definitions (PyTorch's docs). */
  function axisGeometry(size: number, k: number, s: number, d: number, padding: Pad, axis: 0 | 1): { before: number; out: number } {
    if (padding === 'same') return { before: Math.floor((d * (k - 1)) / 2), out: size };
    const p = padding === 'valid' ? 0 : padding[axis];
    return { before: p, out: Math.floor((size + 2 * p - d * (k - 1) - 1) / s) + 1 };
  }

  /** conv2d by its definition: one sum per output element, float64, zero outside the image. */
  function directConv2d(x: Tensor, w: Tensor, c: ConvCase): { values: number[]; shape: number[] } {
    const xs = x.toFlatArray(), ws = w.toFlatArray();
    const C = c.G * c.cPer, O = c.G * c.oPer;
    const gh = axisGeometry(c.H, c.kH, c.stride[0], c.dilation[0], c.padding, 0);
    const gw = axisGeometry(c.W, c.kW, c.stride[1], c.dilation[1], c.padding, 1);
    const values: number[] = [];
    for (let n = 0; n < c.N; n++) for (let o = 0; o < O; o++) for (let oh = 0; oh < gh.out; oh++) for (let ow = 0; ow < gw.out; ow++) {
      const g = Math.floor(o / c.oPer);
      let acc = 0;
      for (let ci = 0; ci < c.cPer; ci++) for (let i = 0; i < c.kH; i++) for (let j = 0; j < c.kW; j++) {
        const h = oh * c.stride[0] - gh.before + i * c.dilation[0], v = ow * c.stride[1] - gw.before + j * c.dilation[1];
        if (h < 0 || h >= c.H || v < 0 || v >= c.W) continue;
        acc += xs[((n * C + g * c.cPer + ci) * c.H + h) * c.W + v] * ws[((o * c.cPer + ci) * c.kH + i) * c.kW + j];
      }
      values.push(acc);
    }
    return { values, shape: [c.N, O, gh.out, gw.out] };
  }

  const dot = (a: Tensor, b: Tensor) => sum(mul(a, b)).item();

  it('conv2d equals the direct nested-loop convolution (strides, paddings incl. same/valid, dilations, groups)', () => {
    fc.assert(fc.property(convCases(6).chain((c) => fc.tuple(fc.constant(c), convInputs(c))), ([c, [x, w]]) => {
      const y = conv2d(x, w, convOptions(c));
      const expected = directConv2d(x, w, c);
      expect(y.shape).toEqual(expected.shape);
      expect(y.toFlatArray()).toEqual(expected.values.map((v) => expect.closeTo(v, 12)));
    }), { numRuns: 60, seed: SEED });
  });

  it('unfold and fold are adjoint: ⟨unfold(x), c⟩ = ⟨x, fold(c)⟩, and fold(unfold(1)) counts the windows over each pixel', () => {
    const cases = convCases().chain((c) => fc.tuple(fc.constant(c), arb.tensorOf([c.N, c.cPer, c.H, c.W])).chain(([c, x]) => {
      const opts = { kernelSize: [c.kH, c.kW] as [number, number], stride: c.stride, padding: c.padding, dilation: c.dilation };
      return fc.tuple(fc.constant(opts), fc.constant(x), arb.tensorOf(unfold(x, opts).shape));
    }));
    fc.assert(fc.property(cases, ([opts, x, cols]) => {
      const folded = fold(cols, { ...opts, outputSize: [x.shape[2], x.shape[3]] });
      expect(folded.shape).toEqual(x.shape);
      expect(dot(unfold(x, opts), cols)).toBeCloseTo(dot(x, folded), 10);
    }), { numRuns: 40, seed: SEED });
    // 3×3 windows, stride 1, padding 1 over a 3×3 image: the centre lies in 9 windows, a corner in 4
    const ones = tensor(new Float64Array(9).fill(1), { shape: [1, 1, 3, 3] });
    const counts = fold(unfold(ones, { kernelSize: 3, padding: 1 }), { outputSize: 3, kernelSize: 3, padding: 1 });
    expect(counts.toFlatArray()).toEqual([4, 6, 4, 6, 9, 6, 4, 6, 4]);
    // rows run (channel, kernel row, kernel column); columns run over the windows, row-major
    const x = tensor(Float64Array.from({ length: 8 }, (_, i) => i), { shape: [1, 2, 2, 2] });
    expect(unfold(x, { kernelSize: [1, 2] }).toArray()).toEqual([[[0, 2], [1, 3], [4, 6], [5, 7]]]);
  });

  it('unfold and fold: gradients to second order', () => {
    const cases = convCases(4).chain((c) => {
      const opts = { kernelSize: [c.kH, c.kW] as [number, number], stride: c.stride, padding: c.padding, dilation: c.dilation };
      const x = arb.tensorOf([c.N, c.cPer, c.H, c.W]);
      return x.chain((image) => fc.tuple(fc.constant(opts), fc.constant(image), arb.tensorOf(unfold(image, opts).shape)));
    });
    checkOpGradients(cases.map(([opts, x]) => [opts, [x]] as const), (opts) => (x) => unfold(x, opts), { order: 2, numRuns: 25 });
    checkOpGradients(cases.map(([opts, x, cols]) => [{ ...opts, outputSize: [x.shape[2], x.shape[3]] as [number, number] }, [cols]] as const),
      (opts) => (cols) => fold(cols, opts), { order: 2, numRuns: 25 });
  });

  it('conv2d: gradients in x and w to second order (strides, paddings, dilations, groups)', () => {
    const cases = convCases(4).chain((c) => fc.tuple(fc.constant(convOptions(c)), convInputs(c)));
    checkOpGradients(cases, (opts) => (x, w) => conv2d(x, w, opts), { order: 2, numRuns: 25 });
  });

  it("conv2d's bias option adds it to each output channel (as a [O, 1, 1] tensor would) and differentiates to second order in x, w and the bias", () => {
    const cases = convCases(4).chain((c) => fc.tuple(fc.constant(c), convInputs(c), arb.tensorOf([c.G * c.oPer])));
    fc.assert(fc.property(cases, ([c, [x, w], bias]) => {
      const withBias = conv2d(x, w, { ...convOptions(c), bias }).toFlatArray();
      const added = add(conv2d(x, w, convOptions(c)), reshape(bias, [c.G * c.oPer, 1, 1])).toFlatArray();
      withBias.forEach((v, i) => expect(v).toBeCloseTo(added[i], 12));
    }), { numRuns: 30, seed: SEED });
    checkOpGradients(cases.map(([c, [x, w], bias]) => [convOptions(c), [x, w, bias]] as const),
      (opts) => (x, w, bias) => conv2d(x, w, { ...opts, bias }), { order: 2, numRuns: 20 });
  });

  it('conv1d is conv2d on images of height 1, and differentiates to second order', () => {
    const cases = convCases(5).map((c) => ({ ...c, H: 1, kH: 1, stride: [1, c.stride[1]] as [number, number], dilation: [1, c.dilation[1]] as [number, number],
      padding: (Array.isArray(c.padding) ? [0, c.padding[1]] : c.padding) as Pad }))
      .chain((c) => fc.tuple(fc.constant(c), arb.tensorOf([c.N, c.G * c.cPer, c.W]), arb.tensorOf([c.G * c.oPer, c.cPer, c.kW])));
    const options1d = (c: ConvCase) => ({ stride: c.stride[1], dilation: c.dilation[1], groups: c.G, padding: Array.isArray(c.padding) ? c.padding[1] : c.padding });
    fc.assert(fc.property(cases, ([c, x, w]) => {
      const y = conv1d(x, w, options1d(c));
      const y2 = conv2d(expandDims(x, 2), expandDims(w, 2), convOptions(c));
      expect(y.shape).toEqual([c.N, c.G * c.oPer, y2.shape[3]]);
      expect(y.toFlatArray()).toEqual(y2.toFlatArray());
    }), { numRuns: 30, seed: SEED });
    checkOpGradients(cases.map(([c, x, w]) => [options1d(c), [x, w]] as const), (opts) => (x, w) => conv1d(x, w, opts), { order: 2, numRuns: 20 });
  });

  it("convTranspose2d is conv2d's adjoint in x: ⟨conv2d(z, w), y⟩ = ⟨z, convTranspose2d(y, w)⟩, and differentiates to second order", () => {
    // a conv2d case without 'same' (convTranspose2d takes numeric padding); z is conv2d's input
    const cases = convCases(5).filter((c) => c.padding !== 'same').chain((c) => convInputs(c).chain(([z, w]) => {
      const padding = c.padding === 'valid' ? [0, 0] as [number, number] : c.padding as [number, number];
      const y = conv2d(z, w, { ...convOptions(c), padding });
      // the rows and columns conv2d's last window left unread come back as outputPadding
      const extra = [0, 1].map((a) => z.shape[2 + a] - ((y.shape[2 + a] - 1) * c.stride[a] - 2 * padding[a] + c.dilation[a] * ([c.kH, c.kW][a] - 1) + 1));
      const opts = { stride: c.stride, padding, dilation: c.dilation, groups: c.G, outputPadding: extra as [number, number] };
      return fc.tuple(fc.constant(opts), fc.constant(z), fc.constant(w), arb.tensorOf(y.shape));
    }));
    fc.assert(fc.property(cases, ([opts, z, w, y]) => {
      // conv2d's weight [O, C/G, kH, kW] is, read as convTranspose2d's, [C_in = O, C_out/G, kH, kW]
      const back = convTranspose2d(y, w, opts);
      expect(back.shape).toEqual(z.shape);
      expect(dot(conv2d(z, w, opts), y)).toBeCloseTo(dot(z, back), 10);
    }), { numRuns: 40, seed: SEED });
    checkOpGradients(cases.map(([opts, , w, y]) => [opts, [y, w]] as const), (opts) => (y, w) => convTranspose2d(y, w, opts), { order: 2, numRuns: 20 });
  });

  // ---- pooling -----------------------------------------------------------------------

  interface PoolCase { N: number; C: number; H: number; W: number; kernelSize: [number, number]; stride: [number, number]; padding: [number, number]; dilation: [number, number] }

  /** Pools PyTorch accepts: padding ≤ kernel/2, the (dilated) window inside the padded image. */
  const poolCases = (withDilation: boolean): fc.Arbitrary<PoolCase> => fc.record({
    N: fc.integer({ min: 1, max: 2 }), C: fc.integer({ min: 1, max: 3 }),
    kernelSize: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
    stride: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
    dilation: withDilation ? fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })) : fc.constant([1, 1] as [number, number]),
    padFraction: fc.tuple(fc.boolean(), fc.boolean()),
  }).chain(({ padFraction, ...c }) => {
    const padding = c.kernelSize.map((k, a) => (padFraction[a] ? Math.floor(k / 2) : 0)) as [number, number];
    const min = c.kernelSize.map((k, a) => Math.max(1, c.dilation[a] * (k - 1) + 1 - 2 * padding[a]));
    return fc.record({ H: fc.integer({ min: min[0], max: Math.max(min[0], 6) }), W: fc.integer({ min: min[1], max: Math.max(min[1], 6) }) })
      .map(({ H, W }) => ({ ...c, padding, H, W }))
      // a dilated window may skip the whole image and read only padding: the pools refuse it (tested below)
      .filter((p) => [0, 1].every((a) => {
        const size = [p.H, p.W][a], out = Math.floor((size + 2 * padding[a] - p.dilation[a] * (p.kernelSize[a] - 1) - 1) / p.stride[a]) + 1;
        return Array.from({ length: out }, (_, o) => Array.from({ length: p.kernelSize[a] }, (_, i) => o * p.stride[a] - padding[a] + i * p.dilation[a]))
          .every((taps) => taps.some((t) => t >= 0 && t < size));
      }));
  });

  /** A pool by its definition: `reduce` over each window's in-image values (and how many padded cells it covers). */
  function directPool(x: Tensor, c: PoolCase, reduce: (values: number[], padded: number) => number): { values: number[]; shape: number[] } {
    const xs = x.toFlatArray();
    const out = [0, 1].map((a) => Math.floor(([c.H, c.W][a] + 2 * c.padding[a] - c.dilation[a] * (c.kernelSize[a] - 1) - 1) / c.stride[a]) + 1);
    const values: number[] = [];
    for (let nc = 0; nc < c.N * c.C; nc++) for (let oh = 0; oh < out[0]; oh++) for (let ow = 0; ow < out[1]; ow++) {
      const inside: number[] = [];
      let padded = 0;
      for (let i = 0; i < c.kernelSize[0]; i++) for (let j = 0; j < c.kernelSize[1]; j++) {
        const h = oh * c.stride[0] - c.padding[0] + i * c.dilation[0], w = ow * c.stride[1] - c.padding[1] + j * c.dilation[1];
        if (h < 0 || h >= c.H || w < 0 || w >= c.W) padded++;
        else inside.push(xs[(nc * c.H + h) * c.W + w]);
      }
      values.push(reduce(inside, padded));
    }
    return { values, shape: [c.N, c.C, out[0], out[1]] };
  }

  const poolInput = (c: PoolCase, distinct = false) => arb.tensorOf([c.N, c.C, c.H, c.W], { distinct, margin: 0.05 });

  it('maxPool2d equals the direct window maximum (padding as −∞) and differentiates to second order (no ties)', () => {
    const cases = poolCases(true).chain((c) => fc.tuple(fc.constant(c), poolInput(c, true)));
    fc.assert(fc.property(cases, ([c, x]) => {
      const y = maxPool2d(x, c);
      const expected = directPool(x, c, (v) => Math.max(...v));
      expect(y.shape).toEqual(expected.shape);
      expect(y.toFlatArray()).toEqual(expected.values);
    }), { numRuns: 40, seed: SEED });
    checkOpGradients(cases.map(([c, x]) => [c, [x]] as const), (c) => (x) => maxPool2d(x, c), { order: 2, numRuns: 25 });
  });

  it('maxPool2d: ties in a window share its gradient equally (PyTorch gives it all to the first)', () => {
    const x = tensor([[[[1, 3], [3, 2]]]], { dtype: 'float64' });
    const dx = grad((t: Tensor) => sum(maxPool2d(t, { kernelSize: 2 })))(x);
    expect(dx.toFlatArray()).toEqual([0, 0.5, 0.5, 0]);
    // overlapping windows (stride 1) that share their maximum add up their gradients
    const y = tensor([[[[0, 5, 0]]]], { dtype: 'float64' });
    const dy = grad((t: Tensor) => sum(maxPool2d(t, { kernelSize: [1, 2], stride: 1 })))(y);
    expect(dy.toFlatArray()).toEqual([0, 2, 0]);
  });

  it('avgPool2d equals the direct window mean (padding counted by default, or not) and differentiates to second order', () => {
    for (const countIncludePad of [true, false]) {
      const cases = poolCases(false).chain((c) => fc.tuple(fc.constant({ kernelSize: c.kernelSize, stride: c.stride, padding: c.padding, countIncludePad }), fc.constant(c), poolInput(c)));
      fc.assert(fc.property(cases, ([opts, c, x]) => {
        const y = avgPool2d(x, opts);
        const expected = directPool(x, c, (v, padded) => v.reduce((a, b) => a + b, 0) / (v.length + (countIncludePad ? padded : 0)));
        expect(y.shape).toEqual(expected.shape);
        expect(y.toFlatArray()).toEqual(expected.values.map((v) => expect.closeTo(v, 12)));
      }), { numRuns: 30, seed: SEED });
      checkOpGradients(cases.map(([opts, , x]) => [opts, [x]] as const), (opts) => (x) => avgPool2d(x, opts), { order: 2, numRuns: 15 });
    }
  });

  it("adaptiveAvgPool2d follows PyTorch's window rule for any output size, [1,1] is the global mean, and it differentiates to second order", () => {
    const cases = fc.record({ N: dim(2), C: dim(2), H: dim(6), W: dim(6), outH: dim(4), outW: dim(4) })
      .chain((c) => fc.tuple(fc.constant(c), arb.tensorOf([c.N, c.C, c.H, c.W])));
    fc.assert(fc.property(cases, ([c, x]) => {
      const xs = x.toFlatArray();
      const expected: number[] = [];
      for (let nc = 0; nc < c.N * c.C; nc++) for (let i = 0; i < c.outH; i++) for (let j = 0; j < c.outW; j++) {
        const h0 = Math.floor((i * c.H) / c.outH), h1 = Math.ceil(((i + 1) * c.H) / c.outH);
        const w0 = Math.floor((j * c.W) / c.outW), w1 = Math.ceil(((j + 1) * c.W) / c.outW);
        let acc = 0;
        for (let h = h0; h < h1; h++) for (let w = w0; w < w1; w++) acc += xs[(nc * c.H + h) * c.W + w];
        expected.push(acc / ((h1 - h0) * (w1 - w0)));
      }
      const y = adaptiveAvgPool2d(x, [c.outH, c.outW]);
      expect(y.shape).toEqual([c.N, c.C, c.outH, c.outW]);
      expect(y.toFlatArray()).toEqual(expected.map((v) => expect.closeTo(v, 12)));
      expect(adaptiveAvgPool2d(x, 1).toFlatArray()).toEqual(mean(x, [2, 3], true).toFlatArray());
    }), { numRuns: 40, seed: SEED });
    checkOpGradients(cases.map(([c, x]) => [[c.outH, c.outW] as [number, number], [x]] as const), (size) => (x) => adaptiveAvgPool2d(x, size), { order: 2, numRuns: 20 });
  });

  // ---- a small CNN, second order -----------------------------------------------------

  it('the hvp of a small CNN loss (conv → relu → maxPool → dense → softmax cross-entropy) equals finite differences of its gradient', () => {
    const labels = tensor([[1, 0], [0, 1], [0, 0], [0, 0]], { dtype: 'float64' });
    const loss = (images: Tensor) => (kernel: Tensor, dense: Tensor) => {
      const features = maxPool2d(relu(conv2d(images, kernel, { padding: 1, stride: 2 })), { kernelSize: 2, padding: 1 }); // [2,3,2,2]
      const columns = transpose(reshape(features, [2, 12])); // examples as columns: [12, 2]
      return neg(mean(sum(mul(labels, logSoftmax(matmul(dense, columns), 0)), 0)));
    };
    // seeded normal values: relu's kinks and max's ties are measure-zero, and a step of 1e-5
    // along the direction crosses none of them for these seeds
    for (const seed of [1, 2, 3, 4, 5]) {
      const normal = (shape: number[], offset: number) => randn(shape, { seed: 100 * seed + offset, dtype: 'float64' });
      const f = loss(normal([2, 2, 6, 6], 0));
      const params = [normal([3, 2, 3, 3], 1), normal([4, 12], 2)];
      const direction = [normal([3, 2, 3, 3], 3), normal([4, 12], 4)];
      const analytic = hvp(f, params, direction);
      const gradient = grad(f, { argnums: [0, 1] });
      const eps = 1e-5;
      const plus = gradient(...(params.map((p, i) => add(p, mul(direction[i], eps))) as [Tensor, Tensor]));
      const minus = gradient(...(params.map((p, i) => sub(p, mul(direction[i], eps))) as [Tensor, Tensor]));
      analytic.forEach((h, i) => {
        const numeric = sub(plus[i], minus[i]).toFlatArray().map((d) => d / (2 * eps));
        const scale = Math.max(1, ...numeric.map(Math.abs));
        expect(h.toFlatArray(), `seed ${seed}, input ${i}`).toEqual(numeric.map((v) => expect.closeTo(v, -Math.log10(1e-6 * scale))));
        // not vacuous: relu and maxPool pass curvature from the softmax back to both inputs
        expect(Math.max(...h.toFlatArray().map(Math.abs))).toBeGreaterThan(1e-3);
      });
    }
  });

  // ---- errors ------------------------------------------------------------------------

  it('bad shapes and options raise typed errors naming the op and the shapes', () => {
    const z = (...shape: number[]) => tensor(new Float64Array(shape.reduce((a, b) => a * b, 1)), { shape, dtype: 'float64' });
    const message = (fn: () => unknown, cls: typeof ShapeError | typeof ValueError) => {
      try { fn(); } catch (error) { expect(error).toBeInstanceOf(cls); return (error as Error).message; }
      throw new Error('expected an error');
    };
    expect(message(() => conv2d(z(2, 3, 7, 6), z(5, 4, 3, 3)), ShapeError)).toBe('conv2d: input has 3 channels but the weight expects 4 (groups 1): [2,3,7,6] * [5,4,3,3]');
    expect(message(() => conv2d(z(2, 3, 7, 6), z(5, 3, 3, 3), { bias: z(4) }), ShapeError)).toBe('conv2d: bias [4] must be [5], one per output channel: [2,3,7,6] * [5,3,3,3]');
    expect(message(() => conv2d(z(2, 4, 7, 6), z(6, 1, 3, 3), { groups: 3 }), ShapeError)).toBe('conv2d: input has 4 channels but the weight expects 3 (groups 3): [2,4,7,6] * [6,1,3,3]');
    expect(message(() => conv2d(z(2, 4, 7, 6), z(5, 2, 3, 3), { groups: 2 }), ShapeError)).toBe('conv2d: 5 output channels are not divisible by groups 2: [2,4,7,6] * [5,2,3,3]');
    expect(message(() => conv2d(z(1, 1, 4, 4), z(1, 1, 5, 5)), ShapeError)).toBe('conv2d: the kernel 5×5 is larger than the padded input 4×4: [1,1,4,4] * [1,1,5,5]');
    expect(message(() => conv2d(z(1, 1, 4, 4), z(1, 1, 3, 3), { dilation: 2 }), ShapeError)).toBe('conv2d: the kernel 3×3 (dilated 5×5) is larger than the padded input 4×4: [1,1,4,4] * [1,1,3,3]');
    expect(message(() => conv2d(z(1, 1, 4), z(1, 1, 3, 3)), ShapeError)).toBe('conv2d: expects an input [N, C, H, W] and a weight [O, C/groups, kH, kW], got [1,1,4] * [1,1,3,3]');
    expect(message(() => conv2d(z(1, 1, 4, 4), z(1, 1, 3, 3), { stride: 0 }), ValueError)).toBe('conv2d: stride must be a positive integer or a [height, width] pair of them, got 0');
    expect(message(() => conv2d(z(1, 1, 4, 4), z(1, 1, 3, 3), { padding: [1, -1] }), ValueError)).toBe('conv2d: padding must be a non-negative integer or a [height, width] pair of them, got [1,-1]');
    expect(message(() => conv2d(z(1, 1, 4, 4), z(1, 1, 3, 3), { padding: 'same', stride: 2 }), ValueError)).toBe("conv2d: padding 'same' needs stride 1, got stride [2,2]");
    expect(message(() => conv2d(z(1, 1, 4, 4), z(1, 1, 3, 3), { groups: 0 }), ValueError)).toBe('conv2d: groups must be a positive integer, got 0');
    expect(message(() => conv1d(z(2, 3, 7), z(5, 2, 3)), ShapeError)).toBe('conv1d: input has 3 channels but the weight expects 2 (groups 1): [2,3,7] * [5,2,3]');
    expect(message(() => convTranspose2d(z(1, 2, 3, 3), z(3, 1, 3, 3)), ShapeError)).toBe('convTranspose2d: input has 2 channels but the weight expects 3: [1,2,3,3] * [3,1,3,3]');
    expect(message(() => convTranspose2d(z(1, 2, 3, 3), z(2, 1, 3, 3), { stride: 2, outputPadding: 2 }), ValueError)).toBe('convTranspose2d: outputPadding [2,2] must be smaller than the stride [2,2] or the dilation [1,1]');
    expect(message(() => maxPool2d(z(1, 1, 4, 4), { kernelSize: 3, padding: 2 }), ValueError)).toBe('maxPool2d: padding [2,2] must be at most half the kernel size [3,3]');
    expect(message(() => avgPool2d(z(1, 1, 2, 2), { kernelSize: 3 }), ShapeError)).toBe('avgPool2d: the kernel 3×3 is larger than the padded input 2×2: [1,1,2,2]');
    expect(message(() => maxPool2d(z(4, 4), { kernelSize: 2 }), ShapeError)).toBe('maxPool2d: expects an image [N, C, H, W], got [4,4]');
    expect(message(() => maxPool2d(z(1, 1, 1, 3), { kernelSize: [2, 1], dilation: [2, 1], padding: [1, 0] }), ShapeError))
      .toBe('maxPool2d: the window at output row 0 reads only padding (kernel 2×1, dilation [2,1], padding [1,0]): [1,1,1,3]');
    expect(message(() => fold(z(1, 9, 5), { outputSize: 4, kernelSize: 3 }), ShapeError)).toBe('fold: an image 4×4 has 2×2 = 4 windows, but the columns hold 5: [1,9,5]');
    expect(message(() => adaptiveAvgPool2d(z(1, 1, 4, 4), 0), ValueError)).toBe('adaptiveAvgPool2d: outputSize must be a positive integer or a [height, width] pair of them, got 0');
    // mixed dtypes are refused, never cast
    expect(() => conv2d(z(1, 1, 4, 4), tensor(new Float32Array(9), { shape: [1, 1, 3, 3] }))).toThrow(/mixed dtypes/);
  });
});
