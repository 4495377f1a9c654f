import { DTypeError, DeviceTensorError, Tape, getBackend, matmul, memoryStats, mean, relu, setBackend, sum, tensor, tidy, zeros } from '@tapegrad/core';
import { afterAll, describe, expect, it } from 'vitest';
import './gpu.js';
import { initWebGpuBackend } from '../src/index.js';

const backend = await initWebGpuBackend();
afterAll(() => setBackend('js'));

describe("initWebGpuBackend registers 'webgpu' and ops run on the device", () => {
  it('becomes the default backend and reports its adapter', () => {
    expect(getBackend().name).toBe('webgpu');
    expect(backend.adapter.swiftShader).toBe(true);
  });

  it('a two-layer forward and backward pass on the device equals the js backend', async () => {
    const run = () => {
      const x = tensor([[1, 2], [3, -4], [0.5, 0.25]]);
      const w1 = tensor([[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]]).requireGrad();
      const w2 = tensor([[1], [-1], [0.5]]).requireGrad();
      const tape = new Tape();
      const loss = tape.record(() => mean(relu(matmul(relu(matmul(x, w1)), w2))));
      const [g1, g2] = tape.gradient(loss, [w1, w2]);
      return { loss, g1, g2 };
    };
    const onGpu = run();
    expect(onGpu.loss.device).toBe('webgpu');
    expect(() => onGpu.loss.item()).toThrow(DeviceTensorError);
    setBackend('js');
    const onCpu = run();
    setBackend('webgpu');
    expect(await onGpu.loss.itemAsync()).toBeCloseTo(onCpu.loss.item(), 6);
    const g1 = Array.from(await onGpu.g1.dataAsync()), g2 = Array.from(await onGpu.g2.dataAsync());
    onCpu.g1.toFlatArray().forEach((v, i) => expect(g1[i]).toBeCloseTo(v, 6));
    onCpu.g2.toFlatArray().forEach((v, i) => expect(g2[i]).toBeCloseTo(v, 6));
  });

  it('tidy gives released device buffers back to the pool', async () => {
    const before = backend.context.stats;
    const kept = tidy(() => sum(matmul(zeros([64, 64]), zeros([64, 64]))));
    expect(await kept.itemAsync()).toBe(0);
    const after = backend.context.stats;
    expect(after.released - before.released).toBeGreaterThanOrEqual(3);
    expect(memoryStats().disposed).toBeGreaterThan(0);
  });

  it('float64 is refused with a typed error naming WebGPU', () => {
    expect(() => tensor([1, 2], { dtype: 'float64' })).toThrow(DTypeError);
    expect(() => tensor([1, 2], { dtype: 'float64' })).toThrow(/WGSL has no float64/);
  });
});
