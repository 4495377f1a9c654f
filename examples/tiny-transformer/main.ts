/**
 * A tiny GPT learns to sort, the task of minGPT's demo (karpathy/minGPT, demo.ipynb): six
 * digits from {0, 1, 2} in, the same six sorted out. The model (model.ts) reads the sequence
 * "input ++ sorted output" and learns to predict each next token; the loss counts only the
 * positions where the next token is part of the output, as minGPT's SortDataset does (its −1
 * targets). To sort, it is given the six input digits and decodes six tokens greedily.
 *
 * - data: all 3⁶ = 729 possible inputs; a seeded shuffle holds a quarter (182) out, never
 *   trained on (minGPT splits a quarter off by a hash of the input); each epoch visits the
 *   other 547 once, in fit's seeded order, in batches of 64;
 * - model: 2 pre-norm blocks, dim 32, 4 causal attention heads, MLP 32 → 128 → 32 with GELU,
 *   float32, every layer seeded;
 * - optimiser: Adam, lr 3e-3;
 * - test: 1,000 sequences drawn (seed 3) from the 182 held-out inputs, exact match of all six
 *   decoded tokens; then every held-out and every training input once.
 *
 *   pnpm exec tsx examples/tiny-transformer/main.ts [--epochs 40] [--lr 0.003] [--seed 10]
 */
import { type Tensor, argmax, concat, createRng, div, getBackend, logSoftmax, mul, neg, noGrad, shuffleInPlace, slice, sum, tensor } from '@tapegrad/core';
import { Adam, fit } from '@tapegrad/nn';
import { initWasmBackend } from '@tapegrad/backend-wasm';
import { initNativeBackend } from '@tapegrad/backend-native';
import { readOptions } from '../shared/options.js';
import { gpt } from './model.js';

const options = readOptions({
  epochs: { kind: 'count', default: 40, help: 'N ≥ 1' },
  lr: { kind: 'positive', default: 3e-3, help: 'a number > 0' },
  seed: { kind: 'integer', default: 10, help: 'an integer (the model\'s initial weights)' },
});

initWasmBackend();
initNativeBackend(); // the fastest backend that loads wins: native if its addon was built, else wasm
console.log(`backend: ${getBackend().name}`);

const LENGTH = 6;
const VOCAB = 3;
const T = 2 * LENGTH - 1; // input ++ sorted, without the last token (nothing comes after it)
const sorted = (digits: readonly number[]) => [...digits].sort((a, b) => a - b);

// ── data ──
const allInputs = Array.from({ length: VOCAB ** LENGTH }, (_, code) =>
  Array.from({ length: LENGTH }, (_, i) => Math.floor(code / VOCAB ** (LENGTH - 1 - i)) % VOCAB));
shuffleInPlace(allInputs, createRng(1));
const heldOut = allInputs.slice(0, Math.round(allInputs.length / 4));
const trainInputs = allInputs.slice(heldOut.length);
console.log(`sorting ${LENGTH} digits from {0,1,2}: ${allInputs.length} possible inputs, ${trainInputs.length} to train on, ${heldOut.length} held out`);

/**
 * x [N, 11]: the tokens read; y [N, 11, 3]: the one-hot next token at each position, or a
 * row of zeros (ignored by the loss) where the next token is still part of the input.
 */
function sortingExamples(inputs: number[][]): { x: Tensor; y: Tensor } {
  const sequences = inputs.map((digits) => [...digits, ...sorted(digits)]);
  const x = sequences.map((s) => s.slice(0, T));
  const y = sequences.map((s) => s.slice(1).map((next, t) => [0, 1, 2].map((v) => (t >= LENGTH - 1 && v === next ? 1 : 0))));
  return { x: tensor(x), y: tensor(y) };
}

/** Cross-entropy of the next token, averaged over the six output positions of each sequence. */
function sortingLoss(logits: Tensor, y: Tensor): Tensor {
  return div(neg(sum(mul(y, logSoftmax(logits, -1)))), logits.shape[0] * LENGTH);
}

// ── model ──
const model = gpt({ vocab: VOCAB, maxLength: T, dim: 32, heads: 4, blocks: 2, seed: options.seed });
console.log(model.summary([64, T]));

// ── training ──
const trainStarted = performance.now();
const history = await fit(model, sortingExamples(trainInputs), {
  loss: sortingLoss, optimizer: new Adam({ lr: options.lr }), epochs: options.epochs, batchSize: 64, seed: 42,
  layout: 'rows', // x [N, 11] holds one sequence per row
  onEpoch(log) {
    if (log.epoch === 1 || log.epoch % 10 === 0 || log.epoch === options.epochs) console.log(`epoch ${log.epoch}/${options.epochs}  loss ${log.loss.toFixed(4)}`);
  },
});
const steps = options.epochs * Math.ceil(trainInputs.length / 64);
console.log(`loss ${history[0].loss.toFixed(4)} → ${history.at(-1)!.loss.toFixed(4)} in ${steps} steps (${((performance.now() - trainStarted) / 1000).toFixed(1)} s)`);

// ── sorting by greedy decoding ──
/** Feeds the six digits, appends the most likely next token six times; returns those six. */
function sortGreedily(inputs: number[][]): number[][] {
  model.eval(); // no layer here behaves differently, but decoding is evaluation
  return noGrad(() => {
    let ids = tensor(inputs); // [N, 6], growing to [N, 12]
    for (let i = 0; i < LENGTH; i++) {
      const logits = model.forward(ids); // [N, t, 3]
      const last = slice(logits, [0, ids.shape[1] - 1, 0], [ids.shape[0], 1, VOCAB]);
      ids = concat([ids, argmax(last, -1)], 1);
    }
    return slice(ids, [0, LENGTH], [ids.shape[0], LENGTH]).toArray() as number[][];
  });
}

const exactMatches = (inputs: number[][]) => {
  const outputs = sortGreedily(inputs);
  return inputs.filter((digits, n) => outputs[n].join() === sorted(digits).join()).length;
};

const example = heldOut[0];
console.log(`held-out example: ${example.join(' ')} → ${sortGreedily([example])[0].join(' ')}`);
const drawRng = createRng(3);
const draws = Array.from({ length: 1000 }, () => heldOut[Math.floor(drawRng.next() * heldOut.length)]);
const correct = exactMatches(draws);
console.log(`held-out exact match: ${correct}/1000 = ${(correct / 10).toFixed(1)} % (1000 sequences drawn from the ${heldOut.length} held-out inputs)`);
console.log(`every held-out input: ${exactMatches(heldOut)}/${heldOut.length}; every training input: ${exactMatches(trainInputs)}/${trainInputs.length}`);
console.log(`total ${(performance.now() / 1000).toFixed(1)} s wall, ${(process.cpuUsage().user / 1e6).toFixed(1)} s cpu`);
