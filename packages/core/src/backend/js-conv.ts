import type { TypedArray } from '../dtype.js';
import type { ConvGeometry } from './backend.js';

/**
 * The convolution family of the reference backend: im2col (unfold) and col2im (fold), the
 * two kernels every convolution and pooling op is built from (ops/conv.ts). Both walk the
 * columns in their own storage order (n, c, i, j, oh, ow), so each output row of unfold is
 * written left to right and fold adds into each image element in one fixed order, which a
 * faster backend can repeat to give the same float32 sums.
 */

/**
 * The output columns ow whose input column ow·stride + offset lies inside [0, size):
 * [first, end). Everything before and after reads padding.
 */
function validRange(offset: number, stride: number, size: number, count: number): [number, number] {
  const first = offset >= 0 ? 0 : Math.min(count, Math.ceil(-offset / stride));
  const last = size - 1 - offset; // largest ow·stride allowed
  const end = last < 0 ? first : Math.max(first, Math.min(count, Math.floor(last / stride) + 1));
  return [first, end];
}

export function unfold(x: TypedArray, g: ConvGeometry, padValue: number, out: TypedArray): void {
  const { N, C, H, W, kH, kW, strideH, strideW, padH, padW, dilationH, dilationW, outH, outW } = g;
  const plane = H * W;
  let o = 0;
  for (let image = 0; image < N * C; image++) {
    const base = image * plane;
    for (let i = 0; i < kH; i++) {
      const rowOffset = i * dilationH - padH;
      for (let j = 0; j < kW; j++) {
        const colOffset = j * dilationW - padW;
        const [first, end] = validRange(colOffset, strideW, W, outW);
        for (let oh = 0; oh < outH; oh++, o += outW) {
          const ih = oh * strideH + rowOffset;
          if (ih < 0 || ih >= H) {
            out.fill(padValue, o, o + outW);
            continue;
          }
          if (first > 0) out.fill(padValue, o, o + first);
          const row = base + ih * W + colOffset;
          if (strideW === 1) for (let ow = first; ow < end; ow++) out[o + ow] = x[row + ow];
          else for (let ow = first, ix = row + first * strideW; ow < end; ow++, ix += strideW) out[o + ow] = x[ix];
          if (end < outW) out.fill(padValue, o + end, o + outW);
        }
      }
    }
  }
}

export function fold(cols: TypedArray, g: ConvGeometry, out: TypedArray): void {
  const { N, C, H, W, kH, kW, strideH, strideW, padH, padW, dilationH, dilationW, outH, outW } = g;
  const plane = H * W;
  out.fill(0);
  let o = 0;
  for (let image = 0; image < N * C; image++) {
    const base = image * plane;
    for (let i = 0; i < kH; i++) {
      const rowOffset = i * dilationH - padH;
      for (let j = 0; j < kW; j++) {
        const colOffset = j * dilationW - padW;
        const [first, end] = validRange(colOffset, strideW, W, outW);
        for (let oh = 0; oh < outH; oh++, o += outW) {
          const ih = oh * strideH + rowOffset;
          if (ih < 0 || ih >= H) continue;
          const row = base + ih * W + colOffset;
          if (strideW === 1) for (let ow = first; ow < end; ow++) out[row + ow] += cols[o + ow];
          else for (let ow = first, ix = row + first * strideW; ow < end; ow++, ix += strideW) out[ix] += cols[o + ow];
        }
      }
    }
  }
}
