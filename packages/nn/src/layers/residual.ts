import { type Tensor, ShapeError, add } from '@tapegrad/core';
import { type Module, type NamedParameters, setTrainingMode } from '../module.js';

/**
 * A residual connection, x + body(x) (He et al.'s ResNet, the transformer's sublayers): the
 * body's output must have x's shape. Transparent to naming: its parameters and buffers are the
 * body's, under the body's own names (a Sequential body gives `0.W`, …), and train()/eval()
 * reach the body.
 */
export class Residual implements Module {
  readonly body: Module;
  training = true;

  constructor(body: Module) {
    this.body = body;
  }

  train(mode = true): this {
    this.training = mode;
    setTrainingMode(this.body, mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  parameters(): NamedParameters {
    return this.body.parameters();
  }

  buffers(): NamedParameters {
    return typeof this.body.buffers === 'function' ? this.body.buffers() : {};
  }

  forward(x: Tensor): Tensor {
    const y = this.body.forward(x);
    if (y.rank !== x.rank || y.shape.some((s, i) => s !== x.shape[i])) {
      throw new ShapeError('Residual', `the body maps [${x.shape.join(',')}] to [${y.shape.join(',')}]; x + body(x) needs the same shape`);
    }
    return add(x, y);
  }
}

/** x + body(x) as a layer: `residual(sequential(conv, bn, relu…))`. */
export function residual(body: Module): Residual {
  return new Residual(body);
}
