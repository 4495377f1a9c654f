/**
 * @tapegrad/core/testing/properties: everything in `@tapegrad/core/testing`, plus gradient
 * checks as fast-check properties (checkGradients, gradcheckProperty) and the tensor and
 * shape arbitraries they draw from. Needs fast-check (an optional peer dependency of core).
 * @module @tapegrad/core/testing/properties
 */
export * from './index.js';
export { gradcheckProperty, checkGradients } from './property.js';
/** fast-check arbitraries for tensors, shapes and broadcastable pairs; a failing case shrinks to the smallest shape and simplest values. */
export * as arb from './arbitraries.js';
export {
  shape, broadcastablePair, tensor as tensorArbitrary, tensorOf, broadcastableTensors, matmulPair,
  operandPatterns, applyPattern, everyBroadcastPair, patternedPair, zeroLengthPair, incompatiblePair,
  type OperandPattern, type ShapeConstraints, type TensorConstraints,
} from './arbitraries.js';
