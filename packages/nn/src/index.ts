/**
 * @tapegrad/nn: dense, convolutional, normalisation and attention layers, losses, initialisers,
 * optimisers and training, built from core ops. This is the universal entry (what a browser
 * bundle gets); Node's `@tapegrad/nn` is `@tapegrad/nn/node`, which adds the file helpers.
 * @module @tapegrad/nn
 */
export { type Activation, ACTIVATIONS, activate } from './activations.js';
export { type Initializer, INITIALIZERS, initWeights, initTensor, fans, type InitOptions } from './init.js';
export { type Module, type NamedParameters, type LayerTrace, type ForwardTrace, setTrainingMode, modelState } from './module.js';
export { Dense, type DenseOptions, LazyLayerTrace } from './layers/dense.js';
export { Conv2d, type Conv2dLayerOptions } from './layers/conv.js';
export { MaxPool2d, AvgPool2d, type Pool2dLayerOptions } from './layers/pool.js';
export { Flatten } from './layers/flatten.js';
export { Dropout, type DropoutLayerOptions } from './layers/dropout.js';
export { BatchNorm1d, BatchNorm2d, LayerNorm, type BatchNormOptions, type LayerNormOptions } from './layers/normalization.js';
export { Embedding, type EmbeddingOptions } from './layers/embedding.js';
export { MultiHeadAttention, type MultiHeadAttentionOptions } from './layers/attention.js';
export { Residual, residual } from './layers/residual.js';
export { ReLU, GELU, Tanh, Sigmoid } from './layers/activation.js';
export { Linear, type LinearOptions } from './layers/linear.js';
export { Sequential, sequential, mlp, type MlpOptions, type TraceableLayer, type SummaryRow } from './sequential.js';
export {
  type LossName, LOSSES, binaryCrossEntropy, binaryCrossEntropyFromLogits, categoricalCrossEntropy,
  categoricalCrossEntropyFromLogits, meanSquaredError, l2Penalty, cost,
} from './losses.js';
export { manualBackprop } from './manual/index.js';
export { type ManualBackpropResult, type ManualLayerGradients, type ManualBackpropOptions } from './manual/backprop.js';
export {
  UnsupportedLayerError, type ManualStage, type ManualStageKind, type ManualDenseStage, type ManualConvStage, type ManualPassStage,
} from './manual/cnn.js';
export { perExampleGradients, type PerExampleLoss, type PerExampleOptions } from './per-example.js';
export { checkBackprop, formatBackpropTable, type BackpropCheckReport, type BackpropCheckRow, type BackpropCheckOptions } from './check.js';
export type { Optimizer, Objective } from './optim/optimizer.js';
export { SGD, type SGDOptions } from './optim/sgd.js';
export { Momentum, type MomentumOptions } from './optim/momentum.js';
export { Adam, type AdamOptions } from './optim/adam.js';
export { RProp, type RPropOptions } from './optim/rprop.js';
export { LBFGS, type LBFGSOptions, type LineSearch, LINE_SEARCHES } from './optim/lbfgs.js';
export { NewtonCG, type NewtonCGOptions } from './optim/newton-cg.js';
export { optimizer, OPTIMIZERS, type OptimizerName, type OptimizerOptionsByName } from './optim/factory.js';
export {
  serializeParameters, deserializeParameters, restoreParameters, serializeModel, deserializeModel, nonFiniteParameters, type SaveOptions, type LoadOptions,
  type SafetensorsMetadata, type DeserializeOptions, type DeserializedParameters,
} from './serialize.js';
export {
  accuracy, precisionRecallF1, confusionMatrix, METRICS,
  type MetricFn, type MetricName, type ThresholdOptions, type PrecisionRecallOptions, type PrecisionRecallF1,
} from './metrics.js';
export {
  fit, evaluate, predict, fitAsync, evaluateAsync, predictAsync, formatEpochLog, NonFiniteError,
  type Examples, type LossFn, type MetricsSpec, type EpochLog, type EvaluationLog, type History,
  type FitOptions, type BatchProgress, type EvaluateOptions, type EvaluateResult, type PredictOptions, type ExampleLayout,
} from './train.js';
