import { ShapeError, type Tensor, ValueError } from '@tapegrad/core';
import { blank } from './types.js';

/**
 * Input normalisation, per feature (per row of an examples-as-columns matrix). Fit the
 * statistics on the training set and apply the same statistics to test and new data:
 *
 * ```ts
 * const { x: trainX, stats } = standardize(train.x);
 * const { x: testX } = standardize(test.x, stats);
 * ```
 *
 * The statistics are plain Float64Arrays (one entry per feature), so they serialise with
 * `Array.from` and can be stored next to a model's weights.
 */
export interface StandardizeStats {
  mean: Float64Array;
  /** Population standard deviation (divides by N); 0 marks a constant feature. */
  std: Float64Array;
}

/** Per-feature minimum and maximum, fitted by minMaxScale on one set and applied to another. */
export interface MinMaxStats {
  min: Float64Array;
  max: Float64Array;
}

function rowsOf(op: string, x: Tensor): [number, number] {
  if (x.rank !== 2) throw new ShapeError(op, `expects a [features, N] matrix, got shape [${x.shape.join(',')}]`);
  return [x.shape[0], x.shape[1]];
}

function checkStats(op: string, features: number, a: Float64Array, b: Float64Array, names: string): void {
  if (a.length !== features || b.length !== features) {
    throw new ShapeError(op, `statistics for ${a.length} features (${names}) do not fit a matrix of ${features} features`);
  }
}

/** Per-feature mean, standard deviation, minimum and maximum, in float64. */
function fitRows(op: string, x: Tensor): { mean: Float64Array; std: Float64Array; min: Float64Array; max: Float64Array } {
  const [features, n] = rowsOf(op, x);
  if (n === 0) throw new ValueError(op, 'cannot fit statistics on zero examples');
  const data = x.data;
  const mean = new Float64Array(features);
  const std = new Float64Array(features);
  const min = new Float64Array(features);
  const max = new Float64Array(features);
  for (let f = 0, at = 0; f < features; f++, at += n) {
    let sum = 0;
    let lo = Infinity;
    let hi = -Infinity;
    for (let m = 0; m < n; m++) {
      const v = data[at + m];
      sum += v;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (!Number.isFinite(sum)) throw new ValueError(op, `feature ${f} holds a non-finite value`);
    const mu = sum / n;
    // two passes: Σ(x−μ)² does not cancel the way Σx² − Nμ² does
    let squares = 0;
    for (let m = 0; m < n; m++) squares += (data[at + m] - mu) ** 2;
    mean[f] = mu;
    // exactly constant is decided on min = max, not on a variance that rounding makes 1e-34
    std[f] = lo === hi ? 0 : Math.sqrt(squares / n);
    min[f] = lo;
    max[f] = hi;
  }
  return { mean, std, min, max };
}

/** (v − offset) / scale row by row, into a new tensor of x's dtype; a row whose scale is 0 becomes 0. */
function affineRows(x: Tensor, offset: Float64Array, scale: Float64Array): Tensor {
  const [features, n] = x.shape;
  const data = x.data;
  const { tensor: result, data: out } = blank([features, n], x.dtype);
  for (let f = 0, at = 0; f < features; f++, at += n) {
    const o = offset[f];
    const s = scale[f];
    if (s === 0) continue; // a constant feature carries no information: leave it at 0
    for (let m = 0; m < n; m++) out[at + m] = (data[at + m] - o) / s;
  }
  return result;
}

/**
 * Zero mean and unit variance per feature: (x − mean) / std. With `stats`, applies them
 * (fitted on the training set) instead of fitting. A feature that is constant in the fitted
 * data (std 0, like MNIST's border pixels) maps to 0 everywhere, not to NaN or ±∞.
 */
export function standardize(x: Tensor, stats?: StandardizeStats): { x: Tensor; stats: StandardizeStats } {
  const [features] = rowsOf('standardize', x);
  let fitted: StandardizeStats;
  if (stats) {
    checkStats('standardize', features, stats.mean, stats.std, 'mean, std');
    fitted = stats;
  } else {
    const { mean, std } = fitRows('standardize', x);
    fitted = { mean, std };
  }
  return { x: affineRows(x, fitted.mean, fitted.std), stats: fitted };
}

/**
 * Rescales each feature to [0, 1] by the fitted minimum and maximum: (x − min) / (max − min).
 * With `stats`, applies them; new data outside the fitted range lands outside [0, 1]. A
 * feature constant in the fitted data maps to 0.
 */
export function minMaxScale(x: Tensor, stats?: MinMaxStats): { x: Tensor; stats: MinMaxStats } {
  const [features] = rowsOf('minMaxScale', x);
  let fitted: MinMaxStats;
  if (stats) {
    checkStats('minMaxScale', features, stats.min, stats.max, 'min, max');
    fitted = stats;
  } else {
    const { min, max } = fitRows('minMaxScale', x);
    fitted = { min, max };
  }
  const range = fitted.max.map((hi, f) => hi - fitted.min[f]);
  return { x: affineRows(x, fitted.min, range), stats: fitted };
}

/**
 * Area-weighted box filter from a width × height image to side × side: each output pixel
 * is the mean of the source area it covers, with partial pixels weighted by their overlap.
 * Works both ways (down and up), and leaves a same-size image unchanged. The CLI's PNG input and
 * the playground's drawn digit both scale through it to MNIST's 28 × 28.
 */
export function boxResize(values: ArrayLike<number>, width: number, height: number, side: number): Float64Array {
  const out = new Float64Array(side * side);
  const sx = width / side;
  const sy = height / side;
  for (let oy = 0; oy < side; oy++) {
    const y0 = oy * sy;
    const y1 = y0 + sy;
    for (let ox = 0; ox < side; ox++) {
      const x0 = ox * sx;
      const x1 = x0 + sx;
      let sum = 0;
      let area = 0;
      for (let y = Math.floor(y0); y < Math.min(height, Math.ceil(y1)); y++) {
        const wy = Math.min(y + 1, y1) - Math.max(y, y0);
        for (let x = Math.floor(x0); x < Math.min(width, Math.ceil(x1)); x++) {
          const w = wy * (Math.min(x + 1, x1) - Math.max(x, x0));
          sum += w * values[y * width + x];
          area += w;
        }
      }
      out[oy * side + ox] = area > 0 ? sum / area : 0;
    }
  }
  return out;
}
