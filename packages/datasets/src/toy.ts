import { type DType, type Rng, type Tensor, ValueError, createRng } from '@tapegrad/core';
import { type DTypeOptions, blank, checkDType, oneHotOnCpu } from './types.js';

/**
 * A two-class toy set, examples as columns: `x` [features, N], `y` the binary targets
 * [1, N] (for a sigmoid output), `yOneHot` the same as [2, N] (for a softmax output) and
 * `labels` 0/1. Toy sets default to float64, the dtype of gradient checks.
 */
export interface BinaryDataset {
  x: Tensor;
  y: Tensor;
  yOneHot: Tensor;
  labels: Uint8Array;
}

/** Options of the noisy toy sets (moons, two spirals): noise, seed and dtype. */
export interface NoisyToyOptions extends DTypeOptions {
  /** Standard deviation of the Gaussian noise added to each coordinate (default 0). */
  noise?: number;
  /** Seed of the mulberry32 generator the noise is drawn from (default 0). */
  seed?: number;
}

function binary(rows: number[][], labels: Uint8Array, dtype: DType): BinaryDataset {
  const n = labels.length;
  const x = blank([rows.length, n], dtype);
  rows.forEach((row, f) => x.data.set(row, f * n));
  const y = blank([1, n], dtype);
  y.data.set(labels);
  return {
    x: x.tensor,
    y: y.tensor,
    yOneHot: oneHotOnCpu(labels, 2, dtype),
    labels,
  };
}

function checkCount(op: string, count: number): void {
  if (!Number.isInteger(count) || count < 0) throw new ValueError(op, `count must be a non-negative integer, got ${count}`);
}

function noiseOf(op: string, options: NoisyToyOptions): { noise: number; rng: Rng } {
  const noise = options.noise ?? 0;
  if (!Number.isFinite(noise) || noise < 0) throw new ValueError(op, `noise must be a finite standard deviation ≥ 0, got ${noise}`);
  return { noise, rng: createRng(options.seed ?? 0) };
}

/** The four XOR examples as columns (0,0), (0,1), (1,0), (1,1) with targets 0, 1, 1, 0. */
export function xor(options: DTypeOptions = {}): BinaryDataset {
  const dtype = checkDType('xor', options.dtype ?? 'float64');
  return binary([[0, 0, 1, 1], [0, 1, 0, 1]], Uint8Array.of(0, 1, 1, 0), dtype);
}

/** One day of seed 000's "go to sports" question, unscaled. */
export interface SportsDay {
  /** °C, a whole number in [−5, 35]. */
  temperature: number;
  /** 1 = slept well last night. */
  slept: number;
  /** 1 = lots of homework. */
  homework: number;
  /** 1 = went to sports. */
  go: number;
}

/**
 * Seed 000's "go to sports" data: per day the temperature (°C, scaled as (t − 15)/20 to
 * about [−1, 1]), slept well 0/1 and lots of homework 0/1, as the rows of x [3, count].
 * The rule behind the labels, hidden from the network: we go when at least two of
 * "pleasant temperature (10–28 °C)", "slept well" and "little homework" hold.
 * Each day draws three uniforms from mulberry32(seed): temperature, slept, homework.
 */
export function sports(count: number, seed = 0, options: DTypeOptions = {}): BinaryDataset & { days: SportsDay[] } {
  checkCount('sports', count);
  const dtype = checkDType('sports', options.dtype ?? 'float64');
  const rng = createRng(seed);
  const days = Array.from({ length: count }, (): SportsDay => {
    const temperature = Math.round(-5 + 40 * rng.next());
    const slept = rng.next() < 0.5 ? 1 : 0;
    const homework = rng.next() < 0.5 ? 1 : 0;
    const pleasant = temperature >= 10 && temperature <= 28 ? 1 : 0;
    const go = pleasant + slept + (1 - homework) >= 2 ? 1 : 0;
    return { temperature, slept, homework, go };
  });
  const rows = [days.map((d) => (d.temperature - 15) / 20), days.map((d) => d.slept), days.map((d) => d.homework)];
  return { ...binary(rows, Uint8Array.from(days, (d) => d.go), dtype), days };
}

/** Classes alternate, example m having class m mod 2, so every prefix is balanced. */
function classCounts(count: number): [number, number] {
  return [Math.ceil(count / 2), Math.floor(count / 2)];
}

/**
 * Two classes on two curves, alternating (example m has class m mod 2, the k-th of its
 * class with k = ⌊m/2⌋): `point` places it, then Gaussian noise of sd `noise` is added to
 * each coordinate, two draws per example in column order.
 */
function alternatingCurves(
  op: string, count: number, options: NoisyToyOptions, dtype: DType,
  point: (cls: number, k: number, perClass: number) => [number, number],
): BinaryDataset {
  const { noise, rng } = noiseOf(op, options);
  const perClass = classCounts(count);
  const u: number[] = [];
  const v: number[] = [];
  const labels = new Uint8Array(count);
  for (let m = 0; m < count; m++) {
    const c = m % 2;
    const [a, b] = point(c, Math.floor(m / 2), perClass[c]);
    u.push(a + (noise > 0 ? noise * rng.normal() : 0));
    v.push(b + (noise > 0 ? noise * rng.normal() : 0));
    labels[m] = c;
  }
  return binary([u, v], labels, dtype);
}

/**
 * Two interleaved spirals in the plane, x [2, count]. Point k of class c (of n_c) sits at
 * s = (k + ½)/n_c along its arm: radius s, angle 2π·turns·s + c·π, so class 1 is class 0
 * turned by half a circle. Then Gaussian noise of sd `noise` is added to each coordinate,
 * two draws per example in column order. Classes alternate: example m has class m mod 2.
 */
export function twoSpirals(count: number, options: NoisyToyOptions & { turns?: number } = {}): BinaryDataset {
  checkCount('twoSpirals', count);
  const dtype = checkDType('twoSpirals', options.dtype ?? 'float64');
  const turns = options.turns ?? 1.5;
  if (!Number.isFinite(turns) || turns <= 0) throw new ValueError('twoSpirals', `turns must be positive, got ${turns}`);
  return alternatingCurves('twoSpirals', count, options, dtype, (c, k, perClass) => {
    const s = (k + 0.5) / perClass;
    const angle = 2 * Math.PI * turns * s + c * Math.PI;
    return [s * Math.cos(angle), s * Math.sin(angle)];
  });
}

/**
 * scikit-learn's two moons, x [2, count]: class 0 on the upper half circle (cos θ, sin θ),
 * class 1 on the lower one (1 − cos θ, ½ − sin θ), θ evenly spaced over [0, π] within each
 * class; then Gaussian noise of sd `noise` on each coordinate, two draws per example in
 * column order. Classes alternate: example m has class m mod 2.
 */
export function moons(count: number, options: NoisyToyOptions = {}): BinaryDataset {
  checkCount('moons', count);
  const dtype = checkDType('moons', options.dtype ?? 'float64');
  return alternatingCurves('moons', count, options, dtype, (c, k, perClass) => {
    const theta = perClass > 1 ? (Math.PI * k) / (perClass - 1) : 0;
    return c === 0 ? [Math.cos(theta), Math.sin(theta)] : [1 - Math.cos(theta), 0.5 - Math.sin(theta)];
  });
}
