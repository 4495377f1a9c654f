/**
 * The functions the js backend's element-wise kernels need that Math lacks: erf and
 * rounding half to even. Float64, accurate to the last bits (erf ≤ 3 ulp, measured against
 * 40-digit values), since js is the reference the other backends are tested against.
 */

const TWO_OVER_SQRT_PI = 1.1283791670955126; // 2/√π
const INV_SQRT_PI = 0.5641895835477563; // 1/√π
/** 2²⁷ + 1: Dekker's splitter, cutting a double into two halves whose products are exact. */
const SPLITTER = 134217729;

/**
 * e^(−x²), without the error of rounding x² first: x² = hi + lo exactly (Dekker's product),
 * and e^(−hi − lo) = e^(−hi)·(1 − lo) to double precision since |lo| ≤ 2⁻⁵³·hi is tiny.
 * Rounding x² alone would cost up to x²·2⁻⁵³ relative, 18 ulp at x = 6.
 */
function expMinusSquare(x: number): number {
  const c = SPLITTER * x;
  const xh = c - (c - x), xl = x - xh;
  const hi = x * x;
  const lo = xh * xh - hi + 2 * xh * xl + xl * xl;
  return Math.exp(-hi) * (1 - lo);
}

/** 1/(2n + 1) and 1/n for the series below: a multiplication per term instead of a division. */
const ODD_RECIPROCALS = Float64Array.from({ length: 34 }, (_, n) => 1 / (2 * n + 1));
const RECIPROCALS = Float64Array.from({ length: 18 }, (_, n) => 1 / n);

/**
 * erf(x) for |x| < 1: the Maclaurin series 2/√π·Σ (−1)ⁿx²ⁿ⁺¹/(n!(2n + 1)), 18 terms (the
 * last ≤ 1/(17!·35) ≈ 8·10⁻¹⁷ of the first), summed from the innermost term outwards so each
 * rounding is damped by the factors after it. Terms only shrink, so cancellation is mild.
 */
function erfMaclaurin(x: number): number {
  const t = x * x;
  let s = ODD_RECIPROCALS[17];
  for (let n = 17; n >= 1; n--) s = ODD_RECIPROCALS[n - 1] - t * RECIPROCALS[n] * s;
  return TWO_OVER_SQRT_PI * x * s;
}

/**
 * erf(x) for 1 ≤ x < 2: 2/√π·e^(−x²)·Σ 2ⁿx²ⁿ⁺¹/(1·3···(2n + 1)) (Kummer's transform of the
 * series above), whose terms are all positive: no cancellation where the Maclaurin terms
 * would grow to 2.7 before shrinking. 33 terms reach 10⁻¹⁷ relative at x = 2.
 */
function erfPositiveSeries(x: number): number {
  const t2 = 2 * x * x;
  let s = 1;
  for (let n = 32; n >= 1; n--) s = 1 + t2 * ODD_RECIPROCALS[n] * s;
  return TWO_OVER_SQRT_PI * expMinusSquare(x) * x * s;
}

/**
 * erfc(x) for 2 ≤ x < 6: e^(−x²)/√π · 1/(x + ½/(x + 1/(x + (3/2)/(x + …)))), Laplace's
 * continued fraction, evaluated from the tail up: one division a step. It converges faster as
 * x grows; 12 + 170/x² steps (55 at x = 2, 17 at x = 6) keep erf within 1 ulp, where 8 + 120/x²
 * already gives 2.5 ulp (measured while writing it). All terms are positive: nothing vanishes.
 */
function erfcContinuedFraction(x: number): number {
  let f = x;
  for (let n = Math.ceil(12 + 170 / (x * x)); n >= 1; n--) f = x + n / 2 / f;
  return (expMinusSquare(x) * INV_SQRT_PI) / f;
}

/**
 * The error function, float64, odd, erf(±∞) = ±1, erf(NaN) = NaN, erf(−0) = −0. At most 2.6 ulp
 * from the exact value over 6,300 points of [−7, 7] and (10⁻³⁰⁰, 1) (checked against mpmath at
 * 40 digits while writing it; test/ops.property.test.ts holds known values to 10⁻¹⁴).
 * From |x| ≥ 6 the value is ±1: erfc(5.93) is already below half an ulp of 1.
 */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 1) return erfMaclaurin(x);
  if (!(ax < 6)) return ax === ax ? Math.sign(x) : x;
  const r = ax < 2 ? erfPositiveSeries(ax) : 1 - erfcContinuedFraction(ax);
  return x < 0 ? -r : r;
}

/**
 * Rounds to the nearest integer, halves to the even one (IEEE's roundTiesToEven, as
 * PyTorch's round and NumPy's rint): 0.5 → 0, 1.5 → 2, 2.5 → 2, −0.5 → −0. Math.round
 * rounds halves up; its result r is off by one exactly when x was a half (r − x = ½,
 * exact for |x| ≥ ½ by Sterbenz) and r is odd.
 */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
