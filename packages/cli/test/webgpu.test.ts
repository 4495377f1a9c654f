import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// SwiftShader (the CPU Vulkan driver of Debian's chromium) for the child processes, as the WebGPU tests use it
import '../../backend-webgpu/test/gpu.js';
import { cli, scratchDir } from './helpers.js';

const scratch = scratchDir('webgpu');
afterAll(scratch.cleanup);

interface Metrics {
  settings: { backend: string };
  epochs: Array<{ loss: number; testAccuracy: number }>;
  final: { testAccuracy: number; testCorrect: number };
}

const run = async (backend: string) => {
  const out = join(scratch.dir, backend);
  const result = await cli(['train', '--backend', backend, '--epochs', '2', '--limit-train', '400', '--limit-test', '200', '--quiet', '--out', out]);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return { out, stdout: result.stdout, metrics: JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as Metrics };
};

describe('tapegrad train --backend webgpu (SwiftShader)', () => {
  it('trains the MLP on the GPU to the same epochs and test accuracy as js, and writes the same kind of outputs', async () => {
    const [gpu, js] = [await run('webgpu'), await run('js')];
    expect(gpu.metrics.settings.backend).toBe('webgpu');
    expect(gpu.metrics.final.testAccuracy).toBeCloseTo(js.metrics.final.testAccuracy, 2);
    expect(Math.abs(gpu.metrics.final.testCorrect - js.metrics.final.testCorrect)).toBeLessThanOrEqual(1);
    gpu.metrics.epochs.forEach((epoch, i) => expect(epoch.loss).toBeCloseTo(js.metrics.epochs[i].loss, 4));
    // the model file reloads on a CPU backend and reproduces the recorded accuracy
    const evaluated = await cli(['evaluate', '--model', join(gpu.out, 'model.safetensors'), '--limit-test', '200', '--backend', 'js']);
    expect(evaluated.code).toBe(0);
    expect(evaluated.stdout).toMatch(/matches the \d\.\d{4} recorded/);
  }, 120_000);

  it('names WebGPU as train-only for the other commands', async () => {
    const result = await cli(['evaluate', '--model', 'nothing.safetensors', '--backend', 'webgpu']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--backend/);
  });
});
