import type { TypedArray } from '../dtype.js';

/**
 * The indexing kernels (take and its adjoint). x is seen as [outer, axisSize, inner]; each
 * index selects one [inner] run, which is contiguous, so an embedding lookup (x [vocab, dim],
 * axis 0: outer = 1, inner = dim) is one row copy per index.
 */

/**
 * Below this run length a plain loop beats `out.set(x.subarray(…))`, whose cost is the
 * subarray object rather than the copy. Measured on float32 rows of a [50000, inner] table,
 * 4 MB gathered (Node 20, loaded 2-core machine, 20th percentile of 40): inner 8 loop 1.9 ms
 * vs set 13 ms, 16: 7–10 vs 12–13, 32: about even, 64: 12–13 vs 8–10, 256: 3.1–3.6 vs
 * 1.0, 1024: 2.4 vs 0.2.
 */
const COPY_WITH_SET_FROM = 32;

export function gather(x: TypedArray, outer: number, axisSize: number, inner: number, indices: Int32Array, out: TypedArray): void {
  const n = indices.length;
  let io = 0;
  for (let o = 0; o < outer; o++) {
    const base = o * axisSize * inner;
    if (inner >= COPY_WITH_SET_FROM) {
      for (let j = 0; j < n; j++, io += inner) {
        const from = base + indices[j] * inner;
        out.set(x.subarray(from, from + inner), io);
      }
    } else if (inner === 1) {
      for (let j = 0; j < n; j++) out[io++] = x[base + indices[j]];
    } else {
      for (let j = 0; j < n; j++) {
        for (let ix = base + indices[j] * inner, end = ix + inner; ix < end; ix++) out[io++] = x[ix];
      }
    }
  }
}

export function scatterAdd(dy: TypedArray, outer: number, axisSize: number, inner: number, indices: Int32Array, out: TypedArray): void {
  const n = indices.length;
  let id = 0;
  for (let o = 0; o < outer; o++) {
    const base = o * axisSize * inner;
    if (inner === 1) {
      for (let j = 0; j < n; j++) out[base + indices[j]] += dy[id++];
    } else {
      for (let j = 0; j < n; j++) {
        for (let io = base + indices[j] * inner, end = io + inner; io < end; io++) out[io] += dy[id++];
      }
    }
  }
}
