/**
 * The GPT of examples/tiny-transformer, in nn layers: token + learned position embeddings,
 * pre-norm transformer blocks, a final LayerNorm and a linear head over the vocabulary.
 * Sequences are [N, T] token ids in, [N, T, vocab] next-token logits out.
 */
import { type DType, type Tensor, add } from '@tapegrad/core';
import {
  Embedding, GELU, LayerNorm, Linear, type Module, MultiHeadAttention, type NamedParameters, type Sequential, residual, sequential,
} from '@tapegrad/nn';

/** ids [N, t] → token embedding + embedding of the position 0 … t−1: [N, t, dim]. */
export class TokensAndPositions implements Module {
  readonly tokens: Embedding;
  readonly positions: Embedding;

  constructor(vocab: number, maxLength: number, dim: number, options: { seed: number; dtype?: DType }) {
    this.tokens = new Embedding(vocab, dim, { seed: options.seed, dtype: options.dtype });
    this.positions = new Embedding(maxLength, dim, { seed: options.seed + 1, dtype: options.dtype });
  }

  parameters(): NamedParameters {
    return { tokens: this.tokens.W, positions: this.positions.W };
  }

  forward(ids: Tensor): Tensor {
    const t = ids.shape[1];
    return add(this.tokens.forward(ids), this.positions.lookup(Int32Array.from({ length: t }, (_, i) => i)));
  }
}

/** x + attention(LayerNorm(x)), then x + MLP(LayerNorm(x)): GPT-2's pre-norm block on [N, T, dim]. */
export function transformerBlock(dim: number, heads: number, options: { seed: number; dtype?: DType }): Sequential {
  const { seed, dtype } = options;
  return sequential({
    attention: residual(sequential(new LayerNorm(dim, { dtype }), new MultiHeadAttention(dim, heads, { causal: true, seed, dtype }))),
    mlp: residual(sequential(
      new LayerNorm(dim, { dtype }),
      new Linear(dim, 4 * dim, { seed: seed + 1, dtype }), new GELU(), new Linear(4 * dim, dim, { seed: seed + 2, dtype }),
    )),
  });
}

export interface GptOptions {
  vocab: number;
  /** The longest sequence it will read (the number of learned positions). */
  maxLength: number;
  dim: number;
  heads: number;
  blocks: number;
  seed: number;
  dtype?: DType;
}

/** A decoder-only transformer: ids [N, T] → next-token logits [N, T, vocab]. */
export function gpt({ vocab, maxLength, dim, heads, blocks, seed, dtype }: GptOptions): Sequential {
  const layers: Record<string, Module> = { embed: new TokensAndPositions(vocab, maxLength, dim, { seed, dtype }) };
  for (let b = 1; b <= blocks; b++) layers[`block${b}`] = transformerBlock(dim, heads, { seed: seed + 10 * b, dtype });
  layers.norm = new LayerNorm(dim, { dtype });
  layers.head = new Linear(dim, vocab, { seed: seed + 10 * (blocks + 1), dtype });
  return sequential(layers);
}
