import { type BinaryKernel, type UnaryKernel, jsBackend } from '@tapegrad/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { broadcastOperandArb, firstDifference, firstMismatch, gpu, normalFloat, onDevice, shapeArb, sizeOf, valuesArb } from './gpu.js';
import { binary, subScaled, unary, where } from '../src/kernels/elementwise.js';

const UNARY_KERNELS: UnaryKernel[] = [
  'neg', 'exp', 'log', 'sigmoid', 'relu', 'tanh', 'sqrt', 'abs', 'sign', 'step', 'powScalar', 'softplus',
  'log1p', 'expm1', 'erf', 'sin', 'cos', 'floor', 'ceil', 'round', 'isNaN', 'isFinite',
];

/** The values where kernels' contracts bite: signed zeros, NaN, ±∞, halves, domain edges. */
const EDGES = [0, -0, NaN, Infinity, -Infinity, 0.5, 1.5, 2.5, -0.5, -2.5, 1, -1, 1e-7, -1e-7, 30, -30, 100, -100, 88, -88, 1e30, -1e30, 3.25, -3.75];


async function runUnary(kernel: UnaryKernel, values: Float32Array, scalar: number): Promise<{ gpu: Float32Array; js: Float32Array }> {
  const context = await gpu();
  const out = context.allocate(values.length);
  unary(context, kernel, onDevice(context, values), out, scalar);
  const expected = new Float32Array(values.length);
  jsBackend.unary(kernel, values, expected, scalar);
  return { gpu: await out.read(), js: expected };
}

/** sin/cos of huge arguments lose every digit in float32 argument reduction: compare where they mean something. */
function inDomain(kernel: UnaryKernel, x: number): boolean {
  return !((kernel === 'sin' || kernel === 'cos') && Math.abs(x) > 1e4);
}

describe('webgpu unary kernels agree with js', () => {
  for (const kernel of UNARY_KERNELS) {
    it(`${kernel}: edge values and random ones`, async () => {
      const scalars = kernel === 'powScalar' ? [2, 3, 0.5, -1, -2, 0, 2.5, 1] : [0];
      for (const scalar of scalars) {
        const values = Float32Array.from(EDGES.filter((x) => inDomain(kernel, x)));
        const { gpu: actual, js: expected } = await runUnary(kernel, values, scalar);
        const at = firstMismatch(actual, expected, 2e-6);
        expect(at, `${kernel}(${values[at]}; s=${scalar}) = ${actual[at]}, js ${expected[at]}`).toBe(-1);
      }
      await fc.assert(
        fc.asyncProperty(fc.array(normalFloat, { minLength: 1, maxLength: 300 }), async (list) => {
          const scalar = kernel === 'powScalar' ? 3 : 0;
          const { gpu: actual, js: expected } = await runUnary(kernel, Float32Array.from(list), scalar);
          const at = firstMismatch(actual, expected, 2e-6);
          expect(at, `${kernel}(${list[at]}) = ${actual[at]}, js ${expected[at]}`).toBe(-1);
        }),
        { seed: 1401, numRuns: 15 },
      );
    });
  }

  it('writes through a 2-D grid (the tests spill past 8 workgroups)', async () => {
    const context = await gpu();
    const n = 8 * 256 * 3 + 77;
    const x = Float32Array.from({ length: n }, (_, i) => i);
    const out = context.allocate(n, false);
    unary(context, 'neg', onDevice(context, x), out, 0);
    expect(Array.from(await out.read())).toEqual(Array.from(x, (v) => -v));
  });

  it('computes in place when out is the input', async () => {
    const context = await gpu();
    const x = onDevice(context, [1, -2, 3]);
    unary(context, 'abs', x, x, 0);
    expect(Array.from(await x.read())).toEqual([1, 2, 3]);
  });
});

const BINARY_KERNELS: BinaryKernel[] = [
  'add', 'sub', 'mul', 'div', 'greater', 'greaterEqual', 'less', 'lessEqual', 'equal',
  'sigmoidGrad', 'tanhGrad', 'reluGrad', 'maximum', 'minimum',
];

/**
 * Kernels whose float32 result is exactly js's: comparisons and selections, and the
 * operations WGSL rounds correctly (+, −, ×; js's float64 result of two float32 values
 * rounds to the same float32). Division may be 2.5 ulp off in WGSL, and the activation
 * gradients' chains may be contracted into fused multiply-adds by the shader compiler.
 */
const EXACT = new Set<BinaryKernel>(['add', 'sub', 'mul', 'greater', 'greaterEqual', 'less', 'lessEqual', 'equal', 'reluGrad', 'maximum', 'minimum']);

/** A binary case: the output's shape, two operands broadcasting to it, and their values. */
const binaryCase = shapeArb().chain((outShape) => fc.tuple(fc.constant(outShape), broadcastOperandArb(outShape), broadcastOperandArb(outShape)))
  .chain(([outShape, aShape, bShape]) => fc.tuple(fc.constant({ outShape, aShape, bShape }), valuesArb(sizeOf(aShape), mostlyNormal), valuesArb(sizeOf(bShape), mostlyNormal)));

/** Normal numbers, with an edge value (or a repeat, for ties) now and then. */
const mostlyNormal = fc.oneof({ weight: 8, arbitrary: normalFloat }, { weight: 1, arbitrary: fc.constantFrom(...EDGES) }, { weight: 1, arbitrary: fc.constantFrom(0, 1, -1, 2) });

async function runBinary(kernel: BinaryKernel, a: Float32Array, aShape: number[], b: Float32Array, bShape: number[], outShape: number[]): Promise<{ gpu: Float32Array; js: Float32Array }> {
  const context = await gpu();
  const out = context.allocate(sizeOf(outShape), false);
  binary(context, kernel, onDevice(context, a), aShape, onDevice(context, b), bShape, out, outShape);
  const expected = new Float32Array(out.length);
  jsBackend.binary(kernel, a, aShape, b, bShape, expected, outShape);
  return { gpu: await out.read(), js: expected };
}

function mismatch(kernel: BinaryKernel, actual: Float32Array, expected: Float32Array): number {
  return EXACT.has(kernel) ? firstDifference(actual, expected) : firstMismatch(actual, expected, 2e-6);
}

describe('webgpu binary kernels agree with js', () => {
  for (const kernel of BINARY_KERNELS) {
    it(`${kernel}: every pair of edge values, then random shapes and broadcasts`, async () => {
      // [E, 1] against [1, E]: each edge value meets each other one
      const edges = Float32Array.from(EDGES);
      const e = edges.length;
      const { gpu: actual, js: expected } = await runBinary(kernel, edges, [e, 1], edges, [1, e], [e, e]);
      const at = mismatch(kernel, actual, expected);
      expect(at, `${kernel}(${edges[Math.floor(at / e)]}, ${edges[at % e]}) = ${actual[at]}, js ${expected[at]}`).toBe(-1);
      await fc.assert(
        fc.asyncProperty(binaryCase, async ([{ outShape, aShape, bShape }, a, b]) => {
          const { gpu: actual, js: expected } = await runBinary(kernel, a, aShape, b, bShape, outShape);
          const at = mismatch(kernel, actual, expected);
          expect(at, `${kernel} at ${at}: ${actual[at]}, js ${expected[at]}`).toBe(-1);
        }),
        { seed: 1402, numRuns: 12 },
      );
    });
  }

  it('binary broadcasts across a 2-D grid: [3, 1, 1500] with [1, 2, 1] (9000 threads)', async () => {
    const a = Float32Array.from({ length: 4500 }, (_, i) => i);
    const b = Float32Array.from([0.5, -2]);
    const { gpu: actual, js: expected } = await runBinary('mul', a, [3, 1, 1500], b, [1, 2, 1], [3, 2, 1500]);
    expect(firstDifference(actual, expected)).toBe(-1);
  });

  it('binary computes in place when out is an input', async () => {
    const context = await gpu();
    const a = onDevice(context, [1, 2, 3, 4]);
    binary(context, 'sub', a, [2, 2], onDevice(context, [10, 20]), [1, 2], a, [2, 2]);
    expect(Array.from(await a.read())).toEqual([-9, -18, -7, -16]);
  });

  it('maximum and minimum keep a on ties of signed zeros and give NaN from either side', async () => {
    const context = await gpu();
    const a = onDevice(context, [-0, 0, NaN, 1, 2]);
    const b = onDevice(context, [0, -0, 1, NaN, 1]);
    for (const kernel of ['maximum', 'minimum'] as const) {
      const out = context.allocate(5, false);
      binary(context, kernel, a, [5], b, [5], out, [5]);
      const values = Array.from(await out.read());
      expect(Object.is(values[0], -0) && Object.is(values[1], 0)).toBe(true);
      expect(values.slice(2, 4)).toEqual([NaN, NaN]);
      expect(values[4]).toBe(kernel === 'maximum' ? 2 : 1);
    }
  });

  it('binary takes CPU Float32Array inputs (uploaded for the call) and writes nothing for size 0', async () => {
    const context = await gpu();
    const out = context.allocate(3, false);
    binary(context, 'add', Float32Array.from([1, 2, 3]), [3], Float32Array.from([10]), [], out, [3]);
    expect(Array.from(await out.read())).toEqual([11, 12, 13]);
    const empty = context.allocate(0, false);
    binary(context, 'add', new Float32Array(0), [0, 3], Float32Array.from([1, 2, 3]), [1, 3], empty, [0, 3]);
    expect((await empty.read()).length).toBe(0);
  });
});

describe('webgpu where agrees with js', () => {
  const whereCase = shapeArb().chain((outShape) => fc.tuple(fc.constant(outShape), broadcastOperandArb(outShape), broadcastOperandArb(outShape), broadcastOperandArb(outShape)))
    .chain(([outShape, cShape, aShape, bShape]) => fc.tuple(
      fc.constant({ outShape, cShape, aShape, bShape }),
      valuesArb(sizeOf(cShape), fc.constantFrom(0, -0, 1, -2, NaN, Infinity)),
      valuesArb(sizeOf(aShape), mostlyNormal),
      valuesArb(sizeOf(bShape), mostlyNormal),
    ));

  it('random shapes, broadcasts and conditions (±0 false; NaN, ∞, any other value true) match exactly', async () => {
    const context = await gpu();
    await fc.assert(
      fc.asyncProperty(whereCase, async ([{ outShape, cShape, aShape, bShape }, c, a, b]) => {
        const out = context.allocate(sizeOf(outShape), false);
        where(context, onDevice(context, c), cShape, onDevice(context, a), aShape, onDevice(context, b), bShape, out, outShape);
        const expected = new Float32Array(out.length);
        jsBackend.where(c, cShape, a, aShape, b, bShape, expected, outShape);
        const actual = await out.read();
        const at = firstDifference(actual, expected);
        expect(at, `where at ${at}: ${actual[at]}, js ${expected[at]}`).toBe(-1);
      }),
      { seed: 1403, numRuns: 40 },
    );
  });

  it('crosses the 2-D grid: [5000] condition against [1] and [5000]', async () => {
    const context = await gpu();
    const c = Float32Array.from({ length: 5000 }, (_, i) => i % 3);
    const b = Float32Array.from({ length: 5000 }, (_, i) => -i);
    const out = context.allocate(5000, false);
    where(context, c, [5000], Float32Array.from([7]), [1], b, [5000], out, [5000]);
    expect(Array.from(await out.read())).toEqual(Array.from(c, (v, i) => (v !== 0 ? 7 : -i)));
  });
});

describe('webgpu subScaled agrees with js', () => {
  const subScaledCase = fc.integer({ min: 0, max: 3000 }).chain((n) => fc.tuple(valuesArb(n), valuesArb(n), fc.double({ min: -10, max: 10, noNaN: true })));

  it('random arrays and scalars (within float32 rounding)', async () => {
    const context = await gpu();
    await fc.assert(
      fc.asyncProperty(subScaledCase, async ([y, x, s]) => {
        const out = context.allocate(y.length, false);
        subScaled(context, onDevice(context, y), onDevice(context, x), s, out);
        const expected = new Float32Array(y.length);
        jsBackend.subScaled(y, x, s, expected);
        const actual = await out.read();
        const at = firstMismatch(actual, expected, 2e-6);
        expect(at, `subScaled at ${at}: ${actual[at]}, js ${expected[at]}`).toBe(-1);
      }),
      { seed: 1404, numRuns: 20 },
    );
  });

  it('writes in place into y or into x', async () => {
    const context = await gpu();
    const y = onDevice(context, [1, 2, 3]);
    const x = onDevice(context, [1, 1, 2]);
    subScaled(context, y, x, 0.5, y);
    expect(Array.from(await y.read())).toEqual([0.5, 1.5, 2]);
    subScaled(context, y, x, 2, x);
    expect(Array.from(await x.read())).toEqual([-1.5, -0.5, -2]);
  });
});
