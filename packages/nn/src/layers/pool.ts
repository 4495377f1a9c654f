import { type Size2, type Tensor, ShapeError, avgPool2d, maxPool2d } from '@tapegrad/core';
import type { Module, NamedParameters } from '../module.js';

/** Options of the MaxPool2d and AvgPool2d layers: stride and padding. */
export interface Pool2dLayerOptions {
  /** Default: the kernel size (windows side by side). */
  stride?: Size2;
  /** Default 0; at most half the kernel. */
  padding?: Size2;
}

function checkImages(layer: string, x: Tensor): void {
  if (x.rank !== 4) throw new ShapeError(layer, `expects images [N, C, H, W], got [${x.shape.join(',')}]`);
}

/**
 * 2-D max pooling as a layer, PyTorch's `nn.MaxPool2d`: [N, C, H, W] → [N, C, outH, outW],
 * the largest value of each kH×kW window (ties share the gradient equally, core's rule).
 * No parameters.
 */
export class MaxPool2d implements Module {
  readonly kernelSize: Size2;
  readonly options: Pool2dLayerOptions & { dilation?: Size2 };

  constructor(kernelSize: Size2, options: Pool2dLayerOptions & { dilation?: Size2 } = {}) {
    this.kernelSize = kernelSize;
    this.options = { ...options };
  }

  parameters(): NamedParameters {
    return {};
  }

  forward(x: Tensor): Tensor {
    checkImages('MaxPool2d', x);
    return maxPool2d(x, { kernelSize: this.kernelSize, ...this.options });
  }
}

/**
 * 2-D average pooling as a layer, PyTorch's `nn.AvgPool2d`: [N, C, H, W] → [N, C, outH, outW],
 * the mean of each kH×kW window (padding counts in the divisor unless `countIncludePad: false`).
 * No parameters.
 */
export class AvgPool2d implements Module {
  readonly kernelSize: Size2;
  readonly options: Pool2dLayerOptions & { countIncludePad?: boolean };

  constructor(kernelSize: Size2, options: Pool2dLayerOptions & { countIncludePad?: boolean } = {}) {
    this.kernelSize = kernelSize;
    this.options = { ...options };
  }

  parameters(): NamedParameters {
    return {};
  }

  forward(x: Tensor): Tensor {
    checkImages('AvgPool2d', x);
    return avgPool2d(x, { kernelSize: this.kernelSize, ...this.options });
  }
}
