/**
 * Gradient checking with @tapegrad/core/testing: the seed's "Why Backpropagation?" finite
 * differences, turned into a tool. Run: pnpm exec tsx examples/gradient-check/main.ts
 *
 * 1. gradcheck on a function of several inputs (the tape vs central differences).
 * 2. a property test of a user-defined op (customGrad) over random shapes and values.
 * 3. the same property on a deliberately wrong VJP: fast-check shrinks the failure to the
 *    smallest input and gradcheck names the element that disagrees.
 */
import { add, customGrad, exp, log, matmul, mul, sigmoid, sum, tensor } from '@tapegrad/core';
import { arb, checkGradients, gradcheck } from '@tapegrad/core/testing/properties';
import fc from 'fast-check';

// 1. C = sum(σ(W·X + b)) in float64
const w = tensor([[0.2, -0.4, 0.1], [0.5, 0.3, -0.2]], { dtype: 'float64' });
const x = tensor([[1, 0.5], [-1, 2], [0.3, -0.7]], { dtype: 'float64' });
const b = tensor([[0.1], [-0.1]], { dtype: 'float64' });
const report = gradcheck((w, x, b) => sum(sigmoid(add(matmul(w, x), b))), [w, x, b], { order: 2 });
console.log(`gradcheck dense layer: ${report.message}`);

// 2. softplus with a hand-written VJP, property-tested in three lines
const softplus = customGrad({
  name: 'softplus',
  forward: (x) => log(add(1, exp(x))),
  vjp: (dy, { inputs: [x] }) => [mul(dy, sigmoid(x))],
});
checkGradients(softplus, [arb.tensor({ min: -5, max: 5 })], { numRuns: 50 });
console.log('softplus: 50 random shapes and values agree with finite differences');

// 3. a wrong VJP (forgets the factor 2 of d(2x)/dx): the failure explains itself
const double = customGrad({ name: 'double', forward: (x) => mul(x, 2), vjp: (dy) => [dy] });
const result = fc.check(
  fc.property(arb.tensor(), (t) => {
    gradcheck(double, [t]);
  }),
  { seed: 7, numRuns: 50 },
);
if (!result.failed) throw new Error('the wrong VJP was not caught');
console.log(`wrong VJP caught; smallest counterexample: ${fc.stringify(result.counterexample)}`);
console.log(`  ${String((result.errorInstance as Error).message)}`);
