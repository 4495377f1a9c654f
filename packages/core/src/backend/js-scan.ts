import type { TypedArray } from '../dtype.js';
import type { ArgReduceKernel } from './backend.js';

/**
 * Kernels along one axis that keep or find positions rather than collapse values: running
 * sums (cumsum) and arg-reductions. x is seen as [outer, axisSize, inner]; element k of
 * the axis at (o, i) sits at (o·axisSize + k)·inner + i.
 */

export function cumsum(x: TypedArray, outer: number, axisSize: number, inner: number, reverse: boolean, exclusive: boolean, out: TypedArray): void {
  // one running sum per inner position, in double precision, walking rows of inner
  // contiguous elements so the memory access stays sequential
  const acc = new Float64Array(inner);
  const step = reverse ? -inner : inner;
  for (let o = 0; o < outer; o++) {
    acc.fill(0);
    let row = o * axisSize * inner + (reverse ? (axisSize - 1) * inner : 0);
    for (let k = 0; k < axisSize; k++, row += step) {
      if (exclusive) {
        for (let i = 0; i < inner; i++) {
          out[row + i] = acc[i];
          acc[i] += x[row + i];
        }
      } else {
        for (let i = 0; i < inner; i++) out[row + i] = acc[i] += x[row + i];
      }
    }
  }
}

export function argReduce(kernel: ArgReduceKernel, x: TypedArray, outer: number, axisSize: number, inner: number, out: TypedArray): void {
  const max = kernel === 'argmax';
  for (let o = 0; o < outer; o++) {
    const base = o * axisSize * inner;
    for (let i = 0; i < inner; i++) {
      let best = x[base + i], at = 0;
      // NaN wins, as in NumPy and PyTorch: the index points at what max/min return
      for (let k = 1; k < axisSize && best === best; k++) {
        const v = x[base + k * inner + i];
        if (v !== v || (max ? v > best : v < best)) {
          best = v;
          at = k;
        }
      }
      out[o * inner + i] = at;
    }
  }
}
