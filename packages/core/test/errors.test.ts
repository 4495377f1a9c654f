import { describe, expect, it } from 'vitest';
import {
  DTypeError, GradientError, ShapeError, Tape, TapegradError, ValueError, add, concat, full, matmul, matmulT,
  exp, max, mean, mul, oneHot, reshape, slice, softmax, sum, tensor, transpose, zeros,
} from '@tapegrad/core';
import { GradcheckError, gradcheck } from '@tapegrad/core/testing';

/** Runs fn, expecting it to throw an instance of `cls`; returns the error for closer checks. */
function caught<E extends Error>(fn: () => unknown, cls: new (...args: never[]) => E): E {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(cls);
    return error as E;
  }
  throw new Error(`expected ${cls.name} to be thrown`);
}

describe('error classes', () => {
  it('all extend TapegradError and Error, carry .op, and are named after their class', () => {
    for (const cls of [ShapeError, DTypeError, ValueError, GradientError]) {
      const error = new cls('someOp', 'went wrong');
      expect(error).toBeInstanceOf(TapegradError);
      expect(error).toBeInstanceOf(Error);
      expect(error.op).toBe('someOp');
      expect(error.message).toBe('someOp: went wrong');
      expect(error.name).toBe(cls.name);
    }
    expect(new GradcheckError({ ok: false, checked: 0, worst: null, zeroCotangentViolation: null, message: 'x' })).toBeInstanceOf(TapegradError);
  });
});

describe('creating tensors', () => {
  it('ragged rows: a row of the wrong length', () => {
    const error = caught(() => tensor([[1, 2], [3]]), ValueError);
    expect(error.op).toBe('tensor');
    expect(error.message).toBe('tensor: ragged nested array: row [1] has length 1, expected 2 (inferred shape [2,2])');
  });

  it('ragged rows: a number where a row was expected, and a row where a number was', () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const error = caught(() => tensor([[1, 2], 3] as any), ValueError);
    expect(error.message).toBe('tensor: ragged nested array: expected an array of length 2 at [1], found number');
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const deeper = caught(() => tensor([1, [2]] as any), ValueError);
    expect(deeper.message).toBe('tensor: ragged nested array: expected a number at [1], found an array (inferred shape [2])');
  });

  it('non-number elements, nested or flat, name the element', () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    expect(caught(() => tensor([[1, 2], [3, 'x' as any]]), ValueError).message).toBe('tensor: element [1][1] is string ("x"), not a number');
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    expect(caught(() => tensor([1, null as any]), ValueError).message).toBe('tensor: element [1] is null, not a number');
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    expect(caught(() => tensor({ length: 2, 0: 1, 1: 'y' } as any), ValueError).message).toBe('tensor: element 1 is string, not a number');
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    expect(caught(() => tensor('abc' as any), ValueError).op).toBe('tensor');
  });

  it('NaN, negative and fractional dimensions', () => {
    expect(caught(() => zeros([NaN, 2]), ValueError).message).toBe('zeros: invalid shape [NaN,2]: dimensions must be non-negative integers');
    expect(caught(() => zeros([2, -1]), ValueError).message).toBe('zeros: invalid shape [2,-1]: dimensions must be non-negative integers');
    expect(caught(() => full([1.5], 0), ValueError).message).toBe('full: invalid shape [1.5]: dimensions must be non-negative integers');
    expect(caught(() => tensor([1, 2], { shape: [NaN] }), ValueError).message).toBe('tensor: invalid shape [NaN]: dimensions must be non-negative integers');
  });

  it('data that does not fill the shape', () => {
    const error = caught(() => tensor([1, 2, 3], { shape: [2, 2] }), ShapeError);
    expect(error.message).toBe('tensor: 3 values do not fill shape [2,2] (4 elements)');
    expect(caught(() => tensor(new Float64Array(5), { shape: [2, 3] }), ShapeError).message).toBe('tensor: 5 values do not fill shape [2,3] (6 elements)');
    expect(caught(() => tensor([[1, 2], [3, 4]], { shape: [4] }), ShapeError).message).toBe('tensor: nested data has shape [2,2] but shape [4] was given');
  });

  it('an unknown dtype', () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    expect(caught(() => tensor([1], { dtype: 'int32' as any }), DTypeError).message).toBe("tensor: unknown dtype int32: expected 'float32' or 'float64'");
  });
});

describe('op errors name the op and the shapes', () => {
  it('matmul: inner dimensions differ', () => {
    const error = caught(() => matmul(zeros([3, 4]), zeros([5, 2])), ShapeError);
    expect(error.op).toBe('matmul');
    expect(error.message).toBe('matmul: inner dimensions differ: [3,4] · [5,2]');
    expect(caught(() => matmulT(zeros([3, 4]), zeros([5, 2]), true, false), ShapeError).message).toBe('matmul: inner dimensions differ: [3,4]ᵀ · [5,2]');
    expect(caught(() => matmul(zeros([3]), zeros([4, 2])), ShapeError).message).toBe('matmul: inner dimensions differ: [3] · [4,2]');
    expect(caught(() => matmul(zeros([]), zeros([2, 2])), ShapeError).message).toBe('matmul: expects matrices or vectors, got [] · [2,2]');
    // rank ≥ 3 is a batch: the batch axes must broadcast, the matrices must chain
    expect(matmul(zeros([2, 2, 3]), zeros([3, 4])).shape).toEqual([2, 2, 4]);
    expect(caught(() => matmul(zeros([2, 2, 3]), zeros([2, 4])), ShapeError).message).toBe('matmul: inner dimensions differ: [2,2,3] · [2,4]');
    expect(caught(() => matmul(zeros([2, 3, 4]), zeros([3, 4, 5])), ShapeError).message).toBe('matmul: batch axes [2] and [3] cannot be broadcast together: [2,3,4] · [3,4,5]');
  });

  it('add: shapes that do not broadcast', () => {
    const error = caught(() => add(zeros([2, 3]), zeros([4, 3])), ShapeError);
    expect(error.op).toBe('add');
    expect(error.message).toBe('add: shapes [2,3] and [4,3] cannot be broadcast together (axis -2: 2 vs 4)');
    expect(caught(() => mul(zeros([3]), zeros([2])), ShapeError).message).toBe('mul: shapes [3] and [2] cannot be broadcast together (axis -1: 3 vs 2)');
  });

  it('mixed float32 and float64 in one op is a DTypeError, never a silent cast', () => {
    const error = caught(() => add(zeros([2]), zeros([2], { dtype: 'float64' })), DTypeError);
    expect(error.op).toBe('add');
    expect(error.message).toBe('add: mixed dtypes: float32 [2] and float64 [2]; convert one with cast()');
    expect(caught(() => matmul(zeros([2, 2], { dtype: 'float64' }), zeros([2, 2])), DTypeError).op).toBe('matmul');
  });

  it('axes out of range or repeated', () => {
    const x = zeros([2, 3]);
    expect(caught(() => sum(x, 2), ShapeError).message).toBe('sum: axis 2 is out of range for a tensor of rank 2');
    expect(caught(() => max(x, -3), ShapeError).message).toBe('max: axis -3 is out of range for a tensor of rank 2');
    expect(caught(() => mean(x, [0, -2]), ShapeError).message).toBe('mean: axis -2 is repeated in [0,-2]');
    expect(caught(() => sum(x, [1, 1]), ShapeError).message).toBe('sum: axis 1 is repeated in [1,1]');
    expect(caught(() => sum(x, 0.5), ShapeError).op).toBe('sum');
    expect(caught(() => transpose(x, [0, 0]), ShapeError).message).toBe('transpose: perm [0,0] is not a permutation of the 2 axes of [2,3]');
  });

  it('reshape to a different number of elements', () => {
    expect(caught(() => reshape(zeros([2, 3]), [4, 2]), ShapeError).message).toBe('reshape: cannot reshape [2,3] (6 elements) to [4,2] (8 elements)');
    expect(caught(() => reshape(zeros([2, 3]), [-1, 4]), ShapeError).message).toBe('reshape: cannot reshape [2,3] (6 elements) to [-1,4]');
    expect(caught(() => reshape(zeros([2, 3]), [-1, -1]), ShapeError).message).toBe('reshape: only one dimension may be -1, got [-1,-1]');
  });

  it('slice out of bounds', () => {
    const x = zeros([3, 4]);
    expect(caught(() => slice(x, [1, 2], [2, 3]), ShapeError).message).toBe('slice: begin [1,2] size [2,3] is out of bounds for [3,4] (axis 1)');
    expect(caught(() => slice(x, [3, 0], [1, 1]), ShapeError).message).toBe('slice: begin [3,0] size [1,1] is out of bounds for [3,4] (axis 0)');
    expect(caught(() => slice(x, [0], [1]), ShapeError).message).toBe('slice: begin [0] and size [1] must have one entry per axis of [3,4]');
  });

  it('concat of shapes that differ outside the axis', () => {
    expect(caught(() => concat([zeros([2, 3]), zeros([3, 2])], 0), ShapeError).message).toBe('concat: shapes [2,3], [3,2] differ outside axis 0');
    expect(caught(() => concat([zeros([2, 3]), zeros([2])], 1), ShapeError).message).toBe('concat: shapes [2,3], [2] differ outside axis 1');
    expect(caught(() => concat([zeros([2, 3])], 2), ShapeError).message).toBe('concat: axis 2 is out of range for a tensor of rank 2');
    expect(caught(() => concat([], 0), ValueError).message).toBe('concat: needs a non-empty array of tensors');
  });

  it('oneHot with a label out of range or fractional', () => {
    expect(caught(() => oneHot([0, 3, 1], 3), ValueError).message).toBe('oneHot: label 3 at index 1 is not an integer in [0, 3)');
    expect(caught(() => oneHot([-1], 3), ValueError).message).toBe('oneHot: label -1 at index 0 is not an integer in [0, 3)');
    expect(caught(() => oneHot([0.5], 3), ValueError).message).toBe('oneHot: label 0.5 at index 0 is not an integer in [0, 3)');
    expect(caught(() => oneHot([0], 0), ValueError).message).toBe('oneHot: depth must be a positive integer, got 0');
  });

  it('a non-tensor input names the op and the position', () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    expect(caught(() => add(zeros([1]), 'a' as any), ValueError).message).toBe('add: expected a Tensor or a number, got string');
    // ops that read a shape before recording used to fail with a bare TypeError, and sum
    // returned a plain array unchanged
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const plain = [[1, 2]] as any;
    expect(caught(() => matmul(zeros([1, 1]), plain), ValueError).message).toBe('matmul: input 1 is an array, not a Tensor');
    expect(caught(() => sum(plain), ValueError).message).toBe('sum: input 0 is an array, not a Tensor');
    expect(caught(() => max(plain), ValueError).message).toBe('max: input 0 is an array, not a Tensor');
    expect(caught(() => mean(plain), ValueError).message).toBe('mean: input 0 is an array, not a Tensor');
    expect(caught(() => reshape(plain, [2]), ValueError).message).toBe('reshape: input 0 is an array, not a Tensor');
    expect(caught(() => transpose(plain), ValueError).message).toBe('transpose: input 0 is an array, not a Tensor');
    expect(caught(() => slice(plain, [0, 0]), ValueError).message).toBe('slice: input 0 is an array, not a Tensor');
    expect(caught(() => softmax(plain), ValueError).message).toBe('softmax: input 0 is an array, not a Tensor');
    expect(caught(() => exp(plain), ValueError).message).toBe('exp: input 0 is an array, not a Tensor');
  });
});

describe('gradient errors', () => {
  it('a non-scalar output without an output gradient', () => {
    const x = tensor([1, 2]);
    const tape = new Tape();
    const y = tape.record(() => mul(x, 2));
    const error = caught(() => tape.gradient(y, x), GradientError);
    expect(error.op).toBe('gradient');
    expect(error.message).toBe('gradient: the output has shape [2], not a scalar: pass an output gradient (dy) of that shape, or reduce the output first (e.g. sum)');
  });

  it('an output gradient of the wrong shape', () => {
    const x = tensor([1, 2]);
    const tape = new Tape();
    const y = tape.record(() => mul(x, 2));
    expect(caught(() => tape.gradient(y, x, tensor([1, 1, 1])), ShapeError).message).toBe('gradient: output gradient has shape [3] but the output has shape [2]');
    expect(caught(() => tape.gradient(y, x, tensor([1, 1], { dtype: 'float64' })), GradientError).message).toBe('gradient: output gradient is float64 but the output is float32');
  });

  it('an output not recorded on the tape', () => {
    const x = tensor([1, 2]);
    const outside = sum(mul(x, 2));
    const tape = new Tape();
    tape.record(() => sum(x));
    expect(caught(() => tape.gradient(outside, x), GradientError).message).toBe('gradient: the output [] was not recorded on this tape: compute it inside tape.record()');
    // recorded on another tape is no better
    const other = new Tape();
    const y = other.record(() => sum(mul(x, 3)));
    expect(caught(() => tape.gradient(y, x), GradientError).op).toBe('gradient');
  });

  it('a spent non-persistent tape used twice', () => {
    const x = tensor(3);
    const tape = new Tape();
    const y = tape.record(() => mul(x, x));
    expect(tape.gradient(y, x).item()).toBe(6);
    expect(caught(() => tape.gradient(y, x), GradientError).message).toBe('gradient: this tape was already used by gradient() and let go of its recording; pass { persistent: true } to take several gradients');
    expect(caught(() => tape.record(() => mul(x, 2)), GradientError).message).toBe('Tape.record: this tape was released by gradient(); create a new Tape or pass { persistent: true }');
  });

  it('gradient() called inside its own record()', () => {
    const x = tensor(2);
    const tape = new Tape();
    const error = caught(() => tape.record(() => {
      const y = mul(x, x);
      return tape.gradient(y, x);
    }), GradientError);
    expect(error.message).toBe("gradient: called inside this tape's own record(); call it after record() returns");
  });

  it('assign() to an input after recording, then gradient', () => {
    const w = tensor([[1, 2], [3, 4]]);
    const x = tensor([[1], [1]]);
    const tape = new Tape();
    const loss = tape.record(() => sum(matmul(w, x)));
    w.assign([0, 0, 0, 0]);
    const error = caught(() => tape.gradient(loss, w), GradientError);
    expect(error.message).toBe("gradient: input 0 ([2,2]) of 'matmul' was changed by assign() after it was recorded; record the computation again");
  });

  it('gradcheck refuses float32 inputs with a DTypeError', () => {
    const error = caught(() => gradcheck((t) => sum(mul(t, t)), [tensor([1, 2])]), DTypeError);
    expect(error.op).toBe('gradcheck');
    expect(error.message).toBe("gradcheck: input 0 [2] is float32: finite differences need float64 (cast it, or create it with { dtype: 'float64' })");
  });
});
