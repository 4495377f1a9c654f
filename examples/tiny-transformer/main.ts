/**
 * A tiny GPT learns to sort: minGPT's demo task. Input six digits from {0, 1, 2}, output the
 * same digits sorted. The model reads the sequence "input ++ sorted output" and predicts each
 * next token.
 *
 *   pnpm exec tsx examples/tiny-transformer/main.ts
 */
import {
  type Tensor, add, argmax, concat, createRng, div, getBackend, logSoftmax, mul, neg, noGrad, shuffleInPlace, slice, sum, tensor,
} from '@tapegrad/core';
import {
  Adam, Embedding, GELU, LayerNorm, Linear, type Module, MultiHeadAttention, type NamedParameters, fit, residual, sequential,
} from '@tapegrad/nn';
import { initWasmBackend } from '@tapegrad/backend-wasm';
import { initNativeBackend } from '@tapegrad/backend-native';
import { readOptions } from '../shared/options.js';

const options = readOptions({
  epochs: { kind: 'count', default: 150, help: 'N ≥ 1' },
  dim: { kind: 'count', default: 32, help: 'N ≥ 1, divisible by --heads' },
  heads: { kind: 'count', default: 4, help: 'N ≥ 1' },
  lr: { kind: 'positive', default: 3e-3, help: 'a number > 0' },
});

initWasmBackend();
initNativeBackend();
console.log(`backend: ${getBackend().name}`);

const LENGTH = 6;
const VOCAB = 3;
const T = 2 * LENGTH - 1; // input ++ output without its last token, which is never fed back

// ── the data ──
const allInputs = Array.from({ length: VOCAB ** LENGTH }, (_, code) => Array.from({ length: LENGTH }, (_, i) => Math.floor(code / VOCAB ** (LENGTH - 1 - i)) % VOCAB));
shuffleInPlace(allInputs, createRng(1));
const heldOut = allInputs.slice(0, Math.round(allInputs.length / 4));
const trainInputs = allInputs.slice(heldOut.length);

/** x: the sequence input ++ sorted, minus its last token; y: one-hot next tokens, zero rows (ignored) while the input is read. */
function sortingExamples(inputs: number[][]): { x: Tensor; y: Tensor } {
  const x = inputs.map((inp) => [...inp, ...[...inp].sort()].slice(0, T));
  const y = inputs.map((inp) => {
    const next = [...inp, ...[...inp].sort()].slice(1);
    return next.map((token, t) => Array.from({ length: VOCAB }, (_, v) => (t >= LENGTH - 1 && v === token ? 1 : 0)));
  });
  return { x: tensor(x), y: tensor(y) };
}

/** Cross-entropy of the next token, averaged over the output positions only. */
function sortingLoss(logits: Tensor, y: Tensor): Tensor {
  return div(neg(sum(mul(y, logSoftmax(logits, -1)))), logits.shape[0] * LENGTH);
}

// ── the model ──
/** Token embedding + learned position embedding: ids [N, t] → [N, t, dim]. */
class TokensAndPositions implements Module {
  readonly tokens: Embedding;
  readonly positions: Embedding;
  constructor(vocab: number, maxLength: number, dim: number, seed: number) {
    this.tokens = new Embedding(vocab, dim, { seed });
    this.positions = new Embedding(maxLength, dim, { seed: seed + 1 });
  }
  parameters(): NamedParameters {
    return { tokens: this.tokens.W, positions: this.positions.W };
  }
  forward(ids: Tensor): Tensor {
    const t = ids.shape[1];
    return add(this.tokens.forward(ids), this.positions.lookup(Int32Array.from({ length: t }, (_, i) => i)));
  }
}

const { dim, heads } = options;
const block = (seed: number) => sequential(
  residual(sequential(new LayerNorm(dim), new MultiHeadAttention(dim, heads, { causal: true, seed }))),
  residual(sequential(new LayerNorm(dim), new Linear(dim, 4 * dim, { seed: seed + 1 }), new GELU(), new Linear(4 * dim, dim, { seed: seed + 2 }))),
);
const model = sequential({
  embed: new TokensAndPositions(VOCAB, T, dim, 1),
  block1: block(10),
  block2: block(20),
  norm: new LayerNorm(dim),
  head: new Linear(dim, VOCAB, { seed: 30 }),
});
const parameterCount = Object.values(model.parameters()).reduce((n, p) => n + p.size, 0);
console.log(`GPT: 2 blocks, dim ${dim}, ${heads} heads, ${parameterCount} parameters`);

// ── training ──
const started = performance.now();
const train = sortingExamples(trainInputs);
await fit(model, train, {
  loss: sortingLoss, optimizer: new Adam({ lr: options.lr }), epochs: options.epochs, batchSize: 64, seed: 42, layout: 'rows',
  onEpoch(log) {
    if (log.epoch % 10 === 0 || log.epoch === 1) console.log(`epoch ${log.epoch}  loss ${log.loss.toFixed(4)}  (${((performance.now() - started) / 1000).toFixed(1)} s)`);
  },
});
const trainSeconds = (performance.now() - started) / 1000;

// ── greedy decoding ──
function sortGreedily(inputs: number[][]): number[][] {
  return noGrad(() => {
    model.eval();
    let ids = tensor(inputs);
    for (let i = 0; i < LENGTH; i++) {
      const logits = model.forward(ids);
      const last = slice(logits, [0, ids.shape[1] - 1, 0], [ids.shape[0], 1, VOCAB]);
      ids = concat([ids, argmax(last, -1)], 1); // the most likely next token, fed back
    }
    return (slice(ids, [0, LENGTH], [ids.shape[0], LENGTH]).toArray() as number[][]);
  });
}

function exactMatches(inputs: number[][]): number {
  const outputs = sortGreedily(inputs);
  return inputs.filter((inp, n) => outputs[n].join() === [...inp].sort().join()).length;
}

const evalRng = createRng(2);
const samples = Array.from({ length: 1000 }, () => heldOut[Math.floor(evalRng.next() * heldOut.length)]);
const correct = exactMatches(samples);
console.log(`trained in ${trainSeconds.toFixed(1)} s`);
console.log(`held-out exact match: ${correct}/1000 = ${(correct / 10).toFixed(1)} %`);
console.log(`all ${heldOut.length} held-out inputs: ${exactMatches(heldOut)}/${heldOut.length}; all ${trainInputs.length} training inputs: ${exactMatches(trainInputs)}/${trainInputs.length}`);
