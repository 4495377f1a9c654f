import { type Tensor, tensor } from '@tapegrad/core';

/**
 * L-BFGS and Newton-CG are vector algorithms: inner products, norms and axpy over θ as a
 * whole. They see the parameter list as one float64 vector (the tensors' values
 * concatenated in order), so the curvature bookkeeping keeps float64 precision even for
 * float32 models, and writes back into the tensors only to evaluate or update them.
 */

export function concatValues(tensors: readonly Tensor[]): Float64Array {
  const out = new Float64Array(tensors.reduce((n, t) => n + t.size, 0));
  let offset = 0;
  for (const t of tensors) {
    out.set(t.data, offset);
    offset += t.size;
  }
  return out;
}

/** Writes the vector back into the parameters, in place (rounding to float32 where they are). */
export function assignValues(params: readonly Tensor[], values: Float64Array): void {
  let offset = 0;
  for (const p of params) {
    p.assign(values.subarray(offset, offset + p.size));
    offset += p.size;
  }
}

/** The vector cut into tensors shaped and typed like `like` (directions for hvp). */
export function splitValues(values: Float64Array, like: readonly Tensor[]): Tensor[] {
  let offset = 0;
  return like.map((t) => {
    const part = tensor(values.subarray(offset, offset + t.size), { shape: [...t.shape], dtype: t.dtype });
    offset += t.size;
    return part;
  });
}

export function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

export function maxAbs(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** x + t·d as a new vector. */
export function axpy(x: Float64Array, t: number, d: Float64Array): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] + t * d[i];
  return out;
}

export function scaled(a: Float64Array, t: number): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = t * a[i];
  return out;
}

/** Whether a step keeps the same parameter tensors, so state built on the old list still applies. */
export function sameTensors(a: readonly Tensor[] | null, b: readonly Tensor[]): boolean {
  return a !== null && a.length === b.length && a.every((t, i) => t === b[i]);
}
