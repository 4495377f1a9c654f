/**
 * Seed 000's figure-1 network: 3 inputs (temperature, slept well, lots of homework), 2 sigmoid
 * hidden units, 1 sigmoid output ŷ = the probability that we go to sports. Binary
 * cross-entropy, plain full-batch gradient descent, threshold 0.5: the seed's setting, built
 * from @tapegrad/nn (mlp, fit, metrics) and @tapegrad/datasets (sports). Examples are
 * columns, Z = W·A + b, as in the seed.
 *
 *   pnpm demo            (or: pnpm exec tsx examples/sports/main.ts --epochs 2000 --lr 2 --seed 1)
 */
import { SGD, evaluate, fit, mlp, precisionRecallF1, predict } from '@tapegrad/nn';
import { sports } from '@tapegrad/datasets';
import { readOptions } from '../shared/options.js';

const { epochs, lr: learningRate, seed, quiet } = readOptions({
  epochs: { kind: 'count', default: 3000, help: 'N ≥ 1' },
  lr: { kind: 'positive', default: 2, help: 'number > 0' },
  seed: { kind: 'integer', default: 1, help: 'integer' },
  quiet: { kind: 'flag', help: 'print only the result' },
});
const say = quiet ? () => {} : console.log;

// 64 days to learn from, 256 other days to judge the network on
const train = sports(64, seed);
const test = sports(256, seed + 1000);

// W¹ ∈ R^{2×3}, b¹ ∈ R^{2×1}, W² ∈ R^{1×2}, b² ∈ R^{1×1}; float64 so the run is exact to the last digit
const model = mlp([3, 2, 1], { hidden: 'sigmoid', output: 'sigmoid', dtype: 'float64', seed });

say(`go-to-sports 3-2-1 network, sigmoid + binary cross-entropy, ${train.x.shape[1]} training days, lr ${learningRate}`);
say('epoch   cost      train acc');
const before = evaluate(model, train, { loss: 'bce', metrics: ['accuracy'] });
say(`${'0'.padStart(5)}   ${before.loss!.toFixed(5)}   ${before.metrics.accuracy.toFixed(3)}`);
const every = Math.max(1, Math.floor(epochs / 10));
// One epoch is one step of gradient descent on all 64 days (batchSize 'full'): the order of
// the days does not matter, so there is nothing to shuffle. The cost fit logs for an epoch
// is the one its step started from.
await fit(model, train, {
  loss: 'bce',
  optimizer: new SGD({ lr: learningRate }),
  epochs,
  batchSize: 'full',
  shuffle: false,
  metrics: ['accuracy'],
  onEpoch(log) {
    if (log.epoch % every === 0 && log.epoch < epochs) say(`${String(log.epoch).padStart(5)}   ${log.loss.toFixed(5)}   ${log.metrics.accuracy.toFixed(3)}`);
  },
});
const after = evaluate(model, train, { loss: 'bce', metrics: ['accuracy'] });
say(`${String(epochs).padStart(5)}   ${after.loss!.toFixed(5)}   ${after.metrics.accuracy.toFixed(3)}`);

// Seed 000: go when ŷ > threshold. Raising the threshold makes the network say "go" on fewer
// days, only those it is surest of. Every day it still says "go" on was a "go" at the lower
// threshold too, so true positives can only drop while the days we actually went stay the
// same: recall = TP / (TP + FN) never rises. The days it stops saying "go" on are its least
// confident ones, where the false alarms gather, so precision = TP / (TP + FP) usually rises,
// though nothing forces it to: it is a ratio of two shrinking counts.
const yHat = predict(model, test.x);
say(`\non the ${test.y.size} unseen days (${test.labels.reduce((a, b) => a + b, 0)} of them we went):`);
say('threshold  precision  recall  F1      TP  FP  FN  TN');
for (const threshold of [0.3, 0.5, 0.7, 0.9]) {
  const r = precisionRecallF1(yHat, test.y, { threshold });
  const counts = [r.truePositives, r.falsePositives, r.falseNegatives, r.trueNegatives].map((n) => String(n).padStart(3)).join(' ');
  say(`${threshold.toFixed(1).padStart(9)}  ${r.precision.toFixed(3).padStart(9)}  ${r.recall.toFixed(3).padStart(6)}  ${r.f1.toFixed(3)}  ${counts}`);
}

const testAccuracy = evaluate(model, test, { metrics: ['accuracy'] }).metrics.accuracy;
console.log(`cost ${before.loss!.toFixed(4)} → ${after.loss!.toFixed(4)}; accuracy on ${test.y.size} unseen days: ${testAccuracy.toFixed(3)}`);
