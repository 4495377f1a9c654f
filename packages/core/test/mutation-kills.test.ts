/**
 * Tests written for mutants that survived a StrykerJS run (scripts/mutation.sh): each pins
 * down a behaviour the suite did not check, named after the mutant it kills.
 */
import { describe, expect, it } from 'vitest';
import { ValueError, grad, pow, sum, tensor } from '@tapegrad/core';

const f64 = (data: number[]) => tensor(data, { dtype: 'float64' });

describe('ops/math.ts: pow', () => {
  it('x⁰ has derivative 0 everywhere, at x = 0 too (not 0·x⁻¹ = NaN)', () => {
    // kills `exponent === 0 ? … : …` → the general branch, p·xᵖ⁻¹ = 0·0⁻¹ = NaN at 0
    const g = grad((x) => sum(pow(x, 0)))(f64([0, -2, 3]));
    expect(Array.from(g.data)).toEqual([0, 0, 0]);
    const second = grad((x) => sum(grad((y) => sum(pow(y, 0)))(x)))(f64([0, 1]));
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
