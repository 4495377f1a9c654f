/**
 * fitAsync's pace on a device (core's fake device, whose fences resolve a timer after they
 * are asked for, as a real device's do after the queued work): at most two steps queued ahead
 * of the device, and an abort during an epoch stops within the step it lands in.
 */
import { Tensor, setBackend } from '@tapegrad/core';
import { SGD, fitAsync, mlp } from '@tapegrad/nn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFakeDevice } from '../../core/test/helpers/fake-device.js';

const device = createFakeDevice('fake-gpu');

// 40 examples (columns) of 3 features and a 0/1 label: 10 batches of 4 an epoch
const x = new Tensor(Float32Array.from({ length: 120 }, (_, i) => Math.sin(i * 0.7)), [3, 40]);
const y = new Tensor(Float32Array.from({ length: 40 }, (_, i) => (Math.cos(i * 1.3) > 0 ? 1 : 0)), [1, 40]);

beforeAll(() => setBackend(device));
afterAll(() => setBackend('js'));

const net = () => mlp([3, 5, 1], { hidden: 'tanh', output: 'sigmoid', seed: 2, dtype: 'float32' });

describe('fitAsync on a device', () => {
  it('asks one fence per step and never has more than three pending (two steps ahead, plus the one just queued)', async () => {
    device.resetCounts();
    const history = await fitAsync(net(), { x, y }, { loss: 'bce', optimizer: new SGD({ lr: 0.1 }), epochs: 2, batchSize: 4, onNonFinite: 'ignore' });
    expect(history).toHaveLength(2);
    expect(device.counts.settled).toBe(20);
    expect(device.counts.maxPendingFences).toBe(3);
  });

  it('an abort during an epoch stops after the step it lands in: no more steps are queued', async () => {
    const controller = new AbortController();
    const batches: number[] = [];
    device.resetCounts();
    const history = await fitAsync(net(), { x, y }, {
      loss: 'bce', optimizer: new SGD({ lr: 0.1 }), epochs: 2, batchSize: 4, signal: controller.signal,
      onBatch: ({ batch }) => {
        batches.push(batch);
        if (batch === 3) controller.abort();
      },
    });
    expect(history).toHaveLength(0);
    expect(batches).toEqual([1, 2, 3]);
    expect(device.counts.settled).toBe(3);
  });
});
