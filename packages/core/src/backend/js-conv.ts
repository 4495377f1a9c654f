import type { TypedArray } from '../dtype.js';
import type { ConvGeometry } from './backend.js';

/**
 * The convolution family of the reference backend: im2col (unfold) and col2im (fold), the
 * two kernels every convolution and pooling op is built from (ops/conv.ts), and the max-pool
 * pair (maxPoolGather, maxPoolScatter). unfold and fold walk the image in the order
 * (n, c, i, j, oh, ow) whichever the columns' layout, so each output row of unfold is
 * written left to right and fold adds into each image element in one fixed order, which a
 * faster backend can repeat to give the same float32 sums.
 */

/**
 * Where column row r of image n starts in the columns, for the two layouts: [N, K, L]
 * (per image, PyTorch's F.unfold) or [K, N·L] (batched: every image's windows side by side
 * in one matrix, so a convolution is one matrix product for the whole batch). K = C·kH·kW,
 * L = outH·outW. Returns [image stride, row stride].
 */
export function columnStrides(g: ConvGeometry, batched: boolean): [number, number] {
  const L = g.outH * g.outW, K = g.C * g.kH * g.kW;
  return batched ? [L, g.N * L] : [K * L, L];
}

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

export function unfold(x: TypedArray, g: ConvGeometry, padValue: number, out: TypedArray, batched: boolean): void {
  const { N, C, H, W, kH, kW, strideH, strideW, padH, padW, dilationH, dilationW, outH, outW } = g;
  const plane = H * W;
  const [imageStride, rowStride] = columnStrides(g, batched);
  for (let image = 0; image < N * C; image++) {
    const base = image * plane;
    const n = Math.floor(image / C), c = image - n * C;
    for (let i = 0; i < kH; i++) {
      const rowOffset = i * dilationH - padH;
      for (let j = 0; j < kW; j++) {
        const colOffset = j * dilationW - padW;
        const [first, end] = validRange(colOffset, strideW, W, outW);
        let o = n * imageStride + ((c * kH + i) * kW + j) * rowStride;
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

export function fold(cols: TypedArray, g: ConvGeometry, out: TypedArray, batched: boolean): void {
  const { N, C, H, W, kH, kW, strideH, strideW, padH, padW, dilationH, dilationW, outH, outW } = g;
  const plane = H * W;
  const [imageStride, rowStride] = columnStrides(g, batched);
  out.fill(0);
  for (let image = 0; image < N * C; image++) {
    const base = image * plane;
    const n = Math.floor(image / C), c = image - n * C;
    for (let i = 0; i < kH; i++) {
      const rowOffset = i * dilationH - padH;
      for (let j = 0; j < kW; j++) {
        const colOffset = j * dilationW - padW;
        const [first, end] = validRange(colOffset, strideW, W, outW);
        let o = n * imageStride + ((c * kH + i) * kW + j) * rowStride;
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

// ---- max-pooling --------------------------------------------------------------------------
// Each window is visited in the order (i, j) of its rows and columns, skipping the positions
// outside the image (they read −∞, so they never win; they only count as ties of a −∞ maximum).

/** A window's maximum, NaN if the window holds one. */
function windowMax(x: TypedArray, base: number, g: ConvGeometry, oh: number, ow: number): number {
  const { H, W, kH, kW, strideH, strideW, padH, padW, dilationH, dilationW } = g;
  let max = -Infinity, nan = false;
  for (let i = 0; i < kH; i++) {
    const ih = oh * strideH - padH + i * dilationH;
    if (ih < 0 || ih >= H) continue;
    for (let j = 0; j < kW; j++) {
      const iw = ow * strideW - padW + j * dilationW;
      if (iw < 0 || iw >= W) continue;
      const v = x[base + ih * W + iw];
      if (v > max) max = v;
      else if (v !== v) nan = true;
    }
  }
  return nan ? NaN : max;
}

/** How many of the window's elements equal its maximum, positions outside the image counted when it is −∞. */
function windowTies(x: TypedArray, base: number, g: ConvGeometry, oh: number, ow: number, max: number): number {
  const { H, W, kH, kW, strideH, strideW, padH, padW, dilationH, dilationW } = g;
  let ties = 0, inside = 0;
  for (let i = 0; i < kH; i++) {
    const ih = oh * strideH - padH + i * dilationH;
    if (ih < 0 || ih >= H) continue;
    for (let j = 0; j < kW; j++) {
      const iw = ow * strideW - padW + j * dilationW;
      if (iw < 0 || iw >= W) continue;
      inside++;
      if (x[base + ih * W + iw] === max) ties++;
    }
  }
  return max === -Infinity ? ties + kH * kW - inside : ties;
}

/** 1/t rounded to the output's dtype (NaN for a NaN window, which has no ties). */
function shareOf(ties: number, f32: boolean): number {
  const share = ties === 0 ? NaN : 1 / ties;
  return f32 ? Math.fround(share) : share;
}

export function maxPool(x: TypedArray, g: ConvGeometry, out: TypedArray): void {
  const { N, C, H, W, outH, outW } = g;
  let o = 0;
  for (let image = 0; image < N * C; image++) {
    const base = image * H * W;
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++, o++) out[o] = windowMax(x, base, g, oh, ow);
    }
  }
}

/**
 * Adds `d`'s shares to the window's maximal elements (every element, NaN, when the maximum
 * is NaN): out[e] += d·share, the product rounded to the dtype first.
 */
function scatterWindow(x: TypedArray, base: number, g: ConvGeometry, oh: number, ow: number, d: number, out: TypedArray, f32: boolean): void {
  const { H, W, kH, kW, strideH, strideW, padH, padW, dilationH, dilationW } = g;
  const max = windowMax(x, base, g, oh, ow);
  const nan = max !== max;
  const product = d * shareOf(nan ? 0 : windowTies(x, base, g, oh, ow, max), f32);
  const add = f32 ? Math.fround(product) : product;
  for (let i = 0; i < kH; i++) {
    const ih = oh * strideH - padH + i * dilationH;
    if (ih < 0 || ih >= H) continue;
    for (let j = 0; j < kW; j++) {
      const iw = ow * strideW - padW + j * dilationW;
      if (iw < 0 || iw >= W) continue;
      const e = base + ih * W + iw;
      if (nan || x[e] === max) out[e] += add;
    }
  }
}

export function maxPoolScatter(dy: TypedArray, x: TypedArray, g: ConvGeometry, out: TypedArray): void {
  const { N, C, H, W, outH, outW } = g;
  const f32 = out instanceof Float32Array;
  out.fill(0);
  let o = 0;
  for (let image = 0; image < N * C; image++) {
    const base = image * H * W;
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++, o++) scatterWindow(x, base, g, oh, ow, dy[o], out, f32);
    }
  }
}

export function maxPoolGather(v: TypedArray, x: TypedArray, g: ConvGeometry, out: TypedArray): void {
  const { N, C, H, W, kH, kW, strideH, strideW, padH, padW, dilationH, dilationW, outH, outW } = g;
  const f32 = out instanceof Float32Array;
  let o = 0;
  for (let image = 0; image < N * C; image++) {
    const base = image * H * W;
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++, o++) {
        const max = windowMax(x, base, g, oh, ow);
        const nan = max !== max;
        const share = shareOf(nan ? 0 : windowTies(x, base, g, oh, ow, max), f32);
        let total = 0;
        for (let i = 0; i < kH; i++) {
          const ih = oh * strideH - padH + i * dilationH;
          if (ih < 0 || ih >= H) continue;
          for (let j = 0; j < kW; j++) {
            const iw = ow * strideW - padW + j * dilationW;
            if (iw < 0 || iw >= W) continue;
            const e = base + ih * W + iw;
            if (nan || x[e] === max) total += v[e] * share;
          }
        }
        out[o] = total;
      }
    }
  }
}
