// AVX-512 float32 matmul micro-kernels, chosen at run time when the CPU has AVX-512F (cpu.cc:
// the rest of the AVX-512 kernel set is the AVX2 one). The whole file is compiled for that
// target by the pragma below, the rest of the addon for plain x86-64; only intrinsics and C
// headers come after the pragma (see kernels_avx2.cc: an inline library function instantiated
// here would carry AVX-512 code into a copy the portable code may call).
//
// Bits: each lane computes exactly what the AVX2 6×16 kernels compute for its element — the
// FMA chain from +0 over p in order within the k block, then the block's sum stored or added
// to C — so a wider vector or a taller tile changes which elements are computed together,
// never an element's operations or their order.
#include <cstdint>
#include "kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#pragma GCC target("avx512f,avx2,fma")
#include <immintrin.h>

namespace tg {

// 8×32: sixteen zmm accumulators, two for the B row, one broadcast A value (19 of 32
// registers). Per k step 10 loads for 16 FMAs (the AVX2 6×16: 8 for 12, a quarter of the lanes).
void micro8x32Avx512(long kc, const float* A, const float* B, float* C, long ldc, bool accumulate) {
  __m512 c0[8], c1[8];
#pragma GCC unroll 8
  for (int r = 0; r < 8; r++) c0[r] = c1[r] = _mm512_setzero_ps();
#pragma GCC unroll 4
  for (long p = 0; p < kc; ++p) {
    const __m512 b0 = _mm512_load_ps(B), b1 = _mm512_load_ps(B + 16);
#pragma GCC unroll 8
    for (int r = 0; r < 8; r++) {
      const __m512 a = _mm512_set1_ps(A[r]);
      c0[r] = _mm512_fmadd_ps(a, b0, c0[r]);
      c1[r] = _mm512_fmadd_ps(a, b1, c1[r]);
    }
    A += 8;
    B += 32;
  }
#pragma GCC unroll 8
  for (int r = 0; r < 8; r++) {
    float* row = C + r * ldc;
    __m512 lo = c0[r], hi = c1[r];
    if (accumulate) {
      lo = _mm512_add_ps(_mm512_loadu_ps(row), lo);
      hi = _mm512_add_ps(_mm512_loadu_ps(row + 16), hi);
    }
    _mm512_storeu_ps(row, lo);
    _mm512_storeu_ps(row + 16, hi);
  }
}

// micro8x32Avx512 reading A and B in place (B's rows ldb apart), as micro6x16Direct does for
// the AVX2 set: the same FMAs in the same order, so the same bits.
void micro8x32DirectAvx512(long kc, const float* A, long aRow, long aCol, const float* B, long ldb, float* C, long ldc) {
  __m512 c0[8], c1[8];
  const float* a[8];
#pragma GCC unroll 8
  for (int r = 0; r < 8; r++) {
    c0[r] = c1[r] = _mm512_setzero_ps();
    a[r] = A + r * aRow;
  }
#pragma GCC unroll 4
  for (long p = 0; p < kc; ++p) {
    const long q = p * aCol;
    const __m512 b0 = _mm512_loadu_ps(B), b1 = _mm512_loadu_ps(B + 16);
#pragma GCC unroll 8
    for (int r = 0; r < 8; r++) {
      const __m512 av = _mm512_set1_ps(a[r][q]);
      c0[r] = _mm512_fmadd_ps(av, b0, c0[r]);
      c1[r] = _mm512_fmadd_ps(av, b1, c1[r]);
    }
    B += ldb;
  }
#pragma GCC unroll 8
  for (int r = 0; r < 8; r++) {
    _mm512_storeu_ps(C + r * ldc, c0[r]);
    _mm512_storeu_ps(C + r * ldc + 16, c1[r]);
  }
}

// avx2FmaLoop over 16-wide zmm FMAs (twelve chains): the float32 peak probe's loop where the
// AVX-512 set runs, so that "% of FMA peak" stays a fraction of what the kernels can reach.
void avx512FmaLoop(long iterations, float* sink) {
  __m512 acc[12];
  for (int i = 0; i < 12; i++) acc[i] = _mm512_set1_ps(1.0f + i * 1e-3f);
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
  for (long it = 0; it < iterations; it++) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++) acc[i] = _mm512_fmadd_ps(acc[i], m, c);
  }
  __m512 s = acc[0];
  for (int i = 1; i < 12; i++) s = _mm512_add_ps(s, acc[i]);
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, s);
  *sink = lanes[0] + lanes[15];
}

// KernelSet::microColumns on zmm registers: each column of the tile one vector of up to 16
// rows (lanes ≥ rows masked: read as 0, never touching memory, so A may end right after the
// last row), NJ ≤ 12 accumulators, one A column and one broadcast B value live. Per element
// the FMA chain from +0 over p in order and the add to the tile that the AVX2 version
// computes on two ymm vectors of 8 rows: the same bits, with half the FMAs per k step.
template <int NJ, bool RowB>
void microColumns16(long kc, const float* A, long aStep, __mmask16 mask, const float* B, long bRow, long bCol, float* tile, bool accumulate) {
  __m512 acc[NJ];
#pragma GCC unroll 12
  for (int j = 0; j < NJ; j++) acc[j] = _mm512_setzero_ps();
#pragma GCC unroll 2
  for (long p = 0; p < kc; ++p) {
    const __m512 a = _mm512_maskz_loadu_ps(mask, A);
    const float* b = B;
    B += bRow;
#pragma GCC unroll 12
    for (int j = 0; j < NJ; j++) acc[j] = _mm512_fmadd_ps(a, _mm512_set1_ps(b[RowB ? j : j * bCol]), acc[j]);
    A += aStep;
  }
#pragma GCC unroll 12
  for (int j = 0; j < NJ; j++) {
    float* t = tile + j * 16;
    _mm512_storeu_ps(t, accumulate ? _mm512_add_ps(_mm512_loadu_ps(t), acc[j]) : acc[j]);
  }
}

template <int NJ>
void microColumnsOf16(long kc, const float* A, long aStep, __mmask16 mask, const float* B, long bRow, long bCol, float* tile, bool accumulate) {
  if (bCol == 1) microColumns16<NJ, true>(kc, A, aStep, mask, B, bRow, bCol, tile, accumulate);
  else microColumns16<NJ, false>(kc, A, aStep, mask, B, bRow, bCol, tile, accumulate);
}

// rows ≤ 16, cols ≤ 12 (KernelSet::columnsAt16 = 12: gemm.cc's gemmColumns then makes one
// call per k block for n ≤ 12)
void microColumnsAvx512(long kc, const float* A, long aStep, long rows, const float* B, long bRow, long bCol, long cols, float* tile, bool accumulate) {
  const __mmask16 mask = static_cast<__mmask16>((1u << rows) - 1u);
  switch (cols) {
    case 1: microColumnsOf16<1>(kc, A, aStep, mask, B, bRow, bCol, tile, accumulate); return;
    case 2: microColumnsOf16<2>(kc, A, aStep, mask, B, bRow, bCol, tile, accumulate); return;
    case 3: microColumnsOf16<3>(kc, A, aStep, mask, B, bRow, bCol, tile, accumulate); return;
    case 4: microColumnsOf16<4>(kc, A, aStep, mask, B, bRow, bCol, tile, accumulate); return;
    case 5: microColumnsOf16<5>(kc, A, aStep, mask, B, bRow, bCol, tile, accumulate); return;
    case 6: microColumnsOf16<6>(kc, A, aStep, mask, B, bRow, bCol, tile, accumulate); return;
    case 7: microColumnsOf16<7>(kc, A, aStep, mask, B, bRow, bCol, tile, accumulate); return;
    case 8: microColumnsOf16<8>(kc, A, aStep, mask, B, bRow, bCol, tile, accumulate); return;
    case 9: microColumnsOf16<9>(kc, A, aStep, mask, B, bRow, bCol, tile, accumulate); return;
    case 10: microColumnsOf16<10>(kc, A, aStep, mask, B, bRow, bCol, tile, accumulate); return;
    case 11: microColumnsOf16<11>(kc, A, aStep, mask, B, bRow, bCol, tile, accumulate); return;
    default: microColumnsOf16<12>(kc, A, aStep, mask, B, bRow, bCol, tile, accumulate); return;
  }
}

}  // namespace tg
#endif
