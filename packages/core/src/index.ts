/**
 * @tapegrad/core: tensors, differentiable ops and a reverse-mode tape.
 * This file only re-exports; every op lives, with its VJP, in src/ops/.
 */
import './chain.js';

export { Tensor, isTensor, type NestedArray } from './tensor.js';
export { type DType, type TypedArray } from './dtype.js';
export { type Shape, broadcastShapes } from './shape.js';
export { TapegradError, ShapeError, DTypeError, ValueError, GradientError } from './errors.js';
export {
  tensor, scalar, zeros, ones, full, eye, arange, rand, randn, zerosLike, onesLike,
  type TensorOptions, type RandomOptions,
} from './creation.js';
export { type Rng, createRng, mulberry32, shuffleInPlace } from './random.js';

export { add, sub, mul, div, neg } from './ops/arithmetic.js';
export { exp, log, sqrt, abs, pow, square, reciprocal, sigmoid, tanh, relu } from './ops/math.js';
export { greater, greaterEqual, less, lessEqual, equal, sign, step } from './ops/compare.js';
export { where, maximum, minimum, clip } from './ops/where.js';
export { sum, max, mean } from './ops/reduce.js';
export { matmul, matmulT } from './ops/matmul.js';
export {
  reshape, flatten, expandDims, squeeze, transpose, broadcastTo, unbroadcast, slice, padTo, concat, stack,
} from './ops/layout.js';
export { cast } from './ops/cast.js';
export { oneHot, type OneHotOptions } from './ops/one-hot.js';
export { softmax, logSoftmax, logSumExp } from './ops/composite/softmax.js';
export { softplus, logSigmoid } from './ops/composite/softplus.js';
export { stopGradient } from './ops/composite/stop-gradient.js';
export { einsum } from './ops/composite/einsum.js';
export { type TensorLike } from './ops/lift.js';

export { Tape, type TapeOptions, grad, valueAndGrad, vjp, hvp, backward, type GradOptions, type BackwardOptions } from './tape.js';
export { jvp, linearize, jacobian, hessian, type JacobianOptions } from './forward-mode.js';
export {
  toDot, toMermaid, graphModel, tensorStats, type GraphOptions, type GraphNames, type GraphFold, type GraphModel,
  type GraphVertex, type GraphEdge, type TensorStats,
} from './graph.js';
export { renderGraph, type RenderGraphOptions } from './graph-render.js';
export { noGrad, isGradEnabled } from './recording.js';
export { detectAnomalies, setDetectAnomalies, isDetectingAnomalies, AnomalyError, type AnomalyDetails } from './anomaly.js';
export { tidy, keep, memoryStats, resetMemoryStats, emptyPool, ReleasedTensorError, type MemoryStats } from './memory.js';
export { customGrad, type CustomGradSpec } from './custom-grad.js';
export { defineOp, apply, type OpDef, type VjpContext, type VjpResult } from './op.js';

export {
  type Backend, type UnaryKernel, type BinaryKernel, type ReduceKernel,
  type RegisterBackendOptions, JS_BACKEND_PRIORITY,
  jsBackend, matmulEachBatch, getBackend, setBackend, registerBackend, listBackends,
} from './backend/index.js';
export { type ColumnSampler, columnSampler } from './columns.js';
export { OperandMode, type OperandLayout, operandLayout, type BinaryLayout, binaryLayout, adjacentReduction } from './backend/operands.js';
