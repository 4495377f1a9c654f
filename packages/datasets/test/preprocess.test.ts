import { describe, expect, it } from 'vitest';
import { ShapeError, ValueError, tensor } from '@tapegrad/core';
import { loadMnist, minMaxScale, standardize } from '@tapegrad/datasets';

// Three features over four examples (columns); the last feature is constant.
const train = tensor([[1, 2, 3, 6], [-10, 0, 10, 20], [5, 5, 5, 5]], { dtype: 'float64' });
const test = tensor([[4, 0], [5, -5], [7, 5]], { dtype: 'float64' });

describe('standardize', () => {
  it('fits the per-feature mean and population std on train', () => {
    const { x, stats } = standardize(train);
    expect(Array.from(stats.mean)).toEqual([3, 5, 5]);
    // feature 0: deviations −2, −1, 0, 3 → variance 14/4; feature 1: −15, −5, 5, 15 → 500/4
    expect(stats.std[0]).toBeCloseTo(Math.sqrt(3.5), 15);
    expect(stats.std[1]).toBeCloseTo(Math.sqrt(125), 13);
    expect(stats.std[2]).toBe(0);
    const rows = x.toArray() as number[][];
    expect(rows[0].map((v) => v * Math.sqrt(3.5))).toEqual([-2, -1, 0, 3].map((v) => expect.closeTo(v, 12)));
    expect(rows[1].map((v) => v * Math.sqrt(125))).toEqual([-15, -5, 5, 15].map((v) => expect.closeTo(v, 12)));
    expect(rows[2]).toEqual([0, 0, 0, 0]); // constant: 0, not NaN
    for (const row of rows.slice(0, 2)) {
      const mean = row.reduce((a, b) => a + b) / row.length;
      const variance = row.reduce((a, b) => a + (b - mean) ** 2, 0) / row.length;
      expect(mean).toBeCloseTo(0, 14);
      expect(variance).toBeCloseTo(1, 14);
    }
  });

  it("applies train's statistics to test; a feature constant in train stays 0 whatever test holds", () => {
    const { stats } = standardize(train);
    const { x, stats: same } = standardize(test, stats);
    expect(same).toBe(stats);
    const rows = x.toArray() as number[][];
    expect(rows[0][0]).toBeCloseTo(1 / Math.sqrt(3.5), 14);
    expect(rows[0][1]).toBeCloseTo(-3 / Math.sqrt(3.5), 14);
    expect(rows[1][1]).toBeCloseTo(-10 / Math.sqrt(125), 14);
    expect(rows[2]).toEqual([0, 0]);
  });

  it('keeps the dtype, float32 included, and does not touch its input', () => {
    const x32 = tensor([[1, 3], [2, 2]]);
    const { x } = standardize(x32);
    expect(x.dtype).toBe('float32');
    expect(x.toArray()).toEqual([[-1, 1], [0, 0]]);
    expect(x32.toArray()).toEqual([[1, 3], [2, 2]]);
  });

  it('MNIST: border pixels are constant in train (0 after, never NaN); the others have mean 0, std 1', () => {
    const { train: tr, test: te } = loadMnist({ dtype: 'float64' });
    const { x, stats } = standardize(tr.x);
    const constant = Array.from(stats.std).filter((s) => s === 0).length;
    expect(constant).toBe(117);
    expect(stats.std[0]).toBe(0); // the top-left pixel is never inked
    expect(stats.mean[400]).toBeCloseTo(0.28767759, 7);
    expect(stats.std[400]).toBeCloseTo(0.40810836, 7);
    const n = tr.x.shape[1];
    for (const p of [400, 500, 202]) {
      let s = 0, q = 0;
      for (let m = 0; m < n; m++) s += x.data[p * n + m];
      for (let m = 0; m < n; m++) q += (x.data[p * n + m] - s / n) ** 2;
      expect(s / n).toBeCloseTo(0, 12);
      expect(q / n).toBeCloseTo(1, 12);
    }
    const applied = standardize(te.x, stats).x;
    let nonFinite = 0;
    for (const v of applied.data) if (!Number.isFinite(v)) nonFinite++;
    expect(nonFinite).toBe(0);
  });

  it('refuses misfit statistics, non-matrices and empty fits', () => {
    const { stats } = standardize(train);
    expect(() => standardize(tensor([[1, 2]]), stats)).toThrow(
      new ShapeError('standardize', 'statistics for 3 features (mean, std) do not fit a matrix of 1 features'),
    );
    expect(() => standardize(tensor([1, 2, 3]))).toThrow('standardize: expects a [features, N] matrix, got shape [3]');
    expect(() => standardize(tensor([[], []]))).toThrow(new ValueError('standardize', 'cannot fit statistics on zero examples'));
  });
});

describe('minMaxScale', () => {
  it('fits min and max per feature and maps them to 0 and 1', () => {
    const { x, stats } = minMaxScale(train);
    expect(Array.from(stats.min)).toEqual([1, -10, 5]);
    expect(Array.from(stats.max)).toEqual([6, 20, 5]);
    expect(x.toArray()).toEqual([[0, 0.2, 0.4, 1], [0, 1 / 3, 2 / 3, 1], [0, 0, 0, 0]]);
  });

  it("applies train's range to test, which may land outside [0, 1]", () => {
    const { stats } = minMaxScale(train);
    expect(minMaxScale(test, stats).x.toArray()).toEqual([[0.6, -0.2], [0.5, 1 / 6], [0, 0]]);
  });

  it('MNIST train pixels already span [0, 1] where they vary', () => {
    const { train: tr } = loadMnist();
    const { stats } = minMaxScale(tr.x);
    expect(Math.min(...stats.min)).toBe(0);
    expect(Math.max(...stats.max)).toBe(1);
    expect(Array.from(stats.max).filter((v) => v === 0).length).toBe(117);
  });
});
