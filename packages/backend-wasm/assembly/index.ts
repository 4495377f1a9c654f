// float32 kernels for @tapegrad/backend-wasm, compiled twice by scripts/build-wasm.mjs:
// with --enable simd (multiply then add) and with --enable relaxed-simd (fused madd).
//
// No allocator: the JavaScript side owns the one linear memory above heapBase() (below it
// sit exp's constants), places every operand and scratch buffer at offsets it computes,
// and passes byte pointers here. Element-wise kernels may read and write up to 3 floats
// past n: the caller pads buffers to a multiple of 4 floats.

// ---------------------------------------------------------------------------------------
// matmul: C[m,n] = op(A)·op(B), the GotoBLAS/BLIS loop nest around a 4×8 micro-kernel.
//   jc (NC columns) → pc (KC deep; B̃ packed: KC×NC in NR-wide panels)
//     → ic (MC rows; Ã packed: MC×KC in MR-high panels) → jr (one B̃ panel, stays in L1)
//       → ir (one Ã panel) → micro-kernel: 4×8 block of C in 8 v128 accumulators.
// 8 accumulators + 2 B vectors + 1 A splat fit V8's 16 xmm registers; bigger tiles (6×8,
// 8×4) spill and run at half speed (PERF-NOTES), and so did unrolling k by two here. The
// k loop runs on the B pointer alone (no counter): 5 % faster. Pre-broadcasting A while
// packing (plain loads instead of load32_splat) and splatting A by register shuffles were
// both slower.

const MR: i32 = 4;
const NR: i32 = 8;
const KC: i32 = 256;
const MC: i32 = 128;
const NC: i32 = 2048;

/** Bytes of scratch matmul needs (packed Ã, packed B̃ and one 4×8 edge tile), 64-aligned. */
export function matmulScratchBytes(): usize {
  return <usize>(MC * KC + KC * NC + MR * NR) * 4 + 192;
}

@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}

/** Rows i..i+3 of a 4×4 block, transposed: w[q] holds element q of each row. */
@inline function transpose4(
  v0: v128, v1: v128, v2: v128, v3: v128, dst: usize, stride: usize, offset: usize,
): void {
  const t0 = v128.shuffle<f32>(v0, v1, 0, 4, 1, 5);
  const t1 = v128.shuffle<f32>(v2, v3, 0, 4, 1, 5);
  const t2 = v128.shuffle<f32>(v0, v1, 2, 6, 3, 7);
  const t3 = v128.shuffle<f32>(v2, v3, 2, 6, 3, 7);
  v128.store(dst + offset, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
  v128.store(dst + stride + offset, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7));
  v128.store(dst + 2 * stride + offset, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5));
  v128.store(dst + 3 * stride + offset, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7));
}

/**
 * Packs op(B)[pc:pc+kc, jc:jc+nc] into NR-wide panels, each kc×NR row-major, the last
 * zero-padded. B is stored [k,n], or [n,k] when transposed (then read column-wise).
 */
function packB(b: usize, k: i32, n: i32, trans: bool, pc: i32, kc: i32, jc: i32, nc: i32, dst: usize): void {
  for (let jr = 0; jr < nc; jr += NR) {
    const cols = min(NR, nc - jr);
    const j0 = jc + jr;
    let d = dst + (<usize>(jr * kc) << 2);
    if (!trans) {
      let s = b + (<usize>(pc * n + j0) << 2);
      const ld = <usize>n << 2;
      if (cols == NR) {
        for (let p = 0; p < kc; p++) {
          v128.store(d, v128.load(s));
          v128.store(d, v128.load(s, 16), 16);
          s += ld;
          d += NR << 2;
        }
      } else {
        for (let p = 0; p < kc; p++) {
          for (let j = 0; j < NR; j++) store<f32>(d + (<usize>j << 2), j < cols ? load<f32>(s + (<usize>j << 2)) : 0);
          s += ld;
          d += NR << 2;
        }
      }
    } else {
      // element (p, j) at b[(j0 + j)·k + pc + p]: rows of the stored matrix run along p
      const ld = <usize>k << 2;
      const s = b + (<usize>(j0 * k + pc) << 2);
      if (cols == NR) {
        let p = 0;
        for (; p + 4 <= kc; p += 4) {
          const s0 = s + (<usize>p << 2);
          const dp = d + (<usize>(p * NR) << 2);
          transpose4(v128.load(s0), v128.load(s0 + ld), v128.load(s0 + 2 * ld), v128.load(s0 + 3 * ld), dp, NR << 2, 0);
          const s4 = s0 + 4 * ld;
          transpose4(v128.load(s4), v128.load(s4 + ld), v128.load(s4 + 2 * ld), v128.load(s4 + 3 * ld), dp, NR << 2, 16);
        }
        for (; p < kc; p++) {
          for (let j = 0; j < NR; j++) store<f32>(d + (<usize>(p * NR + j) << 2), load<f32>(s + <usize>j * ld + (<usize>p << 2)));
        }
      } else {
        for (let p = 0; p < kc; p++) {
          for (let j = 0; j < NR; j++) {
            store<f32>(d + (<usize>(p * NR + j) << 2), j < cols ? load<f32>(s + <usize>j * ld + (<usize>p << 2)) : 0);
          }
        }
      }
    }
  }
}

/**
 * Packs op(A)[ic:ic+mc, pc:pc+kc] into MR-high panels, each kc×MR (element (i, p) at
 * p·MR + i), the last zero-padded. A is stored [m,k], or [k,m] when transposed.
 */
function packA(a: usize, m: i32, k: i32, trans: bool, ic: i32, mc: i32, pc: i32, kc: i32, dst: usize): void {
  for (let ir = 0; ir < mc; ir += MR) {
    const rows = min(MR, mc - ir);
    const i0 = ic + ir;
    const d = dst + (<usize>(ir * kc) << 2);
    if (trans) {
      // element (i, p) at a[(pc + p)·m + i0 + i]: contiguous along i
      const ld = <usize>m << 2;
      let s = a + (<usize>(pc * m + i0) << 2);
      if (rows == MR) {
        for (let p = 0; p < kc; p++) {
          v128.store(d + (<usize>(p * MR) << 2), v128.load(s));
          s += ld;
        }
      } else {
        for (let p = 0; p < kc; p++) {
          for (let i = 0; i < MR; i++) store<f32>(d + (<usize>(p * MR + i) << 2), i < rows ? load<f32>(s + (<usize>i << 2)) : 0);
          s += ld;
        }
      }
    } else {
      const ld = <usize>k << 2;
      const s = a + (<usize>(i0 * k + pc) << 2);
      if (rows == MR) {
        let p = 0;
        for (; p + 4 <= kc; p += 4) {
          const s0 = s + (<usize>p << 2);
          transpose4(v128.load(s0), v128.load(s0 + ld), v128.load(s0 + 2 * ld), v128.load(s0 + 3 * ld), d + (<usize>(p * MR) << 2), MR << 2, 0);
        }
        for (; p < kc; p++) {
          for (let i = 0; i < MR; i++) store<f32>(d + (<usize>(p * MR + i) << 2), load<f32>(s + <usize>i * ld + (<usize>p << 2)));
        }
      } else {
        for (let p = 0; p < kc; p++) {
          for (let i = 0; i < MR; i++) {
            store<f32>(d + (<usize>(p * MR + i) << 2), i < rows ? load<f32>(s + <usize>i * ld + (<usize>p << 2)) : 0);
          }
        }
      }
    }
  }
}

@inline function storeRow(c: usize, first: bool, v0: v128, v1: v128): void {
  if (first) {
    v128.store(c, v0);
    v128.store(c, v1, 16);
  } else {
    v128.store(c, f32x4.add(v128.load(c), v0));
    v128.store(c, f32x4.add(v128.load(c, 16), v1), 16);
  }
}

/**
 * C[0:rows, 0:cols] (+)= Ã panel · B̃ panel over kc steps. Full 4×8 tiles go straight to C;
 * edge tiles go through `tile` and only their valid part is written.
 */
function microKernel(pa: usize, pb: usize, kc: i32, c: usize, ldc: usize, first: bool, rows: i32, cols: i32, tile: usize): void {
  let c00 = f32x4.splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  const pbEnd = pb + (<usize>(kc * NR) << 2);
  while (pb < pbEnd) {
    const b0 = v128.load(pb);
    const b1 = v128.load(pb, 16);
    let a = v128.load32_splat(pa);
    c00 = madd(a, b0, c00);
    c01 = madd(a, b1, c01);
    a = v128.load32_splat(pa, 4);
    c10 = madd(a, b0, c10);
    c11 = madd(a, b1, c11);
    a = v128.load32_splat(pa, 8);
    c20 = madd(a, b0, c20);
    c21 = madd(a, b1, c21);
    a = v128.load32_splat(pa, 12);
    c30 = madd(a, b0, c30);
    c31 = madd(a, b1, c31);
    pa += MR << 2;
    pb += NR << 2;
  }
  if (rows == MR && cols == NR) {
    storeRow(c, first, c00, c01);
    storeRow(c + ldc, first, c10, c11);
    storeRow(c + 2 * ldc, first, c20, c21);
    storeRow(c + 3 * ldc, first, c30, c31);
    return;
  }
  v128.store(tile, c00);
  v128.store(tile, c01, 16);
  v128.store(tile, c10, 32);
  v128.store(tile, c11, 48);
  v128.store(tile, c20, 64);
  v128.store(tile, c21, 80);
  v128.store(tile, c30, 96);
  v128.store(tile, c31, 112);
  for (let i = 0; i < rows; i++) {
    const row = c + <usize>i * ldc;
    const t = tile + (<usize>(i * NR) << 2);
    for (let j = 0; j < cols; j++) {
      const at = row + (<usize>j << 2);
      const v = load<f32>(t + (<usize>j << 2));
      store<f32>(at, first ? v : load<f32>(at) + v);
    }
  }
}

/**
 * microKernel reading A and B where they are: A(r, p) at a + r·aRow + p·aCol bytes, B(p, j)
 * at b + p·ldb + 4j (B row-major), one k block (first). The same loads' values and the same
 * madds in the same order as microKernel over packed panels, so the same bits.
 */
function microDirect(a: usize, aRow: usize, aCol: usize, b: usize, ldb: usize, kc: i32, c: usize, ldc: usize, rows: i32, cols: i32, tile: usize): void {
  let c00 = f32x4.splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  const bEnd = b + <usize>kc * ldb;
  while (b < bEnd) {
    const b0 = v128.load(b);
    const b1 = v128.load(b, 16);
    let x = v128.load32_splat(a);
    c00 = madd(x, b0, c00);
    c01 = madd(x, b1, c01);
    x = v128.load32_splat(a + aRow);
    c10 = madd(x, b0, c10);
    c11 = madd(x, b1, c11);
    x = v128.load32_splat(a + 2 * aRow);
    c20 = madd(x, b0, c20);
    c21 = madd(x, b1, c21);
    x = v128.load32_splat(a + 3 * aRow);
    c30 = madd(x, b0, c30);
    c31 = madd(x, b1, c31);
    a += aCol;
    b += ldb;
  }
  if (rows == MR && cols == NR) {
    storeRow(c, true, c00, c01);
    storeRow(c + ldc, true, c10, c11);
    storeRow(c + 2 * ldc, true, c20, c21);
    storeRow(c + 3 * ldc, true, c30, c31);
    return;
  }
  v128.store(tile, c00);
  v128.store(tile, c01, 16);
  v128.store(tile, c10, 32);
  v128.store(tile, c11, 48);
  v128.store(tile, c20, 64);
  v128.store(tile, c21, 80);
  v128.store(tile, c30, 96);
  v128.store(tile, c31, 112);
  for (let i = 0; i < rows; i++) {
    const row = c + <usize>i * ldc;
    const t = tile + (<usize>(i * NR) << 2);
    for (let j = 0; j < cols; j++) store<f32>(row + (<usize>j << 2), load<f32>(t + (<usize>j << 2)));
  }
}

/** Floats of B (k·n, row-major, k ≤ KC) up to which a product skips packing (matmulDirect). */
const DIRECT_MAX_B: i32 = 16384;

/**
 * C[i0:i1, j0:j1] for a small product (k ≤ KC, B row-major and ≤ 64 KiB, so it stays in
 * cache while read in place), whose packing costs a good part of the arithmetic: full tiles
 * read A and B in place; the last rows of A and the last columns of B go through
 * zero-padded copies in `scratch`. Each element gets packed matmul's operations in its order.
 */
function matmulDirect(a: usize, b: usize, c: usize, m: i32, k: i32, n: i32, transA: bool, scratch: usize,
  i0: i32, i1: i32, j0: i32, j1: i32): void {
  const aEdge = scratch; // MR rows × k, row-major
  const bEdge = scratch + (<usize>(MC * KC) << 2); // k × NR
  const tile = bEdge + (<usize>(KC * NC) << 2);
  const ldc = <usize>n << 2, ldb = <usize>n << 2;
  const aRow0: usize = transA ? 4 : <usize>k << 2, aCol0: usize = transA ? <usize>m << 2 : 4;
  const nEdge = (j1 - j0) % NR, jFull = j1 - nEdge;
  if (nEdge) {
    for (let p = 0; p < k; p++) {
      for (let j = 0; j < NR; j++) {
        store<f32>(bEdge + (<usize>(p * NR + j) << 2), j < nEdge ? load<f32>(b + (<usize>(p * n + jFull + j) << 2)) : 0);
      }
    }
  }
  for (let i = i0; i < i1; i += MR) {
    const rows = min(MR, i1 - i);
    let pa = a + <usize>i * aRow0, aRow = aRow0, aCol = aCol0;
    if (rows < MR) {
      for (let r = 0; r < MR; r++) {
        for (let p = 0; p < k; p++) {
          store<f32>(aEdge + (<usize>(r * k + p) << 2), r < rows ? load<f32>(pa + <usize>r * aRow0 + <usize>p * aCol0) : 0);
        }
      }
      pa = aEdge;
      aRow = <usize>k << 2;
      aCol = 4;
    }
    const cRow = c + <usize>i * ldc;
    for (let j = j0; j < jFull; j += NR) {
      microDirect(pa, aRow, aCol, b + (<usize>j << 2), ldb, k, cRow + (<usize>j << 2), ldc, rows, NR, tile);
    }
    if (nEdge) microDirect(pa, aRow, aCol, bEdge, NR << 2, k, cRow + (<usize>jFull << 2), ldc, rows, nEdge, tile);
  }
}

/**
 * C = op(A)·op(B) with C [m,n] row-major; A is [m,k] (or [k,m] if transA), B is [k,n] (or
 * [n,k] if transB). k ≥ 1. `scratch` holds matmulScratchBytes() bytes, 64-aligned.
 */
export function matmul(a: usize, b: usize, c: usize, m: i32, k: i32, n: i32, transA: bool, transB: bool, scratch: usize): void {
  matmulBlock(a, b, c, m, k, n, transA, transB, scratch, 0, m, 0, n);
}

/**
 * The block C[i0:i1, j0:j1] of the same product, nothing else of C touched: two threads on
 * one shared memory compute blocks of it (rows or columns), each with its own `scratch`.
 */
export function matmulBlock(a: usize, b: usize, c: usize, m: i32, k: i32, n: i32, transA: bool, transB: bool, scratch: usize,
  i0: i32, i1: i32, j0: i32, j1: i32): void {
  if (!transB && k <= KC && k * n <= DIRECT_MAX_B) {
    matmulDirect(a, b, c, m, k, n, transA, scratch, i0, i1, j0, j1);
    return;
  }
  const packedA = scratch;
  const packedB = packedA + (<usize>(MC * KC) << 2);
  const tile = packedB + (<usize>(KC * NC) << 2);
  const ldc = <usize>n << 2;
  // equal k blocks (784 = 4 × 196, not 3 × 256 + 16): no thin last block
  const kBlocks = (k + KC - 1) / KC;
  const kStep = (k + kBlocks - 1) / kBlocks;
  for (let jc = j0; jc < j1; jc += NC) {
    const nc = min(NC, j1 - jc);
    for (let pc = 0; pc < k; pc += kStep) {
      const kc = min(kStep, k - pc);
      packB(b, k, n, transB, pc, kc, jc, nc, packedB);
      for (let ic = i0; ic < i1; ic += MC) {
        const mc = min(MC, i1 - ic);
        packA(a, m, k, transA, ic, mc, pc, kc, packedA);
        for (let jr = 0; jr < nc; jr += NR) {
          const cols = min(NR, nc - jr);
          const pb = packedB + (<usize>(jr * kc) << 2);
          const cCol = c + (<usize>(jc + jr) << 2);
          for (let ir = 0; ir < mc; ir += MR) {
            const rows = min(MR, mc - ir);
            microKernel(packedA + (<usize>(ir * kc) << 2), pb, kc, cCol + <usize>(ic + ir) * ldc, ldc, pc == 0, rows, cols, tile);
          }
        }
      }
    }
  }
}

/**
 * Products [first, last) of a batch of one shape: C_i = op(A_i)·op(B_i) with A_i at
 * a + aOffsets[i] floats and B_i at b + bOffsets[i] floats (offsets: i32 arrays in this
 * memory, possibly repeating), C_i at c + i·m·n floats. k ≥ 1. Each product is the whole
 * single-product loop nest, so its bits do not depend on which thread or block computes it.
 */
export function matmulBatch(a: usize, b: usize, c: usize, m: i32, k: i32, n: i32, transA: bool, transB: bool, scratch: usize,
  aOffsets: usize, bOffsets: usize, first: i32, last: i32): void {
  const cBytes = <usize>m * <usize>n << 2;
  for (let i = first; i < last; i++) {
    const pa = a + (<usize>load<i32>(aOffsets + (<usize>i << 2)) << 2);
    const pb = b + (<usize>load<i32>(bOffsets + (<usize>i << 2)) << 2);
    matmulBlock(pa, pb, c + <usize>i * cBytes, m, k, n, transA, transB, scratch, 0, m, 0, n);
  }
}

// ---------------------------------------------------------------------------------------
// Element-wise kernels. Buffers are padded to a multiple of 4 floats (see top).

/**
 * relu with the js backend's semantics: x cleared where x ≤ 0, an ordered comparison, so NaN
 * stays NaN (PyTorch's relu: a poisoned input must show) and −0 → +0.
 */
export function relu(x: usize, out: usize, n: i32): void {
  const zero = f32x4.splat(0);
  const end = x + (<usize>n << 2);
  for (; x < end; x += 16, out += 16) {
    const v = v128.load(x);
    v128.store(out, v128.andnot(v, f32x4.le(v, zero)));
  }
}

/** 1 where x > 0, else 0 (relu′, as the js backend: NaN → 0). */
export function step(x: usize, out: usize, n: i32): void {
  const zero = f32x4.splat(0);
  const one = f32x4.splat(1);
  const end = x + (<usize>n << 2);
  for (; x < end; x += 16, out += 16) v128.store(out, v128.and(f32x4.gt(v128.load(x), zero), one));
}

// floor, ceil, round (to nearest, ties to even) and the NaN/finite masks: exact, so
// bit-identical to js (NaN, ±∞ and −0 kept by the roundings).
export function floor(x: usize, out: usize, n: i32): void {
  const end = x + (<usize>n << 2);
  for (; x < end; x += 16, out += 16) v128.store(out, f32x4.floor(v128.load(x)));
}

export function ceil(x: usize, out: usize, n: i32): void {
  const end = x + (<usize>n << 2);
  for (; x < end; x += 16, out += 16) v128.store(out, f32x4.ceil(v128.load(x)));
}

export function round(x: usize, out: usize, n: i32): void {
  const end = x + (<usize>n << 2);
  for (; x < end; x += 16, out += 16) v128.store(out, f32x4.nearest(v128.load(x)));
}

export function isNaN(x: usize, out: usize, n: i32): void {
  const one = f32x4.splat(1);
  const end = x + (<usize>n << 2);
  for (; x < end; x += 16, out += 16) {
    const v = v128.load(x);
    v128.store(out, v128.and(f32x4.ne(v, v), one));
  }
}

export function isFinite(x: usize, out: usize, n: i32): void {
  const one = f32x4.splat(1);
  const infinity = f32x4.splat(Infinity);
  const end = x + (<usize>n << 2);
  for (; x < end; x += 16, out += 16) v128.store(out, v128.and(f32x4.lt(f32x4.abs(v128.load(x)), infinity), one));
}

/**
 * erf in float64 for each float32 input, rounded once (≤ 1 ulp from js's float64 erf rounded,
 * measured over 40,000 inputs in [−5, 5]; tests allow 4): scalar, as Math has no erf and the
 * js backend's series would cost ≈ 120 ns an element. Polynomials fitted (minimax-like, on
 * Chebyshev nodes, against 30-digit values) for this kernel:
 *   |x| < 0.9:          erf(x) = x·p(x²), p of degree 7 (≤ 8·10⁻¹² relative)
 *   0.9 ≤ |x| < 3.95:   erf(x) = 1 − e^(−x²)·q(u), q ≈ erfcx of degree 12 in u = (1/|x| − c)/h,
 *                       the interval of 1/|x| mapped to [−1, 1] (≤ 5·10⁻¹¹ relative)
 *   |x| ≥ 3.95:         ±1 (erfc(3.95) = 2.1·10⁻⁸ is below half a float32 ulp of 1)
 * x² is exact in float64 for a float32 x, so e^(−x²) is Math.exp's accuracy.
 */
@inline function erf1(x: f64): f64 {
  const ax = Math.abs(x);
  if (ax < 0.9) {
    const t = x * x;
    return x * (1.1283791670889864 + t * (-0.37612638798127224 + t * (0.11283788921399712 + t * (-0.02686589627161837 + t * (0.005222628691425252 + t * (-0.0008512082673927065 + t * (0.00011508744357734527 + t * (-1.0492417932547265e-05))))))));
  }
  if (ax < 3.95) {
    const u = (1 / ax - 0.6821378340365682) / 0.4289732770745429;
    const r = 1 - Math.exp(-ax * ax) * (0.3272414215648999 + u * (0.155728868060009 + u * (-0.030273967353736324 + u * (0.003766772417915185 + u * (0.00040121645471816083 + u * (-0.0004921998550283009 + u * (0.0002096850901697403 + u * (-5.9922539723491695e-05 + u * (9.507669112804218e-06 + u * (1.8017283118144443e-06 + u * (-2.7973103330032733e-06 + u * (1.7513436415939311e-06 + u * (-4.859607492240573e-07)))))))))))));
    return x < 0 ? -r : r;
  }
  return x != x ? x : (x < 0 ? -1 : 1);
}

export function erf(x: usize, out: usize, n: i32): void {
  const end = x + (<usize>n << 2);
  for (; x < end; x += 4, out += 4) store<f32>(out, <f32>erf1(<f64>load<f32>(x)));
}

// log1p, sin, cos: AssemblyScript's Math (musl's float64 routines, < 1 float64 ulp, as are
// V8's fdlibm ports that js calls) on each float32 input, rounded once, as js rounds Math's
// result: ≤ 1 float32 ulp from js (the float64 values agree to a float64 ulp or so). Its
// expm1 lost to js's at every size measured (0.5–0.8×), so expm1 stays in js.
export function log1p(x: usize, out: usize, n: i32): void {
  const end = x + (<usize>n << 2);
  for (; x < end; x += 4, out += 4) store<f32>(out, <f32>Math.log1p(<f64>load<f32>(x)));
}

export function sin(x: usize, out: usize, n: i32): void {
  const end = x + (<usize>n << 2);
  for (; x < end; x += 4, out += 4) store<f32>(out, <f32>Math.sin(<f64>load<f32>(x)));
}

export function cos(x: usize, out: usize, n: i32): void {
  const end = x + (<usize>n << 2);
  for (; x < end; x += 4, out += 4) store<f32>(out, <f32>Math.cos(<f64>load<f32>(x)));
}

// exp's constants live in memory, not in v128.const: V8 rebuilds a vector constant on every
// loop iteration (it hoists nothing out of wasm loops), while loads before the loop stay in
// registers (or on the stack). With pmin/pmax clamps and rounding by adding 1.5·2²³ (instead
// of f32x4.nearest and i32x4.trunc_sat, which V8 expands), exp went from 3.6 to 1.9 ns a
// float.
const EXP_CONSTANTS = memory.data<f32>([
  -104, 88.8, // clamp: beyond, eˣ rounds to 0 or +Inf anyway
  1.44269504088896341, 12582912, // log₂e; 1.5·2²³ rounds to an integer when added
  0.693359375, -2.12194440e-4, // ln2 = hi + lo, hi with 9 significant bits: n·hi is exact
  1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1,
  1,
]);

@inline function splat(index: i32): v128 {
  return v128.load32_splat(EXP_CONSTANTS + (<usize>index << 2));
}

/**
 * eˣ on four lanes, Cephes expf: n = round(x·log₂e) (by adding 1.5·2²³, whose bits then hold
 * n), r = x − n·ln2 in two parts, eʳ by a degree-7 polynomial (≤ 1 ulp on |r| ≤ ln2/2), then
 * 2ⁿ applied as two factors 2^⌊n/2⌋·2^(n−⌊n/2⌋), each a normal float, so results that
 * underflow to subnormals round gradually and n = 128 overflows to +Inf as it should.
 * x is clamped to [−104, 88.8] with pmax/pmin, which (x first) let NaN through.
 */
@inline function exp4(x: v128, lo: v128, hi: v128, log2e: v128, round: v128, ln2hi: v128, ln2lo: v128,
  p0: v128, p1: v128, p2: v128, p3: v128, p4: v128, p5: v128, one: v128): v128 {
  x = f32x4.pmin(f32x4.pmax(x, lo), hi);
  const t = f32x4.add(f32x4.mul(x, log2e), round);
  const nf = f32x4.sub(t, round);
  let r = f32x4.sub(x, f32x4.mul(nf, ln2hi));
  r = f32x4.sub(r, f32x4.mul(nf, ln2lo));
  let p = f32x4.add(f32x4.mul(p0, r), p1);
  p = f32x4.add(f32x4.mul(p, r), p2);
  p = f32x4.add(f32x4.mul(p, r), p3);
  p = f32x4.add(f32x4.mul(p, r), p4);
  p = f32x4.add(f32x4.mul(p, r), p5);
  p = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(p, r), r), r), one);
  const n = i32x4.sub(t, round);
  const n1 = i32x4.shr_s(n, 1);
  const s1 = i32x4.shl(i32x4.add(n1, i32x4.splat(127)), 23);
  const s2 = i32x4.shl(i32x4.add(i32x4.sub(n, n1), i32x4.splat(127)), 23);
  return f32x4.mul(f32x4.mul(p, s1), s2);
}

export function exp(x: usize, out: usize, n: i32): void {
  const lo = splat(0), hi = splat(1), log2e = splat(2), round = splat(3), ln2hi = splat(4), ln2lo = splat(5);
  const p0 = splat(6), p1 = splat(7), p2 = splat(8), p3 = splat(9), p4 = splat(10), p5 = splat(11), one = splat(12);
  const end = x + (<usize>n << 2);
  for (; x < end; x += 16, out += 16) {
    v128.store(out, exp4(v128.load(x), lo, hi, log2e, round, ln2hi, ln2lo, p0, p1, p2, p3, p4, p5, one));
  }
}

/**
 * σ(x) = 1/(1 + e^−|x|) for x ≥ 0 and e^−|x|/(1 + e^−|x|) below, as the js backend: exp's
 * argument is never positive, so nothing overflows. NaN stays NaN.
 */
export function sigmoid(x: usize, out: usize, n: i32): void {
  const lo = splat(0), hi = splat(1), log2e = splat(2), round = splat(3), ln2hi = splat(4), ln2lo = splat(5);
  const p0 = splat(6), p1 = splat(7), p2 = splat(8), p3 = splat(9), p4 = splat(10), p5 = splat(11), one = splat(12);
  const zero = f32x4.splat(0);
  const end = x + (<usize>n << 2);
  for (; x < end; x += 16, out += 16) {
    const v = v128.load(x);
    const e = exp4(f32x4.neg(f32x4.abs(v)), lo, hi, log2e, round, ln2hi, ln2lo, p0, p1, p2, p3, p4, p5, one);
    const r = f32x4.div(one, f32x4.add(one, e));
    v128.store(out, v128.bitselect(r, f32x4.mul(e, r), f32x4.ge(v, zero)));
  }
}

// log1p's constants (Cephes logf), in memory for the same reason as exp's.
const LOG1P_CONSTANTS = memory.data<f32>([
  0.41421356, 0.5, // √2 − 1: above it, log1p(e) = ln2 + log1p((e − 1)/2)
  7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1,
  -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
  0.693359375, -2.12194440e-4, // ln2 = hi + lo, as in exp
]);

@inline function logSplat(index: i32): v128 {
  return v128.load32_splat(LOG1P_CONSTANTS + (<usize>index << 2));
}

/**
 * softplus(x) = log(1 + eˣ) = max(x, 0) + log1p(e^−|x|), as the js backend: e = e^−|x| is in
 * (0, 1], so nothing overflows. log1p(e) is Cephes logf on 1 + e without forming 1 + e
 * (which would round e away when x ≪ 0): t = e below √2 − 1, else t = (e − 1)/2 plus ln2,
 * then log(1 + t) = t − t²/2 + t³·P(t), |t| ≤ 0.2929, ≤ 1 ulp. NaN stays NaN (pmax with x
 * first lets it through; exp4 passes it on).
 */
export function softplus(x: usize, out: usize, n: i32): void {
  const lo = splat(0), hi = splat(1), log2e = splat(2), round = splat(3), ln2hi = splat(4), ln2lo = splat(5);
  const p0 = splat(6), p1 = splat(7), p2 = splat(8), p3 = splat(9), p4 = splat(10), p5 = splat(11), one = splat(12);
  const cut = logSplat(0), half = logSplat(1);
  const q0 = logSplat(2), q1 = logSplat(3), q2 = logSplat(4), q3 = logSplat(5), q4 = logSplat(6);
  const q5 = logSplat(7), q6 = logSplat(8), q7 = logSplat(9), q8 = logSplat(10), lnHi = logSplat(11), lnLo = logSplat(12);
  const zero = f32x4.splat(0);
  const end = x + (<usize>n << 2);
  for (; x < end; x += 16, out += 16) {
    const v = v128.load(x);
    const e = exp4(f32x4.neg(f32x4.abs(v)), lo, hi, log2e, round, ln2hi, ln2lo, p0, p1, p2, p3, p4, p5, one);
    const big = f32x4.ge(e, cut);
    const t = v128.bitselect(f32x4.mul(f32x4.sub(e, one), half), e, big);
    const k = v128.and(big, one); // 1 or 0: the power of two taken out
    const z = f32x4.mul(t, t);
    let p = f32x4.add(f32x4.mul(q0, t), q1);
    p = f32x4.add(f32x4.mul(p, t), q2);
    p = f32x4.add(f32x4.mul(p, t), q3);
    p = f32x4.add(f32x4.mul(p, t), q4);
    p = f32x4.add(f32x4.mul(p, t), q5);
    p = f32x4.add(f32x4.mul(p, t), q6);
    p = f32x4.add(f32x4.mul(p, t), q7);
    p = f32x4.add(f32x4.mul(p, t), q8);
    let y = f32x4.mul(f32x4.mul(p, t), z);
    y = f32x4.add(y, f32x4.mul(k, lnLo));
    y = f32x4.sub(y, f32x4.mul(z, half));
    const l = f32x4.add(f32x4.add(t, y), f32x4.mul(k, lnHi));
    v128.store(out, f32x4.add(f32x4.pmax(v, zero), l));
  }
}

// ---------------------------------------------------------------------------------------
// Activation gradients on two same-size operands (y or x, and dy), with the float32
// operations, in the order, of the mul/sub kernels they replace: bit-identical to them.

/** dy·(y·(1 − y)): sigmoid's VJP from its output y. */
export function sigmoidGrad(y: usize, dy: usize, out: usize, n: i32): void {
  const one = splat(12);
  const end = y + (<usize>n << 2);
  for (; y < end; y += 16, dy += 16, out += 16) {
    const v = v128.load(y);
    v128.store(out, f32x4.mul(v128.load(dy), f32x4.mul(v, f32x4.sub(one, v))));
  }
}

/** dy·(1 − y·y): tanh's VJP from its output y. */
export function tanhGrad(y: usize, dy: usize, out: usize, n: i32): void {
  const one = splat(12);
  const end = y + (<usize>n << 2);
  for (; y < end; y += 16, dy += 16, out += 16) {
    const v = v128.load(y);
    v128.store(out, f32x4.mul(v128.load(dy), f32x4.sub(one, f32x4.mul(v, v))));
  }
}

/** dy·(x > 0 ? 1 : 0): relu's VJP from its input x (a product, so NaN/Inf/−0 as mul gives). */
export function reluGrad(x: usize, dy: usize, out: usize, n: i32): void {
  const zero = f32x4.splat(0);
  const one = splat(12);
  const end = x + (<usize>n << 2);
  for (; x < end; x += 16, dy += 16, out += 16) {
    v128.store(out, f32x4.mul(v128.load(dy), v128.and(f32x4.gt(v128.load(x), zero), one)));
  }
}

/**
 * out = y − s·x (θ ← θ − η·g): a multiply then a subtract, each rounded to float32, never
 * fused, so it equals the mul and sub kernels bit for bit. s arrives as an f32 (JavaScript
 * rounds the number to nearest on the call, as a float32 scalar tensor would hold it).
 */
export function subScaled(y: usize, x: usize, s: f32, out: usize, n: i32): void {
  const a = f32x4.splat(s);
  const end = y + (<usize>n << 2);
  for (; y < end; y += 16, x += 16, out += 16) v128.store(out, f32x4.sub(v128.load(y), f32x4.mul(a, v128.load(x))));
}

// Binary arithmetic over an [rows, cols] output. Each operand is read in one of four modes:
const FULL = 0; // its own [rows, cols] values
const ROW = 1; // one [cols] row, repeated for every row (bias [1, n] or [n])
const COLUMN = 2; // one value per row ([rows, 1])
const SCALAR = 3; // one value
// ops: 0 add, 1 sub, 2 mul, 3 div, 4 maximum, 5 minimum (NaN if either side is, else x on
// ties: x where x ≥ y (x ≤ y) or x is NaN, else y, as the js backend)

@inline function op4(op: i32, x: v128, y: v128): v128 {
  if (op == 0) return f32x4.add(x, y);
  if (op == 1) return f32x4.sub(x, y);
  if (op == 2) return f32x4.mul(x, y);
  if (op == 4) return v128.bitselect(x, y, v128.or(f32x4.ge(x, y), f32x4.ne(x, x)));
  if (op == 5) return v128.bitselect(x, y, v128.or(f32x4.le(x, y), f32x4.ne(x, x)));
  return f32x4.div(x, y);
}

@inline function op1(op: i32, x: f32, y: f32): f32 {
  if (op == 0) return x + y;
  if (op == 1) return x - y;
  if (op == 2) return x * y;
  if (op == 4) return x >= y || x != x ? x : y;
  if (op == 5) return x <= y || x != x ? x : y;
  return x / y;
}

/** One row: `a` and `b` each a vector (v = 1) or a scalar broadcast over the row (v = 0). */
@inline function row(op: i32, va: bool, vb: bool, a: usize, b: usize, out: usize, cols: i32): void {
  const sa = va ? f32x4.splat(0) : v128.load32_splat(a);
  const sb = vb ? f32x4.splat(0) : v128.load32_splat(b);
  const xa = va ? <f32>0 : load<f32>(a);
  const xb = vb ? <f32>0 : load<f32>(b);
  let j = 0;
  for (; j + 4 <= cols; j += 4) {
    const o = <usize>j << 2;
    v128.store(out + o, op4(op, va ? v128.load(a + o) : sa, vb ? v128.load(b + o) : sb));
  }
  for (; j < cols; j++) {
    const o = <usize>j << 2;
    store<f32>(out + o, op1(op, va ? load<f32>(a + o) : xa, vb ? load<f32>(b + o) : xb));
  }
}

@inline function rows(op: i32, a: usize, aMode: i32, b: usize, bMode: i32, out: usize, nRows: i32, cols: i32): void {
  const va = aMode == FULL || aMode == ROW;
  const vb = bMode == FULL || bMode == ROW;
  const ld = <usize>cols << 2;
  for (let i = 0; i < nRows; i++) {
    const pa = aMode == FULL ? a + <usize>i * ld : aMode == COLUMN ? a + (<usize>i << 2) : a;
    const pb = bMode == FULL ? b + <usize>i * ld : bMode == COLUMN ? b + (<usize>i << 2) : b;
    if (va && vb) row(op, true, true, pa, pb, out, cols);
    else if (va) row(op, true, false, pa, pb, out, cols);
    else if (vb) row(op, false, true, pa, pb, out, cols);
    else row(op, false, false, pa, pb, out, cols);
    out += ld;
  }
}

/** out[rows, cols] = a op b, each operand read in its mode (FULL, ROW, COLUMN, SCALAR). */
export function binary(op: i32, a: usize, aMode: i32, b: usize, bMode: i32, out: usize, nRows: i32, cols: i32): void {
  if (op == 0) rows(0, a, aMode, b, bMode, out, nRows, cols);
  else if (op == 1) rows(1, a, aMode, b, bMode, out, nRows, cols);
  else if (op == 2) rows(2, a, aMode, b, bMode, out, nRows, cols);
  else if (op == 4) rows(4, a, aMode, b, bMode, out, nRows, cols);
  else if (op == 5) rows(5, a, aMode, b, bMode, out, nRows, cols);
  else rows(3, a, aMode, b, bMode, out, nRows, cols);
}

// ---------------------------------------------------------------------------------------
// Sums.

/**
 * out[i] = Σⱼ x[i, j] over [rows, cols], accumulated in float64 (like the js backend's
 * row sums), so only the final rounding to float32 differs from a sequential sum.
 */
export function sumRows(x: usize, out: usize, nRows: i32, cols: i32): void {
  for (let i = 0; i < nRows; i++) {
    let acc0 = f64x2.splat(0), acc1 = acc0;
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const v = v128.load(x);
      acc0 = f64x2.add(acc0, f64x2.promote_low_f32x4(v));
      acc1 = f64x2.add(acc1, f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3)));
      x += 16;
    }
    const both = f64x2.add(acc0, acc1);
    let acc = f64x2.extract_lane(both, 0) + f64x2.extract_lane(both, 1);
    for (; j < cols; j++) {
      acc += <f64>load<f32>(x);
      x += 4;
    }
    store<f32>(out + (<usize>i << 2), <f32>acc);
  }
}

/**
 * out[o, i] = Σₘ x[o, m, i] over [outer, mid, inner], adding whole rows of `inner` in
 * order of m, in float32: the same additions in the same order as the js backend.
 */
export function sumMiddle(x: usize, out: usize, outer: i32, mid: i32, inner: i32): void {
  const ld = <usize>inner << 2;
  for (let o = 0; o < outer; o++) {
    memory.fill(out, 0, ld);
    for (let m = 0; m < mid; m++) {
      let j = 0;
      for (; j + 4 <= inner; j += 4) {
        const at = out + (<usize>j << 2);
        v128.store(at, f32x4.add(v128.load(at), v128.load(x + (<usize>j << 2))));
      }
      for (; j < inner; j++) {
        const at = out + (<usize>j << 2);
        store<f32>(at, load<f32>(at) + load<f32>(x + (<usize>j << 2)));
      }
      x += ld;
    }
    out += ld;
  }
}

// ---------------------------------------------------------------------------------------
// unfold (im2col) and fold (col2im): the loops of core's js reference
// (packages/core/src/backend/js-conv.ts), in its order, so unfold copies the same values
// and fold adds each image element's terms in the same order, one float32 addition at a
// time: bit-identical to js. Geometry as core's ConvGeometry; x and the columns are
// [N, C, H, W] and [N, C·kH·kW, outH·outW], float32.

/** out[0, n) = value. */
@inline function fillF32(out: usize, n: i32, value: f32): void {
  const end = out + (<usize>n << 2);
  const v = f32x4.splat(value);
  for (; out + 16 <= end; out += 16) v128.store(out, v);
  for (; out < end; out += 4) store<f32>(out, value);
}

/** First output column ow with ow·stride + offset ≥ 0 (at most count). */
@inline function firstValid(offset: i32, stride: i32, count: i32): i32 {
  return offset >= 0 ? 0 : min(count, (-offset + stride - 1) / stride);
}

/** One past the last output column with ow·stride + offset < size (at least first). */
@inline function endValid(offset: i32, stride: i32, size: i32, count: i32, first: i32): i32 {
  const last = size - 1 - offset; // largest ow·stride allowed
  return last < 0 ? first : max(first, min(count, last / stride + 1));
}

export function unfold(x: usize, out: usize, padValue: f32, N: i32, C: i32, H: i32, W: i32, kH: i32, kW: i32,
  strideH: i32, strideW: i32, padH: i32, padW: i32, dilationH: i32, dilationW: i32, outH: i32, outW: i32, batched: i32): void {
  const plane = <usize>(H * W) << 2;
  const rowBytes = <usize>outW << 2;
  const images = N * C;
  // where column row r of image n starts: [N, K, L] per image, or [K, N·L] batched (core's js-conv.ts)
  const L = <usize>(outH * outW), K = <usize>(C * kH * kW);
  const imageStride = (batched ? L : K * L) << 2, rowStride = (batched ? <usize>N * L : L) << 2;
  for (let image = 0; image < images; image++) {
    const base = x + <usize>image * plane;
    const n = image / C, ch = image % C;
    for (let i = 0; i < kH; i++) {
      const rowOffset = i * dilationH - padH;
      for (let j = 0; j < kW; j++) {
        const colOffset = j * dilationW - padW;
        const first = firstValid(colOffset, strideW, outW);
        const end = endValid(colOffset, strideW, W, outW, first);
        let o = out + <usize>n * imageStride + <usize>((ch * kH + i) * kW + j) * rowStride;
        for (let oh = 0; oh < outH; oh++, o += rowBytes) {
          const ih = oh * strideH + rowOffset;
          if (ih < 0 || ih >= H) {
            fillF32(o, outW, padValue);
            continue;
          }
          if (first > 0) fillF32(o, first, padValue);
          // element ow reads base[ih·W + colOffset + ow·strideW]
          const row = base + (<usize>(ih * W + colOffset + first * strideW) << 2);
          if (end <= first) {
            // no column inside the image (the row pointer may lie before it): nothing to copy
          } else if (strideW == 1) {
            memory.copy(o + (<usize>first << 2), row, <usize>(end - first) << 2);
          } else {
            const step = <usize>strideW << 2;
            let src = row;
            for (let ow = first; ow < end; ow++, src += step) store<f32>(o + (<usize>ow << 2), load<f32>(src));
          }
          if (end < outW) fillF32(o + (<usize>end << 2), outW - end, padValue);
        }
      }
    }
  }
}

export function fold(cols: usize, out: usize, N: i32, C: i32, H: i32, W: i32, kH: i32, kW: i32,
  strideH: i32, strideW: i32, padH: i32, padW: i32, dilationH: i32, dilationW: i32, outH: i32, outW: i32, batched: i32): void {
  const plane = <usize>(H * W) << 2;
  const images = N * C;
  memory.fill(out, 0, <usize>images * plane);
  const rowBytes = <usize>outW << 2;
  const L = <usize>(outH * outW), K = <usize>(C * kH * kW);
  const imageStride = (batched ? L : K * L) << 2, rowStride = (batched ? <usize>N * L : L) << 2;
  for (let image = 0; image < images; image++) {
    const base = out + <usize>image * plane;
    const n = image / C, ch = image % C;
    for (let i = 0; i < kH; i++) {
      const rowOffset = i * dilationH - padH;
      for (let j = 0; j < kW; j++) {
        const colOffset = j * dilationW - padW;
        const first = firstValid(colOffset, strideW, outW);
        const end = endValid(colOffset, strideW, W, outW, first);
        let c = cols + <usize>n * imageStride + <usize>((ch * kH + i) * kW + j) * rowStride;
        for (let oh = 0; oh < outH; oh++, c += rowBytes) {
          const ih = oh * strideH + rowOffset;
          if (ih < 0 || ih >= H) continue;
          const row = base + (<usize>(ih * W + colOffset + first * strideW) << 2);
          const src = c + (<usize>first << 2);
          const count = end - first;
          if (strideW == 1) {
            // distinct destinations: four lanes at once add each element's terms in js's order
            let k = 0;
            for (; k + 4 <= count; k += 4) {
              const at = row + (<usize>k << 2);
              v128.store(at, f32x4.add(v128.load(at), v128.load(src + (<usize>k << 2))));
            }
            for (; k < count; k++) {
              const at = row + (<usize>k << 2);
              store<f32>(at, load<f32>(at) + load<f32>(src + (<usize>k << 2)));
            }
          } else {
            const step = <usize>strideW << 2;
            let at = row;
            for (let k = 0; k < count; k++, at += step) store<f32>(at, load<f32>(at) + load<f32>(src + (<usize>k << 2)));
          }
        }
      }
    }
  }
}

/** First byte the JavaScript side may use: everything above belongs to it. */
export function heapBase(): usize {
  return __heap_base;
}
