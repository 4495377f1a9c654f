import { type GpuArray, type GpuContext, type KernelSource, PRELUDE, WORKGROUP_SIZE } from '../context.js';
import type { GpuInput } from './types.js';

/**
 * The indexing kernels (take and its adjoint); x is seen as [outer, axisSize, inner]. The
 * indices are a CPU Int32Array, already checked to lie in [0, axisSize): they are uploaded
 * with the call (gather) or planned on the CPU first (scatterAdd).
 */

const GATHER: KernelSource = {
  name: 'indexing.gather',
  code: () => /* wgsl */ `${PRELUDE}
@group(0) @binding(0) var<storage, read> input: array<u32>;
@group(0) @binding(1) var<storage, read> indices: array<i32>;
@group(0) @binding(2) var<storage, read_write> output: array<u32>;
@group(0) @binding(3) var<storage, read> params: array<u32>; // threads, axisSize, inner, indices
@compute @workgroup_size(${WORKGROUP_SIZE})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flatIndex(gid, nwg);
  if (t >= params[0]) { return; }
  let axisSize = params[1];
  let inner = params[2];
  let count = params[3];
  let i = t % inner;
  let row = t / inner;
  let j = row % count;
  let o = row / count;
  // the bits move unchanged, as a copy
  output[t] = input[(o * axisSize + u32(indices[j])) * inner + i];
}`,
};

/** out[o, j, i] = x[o, indices[j], i]; out is [outer, indices.length, inner]. */
export function gather(context: GpuContext, x: GpuInput, outer: number, axisSize: number, inner: number, indices: Int32Array, out: GpuArray): void {
  context.run(GATHER, { inputs: [x, indices], outputs: [out], ints: [out.length, axisSize, inner, indices.length], threads: out.length });
}

/**
 * One thread per (o, target row, i) for the rows the indices name; it adds its row's
 * dy[o, j, i] in increasing j, so repeated indices accumulate in the js backend's order
 * and the sums are deterministic (no atomics, no float atomics in WGSL anyway). `plan`
 * holds the distinct targets, then where each one's run of j starts in `order`, then
 * `order`: the j grouped by target, ascending within a group.
 */
const SCATTER_ADD: KernelSource = {
  name: 'indexing.scatterAdd',
  code: () => /* wgsl */ `${PRELUDE}
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> plan: array<u32>;
@group(0) @binding(2) var<storage, read_write> output: array<f32>;
@group(0) @binding(3) var<storage, read> params: array<u32>; // threads, axisSize, inner, indices, targets
@compute @workgroup_size(${WORKGROUP_SIZE})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flatIndex(gid, nwg);
  if (t >= params[0]) { return; }
  let axisSize = params[1];
  let inner = params[2];
  let count = params[3];
  let targets = params[4];
  let i = t % inner;
  let slot = (t / inner) % targets;
  let o = t / (inner * targets);
  let at = (o * axisSize + plan[slot]) * inner + i;
  var sum = output[at];
  let end = plan[targets + slot + 1u];
  for (var k = plan[targets + slot]; k < end; k++) {
    sum += dy[(o * count + plan[2u * targets + 1u + k]) * inner + i];
  }
  output[at] = sum;
}`,
};

/**
 * gather's adjoint: out[o, indices[j], i] += dy[o, j, i] into a zero-filled out of
 * [outer, axisSize, inner]; repeated indices accumulate in order of j.
 */
export function scatterAdd(context: GpuContext, dy: GpuInput, outer: number, axisSize: number, inner: number, indices: Int32Array, out: GpuArray): void {
  const plan = scatterPlan(indices);
  const targets = (plan.length - 1 - indices.length) / 2;
  context.run(SCATTER_ADD, { inputs: [dy, plan], outputs: [out], ints: [outer * targets * inner, axisSize, inner, indices.length, targets], threads: outer * targets * inner });
}

/** [targets…, starts… (targets + 1), order…]: indices grouped by target, j ascending in each group. */
function scatterPlan(indices: Int32Array): Uint32Array {
  const slotOf = new Map<number, number>();
  const counts: number[] = [];
  for (const index of indices) {
    const slot = slotOf.get(index);
    if (slot === undefined) {
      slotOf.set(index, counts.length);
      counts.push(1);
    } else counts[slot]++;
  }
  const targets = counts.length;
  const plan = new Uint32Array(2 * targets + 1 + indices.length);
  for (const [index, slot] of slotOf) plan[slot] = index;
  for (let slot = 0; slot < targets; slot++) plan[targets + slot + 1] = plan[targets + slot] + counts[slot];
  const next = plan.slice(targets, 2 * targets);
  for (let j = 0; j < indices.length; j++) plan[2 * targets + 1 + next[slotOf.get(indices[j])!]++] = j;
  return plan;
}
