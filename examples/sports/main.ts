/**
 * Trains seed 000's figure-1 network (3 inputs, 2 sigmoid hidden units, 1 sigmoid output)
 * on the "go to sports" data with plain gradient descent, using only @tapegrad/core: the
 * forward pass is written as in the seed, Z = W·A + b with examples as columns, and the
 * tape supplies every gradient.
 *
 *   pnpm demo            (or: pnpm exec tsx examples/sports/main.ts --epochs 2000)
 */
import { type Tensor, Tape, add, log, matmul, mean, mul, noGrad, randn, sigmoid, sub, sum, zeros } from '@tapegrad/core';
import { parseArgs } from 'node:util';
import { sportsData } from './data.js';

const usage = 'usage: main.ts [--epochs N ≥ 1] [--lr number > 0] [--seed integer] [--quiet]';
function parseOptions() {
  try {
    return parseArgs({
      options: {
        epochs: { type: 'string', default: '3000' },
        lr: { type: 'string', default: '2' },
        seed: { type: 'string', default: '1' },
        quiet: { type: 'boolean', default: false },
      },
    }).values;
  } catch (error) {
    console.error(`${(error as Error).message.split('\n')[0]}\n${usage}`);
    process.exit(2);
  }
}
const values = parseOptions();
const epochs = Number(values.epochs);
const learningRate = Number(values.lr);
const seed = Number(values.seed);
if (!Number.isInteger(epochs) || epochs < 1 || !(learningRate > 0) || !Number.isInteger(seed)) {
  console.error(`bad option value: --epochs ${values.epochs} --lr ${values.lr} --seed ${values.seed}\n${usage}`);
  process.exit(2);
}
const say = values.quiet ? () => {} : console.log;

const { x, y } = sportsData(64, seed);
const test = sportsData(256, seed + 1000);

// layer 1: W¹ ∈ R^{2×3}, b¹ ∈ R^{2×1}; layer 2: W² ∈ R^{1×2}, b² ∈ R^{1×1}
const params = {
  w1: randn([2, 3], { seed, dtype: 'float64' }),
  b1: zeros([2, 1], { dtype: 'float64' }),
  w2: randn([1, 2], { seed: seed + 1, dtype: 'float64' }),
  b2: zeros([1, 1], { dtype: 'float64' }),
};

function forward(input: Tensor): Tensor {
  const a1 = sigmoid(add(matmul(params.w1, input), params.b1));
  return sigmoid(add(matmul(params.w2, a1), params.b2));
}

/** Binary cross-entropy of seed 000 (eq. 15), averaged over the batch's columns. */
function cost(yHat: Tensor, target: Tensor): Tensor {
  const perExample = sum(add(mul(target, log(yHat)), mul(sub(1, target), log(sub(1, yHat)))), 0);
  return mean(perExample).neg();
}

function accuracy(input: Tensor, target: Tensor): number {
  const yHat = noGrad(() => forward(input));
  let right = 0;
  for (let m = 0; m < target.size; m++) right += (yHat.data[m] > 0.5 ? 1 : 0) === target.data[m] ? 1 : 0;
  return right / target.size;
}

say(`go-to-sports 3-2-1 network, sigmoid + binary cross-entropy, ${x.shape[1]} training days, lr ${learningRate}`);
say('epoch   cost      train acc');
let first = NaN;
let last = NaN;
for (let epoch = 0; epoch <= epochs; epoch++) {
  const tape = new Tape();
  const c = tape.record(() => cost(forward(x), y));
  const grads = tape.gradient(c, [params.w1, params.b1, params.w2, params.b2]);
  if (epoch === 0) first = c.item();
  last = c.item();
  if (epoch % Math.max(1, Math.floor(epochs / 10)) === 0) {
    say(`${String(epoch).padStart(5)}   ${c.item().toFixed(5)}   ${accuracy(x, y).toFixed(3)}`);
  }
  if (epoch === epochs) break;
  noGrad(() => {
    [params.w1, params.b1, params.w2, params.b2].forEach((p, i) => p.assign(sub(p, mul(grads[i], learningRate))));
  });
}
console.log(`cost ${first.toFixed(4)} → ${last.toFixed(4)}; accuracy on ${test.y.size} unseen days: ${accuracy(test.x, test.y).toFixed(3)}`);
