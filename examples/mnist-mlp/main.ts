/**
 * A 784-128-10 network on the MNIST digits embedded in @tapegrad/datasets: task T1 of the
 * benchmark protocol (/work/shared/BENCH-PROTOCOL.md), run through `fit`.
 *
 * - data: the protocol's split, 7,996 training and 2,004 test digits, pixels in [0, 1];
 * - model: relu hidden layer, softmax output + categorical cross-entropy (fit pairs them in
 *   the stable from-logits form), float32;
 * - init: He normal, sd = sqrt(2/in), biases 0, W¹ then W² from one mulberry32(1001);
 * - order: each epoch a Fisher–Yates shuffle from one mulberry32(42) carried across epochs
 *   (fit's default seed), cut into batches of 64, the last one short;
 * - optimiser: plain SGD, lr 0.1.
 *
 * With the same data, order and initial weights every correct framework reaches the same
 * test accuracy after 5 epochs, up to float32 rounding: the protocol's reference is 0.9117.
 * It runs on the fastest backend this machine offers: initialising the wasm and native
 * backends registers both, and core then runs every op on the higher-ranked one that loaded
 * (native, if its addon was built at install; else wasm). Without them, core's pure-JS
 * backend needs several seconds per epoch.
 *
 *   pnpm exec tsx examples/mnist-mlp/main.ts [--epochs 5] [--limit N]
 *
 * --limit N trains on N digits only (the first N of the protocol's first epoch order, so all
 * ten classes appear), for a quick run; the test set stays whole.
 */
import { SGD, fit, mlp } from '@tapegrad/nn';
import { epochOrder, loadMnist, takeColumns } from '@tapegrad/datasets';
import { createRng, getBackend } from '@tapegrad/core';
import { initWasmBackend } from '@tapegrad/backend-wasm';
import { initNativeBackend } from '@tapegrad/backend-native';
import { readOptions } from '../shared/options.js';

const TRAIN_SIZE = 7996;
const options = readOptions({
  epochs: { kind: 'count', default: 5, help: 'N ≥ 1' },
  limit: { kind: 'count', max: TRAIN_SIZE, help: `N in 1..${TRAIN_SIZE}` },
});
const epochs = options.epochs;
const limit = options.limit ?? TRAIN_SIZE;

initWasmBackend();
initNativeBackend(); // undefined (and nothing registered) where the addon was not built
console.log(`backend: ${getBackend().name}`);

const loadStarted = performance.now();
const { train: fullTrain, test } = loadMnist(); // float32, examples as columns: x [784, N], y one-hot [10, N]
const train = limit === TRAIN_SIZE
  ? fullTrain
  : (() => {
      const chosen = epochOrder(TRAIN_SIZE, createRng(42)).subarray(0, limit);
      return { x: takeColumns(fullTrain.x, chosen), y: takeColumns(fullTrain.y, chosen) };
    })();
console.log(`MNIST: ${train.x.shape[1]} training and ${test.x.shape[1]} test digits (loaded in ${((performance.now() - loadStarted) / 1000).toFixed(1)} s)`);

const model = mlp([784, 128, 10], { hidden: 'relu', output: 'softmax', init: 'heNormal', seed: 1001 });
console.log('784-128-10, relu + softmax, categorical cross-entropy, SGD lr 0.1, batch 64');

const history = await fit(model, train, {
  loss: 'cce',
  optimizer: new SGD({ lr: 0.1 }),
  epochs,
  batchSize: 64,
  seed: 42,
  // evaluated after every epoch, outside the timed training loop
  validation: test,
  metrics: ['accuracy'],
  onEpoch(log) {
    console.log(
      `epoch ${log.epoch}/${epochs}  loss ${log.loss.toFixed(4)}  test accuracy ${log.validation!.metrics.accuracy.toFixed(4)}` +
      `  ${Math.round(log.examplesPerSecond)} examples/s  (${log.seconds.toFixed(2)} s)`,
    );
  },
});

const final = history[history.length - 1].validation!.metrics.accuracy;
const protocolRun = limit === TRAIN_SIZE && epochs === 5;
console.log(`test accuracy after ${epochs} epoch${epochs === 1 ? '' : 's'}: ${final.toFixed(4)}${protocolRun ? ' (BENCH-PROTOCOL T1 reference: 0.9117)' : ''}`);
