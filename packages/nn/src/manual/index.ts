import type { Tensor } from '@tapegrad/core';
import { Dense } from '../layers/dense.js';
import type { LossName } from '../losses.js';
import type { Sequential } from '../sequential.js';
import { type ManualBackpropOptions, type ManualBackpropResult, denseBackprop } from './backprop.js';
import { cnnBackprop } from './cnn.js';

/**
 * Backpropagation by hand, no tape: BP1–BP4 (manual/backprop.ts) for a plain MLP, the CNN
 * equations (manual/cnn.ts) followed by BP1–BP4 for the dense head for a Sequential with
 * Conv2d, pools, Flatten and activation layers. X is [features, M] for an MLP and images
 * [M, C, H, W] for a CNN; Y is [units, M] either way. Layers it does not cover (BatchNorm,
 * attention, Dropout in training mode, …) raise an {@link UnsupportedLayerError} naming them.
 */
export function manualBackprop(model: Sequential | readonly Dense[], X: Tensor, Y: Tensor, loss: LossName, options: ManualBackpropOptions = {}): ManualBackpropResult {
  if (Array.isArray(model)) {
    const layers = model as readonly Dense[];
    return denseBackprop(layers, layers.map((_, i) => String(i)), X, Y, loss, options);
  }
  const sequential = model as Sequential;
  if (sequential.layers.every((layer) => layer instanceof Dense)) return denseBackprop(sequential.layers as Dense[], sequential.names, X, Y, loss, options);
  return cnnBackprop(sequential, X, Y, loss, options);
}
