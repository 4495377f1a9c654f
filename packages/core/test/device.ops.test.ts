/**
 * The ops on a device (WEBGPU-DESIGN.md §1), through the fake device backend of
 * helpers/fake-device.ts: jsBackend's kernels behind DeviceArrays that core cannot read. Each
 * op's forward value and VJP (at a random cotangent) must be bit for bit those of the js
 * backend — the fake device runs the same kernels, so any difference is core mishandling
 * device storage (a lost output, a CPU-only path, a kernel reading unzeroed memory) — and
 * every result must live on the device, read back with `await t.dataAsync()`. Inputs are
 * drawn as CPU tensors and, per input, either uploaded first or fed to the device ops as
 * they are (the placement rule: a CPU input is uploaded for that call).
 *
 * Seeded (fast-check seed 42); small shapes, 20 runs per op.
 */
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  DeviceTensorError, Tensor, abs, adaptiveAvgPool2d, add, argmax, avgPool2d, broadcastTo, cast, concat, conv2d, convTranspose2d,
  cos, cumsum, div, dropout, einsum, erf, exp, flip, gelu, greater, log, logSoftmax, logSumExp, matmul, matmulT, max,
  maxPool2d, maximum, mean, min, minimum, mul, neg, oneHot, pad, padTo, pow, relu, reshape, round, scatterAdd,
  setBackend, sigmoid, sin, slice, softmax, softplus, sqrt, square, stack, sub, sum, take, tanh, tensor, tile,
  transpose, variance, vjp, where,
} from '@tapegrad/core';
import { arb } from '@tapegrad/core/testing/properties';
import { createFakeDevice } from './helpers/fake-device.js';

const SEED = 42;
const NUM_RUNS = 20;
const device = createFakeDevice();

afterEach(() => setBackend('js'));

interface Case {
  inputs: Tensor[];
  f: (...xs: Tensor[]) => Tensor;
}

const dim = (maxValue = 4) => fc.integer({ min: 1, max: maxValue });
const one = (x: fc.Arbitrary<Tensor>, f: (x: Tensor) => Tensor): fc.Arbitrary<Case> => x.map((t) => ({ inputs: [t], f }));
const two = (xs: fc.Arbitrary<[Tensor, Tensor]>, f: (a: Tensor, b: Tensor) => Tensor): fc.Arbitrary<Case> =>
  xs.map(([a, b]) => ({ inputs: [a, b], f: f as Case['f'] }));
const small = (constraints: Parameters<typeof arb.tensor>[0] = {}) => arb.tensor({ shape: arb.shape({ maxRank: 3 }), ...constraints });
const image = (values: Parameters<typeof arb.tensorOf>[1] = {}) =>
  fc.tuple(dim(2), dim(3), fc.integer({ min: 3, max: 6 }), fc.integer({ min: 3, max: 6 })).chain((s) => arb.tensorOf(s, values));

/** The ops, each with its random cases; every input is float64 here and is also run as float32. */
const ops: Record<string, fc.Arbitrary<Case>> = {
  // element-wise, one input
  exp: one(small(), exp),
  log: one(small({ min: 0.1, max: 4 }), log),
  sqrt: one(small({ min: 0.1, max: 4 }), sqrt),
  'tanh, sigmoid, relu': one(small({ avoid: [0] }), (x) => add(add(tanh(x), sigmoid(x)), relu(x))),
  'abs, neg, square': one(small({ avoid: [0] }), (x) => sub(abs(x), neg(square(x)))),
  'pow 3, erf, sin, cos': one(small(), (x) => add(add(pow(x, 3), erf(x)), mul(sin(x), cos(x)))),
  'round (zero gradient)': one(small(), (x) => mul(round(x), x)),
  'softplus, gelu': one(small(), (x) => add(softplus(x), gelu(x))),
  // broadcasting, two inputs (and lifted scalars)
  add: two(arb.broadcastableTensors(), add),
  sub: two(arb.broadcastableTensors(), (a, b) => sub(mul(a, 2), b)),
  mul: two(arb.broadcastableTensors(), mul),
  div: two(arb.broadcastableTensors({ second: { min: 0.5, max: 3 } }), div),
  'maximum, minimum': two(arb.broadcastableTensors({ distinct: true }), (a, b) => add(maximum(a, b), minimum(a, 0.5))),
  'where, greater': two(arb.broadcastableTensors(), (a, b) => where(greater(a, b), mul(a, b), sub(a, 1))),
  // matmul: 2-D, transposed, batched with a broadcast operand
  matmul: two(arb.matmulPair(), matmul),
  matmulT: two(arb.matmulPair(), (a, b) => matmulT(transpose(a), transpose(b), true, true)),
  'batched matmul': fc.tuple(dim(3), dim(3), dim(3), dim(3)).chain(([batch, m, k, n]) =>
    two(fc.tuple(arb.tensorOf([batch, 1, m, k]), arb.tensorOf([2, k, n])), matmul)),
  einsum: two(arb.matmulPair(), (a, b) => einsum('ij,jk->ik', a, b)),
  // reductions
  'sum, mean over axes': arb.shape({ maxRank: 3 }).chain((s) => fc.tuple(arb.axes(s.length), fc.boolean(), arb.tensorOf(s)).map(
    ([axes, keepDims, x]) => ({ inputs: [x], f: (v: Tensor) => add(sum(v, axes, keepDims), mean(v, axes, keepDims)) }))),
  'max, min (ties share)': arb.shape({ minRank: 1, maxRank: 3 }).chain((s) => fc.tuple(arb.axis(s.length), arb.tensorOf(s, { distinct: true })).map(
    ([axis, x]) => ({ inputs: [x], f: (v: Tensor) => sub(max(v, axis), min(v, axis)) }))),
  'argmax (a constant)': arb.shape({ minRank: 1, maxRank: 3 }).chain((s) => fc.tuple(arb.axis(s.length), arb.tensorOf(s)).map(
    ([axis, x]) => ({ inputs: [x], f: (v: Tensor) => add(argmax(v, axis), sum(v, axis)) }))),
  cumsum: arb.shape({ minRank: 1, maxRank: 3 }).chain((s) => fc.tuple(arb.axis(s.length), fc.boolean(), fc.boolean(), arb.tensorOf(s)).map(
    ([axis, reverse, exclusive, x]) => ({ inputs: [x], f: (v: Tensor) => cumsum(v, axis, { reverse, exclusive }) }))),
  'softmax, logSoftmax, logSumExp': one(arb.tensor({ shape: arb.shape({ minRank: 1, maxRank: 3 }) }),
    (x) => add(add(softmax(x), logSoftmax(x)), logSumExp(x, -1, true))),
  variance: one(arb.tensor({ shape: arb.shape({ minRank: 1, maxRank: 3, minDim: 2 }) }), (x) => variance(x, -1)),
  // layout
  'reshape, transpose': arb.shape({ minRank: 2, maxRank: 3 }).chain((s) => arb.tensorOf(s).map((x) => ({
    inputs: [x], f: (v: Tensor) => reshape(transpose(v), [-1]),
  }))),
  broadcastTo: fc.tuple(dim(), dim()).chain(([m, n]) => one(arb.tensorOf([m, 1]), (x) => broadcastTo(x, [2, m, n]))),
  'slice, padTo': fc.tuple(dim(5), dim(5)).chain(([m, n]) => one(arb.tensorOf([m + 1, n + 1]),
    (x) => padTo(slice(x, [1, 0], [m, n]), [0, 1], [m + 2, n + 2]))),
  'concat, stack': fc.tuple(dim(), dim()).chain(([m, n]) => two(fc.tuple(arb.tensorOf([m, n]), arb.tensorOf([m + 1, n])),
    (a, b) => add(sum(concat([a, b], 0), 0), sum(stack([a, mul(a, 2)], 1), [0, 1])))),
  'pad reflect, flip, tile': fc.tuple(dim(), fc.integer({ min: 3, max: 5 })).chain(([m, n]) => one(arb.tensorOf([m, n]),
    (x) => add(pad(flip(x, 1), [[0, 0], [2, 1]], { mode: 'reflect' }), sum(tile(x, [1, 2]))))),
  'pad constant value': one(arb.tensorOf([2, 3]), (x) => pad(x, [[1, 0], [0, 2]], { value: -1 })),
  // convolution and pooling
  conv2d: image().chain((x) => {
    const [, C] = x.shape;
    return fc.tuple(dim(3), fc.constantFrom(1, 2), fc.constantFrom(0, 1, 'same' as const)).chain(([O, k, padding]) =>
      fc.tuple(arb.tensorOf([O, C, k, k]), arb.tensorOf([O])).map(([w, b]) => ({
        inputs: [x, w, b], f: (v: Tensor, wv: Tensor, bv: Tensor) => conv2d(v, wv, { padding, bias: bv }),
      })));
  }),
  'conv2d grouped, strided': fc.tuple(dim(2), fc.integer({ min: 4, max: 6 })).chain(([N, H]) =>
    two(fc.tuple(arb.tensorOf([N, 4, H, H]), arb.tensorOf([2, 2, 3, 3])), (x, w) => conv2d(x, w, { groups: 2, stride: 2, padding: 1 }))),
  convTranspose2d: fc.tuple(dim(2), dim(3)).chain(([N, H]) =>
    two(fc.tuple(arb.tensorOf([N, 2, H, H]), arb.tensorOf([2, 3, 2, 2])), (x, w) => convTranspose2d(x, w, { stride: 2 }))),
  maxPool2d: one(image({ distinct: true }), (x) => maxPool2d(x, { kernelSize: 2, stride: 1, padding: 1 })),
  'avgPool2d (countIncludePad false)': one(image(), (x) => avgPool2d(x, { kernelSize: 3, stride: 2, padding: 1, countIncludePad: false })),
  adaptiveAvgPool2d: one(image(), (x) => adaptiveAvgPool2d(x, [2, 3])),
  // indexing, with CPU indices
  take: arb.shape({ minRank: 1, maxRank: 3, minDim: 1 }).chain((s) => fc.tuple(
    fc.integer({ min: 0, max: s.length - 1 }), arb.tensorOf(s),
  ).chain(([axis, x]) => fc.array(fc.integer({ min: 0, max: s[axis] - 1 }), { minLength: 1, maxLength: 5 }).map((indices) => ({
    inputs: [x], f: (v: Tensor) => take(v, indices, axis),
  })))),
  scatterAdd: fc.tuple(dim(), dim()).chain(([n, size]) => fc.tuple(
    arb.tensorOf([n, 3]), fc.array(fc.integer({ min: 0, max: size - 1 }), { minLength: n, maxLength: n }),
  ).map(([updates, indices]) => ({ inputs: [updates], f: (u: Tensor) => scatterAdd(u, Int32Array.from(indices), 0, size) }))),
  // values an op builds on the CPU: a mask, a one-hot constant
  dropout: one(small(), (x) => dropout(x, 0.3, { seed: 7 })),
  oneHot: fc.tuple(dim(), dim()).chain(([n, depth]) => fc.tuple(
    arb.tensorOf([n, depth]), fc.array(fc.integer({ min: 0, max: depth - 1 }), { minLength: n, maxLength: n }),
  ).map(([x, labels]) => ({ inputs: [x], f: (v: Tensor) => mul(v, oneHot(labels, depth, { dtype: v.dtype })) }))),
};

type DType = 'float32' | 'float64';

function converted(t: Tensor, dtype: DType): Tensor {
  return tensor(dtype === 'float32' ? Float32Array.from(t.data) : Float64Array.from(t.data), { shape: [...t.shape], dtype });
}

/** The forward value and the input gradients of ⟨f(inputs), r⟩, on the CPU (values of js). */
function onJs(c: Case, dtype: DType): { output: Tensor; grads: Tensor[] } {
  setBackend('js');
  const inputs = c.inputs.map((t) => converted(t, dtype));
  const [output, pullback] = vjp(c.f, ...inputs);
  return { output, grads: pullback(cotangent(output)) };
}

function cotangent(output: Tensor): Tensor {
  const values = Array.from({ length: output.size }, (_, i) => Math.sin(i + 1));
  return tensor(values, { shape: [...output.shape], dtype: output.dtype });
}

/** The same on the fake device: each input uploaded first (true) or left on the CPU (false). */
function onDevice(c: Case, dtype: DType, uploaded: readonly boolean[]): { output: Tensor; grads: Tensor[] } {
  const cpu = c.inputs.map((t) => converted(t, dtype));
  setBackend(device);
  const inputs = cpu.map((t, i) => (uploaded[i % uploaded.length] ? tensor(t.data, { shape: [...t.shape], dtype }) : t));
  const [output, pullback] = vjp(c.f, ...inputs);
  return { output, grads: pullback(cotangent(output)) };
}

async function expectSame(what: string, expected: Tensor, got: Tensor): Promise<void> {
  expect(got.device, `${what} lives on the device`).toBe(device.name);
  expect(got.shape, what).toEqual(expected.shape);
  expect(got.dtype, what).toBe(expected.dtype);
  const values = await got.dataAsync();
  const reference = expected.data;
  for (let i = 0; i < reference.length; i++) {
    if (!Object.is(values[i], reference[i]) && !(Number.isNaN(values[i]) && Number.isNaN(reference[i]))) {
      throw new Error(`${what}: element ${i} is ${values[i]} on the device, ${reference[i]} on js`);
    }
  }
}

describe('ops on a device give js\'s values, forward and VJP', () => {
  for (const [name, cases] of Object.entries(ops)) {
    it(name, async () => {
      await fc.assert(
        fc.asyncProperty(cases, fc.constantFrom<DType>('float32', 'float64'), fc.array(fc.boolean(), { minLength: 1, maxLength: 3 }), async (c, dtype, uploaded) => {
          const expected = onJs(c, dtype);
          const got = onDevice(c, dtype, uploaded);
          setBackend('js');
          await expectSame('output', expected.output, got.output);
          for (let i = 0; i < expected.grads.length; i++) await expectSame(`gradient ${i}`, expected.grads[i], got.grads[i]);
        }),
        { seed: SEED, numRuns: NUM_RUNS },
      );
    });
  }
});

describe('values computed on the CPU in forward', () => {
  it('cast of a CPU tensor is converted on the CPU and uploaded', async () => {
    setBackend(device);
    const x = new Tensor(Float64Array.from([1.5, -2.25, 1e-40]), [3]);
    const y = cast(x, 'float32');
    expect(y.device).toBe(device.name);
    expect(y.dtype).toBe('float32');
    expect(Array.from(await y.dataAsync())).toEqual(Array.from(Float32Array.from([1.5, -2.25, 1e-40])));
  });

  it('cast of a device tensor is a DeviceTensorError (no backend has a cast kernel)', () => {
    setBackend(device);
    const x = tensor([1, 2], { dtype: 'float64' });
    expect(() => cast(x, 'float32')).toThrow(DeviceTensorError);
    expect(() => cast(x, 'float32')).toThrow("cast: the input [2] lives on the 'fake-gpu' device, which has no cast kernel; cast on the CPU: `tensor(await x.dataAsync(), { shape: x.shape, dtype })`");
  });
});
