import type { ArgReduceKernel, ReduceKernel, Shape } from '@tapegrad/core';
import { type GpuArray, type GpuContext, type KernelSource, PRELUDE, WORKGROUP_SIZE } from '../context.js';
import { FLOAT_BITS } from './elementwise.js';
import type { GpuInput } from './types.js';

/**
 * Reductions and scans in WGSL: reduce (sum, max, min over any sorted set of axes),
 * argReduce and cumsum.
 *
 * A reduction sees x as kept dimensions (which output) and reduced dimensions (which term),
 * after dropping size-1 axes and merging neighbours of the same kind, so the common cases
 * (a trailing block, a leading block) index with one multiply. Two ways to run it:
 * - 'thread': one thread per output walks its terms in order. Neighbouring threads read
 *   neighbouring words when the innermost axis is kept, and a sum is compensated (Kahan),
 *   so its error does not grow with the number of terms.
 * - 'workgroup': 256 threads per output, each a compensated partial over every 256th term,
 *   then a tree in workgroup memory: for few outputs with many terms each. When even that
 *   gives too few workgroups (a sum of a whole large tensor), each output's terms are split
 *   into parts reduced by one workgroup each, and a second pass reduces the parts.
 * max/min propagate NaN and are exact either way; argReduce's tree keeps the lowest index
 * among equals, so the first NaN, else the first extreme, wins as in the js reference.
 *
 * Kahan's compensation is only computed while the running sum is finite: an ∞ would
 * otherwise turn it into ∞ − ∞ = NaN and poison a sum that is rightly ±∞.
 */

/** How a reduction or scan spreads over threads; tests force each, the kernels choose by size. */
export type ReductionStrategy = 'thread' | 'workgroup';

/** Below this many terms per output one thread per output is always used. */
const FEW_TERMS = 128;
/** With at least this many outputs and a kept innermost axis, one thread per output (coalesced reads) wins. */
const MANY_OUTPUTS = 4096;
/** WebGPU's guaranteed limit on workgroups along one dimension. */
const MAX_WORKGROUPS_PER_DIMENSION = 65535;

/** Compensated (Kahan) summation in WGSL: a state is (running sum s, compensation c). */
const KAHAN = /* wgsl */ `
fn isFiniteF32(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u; }
// s += x with compensation c (s − c is the better estimate of the sum)
fn kahanAdd(state: vec2<f32>, x: f32) -> vec2<f32> {
  let y = x - state.y;
  let t = state.x + y;
  return vec2<f32>(t, select(0.0, (t - state.x) - y, isFiniteF32(t)));
}
`;

/** The offset in x of an output's first term, and of a term after it. */
const OFFSETS = /* wgsl */ `
// params: [outputs, terms, kept dims, reduced dims, parts, part length, kept sizes…, kept strides…, reduced sizes…, reduced strides…]
fn keptOffset(o: u32) -> u32 {
  let dims = params[2];
  var rest = o;
  var offset = 0u;
  for (var d = dims; d > 0u; d--) {
    let size = params[5u + d];
    offset += (rest % size) * params[5u + dims + d];
    rest /= size;
  }
  return offset;
}
fn termOffset(r: u32) -> u32 {
  let dims = params[3];
  let at = 6u + 2u * params[2];
  if (dims == 1u) { return r * params[at + 1u]; }
  var rest = r;
  var offset = 0u;
  for (var d = dims; d > 0u; d--) {
    let size = params[at + d - 1u];
    offset += (rest % size) * params[at + dims + d - 1u];
    rest /= size;
  }
  return offset;
}
`;

const BINDINGS = /* wgsl */ `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> params: array<u32>;
`;

type ReductionOp = ReduceKernel | ArgReduceKernel;

/** The value before any term; `at` is 0xffffffff (no index yet) for the arg-reductions. */
function identity(op: ReductionOp): string {
  return op === 'sum' ? '0.0' : op === 'max' || op === 'argmax' ? '-infF32()' : 'infF32()';
}

const COMPARE: Record<ReductionOp, string> = { sum: '', max: '>', min: '<', argmax: '>', argmin: '<' };

function threadSource(op: ReductionOp): KernelSource {
  const step =
    op === 'sum' ? 'state = kahanAdd(state, v);'
    : op === 'max' || op === 'min' ? `if (isNan(v) || v ${COMPARE[op]} best) { best = v; }` // a NaN best stays: NaN ${COMPARE[op]} anything is false
    : `if (!isNan(best) && (isNan(v) || v ${COMPARE[op]} best)) { best = v; at = r; }`;
  const result = op === 'sum' ? 'state.x - state.y' : op === 'max' || op === 'min' ? 'best' : 'f32(at)';
  return {
    name: `reduce.thread.${op}`,
    code: () => /* wgsl */ `${PRELUDE}${FLOAT_BITS}${BINDINGS}${KAHAN}${OFFSETS}
@compute @workgroup_size(${WORKGROUP_SIZE})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = flatIndex(gid, nwg);
  if (o >= params[0]) { return; }
  let base = keptOffset(o);
  var state = vec2<f32>(0.0, 0.0);
  var best = ${identity(op)};
  var at = 0u;
  for (var r = 0u; r < params[1]; r++) {
    let v = x[base + termOffset(r)];
    ${op.startsWith('arg') ? 'if (r == 0u) { best = v; continue; }\n    ' : ''}${step}
  }
  out[o] = ${result};
}`,
  };
}

function workgroupSource(op: ReductionOp): KernelSource {
  const arg = op.startsWith('arg');
  const NONE = '0xffffffffu';
  // each thread's terms come in increasing order, so within a thread only a strictly better term replaces
  const step =
    op === 'sum' ? 'state = kahanAdd(state, v);'
    : !arg ? `if (isNan(v) || v ${COMPARE[op]} best) { best = v; }`
    : `if (at == ${NONE} || (!isNan(best) && (isNan(v) || v ${COMPARE[op]} best))) { best = v; at = r; }`;
  const combine =
    op === 'sum' ? 'values[t] = values[t] + values[t + stride];'
    : !arg ? `let v = values[t + stride]; if (isNan(v) || v ${COMPARE[op]} values[t]) { values[t] = v; }`
    : `let v = values[t + stride]; let j = indices[t + stride]; let b = values[t]; let i = indices[t];
      if (j != ${NONE} && (i == ${NONE} || better(v, j, b, i))) { values[t] = v; indices[t] = j; }`;
  return {
    name: `reduce.workgroup.${op}`,
    code: () => /* wgsl */ `${FLOAT_BITS}${BINDINGS}${KAHAN}${OFFSETS}
var<workgroup> values: array<f32, ${WORKGROUP_SIZE}>;
${arg ? `var<workgroup> indices: array<u32, ${WORKGROUP_SIZE}>;
// (v, j) beats (b, i): the first NaN, else the extreme, ties to the lower index
fn better(v: f32, j: u32, b: f32, i: u32) -> bool {
  if (isNan(v)) { return !isNan(b) || j < i; }
  if (isNan(b)) { return false; }
  return v ${COMPARE[op]} b || (v == b && j < i);
}` : ''}
@compute @workgroup_size(${WORKGROUP_SIZE})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  // workgroup w reduces part w % parts of output w / parts (one part unless the terms are split)
  let w = wid.x + wid.y * nwg.x;
  let parts = params[4];
  if (w >= params[0] * parts) { return; }
  let base = keptOffset(w / parts);
  let first = (w % parts) * params[5];
  let end = min(first + params[5], params[1]);
  var state = vec2<f32>(0.0, 0.0);
  var best = ${identity(op)};
  var at = ${NONE};
  for (var r = first + t; r < end; r += ${WORKGROUP_SIZE}u) {
    let v = x[base + termOffset(r)];
    ${step}
  }
  values[t] = ${op === 'sum' ? 'state.x - state.y' : 'best'};
  ${arg ? 'indices[t] = at;' : ''}
  for (var stride = ${WORKGROUP_SIZE / 2}u; stride > 0u; stride /= 2u) {
    workgroupBarrier();
    if (t < stride) {
      ${combine}
    }
  }
  if (t == 0u) { out[w] = ${arg ? 'f32(indices[0])' : 'values[0]'}; }
}`,
  };
}

const sources = new Map<string, KernelSource>();

function sourceFor(op: ReductionOp, strategy: ReductionStrategy): KernelSource {
  const key = `${strategy}.${op}`;
  let source = sources.get(key);
  if (source === undefined) sources.set(key, (source = strategy === 'thread' ? threadSource(op) : workgroupSource(op)));
  return source;
}

/** Dimensions of x as (size, stride, reduced), size-1 axes dropped and same-kind neighbours merged. */
interface Reduction {
  readonly outputs: number;
  readonly terms: number;
  readonly params: number[];
  /** Whether neighbouring outputs read neighbouring words (the innermost merged axis is kept). */
  readonly innermostKept: boolean;
}

function describe(shape: Shape, reduced: (axis: number) => boolean): Reduction {
  const dims: { size: number; stride: number; reduced: boolean }[] = [];
  let stride = 1;
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    const size = shape[axis], isReduced = reduced(axis);
    if (size !== 1) {
      const inner = dims[0];
      // row-major: an axis and the one inside it merge when they are of one kind
      if (inner !== undefined && inner.reduced === isReduced && inner.stride * inner.size === stride) inner.size *= size;
      else dims.unshift({ size, stride, reduced: isReduced });
    }
    stride *= size;
  }
  const kept = dims.filter((d) => !d.reduced), terms = dims.filter((d) => d.reduced);
  const outputs = kept.reduce((p, d) => p * d.size, 1), count = terms.reduce((p, d) => p * d.size, 1);
  return {
    outputs,
    terms: count,
    params: [outputs, count, kept.length, terms.length, 1, count, ...kept.map((d) => d.size), ...kept.map((d) => d.stride), ...terms.map((d) => d.size), ...terms.map((d) => d.stride)],
    innermostKept: dims.length > 0 && !dims[dims.length - 1].reduced,
  };
}

function chooseStrategy(r: Reduction): ReductionStrategy {
  return r.terms <= FEW_TERMS || (r.innermostKept && r.outputs >= MANY_OUTPUTS) ? 'thread' : 'workgroup';
}

/**
 * Terms per output beyond which an output gets several workgroups (when there are too few
 * outputs to fill a GPU): each reduces one part, a second pass reduces the parts.
 */
const TERMS_PER_PART = 4096;
/** The workgroups a split reduction aims at. */
const SPLIT_WORKGROUPS = 256;

function partsFor(r: Reduction): number {
  if (r.outputs >= SPLIT_WORKGROUPS || r.terms < 2 * TERMS_PER_PART) return 1;
  return Math.min(Math.ceil(SPLIT_WORKGROUPS / r.outputs), Math.floor(r.terms / TERMS_PER_PART));
}

function runReduction(context: GpuContext, op: ReductionOp, x: GpuInput, out: GpuArray, r: Reduction, options: ReductionOptions): void {
  if (r.outputs === 0) return;
  const strategy = options.strategy ?? chooseStrategy(r);
  const maxX = Math.min(options.maxWorkgroupsX ?? MAX_WORKGROUPS_PER_DIMENSION, MAX_WORKGROUPS_PER_DIMENSION);
  const source = sourceFor(op, strategy);
  if (strategy === 'thread') {
    context.run(source, { inputs: [x], outputs: [out], ints: r.params, threads: r.outputs });
    return;
  }
  // an arg-reduction's parts would need their indices too: never split
  const parts = op === 'argmax' || op === 'argmin' ? 1 : Math.max(1, Math.min(options.parts ?? partsFor(r), r.terms));
  const partLength = Math.ceil(r.terms / parts);
  const groups = r.outputs * parts, groupsX = Math.min(groups, maxX);
  const ints = [...r.params];
  ints[4] = parts;
  ints[5] = partLength;
  if (parts === 1) {
    context.run(source, { inputs: [x], outputs: [out], ints, workgroups: [groupsX, Math.ceil(groups / groupsX), 1] });
    return;
  }
  const partial = context.allocate(groups, false);
  context.run(source, { inputs: [x], outputs: [partial], ints, workgroups: [groupsX, Math.ceil(groups / groupsX), 1] });
  // max and min of the parts' results are the block's; sums of compensated partials lose nothing notable
  runReduction(context, op, partial, out, describe([r.outputs, parts], (axis) => axis === 1), { maxWorkgroupsX: options.maxWorkgroupsX });
  partial.dispose(); // safe at once: whatever reuses it is submitted after the dispatch reading it
}

/** How tests pin a kernel's strategy and grid; the defaults choose by size. */
export interface ReductionOptions {
  readonly strategy?: ReductionStrategy;
  /** Workgroups along x before the grid spills into y (tests lower it). */
  readonly maxWorkgroupsX?: number;
  /** 'workgroup' strategy of reduce: workgroups per output (its terms split in parts, then a second pass). */
  readonly parts?: number;
}

/**
 * Reduces the given (sorted) axes of x (of `shape`); out has the keepDims size. A sum over
 * no terms is 0, a max −∞, a min +∞; max and min give NaN when any term is NaN.
 */
export function reduce(context: GpuContext, kernel: ReduceKernel, x: GpuInput, shape: Shape, axes: readonly number[], out: GpuArray): void {
  reduceUsing({}, context, kernel, x, shape, axes, out);
}

/** {@link reduce} with a pinned strategy or grid. */
export function reduceUsing(options: ReductionOptions, context: GpuContext, kernel: ReduceKernel, x: GpuInput, shape: Shape, axes: readonly number[], out: GpuArray): void {
  const r = describe(shape, (axis) => axes.includes(axis));
  runReduction(context, kernel, x, out, r, options);
}

/** out[o, i] = the index along the axis of the extreme of x[o, :, i] (the first NaN, else the first extreme). */
export function argReduce(context: GpuContext, kernel: ArgReduceKernel, x: GpuInput, outer: number, axisSize: number, inner: number, out: GpuArray): void {
  argReduceUsing({}, context, kernel, x, outer, axisSize, inner, out);
}

/** {@link argReduce} with a pinned strategy or grid. */
export function argReduceUsing(options: ReductionOptions, context: GpuContext, kernel: ArgReduceKernel, x: GpuInput, outer: number, axisSize: number, inner: number, out: GpuArray): void {
  const r = describe([outer, axisSize, inner], (axis) => axis === 1);
  runReduction(context, kernel, x, out, r, options);
}

// ---- cumsum ----

/** Lines at least this long, when there are few of them, are scanned by a workgroup each. */
const LONG_LINE = 512;
const FEW_LINES = 8192;

/** params: [lines, axisSize, inner, reverse, exclusive]; line w = o·inner + i starts at o·axisSize·inner + i. */
const SCAN_HELPERS = /* wgsl */ `
fn lineStart(w: u32) -> u32 {
  let inner = params[2];
  return (w / inner) * params[1] * inner + w % inner;
}
// the element at scan step q (0 first): from the far end when reversed
fn stepOffset(q: u32) -> u32 {
  return select(q, params[1] - 1u - q, params[3] != 0u) * params[2];
}
`;

const cumsumThreadSource: KernelSource = {
  name: 'cumsum.thread',
  code: () => /* wgsl */ `${PRELUDE}${BINDINGS}${KAHAN}${SCAN_HELPERS}
@compute @workgroup_size(${WORKGROUP_SIZE})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let w = flatIndex(gid, nwg);
  if (w >= params[0]) { return; }
  let start = lineStart(w);
  let exclusive = params[4] != 0u;
  var state = vec2<f32>(0.0, 0.0);
  for (var q = 0u; q < params[1]; q++) {
    let at = start + stepOffset(q);
    let v = x[at];
    if (exclusive) { out[at] = state.x - state.y; }
    state = kahanAdd(state, v);
    if (!exclusive) { out[at] = state.x - state.y; }
  }
}`,
};

/**
 * One line per workgroup: each thread sums a contiguous chunk, thread 0 turns the chunk sums
 * into compensated prefixes, then each thread rescans its chunk from its prefix.
 */
const cumsumWorkgroupSource: KernelSource = {
  name: 'cumsum.workgroup',
  code: () => /* wgsl */ `${BINDINGS}${KAHAN}${SCAN_HELPERS}
var<workgroup> partial: array<vec2<f32>, ${WORKGROUP_SIZE}>;
@compute @workgroup_size(${WORKGROUP_SIZE})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let w = wid.x + wid.y * nwg.x;
  if (w >= params[0]) { return; }
  let start = lineStart(w);
  let length = params[1];
  let exclusive = params[4] != 0u;
  let chunk = (length + ${WORKGROUP_SIZE - 1}u) / ${WORKGROUP_SIZE}u;
  let first = min(t * chunk, length);
  let end = min(first + chunk, length);
  var state = vec2<f32>(0.0, 0.0);
  for (var q = first; q < end; q++) { state = kahanAdd(state, x[start + stepOffset(q)]); }
  partial[t] = state;
  workgroupBarrier();
  if (t == 0u) {
    var running = vec2<f32>(0.0, 0.0);
    for (var u = 0u; u < ${WORKGROUP_SIZE}u; u++) {
      let sum = partial[u];
      partial[u] = running;
      running = kahanAdd(kahanAdd(running, sum.x), -sum.y);
    }
  }
  workgroupBarrier();
  state = partial[t];
  for (var q = first; q < end; q++) {
    let at = start + stepOffset(q);
    let v = x[at];
    if (exclusive) { out[at] = state.x - state.y; }
    state = kahanAdd(state, v);
    if (!exclusive) { out[at] = state.x - state.y; }
  }
}`,
};

/**
 * Running sums along the axis of x seen as [outer, axisSize, inner]: inclusive or exclusive,
 * from the far end when `reverse`; compensated float32 sums (the js reference sums in float64).
 */
export function cumsum(context: GpuContext, x: GpuInput, outer: number, axisSize: number, inner: number, reverse: boolean, exclusive: boolean, out: GpuArray): void {
  cumsumUsing({}, context, x, outer, axisSize, inner, reverse, exclusive, out);
}

/** {@link cumsum} with a pinned strategy or grid. */
export function cumsumUsing(options: ReductionOptions, context: GpuContext, x: GpuInput, outer: number, axisSize: number, inner: number, reverse: boolean, exclusive: boolean, out: GpuArray): void {
  const lines = outer * inner;
  if (lines === 0 || axisSize === 0) return;
  const strategy = options.strategy ?? (axisSize >= LONG_LINE && lines < FEW_LINES ? 'workgroup' : 'thread');
  const ints = [lines, axisSize, inner, reverse ? 1 : 0, exclusive ? 1 : 0];
  if (strategy === 'thread') {
    context.run(cumsumThreadSource, { inputs: [x], outputs: [out], ints, threads: lines });
    return;
  }
  const groupsX = Math.min(lines, options.maxWorkgroupsX ?? MAX_WORKGROUPS_PER_DIMENSION, MAX_WORKGROUPS_PER_DIMENSION);
  context.run(cumsumWorkgroupSource, { inputs: [x], outputs: [out], ints, workgroups: [groupsX, Math.ceil(lines / groupsX), 1] });
}
