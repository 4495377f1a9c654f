/** @tapegrad/nn: dense networks, losses, initialisers, optimisers and training, built from core ops. */
export { type Activation, ACTIVATIONS, activate } from './activations.js';
export { type Initializer, INITIALIZERS, initWeights, type InitOptions } from './init.js';
export type { Module, NamedParameters, LayerTrace, ForwardTrace } from './module.js';
export { Dense, type DenseOptions } from './layers/dense.js';
export { Sequential, sequential, mlp, type MlpOptions, type TraceableLayer } from './sequential.js';
export {
  type LossName, LOSSES, binaryCrossEntropy, binaryCrossEntropyFromLogits, categoricalCrossEntropy,
  categoricalCrossEntropyFromLogits, meanSquaredError, l2Penalty, cost,
} from './losses.js';
export { manualBackprop, type ManualBackpropResult, type ManualLayerGradients, type ManualBackpropOptions } from './manual/backprop.js';
export { checkBackprop, formatBackpropTable, type BackpropCheckReport, type BackpropCheckRow, type BackpropCheckOptions } from './check.js';
