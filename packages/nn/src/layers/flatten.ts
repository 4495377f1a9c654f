import { type Tensor, ShapeError, reshape, transpose } from '@tapegrad/core';
import type { Module, NamedParameters } from '../module.js';

/**
 * Where images meet Dense: [N, C, H, W] (or any [N, …]) → [C·H·W, N], one example per column,
 * the features of a column in channel, row, column order (example n's column is the row-major
 * flattening of x[n]). This is PyTorch's `nn.Flatten` transposed, because Dense keeps
 * examples as columns (Z = W·A + b): a Dense after it sees exactly the features a PyTorch
 * Linear after `nn.Flatten` sees, so weights carry over as they are. No parameters.
 */
export class Flatten implements Module {
  parameters(): NamedParameters {
    return {};
  }

  forward(x: Tensor): Tensor {
    if (x.rank < 2) throw new ShapeError('Flatten', `expects a batch [N, …] of rank 2 or more, got [${x.shape.join(',')}]`);
    return transpose(reshape(x, [x.shape[0], -1]), [1, 0]);
  }
}
