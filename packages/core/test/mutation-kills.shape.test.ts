/**
 * Tests written for the mutants of core/src/shape.ts that survived a StrykerJS run against
 * core's unit tests (docs/mutation.md).
 */
import { describe, expect, it } from 'vitest';
import { ShapeError, ValueError, cumsum, mean, sum, tensor, zeros } from '@tapegrad/core';

describe('shape.ts', () => {
  it('a shape that is not an array is a ValueError naming the op and the value', () => {
    expect(() => zeros(3 as never)).toThrow(new ValueError('zeros', 'shape must be an array of integers, got 3'));
  });

  it('a scalar reduces over axis 0, itself', () => {
    const s = tensor(5, { dtype: 'float64' });
    expect(sum(s, 0).toFlatArray()).toEqual([5]);
    expect(mean(s, [0]).shape).toEqual([]);
  });

  it('one axis: −rank is the first axis; below it, or fractional, is refused', () => {
    const x = tensor([1, 2, 3, 4], { shape: [2, 2], dtype: 'float64' });
    expect(cumsum(x, -2).toFlatArray()).toEqual([1, 2, 4, 6]);
    expect(() => cumsum(x, -3)).toThrow(new ShapeError('cumsum', 'axis -3 is out of range for a tensor of rank 2'));
    expect(() => cumsum(x, 0.5)).toThrow(new ShapeError('cumsum', 'axis 0.5 is out of range for a tensor of rank 2'));
  });
});
