/**
 * Tests written for the mutants of core/src/ops/** that survived a StrykerJS run
 * (scripts/mutation.sh; docs/mutation.md): each pins down a behaviour the suite did not check.
 */
import { describe, expect, it } from 'vitest';
import { ValueError, add, div, mul, sub, tensor } from '@tapegrad/core';

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
