/**
 * Tests written for the mutants of core/src/ops/composite/softmax.ts that survived a
 * StrykerJS run against core's unit tests (docs/mutation.md).
 */
import { describe, expect, it } from 'vitest';
import { ShapeError, ValueError, logSoftmax, logSumExp, softmax, tensor } from '@tapegrad/core';

// [1,2,2], not symmetric: the last axis and axis 1 give different results
const x = tensor([0, Math.log(3), 0, 0], { shape: [1, 2, 2], dtype: 'float64' });
const close = (values: number[]) => values.map((v) => expect.closeTo(v, 12));

describe('ops/composite/softmax.ts', () => {
  it('the softmax family works along the last axis by default, also on rank 3', () => {
    expect(softmax(x).toFlatArray()).toEqual(close([0.25, 0.75, 0.5, 0.5]));
    expect(logSoftmax(x).toFlatArray()).toEqual(close([Math.log(0.25), Math.log(0.75), Math.log(0.5), Math.log(0.5)]));
    const lse = logSumExp(x);
    expect(lse.shape).toEqual([1, 2]);
    expect(lse.toFlatArray()).toEqual(close([Math.log(4), Math.log(2)]));
  });

  it('each names itself for a non-tensor or an axis out of range', () => {
    expect(() => logSumExp(null as never)).toThrow(new ValueError('logSumExp', 'input 0 is null, not a Tensor'));
    expect(() => logSumExp(x, 5)).toThrow(new ShapeError('logSumExp', 'axis 5 is out of range for a tensor of rank 3'));
    expect(() => softmax(x, 5)).toThrow(new ShapeError('softmax', 'axis 5 is out of range for a tensor of rank 3'));
    expect(() => logSoftmax(null as never)).toThrow(new ValueError('logSoftmax', 'input 0 is null, not a Tensor'));
    expect(() => logSoftmax(x, -4)).toThrow(new ShapeError('logSoftmax', 'axis -4 is out of range for a tensor of rank 3'));
  });
});
