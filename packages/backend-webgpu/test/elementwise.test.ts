import { type UnaryKernel, jsBackend } from '@tapegrad/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { firstMismatch, gpu, onDevice } from './gpu.js';
import { unary } from '../src/kernels/elementwise.js';

const UNARY_KERNELS: UnaryKernel[] = [
  'neg', 'exp', 'log', 'sigmoid', 'relu', 'tanh', 'sqrt', 'abs', 'sign', 'step', 'powScalar', 'softplus',
  'log1p', 'expm1', 'erf', 'sin', 'cos', 'floor', 'ceil', 'round', 'isNaN', 'isFinite',
];

/** The values where kernels' contracts bite: signed zeros, NaN, ±∞, halves, domain edges. */
const EDGES = [0, -0, NaN, Infinity, -Infinity, 0.5, 1.5, 2.5, -0.5, -2.5, 1, -1, 1e-7, -1e-7, 30, -30, 100, -100, 88, -88, 1e30, -1e30, 3.25, -3.75];

/**
 * GPUs may flush subnormal float32 values to zero (WGSL allows it; SwiftShader does), so
 * the random values are normal numbers or zeros: the README states the difference.
 */
const normalFloat = fc.float({ min: -20, max: 20, noNaN: true, noDefaultInfinity: true }).map((x) => (Math.abs(x) < 1.1754943508222875e-38 ? 0 : x));

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
