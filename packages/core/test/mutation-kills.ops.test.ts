/**
 * Tests written for the mutants of core/src/ops/** that survived a StrykerJS run
 * (scripts/mutation.sh; docs/mutation.md): each pins down a behaviour the suite did not check.
 */
import { describe, expect, it } from 'vitest';
import { ShapeError, ValueError, add, argmax, argmin, broadcastTo, div, mean, mul, sub, tensor, zeros } from '@tapegrad/core';

const f64 = (data: number[]) => tensor(data, { dtype: 'float64' });

describe('ops/arithmetic.ts', () => {
  it('a non-numeric operand is a ValueError naming the op it was given to', () => {
    const x = f64([1, 2]);
    const ops = { add, sub, mul, div };
    for (const [name, op] of Object.entries(ops)) {
      expect(() => op(x, 'a' as never), name).toThrow(new ValueError(name, 'expected a Tensor or a number, got string'));
      expect(() => op(null as never, x), name).toThrow(new ValueError(name, 'expected a Tensor or a number, got null'));
    }
  });
});

describe('ops/layout.ts: broadcastTo', () => {
  it('refuses a target the operand cannot stretch to, naming both shapes', () => {
    expect(() => broadcastTo(f64([1, 2, 3]), [2])).toThrow(new ShapeError('broadcastTo', 'shapes [3] and [2] cannot be broadcast together (axis -1: 3 vs 2)'));
    // compatible under broadcasting, but the result would be [2,3], not the asked-for [3]
    expect(() => broadcastTo(f64([1, 2, 3, 4, 5, 6]).reshape([2, 3]), [3])).toThrow(new ShapeError('broadcastTo', 'cannot broadcast [2,3] to [3]'));
    expect(() => broadcastTo(f64([1, 2, 3]).reshape([1, 3]), [3])).toThrow(new ShapeError('broadcastTo', 'cannot broadcast [1,3] to [3]'));
  });
});

describe('ops/reduce.ts: empty axes', () => {
  it('mean, argmax and argmin over a zero-length axis are ShapeErrors naming the op, axis and shape', () => {
    const empty = zeros([2, 0], { dtype: 'float64' });
    expect(() => mean(empty, 1)).toThrow(new ShapeError('mean', 'cannot average over an empty axis of [2,0]'));
    expect(() => argmax(empty, 1)).toThrow(new ShapeError('argmax', 'cannot take the argmax over axis 1 of length 0 in [2,0]'));
    expect(() => argmin(empty, -1)).toThrow(new ShapeError('argmin', 'cannot take the argmin over axis 1 of length 0 in [2,0]'));
    // over the other axis there is nothing to refuse: a [0]-shaped sum-like result
    expect(mean(empty, 0).shape).toEqual([0]);
  });
});
