/**
 * The MNIST main job's network and training (784-128-10, relu, softmax + cross-entropy, SGD
 * lr 0.1, batch 64, 5 epochs, seeds 1001 / 42: `tapegrad train`'s defaults) with nn's
 * `fitAsync`, on a CPU backend and on WebGPU in one run: test accuracy, loss and time of each.
 * On SwiftShader the time says nothing about a GPU; the accuracies are the point.
 *
 *   npx tsx packages/backend-webgpu/bench/mnist-mlp.ts [--epochs 5] [--cpu native]
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getBackend, setBackend } from '@tapegrad/core';
import { loadMnist } from '@tapegrad/datasets';
import { SGD, evaluateAsync, fitAsync, mlp } from '@tapegrad/nn';
import { initNativeBackend } from '../../backend-native/src/index.js';
import { initWebGpuBackend } from '../src/index.js';

const argument = (name: string, fallback: string) => {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : fallback;
};
const epochs = Number(argument('epochs', '5'));
const cpu = argument('cpu', 'native');

// SwiftShader (Debian's chromium) unless another Vulkan driver is configured
process.env.VK_ICD_FILENAMES ??= '/usr/lib/chromium/vk_swiftshader_icd.json';
process.env.XDG_RUNTIME_DIR ??= mkdtempSync(join(tmpdir(), 'tapegrad-xdg-'));
if (cpu === 'native') initNativeBackend();
const gpu = await initWebGpuBackend();
const { train, test } = loadMnist({ dtype: 'float32' });

for (const backend of [cpu, 'webgpu']) {
  setBackend(backend);
  const model = mlp([784, 128, 10], { hidden: 'relu', output: 'softmax', init: 'heNormal', dtype: 'float32', seed: 1001 });
  const started = performance.now();
  const history = await fitAsync(model, train, { loss: 'cce', optimizer: new SGD({ lr: 0.1 }), epochs, batchSize: 64, seed: 42, metrics: ['accuracy'] });
  const seconds = (performance.now() - started) / 1000;
  const result = await evaluateAsync(model, test, { loss: 'cce', metrics: ['accuracy'] });
  const label = backend === 'webgpu' ? `webgpu (${gpu.adapter.swiftShader ? 'SwiftShader: a CPU, correctness only' : gpu.adapter.description})` : getBackend().name;
  console.log(`${label}: test accuracy ${result.metrics.accuracy.toFixed(4)}, test loss ${result.loss!.toFixed(4)}, `
    + `last epoch loss ${history.at(-1)!.loss.toFixed(4)}, ${seconds.toFixed(1)} s training`);
}
