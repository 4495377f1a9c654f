/**
 * The tape against the hand derivation: for one network and batch, print layer by layer the
 * largest difference between the tape's gradients and BP1–BP4 (plus finite differences and
 * seed 001's augmented form), and the time each method takes per gradient. Then the same for
 * a LeNet-5 CNN, whose conv, pool and Flatten layers follow the hand-derived CNN equations
 * (packages/nn/src/manual/cnn.ts) before BP1–BP4 take over in the dense head.
 *
 *   pnpm exec tsx examples/autodiff-vs-manual/main.ts [--layers 784,128,64,10] [--batch 64] [--repeats 20]
 *                                                     [--images 4] [--mnist]
 */
import { Tape, type Tensor, createRng, oneHot, randn, reshape, slice, transpose } from '@tapegrad/core';
import { loadMnist } from '@tapegrad/datasets';
import {
  Conv2d, Dense, Flatten, MaxPool2d, ReLU, checkBackprop, cost, formatBackpropTable, manualBackprop, mlp, sequential,
} from '@tapegrad/nn';
import { readOptions } from '../shared/options.js';

const { layers: sizes, batch, repeats, seed, images, mnist } = readOptions({
  layers: { kind: 'sizes', default: '784,128,64,10', help: 'sizes, e.g. 784,128,64,10' },
  batch: { kind: 'count', default: 64, help: 'M ≥ 1' },
  repeats: { kind: 'count', default: 20, help: 'N ≥ 1' },
  seed: { kind: 'integer', default: 1, help: 'integer' },
  images: { kind: 'count', default: 4, help: 'CNN batch ≥ 1' },
  mnist: { kind: 'flag', help: 'use the first MNIST training digits instead of random images (parsing MNIST takes seconds)' },
});

const model = mlp(sizes, { hidden: 'relu', output: 'softmax', seed, dtype: 'float64' });
const X = randn([sizes[0], batch], { seed: seed + 1, dtype: 'float64' });
const rng = createRng(seed + 2);
const labels = Array.from({ length: batch }, () => Math.floor(rng.next() * sizes[sizes.length - 1]));
const Y = oneHot(labels, sizes[sizes.length - 1], { classAxis: 'first', dtype: 'float64' });

console.log(`network ${sizes.join('-')}, relu hidden, softmax + cross-entropy, batch ${batch}, float64`);
console.log('largest difference per layer between the tape and each witness (absolute up to 1, relative above):');
const report = checkBackprop(model, X, Y, 'cce', { fdSamples: 20 });
console.log(formatBackpropTable(report));

function timeIt(fn: () => void): number {
  fn(); // warm up
  const start = performance.now();
  for (let i = 0; i < repeats; i++) fn();
  return (performance.now() - start) / repeats;
}
const last = model.denseLayers()[sizes.length - 2];
const tapeMs = timeIt(() => {
  const tape = new Tape();
  const traced = tape.record(() => model.trace(X));
  const C = tape.record(() => cost('cce', { ...traced.layers[traced.layers.length - 1], activation: last.activation }, Y));
  tape.gradient(C, Object.values(model.parameters()));
});
const manualMs = timeIt(() => manualBackprop(model, X, Y, 'cce'));
console.log(`time per forward + backward (mean of ${repeats}): tape ${tapeMs.toFixed(2)} ms, BP1–BP4 by hand ${manualMs.toFixed(2)} ms (tape/manual ${(tapeMs / manualMs).toFixed(2)}×)`);
console.log(report.ok ? 'all witnesses agree' : report.message);

// ---- a CNN: LeNet-5 on a few 28×28 images ------------------------------------------------

const lenet = sequential({
  conv1: new Conv2d(1, 6, 5, { padding: 2, seed, dtype: 'float64' }), relu1: new ReLU(), pool1: new MaxPool2d(2), // → [M, 6, 14, 14]
  conv2: new Conv2d(6, 16, 5, { seed: seed + 1, dtype: 'float64' }), relu2: new ReLU(), pool2: new MaxPool2d(2),  // → [M, 16, 5, 5]
  flat: new Flatten(),                                                                                             // → [400, M]
  fc1: new Dense(400, 120, { activation: 'relu', seed: seed + 2, dtype: 'float64' }),
  fc2: new Dense(120, 84, { activation: 'relu', seed: seed + 3, dtype: 'float64' }),
  fc3: new Dense(84, 10, { activation: 'softmax', seed: seed + 4, dtype: 'float64' }),
});
let pictures: Tensor;
let digits: number[];
if (mnist) {
  const { train } = loadMnist({ dtype: 'float64' });
  // MNIST comes as columns [784, N]; the CNN wants images [M, 1, 28, 28]
  pictures = reshape(transpose(slice(train.x, [0, 0], [784, images]), [1, 0]), [images, 1, 28, 28]);
  digits = Array.from(train.labels.slice(0, images));
} else {
  pictures = randn([images, 1, 28, 28], { seed: seed + 5, dtype: 'float64' });
  digits = Array.from({ length: images }, () => Math.floor(rng.next() * 10));
}
const targets = oneHot(digits, 10, { classAxis: 'first', dtype: 'float64' });

console.log(`\nCNN: LeNet-5 (conv 6@5×5 pad 2, relu, max pool 2, conv 16@5×5, relu, max pool 2, Flatten, 400-120-84-10), softmax + cross-entropy, ${images} ${mnist ? 'MNIST digits' : 'random images'} 28×28, float64`);
console.log('largest difference per layer between the tape and the hand-derived CNN backprop (— where a column does not apply):');
const cnnReport = checkBackprop(lenet, pictures, targets, 'cce', { fdSamples: 5 });
console.log(formatBackpropTable(cnnReport));
const cnnTapeMs = timeIt(() => {
  const tape = new Tape();
  const C = tape.record(() => {
    let a = pictures;
    for (const layer of lenet.layers.slice(0, -1)) a = layer.forward(a);
    const head = lenet.layers[lenet.layers.length - 1] as Dense;
    return cost('cce', { ...head.trace(a), activation: head.activation }, targets);
  });
  tape.gradient(C, Object.values(lenet.parameters()));
});
const cnnManualMs = timeIt(() => manualBackprop(lenet, pictures, targets, 'cce'));
console.log(`time per forward + backward (mean of ${repeats}): tape ${cnnTapeMs.toFixed(2)} ms, CNN backprop by hand ${cnnManualMs.toFixed(2)} ms (tape/manual ${(cnnTapeMs / cnnManualMs).toFixed(2)}×)`);
console.log(cnnReport.ok ? 'CNN: all witnesses agree' : cnnReport.message);
