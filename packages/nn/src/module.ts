import type { Tensor } from '@tapegrad/core';

/** Parameters by name, e.g. `{ '0.W': …, '0.b': … }`. Insertion order is the canonical order. */
export type NamedParameters = Record<string, Tensor>;

/**
 * A model is anything with named parameters and a forward function built from core ops:
 * the tape differentiates whatever forward computes, so custom architectures need no
 * gradient code. Parameters are leaf tensors that optimisers update in place (assign).
 */
export interface Module {
  parameters(): NamedParameters;
  forward(x: Tensor): Tensor;
}

/** One dense layer's record of a forward pass: Zˡ = Wˡ·Aˡ⁻¹ + bˡ and Aˡ = f(Zˡ). */
export interface LayerTrace {
  z: Tensor;
  a: Tensor;
}

/** A forward pass that kept every layer's Zˡ and Aˡ, so callers can ask the tape for ∂C/∂Zˡ. */
export interface ForwardTrace {
  /** Ŷ = Aᴸ. */
  output: Tensor;
  /** layers[l-1] holds Zˡ and Aˡ, for l = 1..L. */
  layers: LayerTrace[];
}
