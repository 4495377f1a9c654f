import { describe, expect, it } from 'vitest';
import { type Indices, ShapeError, ValueError, scatterAdd, take, tensor, zeros } from '@tapegrad/core';

// Survivors of the mutation run over ops/indexing.ts (docs/mutation.md): the checks that name a
// user's mistake — which index, where, and what was expected — and scatterAdd's size rule.
describe('indexing: the mistakes a user makes get exact messages', () => {
  const x = tensor([[1, 2], [3, 4], [5, 6]]);

  it('indices of a wrong type name the type (null apart)', () => {
    for (const [bad, got] of [['abc', 'string'], [null, 'null'], [{ 0: 1 }, 'object'], [undefined, 'undefined']] as const) {
      expect(() => take(x, bad as unknown as Indices, 0)).toThrow(ValueError);
      expect(() => take(x, bad as unknown as Indices, 0)).toThrow(`take: indices must be nested numbers, an Int32Array or a Tensor, got ${got}`);
      expect(() => scatterAdd(x, bad as unknown as Indices, 0, 3)).toThrow(`scatterAdd: indices must be nested numbers, an Int32Array or a Tensor, got ${got}`);
    }
  });

  it('a bad index is located by its row-major position in the indices, not by its flat offset', () => {
    // flat offset 5 of a [2,3] index array is position [1,2]
    expect(() => take(x, [[0, 1, 2], [0, 1, 7]], 0)).toThrow('take: index 7 at [1,2] is out of range for axis 0 of size 3 in [3,2]');
    // flat offset 3 of [2,2] is [1,1]; of [4] it is [3]
    expect(() => take(x, [[0, 1], [2, 0.5]], 0)).toThrow('take: index 0.5 at [1,1] is not an integer');
    expect(() => take(x, [0, 1, 2, -1], 0)).toThrow('take: index -1 at [3] is out of range');
    // three axes: offset 7 of [2,2,2] is [1,1,1]
    expect(() => take(x, [[[0, 0], [0, 0]], [[0, 0], [0, 9]]], 0)).toThrow('index 9 at [1,1,1] is out of range');
    // indices are read in float64: 2²⁴ + 1 is not rounded to 2²⁴ (as a float32 reading would)
    expect(() => take(x, [16777217], 0)).toThrow('take: index 16777217 at [0] is out of range');
  });

  it("scatterAdd's size must be a non-negative integer; 0 is allowed", () => {
    const u = tensor([[1, 2]]);
    for (const size of [-1, 1.5, Number.NaN]) {
      expect(() => scatterAdd(u, [0], 0, size)).toThrow(ValueError);
      expect(() => scatterAdd(u, [0], 0, size)).toThrow(`scatterAdd: size must be a non-negative integer, got ${size}`);
    }
    const empty = scatterAdd(zeros([0, 2]), new Int32Array(0), 0, 0);
    expect(empty.shape).toEqual([0, 2]);
  });

  it("scatterAdd refuses updates without the indices' shape at the axis, also when updates are too short", () => {
    // updates [2,2] with indices [2,2] make a result of rank 1: axis 1 does not exist (this check
    // runs first, which is why scatterAddOp's own "updates too short" clause cannot fire)
    expect(() => scatterAdd(tensor([[1, 2], [3, 4]]), [[0, 1], [1, 0]], 1, 3)).toThrow('scatterAdd: axis 1 is out of range for a tensor of rank 1');
    expect(() => scatterAdd(tensor([[1, 2, 3]]), [[0, 1]], 0, 2)).toThrow("scatterAdd: updates [1,3] do not have the indices' shape [1,2] at axis 0");
    // the right shape works: [2] updates at indices [2] along axis 0 of size 3
    expect(Array.from(scatterAdd(tensor([5, 7]), [2, 2], 0, 3).data)).toEqual([0, 0, 12]);
  });

  it('indices given as a Tensor or an Int32Array read the same as nested numbers', () => {
    const expected = [[[5, 6], [1, 2]]];
    expect(take(x, [[2, 0]], 0).toArray()).toEqual(expected);
    expect(take(x, tensor([[2, 0]]), 0).toArray()).toEqual(expected);
    expect(take(x, tensor([[2, 0]]), 0).shape).toEqual([1, 2, 2]);
    expect(take(x, Int32Array.of(2, 0), 0).toArray()).toEqual(expected[0]);
    expect(take(x, 1, 0).toArray()).toEqual([3, 4]);
  });
});
