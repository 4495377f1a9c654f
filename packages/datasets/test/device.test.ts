import { setBackend } from '@tapegrad/core';
import { afterEach, describe, expect, it } from 'vitest';
import { createFakeDevice } from '../../core/test/helpers/fake-device.js';
import { loadMnist, moons } from '../src/node.js';

afterEach(() => setBackend('js'));

describe('datasets stay on the CPU when a device backend is active', () => {
  it('loadMnist and a toy set loaded after choosing a device backend give CPU tensors with the same values', () => {
    const onJs = moons(40, { seed: 3 });
    const device = createFakeDevice('fake-gpu-datasets');
    setBackend(device);
    const mnist = loadMnist({ dtype: 'float32' });
    const toy = moons(40, { seed: 3 });
    for (const t of [mnist.train.x, mnist.train.y, mnist.test.x, mnist.test.y, toy.x, toy.y, toy.yOneHot]) expect(t.device).toBe('cpu');
    expect(toy.yOneHot.toArray()).toEqual(onJs.yOneHot.toArray());
    expect(toy.x.toArray()).toEqual(onJs.x.toArray());
    // one-hot columns: a 1 in row label of every column
    const y = mnist.test.y.data, n = mnist.test.labels.length;
    for (const m of [0, 1, n - 1]) expect(y[mnist.test.labels[m] * n + m]).toBe(1);
    expect(mnist.test.y.toFlatArray().reduce((a, b) => a + b, 0)).toBe(n);
  });
});
