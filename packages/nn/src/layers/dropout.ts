import { type Rng, type Tensor, ValueError, createRng, dropout } from '@tapegrad/core';
import type { Module, NamedParameters } from '../module.js';

/** Options of the Dropout layer: where its masks come from. */
export interface DropoutLayerOptions {
  /** Seed of the layer's own generator, which draws a fresh mask at every training forward pass. */
  seed?: number;
  /** Or a generator to draw the masks from (shared, e.g., by the layers of one model). */
  rng?: Rng;
}

/**
 * Inverted dropout as a layer, PyTorch's `nn.Dropout`: in training mode each element is zeroed
 * with probability p and the survivors scaled by 1/(1 − p), so the expected activation is the
 * same in both modes; in evaluation mode (`eval()`) it is the identity. Works on any layout.
 * Masks come from a seeded generator (tapegrad never draws unseeded randomness), one new mask
 * per forward pass. No parameters.
 */
export class Dropout implements Module {
  readonly p: number;
  training = true;
  private readonly rng: Rng | null;

  constructor(p: number, options: DropoutLayerOptions = {}) {
    if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw new ValueError('Dropout', `p must be a probability in [0, 1], got ${String(p)}`);
    this.p = p;
    this.rng = options.rng ?? (options.seed !== undefined ? createRng(options.seed) : null);
    if (this.rng === null && p > 0 && p < 1) throw new ValueError('Dropout', 'needs a seed or an rng: tapegrad never draws unseeded randomness');
  }

  train(mode = true): this {
    this.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  parameters(): NamedParameters {
    return {};
  }

  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x;
    // without an rng p is 1 here (the constructor saw to it): every element is dropped, nothing is drawn
    return dropout(x, this.p, { rng: this.rng ?? createRng(0) });
  }
}
