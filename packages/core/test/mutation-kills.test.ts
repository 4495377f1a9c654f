/**
 * Tests written for mutants that survived a StrykerJS run (scripts/mutation.sh): each pins
 * down a behaviour the suite did not check, named after the mutant it kills.
 */
import { describe, expect, it } from 'vitest';
import { DTypeError, type Tensor, ValueError, add, customGrad, grad, mul, pow, sub, sum, tensor } from '@tapegrad/core';
import { gradcheck } from '@tapegrad/core/testing';

const f64 = (data: number[]) => tensor(data, { dtype: 'float64' });

describe('ops/math.ts: pow', () => {
  it('x⁰ has derivative 0 everywhere, at x = 0 too (not 0·x⁻¹ = NaN)', () => {
    // kills `exponent === 0 ? … : …` → the general branch, p·xᵖ⁻¹ = 0·0⁻¹ = NaN at 0
    const g = grad((x: Tensor) => sum(pow(x, 0)))(f64([0, -2, 3]));
    expect(Array.from(g.data)).toEqual([0, 0, 0]);
    const second = grad((x: Tensor) => sum(grad((y: Tensor) => sum(pow(y, 0)))(x)))(f64([0, 1]));
    expect(Array.from(second.data)).toEqual([0, 0]);
  });

  it('refuses an exponent that is NaN or not a number, naming it', () => {
    // kills the removal or weakening of the exponent check (NaN would give NaN silently)
    const x = f64([1, 2]);
    expect(() => pow(x, NaN)).toThrow(new ValueError('pow', 'the exponent must be a number, got NaN'));
    expect(() => pow(x, '2' as never)).toThrow(new ValueError('pow', 'the exponent must be a number, got 2'));
    expect(() => pow(x, undefined as never)).toThrow(new ValueError('pow', 'the exponent must be a number, got undefined'));
  });
});

/**
 * gradcheck's bookkeeping, for the mutants of testing/gradcheck.ts that survived: which
 * element it reports, its messages, its tolerances, its input checks.
 */
describe('testing/gradcheck.ts', () => {
  const c = f64([1, -2, 3, 0.5, 4, -1]).reshape([2, 3]);
  /** Σ c·x with a VJP that returns c·dy plus `error` (a [2,3] array) as the gradient. */
  const linearWithError = (error: number[]) => customGrad({
    name: 'linearWithError',
    forward: (x: Tensor) => mul(x, c),
    vjp: (dy) => [add(mul(dy, c), mul(dy, f64(error).reshape([2, 3])))],
  });
  const at = (values: number[]) => f64(values).reshape([2, 3]);

  it('names the worst element by its multi-index, the worst relative to the tolerance, the first of equals', () => {
    // element [1,1] is off by 1e-2 where the gradient is 4, element [1,0] by 2e-3 where it is 0.5:
    // relative to the tolerance (1e-5 + 1e-3·|g|) [1,0] is worse (3.9 against 2.5); wrong at [1,1] only → [1,1]
    const r1 = gradcheck((x) => sum(linearWithError([0, 0, 0, 2e-3, 1e-2, 0])(x)), [at([1, 2, 3, 4, 5, 6])], { raise: false });
    expect(r1.ok).toBe(false);
    expect(r1.worst!.index).toEqual([1, 0]);
    const r2 = gradcheck((x) => sum(linearWithError([0, 0, 0, 0, 0.5, 0])(x)), [at([1, 2, 3, 4, 5, 6])], { raise: false });
    expect(r2.worst!.index).toEqual([1, 1]);
    // an exact linear check (a step of 0.5 is exact in binary): every error is 0, the first element is the worst
    const linear = (x: Tensor) => sum(mul(x, c));
    const zeroTolerance = gradcheck(linear, [at([0, 0, 0, 0, 0, 0])], { eps: 0.5, atol: 0, rtol: 0 });
    expect(zeroTolerance.ok).toBe(true); // error 0 ≤ tolerance 0
    expect(zeroTolerance.message).toBe('ok: 6 derivatives agree'); // 0/0: no element scored
    const exact = gradcheck(linear, [at([0, 0, 0, 0, 0, 0])], { eps: 0.5, atol: 1e-300, rtol: 0 });
    expect(exact.worst!.index).toEqual([0, 0]);
    expect(exact.message).toBe('ok: 6 derivatives agree (worst: input 0 at [0,0], abs error 0.00e+0)');
  });

  it('scales the tolerance with the value: 0.05% off passes (rtol 1e-3), 0.5% off fails', () => {
    const big = at([1, 1, 1, 1, 1, 1]);
    const scaled = (relative: number) => customGrad({
      name: 'scaled', forward: (x: Tensor) => mul(x, 100), vjp: (dy) => [mul(dy, 100 * (1 + relative))],
    });
    expect(gradcheck((x) => sum(scaled(5e-4)(x)), [big], { raise: false }).ok).toBe(true);
    expect(gradcheck((x) => sum(scaled(5e-3)(x)), [big], { raise: false }).ok).toBe(false);
  });

  it('spells out a first-order mismatch: which derivative, input, shape, index, both values and the tolerances', () => {
    const report = gradcheck((x) => sum(linearWithError([0, 0, 0, 0, 0, 0.25])(x)), [at([1, 2, 3, 4, 5, 6])], { raise: false });
    expect(report.message).toMatch(
      /^gradient mismatch for input 0 \[2,3\] at \[1,2\]: analytic -0\.75 vs numeric -1\.0*\d* \(abs error 2\.50\de-1, rel error 2\.50\de-1; atol 0\.00001, rtol 0\.001\)$/,
    );
  });

  it('checks the backward pass at ten times the first-order tolerances', () => {
    // f = Σ x³/3 with a VJP whose value is right (dy·x²) but whose own derivative is (1+δ)·2x·dy
    const x0 = f64([1.5, -2, 2.5]);
    const secondOrderOff = (delta: number) => customGrad({
      name: 'cubeThird',
      forward: (x: Tensor) => mul(mul(mul(x, x), x), 1 / 3),
      vjp: (dy, { inputs: [x] }) => {
        const frozen = tensor(Array.from(x.data, (v) => v * v), { dtype: 'float64' });
        return [mul(dy, add(mul(x, x), mul(sub(mul(x, x), frozen), delta)))];
      },
    });
    // 0.3% off: within 10·rtol (1e-2), not within rtol (1e-3)
    const within = gradcheck((x) => sum(secondOrderOff(3e-3)(x)), [x0], { order: 2, raise: false });
    expect(within.ok).toBe(true);
    const beyond = gradcheck((x) => sum(secondOrderOff(3e-2)(x)), [x0], { order: 2, raise: false });
    expect(beyond.ok).toBe(false);
    expect(beyond.message).toMatch(/^second derivative \(Hessian-vector product\) mismatch for input 0 \[3\] at \[\d\]: /);
    expect(beyond.message).toMatch(/; atol 0\.0001, rtol 0\.01\)$/);
    // an absolute error of 5e-5 where the second derivative is 0 (at x = 0): within 10·atol
    const additive = customGrad({
      name: 'additive',
      forward: (x: Tensor) => mul(mul(mul(x, x), x), 1 / 3),
      vjp: (dy, { inputs: [x] }) => [mul(dy, add(mul(x, x), mul(sub(x, tensor(Array.from(x.data), { dtype: 'float64' })), 5e-5)))],
    });
    expect(gradcheck((x) => sum(additive(x)), [f64([0])], { order: 2, raise: false }).ok).toBe(true);
    expect(gradcheck((x) => sum(additive(x)), [f64([0])], { order: 2, atol: 1e-7, raise: false }).ok).toBe(false);
  });

  it('reports the first input whose VJP ignores a zero output gradient', () => {
    const leaky = customGrad({
      name: 'leaky',
      forward: (a: Tensor, b: Tensor) => add(a, b),
      vjp: (dy) => [add(dy, 1e-3), add(dy, 2e-3)],
    });
    const report = gradcheck((a, b) => sum(leaky(a, b)), [f64([1, 2]), f64([3, 4])], { raise: false });
    expect(report.zeroCotangentViolation).toBe('a zero output gradient gave a non-zero gradient for input 0 [2] at [0] (0.001)');
  });

  it('refuses bad inputs and bad outputs by name', () => {
    const x = f64([1, 2]);
    expect(() => gradcheck((t) => t, [])).toThrow(new ValueError('gradcheck', 'needs a non-empty array of input tensors'));
    expect(() => gradcheck((t) => t, 'x' as never)).toThrow(new ValueError('gradcheck', 'needs a non-empty array of input tensors'));
    expect(() => gradcheck((t) => t, [3 as never])).toThrow(new ValueError('gradcheck', 'input 0 is number, not a Tensor'));
    expect(() => gradcheck(() => 3 as never, [x])).toThrow(new ValueError('gradcheck', 'f must return a Tensor, got number'));
    expect(() => gradcheck(() => tensor([1]), [x])).toThrow(new DTypeError('gradcheck', 'f returned float32; keep the computation in float64'));
  });
});
