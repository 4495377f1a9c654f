import { describe, expect, it } from 'vitest';
import { ValueError, createRng } from '@tapegrad/core';
import { moons, sports, twoSpirals, xor } from '@tapegrad/datasets';

const columns = (x: { toArray(): unknown }) => {
  const [u, v] = x.toArray() as number[][];
  return u.map((_, m) => [u[m], v[m]]);
};

describe('xor', () => {
  it('the four examples as columns, float64 by default', () => {
    const { x, y, yOneHot, labels } = xor();
    expect(x.shape).toEqual([2, 4]);
    expect(x.dtype).toBe('float64');
    expect(x.toArray()).toEqual([[0, 0, 1, 1], [0, 1, 0, 1]]);
    expect(y.toArray()).toEqual([[0, 1, 1, 0]]);
    expect(yOneHot.toArray()).toEqual([[1, 0, 0, 1], [0, 1, 1, 0]]);
    expect(Array.from(labels)).toEqual([0, 1, 1, 0]);
    expect(xor({ dtype: 'float32' }).y.dtype).toBe('float32');
  });
});

describe('sports: seed 000\'s "go to sports" days', () => {
  it('seed 0: the first five days, scaled features and labels', () => {
    const { x, y, days, labels } = sports(5, 0);
    expect(days).toEqual([
      { temperature: 6, slept: 1, homework: 1, go: 0 },
      { temperature: 1, slept: 1, homework: 0, go: 1 },
      { temperature: 20, slept: 0, homework: 1, go: 0 },
      { temperature: 18, slept: 1, homework: 1, go: 1 },
      { temperature: 31, slept: 1, homework: 0, go: 1 },
    ]);
    expect(x.shape).toEqual([3, 5]);
    const [temperature, slept, homework] = x.toArray() as number[][];
    expect(temperature).toEqual([-0.45, -0.7, 0.25, 0.15, 0.8].map((v) => expect.closeTo(v, 15)));
    expect(slept).toEqual([1, 1, 0, 1, 1]);
    expect(homework).toEqual([1, 0, 1, 1, 0]);
    expect(y.toArray()).toEqual([[0, 1, 0, 1, 1]]);
    expect(Array.from(labels)).toEqual([0, 1, 0, 1, 1]);
  });

  it('every label follows the rule: go when two of pleasant (10–28 °C), slept well, little homework hold', () => {
    const { days, x } = sports(1000, 3);
    for (const d of days) {
      expect(d.temperature).toBeGreaterThanOrEqual(-5);
      expect(d.temperature).toBeLessThanOrEqual(35);
      const votes = Number(d.temperature >= 10 && d.temperature <= 28) + d.slept + (1 - d.homework);
      expect(d.go).toBe(votes >= 2 ? 1 : 0);
    }
    const temps = (x.toArray() as number[][])[0];
    expect(Math.min(...temps)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...temps)).toBeLessThanOrEqual(1);
    expect(sports(1000, 0).labels.reduce((a, b) => a + b, 0)).toBe(485);
  });

  it('is a function of the seed', () => {
    expect(sports(50, 9).days).toEqual(sports(50, 9).days);
    expect(sports(50, 9).days).not.toEqual(sports(50, 10).days);
  });
});

describe('twoSpirals', () => {
  it('noise-free points lie on their arm: radius s = (k + ½)/n_c, angle 2π·turns·s + c·π', () => {
    const count = 101;
    const { x, y, yOneHot, labels } = twoSpirals(count, { turns: 1.5 });
    expect(x.shape).toEqual([2, count]);
    expect(y.shape).toEqual([1, count]);
    expect(yOneHot.shape).toEqual([2, count]);
    const perClass = [51, 50];
    columns(x).forEach(([u, v], m) => {
      const c = m % 2;
      const s = (Math.floor(m / 2) + 0.5) / perClass[c];
      expect(labels[m]).toBe(c);
      expect(Math.hypot(u, v)).toBeCloseTo(s, 14);
      const angle = 2 * Math.PI * 1.5 * s + c * Math.PI;
      expect(u).toBeCloseTo(s * Math.cos(angle), 14);
      expect(v).toBeCloseTo(s * Math.sin(angle), 14);
    });
    // two points: s = ½, angle 2π·1.5·½ = 1.5π → (0, −½), and its mirror (0, ½)
    expect(columns(twoSpirals(2).x)).toEqual([[expect.closeTo(0, 15), -0.5], [expect.closeTo(0, 15), expect.closeTo(0.5, 15)]]);
  });

  it('class 1 is class 0 turned by half a circle', () => {
    const pts = columns(twoSpirals(40).x);
    for (let k = 0; k < 20; k++) {
      expect(pts[2 * k + 1][0]).toBeCloseTo(-pts[2 * k][0], 14);
      expect(pts[2 * k + 1][1]).toBeCloseTo(-pts[2 * k][1], 14);
    }
  });

  it('noise: two normals per example from mulberry32(seed), u then v', () => {
    const clean = columns(twoSpirals(30).x);
    const noisy = columns(twoSpirals(30, { noise: 0.1, seed: 1 }).x);
    const rng = createRng(1);
    noisy.forEach(([u, v], m) => {
      expect(u - clean[m][0]).toBeCloseTo(0.1 * rng.normal(), 14);
      expect(v - clean[m][1]).toBeCloseTo(0.1 * rng.normal(), 14);
    });
    // six points: the first sits at s = 1/6, angle π/2, i.e. (0, 1/6), before the noise
    const [u, v] = twoSpirals(6, { noise: 0.1, seed: 1 }).x.toArray() as number[][];
    expect([u[0], v[0]]).toEqual([expect.closeTo(0.14043387784152636, 15), expect.closeTo(0.28824212859372045, 15)]);
  });
});

describe('moons', () => {
  it("noise-free: scikit-learn's half circles, classes alternating", () => {
    const { x, labels, y } = moons(6);
    const pts = columns(x);
    const t = [0, Math.PI / 2, Math.PI];
    for (let k = 0; k < 3; k++) {
      expect(pts[2 * k]).toEqual([expect.closeTo(Math.cos(t[k]), 15), expect.closeTo(Math.sin(t[k]), 15)]);
      expect(pts[2 * k + 1]).toEqual([expect.closeTo(1 - Math.cos(t[k]), 15), expect.closeTo(0.5 - Math.sin(t[k]), 15)]);
    }
    expect(pts[0]).toEqual([1, 0]);
    expect(pts[1]).toEqual([0, 0.5]);
    expect(Array.from(labels)).toEqual([0, 1, 0, 1, 0, 1]);
    expect(y.toArray()).toEqual([[0, 1, 0, 1, 0, 1]]);
  });

  it('noise: the same draws as twoSpirals, added to the half circles', () => {
    const { x } = moons(6, { noise: 0.1, seed: 1 });
    const [u, v] = x.toArray() as number[][];
    expect(u[0]).toBeCloseTo(1.1404338778415264, 15);
    expect(v[0]).toBeCloseTo(0.12157546192705378, 15);
    expect(u[5]).toBeCloseTo(2.0297884614336357, 15);
    const rng = createRng(1);
    const clean = columns(moons(6).x);
    columns(x).forEach(([a, b], m) => {
      expect(a - clean[m][0]).toBeCloseTo(0.1 * rng.normal(), 14);
      expect(b - clean[m][1]).toBeCloseTo(0.1 * rng.normal(), 14);
    });
  });

  it('one-hot variant, dtype option, and an odd count', () => {
    const { yOneHot, x } = moons(5, { dtype: 'float32' });
    expect(x.dtype).toBe('float32');
    expect(yOneHot.dtype).toBe('float32');
    expect(yOneHot.toArray()).toEqual([[1, 0, 1, 0, 1], [0, 1, 0, 1, 0]]);
  });

  it('refuses a negative noise or count', () => {
    expect(() => moons(10, { noise: -1 })).toThrow(new ValueError('moons', 'noise must be a finite standard deviation ≥ 0, got -1'));
    expect(() => twoSpirals(-2)).toThrow(new ValueError('twoSpirals', 'count must be a non-negative integer, got -2'));
    expect(() => sports(1.5)).toThrow('sports: count must be a non-negative integer, got 1.5');
  });
});
