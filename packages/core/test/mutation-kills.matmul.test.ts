/**
 * Tests written for the mutants of core/src/ops/matmul.ts's shape rule, forward and matmul()
 * that survived a StrykerJS run against core's unit tests (docs/mutation.md).
 */
import { describe, expect, it } from 'vitest';
import { ShapeError, ValueError, matmul, matmulT, tensor } from '@tapegrad/core';

const z = (...shape: number[]) => tensor(new Float64Array(shape.reduce((a, b) => a * b, 1)), { shape, dtype: 'float64' });
const f64 = (data: number[], shape: number[]) => tensor(data, { shape, dtype: 'float64' });

describe('ops/matmul.ts', () => {
  it('matmulT takes matrices or batches of them only: a vector on either side is refused', () => {
    expect(() => matmulT(z(3), z(3, 2))).toThrow(new ShapeError('matmul', 'expects two matrices or batches of matrices, got [3] · [3,2]'));
    expect(() => matmulT(z(2, 3), z(3))).toThrow(new ShapeError('matmul', 'expects two matrices or batches of matrices, got [2,3] · [3]'));
  });

  it('matmul names itself for a non-tensor and refuses a scalar on the right too', () => {
    expect(() => matmul(null as never, z(2, 2))).toThrow(new ValueError('matmul', 'input 0 is null, not a Tensor'));
    expect(() => matmul(z(2, 2), z())).toThrow(new ShapeError('matmul', 'expects matrices or vectors, got [2,2] · []'));
  });

  it('batched products: a stack of A against one B, one A against a stack of B, a transposed stack', () => {
    // [2,1,2]·[2,1]: the stack of A's against a shared B (one taller product)
    expect(matmul(f64([1, 2, 3, 4], [2, 1, 2]), f64([5, 6], [2, 1])).toFlatArray()).toEqual([17, 39]);
    // [2,2]·[2,2,1]: one A against each B of a stack
    const a = f64([1, 2, 3, 4], [2, 2]);
    const y = matmul(a, f64([1, 0, 0, 1], [2, 2, 1]));
    expect(y.shape).toEqual([2, 2, 1]);
    expect(y.toFlatArray()).toEqual([1, 3, 2, 4]);
    // op(A) = Aᵀ per matrix of a [2,2,2] stack, against the identity
    const t = matmulT(f64([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2]), f64([1, 0, 0, 1], [2, 2]), true, false);
    expect(t.toFlatArray()).toEqual([1, 3, 2, 4, 5, 7, 6, 8]);
    // [1,2,2]·[2,2,1] and [2,1,2,2]·[3,2,1]: broadcast batch axes on both sides
    expect(matmul(f64([1, 2, 3, 4], [1, 2, 2]), f64([1, 0, 0, 1], [2, 2, 1])).toFlatArray()).toEqual([1, 3, 2, 4]);
    const wide = matmul(f64([1, 0, 0, 1, 2, 0, 0, 2], [2, 1, 2, 2]), f64([1, 2, 3, 4, 5, 6], [3, 2, 1]));
    expect(wide.shape).toEqual([2, 3, 2, 1]);
    expect(wide.toFlatArray()).toEqual([1, 2, 3, 4, 5, 6, 2, 4, 6, 8, 10, 12]);
  });
});
