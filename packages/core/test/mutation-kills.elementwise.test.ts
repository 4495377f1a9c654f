/**
 * Tests written for the mutants of core/src/ops/{elementwise,compare,rounding,cast,dropout,
 * one-hot,lift}.ts that survived a StrykerJS run (docs/mutation.md): op names in errors,
 * the bounds of dropout's p, and options that are missing altogether.
 */
import { describe, expect, it } from 'vitest';
import {
  DTypeError, ValueError, cast, ceil, createRng, dropout, equal, floor, grad, greater, greaterEqual, less, lessEqual, oneHot, round, sign, sum,
  tensor,
} from '@tapegrad/core';

const f64 = (data: number[]) => tensor(data, { dtype: 'float64' });

describe('ops/compare.ts', () => {
  it('each comparison names itself for an operand that is neither a tensor nor a number', () => {
    const x = f64([1, 2]);
    const ops = { greater, greaterEqual, less, lessEqual, equal };
    for (const [name, op] of Object.entries(ops)) {
      expect(() => op(x, 'a' as never), name).toThrow(new ValueError(name, 'expected a Tensor or a number, got string'));
      expect(() => op(null as never, x), name).toThrow(new ValueError(name, 'expected a Tensor or a number, got null'));
    }
  });

  it('two plain numbers compare as float32 scalars', () => {
    const gt = greater(2, 1);
    expect(gt.dtype).toBe('float32');
    expect(gt.shape).toEqual([]);
    expect(gt.toFlatArray()).toEqual([1]);
  });
});

describe('ops/cast.ts', () => {
  it('an unknown dtype is a DTypeError naming cast', () => {
    expect(() => cast(f64([1]), 'int32' as never)).toThrow(new DTypeError('cast', "unknown dtype int32: expected 'float32' or 'float64'"));
  });
});

describe('ops/dropout.ts', () => {
  const x = f64([1, 2, 3, 4]);

  it('names itself for an input that is not a tensor', () => {
    expect(() => dropout(null as never, 0.5, { seed: 1 })).toThrow(new ValueError('dropout', 'input 0 is null, not a Tensor'));
  });

  it('p must be a number in [0, 1]: below 0 and numeric strings are refused', () => {
    expect(() => dropout(x, -0.5, { seed: 1 })).toThrow(new ValueError('dropout', 'p must be a probability in [0, 1], got -0.5'));
    expect(() => dropout(x, '0.5' as never, { seed: 1 })).toThrow(new ValueError('dropout', 'p must be a probability in [0, 1], got 0.5'));
  });

  it('draws exactly one uniform per element from the rng, and none for p = 0 or p = 1', () => {
    const stream = createRng(7);
    const fresh = Array.from({ length: 5 }, () => stream.next());
    for (const p of [0, 0.5, 1]) {
      const rng = createRng(7);
      dropout(x, p, { rng });
      // the next draw is the stream's fifth after 4 elements, its first after p = 0 or 1
      expect(rng.next(), `p ${p}`).toBe(p === 0.5 ? fresh[4] : fresh[0]);
    }
  });

  it('keeps an element whose uniform equals p exactly (kept where u ≥ p)', () => {
    const u = createRng(3).next();
    const y = dropout(x, u, { seed: 3 });
    expect(y.toFlatArray()[0]).toBe(1 / (1 - u));
  });

  it('no options at all is the missing-seed error, not a TypeError', () => {
    expect(() => dropout(x, 0.5, undefined as never)).toThrow(new ValueError('dropout', 'needs a seed or an rng: tapegrad never draws unseeded randomness'));
  });
});

describe('ops/rounding.ts', () => {
  it('floor, ceil, round (halves to even) and sign, each with a zero gradient', () => {
    const x = f64([-1.5, -0.5, 0.5, 1.5, 2.5]);
    expect(floor(x).toFlatArray()).toEqual([-2, -1, 0, 1, 2]);
    expect(ceil(x).toFlatArray()).toEqual([-1, -0, 1, 2, 3]);
    expect(round(x).toFlatArray()).toEqual([-2, -0, 0, 2, 2]);
    expect(sign(x).toFlatArray()).toEqual([-1, -1, 1, 1, 1]);
    for (const op of [floor, ceil, round, sign]) {
      const g = grad((t: typeof x) => sum(op(t)))(x);
      expect(g.shape, op.name).toEqual([5]);
      expect(g.toFlatArray(), op.name).toEqual([0, 0, 0, 0, 0]);
    }
  });
});

describe('ops/one-hot.ts', () => {
  it('labels in a tensor of rank 2 are refused, naming oneHot and the shape', () => {
    expect(() => oneHot(tensor([0, 1, 1, 0], { shape: [2, 2] }), 3)).toThrow(new ValueError('oneHot', 'expects a rank-1 tensor of labels, got shape [2,2]'));
  });
});
