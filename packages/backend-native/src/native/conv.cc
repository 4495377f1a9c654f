// im2col (unfold) and col2im (fold) in float32, the convolution family's two kernels: the
// same loops, in the same order, as core's js reference (packages/core/src/backend/js-conv.ts),
// so unfold copies the same values and fold adds each image element's terms in the same
// order, one float32 addition at a time: bit-identical to js. The heavy part of a
// convolution is the matmul that follows, which runs in gemm.cc.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include "kernels.h"

namespace tg {
namespace {

// The output columns [first, end) whose input column ow·stride + offset lies inside [0, size).
inline void validRange(long offset, long stride, long size, long count, long* first, long* end) {
  long f = offset >= 0 ? 0 : std::min(count, (-offset + stride - 1) / stride);
  const long last = size - 1 - offset;  // largest ow·stride allowed
  long e = last < 0 ? f : std::max(f, std::min(count, last / stride + 1));
  *first = f;
  *end = e;
}

// Where column row r of image n starts: [N, K, L] per image, or [K, N·L] batched (core's js-conv.ts).
inline void columnStrides(const ConvGeometry& g, bool batched, long* imageStride, long* rowStride) {
  const long L = g.outH * g.outW, K = g.C * g.kH * g.kW;
  *imageStride = batched ? L : K * L;
  *rowStride = batched ? g.N * L : L;
}

// A window's maximum (NaN if it holds one) and its ties (positions outside the image count
// when the maximum is −∞), visiting (i, j) in order and skipping the outside, as js does.
struct WindowMax {
  float max;
  long ties;
};

inline WindowMax windowMax(const float* base, const ConvGeometry& g, long oh, long ow) {
  float m = -std::numeric_limits<float>::infinity();
  bool nan = false;
  long inside = 0;
  for (long i = 0; i < g.kH; i++) {
    const long ih = oh * g.strideH - g.padH + i * g.dilationH;
    if (ih < 0 || ih >= g.H) continue;
    for (long j = 0; j < g.kW; j++) {
      const long iw = ow * g.strideW - g.padW + j * g.dilationW;
      if (iw < 0 || iw >= g.W) continue;
      const float v = base[ih * g.W + iw];
      inside++;
      if (v > m) m = v;
      else if (v != v) nan = true;
    }
  }
  if (nan) return {std::numeric_limits<float>::quiet_NaN(), 0};
  long ties = m == -std::numeric_limits<float>::infinity() ? g.kH * g.kW - inside : 0;
  for (long i = 0; i < g.kH; i++) {
    const long ih = oh * g.strideH - g.padH + i * g.dilationH;
    if (ih < 0 || ih >= g.H) continue;
    for (long j = 0; j < g.kW; j++) {
      const long iw = ow * g.strideW - g.padW + j * g.dilationW;
      if (iw >= 0 && iw < g.W && base[ih * g.W + iw] == m) ties++;
    }
  }
  return {m, ties};
}

// Calls visit(element offset, share) for each element of the window that takes a share.
template <typename Visit>
inline void eachShare(const float* base, const ConvGeometry& g, long oh, long ow, const WindowMax& w, Visit visit) {
  const bool nan = w.max != w.max;
  const float share = nan ? std::numeric_limits<float>::quiet_NaN() : 1.0f / static_cast<float>(w.ties);
  for (long i = 0; i < g.kH; i++) {
    const long ih = oh * g.strideH - g.padH + i * g.dilationH;
    if (ih < 0 || ih >= g.H) continue;
    for (long j = 0; j < g.kW; j++) {
      const long iw = ow * g.strideW - g.padW + j * g.dilationW;
      if (iw < 0 || iw >= g.W) continue;
      const long e = ih * g.W + iw;
      if (nan || base[e] == w.max) visit(e, share);
    }
  }
}

// The common pool, 2×2 windows of stride 2 inside the image: no bounds tests.
inline bool plain2x2(const ConvGeometry& g) {
  return g.kH == 2 && g.kW == 2 && g.strideH == 2 && g.strideW == 2 && g.padH == 0 && g.padW == 0 && g.dilationH == 1 &&
         g.dilationW == 1 && 2 * g.outH <= g.H && 2 * g.outW <= g.W;
}

}  // namespace

void maxPool(const float* x, const ConvGeometry& g, float* out) {
  const long plane = g.H * g.W;
  float* o = out;
  for (long image = 0; image < g.N * g.C; image++) {
    const float* base = x + image * plane;
    if (plain2x2(g)) {
      for (long oh = 0; oh < g.outH; oh++) {
        const float* r0 = base + 2 * oh * g.W;
        const float* r1 = r0 + g.W;
        for (long ow = 0; ow < g.outW; ow++) {
          const float a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
          // the window order (i, j): NaN anywhere wins, else the largest
          float m = a;
          if (b > m) m = b;
          if (c > m) m = c;
          if (d > m) m = d;
          *o++ = (a != a || b != b || c != c || d != d) ? std::numeric_limits<float>::quiet_NaN() : m;
        }
      }
      continue;
    }
    for (long oh = 0; oh < g.outH; oh++) {
      for (long ow = 0; ow < g.outW; ow++) {
        float m = -std::numeric_limits<float>::infinity();
        bool nan = false;
        for (long i = 0; i < g.kH; i++) {
          const long ih = oh * g.strideH - g.padH + i * g.dilationH;
          if (ih < 0 || ih >= g.H) continue;
          for (long j = 0; j < g.kW; j++) {
            const long iw = ow * g.strideW - g.padW + j * g.dilationW;
            if (iw < 0 || iw >= g.W) continue;
            const float v = base[ih * g.W + iw];
            if (v > m) m = v;
            else if (v != v) nan = true;
          }
        }
        *o++ = nan ? std::numeric_limits<float>::quiet_NaN() : m;
      }
    }
  }
}

// v where e is 1, +0 where it is 0, by masking the bits (no branch, and ±∞ never meets a 0·)
inline float keepIf(int e, float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  bits &= 0u - static_cast<uint32_t>(e);
  std::memcpy(&v, &bits, sizeof bits);
  return v;
}

// 1/t for t ties of a 2×2 window (t ≥ 1 without NaN), rounded to float as js's fround(1/t)
constexpr float kInverse[5] = {0.0f, 1.0f, 0.5f, 1.0f / 3.0f, 0.25f};

#if defined(__x86_64__)
// even and odd lanes of 16 consecutive floats: 2×2 windows' left and right columns
__attribute__((target("avx2"))) inline void splitPairs(const float* p, __m256& even, __m256& odd) {
  const __m256 lo = _mm256_loadu_ps(p), hi = _mm256_loadu_ps(p + 8);
  even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0))), _MM_SHUFFLE(3, 1, 2, 0)));
  odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1))), _MM_SHUFFLE(3, 1, 2, 0)));
}

// splitPairs' inverse: the two halves interleaved back into 16 consecutive floats
__attribute__((target("avx2"))) inline void joinPairs(float* p, __m256 even, __m256 odd) {
  const __m256 lo = _mm256_unpacklo_ps(even, odd), hi = _mm256_unpackhi_ps(even, odd);
  _mm256_storeu_ps(p, _mm256_permute2f128_ps(lo, hi, 0x20));
  _mm256_storeu_ps(p + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
}

// The plain 2×2 scatter of one output row, eight windows at a time (AVX2): per element the
// scalar loop's operations — the window's max (only compared with, so the sign a tie of
// zeros gives it does not matter), 0 + grad·1/t, the mask — so the same bits. Returns the
// windows done; a group holding a NaN, and the row's last < 8 windows, are left to the
// scalar loop. T4's first pool (75,264 windows a step) ran ≈ 415 µs scalar.
__attribute__((target("avx2"))) long scatterRow2x2Avx2(const float* r0, const float* r1, const float* d, float* t0, float* t1, long outW) {
  const __m256 zero = _mm256_setzero_ps();
  const __m256 inverse = _mm256_setr_ps(kInverse[0], kInverse[1], kInverse[2], kInverse[3], kInverse[4], 0.0f, 0.0f, 0.0f);
  long ow = 0;
  for (; ow + 8 <= outW; ow += 8) {
    __m256 v0, v1, v2, v3;
    splitPairs(r0 + 2 * ow, v0, v1);
    splitPairs(r1 + 2 * ow, v2, v3);
    const __m256 nan = _mm256_or_ps(_mm256_cmp_ps(v0, v1, _CMP_UNORD_Q), _mm256_cmp_ps(v2, v3, _CMP_UNORD_Q));
    if (_mm256_movemask_ps(nan) != 0) break;
    const __m256 m = _mm256_max_ps(_mm256_max_ps(v0, v1), _mm256_max_ps(v2, v3));
    const __m256 e0 = _mm256_cmp_ps(v0, m, _CMP_EQ_OQ), e1 = _mm256_cmp_ps(v1, m, _CMP_EQ_OQ);
    const __m256 e2 = _mm256_cmp_ps(v2, m, _CMP_EQ_OQ), e3 = _mm256_cmp_ps(v3, m, _CMP_EQ_OQ);
    // each mask is −1 where the element ties the max: minus their sum is the count t
    const __m256i ties = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_add_epi32(
        _mm256_add_epi32(_mm256_castps_si256(e0), _mm256_castps_si256(e1)), _mm256_add_epi32(_mm256_castps_si256(e2), _mm256_castps_si256(e3))));
    const __m256 share = _mm256_add_ps(zero, _mm256_mul_ps(_mm256_loadu_ps(d + ow), _mm256_permutevar8x32_ps(inverse, ties)));
    joinPairs(t0 + 2 * ow, _mm256_and_ps(e0, share), _mm256_and_ps(e1, share));
    joinPairs(t1 + 2 * ow, _mm256_and_ps(e2, share), _mm256_and_ps(e3, share));
  }
  return ow;
}
#endif

void maxPoolScatter(const float* dy, const float* x, const ConvGeometry& g, float* out) {
  const long plane = g.H * g.W;
  const bool fast = plain2x2(g);
#if defined(__x86_64__)
  const bool avx2 = fast && cpuHasAvx2Fma();
#endif
  // the 2×2 windows lie side by side: each element is written once below (0 + its share, as
  // js's += onto a zeroed buffer gives), so only the rows and columns past them need zeros
  if (!fast) std::fill(out, out + g.N * g.C * plane, 0.0f);
  const float* d = dy;
  for (long image = 0; image < g.N * g.C; image++) {
    const float* base = x + image * plane;
    float* target = out + image * plane;
    if (fast) {
      for (long oh = 0; oh < g.outH; oh++) {
        float* t0 = target + 2 * oh * g.W;
        float* t1 = t0 + g.W;
        const float* r0 = base + 2 * oh * g.W;
        const float* r1 = r0 + g.W;
        long ow = 0;
#if defined(__x86_64__)
        if (avx2) {
          ow = scatterRow2x2Avx2(r0, r1, d, t0, t1, g.outW);
          d += ow;
        }
#endif
        for (; ow < g.outW; ow++, d++) {
          const long c = 2 * ow;
          const float v0 = r0[c], v1 = r0[c + 1], v2 = r1[c], v3 = r1[c + 1];
          const float grad = *d;
          if (v0 != v0 || v1 != v1 || v2 != v2 || v3 != v3) {
            const float nan = grad * std::numeric_limits<float>::quiet_NaN();
            t0[c] = t0[c + 1] = t1[c] = t1[c + 1] = 0.0f + nan;
            continue;
          }
          // branch-free: which element wins is data, so branches on it would mispredict
          const float m = std::max(std::max(v0, v1), std::max(v2, v3));
          const int e0 = v0 == m, e1 = v1 == m, e2 = v2 == m, e3 = v3 == m;
          const float share = 0.0f + grad * kInverse[e0 + e1 + e2 + e3];
          t0[c] = keepIf(e0, share);
          t0[c + 1] = keepIf(e1, share);
          t1[c] = keepIf(e2, share);
          t1[c + 1] = keepIf(e3, share);
        }
        for (long w = 2 * g.outW; w < g.W; w++) t0[w] = t1[w] = 0.0f;
      }
      std::fill(target + 2 * g.outH * g.W, target + plane, 0.0f);
      continue;
    }
    for (long oh = 0; oh < g.outH; oh++) {
      for (long ow = 0; ow < g.outW; ow++, d++) {
        const float grad = *d;
        eachShare(base, g, oh, ow, windowMax(base, g, oh, ow), [&](long e, float share) { target[e] += grad * share; });
      }
    }
  }
}

void maxPoolGather(const float* v, const float* x, const ConvGeometry& g, float* out) {
  const long plane = g.H * g.W;
  float* o = out;
  for (long image = 0; image < g.N * g.C; image++) {
    const float* base = x + image * plane;
    const float* values = v + image * plane;
    for (long oh = 0; oh < g.outH; oh++) {
      for (long ow = 0; ow < g.outW; ow++) {
        float total = 0;
        eachShare(base, g, oh, ow, windowMax(base, g, oh, ow), [&](long e, float share) { total += values[e] * share; });
        *o++ = total;
      }
    }
  }
}

// One (n, c, i, j) row of the columns: its outH·outW entries. In the batched layout the
// rows are walked row by row and, inside each, image by image, so the columns are written
// (or read) front to back; either order adds each image element's terms in the same order
// (i, j, oh: only its own image's rows touch it), so fold's sums are js's bit for bit.
template <typename Segment>
void eachColumnRow(const ConvGeometry& g, bool batched, Segment segment) {
  if (batched) {
    for (long c = 0; c < g.C; c++)
      for (long i = 0; i < g.kH; i++)
        for (long j = 0; j < g.kW; j++)
          for (long n = 0; n < g.N; n++) segment(n, c, i, j);
  } else {
    for (long n = 0; n < g.N; n++)
      for (long c = 0; c < g.C; c++)
        for (long i = 0; i < g.kH; i++)
          for (long j = 0; j < g.kW; j++) segment(n, c, i, j);
  }
}

template <typename T>
void unfold(const T* x, const ConvGeometry& g, T padValue, T* out, bool batched) {
  const long plane = g.H * g.W;
  long imageStride, rowStride;
  columnStrides(g, batched, &imageStride, &rowStride);
  eachColumnRow(g, batched, [&](long n, long c, long i, long j) {
    const T* base = x + (n * g.C + c) * plane;
    const long rowOffset = i * g.dilationH - g.padH, colOffset = j * g.dilationW - g.padW;
    long first, end;
    validRange(colOffset, g.strideW, g.W, g.outW, &first, &end);
    T* o = out + n * imageStride + ((c * g.kH + i) * g.kW + j) * rowStride;
    for (long oh = 0; oh < g.outH; oh++, o += g.outW) {
      const long ih = oh * g.strideH + rowOffset;
      if (ih < 0 || ih >= g.H) {
        for (long ow = 0; ow < g.outW; ow++) o[ow] = padValue;
        continue;
      }
      for (long ow = 0; ow < first; ow++) o[ow] = padValue;
      const T* row = base + ih * g.W + colOffset;
      if (g.strideW == 1) {
        for (long ow = first; ow < end; ow++) o[ow] = row[ow];
      } else {
        for (long ow = first; ow < end; ow++) o[ow] = row[ow * g.strideW];
      }
      for (long ow = end; ow < g.outW; ow++) o[ow] = padValue;
    }
  });
}

template <typename T>
void fold(const T* cols, const ConvGeometry& g, T* out, bool batched) {
  const long plane = g.H * g.W;
  std::fill(out, out + g.N * g.C * plane, T(0));
  long imageStride, rowStride;
  columnStrides(g, batched, &imageStride, &rowStride);
  eachColumnRow(g, batched, [&](long n, long c, long i, long j) {
    T* base = out + (n * g.C + c) * plane;
    const long rowOffset = i * g.dilationH - g.padH, colOffset = j * g.dilationW - g.padW;
    long first, end;
    validRange(colOffset, g.strideW, g.W, g.outW, &first, &end);
    const T* src = cols + n * imageStride + ((c * g.kH + i) * g.kW + j) * rowStride;
    for (long oh = 0; oh < g.outH; oh++, src += g.outW) {
      const long ih = oh * g.strideH + rowOffset;
      if (ih < 0 || ih >= g.H) continue;
      T* row = base + ih * g.W + colOffset;
      if (g.strideW == 1) {
        for (long ow = first; ow < end; ow++) row[ow] += src[ow];
      } else {
        for (long ow = first; ow < end; ow++) row[ow * g.strideW] += src[ow];
      }
    }
  });
}

}  // namespace tg

namespace tg {

template <typename T>
void transpose(const T* x, const long* shape, const long* perm, long rank, T* out) {
  // the output's axes with their strides in x, adjacent ones merged where x holds them contiguously
  long size[16], stride[16], in[16];
  long s = 1;
  for (long a = rank - 1; a >= 0; a--) {
    in[a] = s;
    s *= shape[a];
  }
  if (s == 0) return;
  long r = 0;
  for (long i = 0; i < rank; i++) {
    const long n = shape[perm[i]], st = in[perm[i]];
    if (n == 1) continue;
    if (r > 0 && stride[r - 1] == st * n) {
      size[r - 1] *= n;
      stride[r - 1] = st;
    } else {
      size[r] = n;
      stride[r] = st;
      r++;
    }
  }
  if (r == 0) {
    out[0] = x[0];
    return;
  }
  // the innermost axis: a contiguous run (memcpy) or a strided walk
  const long run = size[r - 1], runStride = stride[r - 1];
  long index[16] = {0};
  long offset = 0;
  const long outer = s / run;
  for (long k = 0; k < outer; k++) {
    if (runStride == 1) std::memcpy(out, x + offset, run * sizeof(T));
    else for (long j = 0; j < run; j++) out[j] = x[offset + j * runStride];
    out += run;
    for (long a = r - 2; a >= 0; a--) {
      offset += stride[a];
      if (++index[a] < size[a]) break;
      offset -= stride[a] * size[a];
      index[a] = 0;
    }
  }
}

template void unfold<float>(const float*, const ConvGeometry&, float, float*, bool);
template void unfold<double>(const double*, const ConvGeometry&, double, double*, bool);
template void fold<float>(const float*, const ConvGeometry&, float*, bool);
template void fold<double>(const double*, const ConvGeometry&, double*, bool);
template void transpose<float>(const float*, const long*, const long*, long, float*);
template void transpose<double>(const double*, const long*, const long*, long, double*);

}  // namespace tg
