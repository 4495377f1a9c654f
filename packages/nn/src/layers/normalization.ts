import {
  type DType, type Tensor, ShapeError, ValueError, add, div, mean, mul, noGrad, ones, reshape, sqrt, sub, variance, zeros,
} from '@tapegrad/core';
import type { Module, NamedParameters } from '../module.js';

/** Options of BatchNorm1d and BatchNorm2d: ε, momentum of the running statistics, affine parameters, dtype. */
export interface BatchNormOptions {
  /** Weight of the newest batch in the running statistics: running = (1 − momentum)·running + momentum·batch. Default 0.1. */
  momentum?: number;
  /** Added to the variance before the square root. Default 1e-5. */
  eps?: number;
  /** Learn a scale γ and a shift β per feature. Default true. */
  affine?: boolean;
  dtype?: DType;
}

function positiveInteger(layer: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new ShapeError(layer, `${name} must be a positive integer, got ${v}`);
}

/**
 * Batch normalisation's shared rule, PyTorch's: in training mode each feature is normalised
 * by the batch's mean and biased variance over the reduced axes, and the running mean and
 * (unbiased) variance move towards them by `momentum`; in evaluation mode the running
 * statistics normalise instead. y = γ·(x − μ)/√(σ² + ε) + β.
 */
abstract class BatchNorm implements Module {
  readonly numFeatures: number;
  readonly momentum: number;
  readonly eps: number;
  /** Scale γ [features], starts at 1 (null without affine). */
  readonly gamma: Tensor | null;
  /** Shift β [features], starts at 0 (null without affine). */
  readonly beta: Tensor | null;
  /** Running mean [features], starts at 0: a buffer, saved with the model but not trained. */
  readonly runningMean: Tensor;
  /** Running (unbiased) variance [features], starts at 1: a buffer. */
  readonly runningVar: Tensor;
  training = true;
  protected abstract readonly layer: string;

  constructor(numFeatures: number, options: BatchNormOptions) {
    positiveInteger(new.target.name, 'numFeatures', numFeatures);
    const momentum = options.momentum ?? 0.1;
    const eps = options.eps ?? 1e-5;
    if (!(momentum >= 0 && momentum <= 1)) throw new ValueError(new.target.name, `momentum must be in [0, 1], got ${momentum}`);
    if (!(eps > 0)) throw new ValueError(new.target.name, `eps must be positive, got ${eps}`);
    this.numFeatures = numFeatures;
    this.momentum = momentum;
    this.eps = eps;
    const dtype = options.dtype ?? 'float32';
    this.gamma = options.affine === false ? null : ones([numFeatures], { dtype });
    this.beta = options.affine === false ? null : zeros([numFeatures], { dtype });
    this.runningMean = zeros([numFeatures], { dtype });
    this.runningVar = ones([numFeatures], { dtype });
  }

  train(mode = true): this {
    this.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  parameters(): NamedParameters {
    return this.gamma === null || this.beta === null ? {} : { gamma: this.gamma, beta: this.beta };
  }

  buffers(): NamedParameters {
    return { runningMean: this.runningMean, runningVar: this.runningVar };
  }

  /** Refuses an input of the wrong layout; returns the axes the statistics reduce over. */
  protected abstract reducedAxes(x: Tensor): number[];
  /** The shape the per-feature vectors take to broadcast against x. */
  protected abstract featureShape(x: Tensor): number[];

  forward(x: Tensor): Tensor {
    const axes = this.reducedAxes(x);
    const shape = this.featureShape(x);
    let mu: Tensor;
    let sigma2: Tensor;
    if (this.training) {
      const count = x.size / this.numFeatures;
      if (count < 2) throw new ValueError(this.layer, `needs more than one value per feature in training mode (got [${x.shape.join(',')}]); use eval() for a single example`);
      mu = mean(x, axes, true);
      sigma2 = variance(x, axes, { correction: 0, keepDims: true });
      const m = this.momentum;
      noGrad(() => {
        if (this.runningMean.device !== 'cpu') {
          // on a device the CPU cannot read the batch statistics: the same update as ops (float32 rounding per op)
          const flat = [this.numFeatures];
          this.runningMean.assign(add(mul(this.runningMean, 1 - m), mul(reshape(mu, flat), m)));
          this.runningVar.assign(add(mul(this.runningVar, 1 - m), mul(reshape(sigma2, flat), m * count / (count - 1))));
          return;
        }
        const batchMean = mu.data;
        const batchVar = sigma2.data;
        const rm = this.runningMean.data;
        const rv = this.runningVar.data;
        this.runningMean.assign(Array.from(rm, (r, i) => (1 - m) * r + m * batchMean[i]));
        this.runningVar.assign(Array.from(rv, (r, i) => (1 - m) * r + m * batchVar[i] * count / (count - 1)));
      });
    } else {
      mu = reshape(this.runningMean, shape);
      sigma2 = reshape(this.runningVar, shape);
    }
    const normalised = div(sub(x, mu), sqrt(add(sigma2, this.eps)));
    if (this.gamma === null || this.beta === null) return normalised;
    return add(mul(normalised, reshape(this.gamma, shape)), reshape(this.beta, shape));
  }
}

/**
 * Batch normalisation of images [N, C, H, W], PyTorch's `nn.BatchNorm2d`: statistics per
 * channel over the batch and all positions (axes 0, 2, 3). Parameters `gamma`, `beta` [C];
 * buffers `runningMean`, `runningVar` [C] (saved and loaded with the model).
 */
export class BatchNorm2d extends BatchNorm {
  protected readonly layer = 'BatchNorm2d';

  constructor(channels: number, options: BatchNormOptions = {}) {
    super(channels, options);
  }

  protected reducedAxes(x: Tensor): number[] {
    if (x.rank !== 4 || x.shape[1] !== this.numFeatures) throw new ShapeError(this.layer, `expects images [N, ${this.numFeatures}, H, W], got [${x.shape.join(',')}]`);
    return [0, 2, 3];
  }

  protected featureShape(): number[] {
    return [1, this.numFeatures, 1, 1];
  }
}

/**
 * Batch normalisation of Dense's layout, features × examples [F, N]: statistics per feature
 * (row) over the batch's columns (axis 1). This is PyTorch's `nn.BatchNorm1d` transposed
 * (PyTorch's takes [N, F]), so it sits between Dense layers with no transpose.
 * Parameters `gamma`, `beta` [F]; buffers `runningMean`, `runningVar` [F].
 */
export class BatchNorm1d extends BatchNorm {
  protected readonly layer = 'BatchNorm1d';

  constructor(features: number, options: BatchNormOptions = {}) {
    super(features, options);
  }

  protected reducedAxes(x: Tensor): number[] {
    if (x.rank !== 2 || x.shape[0] !== this.numFeatures) throw new ShapeError(this.layer, `expects [${this.numFeatures}, N] (features × examples, Dense's layout), got [${x.shape.join(',')}]`);
    return [1];
  }

  protected featureShape(): number[] {
    return [this.numFeatures, 1];
  }
}

/** Options of LayerNorm: ε, affine parameters, dtype. */
export interface LayerNormOptions {
  /** Default 1e-5. */
  eps?: number;
  /** Learn γ and β of the normalised shape. Default true. */
  affine?: boolean;
  dtype?: DType;
}

/**
 * Layer normalisation, PyTorch's `nn.LayerNorm(shape)`: each example is normalised over its
 * trailing axes `shape` (e.g. the model dimension D of a sequence [N, T, D]) by its own mean
 * and biased variance, the same in training and evaluation. Parameters `gamma` (ones) and
 * `beta` (zeros) of shape `shape`. It normalises the last axes, so on Dense's [features, N]
 * it would mix examples: use it on [N, …] layouts (sequences, images).
 */
export class LayerNorm implements Module {
  readonly shape: readonly number[];
  readonly eps: number;
  readonly gamma: Tensor | null;
  readonly beta: Tensor | null;

  constructor(shape: number | readonly number[], options: LayerNormOptions = {}) {
    const dims = typeof shape === 'number' ? [shape] : [...shape];
    if (dims.length === 0) throw new ShapeError('LayerNorm', 'needs a normalised shape of at least one axis');
    dims.forEach((d) => positiveInteger('LayerNorm', 'every axis of shape', d));
    const eps = options.eps ?? 1e-5;
    if (!(eps > 0)) throw new ValueError('LayerNorm', `eps must be positive, got ${eps}`);
    this.shape = dims;
    this.eps = eps;
    const dtype = options.dtype ?? 'float32';
    this.gamma = options.affine === false ? null : ones(dims, { dtype });
    this.beta = options.affine === false ? null : zeros(dims, { dtype });
  }

  parameters(): NamedParameters {
    return this.gamma === null || this.beta === null ? {} : { gamma: this.gamma, beta: this.beta };
  }

  forward(x: Tensor): Tensor {
    const k = this.shape.length;
    const tail = x.shape.slice(x.rank - k);
    if (x.rank < k || tail.some((d, i) => d !== this.shape[i])) {
      throw new ShapeError('LayerNorm', `expects input ending in [${this.shape.join(',')}], got [${x.shape.join(',')}]`);
    }
    const axes = Array.from({ length: k }, (_, i) => x.rank - k + i);
    const mu = mean(x, axes, true);
    const sigma2 = variance(x, axes, { correction: 0, keepDims: true });
    const normalised = div(sub(x, mu), sqrt(add(sigma2, this.eps)));
    if (this.gamma === null || this.beta === null) return normalised;
    return add(mul(normalised, this.gamma), this.beta);
  }
}
