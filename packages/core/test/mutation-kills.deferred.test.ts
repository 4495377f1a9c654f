/**
 * Tests written for the mutants of the deferred weight gradient (ops/matmul.ts: gradientProduct,
 * deferredProduct) and its fold into the update (ops/arithmetic.ts: withValuesOf) that survived
 * a StrykerJS run against the deferred-gradient tests (docs/mutation.md).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DeviceTensorError, Tape, type Tensor, keep, matmul, memoryStats, mul, randn, setBackend, sigmoid, sub, sum, tensor, tidy } from '@tapegrad/core';
import { borrowScratch, returnScratch } from '../src/memory.js';
import { deferredValuesOf } from '../src/tensor.js';
import { createFakeDevice } from './helpers/fake-device.js';

afterEach(() => setBackend('js'));

function bits(t: Tensor): string[] {
  return Array.from(t.data, (v) => (Object.is(v, -0) ? '-0' : String(v)));
}

describe('ops/arithmetic.ts: the update folds a deferred gradient through a pooled scratch buffer', () => {
  it('gives the scratch buffer back to the pool after its one subScaled call', () => {
    // 13·17 = 221 elements: no other tensor of this step has that size
    const W = randn([13, 17], { seed: 31 });
    const X = randn([17, 3], { seed: 32 });
    const tape = new Tape();
    const c = tape.record(() => sum(sigmoid(matmul(W, X))));
    const dW = tape.gradient(c, W);
    expect(deferredValuesOf(dW)).not.toBeNull();
    const updated = sub(W, mul(dW, 0.25));
    // the pool now holds the 221-element scratch: borrowing that size takes it back out
    const pooled = memoryStats().pooledBuffers;
    const scratch = borrowScratch('float32', 221);
    expect(memoryStats().pooledBuffers).toBe(pooled - 1);
    returnScratch(scratch);
    // and the update is the one the same step computes inside tidy
    const reference = tidy(() => {
      const t = new Tape();
      const r = t.gradient(t.record(() => sum(sigmoid(matmul(W, X)))), W);
      return keep(sub(W, mul(r, 0.25)));
    });
    expect(bits(updated)).toEqual(bits(reference));
  });
});

describe('ops/matmul.ts: where a gradient is never deferred', () => {
  it('device operands while a CPU backend is active: the device error at the gradient, for either operand', () => {
    for (const source of ['W', 'X'] as const) {
      const device = createFakeDevice();
      setBackend(device);
      const W = randn([3, 4], { seed: 35 });
      const X = randn([4, 5], { seed: 36 });
      const tape = new Tape();
      const c = tape.record(() => sum(matmul(W, X)));
      setBackend('js');
      // the seed is a CPU tensor: dW = dC·Xᵀ pairs it with a device X, dX = Wᵀ·dC a device W with it
      expect(() => tape.gradient(c, source === 'W' ? W : X, tensor(1))).toThrow(DeviceTensorError);
    }
  });

  it('CPU operands while a device backend is active: the gradient is the device\'s product', async () => {
    const W = randn([3, 4], { seed: 37 });
    const X = randn([4, 5], { seed: 38 });
    const dC = randn([3, 5], { seed: 39 });
    const tape = new Tape();
    const c = tape.record(() => matmul(W, X));
    const device = createFakeDevice();
    setBackend(device);
    const dW = tape.gradient(c, W, dC);
    expect(deferredValuesOf(dW)).toBeNull();
    expect(dW.device).toBe(device.name);
    const onDevice = Array.from(await dW.dataAsync());
    setBackend('js');
    const reference = tidy(() => {
      const t = new Tape();
      return keep(t.gradient(t.record(() => matmul(W, X)), W, dC));
    });
    expect(onDevice).toEqual(Array.from(reference.data));
  });
});
