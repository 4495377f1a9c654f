import { type ConvGeometry, TapegradError } from '@tapegrad/core';
import { type GpuArray, type GpuContext, type KernelSource, PRELUDE, WORKGROUP_SIZE } from '../context.js';
import { FLOAT_BITS } from './elementwise.js';
import type { GpuInput } from './types.js';

/**
 * The convolution family in WGSL: im2col (unfold), col2im (fold) and the max-pool trio.
 * Every kernel is a gather (one thread per element it writes), so no two threads write
 * one element, nothing needs atomics, and each sum is added in one fixed order: the order
 * of the js reference (packages/core/src/backend/js-conv.ts), which makes fold's and
 * maxPoolScatter's float32 sums the same as js's wherever no subnormal is flushed.
 *
 * The geometry travels as the `ints` parameters in the order of {@link geometryInts};
 * WGSL reads them as i32, since window positions (oh·stride − pad + i·dilation) go negative.
 */

/** The ConvGeometry fields, then the thread count and the column layout (1 = batched). */
function geometryInts(g: ConvGeometry, threads: number, batched: boolean): number[] {
  return [g.N, g.C, g.H, g.W, g.kH, g.kW, g.strideH, g.strideW, g.padH, g.padW, g.dilationH, g.dilationW, g.outH, g.outW, threads, batched ? 1 : 0];
}

const GEOMETRY = /* wgsl */ `
struct Geometry {
  N: i32, C: i32, H: i32, W: i32, kH: i32, kW: i32, strideH: i32, strideW: i32,
  padH: i32, padW: i32, dilationH: i32, dilationW: i32, outH: i32, outW: i32,
  threads: u32, batched: bool,
}
fn readGeometry() -> Geometry {
  return Geometry(
    i32(params[0]), i32(params[1]), i32(params[2]), i32(params[3]), i32(params[4]), i32(params[5]),
    i32(params[6]), i32(params[7]), i32(params[8]), i32(params[9]), i32(params[10]), i32(params[11]),
    i32(params[12]), i32(params[13]), params[14], params[15] != 0u);
}
// where column row r of image n starts: [N, K, L] per image, or [K, N·L] when batched
fn columnIndex(g: Geometry, n: i32, row: i32, l: i32) -> i32 {
  let L = g.outH * g.outW;
  if (g.batched) { return (row * g.N + n) * L + l; }
  return (n * g.C * g.kH * g.kW + row) * L + l;
}
`;

// a window's maximum (positions outside the image read −∞) and whether it holds a NaN,
// with the count of its positions inside the image; every pooling kernel walks windows so.
// Comparisons are written out: WGSL's max() need not keep NaN, nor the first of −0 and +0.
const WINDOW_MAX = /* wgsl */ `
// pooled output o of [N·C, outH, outW]: (where its image starts in x, oh, ow)
fn pooledPosition(g: Geometry, o: i32) -> vec3<i32> {
  let L = g.outH * g.outW;
  let image = o / L;
  let oh = (o - image * L) / g.outW;
  return vec3<i32>(image * g.H * g.W, oh, o - image * L - oh * g.outW);
}
struct WindowMax { max: f32, nan: bool, inside: i32 }
fn windowMaxOf(g: Geometry, base: i32, oh: i32, ow: i32) -> WindowMax {
  var m = -infF32();
  var nan = false;
  var inside = 0;
  for (var i = 0; i < g.kH; i++) {
    let ih = oh * g.strideH - g.padH + i * g.dilationH;
    if (ih < 0 || ih >= g.H) { continue; }
    for (var j = 0; j < g.kW; j++) {
      let iw = ow * g.strideW - g.padW + j * g.dilationW;
      if (iw < 0 || iw >= g.W) { continue; }
      inside++;
      let v = x[base + ih * g.W + iw];
      if (isNan(v)) { nan = true; } else if (v > m) { m = v; }
    }
  }
  return WindowMax(m, nan, inside);
}
`;

// the window's maximum and its tie count t (positions outside the image count as ties of a −∞ maximum)
const WINDOW = /* wgsl */ `${WINDOW_MAX}
struct Window { max: f32, nan: bool, ties: i32 }
fn windowOf(g: Geometry, base: i32, oh: i32, ow: i32) -> Window {
  let w = windowMaxOf(g, base, oh, ow);
  let m = w.max;
  var ties = 0;
  if (!w.nan) {
    for (var i = 0; i < g.kH; i++) {
      let ih = oh * g.strideH - g.padH + i * g.dilationH;
      if (ih < 0 || ih >= g.H) { continue; }
      for (var j = 0; j < g.kW; j++) {
        let iw = ow * g.strideW - g.padW + j * g.dilationW;
        if (iw < 0 || iw >= g.W) { continue; }
        if (x[base + ih * g.W + iw] == m) { ties++; }
      }
    }
    if (isInf(m) && m < 0.0) { ties += g.kH * g.kW - w.inside; }
  }
  return Window(m, w.nan, ties);
}
// 1/t rounded to float32, from the table the host computed (WGSL's division may be 2.5 ulp off)
fn shareOf(t: i32) -> f32 { return shares[max(t, 1) - 1]; }
`;

function entry(body: string): string {
  return /* wgsl */ `
@compute @workgroup_size(${WORKGROUP_SIZE})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let index = flatIndex(gid, nwg);
  let g = readGeometry();
  if (index >= g.threads) { return; }
  let o = i32(index);
${body}
}`;
}

const UNFOLD: KernelSource = {
  name: 'conv.unfold',
  code: () => /* wgsl */ `${PRELUDE}${GEOMETRY}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> params: array<u32>;
@group(0) @binding(3) var<storage, read> padValue: array<f32>;
${entry(/* wgsl */ `
  let L = g.outH * g.outW;
  let K = g.C * g.kH * g.kW;
  var n: i32; var row: i32; var l: i32;
  if (g.batched) {
    row = o / (g.N * L);
    let rest = o - row * g.N * L;
    n = rest / L;
    l = rest - n * L;
  } else {
    n = o / (K * L);
    let rest = o - n * K * L;
    row = rest / L;
    l = rest - row * L;
  }
  let c = row / (g.kH * g.kW);
  let ij = row - c * g.kH * g.kW;
  let i = ij / g.kW;
  let j = ij - i * g.kW;
  let oh = l / g.outW;
  let ow = l - oh * g.outW;
  let ih = oh * g.strideH - g.padH + i * g.dilationH;
  let iw = ow * g.strideW - g.padW + j * g.dilationW;
  if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) {
    out[o] = padValue[0];
  } else {
    out[o] = x[((n * g.C + c) * g.H + ih) * g.W + iw];
  }`)}`,
};

// each pixel reads at most one window per kernel offset (i, j), in increasing (i, j): the
// order in which js adds them
const FOLD: KernelSource = {
  name: 'conv.fold',
  code: () => /* wgsl */ `${PRELUDE}${GEOMETRY}
@group(0) @binding(0) var<storage, read> cols: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> params: array<u32>;
${entry(/* wgsl */ `
  let w = o % g.W;
  let h = (o / g.W) % g.H;
  let image = o / (g.H * g.W);
  let n = image / g.C;
  let c = image - n * g.C;
  var sum = 0.0;
  for (var i = 0; i < g.kH; i++) {
    let th = h + g.padH - i * g.dilationH;
    if (th < 0) { break; }
    if (th % g.strideH != 0) { continue; }
    let oh = th / g.strideH;
    if (oh >= g.outH) { continue; }
    for (var j = 0; j < g.kW; j++) {
      let tw = w + g.padW - j * g.dilationW;
      if (tw < 0) { break; }
      if (tw % g.strideW != 0) { continue; }
      let ow = tw / g.strideW;
      if (ow >= g.outW) { continue; }
      sum += cols[columnIndex(g, n, (c * g.kH + i) * g.kW + j, oh * g.outW + ow)];
    }
  }
  out[o] = sum;`)}`,
};

const MAX_POOL: KernelSource = {
  name: 'conv.maxPool',
  code: () => /* wgsl */ `${PRELUDE}${FLOAT_BITS}${GEOMETRY}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> params: array<u32>;
${WINDOW_MAX}
${entry(/* wgsl */ `
  let at = pooledPosition(g, o);
  let w = windowMaxOf(g, at.x, at.y, at.z);
  out[o] = select(w.max, nanF32(), w.nan);`)}`,
};

// maxPoolScatter, pass 1: per window, its maximum and what each of its ties receives
// (dy·(1/t), NaN for a NaN window)
const POOL_SHARES: KernelSource = {
  name: 'conv.maxPoolShares',
  code: () => /* wgsl */ `${PRELUDE}${FLOAT_BITS}${GEOMETRY}
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> windowMax: array<f32>;
@group(0) @binding(3) var<storage, read_write> windowShare: array<f32>;
@group(0) @binding(4) var<storage, read> params: array<u32>;
@group(0) @binding(5) var<storage, read> shares: array<f32>;
${WINDOW}
${entry(/* wgsl */ `
  let at = pooledPosition(g, o);
  let win = windowOf(g, at.x, at.y, at.z);
  let d = dy[o];
  windowMax[o] = select(win.max, nanF32(), win.nan);
  windowShare[o] = select(d * shareOf(win.ties), nanF32(), win.nan || isNan(d));`)}`,
};

// maxPoolScatter, pass 2: per input element, the shares of the windows it is a maximum of,
// in increasing window order (decreasing kernel offset), as js adds them
const POOL_SCATTER: KernelSource = {
  name: 'conv.maxPoolScatter',
  code: () => /* wgsl */ `${PRELUDE}${FLOAT_BITS}${GEOMETRY}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> windowMax: array<f32>;
@group(0) @binding(2) var<storage, read> windowShare: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read> params: array<u32>;
${entry(/* wgsl */ `
  let w = o % g.W;
  let h = (o / g.W) % g.H;
  let image = o / (g.H * g.W);
  let v = x[o];
  var sum = 0.0;
  var nan = false;
  for (var i = g.kH - 1; i >= 0; i--) {
    let th = h + g.padH - i * g.dilationH;
    if (th < 0 || th % g.strideH != 0) { continue; }
    let oh = th / g.strideH;
    if (oh >= g.outH) { continue; }
    for (var j = g.kW - 1; j >= 0; j--) {
      let tw = w + g.padW - j * g.dilationW;
      if (tw < 0 || tw % g.strideW != 0) { continue; }
      let ow = tw / g.strideW;
      if (ow >= g.outW) { continue; }
      let at = (image * g.outH + oh) * g.outW + ow;
      let m = windowMax[at];
      if (isNan(m) || v == m) {
        let share = windowShare[at];
        nan = nan || isNan(share);
        sum += share;
      }
    }
  }
  out[o] = select(sum, nanF32(), nan);`)}`,
};

const POOL_GATHER: KernelSource = {
  name: 'conv.maxPoolGather',
  code: () => /* wgsl */ `${PRELUDE}${FLOAT_BITS}${GEOMETRY}
@group(0) @binding(0) var<storage, read> v: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read> params: array<u32>;
@group(0) @binding(4) var<storage, read> shares: array<f32>;
${WINDOW}
${entry(/* wgsl */ `
  let at = pooledPosition(g, o);
  let base = at.x;
  let oh = at.y;
  let ow = at.z;
  let win = windowOf(g, base, oh, ow);
  let share = shareOf(win.ties);
  var total = 0.0;
  var nan = win.nan;
  for (var i = 0; i < g.kH; i++) {
    let ih = oh * g.strideH - g.padH + i * g.dilationH;
    if (ih < 0 || ih >= g.H) { continue; }
    for (var j = 0; j < g.kW; j++) {
      let iw = ow * g.strideW - g.padW + j * g.dilationW;
      if (iw < 0 || iw >= g.W) { continue; }
      let e = base + ih * g.W + iw;
      if (x[e] == win.max) {
        let term = v[e] * share;
        nan = nan || isNan(term);
        total += term;
      }
    }
  }
  out[o] = select(total, nanF32(), nan);`)}`,
};

/** fround(1/t) for t = 1 … kH·kW: a window's share for t ties. */
function shareTable(g: ConvGeometry): Float32Array {
  return Float32Array.from({ length: Math.max(1, g.kH * g.kW) }, (_, t) => 1 / (t + 1));
}

/** A length the kernel's indexing depends on; a mismatch would read or write past an array. */
function expectLength(op: string, name: string, array: { length: number }, needed: number): void {
  if (array.length !== needed) throw new TapegradError('webgpu', `${op}: ${name} has ${array.length} elements, needs ${needed}`);
}

function sizes(g: ConvGeometry): { image: number; pooled: number; columns: number } {
  const planes = g.N * g.C;
  return { image: planes * g.H * g.W, pooled: planes * g.outH * g.outW, columns: planes * g.kH * g.kW * g.outH * g.outW };
}

/**
 * im2col: out[n, (c·kH + i)·kW + j, oh·outW + ow] = x[n, c, ih, iw] or `padValue` outside
 * the image; out is [N, C·kH·kW, outH·outW], or [C·kH·kW, N·outH·outW] when `batched`.
 */
export function unfold(context: GpuContext, x: GpuInput, geometry: ConvGeometry, padValue: number, out: GpuArray, batched: boolean): void {
  const { image, columns } = sizes(geometry);
  expectLength('unfold', 'x', x, image);
  expectLength('unfold', 'out', out, columns);
  context.run(UNFOLD, { inputs: [x], outputs: [out], ints: geometryInts(geometry, columns, batched), floats: [padValue], threads: columns });
}

/** col2im, unfold's adjoint: each pixel the sum of the column entries read from it (0 if none). */
export function fold(context: GpuContext, cols: GpuInput, geometry: ConvGeometry, out: GpuArray, batched: boolean): void {
  const { image, columns } = sizes(geometry);
  expectLength('fold', 'cols', cols, columns);
  expectLength('fold', 'out', out, image);
  context.run(FOLD, { inputs: [cols], outputs: [out], ints: geometryInts(geometry, image, batched), threads: image });
}

/** Each window's maximum (−∞ for padding, NaN if the window holds one); out is [N, C, outH, outW]. */
export function maxPool(context: GpuContext, x: GpuInput, geometry: ConvGeometry, out: GpuArray): void {
  const { image, pooled } = sizes(geometry);
  expectLength('maxPool', 'x', x, image);
  expectLength('maxPool', 'out', out, pooled);
  context.run(MAX_POOL, { inputs: [x], outputs: [out], ints: geometryInts(geometry, pooled, false), threads: pooled });
}

/**
 * Max-pooling's VJP: dy's windows shared by their ties (1/t each, rounded to float32),
 * added up where windows overlap; NaN to every element of a NaN window. Two passes: the
 * windows' maxima and shares, then one thread per input element gathering them.
 */
export function maxPoolScatter(context: GpuContext, dy: GpuInput, x: GpuInput, geometry: ConvGeometry, out: GpuArray): void {
  const { image, pooled } = sizes(geometry);
  expectLength('maxPoolScatter', 'dy', dy, pooled);
  expectLength('maxPoolScatter', 'x', x, image);
  expectLength('maxPoolScatter', 'out', out, image);
  const windowMax = context.allocate(pooled, false);
  const windowShare = context.allocate(pooled, false);
  try {
    context.run(POOL_SHARES, { inputs: [dy, x], outputs: [windowMax, windowShare], ints: geometryInts(geometry, pooled, false), floats: shareTable(geometry), threads: pooled });
    context.run(POOL_SCATTER, { inputs: [x, windowMax, windowShare], outputs: [out], ints: geometryInts(geometry, image, false), threads: image });
  } finally {
    // safe at once: the queue runs the dispatches above before whatever reuses the buffers
    windowMax.dispose();
    windowShare.dispose();
  }
}

/** maxPoolScatter's adjoint: out[window] = Σ v·(1/t) over the window's ties (NaN for a NaN window). */
export function maxPoolGather(context: GpuContext, v: GpuInput, x: GpuInput, geometry: ConvGeometry, out: GpuArray): void {
  const { image, pooled } = sizes(geometry);
  expectLength('maxPoolGather', 'v', v, image);
  expectLength('maxPoolGather', 'x', x, image);
  expectLength('maxPoolGather', 'out', out, pooled);
  context.run(POOL_GATHER, { inputs: [v, x], outputs: [out], ints: geometryInts(geometry, pooled, false), floats: shareTable(geometry), threads: pooled });
}
