import { type Tensor, ValueError } from '@tapegrad/core';

/** Parameters by name, e.g. `{ '0.W': …, '0.b': … }`. Insertion order is the canonical order. */
export type NamedParameters = Record<string, Tensor>;

/**
 * A model is anything with named parameters and a forward function built from core ops:
 * the tape differentiates whatever forward computes, so custom architectures need no
 * gradient code. Parameters are leaf tensors that optimisers update in place (assign).
 */
export interface Module {
  /** The trainable tensors by name (`'0.W'`, `'conv1.b'`), in a fixed order. */
  parameters(): NamedParameters;
  /** The output for input `x`, computed with core ops (so the tape can differentiate it). */
  forward(x: Tensor): Tensor;
  /**
   * Training mode (true) or evaluation mode (false); layers whose forward differs between the
   * two (Dropout, BatchNorm) read it. Absent means the module behaves the same in both.
   */
  training?: boolean;
  /** Sets training mode (default true) on the module and every module inside it; returns it. */
  train?(mode?: boolean): this;
  /** Sets evaluation mode: `train(false)`. */
  eval?(): this;
  /**
   * State that is saved and loaded with the model but not trained (BatchNorm's running
   * statistics), named like parameters. Absent means none.
   */
  buffers?(): NamedParameters;
}

/**
 * Everything saveModel writes and loadModel restores: the parameters, then the buffers.
 * A buffer may not share a parameter's name (the file would hold one of them).
 */
export function modelState(model: Module): NamedParameters {
  const state: NamedParameters = { ...model.parameters() };
  const buffers = typeof model.buffers === 'function' ? model.buffers() : {};
  for (const [name, t] of Object.entries(buffers)) {
    if (Object.hasOwn(state, name)) throw new ValueError('modelState', `buffer '${name}' has the name of a parameter`);
    state[name] = t;
  }
  return state;
}

/**
 * Switches a module into training (true) or evaluation (false) mode through its `train`, when
 * it has one (a module without it behaves the same in both modes); returns the mode it was in.
 */
export function setTrainingMode(model: Module, training: boolean): boolean {
  const before = model.training ?? true;
  if (typeof model.train === 'function') model.train(training);
  return before;
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
