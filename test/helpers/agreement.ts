/**
 * How the backend property tests compare a backend's tensors with js's (the bound is derived
 * in test/ops.backends.property.test.ts's header).
 */
import { type Tensor, setBackend, vjp } from '@tapegrad/core';
import { expect } from 'vitest';
import { f64 } from './op-specs.js';

/** The smallest float32 subnormal: the absolute part of float32 rounding near zero. */
const eta = 2 ** -149;

export const maxAbs = (values: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < values.length; i++) m = Math.max(m, Math.abs(values[i]));
  return m;
};

export function expectBitIdentical(what: string, actual: Tensor, expected: Tensor): void {
  expect(actual.shape, `${what}: shape`).toEqual(expected.shape);
  expect(actual.dtype, `${what}: dtype`).toBe(expected.dtype);
  const a = actual.data, e = expected.data;
  for (let i = 0; i < e.length; i++) {
    if (!Object.is(a[i], e[i])) throw new Error(`${what}: element ${i} is ${a[i]}, js gives ${e[i]}; float64 must be bit-identical`);
  }
}

/** |b_i − j_i| ≤ rtol·(|j_i| + ‖j‖∞ + M_i + extra), see the header. */
export function expectClose(what: string, actual: Tensor, expected: Tensor, magnitude: Tensor, rtol: number, extra: number, k: number, underflow = eta): void {
  expect(actual.shape, `${what}: shape`).toEqual(expected.shape);
  expect(actual.dtype, `${what}: dtype`).toBe(expected.dtype);
  const a = actual.data, e = expected.data, m = magnitude.data;
  const norm = maxAbs(e);
  for (let i = 0; i < e.length; i++) {
    if (!Number.isFinite(e[i]) || !Number.isFinite(a[i])) {
      if (!Object.is(a[i], e[i])) throw new Error(`${what}: element ${i} is ${a[i]}, js gives ${e[i]}`);
      continue;
    }
    const allowed = rtol * (Math.abs(e[i]) + norm + Math.abs(m[i]) + extra) + k * underflow;
    const diff = Math.abs(a[i] - e[i]);
    if (!(diff <= allowed)) {
      throw new Error(`${what}: element ${i} is ${a[i]}, js gives ${e[i]}: off by ${diff.toExponential(3)} > allowed ${allowed.toExponential(3)} (rtol ${rtol.toExponential(3)})`);
    }
  }
}

export const absTensor = (t: Tensor) => f64(Array.from(t.data as ArrayLike<number>, Math.abs), t.shape);

/** A function's value and its VJP at a cotangent. */
export interface Evaluation { value: Tensor; grads: Tensor[] }

/** f's value and its VJP at cotangent r, with the given backend selected (js restored after). */
export function evaluate(backend: string, f: (...xs: Tensor[]) => Tensor, xs: Tensor[], r: Tensor): Evaluation {
  setBackend(backend);
  try {
    const [value, pullback] = vjp(f, ...xs);
    return { value, grads: pullback(r) };
  } finally {
    setBackend('js');
  }
}
