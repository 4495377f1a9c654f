/**
 * Every differentiable op's property test on WebGPU: the forward value and the VJP computed
 * with setBackend('webgpu') — inputs uploaded, every intermediate on the device, the results
 * read back with `await t.dataAsync()` — agree with the js backend's, float32, under the
 * bound of test/ops.backends.property.test.ts (16·u·√k relative). float64 is refused on
 * WebGPU by name (its own test).
 *
 * Runs on SwiftShader here and in CI (packages/backend-webgpu/test/gpu.ts sets it up): the
 * answers of a GPU at a CPU's speed. One difference from the CPU backends, and it is the
 * GPU's: subnormal float32 values (below 2⁻¹²⁶) may be flushed to zero — WGSL allows it and
 * SwiftShader does — so inputs are flushed before both sides see them, and a result below
 * 2⁻¹²⁶ may read 0 (the underflow term `flushed`).
 */
import { DTypeError, type Tensor, getBackend, setBackend, tensor, vjp } from '@tapegrad/core';
import { arb } from '@tapegrad/core/testing/properties';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import '../packages/backend-webgpu/test/gpu.js';
import { initWebGpuBackend } from '../packages/backend-webgpu/src/index.js';
import { absTensor, evaluate, expectClose, maxAbs } from './helpers/agreement.js';
import { type OpSpec, specs, toDType } from './helpers/op-specs.js';

const SEED = 42;
const NUM_RUNS = 20;
const u = 2 ** -24;
/**
 * The underflow term: GPUs may flush subnormal float32 values to zero (WGSL allows it and
 * SwiftShader does), so a result below the smallest normal number, 2⁻¹²⁶, may read 0 where js
 * keeps a subnormal — the CPU backends' η = 2⁻¹⁴⁹ becomes 2⁻¹²⁶.
 */
const flushed = 2 ** -126;

await initWebGpuBackend();
setBackend('js');
afterEach(() => setBackend('js'));


/** A device tensor's values as a CPU tensor (a CPU one as it is). */
async function onCpu(t: Tensor): Promise<Tensor> {
  if (t.device === 'cpu') return t;
  return tensor(await t.dataAsync(), { shape: [...t.shape], dtype: t.dtype });
}

/** float32, with subnormal inputs flushed to ±0 as a GPU reads them, so both sides see the same numbers. */
const as = (t: Tensor): Tensor => {
  const values = Float32Array.from(t.data as ArrayLike<number>, (v) => (Math.abs(v) < flushed ? v * 0 : v));
  return tensor(values, { shape: [...t.shape], dtype: 'float32' });
};

function agreementProperty(opSpec: OpSpec) {
  const withCotangent = opSpec.cases.chain(([attrs, xs]) => {
    const outShape = opSpec.op(attrs, toDType('float64'))(...xs).shape;
    return fc.tuple(fc.constant(attrs), fc.constant(xs), arb.tensorOf(outShape));
  });
  return fc.asyncProperty(withCotangent, async ([attrs, xs64, r64]) => {
    const f = opSpec.op(attrs, as);
    const xs = xs64.map(as), r = as(r64);
    const expected = evaluate('js', f, xs, r);
    const onDevice = evaluate('webgpu', f, xs, r);
    expect(getBackend().name).toBe('js');
    const value = await onCpu(onDevice.value);
    const grads = await Promise.all(onDevice.grads.map(onCpu));
    const fAbs = opSpec.op(attrs, toDType('float64'));
    const mags = evaluate('js', fAbs, xs64.map(absTensor), absTensor(r64));
    const k = Math.max(1, r.size, ...xs.map((x) => x.size));
    const rtol = 16 * u * Math.sqrt(k);
    expectClose(`${opSpec.name} value`, value, expected.value, mags.value, rtol, 0, k, flushed);
    const rNorm = maxAbs(r.data);
    grads.forEach((g, i) => expectClose(`${opSpec.name} gradient ${i}`, g, expected.grads[i], mags.grads[i], rtol, rNorm, k, flushed));
  });
}

describe("backend 'webgpu' agrees with js on every op, forward and VJP (float32, SwiftShader)", () => {
  for (const opSpec of specs) {
    it(`${opSpec.name}`, async () => {
      await fc.assert(agreementProperty(opSpec), { numRuns: NUM_RUNS, seed: SEED, includeErrorInReport: true });
    });
  }

  it('float64 is refused by name, never computed in float32 behind the user\'s back', () => {
    setBackend('webgpu');
    expect(() => tensor([1, 2], { dtype: 'float64' })).toThrow(DTypeError);
    expect(() => tensor([1, 2], { dtype: 'float64' })).toThrow(/webgpu: .*WGSL has no float64/);
  });
});
