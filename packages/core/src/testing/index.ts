/**
 * @tapegrad/core/testing: gradient checking as a tool for your own CI. Needs fast-check
 * (a peer dependency) for the arbitraries and properties; gradcheck itself does not.
 */
export { gradcheck, GradcheckError, type GradcheckOptions, type GradcheckReport, type GradcheckMismatch } from './gradcheck.js';
export { gradcheckProperty, checkGradients, propertySeed } from './property.js';
export * as arb from './arbitraries.js';
export {
  shape, broadcastablePair, tensor as tensorArbitrary, tensorOf, broadcastableTensors, matmulPair,
  operandPatterns, applyPattern, everyBroadcastPair, patternedPair, zeroLengthPair, incompatiblePair,
  type OperandPattern, type ShapeConstraints, type TensorConstraints,
} from './arbitraries.js';
