import type { TypedArray } from '../dtype.js';
import type { Backend } from './backend.js';

/**
 * Backend.matmulBatched as a loop of single products on views (subarray copies nothing):
 * the js backend's implementation, and the fallback of a backend whose kernel would gain
 * nothing from seeing the batch at once (or has none yet).
 */
export function matmulEachBatch(
  matmul: Backend['matmul'], a: TypedArray, b: TypedArray, out: TypedArray, m: number, k: number, n: number,
  transposeA: boolean, transposeB: boolean, aOffsets: Int32Array, bOffsets: Int32Array,
): void {
  const aSize = m * k, bSize = k * n, cSize = m * n;
  for (let i = 0; i < aOffsets.length; i++) {
    matmul(a.subarray(aOffsets[i], aOffsets[i] + aSize), b.subarray(bOffsets[i], bOffsets[i] + bSize),
      out.subarray(i * cSize, (i + 1) * cSize), m, k, n, transposeA, transposeB);
  }
}
