import { type Tensor, gelu, relu, sigmoid, tanh } from '@tapegrad/core';
import type { Module, NamedParameters } from '../module.js';

/** relu(x) element-wise as a layer (after a Conv2d or BatchNorm; Dense takes an activation option instead). Any layout, no parameters. */
export class ReLU implements Module {
  parameters(): NamedParameters {
    return {};
  }

  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

/** Exact (erf) GELU element-wise as a layer, the transformer MLP's activation. Any layout, no parameters. */
export class GELU implements Module {
  parameters(): NamedParameters {
    return {};
  }

  forward(x: Tensor): Tensor {
    return gelu(x);
  }
}

/** tanh(x) element-wise as a layer. Any layout, no parameters. */
export class Tanh implements Module {
  parameters(): NamedParameters {
    return {};
  }

  forward(x: Tensor): Tensor {
    return tanh(x);
  }
}

/** σ(x) = 1/(1 + e⁻ˣ) element-wise as a layer. Any layout, no parameters. */
export class Sigmoid implements Module {
  parameters(): NamedParameters {
    return {};
  }

  forward(x: Tensor): Tensor {
    return sigmoid(x);
  }
}
