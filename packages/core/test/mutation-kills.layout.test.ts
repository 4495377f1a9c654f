/**
 * Tests written for the mutants of core/src/ops/layout.ts (reshape, expandDims, squeeze,
 * transpose, slice, padTo, concat, stack) that survived a StrykerJS run (docs/mutation.md).
 */
import { describe, expect, it } from 'vitest';
import {
  ShapeError, ValueError, concat, expandDims, padTo, reshape, slice, squeeze, stack, tensor, transpose,
} from '@tapegrad/core';

const z = (...shape: number[]) => tensor(new Float64Array(shape.reduce((a, b) => a * b, 1)), { shape, dtype: 'float64' });

describe('ops/layout.ts', () => {
  it('expandDims, squeeze and transpose name themselves for a bad input or axis', () => {
    expect(() => expandDims(null as never, 0)).toThrow(new ValueError('expandDims', 'input 0 is null, not a Tensor'));
    expect(() => expandDims(z(2), 3)).toThrow(new ShapeError('expandDims', 'axis 3 is out of range for a tensor of rank 2'));
    expect(() => squeeze(null as never)).toThrow(new ValueError('squeeze', 'input 0 is null, not a Tensor'));
    expect(() => squeeze(z(1, 3), 5)).toThrow(new ShapeError('squeeze', 'axis 5 is out of range for a tensor of rank 2'));
    expect(() => transpose(null as never)).toThrow(new ValueError('transpose', 'input 0 is null, not a Tensor'));
    expect(() => transpose(z(2, 3), [0, 5])).toThrow(new ShapeError('transpose', 'axis 5 is out of range for a tensor of rank 2'));
  });

  it('reshape names itself for a target shape with a negative or fractional dimension', () => {
    expect(() => reshape(z(6), [2, -3])).toThrow(new ValueError('reshape', 'invalid shape [2,-3]: dimensions must be non-negative integers'));
    expect(() => reshape(z(6), [4, 1.5])).toThrow(new ValueError('reshape', 'invalid shape [4,1.5]: dimensions must be non-negative integers'));
  });

  it('squeeze of one axis, given as a number or a list, removes that axis only', () => {
    const x = tensor([1, 2, 3], { shape: [1, 3, 1], dtype: 'float64' });
    expect(squeeze(x, 0).shape).toEqual([3, 1]);
    expect(squeeze(x, -1).shape).toEqual([1, 3]);
    expect(squeeze(x, [0]).shape).toEqual([3, 1]);
  });

  it('transpose refuses a perm that repeats an axis or misses one', () => {
    expect(() => transpose(z(2, 3), [0, 0])).toThrow(new ShapeError('transpose', 'perm [0,0] is not a permutation of the 2 axes of [2,3]'));
    expect(() => transpose(z(2, 3), [0])).toThrow(new ShapeError('transpose', 'perm [0] is not a permutation of the 2 axes of [2,3]'));
    // as many distinct axes as the rank, but one too many entries
    expect(() => transpose(z(2, 3), [0, 1, 1])).toThrow(new ShapeError('transpose', 'perm [0,1,1] is not a permutation of the 2 axes of [2,3]'));
  });

  it('slice says which of begin and size has the wrong length, and which axis is out of bounds', () => {
    expect(() => slice(z(2, 3), [0])).toThrow(new ShapeError('slice', 'begin [0] must have one entry per axis of [2,3]'));
    expect(() => slice(z(2, 3), [0, 0], [1])).toThrow(new ShapeError('slice', 'begin [0,0] and size [1] must have one entry per axis of [2,3]'));
    expect(() => slice(z(2, 3), [0, 0], [1, 1, 1])).toThrow(new ShapeError('slice', 'begin [0,0] and size [1,1,1] must have one entry per axis of [2,3]'));
    expect(() => slice(z(2, 3), [0, 0], [3, 1])).toThrow(new ShapeError('slice', 'begin [0,0] size [3,1] is out of bounds for [2,3] (axis 0)'));
    expect(() => slice(z(2, 3), [0, 4])).toThrow(new ShapeError('slice', 'begin [0,4] size [] is out of bounds for [2,3] (axis 1)'));
  });

  it('slice refuses fractional, negative (after wrapping) and overlong boxes, and allows an empty one', () => {
    const x = tensor([1, 2, 3, 4, 5, 6], { shape: [2, 3], dtype: 'float64' });
    const outside = (begin: number[], size: number[] | undefined, axis: number) =>
      new ShapeError('slice', `begin [${begin}] size [${size ?? []}] is out of bounds for [2,3] (axis ${axis})`);
    expect(() => slice(x, [0.5, 0])).toThrow(outside([0.5, 0], undefined, 0));
    expect(() => slice(x, [0.5, 0], [1, 3])).toThrow(outside([0.5, 0], [1, 3], 0));
    expect(() => slice(x, [0, 0], [1, 1.5])).toThrow(outside([0, 0], [1, 1.5], 1));
    expect(() => slice(x, [-3, 0])).toThrow(outside([-3, 0], undefined, 0));
    expect(() => slice(x, [0, 0], [-2, 1])).toThrow(outside([0, 0], [-2, 1], 0));
    expect(slice(x, [0, 0], [0, 3]).shape).toEqual([0, 3]);
    expect(slice(x, [-1, 1], [1, -1]).toFlatArray()).toEqual([5, 6]);
  });

  it('padTo places x at an integer offset inside the shape, or refuses it: outside, NaN, fractional, too many entries', () => {
    const x = tensor([1, 2], { dtype: 'float64' });
    expect(padTo(x, [1], [3]).toFlatArray()).toEqual([0, 1, 2]);
    expect(() => padTo(x, [-1], [3])).toThrow(new ShapeError('pad', 'cannot place [2] at [-1] inside [3]'));
    expect(() => padTo(x, [2], [3])).toThrow(new ShapeError('pad', 'cannot place [2] at [2] inside [3]'));
    expect(() => padTo(x, [NaN], [3])).toThrow(new ShapeError('pad', 'cannot place [2] at [NaN] inside [3]'));
    expect(() => padTo(x, [0.5], [3])).toThrow(new ShapeError('pad', 'cannot place [2] at [0.5] inside [3]'));
    expect(() => padTo(x, [0, 0], [3])).toThrow(new ShapeError('pad', 'cannot place [2] at [0,0] inside [3]'));
    expect(() => padTo(x, [0], [3, 1])).toThrow(new ShapeError('pad', 'cannot place [2] at [0] inside [3,1]'));
    // one axis inside, the other not
    expect(() => padTo(z(2, 2), [0, -1], [3, 3])).toThrow(new ShapeError('pad', 'cannot place [2,2] at [0,-1] inside [3,3]'));
    expect(() => padTo(z(2, 2), [2, 0], [3, 3])).toThrow(new ShapeError('pad', 'cannot place [2,2] at [2,0] inside [3,3]'));
    expect(() => padTo(x, [0], [-1])).toThrow(new ValueError('pad', 'invalid shape [-1]: dimensions must be non-negative integers'));
  });

  it('concat refuses scalars and stack an empty or non-array list, each naming itself', () => {
    expect(() => concat([z()])).toThrow(new ShapeError('concat', 'cannot concatenate scalars; reshape them to [1] first'));
    expect(() => stack([])).toThrow(new ValueError('stack', 'needs a non-empty array of tensors'));
    expect(() => stack('x' as never)).toThrow(new ValueError('stack', 'needs a non-empty array of tensors'));
    expect(() => stack([z(2)], 3)).toThrow(new ShapeError('stack', 'axis 3 is out of range for a tensor of rank 2'));
  });
});
