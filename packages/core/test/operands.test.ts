import { describe, expect, it } from 'vitest';
import { OperandMode, adjacentReduction, binaryLayout, operandLayout } from '@tapegrad/core';

/** The patterns the wasm and native backends read directly; anything else goes to js. */
describe('operandLayout', () => {
  const layout = (shape: number[], out: number[]) => operandLayout(shape, out, shape.reduce((a, b) => a * b, 1), out.reduce((a, b) => a * b, 1));

  it('reads an operand of the output’s size whole and a single value as a scalar', () => {
    expect(layout([4, 3], [4, 3])).toEqual({ mode: OperandMode.full, rows: -1 });
    expect(layout([], [4, 3])).toEqual({ mode: OperandMode.scalar, rows: -1 });
    expect(layout([1, 1], [4, 3])).toEqual({ mode: OperandMode.scalar, rows: -1 });
  });

  it('reads a bias [m, 1] as one value per row and [1, n] as a repeated row', () => {
    expect(layout([128, 1], [128, 64])).toEqual({ mode: OperandMode.column, rows: 128 });
    expect(layout([1, 64], [128, 64])).toEqual({ mode: OperandMode.row, rows: 128 });
    expect(layout([64], [128, 64])).toEqual({ mode: OperandMode.row, rows: 128 });
    // leading axes: [2, 3, 1] over [2, 3, 5] is one value per row of the [6, 5] view
    expect(layout([2, 3, 1], [2, 3, 5])).toEqual({ mode: OperandMode.column, rows: 6 });
    expect(layout([1, 3, 5], [2, 3, 5])).toEqual({ mode: OperandMode.row, rows: 2 });
  });

  it('refuses interleaved broadcasts, which a backend hands to js', () => {
    expect(layout([2, 1, 5], [2, 3, 5])).toBeUndefined();
    expect(layout([1, 3, 1], [2, 3, 5])).toBeUndefined();
  });
});

describe('binaryLayout', () => {
  const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
  const pair = (a: number[], b: number[], out: number[]) => binaryLayout(a, size(a), b, size(b), out, size(out));

  it('puts both operands on one [rows, cols] view of the output', () => {
    expect(pair([128, 64], [128, 1], [128, 64])).toEqual({
      left: { mode: OperandMode.full, rows: -1 }, right: { mode: OperandMode.column, rows: 128 }, rows: 128, cols: 64,
    });
    expect(pair([], [4, 3], [4, 3])).toMatchObject({ rows: 1, cols: 12 });
    expect(pair([1, 5], [3, 1], [3, 5])).toMatchObject({ left: { mode: OperandMode.row }, right: { mode: OperandMode.column }, rows: 3, cols: 5 });
  });

  it('refuses operands whose views need different row counts, or an unreadable operand', () => {
    // [2, 1, 1] is one value per row of a [2, 15] view, [1, 3, 5] one row of a [2, 15] view: agree
    expect(pair([2, 1, 1], [1, 3, 5], [2, 3, 5])).toMatchObject({ rows: 2, cols: 15 });
    // [2, 3, 1] needs 6 rows, [1, 1, 5] needs 6 rows too; [2, 1, 5] cannot be read at all
    expect(pair([2, 3, 1], [1, 1, 5], [2, 3, 5])).toMatchObject({ rows: 6, cols: 5 });
    expect(pair([2, 1, 5], [2, 3, 5], [2, 3, 5])).toBeUndefined();
    expect(pair([2, 1, 1], [1, 1, 5], [2, 3, 5])).toBeUndefined();
  });
});

describe('adjacentReduction', () => {
  it('collapses adjacent axes to [outer, mid, inner]', () => {
    expect(adjacentReduction([2, 3, 4, 5], [1, 2])).toEqual({ outer: 2, mid: 12, inner: 5 });
    expect(adjacentReduction([10, 64], [0])).toEqual({ outer: 1, mid: 10, inner: 64 });
    expect(adjacentReduction([10, 64], [1])).toEqual({ outer: 10, mid: 64, inner: 1 });
    expect(adjacentReduction([10, 64], [0, 1])).toEqual({ outer: 1, mid: 640, inner: 1 });
  });

  it('refuses axes with a gap, and no axes', () => {
    expect(adjacentReduction([2, 3, 4], [0, 2])).toBeUndefined();
    expect(adjacentReduction([2, 3, 4], [])).toBeUndefined();
  });
});
