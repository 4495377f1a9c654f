import {
  type DType, type Rng, type Tensor, ShapeError, add, createRng, keep, matmul, matmulT, mul, reshape, softmax, tensor, transpose, zeros,
} from '@tapegrad/core';
import { type Initializer, initTensor } from '../init.js';
import type { Module, NamedParameters } from '../module.js';

/** Options of MultiHeadAttention: masking, initialiser, bias, dtype, seed. */
export interface MultiHeadAttentionOptions {
  /** Each position attends only to itself and earlier positions (a decoder's mask). Default false. */
  causal?: boolean;
  /** Projection initialiser. Default 'xavierUniform' (PyTorch's for its input projections). */
  init?: Initializer;
  /** Learn biases for the four projections. Default true. */
  bias?: boolean;
  dtype?: DType;
  seed?: number;
  rng?: Rng;
}

/**
 * Multi-head self-attention over sequences [N, T, D] (the sequence layout: examples first,
 * then positions, then features, PyTorch's `batch_first`). Projections act on the last axis
 * as {@link Linear} does, `x·Wᵀ + b` with W [out, in] (PyTorch's convention, so weights carry
 * over), where Dense computes `W·A + b` over columns. Per head h of width d = D/heads:
 * `head_h = softmax(Q_h·K_hᵀ/√d + mask)·V_h` with Q = x·Wqᵀ + bq, K = x·Wkᵀ + bk, V = x·Wvᵀ + bv,
 * computed for all heads at once as batched matmuls over [N, heads, T, d]; the heads are
 * concatenated back to [N, T, D] and projected by Wo, bo. With `causal`, position t sees
 * positions ≤ t only. Parameters `Wq`, `Wk`, `Wv`, `Wo` [D, D] and `bq`, `bk`, `bv`, `bo` [D].
 */
export class MultiHeadAttention implements Module {
  readonly dim: number;
  readonly heads: number;
  readonly causal: boolean;
  readonly Wq: Tensor;
  readonly Wk: Tensor;
  readonly Wv: Tensor;
  readonly Wo: Tensor;
  readonly bq: Tensor | null;
  readonly bk: Tensor | null;
  readonly bv: Tensor | null;
  readonly bo: Tensor | null;
  private masks = new Map<string, Tensor>();

  constructor(dim: number, heads: number, options: MultiHeadAttentionOptions = {}) {
    for (const [name, v] of [['dim', dim], ['heads', heads]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new ShapeError('MultiHeadAttention', `${name} must be a positive integer, got ${v}`);
    }
    if (dim % heads !== 0) throw new ShapeError('MultiHeadAttention', `dim ${dim} is not divisible by heads ${heads}`);
    this.dim = dim;
    this.heads = heads;
    this.causal = options.causal ?? false;
    const dtype = options.dtype ?? 'float32';
    const rng = options.rng ?? (options.seed !== undefined ? createRng(options.seed) : undefined);
    const init = options.init ?? 'xavierUniform';
    const weight = () => initTensor(init, [dim, dim], { dtype, rng });
    this.Wq = weight();
    this.Wk = weight();
    this.Wv = weight();
    this.Wo = weight();
    const bias = () => (options.bias === false ? null : zeros([dim], { dtype }));
    this.bq = bias();
    this.bk = bias();
    this.bv = bias();
    this.bo = bias();
  }

  parameters(): NamedParameters {
    const out: NamedParameters = { Wq: this.Wq, Wk: this.Wk, Wv: this.Wv, Wo: this.Wo };
    if (this.bq && this.bk && this.bv && this.bo) Object.assign(out, { bq: this.bq, bk: this.bk, bv: this.bv, bo: this.bo });
    return out;
  }

  forward(x: Tensor): Tensor {
    if (x.rank !== 3 || x.shape[2] !== this.dim) {
      throw new ShapeError('MultiHeadAttention', `expects sequences [N, T, ${this.dim}] (examples, positions, features), got [${x.shape.join(',')}]`);
    }
    const [N, T] = x.shape;
    const H = this.heads;
    const d = this.dim / H;
    const project = (w: Tensor, b: Tensor | null) => (b === null ? matmulT(x, w, false, true) : add(matmulT(x, w, false, true), b));
    // [N, T, D] → [N, H, T, d]: each head's slice of the features
    const split = (t: Tensor) => transpose(reshape(t, [N, T, H, d]), [0, 2, 1, 3]);
    const q = split(project(this.Wq, this.bq));
    const k = split(project(this.Wk, this.bk));
    const v = split(project(this.Wv, this.bv));
    let scores = mul(matmulT(q, k, false, true), 1 / Math.sqrt(d)); // [N, H, T, T]
    if (this.causal) scores = add(scores, this.causalMask(T, x.dtype));
    const heads = matmul(softmax(scores, -1), v); // [N, H, T, d]
    const joined = reshape(transpose(heads, [0, 2, 1, 3]), [N, T, this.dim]);
    const out = matmulT(joined, this.Wo, false, true);
    return this.bo === null ? out : add(out, this.bo);
  }

  /** `[T, T]`: 0 where the key's position ≤ the query's, −∞ after it (softmax gives those weight 0). */
  private causalMask(T: number, dtype: DType): Tensor {
    const key = `${T}:${dtype}`;
    let mask = this.masks.get(key);
    if (!mask) {
      const values = new Float64Array(T * T);
      for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) values[i * T + j] = -Infinity;
      // cached across calls, so it must outlive the tidy() a training step (fit's) runs in
      mask = keep(tensor(values, { shape: [T, T], dtype }));
      this.masks.set(key, mask);
    }
    return mask;
  }
}
