/**
 * Tests written for the mutants of core/src/ops/matmul.ts's shape rule and forward that
 * survived a StrykerJS run (docs/mutation.md).
 */
import { describe, expect, it } from 'vitest';
import { ShapeError, matmulT, tensor } from '@tapegrad/core';

const z = (...shape: number[]) => tensor(new Float64Array(shape.reduce((a, b) => a * b, 1)), { shape, dtype: 'float64' });

describe('ops/matmul.ts', () => {
  it('matmulT takes matrices or batches of them only: a vector on either side is refused', () => {
    expect(() => matmulT(z(3), z(3, 2))).toThrow(new ShapeError('matmul', 'expects two matrices or batches of matrices, got [3] · [3,2]'));
    expect(() => matmulT(z(2, 3), z(3))).toThrow(new ShapeError('matmul', 'expects two matrices or batches of matrices, got [2,3] · [3]'));
  });
});
