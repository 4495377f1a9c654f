import { noGrad } from '../../recording.js';
import { Tensor } from '../../tensor.js';

/**
 * The value of x as a constant: nothing flows back through it. Inside a recording this is
 * how a composite op says "this term is not a function of the inputs" (softmax's shift).
 */
export function stopGradient(x: Tensor): Tensor {
  return noGrad(() => x.detach());
}
