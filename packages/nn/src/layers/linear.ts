import { type DType, type Rng, type Tensor, ShapeError, add, matmulT, zeros } from '@tapegrad/core';
import { type Initializer, initTensor } from '../init.js';
import type { Module, NamedParameters } from '../module.js';

/** Options of the Linear layer: bias, initialiser, dtype, seed. */
export interface LinearOptions {
  /** Default 'xavierUniform'. */
  init?: Initializer;
  /** Learn a bias [out]. Default true. */
  bias?: boolean;
  dtype?: DType;
  seed?: number;
  rng?: Rng;
}

/**
 * A weight over the last axis, PyTorch's `nn.Linear`: x [..., in] → x·Wᵀ + b [..., out], with
 * W [out, in] and b [out]; every leading axis is a batch axis (sequences [N, T, D]). It differs
 * from Dense only in layout: Dense computes W·A + b on columns, A [in, N] (the seeds'
 * examples-as-columns), Linear on rows, so it fits the sequence layout of Embedding,
 * MultiHeadAttention and LayerNorm. The same W works in both. Parameters `W`, `b`.
 */
export class Linear implements Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly W: Tensor;
  readonly b: Tensor | null;

  constructor(inFeatures: number, outFeatures: number, options: LinearOptions = {}) {
    for (const [name, v] of [['inFeatures', inFeatures], ['outFeatures', outFeatures]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new ShapeError('Linear', `${name} must be a positive integer, got ${v}`);
    }
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    const dtype = options.dtype ?? 'float32';
    this.W = initTensor(options.init ?? 'xavierUniform', [outFeatures, inFeatures], { dtype, rng: options.rng, seed: options.seed });
    this.b = options.bias === false ? null : zeros([outFeatures], { dtype });
  }

  parameters(): NamedParameters {
    return this.b === null ? { W: this.W } : { W: this.W, b: this.b };
  }

  forward(x: Tensor): Tensor {
    if (x.rank < 1 || x.shape[x.rank - 1] !== this.inFeatures) {
      throw new ShapeError('Linear', `expects input [..., ${this.inFeatures}] (features last), got [${x.shape.join(',')}]`);
    }
    const y = matmulT(x, this.W, false, true);
    return this.b === null ? y : add(y, this.b);
  }
}
