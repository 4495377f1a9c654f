/**
 * The testing kit tested: gradcheck's own accuracy (a central difference, error O(h²), so
 * ~1e-9 relative at the default step in float64), and property seeds (one per property,
 * FC_SEED to replay or explore).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { type Tensor, ValueError, exp, log, mul, sum, tanh, tensor } from '@tapegrad/core';
import { arb, checkGradients, gradcheck, propertySeed } from '@tapegrad/core/testing/properties';

const f64 = (data: number[], shape?: number[]) => tensor(data, { dtype: 'float64', shape });

/** The numeric derivative gradcheck estimated for a one-element input, and its error against the analytic one. */
function estimate(f: (x: Tensor) => Tensor, x0: number, eps?: number): { numeric: number; analytic: number; absError: number } {
  const report = gradcheck(f, [f64([x0])], { eps, raise: false });
  const worst = report.worst!;
  return { numeric: worst.numeric, analytic: worst.analytic, absError: worst.absError };
}

const cube = (x: Tensor) => mul(mul(x, x), x);

describe("gradcheck's own accuracy", () => {
  it('estimates d(x³)/dx as 3x² + h², the central difference exactly (a forward one would be 3x² + 3xh + h²)', () => {
    // ((x+h)³ − (x−h)³)/2h = 3x² + h² with no higher terms: the error is h², whatever x
    for (const [x, h] of [[2, 1e-2], [2, 1e-3], [-1.5, 1e-2], [0.7, 1e-3]]) {
      const { numeric, analytic } = estimate(cube, x, h);
      expect(analytic).toBe(3 * x * x);
      expect(numeric - analytic).toBeCloseTo(h * h, 9);
    }
  });

  it('the error falls as h²: a step 10× smaller is ~100× more accurate on exp and log', () => {
    for (const [f, x] of [[exp, 1], [log, 0.8], [exp, -2]] as const) {
      const coarse = estimate(f, x, 1e-2).absError;
      const fine = estimate(f, x, 1e-3).absError;
      // O(h) (a forward difference) would give a ratio of ~10
      expect(coarse / fine).toBeGreaterThan(90);
      expect(coarse / fine).toBeLessThan(110);
      // and the leading term is h²/6·f‴(x): e^x for exp, 2/x³ for log
      const third = f === exp ? Math.exp(x) : 2 / x ** 3;
      const { numeric, analytic } = estimate(f, x, 1e-2);
      // (the next term, h⁴/120·f⁽⁵⁾, is 1e-4 of it here)
      expect((numeric - analytic) / ((1e-4 / 6) * third)).toBeCloseTo(1, 3);
    }
  });

  it('at the default step (1e-6) it agrees with exact derivatives to ~1e-9 relative in float64', () => {
    for (const [f, x, derivative] of [
      [exp, 1.3, Math.exp(1.3)],
      [log, 0.8, 1 / 0.8],
      [cube, -1.7, 3 * 1.7 * 1.7],
    ] as const) {
      const { numeric, analytic } = estimate(f, x);
      expect(analytic).toBeCloseTo(derivative, 14);
      // rounding dominates at h = 1e-6: about ε·|f|/h ≈ 1e-10 relative; a forward difference's
      // truncation error h·f″/2 would be ~1e-6 relative
      expect(Math.abs(numeric - derivative) / Math.abs(derivative)).toBeLessThan(1e-8);
    }
  });

  it('so it passes correct gradients at a tolerance of 1e-7 relative, on every element of a tensor', () => {
    const report = gradcheck((x) => sum(mul(exp(x), tanh(x))), [f64([-1, -0.3, 0.2, 0.9, 1.6, 2.2], [2, 3])], { atol: 0, rtol: 1e-7 });
    expect(report.ok).toBe(true);
    expect(report.checked).toBe(6);
  });
});

describe('property seeds', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
  });

  it('differ per property and are the same on every run', () => {
    vi.stubEnv('FC_SEED', '');
    const seeds = ['add', 'sub', 'mul', 'div', 'exp'].map((name) => propertySeed(name));
    expect(new Set(seeds).size).toBe(5);
    expect(propertySeed('add')).toBe(seeds[0]);
    for (const s of seeds) expect(Number.isSafeInteger(s) && s >= 0).toBe(true);
    // a pinned seed replaces the hash
    expect(propertySeed('add', 42)).toBe(42);
  });

  it('FC_SEED=<n> runs every property with n, over a pinned seed too', () => {
    vi.stubEnv('FC_SEED', '1234');
    expect(propertySeed('add')).toBe(1234);
    expect(propertySeed('mul', 42)).toBe(1234);
  });

  it('FC_SEED=random draws a fresh seed and prints it for a replay', () => {
    vi.stubEnv('FC_SEED', 'random');
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const seed = propertySeed('softplus');
    expect(log).toHaveBeenCalledWith(`FC_SEED=random: property 'softplus' runs with seed ${seed} (replay: FC_SEED=${seed})`);
  });

  it('FC_SEED that is neither a number nor random is refused', () => {
    vi.stubEnv('FC_SEED', 'abc');
    expect(() => propertySeed('add')).toThrow(new ValueError('FC_SEED', "must be an integer or 'random', got 'abc'"));
  });

  it('checkGradients seeds by its name (or its function), and a failure names the seed to replay', () => {
    vi.stubEnv('FC_SEED', '');
    const wrong = (x: Tensor) => mul(x, x); // a correct gradient: we break the check instead
    const failing = () => checkGradients(wrong, [arb.tensor({ shape: [2] })], { name: 'square, checked too tightly', rtol: 0, atol: 0, eps: 1e-2, numRuns: 5 });
    expect(failing).toThrow(`seed: ${propertySeed('square, checked too tightly')}`);
    // FC_SEED reaches it too
    vi.stubEnv('FC_SEED', '777');
    expect(failing).toThrow('seed: 777');
    // without a name the function's source is hashed
    vi.stubEnv('FC_SEED', '');
    expect(() => checkGradients(wrong, [arb.tensor({ shape: [2] })], { rtol: 0, atol: 0, eps: 1e-2, numRuns: 5 }))
      .toThrow(`seed: ${propertySeed(wrong.toString())}`);
  });

  it('properties with different seeds draw different cases', () => {
    vi.stubEnv('FC_SEED', '');
    const draw = (name: string) => fc.sample(arb.shape(), { numRuns: 10, seed: propertySeed(name) }).map((s) => s.join('x')).join(' ');
    expect(draw('exp')).not.toBe(draw('log'));
    expect(draw('exp')).toBe(draw('exp'));
  });
});
