/**
 * The op specifications the backend property tests share: for every differentiable op, its
 * random cases (float64 inputs and attributes, shrinking) and the function of the inputs.
 * test/ops.backends.property.test.ts runs them on every CPU backend, and
 * test/ops.webgpu.property.test.ts on WebGPU.
 */
import fc from 'fast-check';
import {
  type DType, type Tensor, abs, add, broadcastShapes, broadcastTo, clip, concat, div, exp,
  log, logSigmoid, logSoftmax, logSumExp, matmul, matmulT, max, maximum, mean, minimum, mul, neg, padTo, pow, reciprocal, relu,
  reshape, einsum, sigmoid, slice, softmax, softplus, sqrt, square, stack, sub, sum, tanh,
  tensor, transpose, where, log1p, expm1, erf, sin, cos, rsqrt, gelu, silu, elu, leakyRelu, floor, ceil, round,
  sign, dropout, argmax, argmin, chunk, cumsum, diagonal, flip, min, pad, prod, repeat, scatterAdd,
  split, std, take, tile, variance, conv1d, conv2d, convTranspose2d, unfold, fold, maxPool2d, avgPool2d,
  adaptiveAvgPool2d,
} from '@tapegrad/core';
import { arb } from '@tapegrad/core/testing/properties';
// the activations' VJPs as primitives: not re-exported by the package
import { reluGrad, sigmoidGrad, tanhGrad } from '../../packages/core/src/ops/math.js';

export type Convert = (t: Tensor) => Tensor;
/** An op under test: random cases [attrs, inputs] (float64) and the function of the inputs. */
export interface OpSpec<A = unknown> {
  name: string;
  cases: fc.Arbitrary<readonly [A, Tensor[]]>;
  /** `as` converts a float64 tensor held in attrs (a mask) to the dtype under test. */
  op: (attrs: A, as: Convert) => (...inputs: Tensor[]) => Tensor;
}

const spec = <A>(name: string, cases: fc.Arbitrary<readonly [A, Tensor[]]>, op: OpSpec<A>['op']): OpSpec =>
  ({ name, cases, op }) as OpSpec;
/** An op without attributes. */
const plain = (name: string, inputs: fc.Arbitrary<Tensor[]>, f: (...xs: Tensor[]) => Tensor): OpSpec =>
  spec(name, inputs.map((xs) => [null, xs] as const), () => f);

export const toDType = (dtype: DType): Convert => (t) =>
  tensor(dtype === 'float32' ? Float32Array.from(t.data as ArrayLike<number>) : Float64Array.from(t.data as ArrayLike<number>), { shape: [...t.shape], dtype });
export const f64 = (values: ArrayLike<number>, shape: readonly number[]) => tensor(Float64Array.from(values), { shape: [...shape], dtype: 'float64' });
const dim = (maxValue = 4) => fc.integer({ min: 1, max: maxValue });
const one = (a: fc.Arbitrary<Tensor>) => a.map((x) => [x]);
const pair = (a: fc.Arbitrary<[Tensor, Tensor]>) => a.map(([x, y]) => [x, y]);


const reduceCases = (values: Parameters<typeof arb.tensorOf>[1] = {}) =>
  arb.shape({ maxRank: 3 }).chain((s) =>
    fc.tuple(fc.record({ axes: arb.axes(s.length), keepDims: fc.boolean() }), arb.tensorOf(s, values).map((x) => [x])));

const alongAxisCases = arb.shape({ minRank: 1, maxRank: 3 }).chain((s) => fc.tuple(
  fc.record({ axis: arb.axis(s.length), keepDims: fc.boolean() }),
  arb.tensorOf(s, { min: -5, max: 5 }).map((x) => [x]),
));

/** Broadcastable pairs whose values never tie (|a − b| ≥ 0.2), as in ops.property.test.ts. */
const apartTensors = arb.broadcastableTensors().map(([a, b]) => [
  f64(a.toFlatArray().map((v) => Math.floor(v) + 0.5 + 0.3 * (v - Math.floor(v) - 0.5)), a.shape),
  f64(b.toFlatArray().map((v) => Math.round(v) + 0.3 * (v - Math.round(v))), b.shape),
]);

function factorize(n: number): number[] {
  const out: number[] = [];
  for (let p = 2; n > 1; p++) while (n % p === 0) { out.push(p); n /= p; }
  return out;
}

// ---- the ops ---------------------------------------------------------------------------

export const specs: OpSpec[] = [];

// matmul: 2-D, the three 1-D cases, and matmulT with every transpose flag
specs.push(plain('matmul 2-D', pair(arb.matmulPair()), (a, b) => matmul(a, b)));
const vectorCases: Record<string, (k: number, n: number) => number[][]> = {
  'vector·matrix': (k, n) => [[k], [k, n]],
  'matrix·vector': (k, n) => [[n, k], [k]],
  'vector·vector': (k) => [[k], [k]],
};
for (const [name, shapes] of Object.entries(vectorCases)) {
  const pairs = fc.tuple(dim(5), dim(5)).chain(([k, n]) => {
    const [sa, sb] = shapes(k, n);
    return fc.tuple(arb.tensorOf(sa), arb.tensorOf(sb)).map(([a, b]) => [a, b]);
  });
  specs.push(plain(`matmul ${name}`, pairs, (a, b) => matmul(a, b)));
}
for (const tA of [false, true]) {
  for (const tB of [false, true]) {
    const pairs = fc.tuple(dim(5), dim(5), dim(5)).chain(([m, k, n]) =>
      fc.tuple(arb.tensorOf(tA ? [k, m] : [m, k]), arb.tensorOf(tB ? [n, k] : [k, n])).map(([a, b]) => [a, b]));
    specs.push(plain(`matmulT(a, b, ${tA}, ${tB})`, pairs, (a, b) => matmulT(a, b, tA, tB)));
  }
}
// batched: batch axes in every broadcasting pattern, each transpose flag; the shared-B stack
// takes the single-product path
specs.push(spec('batched matmulT', fc.tuple(arb.broadcastablePair({ minRank: 1, maxRank: 2, maxDim: 3 }), dim(4), dim(4), dim(4), fc.boolean(), fc.boolean())
  .chain(([[ba, bb], m, k, n, tA, tB]) => fc.tuple(
    fc.constant({ tA, tB }),
    fc.tuple(arb.tensorOf([...ba, ...(tA ? [k, m] : [m, k])]), arb.tensorOf([...bb, ...(tB ? [n, k] : [k, n])])).map(([a, b]) => [a, b]),
  )), ({ tA, tB }: { tA: boolean; tB: boolean }) => (a, b) => matmulT(a, b, tA, tB)));
// einsum lowers to transpose, reshape, (batched) matmul, mul and sum: attention scores and a trace
specs.push(plain('einsum bqd,bkd->bqk', fc.tuple(dim(3), dim(4), dim(4), dim(4)).chain(([b, q, k, d]) =>
  fc.tuple(arb.tensorOf([b, q, d]), arb.tensorOf([b, k, d])).map(([x, y]) => [x, y])), (x, y) => einsum('bqd,bkd->bqk', x, y)));
specs.push(plain('einsum ii->', dim(5).chain((n) => arb.tensorOf([n, n]).map((x) => [x])), (x) => einsum('ii->', x)));
specs.push(plain('batched matmul, stack · shared matrix', fc.tuple(dim(3), dim(4), dim(4), dim(4)).chain(([s, m, k, n]) =>
  fc.tuple(arb.tensorOf([s, m, k]), arb.tensorOf([k, n])).map(([a, b]) => [a, b])), (a, b) => matmul(a, b)));

// broadcasting binary ops, every pattern arb.broadcastableTensors names
specs.push(plain('add', pair(arb.broadcastableTensors()), (a, b) => add(a, b)));
specs.push(plain('sub', pair(arb.broadcastableTensors()), (a, b) => sub(a, b)));
specs.push(plain('mul', pair(arb.broadcastableTensors()), (a, b) => mul(a, b)));
specs.push(plain('div', pair(arb.broadcastableTensors({ second: { avoid: [0], margin: 0.5 } })), (a, b) => div(a, b)));

// element-wise
specs.push(plain('neg', one(arb.tensor()), neg));
specs.push(plain('exp', one(arb.tensor({ min: -3, max: 3 })), exp));
specs.push(plain('log', one(arb.tensor({ min: 0.2, max: 5 })), log));
specs.push(plain('sigmoid', one(arb.tensor({ min: -6, max: 6 })), sigmoid));
specs.push(plain('relu', one(arb.tensor({ avoid: [0] })), relu));
specs.push(plain('tanh', one(arb.tensor({ min: -4, max: 4 })), tanh));
specs.push(plain('square', one(arb.tensor()), square));
specs.push(spec('pow, integer exponent', fc.tuple(fc.integer({ min: -3, max: 4 }), one(arb.tensor({ avoid: [0], margin: 0.5 }))), (p) => (x) => pow(x, p)));
specs.push(spec('pow, non-integer exponent',
  fc.tuple(fc.double({ min: -2.5, max: 2.5, noNaN: true }).filter((p) => !Number.isInteger(p)), one(arb.tensor({ min: 0.3, max: 3 }))),
  (p) => (x) => pow(x, p)));
specs.push(plain('sqrt', one(arb.tensor({ min: 0.2, max: 4 })), sqrt));
specs.push(plain('abs', one(arb.tensor({ avoid: [0] })), abs));
specs.push(plain('reciprocal', one(arb.tensor({ avoid: [0], margin: 0.5 })), reciprocal));

// element-wise, part 2
specs.push(plain('log1p', one(arb.tensor({ min: -0.8, max: 4 })), log1p));
specs.push(plain('expm1', one(arb.tensor({ min: -3, max: 3 })), expm1));
specs.push(plain('erf', one(arb.tensor({ min: -3, max: 3 })), erf));
specs.push(plain('sin', one(arb.tensor({ min: -6, max: 6 })), sin));
specs.push(plain('cos', one(arb.tensor({ min: -6, max: 6 })), cos));
specs.push(plain('rsqrt', one(arb.tensor({ min: 0.2, max: 4 })), rsqrt));
specs.push(plain('gelu', one(arb.tensor({ min: -4, max: 4 })), (x) => gelu(x)));
specs.push(plain("gelu, approximate 'tanh'", one(arb.tensor({ min: -4, max: 4 })), (x) => gelu(x, { approximate: 'tanh' })));
specs.push(plain('silu', one(arb.tensor({ min: -6, max: 6 })), silu));
specs.push(spec('elu', fc.tuple(fc.double({ min: 0.1, max: 2, noNaN: true }), one(arb.tensor({ avoid: [0] }))), (alpha) => (x) => elu(x, alpha)));
specs.push(spec('leakyRelu', fc.tuple(fc.double({ min: -0.5, max: 0.5, noNaN: true }), one(arb.tensor({ avoid: [0] }))), (slope) => (x) => leakyRelu(x, slope)));
// exact roundings, halves included (ties to even) and values already integral
const roundable = one(arb.tensor({ min: -4, max: 4 }).map((x) => f64(x.toFlatArray().map((v, i) => (i % 3 === 0 ? Math.round(2 * v) / 2 : v)), x.shape)));
specs.push(plain('floor', roundable, floor));
specs.push(plain('ceil', roundable, ceil));
specs.push(plain('round', roundable, round));
specs.push(plain('sign', one(arb.tensor({ avoid: [0] })), sign));
specs.push(spec('dropout', fc.tuple(fc.record({ p: fc.double({ min: 0.05, max: 0.9, noNaN: true }), seed: fc.nat() }), one(arb.tensor())),
  ({ p, seed }) => (x) => dropout(x, p, { seed })));

// reductions
specs.push(spec('sum', reduceCases(), ({ axes, keepDims }) => (x) => sum(x, axes, keepDims)));
specs.push(spec('mean', reduceCases(), ({ axes, keepDims }) => (x) => mean(x, axes, keepDims)));
specs.push(spec('max', reduceCases({ distinct: true }), ({ axes, keepDims }) => (x) => max(x, axes, keepDims)));

// layout
specs.push(spec('transpose', arb.shape({ maxRank: 4, maxDim: 3 }).chain((s) => {
  const rank = s.length;
  const perm = fc.shuffledSubarray(Array.from({ length: rank }, (_, i) => i), { minLength: rank, maxLength: rank });
  return fc.tuple(fc.option(perm, { nil: undefined, freq: 5 }), one(arb.tensorOf(s)));
}), (perm) => (x) => transpose(x, perm)));
specs.push(spec('reshape', arb.shape({ maxRank: 3 }).chain((s) => {
  const factors = s.flatMap(factorize);
  return fc.tuple(
    fc.shuffledSubarray(factors, { minLength: factors.length, maxLength: factors.length }),
    fc.array(fc.boolean(), { minLength: factors.length, maxLength: factors.length }),
    fc.array(fc.nat({ max: 3 }), { maxLength: 2 }),
  ).map(([order, cuts, ones]) => {
    const target: number[] = [];
    order.forEach((f, i) => (i === 0 || cuts[i] ? target.push(f) : (target[target.length - 1] *= f)));
    for (const at of ones) target.splice(at % (target.length + 1), 0, 1);
    return target;
  }).chain((target) => fc.tuple(fc.constant(target), one(arb.tensorOf(s))));
}), (shape) => (x) => reshape(x, shape)));
specs.push(spec('broadcastTo', arb.broadcastablePair().chain(([a, b]) => fc.tuple(fc.constant(broadcastShapes('test', a, b)), one(arb.tensorOf(a)))),
  (shape) => (x) => broadcastTo(x, shape)));
specs.push(spec('slice', arb.shape({ minRank: 1, maxRank: 3, maxDim: 5 }).chain((s) => {
  const perAxis = s.map((d) => fc.integer({ min: 0, max: d - 1 }).chain((b) =>
    fc.record({ size: fc.integer({ min: 1, max: d - b }), negative: fc.boolean() }).map(({ size, negative }) => ({ begin: negative ? b - d : b, size }))));
  return fc.tuple(fc.tuple(...perAxis), one(arb.tensorOf(s)));
}), (axes) => (x) => slice(x, axes.map((a) => a.begin), axes.map((a) => a.size))));
specs.push(spec('padTo', arb.shape({ maxRank: 3, maxDim: 3 }).chain((s) => fc.tuple(
  fc.tuple(fc.array(fc.nat({ max: 2 }), { minLength: s.length, maxLength: s.length }), fc.array(fc.nat({ max: 2 }), { minLength: s.length, maxLength: s.length }))
    .map(([begin, extra]) => ({ begin, shape: s.map((d, i) => d + begin[i] + extra[i]) })),
  one(arb.tensorOf(s)),
)), ({ begin, shape }) => (x) => padTo(x, begin, shape)));
specs.push(spec('concat', arb.shape({ minRank: 1, maxRank: 3, maxDim: 3 }).chain((s) => fc.tuple(arb.axis(s.length), fc.integer({ min: 1, max: 4 })).chain(([axis, count]) => {
  const along = (axis + s.length) % s.length;
  const parts = fc.array(fc.integer({ min: 1, max: 3 }), { minLength: count, maxLength: count })
    .chain((lengths) => fc.tuple(...lengths.map((len) => arb.tensorOf(s.map((d, i) => (i === along ? len : d)))))).map((xs) => [...xs]);
  return fc.tuple(fc.constant(axis), parts);
})), (axis) => (...xs) => concat(xs, axis)));
specs.push(spec('stack', arb.shape({ maxRank: 3, maxDim: 3 }).chain((s) => fc.tuple(
  fc.integer({ min: -(s.length + 1), max: s.length }),
  fc.integer({ min: 1, max: 4 }).chain((count) => fc.tuple(...Array.from({ length: count }, () => arb.tensorOf(s)))).map((xs) => [...xs]),
)), (axis) => (...xs) => stack(xs, axis)));

// softmax family and softplus
specs.push(spec('softmax', alongAxisCases, ({ axis }) => (x) => softmax(x, axis)));
specs.push(spec('logSoftmax', alongAxisCases, ({ axis }) => (x) => logSoftmax(x, axis)));
specs.push(spec('logSumExp', alongAxisCases, ({ axis, keepDims }) => (x) => logSumExp(x, axis, keepDims)));
specs.push(plain('softplus', one(arb.tensor({ min: -6, max: 6 })), softplus));
specs.push(plain('logSigmoid', one(arb.tensor({ min: -6, max: 6 })), logSigmoid));

// the activations' VJPs as primitives: two operands of one shape
const sameShape = (first: Parameters<typeof arb.tensorOf>[1]) =>
  arb.shape().chain((s) => fc.tuple(arb.tensorOf(s, first), arb.tensorOf(s)).map(([a, b]) => [a, b]));
specs.push(plain('sigmoidGrad', sameShape({ min: 0, max: 1 }), (y, dy) => sigmoidGrad(y, dy)));
specs.push(plain('tanhGrad', sameShape({ min: -1, max: 1 }), (y, dy) => tanhGrad(y, dy)));
specs.push(plain('reluGrad', sameShape({ avoid: [0] }), (x, dy) => reluGrad(x, dy)));

// where and the ops built on it
specs.push(spec('where', arb.broadcastablePair().chain(([a, b]) => {
  const out = broadcastShapes('test', a, b);
  const condShape = fc.tuple(fc.integer({ min: 0, max: out.length }), fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }))
    .map(([drop, ones]) => out.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d)));
  const cond = condShape.chain((s) => fc.array(fc.boolean(), { minLength: s.reduce((p, d) => p * d, 1), maxLength: s.reduce((p, d) => p * d, 1) })
    .map((bits) => f64(bits.map(Number), s)));
  return fc.tuple(cond, fc.tuple(arb.tensorOf(a), arb.tensorOf(b)).map(([x, y]) => [x, y]));
}), (cond, as) => (a, b) => where(as(cond), a, b)));
specs.push(plain('maximum', apartTensors, (a, b) => maximum(a, b)));
specs.push(plain('minimum', apartTensors, (a, b) => minimum(a, b)));
specs.push(spec('clip', fc.tuple(fc.double({ min: -2, max: -0.2, noNaN: true }), fc.double({ min: 0.2, max: 2, noNaN: true }))
  .chain(([lo, hi]) => fc.tuple(fc.constant({ lo, hi }), one(arb.tensor({ avoid: [lo, hi] })))), ({ lo, hi }) => (x) => clip(x, lo, hi)));

// indexing, layout, reductions part 2
const indicesOf = (size: number) => arb.shape({ maxRank: 2, minDim: 0, maxDim: 3 }).chain((s) =>
  fc.array(fc.integer({ min: 0, max: size - 1 }), { minLength: s.reduce((p, d) => p * d, 1), maxLength: s.reduce((p, d) => p * d, 1) })
    .map((values) => f64(values, s)));
const takeCases = arb.shape({ minRank: 1, maxRank: 3 }).chain((s) => fc.option(arb.axis(s.length), { nil: undefined, freq: 4 }).chain((axis) => {
  const size = axis === undefined ? s.reduce((p, d) => p * d, 1) : s[(axis + s.length) % s.length];
  return fc.tuple(fc.record({ axis: fc.constant(axis), indices: indicesOf(size) }), one(arb.tensorOf(s)));
}));
specs.push(spec('take', takeCases, ({ axis, indices }) => (x) => take(x, indices, axis)));
// an embedding table [vocab, 40]: rows long enough for the kernel's block copies
specs.push(spec('take, embedding rows of 40', dim(5).chain((vocab) => fc.tuple(indicesOf(vocab), one(arb.tensorOf([vocab, 40])))),
  (indices) => (x) => take(x, indices, 0)));
specs.push(spec('scatterAdd', takeCases.filter(([{ axis }]) => axis !== undefined).chain(([{ axis, indices }, [x]]) => {
  const a = (axis! + x.rank) % x.rank;
  return fc.tuple(fc.constant({ axis: a, indices, size: x.shape[a] }), one(arb.tensorOf([...x.shape.slice(0, a), ...indices.shape, ...x.shape.slice(a + 1)])));
}), ({ axis, indices, size }) => (u) => scatterAdd(u, indices, axis, size)));
specs.push(spec('pad', arb.shape({ minRank: 1, maxRank: 3 }).chain((s) => fc.tuple(
  fc.record({
    mode: fc.constantFrom('constant' as const, 'reflect' as const, 'replicate' as const),
    value: fc.constantFrom(0, 1.5),
    sides: fc.array(fc.tuple(fc.nat({ max: 3 }), fc.nat({ max: 3 })), { minLength: s.length, maxLength: s.length }),
  }).map(({ mode, value, sides }) => ({ mode, value, pads: sides.map(([b, a], i): [number, number] => (mode === 'reflect' ? [b % s[i], a % s[i]] : [b, a])) })),
  one(arb.tensorOf(s)),
)), ({ mode, value, pads }) => (x) => pad(x, pads, { mode, value })));
specs.push(spec('tile', arb.shape({ maxRank: 3, maxDim: 3 }).chain((s) => fc.tuple(fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 3 }), one(arb.tensorOf(s)))),
  (reps) => (x) => tile(x, reps)));
specs.push(spec('repeat', arb.shape({ minRank: 1, maxRank: 3, maxDim: 3 }).chain((s) => arb.axis(s.length).chain((axis) => {
  const n = s[(axis + s.length) % s.length];
  return fc.tuple(fc.record({ axis: fc.constant(axis), repeats: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: n, maxLength: n }) }), one(arb.tensorOf(s)));
})), ({ axis, repeats }) => (x) => repeat(x, repeats, axis)));
specs.push(spec('flip', arb.shape({ maxRank: 3 }).chain((s) => fc.tuple(arb.axes(s.length), one(arb.tensorOf(s)))), (axes) => (x) => flip(x, axes)));
specs.push(spec('split', arb.shape({ minRank: 1, maxRank: 3 }).chain((s) => arb.axis(s.length).chain((axis) =>
  fc.tuple(fc.record({ axis: fc.constant(axis), size: fc.integer({ min: 1, max: s[(axis + s.length) % s.length] }) }), one(arb.tensorOf(s))))),
({ axis, size }) => (x) => concat(split(x, size, axis).map((p, i) => mul(p, i + 1)), axis)));
specs.push(spec('chunk', arb.shape({ minRank: 1, maxRank: 3 }).chain((s) => fc.tuple(fc.record({ axis: arb.axis(s.length), chunks: dim(4) }), one(arb.tensorOf(s)))),
  ({ axis, chunks }) => (x) => concat(chunk(x, chunks, axis).map((p, i) => mul(p, i + 1)), axis)));
specs.push(spec('diagonal', arb.shape({ minRank: 2, maxRank: 3 }).chain((s) => fc.tuple(
  fc.record({ axes: fc.shuffledSubarray(s.map((_, i) => i), { minLength: 2, maxLength: 2 }), offset: fc.integer({ min: -2, max: 2 }) }), one(arb.tensorOf(s)))),
({ axes: [a1, a2], offset }) => (x) => diagonal(x, offset, a1, a2)));
specs.push(spec('min', reduceCases({ distinct: true }), ({ axes, keepDims }) => (x) => min(x, axes, keepDims)));
const argCases = arb.shape({ minRank: 1, maxRank: 3 }).chain((s) => fc.tuple(
  fc.record({ axis: fc.option(arb.axis(s.length), { nil: undefined }), keepDims: fc.boolean() }), one(arb.tensorOf(s))));
specs.push(spec('argmax', argCases, ({ axis, keepDims }) => (x) => argmax(x, axis, keepDims)));
specs.push(spec('argmin', argCases, ({ axis, keepDims }) => (x) => argmin(x, axis, keepDims)));
specs.push(spec('cumsum', arb.shape({ minRank: 1, maxRank: 3 }).chain((s) => fc.tuple(
  fc.record({ axis: arb.axis(s.length), reverse: fc.boolean(), exclusive: fc.boolean() }), one(arb.tensorOf(s)))),
({ axis, reverse, exclusive }) => (x) => cumsum(x, axis, { reverse, exclusive })));
specs.push(spec('prod', reduceCases({ min: -2, max: 2 }), ({ axes, keepDims }) => (x) => prod(x, axes, keepDims)));
specs.push(spec('logSumExp over several axes', reduceCases({ min: -5, max: 5 }), ({ axes, keepDims }) => (x) => logSumExp(x, axes ?? x.shape.map((_, i) => i), keepDims)));
specs.push(spec('variance', reduceCases({ distinct: true, margin: 0.1 }), ({ axes, keepDims }) => (x) => variance(x, axes, { correction: 0, keepDims })));
specs.push(spec('std', reduceCases({ distinct: true, margin: 0.1 }).filter(([{ axes }, [x]]) =>
  (axes ?? x.shape.map((_, i) => i)).reduce((p, a) => p * x.shape[(a + x.rank) % x.rank], 1) > 1), ({ axes, keepDims }) => (x) => std(x, axes, { keepDims })));
// convolution and pooling: every option (strides, paddings incl. 'same'/'valid', dilations,
// groups) on small images, sizes chosen so the (dilated) kernel fits the padded image
const window2 = fc.record({
  kernelSize: fc.tuple(dim(3), dim(3)), stride: fc.tuple(dim(2), dim(2)), dilation: fc.tuple(dim(2), dim(2)),
  padding: fc.oneof(fc.constant('valid' as const), fc.constant('same' as const), fc.tuple(fc.nat({ max: 2 }), fc.nat({ max: 2 }))),
}).map((w) => (w.padding === 'same' ? { ...w, stride: [1, 1] as [number, number] } : w));
type Window2 = typeof window2 extends fc.Arbitrary<infer T> ? T : never;
/** [H, W] at least the dilated kernel minus the padding, at most 5. */
const imageSize = (w: Window2) => fc.tuple(...([0, 1] as const).map((a) => {
  const pad = Array.isArray(w.padding) ? w.padding[a] : 0;
  const min = Math.max(1, w.dilation[a] * (w.kernelSize[a] - 1) + 1 - 2 * pad);
  return fc.integer({ min, max: Math.max(min, 5) });
}) as [fc.Arbitrary<number>, fc.Arbitrary<number>]);
const convCases = fc.tuple(window2, dim(2), dim(2), dim(2), dim(2)).chain(([w, N, G, cPer, oPer]) => imageSize(w).chain(([H, W]) => fc.tuple(
  fc.constant({ stride: w.stride, padding: w.padding, dilation: w.dilation, groups: G }),
  fc.tuple(arb.tensorOf([N, G * cPer, H, W]), arb.tensorOf([G * oPer, cPer, ...w.kernelSize])).map(([x, k]) => [x, k]),
)));
specs.push(spec('conv2d', convCases, (opts) => (x, w) => conv2d(x, w, opts)));
specs.push(spec('conv1d', fc.tuple(window2, dim(2), dim(2), dim(2), dim(2)).chain(([w, N, G, cPer, oPer]) => imageSize(w).chain(([, L]) => fc.tuple(
  fc.constant({ stride: w.stride[1], padding: Array.isArray(w.padding) ? w.padding[1] : w.padding, dilation: w.dilation[1], groups: G }),
  fc.tuple(arb.tensorOf([N, G * cPer, L]), arb.tensorOf([G * oPer, cPer, w.kernelSize[1]])).map(([x, k]) => [x, k]),
))), (opts) => (x, w) => conv1d(x, w, opts)));
specs.push(spec('convTranspose2d', fc.tuple(dim(2), dim(2), dim(2), dim(2), dim(3), dim(3), fc.tuple(dim(3), dim(3)), fc.tuple(dim(2), dim(2)), fc.tuple(dim(2), dim(2)))
  .chain(([N, G, cPer, oPer, H, W, kernel, stride, dilation]) => fc.tuple(
    fc.record({ padding: fc.tuple(fc.nat({ max: 1 }), fc.nat({ max: 1 })), outputPadding: fc.tuple(fc.nat({ max: stride[0] - 1 }), fc.nat({ max: stride[1] - 1 })) })
      .map((o) => ({ ...o, stride, dilation, groups: G }))
      // the padding crops the full output: keep at least one row and column
      .filter((o) => [H, W].every((size, a) => (size - 1) * stride[a] - 2 * o.padding[a] + dilation[a] * (kernel[a] - 1) + o.outputPadding[a] >= 0)),
    fc.tuple(arb.tensorOf([N, G * cPer, H, W]), arb.tensorOf([G * cPer, oPer, ...kernel])).map(([x, k]) => [x, k]),
  )), (opts) => (x, w) => convTranspose2d(x, w, opts)));
specs.push(spec('unfold', fc.tuple(window2, dim(2), dim(3)).chain(([w, N, C]) => imageSize(w).chain(([H, W]) =>
  fc.tuple(fc.constant(w), one(arb.tensorOf([N, C, H, W]))))), (opts) => (x) => unfold(x, opts)));
specs.push(spec('fold', fc.tuple(window2, dim(2), dim(3)).chain(([w, N, C]) => imageSize(w).chain(([H, W]) => {
  const cols = unfold(f64(new Float64Array(N * C * H * W), [N, C, H, W]), w).shape;
  return fc.tuple(fc.constant({ ...w, outputSize: [H, W] as [number, number] }), one(arb.tensorOf(cols)));
})), (opts) => (cols) => fold(cols, opts)));
/** Pools PyTorch accepts (padding ≤ kernel/2) whose every window reaches into the image. */
const poolCases = (dilated: boolean, distinct: boolean) => fc.tuple(fc.tuple(dim(3), dim(3)), fc.tuple(dim(3), dim(3)), fc.tuple(fc.boolean(), fc.boolean()),
  dilated ? fc.tuple(dim(2), dim(2)) : fc.constant([1, 1] as [number, number]), dim(2), dim(3))
  .chain(([kernelSize, stride, padded, dilation, N, C]) => {
    const padding = kernelSize.map((k, a) => (padded[a] ? Math.floor(k / 2) : 0)) as [number, number];
    return imageSize({ kernelSize, stride, dilation, padding }).filter(([H, W]) => [H, W].every((size, a) => {
      const out = Math.floor((size + 2 * padding[a] - dilation[a] * (kernelSize[a] - 1) - 1) / stride[a]) + 1;
      return Array.from({ length: out }, (_, o) => o * stride[a] - padding[a]).every((start) =>
        Array.from({ length: kernelSize[a] }, (_, i) => start + i * dilation[a]).some((t) => t >= 0 && t < size));
    })).chain(([H, W]) => fc.tuple(fc.constant({ kernelSize, stride, padding, dilation }), one(arb.tensorOf([N, C, H, W], { distinct }))));
  });
specs.push(spec('maxPool2d', poolCases(true, true), (opts) => (x) => maxPool2d(x, opts)));
specs.push(spec('avgPool2d', fc.tuple(poolCases(false, false), fc.boolean()).map(([[opts, xs], countIncludePad]) =>
  [{ kernelSize: opts.kernelSize, stride: opts.stride, padding: opts.padding, countIncludePad }, xs] as const), (opts) => (x) => avgPool2d(x, opts)));
specs.push(spec('adaptiveAvgPool2d', fc.tuple(dim(2), dim(2), dim(6), dim(6), dim(4), dim(4)).chain(([N, C, H, W, oh, ow]) =>
  fc.tuple(fc.constant([oh, ow] as [number, number]), one(arb.tensorOf([N, C, H, W])))), (size) => (x) => adaptiveAvgPool2d(x, size)));
