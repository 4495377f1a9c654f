import { type DType, type Rng, type Tensor, ShapeError, type Indices, take } from '@tapegrad/core';
import { type Initializer, initTensor } from '../init.js';
import type { Module, NamedParameters } from '../module.js';

/** Options of the Embedding layer: initialisation, dtype, seed. */
export interface EmbeddingOptions {
  /** Default 'standardNormal' (N(0, 1), as PyTorch's). */
  init?: Initializer;
  dtype?: DType;
  seed?: number;
  rng?: Rng;
}

/**
 * A lookup table, PyTorch's `nn.Embedding`: token ids [N, T] (or any shape; integral values in
 * a tensor of any dtype, nested arrays or an Int32Array) → their rows of W [vocab, dim], shape
 * [N, T, dim], the sequence layout. Built on core's `take`, whose gradient scatter-adds into
 * the rows that were read (a repeated token accumulates). An id outside [0, vocab) is a
 * ValueError naming it. Parameter `W` [vocab, dim].
 */
export class Embedding implements Module {
  readonly vocab: number;
  readonly dim: number;
  readonly W: Tensor;

  constructor(vocab: number, dim: number, options: EmbeddingOptions = {}) {
    for (const [name, v] of [['vocab', vocab], ['dim', dim]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new ShapeError('Embedding', `${name} must be a positive integer, got ${v}`);
    }
    this.vocab = vocab;
    this.dim = dim;
    this.W = initTensor(options.init ?? 'standardNormal', [vocab, dim], { dtype: options.dtype, rng: options.rng, seed: options.seed });
  }

  parameters(): NamedParameters {
    return { W: this.W };
  }

  forward(ids: Tensor): Tensor {
    return this.lookup(ids);
  }

  /** The rows of W at `ids`, for ids given as nested arrays or an Int32Array. */
  lookup(ids: Indices): Tensor {
    return take(this.W, ids, 0);
  }
}
