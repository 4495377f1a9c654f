import { describe, expect, it } from 'vitest';
import {
  DTypeError, Tape, ValueError, cast, createRng, customGrad, dropout, exp, full, mul, ones, rand, randn, sum, tensor, zeros,
} from '@tapegrad/core';

// User mistakes that used to pass silently or surface as untyped errors: each is a typed
// error naming the op and what was wrong.
describe('creation refuses what it cannot make, with a typed error', () => {
  it('a tensor too large to allocate names the op, the shape and the size', () => {
    expect(() => zeros([1e6, 1e6])).toThrow(new ValueError('zeros', '[1000000,1000000] of float32 holds 1,000,000,000,000 elements (3725.3 GiB); a tensor holds at most 4,294,967,295 elements'));
    expect(() => ones([1e5, 1e5], { dtype: 'float64' })).toThrow(/^ones: \[100000,100000\] of float64 holds 10,000,000,000 elements \(74\.5 GiB\)/);
    expect(() => full([2 ** 20, 2 ** 13], 1)).toThrow(/^full: \[1048576,8192\] of float32 holds 8,589,934,592 elements/);
    expect(() => randn([1e6, 1e6], { seed: 1 })).toThrow(ValueError);
  });

  it('tensor() of a bigint, a negative or non-integer length, or a non-number leaf', () => {
    expect(() => tensor([1n] as never)).toThrow(new ValueError('tensor', 'element [0] is bigint (1n), not a number'));
    expect(() => tensor({ length: -1 } as never)).toThrow(new ValueError('tensor', "an array-like's length must be a non-negative integer, got -1"));
    expect(() => tensor({ length: 1.5 } as never)).toThrow(ValueError);
    expect(() => tensor({ length: 2, 0: 1, 1: 'x' } as never)).toThrow(new ValueError('tensor', 'element 1 is string, not a number'));
    expect(() => tensor([[1], [{ a: 1 }]] as never)).toThrow(/^tensor: element \[1\]\[0\] is object \(\{"a":1\}\), not a number$/);
  });

  it('assign() of strings is refused instead of writing NaN', () => {
    const t = zeros([2]);
    expect(() => t.assign(['a', 'b'] as never)).toThrow(new ValueError('assign', 'element 0 is string, not a number'));
    expect(Array.from(t.data)).toEqual([0, 0]);
    expect(() => t.assign(null as never)).toThrow(new ValueError('assign', 'expects a Tensor or an array of numbers, got null'));
    expect(Array.from(t.assign([1, 2]).data)).toEqual([1, 2]);
  });

  it('randn and rand refuse seeds that would be coerced into another seed', () => {
    expect(() => randn([2], { seed: NaN })).toThrow(new ValueError('randn', 'seed must be an integer, got NaN'));
    expect(() => randn([2], { seed: 'abc' as never })).toThrow(new ValueError('randn', "seed must be an integer, got 'abc'"));
    expect(() => randn([2], { seed: 1.5 })).toThrow(new ValueError('randn', 'seed must be an integer, got 1.5'));
    expect(() => rand([2], { seed: Infinity })).toThrow(new ValueError('rand', 'seed must be an integer, got Infinity'));
    // every seeded draw goes through createRng, which refuses the same (dropout, mlp, initWeights, batches)
    expect(() => createRng(2.5)).toThrow(new ValueError('createRng', 'seed must be an integer, got 2.5'));
    expect(() => dropout(zeros([2]), 0.5, { seed: NaN })).toThrow(new ValueError('createRng', 'seed must be an integer, got NaN'));
    // integers keep their numbers: seed 1 is still seed 1
    expect(Array.from(randn([3], { seed: 1 }).data)).toEqual(Array.from(randn([3], { seed: 1 }).data));
  });

  it('rand refuses min > max and non-finite bounds; randn a negative or non-finite std', () => {
    expect(() => rand([2], { seed: 1, min: 2, max: 1 })).toThrow(new ValueError('rand', 'min 2 is greater than max 1'));
    expect(() => rand([2], { seed: 1, min: NaN })).toThrow(new ValueError('rand', 'min must be a finite number, got NaN'));
    expect(() => randn([2], { seed: 1, std: -1 })).toThrow(new ValueError('randn', 'std must be ≥ 0, got -1'));
    expect(() => randn([2], { seed: 1, mean: Infinity })).toThrow(new ValueError('randn', 'mean must be a finite number, got Infinity'));
    const t = rand([100], { seed: 3, min: -1, max: -1 });
    expect(new Set(t.data)).toEqual(new Set([-1]));
  });
});

describe('customGrad checks what its VJP returns', () => {
  it('a float64 gradient for a float32 input is a DTypeError naming the op', () => {
    const leaky = customGrad({
      name: 'leakyExp',
      forward: (x) => exp(x),
      vjp: (dy, { output }) => [cast(mul(dy, output), 'float64')],
    });
    const x = tensor([0.5, 1], { dtype: 'float32' });
    const tape = new Tape();
    const y = tape.record(() => sum(leaky(x)));
    expect(() => tape.gradient(y, [x])).toThrow(new DTypeError('leakyExp', 'vjp returned a float64 gradient for input 0, which is float32; cast it with cast(g, dtype)'));
  });

  it('a VJP returning the right dtype still works', () => {
    const good = customGrad({ name: 'goodExp', forward: (x) => exp(x), vjp: (dy, { output }) => [mul(dy, output)] });
    const x = tensor([0], { dtype: 'float32' });
    const tape = new Tape();
    const y = tape.record(() => sum(good(x)));
    expect(Array.from(tape.gradient(y, [x])[0].data)).toEqual([1]);
  });
});
