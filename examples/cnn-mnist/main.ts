/**
 * A LeNet-style convolutional network on the MNIST digits embedded in @tapegrad/datasets
 * (the benchmark protocol's split: 7,996 training and 2,004 test digits), built from nn layers
 * and trained with `fit`.
 *
 * - images: each column of the dataset's x [784, N] is one 28×28 digit; the network reads
 *   images [N, 1, 28, 28] (PyTorch's NCHW), so x is transposed and reshaped once;
 * - model: conv 5×5 (6 maps, padded) → relu → 2×2 max pool → conv 5×5 (16 maps) → relu →
 *   2×2 max pool → flatten (400 features) → dense 120 → dense 84 → softmax over 10, float32,
 *   every layer seeded;
 * - training: Adam (lr 1e-3), batches of 64 in fit's seeded order (seed 42), categorical
 *   cross-entropy (fit pairs it with the softmax in the stable from-logits form).
 *
 *   pnpm exec tsx examples/cnn-mnist/main.ts [--epochs 3] [--limit N]
 *
 * --limit N trains on the first N digits of a seeded shuffle (all ten classes appear), for a
 * quick run; the test set stays whole.
 */
import { type Tensor, createRng, getBackend, reshape, transpose } from '@tapegrad/core';
import { Adam, Conv2d, Dense, Flatten, MaxPool2d, ReLU, fit, sequential } from '@tapegrad/nn';
import { epochOrder, loadMnist, takeColumns } from '@tapegrad/datasets';
import { initWasmBackend } from '@tapegrad/backend-wasm';
import { initNativeBackend } from '@tapegrad/backend-native';
import { readOptions } from '../shared/options.js';

const TRAIN_SIZE = 7996;
const options = readOptions({
  epochs: { kind: 'count', default: 3, help: 'N ≥ 1' },
  limit: { kind: 'count', max: TRAIN_SIZE, help: `N in 1..${TRAIN_SIZE}` },
});
const { epochs } = options;

initWasmBackend();
initNativeBackend(); // the fastest backend that loads wins: native if its addon was built, else wasm
console.log(`backend: ${getBackend().name}`);

/** Digits as columns [784, N] → images [N, 1, 28, 28]. */
const asImages = (columns: Tensor) => reshape(transpose(columns), [columns.shape[1], 1, 28, 28]);

const mnist = loadMnist();
const chosen = epochOrder(TRAIN_SIZE, createRng(42)).subarray(0, options.limit ?? TRAIN_SIZE);
const train = { x: asImages(takeColumns(mnist.train.x, chosen)), y: takeColumns(mnist.train.y, chosen) };
const test = { x: asImages(mnist.test.x), y: mnist.test.y };
console.log(`MNIST: ${train.x.shape[0]} training and ${test.x.shape[0]} test digits, images [N, 1, 28, 28]`);

const model = sequential({
  conv1: new Conv2d(1, 6, 5, { padding: 2, seed: 1 }), relu1: new ReLU(), pool1: new MaxPool2d(2),  // → [N, 6, 14, 14]
  conv2: new Conv2d(6, 16, 5, { seed: 2 }), relu2: new ReLU(), pool2: new MaxPool2d(2),              // → [N, 16, 5, 5]
  flatten: new Flatten(),                                                                            // → [400, N]
  fc1: new Dense(400, 120, { activation: 'relu', init: 'heNormal', seed: 3 }),
  fc2: new Dense(120, 84, { activation: 'relu', init: 'heNormal', seed: 4 }),
  fc3: new Dense(84, 10, { activation: 'softmax', seed: 5 }),                                        // → [10, N]
});
console.log(model.summary([1, 1, 28, 28]));

const history = await fit(model, train, {
  loss: 'cce', optimizer: new Adam({ lr: 1e-3 }), epochs, batchSize: 64, seed: 42,
  validation: test, // evaluated after every epoch, in evaluation mode
  metrics: ['accuracy'],
  onEpoch(log) {
    console.log(
      `epoch ${log.epoch}/${epochs}  loss ${log.loss.toFixed(4)}  train accuracy ${log.metrics.accuracy.toFixed(4)}` +
      `  test accuracy ${log.validation!.metrics.accuracy.toFixed(4)}  (${log.seconds.toFixed(1)} s)`,
    );
  },
});
const final = history[history.length - 1].validation!.metrics.accuracy;
console.log(`test accuracy after ${epochs} epoch${epochs === 1 ? '' : 's'}: ${final.toFixed(4)} (${Math.round(final * test.x.shape[0])}/${test.x.shape[0]})`);
