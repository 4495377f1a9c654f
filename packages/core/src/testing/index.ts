/**
 * @tapegrad/core/testing: gradient checking as a tool for your own CI, without fast-check:
 * gradcheck (the tape's gradient against central finite differences), backend conformance,
 * and the per-property seeds. The fast-check properties and arbitraries (checkGradients,
 * gradcheckProperty, `arb`) are in `@tapegrad/core/testing/properties`, which needs fast-check.
 * @module @tapegrad/core/testing
 */
export { gradcheck, GradcheckError, type GradcheckOptions, type GradcheckReport, type GradcheckMismatch } from './gradcheck.js';
export { propertySeed } from './seed.js';
export { checkBackends, type CheckBackendsOptions, type ConformanceReport, type ConformanceRow } from './backends.js';
