/**
 * The tape against the hand derivation: for one network and batch, print layer by layer the
 * largest difference between the tape's gradients and BP1–BP4 (plus finite differences and
 * seed 001's augmented form), and the time each method takes per gradient.
 *
 *   pnpm exec tsx examples/autodiff-vs-manual/main.ts [--layers 784,128,64,10] [--batch 64] [--repeats 20]
 */
import { Tape, createRng, oneHot, randn } from '@tapegrad/core';
import { checkBackprop, cost, formatBackpropTable, manualBackprop, mlp } from '@tapegrad/nn';
import { readOptions } from '../shared/options.js';

const { layers: sizes, batch, repeats, seed } = readOptions({
  layers: { kind: 'sizes', default: '784,128,64,10', help: 'sizes, e.g. 784,128,64,10' },
  batch: { kind: 'count', default: 64, help: 'M ≥ 1' },
  repeats: { kind: 'count', default: 20, help: 'N ≥ 1' },
  seed: { kind: 'integer', default: 1, help: 'integer' },
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
