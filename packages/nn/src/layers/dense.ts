import { type DType, type Rng, type Tensor, ShapeError, add, matmul, zeros } from '@tapegrad/core';
import { type Activation, activate, checkActivation } from '../activations.js';
import { type Initializer, initWeights } from '../init.js';
import type { LayerTrace, Module, NamedParameters } from '../module.js';

/** Options of the Dense layer: activation, initialisers, dtype, seed. */
export interface DenseOptions {
  activation?: Activation;
  /** Weight initialiser. Default 'xavierUniform' (or 'heNormal' for relu). */
  init?: Initializer;
  /** Bias initialiser: zeros by default; 'standardNormal' is the seeds' "classic" init. */
  biasInit?: 'zeros' | 'standardNormal';
  dtype?: DType;
  seed?: number;
  rng?: Rng;
}

/**
 * A fully connected layer with examples as columns, as in the seeds:
 * Z = W·A + b with W ∈ R^{out×in}, b ∈ R^{out×1} broadcast over the batch's columns,
 * and A_out = f(Z).
 */
export class Dense implements Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly activation: Activation;
  readonly W: Tensor;
  readonly b: Tensor;

  constructor(inFeatures: number, outFeatures: number, options: DenseOptions = {}) {
    for (const [name, v] of [['inFeatures', inFeatures], ['outFeatures', outFeatures]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new ShapeError('Dense', `${name} must be a positive integer, got ${v}`);
    }
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    this.activation = checkActivation('Dense', options.activation ?? 'identity');
    const dtype = options.dtype ?? 'float32';
    const init = options.init ?? (this.activation === 'relu' ? 'heNormal' : 'xavierUniform');
    this.W = initWeights(init, outFeatures, inFeatures, { dtype, rng: options.rng, seed: options.seed });
    this.b = options.biasInit === 'standardNormal'
      ? initWeights('standardNormal', outFeatures, 1, { dtype, rng: options.rng, seed: options.seed === undefined ? undefined : options.seed + 1 })
      : zeros([outFeatures, 1], { dtype });
  }

  parameters(): NamedParameters {
    return { W: this.W, b: this.b };
  }

  /** Zˡ and Aˡ for the input activations A ∈ R^{in × M}. */
  trace(a: Tensor): LayerTrace {
    const z = this.preActivation(a);
    return { z, a: activate(this.activation, z) };
  }

  /**
   * Zˡ now and Aˡ = f(Zˡ) when first read (then kept): what the output layer owes a loss in
   * its from-logits form, which reads Zᴸ only (nn's `fit` uses it: Aᴸ is computed for a metric,
   * or a loss of the activations, and otherwise never). Read inside a recording, Aˡ is recorded
   * as `trace`'s is; read after it, it is computed as values only.
   */
  lazyTrace(a: Tensor): LazyLayerTrace {
    return new LazyLayerTrace(this.activation, this.preActivation(a));
  }

  /**
   * Zˡ = W·A + b alone, without the activation: what a loss in its from-logits form needs of
   * the output layer (nn's `fit` computes Aᴸ only when something reads it, e.g. a metric).
   */
  preActivation(a: Tensor): Tensor {
    if (a.rank !== 2 || a.shape[0] !== this.inFeatures) {
      throw new ShapeError('Dense', `expects input of shape [${this.inFeatures}, batch] (features × examples), got [${a.shape.join(',')}]`);
    }
    return add(matmul(this.W, a), this.b);
  }

  forward(a: Tensor): Tensor {
    return this.trace(a).a;
  }
}

/**
 * {@link Dense.lazyTrace}'s result: Zˡ, the activation's name, and Aˡ computed on first read.
 * A class, not an object literal with getters: written as literals (new getter functions
 * each step), the benchmark's training step left ≈ 2.6 KB a step that survived the scavenges
 * (the young heap's survivors grew 1 MB per 400 T3 steps, each scavenge taking 3–8 ms instead
 * of 0.6–1) until a full collection.
 */
export class LazyLayerTrace implements LayerTrace {
  #a: Tensor | undefined;
  constructor(readonly activation: Activation, readonly z: Tensor) {}
  get a(): Tensor {
    return (this.#a ??= activate(this.activation, this.z));
  }
}
