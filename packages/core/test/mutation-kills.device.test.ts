/**
 * Tests written for the mutants of the device branches added to core's ops since the first
 * mutation pass (cast, oneHot, lift, mul's deferred product: docs/mutation.md), through the
 * fake device backend of helpers/fake-device.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DeviceTensorError, Tensor, cast, mul, oneHot, setBackend, sub, tensor } from '@tapegrad/core';
import { createFakeDevice } from './helpers/fake-device.js';

const device = createFakeDevice();

afterEach(() => setBackend('js'));

describe('device branches of the ops', () => {
  it('cast and oneHot of a device tensor show its whole shape in the error', () => {
    setBackend(device);
    const x = tensor([1, 2, 3, 4, 5, 6], { shape: [2, 3], dtype: 'float64' });
    expect(() => cast(x, 'float32')).toThrow(new DeviceTensorError('cast', "the input [2,3] lives on the 'fake-gpu' device, which has no cast kernel; cast on the CPU: `tensor(await x.dataAsync(), { shape: x.shape, dtype })`"));
    const labels = tensor([0, 1, 1, 0], { shape: [2, 2] });
    expect(() => oneHot(labels, 2)).toThrow(new DeviceTensorError('oneHot', "the labels [2,2] live on the 'fake-gpu' device; pass CPU labels (read them with `await labels.dataAsync()`)"));
  });

  it('a number lifted for a float32 op on the device is a float32 scalar: 3 · fround(0.3), not fround(3 · 0.3)', async () => {
    setBackend(device);
    const y = mul(tensor([3, 7], { dtype: 'float32' }), 0.3);
    expect(y.device).toBe(device.name);
    expect(Array.from(await y.dataAsync())).toEqual([Math.fround(3 * Math.fround(0.3)), Math.fround(7 * Math.fround(0.3))]);
    expect(Math.fround(3 * Math.fround(0.3))).not.toBe(Math.fround(3 * 0.3)); // the two roundings do differ here
  });

  it('mul of a CPU tensor by a number under a device backend runs on the device (no deferred CPU product), and sub folds nothing in', async () => {
    const x = new Tensor(Float64Array.from([1, 2, 3]), [3]); // on the CPU, made before the switch
    setBackend(device);
    const product = mul(x, 2);
    expect(product.device).toBe(device.name);
    expect(Array.from(await product.dataAsync())).toEqual([2, 4, 6]);
    const update = sub(x, mul(x, 0.5));
    expect(update.device).toBe(device.name);
    expect(Array.from(await update.dataAsync())).toEqual([0.5, 1, 1.5]);
  });

  it('mul of a device tensor by a number under the js backend is refused as every op refuses it', () => {
    setBackend(device);
    const x = tensor([1, 2, 3], { dtype: 'float64' });
    setBackend('js');
    expect(() => mul(x, 2)).toThrow(DeviceTensorError);
    // nor does sub fold a deferred CPU product into a device tensor
    const product = mul(tensor([1, 2, 3], { dtype: 'float64' }), 2);
    expect(() => sub(x, product)).toThrow(DeviceTensorError);
  });
});
