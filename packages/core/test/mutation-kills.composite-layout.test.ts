/**
 * Tests written for the mutants of core/src/ops/composite/layout.ts (pad, tile, repeat, flip,
 * split, chunk, diagonal) that survived a StrykerJS run or were reached by no test
 * (docs/mutation.md): the ops' names and messages for bad input, and pads on one side only.
 */
import { describe, expect, it } from 'vitest';
import {
  ShapeError, ValueError, chunk, diagonal, flip, pad, repeat, split, tensor, tile,
} from '@tapegrad/core';

const f64 = (values: number[], shape: number[]) => tensor(values, { shape, dtype: 'float64' });
const empty = (...shape: number[]) => tensor(new Float64Array(0), { shape, dtype: 'float64' });

describe('ops/composite/layout.ts', () => {
  it('each op names itself for an input that is not a tensor and for an axis out of range', () => {
    const x = f64([1, 2, 3, 4], [2, 2]);
    const notTensor = (op: string) => new ValueError(op, 'input 0 is null, not a Tensor');
    const outOfRange = (op: string) => new ShapeError(op, 'axis 5 is out of range for a tensor of rank 2');
    expect(() => pad(null as never, 1)).toThrow(notTensor('pad'));
    expect(() => tile(null as never, 2)).toThrow(notTensor('tile'));
    expect(() => repeat(null as never, 2)).toThrow(notTensor('repeat'));
    expect(() => repeat(x, 2, 5)).toThrow(outOfRange('repeat'));
    expect(() => flip(null as never)).toThrow(notTensor('flip'));
    expect(() => flip(x, 5)).toThrow(outOfRange('flip'));
    expect(() => split(null as never, 1)).toThrow(notTensor('split'));
    expect(() => split(x, 1, 5)).toThrow(outOfRange('split'));
    expect(() => chunk(null as never, 1)).toThrow(notTensor('chunk'));
    expect(() => chunk(x, 1, 5)).toThrow(outOfRange('chunk'));
    expect(() => diagonal(null as never)).toThrow(notTensor('diagonal'));
    expect(() => diagonal(x, 0, 5)).toThrow(outOfRange('diagonal'));
    expect(() => diagonal(x, 0, 0, 5)).toThrow(outOfRange('diagonal'));
  });

  it('pad on one side only, in every mode, and a fill of −0 that keeps its sign', () => {
    const x = f64([1, 2, 3], [3]);
    const before = { constant: [0, 0, 1, 2, 3], reflect: [3, 2, 1, 2, 3], replicate: [1, 1, 1, 2, 3] };
    const after = { constant: [1, 2, 3, 0, 0], reflect: [1, 2, 3, 2, 1], replicate: [1, 2, 3, 3, 3] };
    for (const mode of ['constant', 'reflect', 'replicate'] as const) {
      expect(pad(x, [[2, 0]], { mode }).toArray()).toEqual(before[mode]);
      expect(pad(x, [[0, 2]], { mode }).toArray()).toEqual(after[mode]);
    }
    const negativeZero = pad(x, [[1, 1]], { value: -0 }).toFlatArray();
    expect(Object.is(negativeZero[0], -0) && Object.is(negativeZero[4], -0)).toBe(true);
    expect(Object.is(pad(x, [[1, 0]]).toFlatArray()[0], 0)).toBe(true);
  });

  it('reflect and replicate skip an unpadded axis of length 0, and refuse to pad one', () => {
    // [0, 3]: axis 0 is not padded, so only axis 1's padding applies
    expect(pad(empty(0, 3), [[0, 0], [1, 1]], { mode: 'reflect' }).shape).toEqual([0, 5]);
    expect(pad(empty(0, 3), [[0, 0], [1, 2]], { mode: 'replicate' }).shape).toEqual([0, 6]);
    expect(() => pad(empty(0, 3), [[1, 0], [0, 0]], { mode: 'replicate' }))
      .toThrow(new ShapeError('pad', 'cannot replicate-pad axis 0 of length 0 in [0,3]'));
  });

  it("pad's errors: a fill that is not a number, an unknown mode, reflect as long as the axis after it, pads of the wrong type", () => {
    const x = f64([1, 2, 3, 4, 5, 6], [2, 3]);
    expect(() => pad(x, 1, { value: 'a' as never })).toThrow(new ValueError('pad', 'value must be a number, got string'));
    expect(() => pad(x, 1, { mode: 'wrap' as never })).toThrow(new ValueError('pad', "mode must be 'constant', 'reflect' or 'replicate', got wrap"));
    // also where there is nothing to pad
    expect(() => pad(x, 0, { mode: 'wrap' as never })).toThrow(new ValueError('pad', "mode must be 'constant', 'reflect' or 'replicate', got wrap"));
    expect(() => pad(x, [[0, 0]], { value: 'a' as never })).toThrow(new ValueError('pad', 'value must be a number, got string'));
    // in every mode, though only 'constant' reads it
    expect(() => pad(x, 1, { mode: 'reflect', value: 'a' as never })).toThrow(new ValueError('pad', 'value must be a number, got string'));
    expect(pad(x, 0, { mode: 'reflect' })).toBe(x);
    expect(() => pad(x, [[0, 3]], { mode: 'reflect' }))
      .toThrow(new ShapeError('pad', 'reflect padding [0, 3] of axis 1 must be smaller than its length 3 in [2,3]'));
    expect(() => pad(x, 'ab' as never)).toThrow(new ValueError('pad', 'pads must be a number or an array of [before, after] pairs, got string'));
    expect(() => pad(x, [[1, 2, 3]] as never)).toThrow(new ValueError('pad', 'pads must be pairs of non-negative integers [before, after], got [1,2,3] in [[1,2,3]]'));
    expect(() => pad(x, [1] as never)).toThrow(new ValueError('pad', 'pads must be pairs of non-negative integers [before, after], got 1 in [1]'));
  });

  it('tile and repeat refuse negative and fractional counts, by name; zero copies are allowed', () => {
    const x = f64([1, 2], [2]);
    expect(tile(x, [0]).shape).toEqual([0]);
    expect(tile(x, [0, 1]).shape).toEqual([0, 2]);
    expect(() => tile(x, [1, -1])).toThrow(new ValueError('tile', 'reps must be non-negative integers, got [1,-1]'));
    expect(() => tile(x, [1.5])).toThrow(new ValueError('tile', 'reps must be non-negative integers, got [1.5]'));
    expect(repeat(x, [0, 2]).toArray()).toEqual([2, 2]);
    expect(() => repeat(x, [-1, 1])).toThrow(new ValueError('repeat', 'repeats must be non-negative integers, got [-1,1]'));
    expect(() => repeat(x, [1.5, 1])).toThrow(new ValueError('repeat', 'repeats must be non-negative integers, got [1.5,1]'));
  });

  it('split and chunk refuse a size or count that is not a positive integer; an empty axis splits into one empty piece', () => {
    const x = f64([0, 1, 2], [3]);
    expect(() => split(x, 1.5)).toThrow(new ValueError('split', 'the piece size must be a positive integer, got 1.5'));
    expect(() => split(empty(0), 0)).toThrow(new ValueError('split', 'the piece size must be a positive integer, got 0'));
    expect(() => split(x, [-1, 4])).toThrow(new ValueError('split', 'sizes must be non-negative integers, got [-1,4]'));
    expect(() => split(x, [1.5, 1.5])).toThrow(new ValueError('split', 'sizes must be non-negative integers, got [1.5,1.5]'));
    const pieces = split(empty(0, 2), 2);
    expect(pieces.map((p) => p.shape)).toEqual([[0, 2]]);
    expect(() => chunk(x, 0)).toThrow(new ValueError('chunk', 'chunks must be a positive integer, got 0'));
    expect(() => chunk(x, 1.5)).toThrow(new ValueError('chunk', 'chunks must be a positive integer, got 1.5'));
  });

  it('diagonal refuses a fractional offset and the same axis twice', () => {
    const m = f64([0, 1, 2, 3, 4, 5], [2, 3]);
    expect(() => diagonal(m, 0.5)).toThrow(new ValueError('diagonal', 'offset must be an integer, got 0.5'));
    expect(() => diagonal(m, 0, 1, -1)).toThrow(new ShapeError('diagonal', 'axis1 and axis2 are both axis 1 of [2,3]'));
  });
});
