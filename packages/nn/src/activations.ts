import { type Tensor, ValueError, relu, sigmoid, softmax, tanh } from '@tapegrad/core';

/** The activations a dense layer can apply; softmax runs over the units of one column. */
export type Activation = 'sigmoid' | 'relu' | 'tanh' | 'softmax' | 'identity';

/** Every activation name, for validation and command-line choices. */
export const ACTIVATIONS: readonly Activation[] = ['sigmoid', 'relu', 'tanh', 'softmax', 'identity'];

export function checkActivation(where: string, name: unknown): Activation {
  if (!ACTIVATIONS.includes(name as Activation)) {
    throw new ValueError(where, `unknown activation '${String(name)}': choose one of ${ACTIVATIONS.join(', ')}`);
  }
  return name as Activation;
}

/**
 * f(Z) for a layer's pre-activations Z ∈ R^{units × examples}. Softmax normalises each
 * column (axis 0): examples are columns, so one column is one example's output units.
 */
export function activate(name: Activation, z: Tensor): Tensor {
  switch (name) {
    case 'sigmoid': return sigmoid(z);
    case 'relu': return relu(z);
    case 'tanh': return tanh(z);
    case 'softmax': return softmax(z, 0);
    case 'identity': return z;
  }
}
