// AVX2 + FMA kernels, chosen at run time when the CPU has both (cpu.cc). The whole file is
// compiled for that target by the pragma below, the rest of the addon for plain x86-64, so
// one build runs on any x86-64 CPU. Only intrinsics and C headers come after the pragma:
// an inline library function instantiated here would carry AVX2 code into the shared copy
// that the portable code may call (one-definition rule), and crash a CPU without it.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include "kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#pragma GCC target("avx2,fma")
#include <immintrin.h>
#include "elementwise.h"  // float64's element-wise templates, instantiated below for this target

namespace tg {
namespace {

// ---- matmul micro-kernel -------------------------------------------------------------------

// 6×16: twelve ymm accumulators, two for the B row, one for the broadcast A value (15 of 16
// registers). Each A value feeds two FMAs and each B row six, so per k step there are 8
// loads for 12 FMAs: the two FMA ports, not the load ports, are the limit.
void micro6x16(long kc, const float* A, const float* B, float* C, long ldc, bool accumulate) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
#pragma GCC unroll 4
  for (long p = 0; p < kc; ++p) {
    const __m256 b0 = _mm256_load_ps(B), b1 = _mm256_load_ps(B + 8);
    __m256 a = _mm256_broadcast_ss(A + 0);
    c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01);
    a = _mm256_broadcast_ss(A + 1);
    c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11);
    a = _mm256_broadcast_ss(A + 2);
    c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21);
    a = _mm256_broadcast_ss(A + 3);
    c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31);
    a = _mm256_broadcast_ss(A + 4);
    c40 = _mm256_fmadd_ps(a, b0, c40); c41 = _mm256_fmadd_ps(a, b1, c41);
    a = _mm256_broadcast_ss(A + 5);
    c50 = _mm256_fmadd_ps(a, b0, c50); c51 = _mm256_fmadd_ps(a, b1, c51);
    A += 6;
    B += 16;
  }
#define TG_STORE_ROW(r, lo, hi)                                              \
  {                                                                          \
    float* row = C + (r) * ldc;                                              \
    if (accumulate) {                                                        \
      lo = _mm256_add_ps(_mm256_loadu_ps(row), lo);                          \
      hi = _mm256_add_ps(_mm256_loadu_ps(row + 8), hi);                      \
    }                                                                        \
    _mm256_storeu_ps(row, lo);                                               \
    _mm256_storeu_ps(row + 8, hi);                                           \
  }
  TG_STORE_ROW(0, c00, c01) TG_STORE_ROW(1, c10, c11) TG_STORE_ROW(2, c20, c21)
  TG_STORE_ROW(3, c30, c31) TG_STORE_ROW(4, c40, c41) TG_STORE_ROW(5, c50, c51)
#undef TG_STORE_ROW
}

// micro6x16 reading A and B where they are (B row-major, rows ldb apart): the same loads'
// values and the same FMAs in the same order as micro6x16 over packed panels, so the same
// bits; for small products, whose packing costs a good part of the arithmetic.
void micro6x16Direct(long kc, const float* A, long aRow, long aCol, const float* B, long ldb, float* C, long ldc) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  const float *a0 = A, *a1 = A + aRow, *a2 = A + 2 * aRow, *a3 = A + 3 * aRow, *a4 = A + 4 * aRow, *a5 = A + 5 * aRow;
#pragma GCC unroll 4
  for (long p = 0; p < kc; ++p) {
    const long q = p * aCol;
    const __m256 b0 = _mm256_loadu_ps(B), b1 = _mm256_loadu_ps(B + 8);
    __m256 a = _mm256_broadcast_ss(a0 + q);
    c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01);
    a = _mm256_broadcast_ss(a1 + q);
    c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11);
    a = _mm256_broadcast_ss(a2 + q);
    c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21);
    a = _mm256_broadcast_ss(a3 + q);
    c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31);
    a = _mm256_broadcast_ss(a4 + q);
    c40 = _mm256_fmadd_ps(a, b0, c40); c41 = _mm256_fmadd_ps(a, b1, c41);
    a = _mm256_broadcast_ss(a5 + q);
    c50 = _mm256_fmadd_ps(a, b0, c50); c51 = _mm256_fmadd_ps(a, b1, c51);
    B += ldb;
  }
  _mm256_storeu_ps(C, c00); _mm256_storeu_ps(C + 8, c01); C += ldc;
  _mm256_storeu_ps(C, c10); _mm256_storeu_ps(C + 8, c11); C += ldc;
  _mm256_storeu_ps(C, c20); _mm256_storeu_ps(C + 8, c21); C += ldc;
  _mm256_storeu_ps(C, c30); _mm256_storeu_ps(C + 8, c31); C += ldc;
  _mm256_storeu_ps(C, c40); _mm256_storeu_ps(C + 8, c41); C += ldc;
  _mm256_storeu_ps(C, c50); _mm256_storeu_ps(C + 8, c51);
}

// In place: r[q] becomes column q of the 8×8 block whose rows were r[0..7].
inline void transpose8x8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20); r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20); r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31); r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31); r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// KernelSet::packLines: eight lines at a time, eight p at a time through transpose8x8 (the
// scalar copy it replaces stored each value 64 bytes from the last: one store per value).
// Width 6 (A's panels): eight lanes stored per p, in increasing p, each store's last two
// overwritten by the next; the last spills two floats past the panel (kernels.h).
void packLinesAvx2(const float* src, long ld, long lines, long kc, float* dst, long width) {
  for (long l0 = 0; l0 < width; l0 += 8) {
    const long nl = lines - l0 >= 8 ? 8 : lines - l0 > 0 ? lines - l0 : 0;  // no std:: templates here (top of file)
    float* out = dst + l0;
    if (nl == 0) {
      for (long p = 0; p < kc; p++) _mm256_storeu_ps(out + p * width, _mm256_setzero_ps());
      continue;
    }
    const float* line = src + l0 * ld;
    if (kc < 8) {
      for (long p = 0; p < kc; p++)
        for (long l = 0; l < 8; l++) out[p * width + l] = l < nl ? line[l * ld + p] : 0.0f;
      continue;
    }
    long p = 0;
    for (;;) {
      __m256 r[8];
      for (int l = 0; l < 8; l++) r[l] = l < nl ? _mm256_loadu_ps(line + l * ld + p) : _mm256_setzero_ps();
      transpose8x8(r);
      for (int q = 0; q < 8; q++) _mm256_storeu_ps(out + (p + q) * width, r[q]);
      if (p + 8 >= kc) break;
      // the last block ends at kc, overlapping the one before (its values written twice)
      p = p + 16 <= kc ? p + 8 : kc - 8;
    }
  }
}

// KernelSet::microColumns for `NJ` columns of NV·8 rows: NV·NJ accumulators, NV A columns
// and one broadcast B value live (≤ 15 registers). `Masked`: the last vector's rows are
// short, read by maskload (masked lanes read as 0 and never touch memory: A may end right
// after the last row).
template <int NJ, int NV, bool Masked, bool RowB>
void microColumnsN(long kc, const float* A, long aStep, __m256i mask, const float* B, long bRow, long bCol, float* tile, bool accumulate) {
  __m256 acc[NV][NJ];
#pragma GCC unroll 12
  for (int j = 0; j < NJ; j++)
    for (int v = 0; v < NV; v++) acc[v][j] = _mm256_setzero_ps();
#pragma GCC unroll 2
  for (long p = 0; p < kc; ++p) {
    __m256 a[NV];
    for (int v = 0; v < NV; v++) a[v] = Masked && v == NV - 1 ? _mm256_maskload_ps(A + 8 * v, mask) : _mm256_loadu_ps(A + 8 * v);
    const float* b = B;
    B += bRow;
#pragma GCC unroll 12
    for (int j = 0; j < NJ; j++) {
      const __m256 bj = _mm256_broadcast_ss(b + (RowB ? j : j * bCol));
      for (int v = 0; v < NV; v++) acc[v][j] = _mm256_fmadd_ps(a[v], bj, acc[v][j]);
    }
    A += aStep;
  }
#pragma GCC unroll 12
  for (int j = 0; j < NJ; j++)
    for (int v = 0; v < NV; v++) {
      float* t = tile + j * 16 + 8 * v;
      _mm256_store_ps(t, accumulate ? _mm256_add_ps(_mm256_load_ps(t), acc[v][j]) : acc[v][j]);
    }
}

template <int NJ, int NV>
void microColumnsOf(long kc, const float* A, long aStep, long rows, const float* B, long bRow, long bCol, float* tile, bool accumulate) {
  const long last = rows - 8 * (NV - 1);  // rows in the last vector
  const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(last)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  if (bCol == 1) {  // B row-major: each row's values contiguous
    if (last >= 8) microColumnsN<NJ, NV, false, true>(kc, A, aStep, mask, B, bRow, bCol, tile, accumulate);
    else microColumnsN<NJ, NV, true, true>(kc, A, aStep, mask, B, bRow, bCol, tile, accumulate);
  } else {
    if (last >= 8) microColumnsN<NJ, NV, false, false>(kc, A, aStep, mask, B, bRow, bCol, tile, accumulate);
    else microColumnsN<NJ, NV, true, false>(kc, A, aStep, mask, B, bRow, bCol, tile, accumulate);
  }
}

// rows ≤ 8: up to 12 columns; 8 < rows ≤ 16: up to 6 (twice the rows per broadcast of B).
void microColumnsAvx2(long kc, const float* A, long aStep, long rows, const float* B, long bRow, long bCol, long cols, float* tile, bool accumulate) {
  if (rows > 8) {
    switch (cols) {
      case 1: microColumnsOf<1, 2>(kc, A, aStep, rows, B, bRow, bCol, tile, accumulate); return;
      case 2: microColumnsOf<2, 2>(kc, A, aStep, rows, B, bRow, bCol, tile, accumulate); return;
      case 3: microColumnsOf<3, 2>(kc, A, aStep, rows, B, bRow, bCol, tile, accumulate); return;
      case 4: microColumnsOf<4, 2>(kc, A, aStep, rows, B, bRow, bCol, tile, accumulate); return;
      case 5: microColumnsOf<5, 2>(kc, A, aStep, rows, B, bRow, bCol, tile, accumulate); return;
      default: microColumnsOf<6, 2>(kc, A, aStep, rows, B, bRow, bCol, tile, accumulate); return;
    }
  }
  switch (cols) {
    case 1: microColumnsOf<1, 1>(kc, A, aStep, rows, B, bRow, bCol, tile, accumulate); return;
    case 2: microColumnsOf<2, 1>(kc, A, aStep, rows, B, bRow, bCol, tile, accumulate); return;
    case 3: microColumnsOf<3, 1>(kc, A, aStep, rows, B, bRow, bCol, tile, accumulate); return;
    case 4: microColumnsOf<4, 1>(kc, A, aStep, rows, B, bRow, bCol, tile, accumulate); return;
    case 5: microColumnsOf<5, 1>(kc, A, aStep, rows, B, bRow, bCol, tile, accumulate); return;
    case 6: microColumnsOf<6, 1>(kc, A, aStep, rows, B, bRow, bCol, tile, accumulate); return;
    case 7: microColumnsOf<7, 1>(kc, A, aStep, rows, B, bRow, bCol, tile, accumulate); return;
    case 8: microColumnsOf<8, 1>(kc, A, aStep, rows, B, bRow, bCol, tile, accumulate); return;
    case 9: microColumnsOf<9, 1>(kc, A, aStep, rows, B, bRow, bCol, tile, accumulate); return;
    case 10: microColumnsOf<10, 1>(kc, A, aStep, rows, B, bRow, bCol, tile, accumulate); return;
    case 11: microColumnsOf<11, 1>(kc, A, aStep, rows, B, bRow, bCol, tile, accumulate); return;
    default: microColumnsOf<12, 1>(kc, A, aStep, rows, B, bRow, bCol, tile, accumulate); return;
  }
}

// micro6x16 in float64: 6×8 doubles in the same twelve ymm accumulators (4 lanes each), two
// for the B row, one for the broadcast A value, so the same 8 loads per 12 FMAs per k step.
void micro6x8F64(long kc, const double* A, const double* B, double* C, long ldc, bool accumulate) {
  __m256d c00 = _mm256_setzero_pd(), c01 = _mm256_setzero_pd();
  __m256d c10 = _mm256_setzero_pd(), c11 = _mm256_setzero_pd();
  __m256d c20 = _mm256_setzero_pd(), c21 = _mm256_setzero_pd();
  __m256d c30 = _mm256_setzero_pd(), c31 = _mm256_setzero_pd();
  __m256d c40 = _mm256_setzero_pd(), c41 = _mm256_setzero_pd();
  __m256d c50 = _mm256_setzero_pd(), c51 = _mm256_setzero_pd();
#pragma GCC unroll 4
  for (long p = 0; p < kc; ++p) {
    const __m256d b0 = _mm256_load_pd(B), b1 = _mm256_load_pd(B + 4);
    __m256d a = _mm256_broadcast_sd(A + 0);
    c00 = _mm256_fmadd_pd(a, b0, c00); c01 = _mm256_fmadd_pd(a, b1, c01);
    a = _mm256_broadcast_sd(A + 1);
    c10 = _mm256_fmadd_pd(a, b0, c10); c11 = _mm256_fmadd_pd(a, b1, c11);
    a = _mm256_broadcast_sd(A + 2);
    c20 = _mm256_fmadd_pd(a, b0, c20); c21 = _mm256_fmadd_pd(a, b1, c21);
    a = _mm256_broadcast_sd(A + 3);
    c30 = _mm256_fmadd_pd(a, b0, c30); c31 = _mm256_fmadd_pd(a, b1, c31);
    a = _mm256_broadcast_sd(A + 4);
    c40 = _mm256_fmadd_pd(a, b0, c40); c41 = _mm256_fmadd_pd(a, b1, c41);
    a = _mm256_broadcast_sd(A + 5);
    c50 = _mm256_fmadd_pd(a, b0, c50); c51 = _mm256_fmadd_pd(a, b1, c51);
    A += 6;
    B += 8;
  }
#define TG_STORE_ROW(r, lo, hi)                                              \
  {                                                                          \
    double* row = C + (r) * ldc;                                             \
    if (accumulate) {                                                        \
      lo = _mm256_add_pd(_mm256_loadu_pd(row), lo);                          \
      hi = _mm256_add_pd(_mm256_loadu_pd(row + 4), hi);                      \
    }                                                                        \
    _mm256_storeu_pd(row, lo);                                               \
    _mm256_storeu_pd(row + 4, hi);                                           \
  }
  TG_STORE_ROW(0, c00, c01) TG_STORE_ROW(1, c10, c11) TG_STORE_ROW(2, c20, c21)
  TG_STORE_ROW(3, c30, c31) TG_STORE_ROW(4, c40, c41) TG_STORE_ROW(5, c50, c51)
#undef TG_STORE_ROW
}

// ---- element-wise helpers ------------------------------------------------------------------

inline __m256 ones() { return _mm256_set1_ps(1.0f); }
inline __m256 signBit() { return _mm256_set1_ps(-0.0f); }

// e^x in double for |x| ≤ 200 (the caller clamps; a float's exp over- or underflows well
// inside that range). Cody–Waite reduction x = n·ln2 + r, |r| ≤ ln2/2, then the degree-11
// Taylor polynomial: relative error ≈ 1e-14, so after rounding to float the result is
// almost always the correctly rounded one, as js's Math.exp gives (≤ 1 ulp otherwise).
inline __m256d exp_pd(__m256d x) {
  const __m256d n = _mm256_round_pd(_mm256_mul_pd(x, _mm256_set1_pd(1.4426950408889634)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256d r = _mm256_fnmadd_pd(n, _mm256_set1_pd(6.93147180369123816490e-01), x);
  r = _mm256_fnmadd_pd(n, _mm256_set1_pd(1.90821492927058770002e-10), r);
  __m256d p = _mm256_set1_pd(1.0 / 39916800.0);
  p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 3628800.0));
  p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 362880.0));
  p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 40320.0));
  p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 5040.0));
  p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 720.0));
  p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 120.0));
  p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 24.0));
  p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 6.0));
  p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(0.5));
  p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0));
  p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0));
  // 2ⁿ: n + 1023 lands in the low mantissa bits of n + (2⁵² + 1023); shift it into the exponent
  const __m256d biased = _mm256_add_pd(n, _mm256_set1_pd(4503599627370496.0 + 1023.0));
  const __m256d scale = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_castpd_si256(biased), 52));
  return _mm256_mul_pd(p, scale);
}

inline __m256d clampExp(__m256d x) {
  return _mm256_max_pd(_mm256_min_pd(x, _mm256_set1_pd(100.0)), _mm256_set1_pd(-200.0));
}

inline __m256d sigmoid_pd(__m256d z) {
  // js's two branches: 1/(1 + e^−z) for z ≥ 0, e^z/(1 + e^z) below; e = e^−|z| ≤ 1 either way
  const __m256d negAbs = _mm256_or_pd(z, _mm256_set1_pd(-0.0));
  const __m256d e = exp_pd(clampExp(negAbs));
  const __m256d onePlus = _mm256_add_pd(_mm256_set1_pd(1.0), e);
  const __m256d pos = _mm256_div_pd(_mm256_set1_pd(1.0), onePlus);
  const __m256d neg = _mm256_div_pd(e, onePlus);
  return _mm256_blendv_pd(neg, pos, _mm256_cmp_pd(z, _mm256_setzero_pd(), _CMP_GE_OQ));
}

inline __m256d tanh_pd(__m256d x) {
  const __m256d sign = _mm256_and_pd(x, _mm256_set1_pd(-0.0));
  const __m256d ax = _mm256_andnot_pd(_mm256_set1_pd(-0.0), x);
  // |x| ≥ 1/16: (1 − t)/(1 + t) with t = e^−2|x| loses nothing that matters in float
  const __m256d t = exp_pd(_mm256_mul_pd(_mm256_set1_pd(-2.0), _mm256_min_pd(ax, _mm256_set1_pd(40.0))));
  const __m256d big = _mm256_or_pd(_mm256_div_pd(_mm256_sub_pd(_mm256_set1_pd(1.0), t), _mm256_add_pd(_mm256_set1_pd(1.0), t)), sign);
  // |x| < 1/16: the odd Taylor series to x⁹ (next term ≈ 1e-14 relative); x·(…) keeps −0
  const __m256d x2 = _mm256_mul_pd(x, x);
  __m256d q = _mm256_set1_pd(62.0 / 2835.0);
  q = _mm256_fmadd_pd(q, x2, _mm256_set1_pd(-17.0 / 315.0));
  q = _mm256_fmadd_pd(q, x2, _mm256_set1_pd(2.0 / 15.0));
  q = _mm256_fmadd_pd(q, x2, _mm256_set1_pd(-1.0 / 3.0));
  q = _mm256_mul_pd(q, x2);
  const __m256d small = _mm256_fmadd_pd(x, q, x);
  return _mm256_blendv_pd(big, small, _mm256_cmp_pd(ax, _mm256_set1_pd(0.0625), _CMP_LT_OQ));
}

// Applies a double-precision function to 8 floats (two halves), rounding once to float;
// NaN inputs come out as NaN whatever the function did with them.
template <__m256d (*F)(__m256d)>
inline __m256 viaDouble(__m256 x) {
  const __m256d lo = F(_mm256_cvtps_pd(_mm256_castps256_ps128(x)));
  const __m256d hi = F(_mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)));
  const __m256 y = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm256_cvtpd_ps(lo)), _mm256_cvtpd_ps(hi), 1);
  const __m256 nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
  return _mm256_blendv_ps(y, _mm256_add_ps(x, x), nan);
}

inline __m256d expClamped(__m256d x) { return exp_pd(clampExp(x)); }

template <int OP>
inline __m256 unary8(__m256 x, __m256 scalar) {
  const __m256 zero = _mm256_setzero_ps();
  switch (OP) {
    // cleared where x ≤ 0 (ordered: NaN is kept, as js and PyTorch); −0 → +0
    case U_RELU: return _mm256_andnot_ps(_mm256_cmp_ps(x, zero, _CMP_LE_OQ), x);
    case U_STEP: return _mm256_and_ps(_mm256_cmp_ps(x, zero, _CMP_GT_OQ), ones());
    case U_NEG: return _mm256_xor_ps(x, signBit());
    case U_ABS: return _mm256_andnot_ps(signBit(), x);
    case U_SIGN:
      return _mm256_or_ps(_mm256_and_ps(_mm256_cmp_ps(x, zero, _CMP_GT_OQ), ones()),
                          _mm256_and_ps(_mm256_cmp_ps(x, zero, _CMP_LT_OQ), _mm256_set1_ps(-1.0f)));
    case U_SQRT: return _mm256_sqrt_ps(x);  // correctly rounded, as fround(Math.sqrt(x))
    case U_EXP: return viaDouble<expClamped>(x);
    case U_SIGMOID: return viaDouble<sigmoid_pd>(x);
    case U_TANH: return viaDouble<tanh_pd>(x);
    case U_POW: return _mm256_mul_ps(x, x);  // only sent here for the exponent 2
    // exact roundings (NaN, ±∞ and −0 kept): as Math.floor, Math.ceil and round half to even
    case U_FLOOR: return _mm256_round_ps(x, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    case U_CEIL: return _mm256_round_ps(x, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC);
    case U_ROUND: return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    case U_ISNAN: return _mm256_and_ps(_mm256_cmp_ps(x, x, _CMP_UNORD_Q), ones());
    case U_ISFINITE:
      return _mm256_and_ps(_mm256_cmp_ps(_mm256_andnot_ps(signBit(), x), _mm256_set1_ps(INFINITY), _CMP_LT_OQ), ones());
    default: return scalar;
  }
}

template <int OP>
void unaryLoop(const float* x, float* out, long n) {
  const __m256 unused = _mm256_setzero_ps();
  long i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, unary8<OP>(_mm256_loadu_ps(x + i), unused));
  if (i < n) {
    // the tail through the same vector code, so every element is computed the same way
    alignas(32) float tail[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::memcpy(tail, x + i, (n - i) * sizeof(float));
    _mm256_store_ps(tail, unary8<OP>(_mm256_load_ps(tail), unused));
    std::memcpy(out + i, tail, (n - i) * sizeof(float));
  }
}

// log(1 + eˣ) as core's js kernel computes it, in double (libm), rounded once.
double softplus(double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }

// JS's Math.pow differs from C's pow where the exponent is NaN, or ±∞ with |x| = 1: NaN.
double jsPow(double x, double y) {
  if (std::isnan(y) || (std::isinf(y) && std::fabs(x) == 1.0)) return NAN;
  return std::pow(x, y);
}

void unaryAvx2(int op, const float* x, float* out, long n, double scalar) {
  switch (op) {
    case U_RELU: unaryLoop<U_RELU>(x, out, n); return;
    case U_STEP: unaryLoop<U_STEP>(x, out, n); return;
    case U_NEG: unaryLoop<U_NEG>(x, out, n); return;
    case U_ABS: unaryLoop<U_ABS>(x, out, n); return;
    case U_SIGN: unaryLoop<U_SIGN>(x, out, n); return;
    case U_SQRT: unaryLoop<U_SQRT>(x, out, n); return;
    case U_EXP: unaryLoop<U_EXP>(x, out, n); return;
    case U_SIGMOID: unaryLoop<U_SIGMOID>(x, out, n); return;
    case U_TANH: unaryLoop<U_TANH>(x, out, n); return;
    case U_LOG:
      for (long i = 0; i < n; i++) out[i] = static_cast<float>(std::log(static_cast<double>(x[i])));
      return;
    case U_POW:
      if (scalar == 2.0) unaryLoop<U_POW>(x, out, n);
      else for (long i = 0; i < n; i++) out[i] = static_cast<float>(jsPow(x[i], scalar));
      return;
    case U_SOFTPLUS:
      for (long i = 0; i < n; i++) out[i] = static_cast<float>(softplus(x[i]));
      return;
    case U_FLOOR: unaryLoop<U_FLOOR>(x, out, n); return;
    case U_CEIL: unaryLoop<U_CEIL>(x, out, n); return;
    case U_ROUND: unaryLoop<U_ROUND>(x, out, n); return;
    case U_ISNAN: unaryLoop<U_ISNAN>(x, out, n); return;
    case U_ISFINITE: unaryLoop<U_ISFINITE>(x, out, n); return;
    // log1p, expm1, erf, sin, cos: libm in double, rounded once, in the portable unit (no
    // vector version here: the same numbers on both kernel sets)
    default: scalarKernels.unary(op, x, out, n, scalar); return;
  }
}

// ---- binary ---------------------------------------------------------------------------------

template <int OP>
inline __m256 binary8(__m256 a, __m256 b) {
  switch (OP) {
    case B_ADD: return _mm256_add_ps(a, b);
    case B_SUB: return _mm256_sub_ps(a, b);
    case B_MUL: return _mm256_mul_ps(a, b);
    case B_DIV: return _mm256_div_ps(a, b);
    // ordered comparisons: false (0) when either side is NaN, as js's > >= < <= ===
    case B_GT: return _mm256_and_ps(_mm256_cmp_ps(a, b, _CMP_GT_OQ), ones());
    case B_GE: return _mm256_and_ps(_mm256_cmp_ps(a, b, _CMP_GE_OQ), ones());
    case B_LT: return _mm256_and_ps(_mm256_cmp_ps(a, b, _CMP_LT_OQ), ones());
    case B_LE: return _mm256_and_ps(_mm256_cmp_ps(a, b, _CMP_LE_OQ), ones());
    case B_EQ: return _mm256_and_ps(_mm256_cmp_ps(a, b, _CMP_EQ_OQ), ones());
    case B_SIGMOID_GRAD: return _mm256_mul_ps(b, _mm256_mul_ps(a, _mm256_sub_ps(ones(), a)));
    case B_TANH_GRAD: return _mm256_mul_ps(b, _mm256_sub_ps(ones(), _mm256_mul_ps(a, a)));
    // a where a ≥ b or a is NaN, else b (NaN when b is): js's rule, not max_ps's (which
    // returns b whenever either is NaN)
    case B_MAXIMUM: return _mm256_blendv_ps(b, a, _mm256_or_ps(_mm256_cmp_ps(a, b, _CMP_GE_OQ), _mm256_cmp_ps(a, a, _CMP_UNORD_Q)));
    case B_MINIMUM: return _mm256_blendv_ps(b, a, _mm256_or_ps(_mm256_cmp_ps(a, b, _CMP_LE_OQ), _mm256_cmp_ps(a, a, _CMP_UNORD_Q)));
    // a product with 1 or 0, not a select: dy = ±Inf or NaN where x ≤ 0 gives NaN, as js
    default: return _mm256_mul_ps(b, _mm256_and_ps(_mm256_cmp_ps(a, _mm256_setzero_ps(), _CMP_GT_OQ), ones()));
  }
}

// One output row; AV/BV: the operand advances with the row (else one value repeats).
template <int OP, bool AV, bool BV>
void binaryRow(const float* a, const float* b, float* o, long n) {
  // a repeated operand is read once; a streamed one may be empty (n = 0)
  const __m256 as = AV ? _mm256_setzero_ps() : _mm256_set1_ps(a[0]);
  const __m256 bs = BV ? _mm256_setzero_ps() : _mm256_set1_ps(b[0]);
  long i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 va = AV ? _mm256_loadu_ps(a + i) : as;
    const __m256 vb = BV ? _mm256_loadu_ps(b + i) : bs;
    _mm256_storeu_ps(o + i, binary8<OP>(va, vb));
  }
  if (i < n) {
    alignas(32) float ta[8] = {0, 0, 0, 0, 0, 0, 0, 0}, tb[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    const long rest = n - i;
    if (AV) std::memcpy(ta, a + i, rest * sizeof(float));
    if (BV) std::memcpy(tb, b + i, rest * sizeof(float));
    const __m256 r = binary8<OP>(AV ? _mm256_load_ps(ta) : as, BV ? _mm256_load_ps(tb) : bs);
    _mm256_store_ps(ta, r);
    std::memcpy(o + i, ta, rest * sizeof(float));
  }
}

template <int OP>
void binaryOp(const float* a, int aMode, const float* b, int bMode, float* out, long rows, long cols) {
  const bool aFlat = aMode == M_FULL || aMode == M_SCALAR, bFlat = bMode == M_FULL || bMode == M_SCALAR;
  if (aFlat && bFlat) {  // one long row
    const long n = rows * cols;
    if (aMode == M_FULL && bMode == M_FULL) binaryRow<OP, true, true>(a, b, out, n);
    else if (aMode == M_FULL) binaryRow<OP, true, false>(a, b, out, n);
    else if (bMode == M_FULL) binaryRow<OP, false, true>(a, b, out, n);
    else binaryRow<OP, false, false>(a, b, out, n);
    return;
  }
  for (long r = 0; r < rows; r++) {
    const float* pa = aMode == M_FULL ? a + r * cols : aMode == M_COLUMN ? a + r : a;
    const float* pb = bMode == M_FULL ? b + r * cols : bMode == M_COLUMN ? b + r : b;
    const bool av = aMode == M_FULL || aMode == M_ROW, bv = bMode == M_FULL || bMode == M_ROW;
    float* po = out + r * cols;
    if (av && bv) binaryRow<OP, true, true>(pa, pb, po, cols);
    else if (av) binaryRow<OP, true, false>(pa, pb, po, cols);
    else if (bv) binaryRow<OP, false, true>(pa, pb, po, cols);
    else binaryRow<OP, false, false>(pa, pb, po, cols);
  }
}

void binaryAvx2(int op, const float* a, int aMode, const float* b, int bMode, float* out, long rows, long cols) {
  switch (op) {
    case B_ADD: binaryOp<B_ADD>(a, aMode, b, bMode, out, rows, cols); return;
    case B_SUB: binaryOp<B_SUB>(a, aMode, b, bMode, out, rows, cols); return;
    case B_MUL: binaryOp<B_MUL>(a, aMode, b, bMode, out, rows, cols); return;
    case B_DIV: binaryOp<B_DIV>(a, aMode, b, bMode, out, rows, cols); return;
    case B_GT: binaryOp<B_GT>(a, aMode, b, bMode, out, rows, cols); return;
    case B_GE: binaryOp<B_GE>(a, aMode, b, bMode, out, rows, cols); return;
    case B_LT: binaryOp<B_LT>(a, aMode, b, bMode, out, rows, cols); return;
    case B_LE: binaryOp<B_LE>(a, aMode, b, bMode, out, rows, cols); return;
    case B_EQ: binaryOp<B_EQ>(a, aMode, b, bMode, out, rows, cols); return;
    case B_SIGMOID_GRAD: binaryOp<B_SIGMOID_GRAD>(a, aMode, b, bMode, out, rows, cols); return;
    case B_TANH_GRAD: binaryOp<B_TANH_GRAD>(a, aMode, b, bMode, out, rows, cols); return;
    case B_RELU_GRAD: binaryOp<B_RELU_GRAD>(a, aMode, b, bMode, out, rows, cols); return;
    case B_MAXIMUM: binaryOp<B_MAXIMUM>(a, aMode, b, bMode, out, rows, cols); return;
    case B_MINIMUM: binaryOp<B_MINIMUM>(a, aMode, b, bMode, out, rows, cols); return;
  }
}

void subScaledAvx2(const float* y, const float* x, float s, float* out, long n) {
  const __m256 vs = _mm256_set1_ps(s);
  long i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_sub_ps(_mm256_loadu_ps(y + i), _mm256_mul_ps(vs, _mm256_loadu_ps(x + i))));
  for (; i < n; i++) {
    const float scaled = s * x[i];  // -ffp-contract=off: rounded, then subtracted
    out[i] = y[i] - scaled;
  }
}

// ---- sums ----------------------------------------------------------------------------------

void sumRowsAvx2(const float* x, float* out, long outer, long mid) {
  for (long o = 0; o < outer; o++) {
    const float* row = x + o * mid;
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd(), s2 = _mm256_setzero_pd(), s3 = _mm256_setzero_pd();
    long p = 0;
    for (; p + 16 <= mid; p += 16) {
      s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm_loadu_ps(row + p)));
      s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm_loadu_ps(row + p + 4)));
      s2 = _mm256_add_pd(s2, _mm256_cvtps_pd(_mm_loadu_ps(row + p + 8)));
      s3 = _mm256_add_pd(s3, _mm256_cvtps_pd(_mm_loadu_ps(row + p + 12)));
    }
    alignas(32) double lanes[4];
    _mm256_store_pd(lanes, _mm256_add_pd(_mm256_add_pd(s0, s1), _mm256_add_pd(s2, s3)));
    double s = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    for (; p < mid; p++) s += row[p];
    out[o] = static_cast<float>(s);
  }
}

void sumMiddleAvx2(const float* x, float* out, long outer, long mid, long inner) {
  for (long o = 0; o < outer; o++) {
    const float* block = x + o * mid * inner;
    float* dst = out + o * inner;
    long q = 0;
    // 32 columns in registers down all of mid: the same float adds in the same order as js
    for (; q + 32 <= inner; q += 32) {
      __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
      for (long p = 0; p < mid; p++) {
        const float* r = block + p * inner + q;
        s0 = _mm256_add_ps(s0, _mm256_loadu_ps(r));
        s1 = _mm256_add_ps(s1, _mm256_loadu_ps(r + 8));
        s2 = _mm256_add_ps(s2, _mm256_loadu_ps(r + 16));
        s3 = _mm256_add_ps(s3, _mm256_loadu_ps(r + 24));
      }
      _mm256_storeu_ps(dst + q, s0); _mm256_storeu_ps(dst + q + 8, s1);
      _mm256_storeu_ps(dst + q + 16, s2); _mm256_storeu_ps(dst + q + 24, s3);
    }
    for (; q + 8 <= inner; q += 8) {
      __m256 s = _mm256_setzero_ps();
      for (long p = 0; p < mid; p++) s = _mm256_add_ps(s, _mm256_loadu_ps(block + p * inner + q));
      _mm256_storeu_ps(dst + q, s);
    }
    for (; q < inner; q++) {
      float s = 0.0f;
      for (long p = 0; p < mid; p++) s += block[p * inner + q];
      dst[q] = s;
    }
  }
}

// js's step on 8 lanes: v replaces acc where v > acc (v < acc), or v is NaN. MAXPS(v, acc)
// is v > acc ? v : acc — acc on ties (so −0 stays before +0) and where acc is NaN (NaN
// stays) —, and the blend puts a NaN v in. Lane by lane the same steps as js: the same bits.
template <bool Max>
inline __m256 extremumStep8(__m256 acc, __m256 v) {
  const __m256 kept = Max ? _mm256_max_ps(v, acc) : _mm256_min_ps(v, acc);
  return _mm256_blendv_ps(kept, v, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
}

template <bool Max>
void extremumMiddle(const float* x, float* out, long outer, long mid, long inner) {
  const __m256 start = _mm256_set1_ps(Max ? -INFINITY : INFINITY);
  for (long o = 0; o < outer; o++) {
    const float* block = x + o * mid * inner;
    float* dst = out + o * inner;
    long q = 0;
    // 32 columns in registers down all of mid, in js's order
    for (; q + 32 <= inner; q += 32) {
      __m256 m0 = start, m1 = start, m2 = start, m3 = start;
      for (long p = 0; p < mid; p++) {
        const float* r = block + p * inner + q;
        m0 = extremumStep8<Max>(m0, _mm256_loadu_ps(r));
        m1 = extremumStep8<Max>(m1, _mm256_loadu_ps(r + 8));
        m2 = extremumStep8<Max>(m2, _mm256_loadu_ps(r + 16));
        m3 = extremumStep8<Max>(m3, _mm256_loadu_ps(r + 24));
      }
      _mm256_storeu_ps(dst + q, m0); _mm256_storeu_ps(dst + q + 8, m1);
      _mm256_storeu_ps(dst + q + 16, m2); _mm256_storeu_ps(dst + q + 24, m3);
    }
    for (; q + 8 <= inner; q += 8) {
      __m256 m = start;
      for (long p = 0; p < mid; p++) m = extremumStep8<Max>(m, _mm256_loadu_ps(block + p * inner + q));
      _mm256_storeu_ps(dst + q, m);
    }
    for (; q < inner; q++) {
      float m = Max ? -INFINITY : INFINITY;
      for (long p = 0; p < mid; p++) m = extremumStep(Max, m, block[p * inner + q]);
      dst[q] = m;
    }
  }
}

// Over each row: 32 lanes, each the extremum of every 32nd value, then the lanes combined.
// Reordering changes nothing where the extremum is a single bit pattern; only a NaN (which
// NaN's payload) or a zero (−0 or +0: js keeps the first) depends on the order, and then
// the row is walked again in js's order.
template <bool Max>
float extremumRowAvx2(const float* row, long n) {
  const float start = Max ? -INFINITY : INFINITY;
  if (n < 64) return extremumRun(Max, row, n, start);
  __m256 m0 = _mm256_set1_ps(start), m1 = m0, m2 = m0, m3 = m0;
  __m256 nan = _mm256_setzero_ps();
  long p = 0;
  for (; p + 32 <= n; p += 32) {
    const __m256 v0 = _mm256_loadu_ps(row + p), v1 = _mm256_loadu_ps(row + p + 8);
    const __m256 v2 = _mm256_loadu_ps(row + p + 16), v3 = _mm256_loadu_ps(row + p + 24);
    nan = _mm256_or_ps(nan, _mm256_or_ps(_mm256_cmp_ps(v0, v1, _CMP_UNORD_Q), _mm256_cmp_ps(v2, v3, _CMP_UNORD_Q)));
    m0 = Max ? _mm256_max_ps(v0, m0) : _mm256_min_ps(v0, m0);
    m1 = Max ? _mm256_max_ps(v1, m1) : _mm256_min_ps(v1, m1);
    m2 = Max ? _mm256_max_ps(v2, m2) : _mm256_min_ps(v2, m2);
    m3 = Max ? _mm256_max_ps(v3, m3) : _mm256_min_ps(v3, m3);
  }
  const __m256 m = Max ? _mm256_max_ps(_mm256_max_ps(m0, m1), _mm256_max_ps(m2, m3)) : _mm256_min_ps(_mm256_min_ps(m0, m1), _mm256_min_ps(m2, m3));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, m);
  float result = start;
  bool sawNaN = _mm256_movemask_ps(nan) != 0;
  for (int i = 0; i < 8; i++) result = Max ? (lanes[i] > result ? lanes[i] : result) : (lanes[i] < result ? lanes[i] : result);
  for (; p < n; p++) {
    const float v = row[p];
    if (v != v) sawNaN = true;
    else if (Max ? v > result : v < result) result = v;
  }
  if (sawNaN || result == 0.0f) return extremumRun(Max, row, n, start);
  return result;
}

template <bool Max>
void extremumRows(const float* x, float* out, long outer, long mid) {
  for (long o = 0; o < outer; o++) out[o] = extremumRowAvx2<Max>(x + o * mid, mid);
}

void extremumAvx2(bool max, const float* x, float* out, long outer, long mid, long inner) {
  if (inner == 1) max ? extremumRows<true>(x, out, outer, mid) : extremumRows<false>(x, out, outer, mid);
  else max ? extremumMiddle<true>(x, out, outer, mid, inner) : extremumMiddle<false>(x, out, outer, mid, inner);
}

}  // namespace

// Twelve independent FMA chains on registers (more than latency × ports = 4–5 × 2 on
// Zen and recent Intel cores), so the loop runs at the FMA units' throughput.
void avx2FmaLoop(long iterations, float* sink) {
  __m256 acc[12];
  for (int i = 0; i < 12; i++) acc[i] = _mm256_set1_ps(1.0f + i * 1e-3f);
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
  for (long it = 0; it < iterations; it++) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++) acc[i] = _mm256_fmadd_ps(acc[i], m, c);
  }
  __m256 s = acc[0];
  for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, acc[i]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, s);
  *sink = lanes[0] + lanes[7];
}

// avx2FmaLoop over doubles (4 lanes): the float64 peak probe's loop.
void avx2FmaLoopF64(long iterations, double* sink) {
  __m256d acc[12];
  for (int i = 0; i < 12; i++) acc[i] = _mm256_set1_pd(1.0 + i * 1e-3);
  const __m256d m = _mm256_set1_pd(0.999999), c = _mm256_set1_pd(1e-6);
  for (long it = 0; it < iterations; it++) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++) acc[i] = _mm256_fmadd_pd(acc[i], m, c);
  }
  __m256d s = acc[0];
  for (int i = 1; i < 12; i++) s = _mm256_add_pd(s, acc[i]);
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, s);
  *sink = lanes[0] + lanes[3];
}

// the float64 element-wise kernels vectorised by the compiler for AVX2 (four doubles a
// vector; -ffp-contract=off: no FMA contraction, so the bits of the portable set and js)
const Float64Kernels avx2Float64Kernels = float64Kernels();

const KernelSet avx2Kernels = {"avx2-fma 6x16", 6, 16, micro6x16, unaryAvx2, binaryAvx2, sumRowsAvx2, sumMiddleAvx2, extremumAvx2,
                                subScaledAvx2, micro6x16Direct, 6, 8, micro6x8F64, &avx2Float64Kernels,
                                packLinesAvx2, microColumnsAvx2, true, 6};


}  // namespace tg
#endif
