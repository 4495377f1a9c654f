import { type Shape, stridesOf } from '@tapegrad/core';
import { type GpuArray, type GpuContext, type KernelSource, PRELUDE, WORKGROUP_SIZE } from '../context.js';
import type { GpuInput } from './types.js';
import { broadcastStrides, walkFunction, walkParams } from './walk.js';

/**
 * The layout kernels: each is one strided copy, out[base + Σ cᵢ·outStrideᵢ] =
 * x[base′ + Σ cᵢ·xStrideᵢ] over the coordinates c of a box, so they share one shader and
 * differ only in the strides and offsets they pass. The values move as u32 bits, so copies
 * are exact whatever a GPU does to float NaNs or subnormals on a float load and store.
 */
const STRIDED_COPY: KernelSource = {
  name: 'layout.stridedCopy',
  code: () => /* wgsl */ `${PRELUDE}
@group(0) @binding(0) var<storage, read> input: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<u32>;
@group(0) @binding(2) var<storage, read> params: array<u32>;
${walkFunction(2)}
@compute @workgroup_size(${WORKGROUP_SIZE})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flatIndex(gid, nwg);
  if (t >= params[0]) { return; }
  let o = offsets(t);
  output[o.x] = input[o.y];
}`,
};

/** Copies over the box `shape`: operand 0 is out (strides, base), operand 1 is x. */
function stridedCopy(context: GpuContext, x: GpuInput, out: GpuArray, shape: Shape, outStrides: readonly number[], xStrides: readonly number[], outBase: number, xBase: number): void {
  const ints = walkParams(shape, [outStrides, xStrides], [outBase, xBase]);
  context.run(STRIDED_COPY, { inputs: [x], outputs: [out], ints, threads: ints[0] });
}

/** out = x with its axes permuted: out axis i is x axis perm[i]. */
export function transpose(context: GpuContext, x: GpuInput, shape: Shape, perm: readonly number[], out: GpuArray): void {
  const outShape = perm.map((p) => shape[p]);
  const xStrides = stridesOf(shape);
  stridedCopy(context, x, out, outShape, stridesOf(outShape), perm.map((p) => xStrides[p]), 0, 0);
}

/** Repeats x (already right-aligned to outShape's rank) along its size-1 axes. */
export function broadcastTo(context: GpuContext, x: GpuInput, shape: Shape, out: GpuArray, outShape: Shape): void {
  stridedCopy(context, x, out, outShape, stridesOf(outShape), broadcastStrides(shape, outShape), 0, 0);
}

/** Copies the box [begin, begin + outShape) of x into out. */
export function slice(context: GpuContext, x: GpuInput, shape: Shape, begin: readonly number[], out: GpuArray, outShape: Shape): void {
  const xStrides = stridesOf(shape);
  stridedCopy(context, x, out, outShape, stridesOf(outShape), xStrides, 0, offsetOf(begin, xStrides));
}

/** Writes x into the zero-filled out at offset `begin` (slice's adjoint): only that box is written. */
export function pad(context: GpuContext, x: GpuInput, shape: Shape, begin: readonly number[], out: GpuArray, outShape: Shape): void {
  const outStrides = stridesOf(outShape);
  stridedCopy(context, x, out, shape, outStrides, stridesOf(shape), offsetOf(begin, outStrides), 0);
}

function offsetOf(begin: readonly number[], strides: readonly number[]): number {
  let offset = 0;
  for (let i = 0; i < strides.length; i++) offset += begin[i] * strides[i];
  return offset;
}
