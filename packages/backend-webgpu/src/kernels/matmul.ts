import { type GpuArray, type GpuContext, type KernelSource, PRELUDE, WORKGROUP_SIZE } from '../context.js';
import { reduce } from './reduce.js';
import type { GpuInput } from './types.js';

/**
 * Matrix products in WGSL: out[m,n] = op(A)·op(B), one workgroup per BM×BN block of out.
 *
 * Each k-step the workgroup stages a BM×BK slab of op(A) and a BK×BN slab of op(B) in
 * workgroup memory; each of its 16×16 threads then accumulates a TM×TN register block of
 * out (rows ty·TM …, columns tx·TN …), reading its slab rows and columns from workgroup
 * memory as vec4s: per k one vec4 load feeds 16 multiply-adds (TM = TN = 8: 4 loads, 64
 * FMAs), where scalar loads would make the kernel bound by workgroup-memory bandwidth. The next
 * slab's global loads are issued into registers before the current slab is consumed, so
 * memory latency overlaps the arithmetic. The transposes are parameters (one compiled kernel
 * per tiling; they only change the slab loads, a small share of the work): each slab is read
 * from global memory along its contiguous dimension either way.
 * Products accumulate in float32 in order of k (the js reference sums in float64, so the
 * two differ by float32 rounding growing with k). When there are few output blocks and a
 * long k, the k-range is split over several workgroups per block (split-k) into a scratch
 * array whose parts reduce('sum') then adds.
 *
 * Products with at most 16 rows, columns or k (a convolution's [C_out, C·kH·kW] weights times
 * its columns, a batch of a few examples, a layer with few inputs) skip the blocks: one thread
 * per output walks its k-range directly ('direct' tiling), since a 64-row block would mostly
 * compute padding or stage slabs used once — and on SwiftShader every workgroup barrier costs
 * about a millisecond.
 */

/** A workgroup's share of the product; the threads are always 16×16 (256, WebGPU's guaranteed maximum). */
export interface MatmulTiling {
  readonly name: string;
  /** Rows and columns of out per workgroup (multiples of 16). */
  readonly blockM: number;
  readonly blockN: number;
  /** The k-extent of a staged slab. */
  readonly blockK: number;
  /** One thread per output, nothing staged in workgroup memory (the blocks are then 1×1). */
  readonly direct?: true;
}

const THREADS_X = 16;
const THREADS_Y = 16;
const THREADS = THREADS_X * THREADS_Y;

/** 64×64 blocks, 4×4 per thread: enough workgroups for mid-sized products. */
export const SMALL_TILING: MatmulTiling = { name: 'small', blockM: 64, blockN: 64, blockK: 16 };
/** 128×128 blocks, 8×8 per thread: twice the arithmetic per shared load, for large products. */
export const LARGE_TILING: MatmulTiling = { name: 'large', blockM: 128, blockN: 128, blockK: 8 };
/** One output per thread, its k-range read straight from global memory: for products with few rows or columns. */
export const DIRECT_TILING: MatmulTiling = { name: 'direct', blockM: 1, blockN: 1, blockK: 1, direct: true };
/** The tilings, for tests and the speed probe. */
export const MATMUL_TILINGS: readonly MatmulTiling[] = [SMALL_TILING, LARGE_TILING, DIRECT_TILING];

/**
 * At most this many rows, columns or k and a product runs on the direct kernel: a block
 * would mostly compute padding, or (short k) stage slabs that are used once.
 */
const DIRECT_AT_MOST = 16;

/** Below this many 128×128 blocks (over all batches) a GPU would sit partly idle with the large tiling. */
const LARGE_TILING_MIN_BLOCKS = 96;

/** The buffers of the tiled and the direct kernels, bound in this order by context.run (inputs a, b, their batch offsets; out; the params). */
const BINDINGS = /* wgsl */ `@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read> aOffsets: array<u32>;
@group(0) @binding(3) var<storage, read> bOffsets: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read> params: array<u32>;
`;

/** WebGPU's guaranteed limit on workgroups along each dimension of a dispatch. */
const MAX_WORKGROUPS_PER_DIMENSION = 65535;

function sharedBytes(t: MatmulTiling): number {
  return 4 * t.blockK * (t.blockM + t.blockN);
}

function matmulSource(t: MatmulTiling): KernelSource {
  const { blockM: BM, blockN: BN, blockK: BK } = t;
  const TM = BM / THREADS_Y, TN = BN / THREADS_X;
  // slab rows in vec4s
  const SA = BM / 4, SB = BN / 4;
  const loadsA = (BM * BK) / THREADS, loadsB = (BK * BN) / THREADS;
  if (TM % 4 !== 0 || TN % 4 !== 0 || !Number.isInteger(loadsA) || !Number.isInteger(loadsB)) {
    throw new Error(`matmul tiling ${t.name}: blocks must split evenly over 16×16 threads`);
  }
  if (sharedBytes(t) > 16384) throw new Error(`matmul tiling ${t.name}: ${sharedBytes(t)} bytes of workgroup memory exceed 16 KiB`);
  const range = (count: number) => Array.from({ length: count }, (_, i) => i);
  const rows = range(TM), cols = range(TN);

  const code = () => /* wgsl */ `
${BINDINGS}// op(A)[row0 + i, k0 + p] at tileA[p·BM/4 + i/4][i % 4]; op(B)[k0 + p, col0 + j] at tileB[p·BN/4 + j/4][j % 4]
var<workgroup> tileA: array<vec4<f32>, ${BK * SA}>;
var<workgroup> tileB: array<vec4<f32>, ${BK * SB}>;

// Slot s of a thread's share of a slab: (row or column within the block, p within the
// slab), the stored matrix's contiguous dimension varying fastest across threads so that
// global reads coalesce whichever way the operand is stored.
fn slotA(s: u32, transposed: bool) -> vec2<u32> {
  return select(vec2<u32>(s / ${BK}u, s % ${BK}u), vec2<u32>(s % ${BM}u, s / ${BM}u), transposed);
}
fn slotB(s: u32, transposed: bool) -> vec2<u32> {
  return select(vec2<u32>(s % ${BN}u, s / ${BN}u), vec2<u32>(s / ${BK}u, s % ${BK}u), transposed);
}

@compute @workgroup_size(${THREADS_X}, ${THREADS_Y})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let M = params[0];
  let fullK = params[1];
  let N = params[2];
  let transposeA = params[4] != 0u;
  let transposeB = params[5] != 0u;
  // A[i, p] = a[aBase + i·aRow + p·aCol], B[p, j] = b[bBase + p·bRow + j·bCol]
  let aRow = select(fullK, 1u, transposeA);
  let aCol = select(1u, M, transposeA);
  let bRow = select(N, 1u, transposeB);
  let bCol = select(1u, fullK, transposeB);
  // split-k: z = batch·parts + part, and this workgroup sums the part's k-range only
  let parts = params[8];
  let part = wid.z % parts;
  let batch = wid.z / parts;
  let kStart = part * params[9];
  let K = min(params[9], fullK - kStart);
  let tx = lid.x;
  let ty = lid.y;
  let tid = ty * ${THREADS_X}u + tx;
  let row0 = params[6] + wid.y * ${BM}u;
  let col0 = params[7] + wid.x * ${BN}u;
  let aBase = aOffsets[batch] + kStart * aCol;
  let bBase = bOffsets[batch] + kStart * bRow;
  let outBase = (params[3] + wid.z) * M * N;
  ${range(loadsA).map((s) => `let sa${s} = slotA(tid + ${s * THREADS}u, transposeA);`).join('\n  ')}
  ${range(loadsB).map((s) => `let sb${s} = slotB(tid + ${s * THREADS}u, transposeB);`).join('\n  ')}
  ${rows.flatMap((r) => cols.map((c) => `var c${r}_${c} = 0.0;`)).join(' ')}
  ${range(loadsA).map((s) => `var la${s} = 0.0;`).join(' ')}
  ${range(loadsB).map((s) => `var lb${s} = 0.0;`).join(' ')}
  for (var kt = 0u; kt < K; kt += ${BK}u) {
    if (kt == 0u) {
      ${range(loadsA).map((s) => `la${s} = loadA(row0 + sa${s}.x, sa${s}.y, M, K, aBase, aRow, aCol);`).join('\n      ')}
      ${range(loadsB).map((s) => `lb${s} = loadB(sb${s}.y, col0 + sb${s}.x, K, N, bBase, bRow, bCol);`).join('\n      ')}
    }
    ${range(loadsA).map((s) => `tileA[sa${s}.y * ${SA}u + sa${s}.x / 4u][sa${s}.x % 4u] = la${s};`).join('\n    ')}
    ${range(loadsB).map((s) => `tileB[sb${s}.y * ${SB}u + sb${s}.x / 4u][sb${s}.x % 4u] = lb${s};`).join('\n    ')}
    workgroupBarrier();
    // the next slab's loads are in flight while this one is multiplied
    let k1 = kt + ${BK}u;
    if (k1 < K) {
      ${range(loadsA).map((s) => `la${s} = loadA(row0 + sa${s}.x, k1 + sa${s}.y, M, K, aBase, aRow, aCol);`).join('\n      ')}
      ${range(loadsB).map((s) => `lb${s} = loadB(k1 + sb${s}.y, col0 + sb${s}.x, K, N, bBase, bRow, bCol);`).join('\n      ')}
    }
    for (var p = 0u; p < ${BK}u; p++) {
      ${range(TM / 4).map((q) => `let a${q} = tileA[p * ${SA}u + ty * ${TM / 4}u + ${q}u];`).join(' ')}
      ${range(TN / 4).map((q) => `let b${q} = tileB[p * ${SB}u + tx * ${TN / 4}u + ${q}u];`).join(' ')}
      ${rows.map((r) => cols.map((c) => `c${r}_${c} += a${r >> 2}[${r & 3}] * b${c >> 2}[${c & 3}];`).join(' ')).join('\n      ')}
    }
    workgroupBarrier();
  }
  ${rows.map((r) => `{ let row = row0 + ty * ${TM}u + ${r}u;
  if (row < M) {
    ${cols.map((c) => `{ let col = col0 + tx * ${TN}u + ${c}u; if (col < N) { out[outBase + row * N + col] = c${r}_${c}; } }`).join('\n    ')}
  } }`).join('\n  ')}
}

fn loadA(i: u32, p: u32, M: u32, K: u32, base: u32, rowStride: u32, colStride: u32) -> f32 {
  if (i < M && p < K) { return a[base + i * rowStride + p * colStride]; }
  return 0.0;
}
fn loadB(p: u32, j: u32, K: u32, N: u32, base: u32, rowStride: u32, colStride: u32) -> f32 {
  if (p < K && j < N) { return b[base + p * rowStride + j * colStride]; }
  return 0.0;
}`;
  return { name: `matmul.${t.name}`, code };
}

/**
 * The direct kernel: thread i computes output i of out (or of the split-k scratch),
 * [batches·parts, m, n] row-major, summing its k-range in order of k as the tiled kernel does.
 */
const DIRECT: KernelSource = {
  name: 'matmul.direct',
  code: () => /* wgsl */ `${PRELUDE}
${BINDINGS}
@compute @workgroup_size(${WORKGROUP_SIZE})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= params[7]) { return; }
  let M = params[0];
  let fullK = params[1];
  let N = params[2];
  let transposeA = params[3] != 0u;
  let transposeB = params[4] != 0u;
  let parts = params[5];
  let col = i % N;
  let row = (i / N) % M;
  let z = i / (M * N);
  let batch = z / parts;
  let kStart = (z % parts) * params[6];
  let K = min(params[6], fullK - kStart);
  // A[row, p] = a[aOffset + row·aRow + p·aCol], B[p, col] = b[bOffset + p·bRow + col·bCol]
  let aRow = select(fullK, 1u, transposeA);
  let aCol = select(1u, M, transposeA);
  let bRow = select(N, 1u, transposeB);
  let bCol = select(1u, fullK, transposeB);
  var ai = aOffsets[batch] + row * aRow + kStart * aCol;
  var bi = bOffsets[batch] + col * bCol + kStart * bRow;
  var sum = 0.0;
  for (var p = 0u; p < K; p++) {
    sum += a[ai] * b[bi];
    ai += aCol;
    bi += bRow;
  }
  out[i] = sum;
}`,
};

const sources = new Map<MatmulTiling, KernelSource>();

function sourceFor(t: MatmulTiling): KernelSource {
  let source = sources.get(t);
  if (source === undefined) sources.set(t, (source = matmulSource(t)));
  return source;
}

/** A single product is a batch of one at offsets 0 (one compiled kernel per tiling serves both). */
const ZERO_OFFSET = new Int32Array(1);

/** The tiling for a product of this size: large blocks only when there are enough of them to fill a GPU. */
export function chooseTiling(m: number, n: number, batches: number, k = Infinity): MatmulTiling {
  if (m <= DIRECT_AT_MOST || n <= DIRECT_AT_MOST || k <= DIRECT_AT_MOST) return DIRECT_TILING;
  const largeBlocks = Math.ceil(m / LARGE_TILING.blockM) * Math.ceil(n / LARGE_TILING.blockN) * batches;
  return largeBlocks >= LARGE_TILING_MIN_BLOCKS ? LARGE_TILING : SMALL_TILING;
}

/** Below this many output blocks a long k is split over several workgroups per block. */
const SPLIT_K_BELOW_BLOCKS = 64;
/** The workgroups a split-k product aims at. */
const SPLIT_K_WORKGROUPS = 128;
/** The shortest k-range worth a workgroup (or, in the direct kernel, a thread) of its own. */
const SPLIT_K_MIN_PART = 512;
/** The direct kernel splits k when its outputs give fewer threads than this, aiming at twice as many. */
const DIRECT_SPLIT_K_BELOW_THREADS = 16384;

/**
 * Into how many k-ranges a product is split: few output blocks with a long k (a convolution's
 * weight gradient, [C_out, N·H·W]·[N·H·W, C·kH·kW]) would otherwise leave most of a GPU idle.
 */
export function chooseSplitK(tiling: MatmulTiling, m: number, k: number, n: number, batches: number): number {
  if (tiling.direct) {
    const outputs = m * n * batches;
    if (outputs >= DIRECT_SPLIT_K_BELOW_THREADS || k < 2 * SPLIT_K_MIN_PART) return 1;
    return Math.min(Math.ceil((2 * DIRECT_SPLIT_K_BELOW_THREADS) / outputs), Math.floor(k / SPLIT_K_MIN_PART));
  }
  const blocks = Math.ceil(m / tiling.blockM) * Math.ceil(n / tiling.blockN) * batches;
  if (blocks >= SPLIT_K_BELOW_BLOCKS || k < 2 * SPLIT_K_MIN_PART) return 1;
  return Math.min(Math.ceil(SPLIT_K_WORKGROUPS / blocks), Math.floor(k / SPLIT_K_MIN_PART));
}

/** How tests and the speed probe pin a product's kernel; the defaults choose by size. */
export interface MatmulOptions {
  readonly tiling?: MatmulTiling;
  /**
   * k-ranges per output block (split-k): each part's product goes to a scratch array, then
   * reduce('sum') adds the parts (compensated, so no accuracy is lost).
   */
  readonly parts?: number;
  /** Workgroups per grid dimension before a product is split over dispatches (WebGPU's 65535; tests lower it). */
  readonly maxWorkgroupsPerDimension?: number;
}

/** out[m,n] = op(A)·op(B), op = transpose when the flag is set; A is stored [m,k] or [k,m]. k = 0 writes zeros. */
export function matmul(context: GpuContext, a: GpuInput, b: GpuInput, out: GpuArray, m: number, k: number, n: number, transposeA: boolean, transposeB: boolean): void {
  matmulBatchedUsing({}, context, a, b, out, m, k, n, transposeA, transposeB, ZERO_OFFSET, ZERO_OFFSET);
}

/** {@link matmul} with a pinned tiling, split or grid. */
export function matmulUsing(options: MatmulOptions, context: GpuContext, a: GpuInput, b: GpuInput, out: GpuArray, m: number, k: number, n: number, transposeA: boolean, transposeB: boolean): void {
  matmulBatchedUsing(options, context, a, b, out, m, k, n, transposeA, transposeB, ZERO_OFFSET, ZERO_OFFSET);
}

/**
 * A batch of matmuls: out[i·m·n …] = op(A_i)·op(B_i), A_i the matrix at element aOffsets[i] of
 * a, B_i at bOffsets[i] of b (offsets may repeat: a broadcast operand is read in place).
 * The batch runs along the grid's z dimension (split into several dispatches past 65535).
 */
export function matmulBatched(context: GpuContext, a: GpuInput, b: GpuInput, out: GpuArray, m: number, k: number, n: number,
  transposeA: boolean, transposeB: boolean, aOffsets: Int32Array, bOffsets: Int32Array): void {
  matmulBatchedUsing({}, context, a, b, out, m, k, n, transposeA, transposeB, aOffsets, bOffsets);
}

/** {@link matmulBatched} with a pinned tiling, split or grid. */
export function matmulBatchedUsing(options: MatmulOptions, context: GpuContext, a: GpuInput, b: GpuInput, out: GpuArray, m: number, k: number, n: number,
  transposeA: boolean, transposeB: boolean, aOffsets: Int32Array, bOffsets: Int32Array): void {
  const batches = aOffsets.length;
  if (m === 0 || n === 0 || batches === 0) return;
  const tiling = options.tiling ?? chooseTiling(m, n, batches, k);
  const most = Math.min(options.maxWorkgroupsPerDimension ?? MAX_WORKGROUPS_PER_DIMENSION, MAX_WORKGROUPS_PER_DIMENSION);
  // parts ≤ most, so that a dispatch holds at least one whole batch; every part non-empty
  const requested = Math.max(1, Math.min(options.parts ?? chooseSplitK(tiling, m, k, n, batches), k, most));
  const partLength = Math.ceil(k / requested);
  const parts = partLength === 0 ? 1 : Math.ceil(k / partLength);
  if (parts === 1) {
    dispatchProducts(context, tiling, a, b, out, m, k, n, transposeA, transposeB, aOffsets, bOffsets, 1, k, most);
    return;
  }
  const partial = context.allocate(batches * parts * m * n, false);
  dispatchProducts(context, tiling, a, b, partial, m, k, n, transposeA, transposeB, aOffsets, bOffsets, parts, partLength, most);
  reduce(context, 'sum', partial, [batches, parts, m * n], [1], out);
  partial.dispose(); // safe at once: whatever reuses it is submitted after the dispatch reading it
}

/**
 * The product's dispatches: out (or the split-k scratch, [batches, parts, m, n]) block by
 * block. Past `most` blocks of rows, blocks of columns or batches·parts, the product is split
 * into several dispatches, each told where its blocks start.
 */
function dispatchProducts(context: GpuContext, tiling: MatmulTiling, a: GpuInput, b: GpuInput, out: GpuArray, m: number, k: number, n: number,
  transposeA: boolean, transposeB: boolean, aOffsets: Int32Array, bOffsets: Int32Array, parts: number, partLength: number, most: number): void {
  if (tiling.direct) {
    // one thread per output over the whole batch: the 1-D grid spills into y by itself
    const threads = aOffsets.length * parts * m * n;
    context.run(DIRECT, { inputs: [a, b, aOffsets, bOffsets], outputs: [out], ints: [m, k, n, transposeA ? 1 : 0, transposeB ? 1 : 0, parts, partLength, threads], threads });
    return;
  }
  const source = sourceFor(tiling);
  const batches = aOffsets.length, batchesPerDispatch = Math.floor(most / parts);
  const rowBlocks = Math.ceil(m / tiling.blockM), colBlocks = Math.ceil(n / tiling.blockN);
  for (let first = 0; first < batches; first += batchesPerDispatch) {
    const count = Math.min(batchesPerDispatch, batches - first);
    const aChunk = aOffsets.subarray(first, first + count), bChunk = bOffsets.subarray(first, first + count);
    for (let rowBlock = 0; rowBlock < rowBlocks; rowBlock += most) {
      for (let colBlock = 0; colBlock < colBlocks; colBlock += most) {
        context.run(source, {
          inputs: [a, b, aChunk, bChunk],
          outputs: [out],
          ints: [m, k, n, first * parts, transposeA ? 1 : 0, transposeB ? 1 : 0, rowBlock * tiling.blockM, colBlock * tiling.blockN, parts, partLength],
          workgroups: [Math.min(most, colBlocks - colBlock), Math.min(most, rowBlocks - rowBlock), count * parts],
        });
      }
    }
  }
}
