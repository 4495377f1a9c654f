import {
  type DType, type Padding2, type Rng, type Size2, type Tensor, ShapeError, ValueError, add, conv2d, reshape, zeros,
} from '@tapegrad/core';
import { type Initializer, initTensor } from '../init.js';
import type { Module, NamedParameters } from '../module.js';

/** Options of the Conv2d layer: stride, padding, dilation, groups, bias, initialiser, dtype, seed. */
export interface Conv2dLayerOptions {
  /** Default 1. */
  stride?: Size2;
  /** Default 0; 'same' keeps H×W (stride 1). */
  padding?: Padding2;
  /** Default 1. */
  dilation?: Size2;
  /** Default 1: inChannels and outChannels must both be divisible by it. */
  groups?: number;
  /** Add a learned bias per output channel. Default true. */
  bias?: boolean;
  /** Kernel initialiser, its fans taken over the kernel (fan-in (C/groups)·kH·kW). Default 'heNormal'. */
  init?: Initializer;
  dtype?: DType;
  seed?: number;
  rng?: Rng;
}

function kernelPair(kernelSize: Size2): [number, number] {
  const [kH, kW] = typeof kernelSize === 'number' ? [kernelSize, kernelSize] : kernelSize;
  for (const k of [kH, kW]) {
    if (!Number.isInteger(k) || k < 1) throw new ShapeError('Conv2d', `kernelSize must be a positive integer or a pair of them, got ${JSON.stringify(kernelSize)}`);
  }
  return [kH, kW];
}

/**
 * A 2-D convolution layer, PyTorch's `nn.Conv2d`: images x [N, C, H, W] → [N, O, outH, outW],
 * y = conv2d(x, W) + b with the kernel W [O, C/groups, kH, kW] and the bias b [O] added to
 * every position of its channel. Parameters are named `W` and `b` (as Dense's, so `fit`'s L2
 * decays the kernels, not the biases). Built on core's `conv2d`: the tape differentiates it.
 *
 * ```ts
 * const conv = new Conv2d(1, 6, 5, { padding: 2, seed: 1 });   // LeNet's first layer
 * conv.forward(x);                                             // [N, 1, 28, 28] → [N, 6, 28, 28]
 * ```
 */
export class Conv2d implements Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: readonly [number, number];
  readonly stride: Size2;
  readonly padding: Padding2;
  readonly dilation: Size2;
  readonly groups: number;
  readonly W: Tensor;
  readonly b: Tensor | null;

  constructor(inChannels: number, outChannels: number, kernelSize: Size2, options: Conv2dLayerOptions = {}) {
    for (const [name, v] of [['inChannels', inChannels], ['outChannels', outChannels]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new ShapeError('Conv2d', `${name} must be a positive integer, got ${v}`);
    }
    const groups = options.groups ?? 1;
    if (!Number.isInteger(groups) || groups < 1) throw new ValueError('Conv2d', `groups must be a positive integer, got ${groups}`);
    if (inChannels % groups !== 0 || outChannels % groups !== 0) {
      throw new ShapeError('Conv2d', `inChannels ${inChannels} and outChannels ${outChannels} must both be divisible by groups ${groups}`);
    }
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernelSize = kernelPair(kernelSize);
    this.stride = options.stride ?? 1;
    this.padding = options.padding ?? 0;
    this.dilation = options.dilation ?? 1;
    this.groups = groups;
    const dtype = options.dtype ?? 'float32';
    this.W = initTensor(options.init ?? 'heNormal', [outChannels, inChannels / groups, ...this.kernelSize], { dtype, rng: options.rng, seed: options.seed });
    this.b = options.bias === false ? null : zeros([outChannels], { dtype });
  }

  parameters(): NamedParameters {
    return this.b === null ? { W: this.W } : { W: this.W, b: this.b };
  }

  forward(x: Tensor): Tensor {
    if (x.rank !== 4 || x.shape[1] !== this.inChannels) {
      throw new ShapeError('Conv2d', `expects images [N, ${this.inChannels}, H, W], got [${x.shape.join(',')}]`);
    }
    const y = conv2d(x, this.W, { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups });
    return this.b === null ? y : add(y, reshape(this.b, [this.outChannels, 1, 1]));
  }
}
