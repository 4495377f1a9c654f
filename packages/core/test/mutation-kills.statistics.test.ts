/**
 * Tests written for the mutants of core/src/ops/composite/statistics.ts (prod, variance, std)
 * and softplus.ts (softplus, logSigmoid), which core's unit tests did not reach
 * (docs/mutation.md).
 */
import { describe, expect, it } from 'vitest';
import { ShapeError, Tape, ValueError, grad, logSigmoid, mul, prod, softplus, std, sum, tensor, variance } from '@tapegrad/core';
import type { Tensor } from '@tapegrad/core';

const f64 = (values: number[], shape?: number[]) => tensor(values, { shape: shape ?? [values.length], dtype: 'float64' });
const close = (values: number[]) => values.map((v) => expect.closeTo(v, 12));

describe('ops/composite/statistics.ts: prod', () => {
  it('multiplies rows of every length (odd ones carry their last element), along the axes asked', () => {
    expect(prod(f64([2, 3, 5, 7, 11, 13, 17])).toFlatArray()).toEqual([510510]);
    expect(prod(f64([1, 2, 3, 4, 5, 6])).toFlatArray()).toEqual([720]);
    expect(prod(f64([4])).toFlatArray()).toEqual([4]);
    const rows = f64([1, 2, 3, 4, 5, 2, 3, 1, 1, 2], [2, 5]);
    const byRow = prod(rows, 1);
    expect(byRow.shape).toEqual([2]);
    expect(byRow.toFlatArray()).toEqual([120, 12]);
    const m = f64([1, 2, 3, 4, 5, 6], [2, 3]);
    const byColumn = prod(m, 0, true);
    expect(byColumn.shape).toEqual([1, 3]);
    expect(byColumn.toFlatArray()).toEqual([4, 10, 18]);
    expect(prod(m, -1, true).shape).toEqual([2, 1]);
    expect(prod(m, -1, true).toFlatArray()).toEqual([6, 120]);
    const all = prod(m);
    expect(all.shape).toEqual([]);
    expect(all.toFlatArray()).toEqual([720]);
    // rank 3 over the outer and inner axes, given out of order
    const cube = f64([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2]);
    const outer = prod(cube, [2, 0]);
    expect(outer.shape).toEqual([2]);
    expect(outer.toFlatArray()).toEqual([1 * 2 * 5 * 6, 3 * 4 * 7 * 8]);
    expect(prod(cube, [2, 0], true).shape).toEqual([1, 2, 1]);
  });

  it('over no axes hands x back; over an empty axis gives 1 with a zero gradient', () => {
    const m = f64([1, 2, 3, 4, 5, 6], [2, 3]);
    expect(prod(m, [])).toBe(m);
    const empty = tensor([], { shape: [2, 0], dtype: 'float64' });
    expect(prod(empty, 1).shape).toEqual([2]);
    expect(prod(empty, 1).toFlatArray()).toEqual([1, 1]);
    expect(prod(empty, 1, true).shape).toEqual([2, 1]);
    expect(prod(empty, 1, true).toFlatArray()).toEqual([1, 1]);
    const g = grad((t: Tensor) => sum(prod(t, 1)))(empty);
    expect(g.shape).toEqual([2, 0]);
  });

  it('its gradient is Π_{j≠i} x_j, exact with one zero or two, and its second derivative too', () => {
    const g = (values: number[]) => grad((t: Tensor) => prod(t))(f64(values)).toFlatArray();
    expect(g([2, 3, 4])).toEqual([12, 8, 6]);
    expect(g([2, 0, 3])).toEqual([0, 6, 0]);
    expect(g([2, 0, 3, 0])).toEqual([0, 0, 0, 0]);
    expect(g([2, 3, 5, 7, 11])).toEqual([1155, 770, 462, 330, 210]);
    // d²/dx₀² of Σ_i ∂prod/∂x_i = Σ_{i≠0} Π_{j≠0,i} x_j
    const second = grad((t: Tensor) => sum(grad((u: Tensor) => prod(u))(t)))(f64([2, 3, 4]));
    expect(second.toFlatArray()).toEqual([4 + 3, 4 + 2, 3 + 2]);
  });

  it('names itself for a non-tensor or an axis out of range', () => {
    expect(() => prod(null as never)).toThrow(new ValueError('prod', 'input 0 is null, not a Tensor'));
    expect(() => prod(f64([1, 2]), 1)).toThrow(new ShapeError('prod', 'axis 1 is out of range for a tensor of rank 1'));
  });
});

describe('ops/composite/statistics.ts: variance and std', () => {
  // rows [1,2,4] and [3,5,9]: means 7/3 and 17/3, squared deviations summing to 14/3 and 56/3
  const m = f64([1, 2, 4, 3, 5, 9], [2, 3]);

  it('divides by n − 1 by default, by n − correction when asked, along the axes asked', () => {
    expect(variance(f64([1, 2, 3, 4])).toFlatArray()).toEqual(close([5 / 3]));
    expect(variance(f64([1, 2, 3, 4]), undefined, { correction: 0 }).toFlatArray()).toEqual(close([1.25]));
    expect(variance(f64([1, 2, 3, 4]), 0, { correction: 2 }).toFlatArray()).toEqual(close([2.5]));
    expect(variance(f64([1, 2, 3, 4]), 0, { correction: 3.5 }).toFlatArray()).toEqual(close([10]));
    const byRow = variance(m, 1);
    expect(byRow.shape).toEqual([2]);
    expect(byRow.toFlatArray()).toEqual(close([7 / 3, 28 / 3]));
    const byColumn = variance(m, 0, { keepDims: true });
    expect(byColumn.shape).toEqual([1, 3]);
    expect(byColumn.toFlatArray()).toEqual(close([2, 4.5, 12.5]));
    expect(variance(m, -1, { keepDims: true }).shape).toEqual([2, 1]);
    // mean 4, deviations −3 −2 0 −1 1 5
    expect(variance(m, [0, 1], { correction: 0 }).toFlatArray()).toEqual(close([40 / 6]));
    const s = std(m, 1, { correction: 0, keepDims: true });
    expect(s.shape).toEqual([2, 1]);
    expect(s.toFlatArray()).toEqual(close([Math.sqrt(14 / 9), Math.sqrt(56 / 9)]));
    expect(std(f64([1, 2, 3, 4])).toFlatArray()).toEqual(close([Math.sqrt(5 / 3)]));
  });

  it('refuses a bad correction or one that leaves no degrees of freedom, naming the op', () => {
    for (const [op, f] of [['variance', variance], ['std', std]] as const) {
      expect(() => f(null as never)).toThrow(new ValueError(op, 'input 0 is null, not a Tensor'));
      for (const c of [Number.NaN, Infinity, -1, -0.5]) {
        expect(() => f(m, 1, { correction: c })).toThrow(new ValueError(op, `correction must be a finite number ≥ 0, got ${c}`));
      }
      expect(() => f(f64([5]))).toThrow(new ValueError(op, '1 element over axes [0] of [1] leave no degrees of freedom with correction 1'));
      expect(() => f(m, [1, 0], { correction: 6 })).toThrow(new ValueError(op, '6 elements over axes [1,0] of [2,3] leave no degrees of freedom with correction 6'));
      expect(() => f(m, 5)).toThrow(new ShapeError(op, 'axis 5 is out of range for a tensor of rank 2'));
    }
    expect(variance(f64([5]), 0, { correction: 0 }).toFlatArray()).toEqual([0]);
    expect(variance(f64([5, 7]), 0, { correction: 1.5 }).toFlatArray()).toEqual(close([4]));
  });
});

describe('ops/composite/softplus.ts', () => {
  it('softplus = log(1 + eˣ) with derivative σ(x) times the incoming gradient; logSigmoid = −softplus(−x)', () => {
    const x = f64([-2, 0, 1.5]);
    const sp = (v: number) => Math.log1p(Math.exp(v));
    const sigma = (v: number) => 1 / (1 + Math.exp(-v));
    expect(softplus(x).toFlatArray()).toEqual(close([-2, 0, 1.5].map(sp)));
    expect(logSigmoid(x).toFlatArray()).toEqual(close([-2, 0, 1.5].map((v) => -sp(-v))));
    const weights = f64([3, -1, 0.5]);
    const g = grad((t: Tensor) => sum(mul(softplus(t), weights)))(x);
    expect(g.toFlatArray()).toEqual(close([3 * sigma(-2), -0.5, 0.5 * sigma(1.5)]));
    expect(grad((t: Tensor) => sum(logSigmoid(t)))(x).toFlatArray()).toEqual(close([-2, 0, 1.5].map((v) => 1 - sigma(v))));
    // σ′ = σ(1 − σ): the VJP is written in tape ops
    expect(grad((t: Tensor) => sum(grad((u: Tensor) => sum(softplus(u)))(t)))(x).toFlatArray())
      .toEqual(close([-2, 0, 1.5].map((v) => sigma(v) * (1 - sigma(v)))));
    const tape = new Tape();
    expect(tape.record(() => softplus(x)).node!.def.name).toBe('softplus');
    expect(() => softplus(null as never)).toThrow(new ValueError('softplus', 'input 0 is null, not a Tensor'));
  });
});
