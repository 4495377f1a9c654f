/**
 * @tapegrad/core: tensors, differentiable ops and a reverse-mode tape.
 * This file only re-exports; every op lives, with its VJP, in src/ops/.
 *
 * @module @tapegrad/core
 */
import './chain.js';

export { Tensor, isTensor, type NestedArray } from './tensor.js';
export { type DType, type TypedArray } from './dtype.js';
export { type DeviceArray, type Storage, isDeviceArray, outputStorage } from './storage.js';
export { type Shape, broadcastShapes, stridesOf } from './shape.js';
export { TapegradError, ShapeError, DTypeError, ValueError, GradientError, DeviceTensorError } from './errors.js';
export {
  tensor, scalar, zeros, ones, full, eye, arange, rand, randn, zerosLike, onesLike,
  type TensorOptions, type RandomOptions,
} from './creation.js';
export { type Rng, createRng, mulberry32, shuffleInPlace } from './random.js';

export { add, sub, mul, div, neg } from './ops/arithmetic.js';
export {
  exp, log, sqrt, abs, pow, square, reciprocal, sigmoid, tanh, relu, log1p, expm1, erf, sin, cos, rsqrt,
} from './ops/math.js';
export { gelu, silu, elu, leakyRelu, type GeluOptions } from './ops/activations.js';
export { floor, ceil, round, sign } from './ops/rounding.js';
export { greater, greaterEqual, less, lessEqual, equal, step, isNaN, isFinite } from './ops/compare.js';
export { where, maximum, minimum, clip } from './ops/where.js';
export { sum, max, min, mean, argmax, argmin } from './ops/reduce.js';
export { cumsum, type CumsumOptions } from './ops/cumsum.js';
export { prod, variance, std, type VarianceOptions } from './ops/composite/statistics.js';
export { matmul, matmulT } from './ops/matmul.js';
export {
  conv2d, conv1d, convTranspose2d, unfold, fold,
  type Conv2dOptions, type Conv1dOptions, type ConvTranspose2dOptions, type UnfoldOptions, type FoldOptions, type Size2, type Padding2,
} from './ops/conv.js';
export { maxPool2d, avgPool2d, adaptiveAvgPool2d, type MaxPool2dOptions, type AvgPool2dOptions } from './ops/pool.js';
export {
  reshape, flatten, expandDims, squeeze, transpose, broadcastTo, unbroadcast, slice, padTo, concat, stack,
} from './ops/layout.js';
export { take, scatterAdd, type Indices } from './ops/indexing.js';
export {
  pad, tile, repeat, flip, split, chunk, diagonal, type Pads, type PadOptions,
} from './ops/composite/layout.js';
export { cast } from './ops/cast.js';
export { oneHot, type OneHotOptions } from './ops/one-hot.js';
export { dropout, type DropoutOptions } from './ops/dropout.js';
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
export { renderGraph, COMPACT_ABOVE, type RenderGraphOptions } from './graph-render.js';
export { noGrad, isGradEnabled } from './recording.js';
export { detectAnomalies, setDetectAnomalies, isDetectingAnomalies, AnomalyError, type AnomalyDetails } from './anomaly.js';
export { StepReplay, type StepTrace, recordStep, type StepBody, type StepRecorder, type StepReplayState } from './step-replay.js';
export { tidy, keep, outsideTidy, memoryStats, resetMemoryStats, emptyPool, ReleasedTensorError, type MemoryStats } from './memory.js';
export { customGrad, type CustomGradSpec } from './custom-grad.js';
export { defineOp, apply, type OpDef, type VjpContext, type VjpResult } from './op.js';

export {
  type Backend, type CpuBackend, type DeviceMemory, type UnaryKernel, type BinaryKernel, type ReduceKernel, type ArgReduceKernel, type ConvGeometry,
  type RegisterBackendOptions, JS_BACKEND_PRIORITY,
  jsBackend, matmulEachBatch, getBackend, setBackend, registerBackend, listBackends,
  type BackendKernels, type FallbackCount, type FallbackReport, type JsFallbacks, countJsFallbacks,
} from './backend/index.js';
export { type ColumnSampler, type RowSampler, columnSampler, rowSampler } from './columns.js';
export { OperandMode, type OperandLayout, operandLayout, type BinaryLayout, binaryLayout, adjacentReduction } from './backend/operands.js';
