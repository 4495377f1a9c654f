// The element-wise and reduction kernels written once over the element type T: the portable
// float32 kernels and both float64 sets (kernels_scalar.cc for the baseline target,
// kernels_avx2.cc compiled for AVX2) are instantiations of these templates.
// Plain C++ that the compiler vectorises; -ffp-contract=off (binding.gyp) keeps every
// product and sum rounded on its own, so each element gets the operations of core's js
// kernels (packages/core/src/backend/js.ts) in js's order: in float64, the same bits.
//
// Everything sits in an anonymous namespace: each translation unit that includes this file,
// compiled for its own target, keeps its own copy (an AVX2 instantiation must never be the
// one a CPU without AVX2 calls; see kernels_avx2.cc).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include "kernels.h"

namespace tg {
namespace {

// ---- unary: the kernels js computes exactly, and exp and log (V8's algorithms) -------------

// e^x exactly as V8's Math.exp computes it: fdlibm's __ieee754_exp (FreeBSD e_exp.c), which
// V8 ports as base::ieee754::exp, with V8's exp(1) = Math.E, statement for statement (and no
// FMA contraction: -ffp-contract=off). Checked against Node 20's Math.exp on 3M doubles
// (uniform in [−20, 20] and [−750, 710], tiny |x| down to 2⁻⁶⁰, overflow, underflow to
// subnormals and 0, ±0, ±∞, NaN): 0 differ (glibc's exp: 9.8 % of them differ).
inline double jsExp(double x) {
  constexpr double one = 1.0, halF[2] = {0.5, -0.5}, oThreshold = 7.09782712893383973096e+02, uThreshold = -7.45133219101941108420e+02;
  constexpr double ln2HI[2] = {6.93147180369123816490e-01, -6.93147180369123816490e-01};
  constexpr double ln2LO[2] = {1.90821492927058770002e-10, -1.90821492927058770002e-10};
  constexpr double invln2 = 1.44269504088896338700e+00, P1 = 1.66666666666666019037e-01, P2 = -2.77777777770155933842e-03,
                   P3 = 6.61375632143793436117e-05, P4 = -1.65339022054652515390e-06, P5 = 4.13813679705723846039e-08;
  constexpr double E = 2.718281828459045, huge = 1.0e+300, twom1000 = 9.33263618503218878990e-302, two1023 = 8.988465674311579539e307;
  uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  uint32_t hx = static_cast<uint32_t>(bits >> 32);
  const int32_t xsb = static_cast<int32_t>((hx >> 31) & 1);
  hx &= 0x7fffffff;
  double hi = 0.0, lo = 0.0;
  int32_t k = 0;
  if (hx >= 0x40862E42) {  // |x| ≥ 709.78…: not finite, overflow or underflow
    if (hx >= 0x7ff00000) {
      if (((hx & 0xfffff) | static_cast<uint32_t>(bits)) != 0) return x + x;  // NaN
      return xsb == 0 ? x : 0.0;                                                // e^±∞
    }
    if (x > oThreshold) return INFINITY;
    if (x < uThreshold) return 0.0;
  }
  if (hx > 0x3fd62e42) {  // |x| > ln2/2: reduce x = k·ln2 + r
    if (hx < 0x3FF0A2B2) {  // and |x| < 1.5·ln2
      if (x == 1.0) return E;
      hi = x - ln2HI[xsb];
      lo = ln2LO[xsb];
      k = 1 - xsb - xsb;
    } else {
      k = static_cast<int32_t>(invln2 * x + halF[xsb]);
      const double t = k;
      hi = x - t * ln2HI[0];
      lo = t * ln2LO[0];
    }
    x = hi - lo;
  } else if (hx < 0x3e300000) {  // |x| < 2⁻²⁸
    if (huge + x > one) return one + x;
  } else {
    k = 0;
  }
  const double t = x * x;
  const uint64_t scaleBits = static_cast<uint64_t>(static_cast<uint32_t>(0x3ff00000 + (k >= -1021 ? k : k + 1000) * 1048576)) << 32;
  double twopk;
  std::memcpy(&twopk, &scaleBits, sizeof twopk);
  const double c = x - t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5))));
  if (k == 0) return one - ((x * c) / (c - 2.0) - x);
  const double y = one - ((lo - (x * c) / (2.0 - c)) - hi);
  if (k >= -1021) {
    if (k == 1024) return y * 2.0 * two1023;
    return y * twopk;
  }
  return y * twopk * twom1000;
}

// ln x exactly as V8's Math.log computes it: fdlibm's __ieee754_log (FreeBSD e_log.c), V8's
// base::ieee754::log, statement for statement. Checked against Node 20's Math.log on 2M
// doubles (uniform in [−5, 35] and [0, 3], 2^[−1000, 1000], 1 ± 2⁻⁵⁰…, subnormals, ±0, ±∞,
// NaN, negatives): 0 differ, NaN payloads aside (glibc's log: 4.9 % of [−20, 20] differ).
inline double jsLog(double x) {
  constexpr double ln2Hi = 6.93147180369123816490e-01, ln2Lo = 1.90821492927058770002e-10, two54 = 1.80143985094819840000e+16;
  constexpr double Lg1 = 6.666666666666735130e-01, Lg2 = 3.999999999940941908e-01, Lg3 = 2.857142874366239149e-01,
                   Lg4 = 2.222219843214978396e-01, Lg5 = 1.818357216161805012e-01, Lg6 = 1.531383769920937332e-01,
                   Lg7 = 1.479819860511658591e-01;
  uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  int32_t hx = static_cast<int32_t>(bits >> 32);
  const uint32_t lx = static_cast<uint32_t>(bits);
  int32_t k = 0;
  if (hx < 0x00100000) {  // x < 2⁻¹⁰²²: zero, negative or subnormal
    if (((hx & 0x7fffffff) | static_cast<int32_t>(lx)) == 0) return -INFINITY;
    if (hx < 0) return NAN;
    k -= 54;
    x *= two54;  // subnormal: scale up
    std::memcpy(&bits, &x, sizeof bits);
    hx = static_cast<int32_t>(bits >> 32);
  }
  if (hx >= 0x7ff00000) return x + x;
  k += (hx >> 20) - 1023;
  hx &= 0x000fffff;
  int32_t i = (hx + 0x95f64) & 0x100000;
  const uint64_t normalized = (static_cast<uint64_t>(static_cast<uint32_t>(hx | (i ^ 0x3ff00000))) << 32) | (bits & 0xffffffffu);
  std::memcpy(&x, &normalized, sizeof x);  // x or x/2 in [√2/2, √2)
  k += i >> 20;
  const double f = x - 1.0;
  double dk;
  if ((0x000fffff & (2 + hx)) < 3) {  // −2⁻²⁰ < f < 2⁻²⁰
    if (f == 0.0) {
      if (k == 0) return 0.0;
      dk = static_cast<double>(k);
      return dk * ln2Hi + dk * ln2Lo;
    }
    const double R = f * f * (0.5 - 0.33333333333333333 * f);
    if (k == 0) return f - R;
    dk = static_cast<double>(k);
    return dk * ln2Hi - ((R - dk * ln2Lo) - f);
  }
  const double s = f / (2.0 + f);
  dk = static_cast<double>(k);
  const double z = s * s;
  i = hx - 0x6147a;
  const double w = z * z;
  const int32_t j = 0x6b851 - hx;
  const double t1 = w * (Lg2 + w * (Lg4 + w * Lg6));
  const double t2 = z * (Lg1 + w * (Lg3 + w * (Lg5 + w * Lg7)));
  i |= j;
  const double R = t2 + t1;
  if (i > 0) {
    const double hfsq = 0.5 * f * f;
    if (k == 0) return f - (hfsq - s * (hfsq + R));
    return dk * ln2Hi - ((hfsq - (s * (hfsq + R) + dk * ln2Lo)) - f);
  }
  if (k == 0) return f - s * (f - R);
  return dk * ln2Hi - ((s * (f - R) - dk * ln2Lo) - f);
}

// core's js sigmoid over jsExp: 1/(1 + e^−z) for z ≥ 0, e^z/(1 + e^z) below (NaN: the second)
inline double jsSigmoid(double z) {
  if (z >= 0) return 1.0 / (1.0 + jsExp(-z));
  const double e = jsExp(z);
  return e / (1.0 + e);
}

// False for a kernel that is not one of them (the caller hands it elsewhere). exp, sigmoid
// and log only in double (float32's round a double value once: kernels_*.cc).
template <typename T>
bool unaryExact(int op, const T* x, T* out, long n, double scalar) {
  const T zero = T(0), one = T(1);
  if constexpr (std::is_same_v<T, double>) {
    if (op == U_EXP) {
      for (long i = 0; i < n; i++) out[i] = jsExp(x[i]);
      return true;
    }
    if (op == U_SIGMOID) {
      for (long i = 0; i < n; i++) out[i] = jsSigmoid(x[i]);
      return true;
    }
    if (op == U_LOG) {
      for (long i = 0; i < n; i++) out[i] = jsLog(x[i]);
      return true;
    }
  }
  switch (op) {
    // !(x ≤ 0): x > 0 or NaN, kept (PyTorch's relu); −0 gives +0
    case U_RELU: for (long i = 0; i < n; i++) out[i] = !(x[i] <= zero) ? x[i] : zero; return true;
    case U_STEP: for (long i = 0; i < n; i++) out[i] = x[i] > zero ? one : zero; return true;
    case U_NEG: for (long i = 0; i < n; i++) out[i] = -x[i]; return true;
    case U_ABS: for (long i = 0; i < n; i++) out[i] = std::fabs(x[i]); return true;
    case U_SIGN: for (long i = 0; i < n; i++) out[i] = x[i] > zero ? one : x[i] < zero ? -one : zero; return true;
    // correctly rounded in both: Math.sqrt, and fround(Math.sqrt(x)) for a float
    case U_SQRT: for (long i = 0; i < n; i++) out[i] = std::sqrt(x[i]); return true;
    // floor, ceil and round are exact; nearbyint rounds half to even in the default mode,
    // as js's roundHalfEven (−0.5 → −0, 2.5 → 2)
    case U_FLOOR: for (long i = 0; i < n; i++) out[i] = std::floor(x[i]); return true;
    case U_CEIL: for (long i = 0; i < n; i++) out[i] = std::ceil(x[i]); return true;
    case U_ROUND: for (long i = 0; i < n; i++) out[i] = std::nearbyint(x[i]); return true;
    case U_ISNAN: for (long i = 0; i < n; i++) out[i] = x[i] != x[i] ? one : zero; return true;
    case U_ISFINITE: for (long i = 0; i < n; i++) out[i] = std::isfinite(x[i]) ? one : zero; return true;
    case U_POW:
      if (scalar != 2.0) return false;  // Math.pow: V8's own
      for (long i = 0; i < n; i++) out[i] = x[i] * x[i];
      return true;
    default: return false;
  }
}

// ---- binary ---------------------------------------------------------------------------------

template <typename T, int OP>
inline T applyBinary(T a, T b) {
  const T zero = T(0), one = T(1);
  switch (OP) {
    case B_ADD: return a + b;
    case B_SUB: return a - b;
    case B_MUL: return a * b;
    case B_DIV: return a / b;
    case B_GT: return a > b ? one : zero;
    case B_GE: return a >= b ? one : zero;
    case B_LT: return a < b ? one : zero;
    case B_LE: return a <= b ? one : zero;
    case B_EQ: return a == b ? one : zero;
    // js's order of operations, each step rounded to T: dy·(y·(1 − y)), dy·(1 − y·y)
    case B_SIGMOID_GRAD: { const T t = one - a; const T u = a * t; return b * u; }
    case B_TANH_GRAD: { const T t = a * a; const T u = one - t; return b * u; }
    // NaN where either is NaN, else a on ties
    case B_MAXIMUM: return a >= b || a != a ? a : b;
    case B_MINIMUM: return a <= b || a != a ? a : b;
    // a product with 1 or 0, not a select: dy = ±Inf or NaN where x ≤ 0 gives NaN, as js
    default: return b * (a > zero ? one : zero);
  }
}

// One output row of n; AV/BV: the operand advances with the row (else its one value repeats,
// read once: a streamed operand may be empty when n = 0, a repeated one never is).
template <typename T, int OP, bool AV, bool BV>
inline void binaryRun(const T* a, const T* b, T* o, long n) {
  if (n <= 0) return;
  const T as = a[0], bs = b[0];
  for (long i = 0; i < n; i++) o[i] = applyBinary<T, OP>(AV ? a[i] : as, BV ? b[i] : bs);
}

template <typename T, int OP>
void binaryOfOp(const T* a, int aMode, const T* b, int bMode, T* out, long rows, long cols) {
  const bool aFlat = aMode == M_FULL || aMode == M_SCALAR, bFlat = bMode == M_FULL || bMode == M_SCALAR;
  if (aFlat && bFlat) {  // one long row
    const long n = rows * cols;
    if (aMode == M_FULL && bMode == M_FULL) binaryRun<T, OP, true, true>(a, b, out, n);
    else if (aMode == M_FULL) binaryRun<T, OP, true, false>(a, b, out, n);
    else if (bMode == M_FULL) binaryRun<T, OP, false, true>(a, b, out, n);
    else binaryRun<T, OP, false, false>(a, b, out, n);
    return;
  }
  const bool av = aMode == M_FULL || aMode == M_ROW, bv = bMode == M_FULL || bMode == M_ROW;
  for (long r = 0; r < rows; r++) {
    const T* pa = aMode == M_FULL ? a + r * cols : aMode == M_COLUMN ? a + r : a;
    const T* pb = bMode == M_FULL ? b + r * cols : bMode == M_COLUMN ? b + r : b;
    T* po = out + r * cols;
    if (av && bv) binaryRun<T, OP, true, true>(pa, pb, po, cols);
    else if (av) binaryRun<T, OP, true, false>(pa, pb, po, cols);
    else if (bv) binaryRun<T, OP, false, true>(pa, pb, po, cols);
    else binaryRun<T, OP, false, false>(pa, pb, po, cols);
  }
}

template <typename T>
void binaryOf(int op, const T* a, int aMode, const T* b, int bMode, T* out, long rows, long cols) {
  switch (op) {
    case B_ADD: binaryOfOp<T, B_ADD>(a, aMode, b, bMode, out, rows, cols); return;
    case B_SUB: binaryOfOp<T, B_SUB>(a, aMode, b, bMode, out, rows, cols); return;
    case B_MUL: binaryOfOp<T, B_MUL>(a, aMode, b, bMode, out, rows, cols); return;
    case B_DIV: binaryOfOp<T, B_DIV>(a, aMode, b, bMode, out, rows, cols); return;
    case B_GT: binaryOfOp<T, B_GT>(a, aMode, b, bMode, out, rows, cols); return;
    case B_GE: binaryOfOp<T, B_GE>(a, aMode, b, bMode, out, rows, cols); return;
    case B_LT: binaryOfOp<T, B_LT>(a, aMode, b, bMode, out, rows, cols); return;
    case B_LE: binaryOfOp<T, B_LE>(a, aMode, b, bMode, out, rows, cols); return;
    case B_EQ: binaryOfOp<T, B_EQ>(a, aMode, b, bMode, out, rows, cols); return;
    case B_SIGMOID_GRAD: binaryOfOp<T, B_SIGMOID_GRAD>(a, aMode, b, bMode, out, rows, cols); return;
    case B_TANH_GRAD: binaryOfOp<T, B_TANH_GRAD>(a, aMode, b, bMode, out, rows, cols); return;
    case B_RELU_GRAD: binaryOfOp<T, B_RELU_GRAD>(a, aMode, b, bMode, out, rows, cols); return;
    case B_MAXIMUM: binaryOfOp<T, B_MAXIMUM>(a, aMode, b, bMode, out, rows, cols); return;
    case B_MINIMUM: binaryOfOp<T, B_MINIMUM>(a, aMode, b, bMode, out, rows, cols); return;
  }
}

// out = c ≠ 0 ? a : b over [rows, cols], each operand read according to its Mode (js: NaN ≠ 0
// picks a, −0 picks b).
template <typename T>
void whereOf(const T* c, int cMode, const T* a, int aMode, const T* b, int bMode, T* out, long rows, long cols) {
  const auto rowOf = [cols](const T* p, int mode, long r) { return mode == M_FULL ? p + r * cols : mode == M_COLUMN ? p + r : p; };
  const auto step = [](int mode) -> long { return mode == M_FULL || mode == M_ROW ? 1 : 0; };
  const long sc = step(cMode), sa = step(aMode), sb = step(bMode);
  const bool flat = (cMode == M_FULL || cMode == M_SCALAR) && (aMode == M_FULL || aMode == M_SCALAR) && (bMode == M_FULL || bMode == M_SCALAR);
  if (flat) {
    cols *= rows;
    rows = 1;
  }
  for (long r = 0; r < rows; r++) {
    const T *pc = rowOf(c, cMode, r), *pa = rowOf(a, aMode, r), *pb = rowOf(b, bMode, r);
    T* po = out + r * cols;
    // both sides read before the choice: a blend, not the masked loads a conditional read becomes
    if (sc && sa && sb) {
      for (long j = 0; j < cols; j++) {
        const T x = pa[j], y = pb[j];
        po[j] = pc[j] != T(0) ? x : y;
      }
    } else {
      for (long j = 0; j < cols; j++) {
        const T x = pa[j * sa], y = pb[j * sb];
        po[j] = pc[j * sc] != T(0) ? x : y;
      }
    }
  }
}

// out = y − s·x, s·x rounded before the subtraction (never fused); out may be y or x.
template <typename T>
void subScaledOf(const T* y, const T* x, T s, T* out, long n) {
  for (long i = 0; i < n; i++) {
    const T scaled = s * x[i];
    out[i] = y[i] - scaled;
  }
}

// ---- reductions -----------------------------------------------------------------------------

// x seen as [outer, mid, inner], mid summed away, in js's order (packages/core/src/backend/
// js.ts, reduceContiguous): with inner = 1 each output's mid values come as mid / run runs of
// `run` (the shape's last axis), each summed from 0 in order, then added in order to the
// output, which starts at 0 (so a sum of −0s is +0, as js); with inner > 1, each value goes
// straight into its output, in order of mid. Four outputs at a time where each is one run:
// independent chains, the same additions.
template <typename T>
void sumOf(const T* x, T* out, long outer, long mid, long inner, long run) {
  const T zero = T(0);
  if (inner == 1) {
    if (run <= 0 || mid % run != 0) run = mid;
    long o = 0;
    if (run == mid) {
      for (; o + 4 <= outer; o += 4) {
        const T *r0 = x + o * mid, *r1 = r0 + mid, *r2 = r1 + mid, *r3 = r2 + mid;
        T s0 = zero, s1 = zero, s2 = zero, s3 = zero;
        for (long p = 0; p < mid; p++) {
          s0 += r0[p];
          s1 += r1[p];
          s2 += r2[p];
          s3 += r3[p];
        }
        out[o] = zero + s0;
        out[o + 1] = zero + s1;
        out[o + 2] = zero + s2;
        out[o + 3] = zero + s3;
      }
    }
    for (; o < outer; o++) {
      const T* block = x + o * mid;
      T total = zero;
      for (long start = 0; start < mid; start += run) {
        T acc = zero;
        for (long p = start; p < start + run; p++) acc += block[p];
        total += acc;
      }
      out[o] = total;
    }
    return;
  }
  for (long o = 0; o < outer; o++) {
    T* dst = out + o * inner;
    for (long q = 0; q < inner; q++) dst[q] = zero;
    for (long p = 0; p < mid; p++) {
      const T* row = x + (o * mid + p) * inner;
      for (long q = 0; q < inner; q++) dst[q] += row[q];
    }
  }
}

// max (or min) over mid: js's steps from ∓∞ in js's order (NaN wins, ties keep the first).
template <typename T>
void extremumOf(bool max, const T* x, T* out, long outer, long mid, long inner) {
  const T start = max ? -INFINITY : INFINITY;
  for (long o = 0; o < outer; o++) {
    const T* block = x + o * mid * inner;
    T* dst = out + o * inner;
    if (inner == 1) {
      dst[0] = extremumRun(max, block, mid, start);
      continue;
    }
    for (long q = 0; q < inner; q++) dst[q] = start;
    for (long p = 0; p < mid; p++) {
      const T* row = block + p * inner;
      if (max) for (long q = 0; q < inner; q++) dst[q] = extremumStep(true, dst[q], row[q]);
      else for (long q = 0; q < inner; q++) dst[q] = extremumStep(false, dst[q], row[q]);
    }
  }
}

// The float64 set of one translation unit (its target's instantiations).
inline Float64Kernels float64Kernels() {
  return {unaryExact<double>, binaryOf<double>, whereOf<double>, subScaledOf<double>, sumOf<double>, extremumOf<double>};
}

}  // namespace
}  // namespace tg
