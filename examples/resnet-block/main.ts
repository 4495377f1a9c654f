/**
 * A residual block, ResNet's basic block (He et al., 2016), on MNIST digits, built from nn
 * layers and trained with `fit`; then what training and evaluation modes change.
 *
 *   y = relu(x + BN(conv(relu(BN(conv(x))))))
 *
 * Both convolutions are 3×3, padded, without bias (BatchNorm's β is the bias), so the body
 * keeps x's shape and the skip is a plain addition. BatchNorm2d normalises by the batch's
 * statistics in training mode and by its running statistics in evaluation mode: `fit` trains
 * in training mode and validates in evaluation mode; `model.train()` and `model.eval()` switch
 * by hand, and a Sequential or residual passes the mode to every layer inside.
 *
 * - data: the first N digits of a seeded shuffle of the protocol's 7,996 training digits
 *   (--limit, default 3000), images [N, 1, 28, 28]; the 2,004 test digits;
 * - model: stem conv 1→8 + BN + relu + 2×2 max pool → [N, 8, 14, 14]; the residual block;
 *   2×2 max pool → [N, 8, 7, 7]; flatten; dense 392 → 10 softmax; float32, seeded;
 * - training: Adam (lr 3e-3), batches of 64, fit's seeded order, categorical cross-entropy.
 *
 *   pnpm exec tsx examples/resnet-block/main.ts [--epochs 3] [--limit 3000]
 */
import { type Tensor, concat, createRng, getBackend, noGrad, reshape, slice, transpose } from '@tapegrad/core';
import {
  Adam, BatchNorm2d, Conv2d, Dense, Flatten, MaxPool2d, ReLU, accuracy, evaluate, fit, residual, sequential,
} from '@tapegrad/nn';
import { epochOrder, loadMnist, takeColumns } from '@tapegrad/datasets';
import { initWasmBackend } from '@tapegrad/backend-wasm';
import { initNativeBackend } from '@tapegrad/backend-native';
import { readOptions } from '../shared/options.js';

const TRAIN_SIZE = 7996;
const options = readOptions({
  epochs: { kind: 'count', default: 3, help: 'N ≥ 1' },
  limit: { kind: 'count', default: 3000, max: TRAIN_SIZE, help: `N in 1..${TRAIN_SIZE}` },
});
const { epochs } = options;

initWasmBackend();
initNativeBackend(); // the fastest backend that loads wins: native if its addon was built, else wasm
console.log(`backend: ${getBackend().name}`);

/** Digits as columns [784, N] → images [N, 1, 28, 28]. */
const asImages = (columns: Tensor) => reshape(transpose(columns), [columns.shape[1], 1, 28, 28]);
const mnist = loadMnist();
const chosen = epochOrder(TRAIN_SIZE, createRng(42)).subarray(0, options.limit);
const train = { x: asImages(takeColumns(mnist.train.x, chosen)), y: takeColumns(mnist.train.y, chosen) };
const test = { x: asImages(mnist.test.x), y: mnist.test.y };
console.log(`MNIST: ${train.x.shape[0]} training and ${test.x.shape[0]} test digits`);

/** relu(x + BN(conv(relu(BN(conv(x)))))) on [N, channels, H, W]. */
function residualBlock(channels: number, seed: number) {
  const conv = (s: number) => new Conv2d(channels, channels, 3, { padding: 1, bias: false, seed: s });
  return sequential({
    skip: residual(sequential({
      conv1: conv(seed), bn1: new BatchNorm2d(channels), relu: new ReLU(), conv2: conv(seed + 1), bn2: new BatchNorm2d(channels),
    })),
    relu: new ReLU(),
  });
}

const model = sequential({
  stem: sequential(new Conv2d(1, 8, 3, { padding: 1, bias: false, seed: 1 }), new BatchNorm2d(8), new ReLU()),
  pool1: new MaxPool2d(2),   // → [N, 8, 14, 14]
  block: residualBlock(8, 2),
  pool2: new MaxPool2d(2),   // → [N, 8, 7, 7]
  flatten: new Flatten(),    // → [392, N]
  fc: new Dense(392, 10, { activation: 'softmax', seed: 4 }),
});
console.log(model.summary([1, 1, 28, 28]));
console.log(`buffers (BatchNorm's running statistics, saved with the model): ${Object.keys(model.buffers()).join(', ')}`);

const history = await fit(model, train, {
  loss: 'cce', optimizer: new Adam({ lr: 3e-3 }), epochs, batchSize: 64, seed: 42,
  validation: test, metrics: ['accuracy'],
  onEpoch(log) {
    console.log(
      `epoch ${log.epoch}/${epochs}  loss ${log.loss.toFixed(4)}  train accuracy ${log.metrics.accuracy.toFixed(4)}` +
      `  test accuracy (eval mode) ${log.validation!.metrics.accuracy.toFixed(4)}  (${log.seconds.toFixed(1)} s)`,
    );
  },
});
console.log(`after training the model is in training mode again: training = ${model.training}`);

// ── what the modes change ──
const bn1RunningMean = model.buffers()['block.skip.bn1.runningMean']; // the buffer itself, updated in place
const runningMean = () => Array.from(bn1RunningMean.data, (v) => v.toFixed(3)).join(' ');
const imagesOf = (from: number, count: number) => slice(test.x, [from, 0, 0, 0], [count, 1, 28, 28]);
// the same first test digit in two different batches: with the next 63 digits, and with 63 later ones
const batchA = imagesOf(0, 64);
const batchB = concat([imagesOf(0, 1), imagesOf(1000, 63)], 0);
const firstColumn = (logits: Tensor) => Array.from(slice(logits, [0, 0], [10, 1]).data);
const largestDifference = (a: number[], b: number[]) => Math.max(...a.map((v, i) => Math.abs(v - b[i])));

noGrad(() => {
  const before = runningMean();
  model.eval();
  const evalDiff = largestDifference(firstColumn(model.forward(batchA)), firstColumn(model.forward(batchB)));
  console.log(`eval mode:  digit 0's outputs in two different batches differ by ${evalDiff.toExponential(1)}; block.skip.bn1 running mean unchanged: ${runningMean() === before}`);
  model.train();
  const trainDiff = largestDifference(firstColumn(model.forward(batchA)), firstColumn(model.forward(batchB)));
  console.log(`train mode: digit 0's outputs in two different batches differ by ${trainDiff.toFixed(4)} (batch statistics); the two passes moved block.skip.bn1's running mean`);
  console.log(`  from ${before}\n  to   ${runningMean()}`);
});

const final = evaluate(model, test, { metrics: ['accuracy'] }).metrics.accuracy;
model.train(); // BatchNorm normalises each test batch by its own statistics (and moves the running ones)
const batchStatistics = noGrad(() => {
  let right = 0;
  for (let from = 0; from < test.x.shape[0]; from += 64) {
    const count = Math.min(64, test.x.shape[0] - from);
    right += count * accuracy(model.forward(imagesOf(from, count)), slice(test.y, [0, from], [10, count]));
  }
  return right / test.x.shape[0];
});
console.log(`test accuracy after ${epochs} epoch${epochs === 1 ? '' : 's'}: ${final.toFixed(4)} in eval mode (running statistics), ${batchStatistics.toFixed(4)} in train mode (each test batch's own statistics)`);
