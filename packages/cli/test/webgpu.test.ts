import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// SwiftShader (the CPU Vulkan driver of Debian's chromium) for the child processes, as the WebGPU tests use it
import '../../backend-webgpu/test/gpu.js';
import { cli, scratchDir, writeTestDigits } from './helpers.js';

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

  it('evaluates and predicts on the GPU as on js: the same accuracy, loss and probabilities (float32 tolerance)', async () => {
    const { out } = await run('js');
    const model = join(out, 'model.safetensors');
    const evaluate = async (backend: string) => {
      const result = await cli(['evaluate', '--model', model, '--limit-test', '200', '--backend', backend, '--json']);
      expect(result.code).toBe(0);
      return JSON.parse(result.stdout) as { backend: string; testAccuracy: number; testCorrect: number; testLoss: number; recordedTestAccuracy: number };
    };
    const [onGpu, onJs] = [await evaluate('webgpu'), await evaluate('js')];
    expect([onGpu.backend, onJs.backend]).toEqual(['webgpu', 'js']);
    expect(onJs.testAccuracy).toBe(onJs.recordedTestAccuracy);
    expect(Math.abs(onGpu.testCorrect - onJs.testCorrect)).toBeLessThanOrEqual(1);
    expect(onGpu.testLoss).toBeCloseTo(onJs.testLoss, 4);

    // three test digits as an IDX file, with their labels beside it
    const picks = [5, 400, 900];
    const dir = join(scratch.dir, 'predict');
    writeTestDigits(dir, picks);
    type Prediction = { predicted: number; probabilities: number[]; label?: number };
    const predict = async (backend: string) => {
      const result = await cli(['predict', '--model', model, '--backend', backend, '--json', join(dir, 't10k-images-idx3-ubyte')]);
      expect(result.code).toBe(0);
      return (JSON.parse(result.stdout) as { backend: string; results: Array<{ predictions: Prediction[] }> });
    };
    const [gpu, js] = [await predict('webgpu'), await predict('js')];
    expect(gpu.backend).toBe('webgpu');
    const [gpuPredictions, jsPredictions] = [gpu.results[0].predictions, js.results[0].predictions];
    expect(gpuPredictions.map((p) => [p.predicted, p.label])).toEqual(jsPredictions.map((p) => [p.predicted, p.label]));
    gpuPredictions.forEach((p, m) => p.probabilities.forEach((v, i) => expect(v).toBeCloseTo(jsPredictions[m].probabilities[i], 5)));
  }, 120_000);
});
