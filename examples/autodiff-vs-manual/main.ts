/**
 * The tape against the hand derivation: for one network and batch, print layer by layer the
 * largest difference between the tape's gradients and BP1–BP4 (plus finite differences and
 * seed 001's augmented form), and the time each method takes per gradient.
 *
 *   pnpm exec tsx examples/autodiff-vs-manual/main.ts [--layers 784,128,64,10] [--batch 64] [--repeats 20]
 */
import { Tape, createRng, oneHot, randn } from '@tapegrad/core';
import { checkBackprop, cost, formatBackpropTable, manualBackprop, mlp } from '@tapegrad/nn';
import { parseArgs } from 'node:util';

const usage = 'usage: main.ts [--layers 784,128,64,10] [--batch M ≥ 1] [--repeats N ≥ 1] [--seed integer]';
function options() {
  try {
    const { values } = parseArgs({
      options: {
        layers: { type: 'string', default: '784,128,64,10' },
        batch: { type: 'string', default: '64' },
        repeats: { type: 'string', default: '20' },
        seed: { type: 'string', default: '1' },
      },
    });
    const sizes = values.layers.split(',').map(Number);
    const batch = Number(values.batch);
    const repeats = Number(values.repeats);
    const seed = Number(values.seed);
    if (sizes.length < 2 || sizes.some((s) => !Number.isInteger(s) || s < 1)) throw new Error(`--layers must be positive integers separated by commas, got ${values.layers}`);
    if (!Number.isInteger(batch) || batch < 1 || !Number.isInteger(repeats) || repeats < 1 || !Number.isInteger(seed)) throw new Error('--batch and --repeats must be integers ≥ 1, --seed an integer');
    return { sizes, batch, repeats, seed };
  } catch (error) {
    console.error(`${(error as Error).message.split('\n')[0]}\n${usage}`);
    process.exit(2);
  }
}
const { sizes, batch, repeats, seed } = options();

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
