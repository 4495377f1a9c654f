/**
 * Tests written for the mutants of core/src/ops/** that survived a StrykerJS run
 * (scripts/mutation.sh; docs/mutation.md): each pins down a behaviour the suite did not check.
 */
import { describe, expect, it } from 'vitest';
import {
  ShapeError, type Tensor, ValueError, add, argmax, argmin, broadcastTo, clip, div, elu, gelu, leakyRelu, maximum, mean, minimum, mul, silu, sub,
  cumsum, scatterAdd, take, tensor, where, zeros,
} from '@tapegrad/core';
import { deferredValuesOf } from '../src/tensor.js';

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

  it('add folds a deferred product in from either side, as sub does: the product itself stays deferred', () => {
    const w = f64([1, 2, 3]), g = f64([0.5, -4, 8]);
    const product = mul(g, 0.1);
    expect(Array.from(add(w, product).data)).toEqual([1 + 0.05, 2 - 0.4, 3 + 0.8]);
    expect(Array.from(add(product, w).data)).toEqual([1 + 0.05, 2 - 0.4, 3 + 0.8]);
    expect(deferredValuesOf(product)).not.toBeNull();
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
    // argmin keeps no axis unless asked, as argmax
    const x = f64([3, 1, 2, 0, 5, 4]).reshape([2, 3]);
    expect(argmin(x, 1).shape).toEqual([2]);
    expect(Array.from(argmin(x, 1).data)).toEqual([1, 0]);
    expect(argmin(x, 1, true).shape).toEqual([2, 1]);
    // over the other axis there is nothing to refuse: a [0]-shaped sum-like result
    expect(mean(empty, 0).shape).toEqual([0]);
  });
});

describe('ops/where.ts', () => {
  const x = f64([1, 2, 3]);
  const cond = f64([1, 0, 1]);

  it('where: operands that do not broadcast, or are not tensors or numbers, are errors naming where', () => {
    expect(() => where(f64([1, 0]), x, x)).toThrow(new ShapeError('where', 'shapes [2] and [3] cannot be broadcast together (axis -1: 2 vs 3)'));
    expect(() => where(cond, x, f64([1, 2]))).toThrow(new ShapeError('where', 'shapes [3] and [2] cannot be broadcast together (axis -1: 3 vs 2)'));
    expect(() => where(cond, 'a' as never, x)).toThrow(new ValueError('where', 'expected a Tensor or a number, got string'));
    expect(() => where(cond, x, 'b' as never)).toThrow(new ValueError('where', 'expected a Tensor or a number, got string'));
    expect(() => where(true as never, x, x)).toThrow(new ValueError('where', 'expected a Tensor or a number, got boolean'));
  });

  it('maximum and minimum name themselves for a bad operand', () => {
    expect(() => maximum(x, 'a' as never)).toThrow(new ValueError('maximum', 'expected a Tensor or a number, got string'));
    expect(() => minimum('a' as never, x)).toThrow(new ValueError('minimum', 'expected a Tensor or a number, got string'));
  });

  it('clip accepts lo = hi (everything becomes that value) and refuses lo > hi', () => {
    expect(Array.from(clip(x, 2, 2).data)).toEqual([2, 2, 2]);
    expect(() => clip(x, 3, 2)).toThrow(new ValueError('clip', 'needs lo ≤ hi, got lo=3, hi=2'));
  });
});

describe('ops/activations.ts', () => {
  it('silu, elu and leakyRelu name themselves for an input that is not a tensor', () => {
    const notTensor = [1, 2] as unknown as Tensor;
    expect(() => silu(notTensor)).toThrow(new ValueError('silu', 'input 0 is an array, not a Tensor'));
    expect(() => elu(notTensor)).toThrow(new ValueError('elu', 'input 0 is an array, not a Tensor'));
    expect(() => leakyRelu(notTensor)).toThrow(new ValueError('leakyRelu', 'input 0 is an array, not a Tensor'));
    expect(() => gelu(notTensor, { approximate: 'tanh' })).toThrow(new ValueError('gelu', 'input 0 is an array, not a Tensor'));
  });

  it('elu and leakyRelu refuse a parameter that is not a finite number, showing it', () => {
    const x = f64([1, -1]);
    expect(() => elu(x, Infinity)).toThrow(new ValueError('elu', 'alpha must be a finite number, got Infinity'));
    expect(() => elu(x, '1' as never)).toThrow(new ValueError('elu', 'alpha must be a finite number, got 1'));
    expect(() => leakyRelu(x, NaN)).toThrow(new ValueError('leakyRelu', 'slope must be a finite number, got NaN'));
    expect(() => leakyRelu(x, '0.1' as never)).toThrow(new ValueError('leakyRelu', 'slope must be a finite number, got 0.1'));
  });
});

describe('ops/cumsum.ts and ops/indexing.ts: errors name the op', () => {
  const notTensor = [1, 2] as unknown as Tensor;
  const x = f64([1, 2, 3]);

  it('cumsum, take and scatterAdd: a non-tensor input or an axis out of range', () => {
    expect(() => cumsum(notTensor, 0)).toThrow(new ValueError('cumsum', 'input 0 is an array, not a Tensor'));
    expect(() => cumsum(x, 1)).toThrow(new ShapeError('cumsum', 'axis 1 is out of range for a tensor of rank 1'));
    expect(() => take(notTensor, [0])).toThrow(new ValueError('take', 'input 0 is an array, not a Tensor'));
    expect(() => take(x, [0], 1)).toThrow(new ShapeError('take', 'axis 1 is out of range for a tensor of rank 1'));
    expect(() => scatterAdd(notTensor, [0], 0, 3)).toThrow(new ValueError('scatterAdd', 'input 0 is an array, not a Tensor'));
    expect(() => scatterAdd(x, [0, 1, 2], 1, 3)).toThrow(new ShapeError('scatterAdd', 'axis 1 is out of range for a tensor of rank 1'));
  });

  it('scatterAdd: size must be a non-negative integer; 0 is allowed for no indices', () => {
    expect(() => scatterAdd(x, [0, 1, 2], 0, -1)).toThrow(new ValueError('scatterAdd', 'size must be a non-negative integer, got -1'));
    expect(() => scatterAdd(x, [0, 1, 2], 0, 2.5)).toThrow(new ValueError('scatterAdd', 'size must be a non-negative integer, got 2.5'));
    expect(scatterAdd(f64([]), [], 0, 0).shape).toEqual([0]);
    expect(Array.from(scatterAdd(x, [2, 0, 2], 0, 3).data)).toEqual([2, 0, 4]);
  });
});
