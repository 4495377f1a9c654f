// The portable kernels: plain C++ compiled for the baseline target (x86-64 = SSE2, or any
// other architecture), used when the CPU lacks AVX2 + FMA. The compiler vectorises the
// inner loops with what the baseline has. Same results as the AVX2 set where js is
// matched exactly (relu, step, neg, abs, sign, sqrt, x², add … equal, column sums); the
// transcendental ones use libm in double, rounded once to float.
#include <cmath>
#include "kernels.h"

namespace tg {
namespace {

constexpr int MR = 4, NR = 8;

void micro4x8(long kc, const float* A, const float* B, float* C, long ldc, bool accumulate) {
  float c[MR][NR] = {};
  for (long p = 0; p < kc; ++p) {
    for (int r = 0; r < MR; r++) {
      const float a = A[r];
      for (int j = 0; j < NR; j++) c[r][j] += a * B[j];
    }
    A += MR;
    B += NR;
  }
  for (int r = 0; r < MR; r++) {
    float* row = C + r * ldc;
    for (int j = 0; j < NR; j++) row[j] = accumulate ? row[j] + c[r][j] : c[r][j];
  }
}

// micro4x8 in float64.
void micro4x8F64(long kc, const double* A, const double* B, double* C, long ldc, bool accumulate) {
  double c[MR][NR] = {};
  for (long p = 0; p < kc; ++p) {
    for (int r = 0; r < MR; r++) {
      const double a = A[r];
      for (int j = 0; j < NR; j++) c[r][j] += a * B[j];
    }
    A += MR;
    B += NR;
  }
  for (int r = 0; r < MR; r++) {
    double* row = C + r * ldc;
    for (int j = 0; j < NR; j++) row[j] = accumulate ? row[j] + c[r][j] : c[r][j];
  }
}

double jsPow(double x, double y) {
  // JS's Math.pow is NaN where the exponent is NaN, or ±∞ with |x| = 1; C's pow says 1
  if (std::isnan(y) || (std::isinf(y) && std::fabs(x) == 1.0)) return NAN;
  return std::pow(x, y);
}

double softplus(double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }

double sigmoid(double z) {
  if (z >= 0) return 1.0 / (1.0 + std::exp(-z));
  const double e = std::exp(z);
  return e / (1.0 + e);
}

// The kernels added with gelu & co: libm in double, rounded once, as core's js kernels
// (Math.log1p … and js's own erf, to ≤ 1 float ulp apart); floor, ceil and round are exact
// in float (nearbyint: to nearest, ties to even, the default rounding mode).
void unaryLibm(int op, const float* x, float* out, long n) {
  switch (op) {
    case U_LOG1P: for (long i = 0; i < n; i++) out[i] = static_cast<float>(std::log1p(static_cast<double>(x[i]))); return;
    case U_EXPM1: for (long i = 0; i < n; i++) out[i] = static_cast<float>(std::expm1(static_cast<double>(x[i]))); return;
    case U_ERF: for (long i = 0; i < n; i++) out[i] = static_cast<float>(std::erf(static_cast<double>(x[i]))); return;
    case U_SIN: for (long i = 0; i < n; i++) out[i] = static_cast<float>(std::sin(static_cast<double>(x[i]))); return;
    case U_COS: for (long i = 0; i < n; i++) out[i] = static_cast<float>(std::cos(static_cast<double>(x[i]))); return;
    case U_FLOOR: for (long i = 0; i < n; i++) out[i] = std::floor(x[i]); return;
    case U_CEIL: for (long i = 0; i < n; i++) out[i] = std::ceil(x[i]); return;
    case U_ROUND: for (long i = 0; i < n; i++) out[i] = std::nearbyint(x[i]); return;
    case U_ISNAN: for (long i = 0; i < n; i++) out[i] = std::isnan(x[i]) ? 1.0f : 0.0f; return;
    case U_ISFINITE: for (long i = 0; i < n; i++) out[i] = std::isfinite(x[i]) ? 1.0f : 0.0f; return;
  }
}

void unaryScalar(int op, const float* x, float* out, long n, double scalar) {
  switch (op) {
    // !(x ≤ 0): x > 0 or NaN, kept (PyTorch's relu); −0 gives +0
    case U_RELU: for (long i = 0; i < n; i++) out[i] = !(x[i] <= 0) ? x[i] : 0.0f; return;
    case U_STEP: for (long i = 0; i < n; i++) out[i] = x[i] > 0 ? 1.0f : 0.0f; return;
    case U_NEG: for (long i = 0; i < n; i++) out[i] = -x[i]; return;
    case U_ABS: for (long i = 0; i < n; i++) out[i] = std::fabs(x[i]); return;
    case U_SIGN: for (long i = 0; i < n; i++) out[i] = x[i] > 0 ? 1.0f : x[i] < 0 ? -1.0f : 0.0f; return;
    case U_SQRT: for (long i = 0; i < n; i++) out[i] = std::sqrt(x[i]); return;
    case U_EXP: for (long i = 0; i < n; i++) out[i] = static_cast<float>(std::exp(static_cast<double>(x[i]))); return;
    case U_SIGMOID: for (long i = 0; i < n; i++) out[i] = static_cast<float>(sigmoid(x[i])); return;
    case U_TANH: for (long i = 0; i < n; i++) out[i] = static_cast<float>(std::tanh(static_cast<double>(x[i]))); return;
    case U_LOG: for (long i = 0; i < n; i++) out[i] = static_cast<float>(std::log(static_cast<double>(x[i]))); return;
    case U_POW:
      if (scalar == 2.0) for (long i = 0; i < n; i++) out[i] = x[i] * x[i];
      else for (long i = 0; i < n; i++) out[i] = static_cast<float>(jsPow(x[i], scalar));
      return;
    case U_SOFTPLUS: for (long i = 0; i < n; i++) out[i] = static_cast<float>(softplus(x[i])); return;
    default: unaryLibm(op, x, out, n); return;
  }
}

template <int OP>
inline float apply(float a, float b) {
  switch (OP) {
    case B_ADD: return a + b;
    case B_SUB: return a - b;
    case B_MUL: return a * b;
    case B_DIV: return a / b;
    case B_GT: return a > b ? 1.0f : 0.0f;
    case B_GE: return a >= b ? 1.0f : 0.0f;
    case B_LT: return a < b ? 1.0f : 0.0f;
    case B_LE: return a <= b ? 1.0f : 0.0f;
    case B_EQ: return a == b ? 1.0f : 0.0f;
    case B_SIGMOID_GRAD: { const float t = 1.0f - a; const float u = a * t; return b * u; }
    case B_TANH_GRAD: { const float t = a * a; const float u = 1.0f - t; return b * u; }
    case B_MAXIMUM: return a >= b || a != a ? a : b;
    case B_MINIMUM: return a <= b || a != a ? a : b;
    default: return b * (a > 0 ? 1.0f : 0.0f);
  }
}

template <int OP>
void binaryOp(const float* a, int aMode, const float* b, int bMode, float* out, long rows, long cols) {
  for (long r = 0; r < rows; r++) {
    const float* pa = aMode == M_FULL ? a + r * cols : aMode == M_COLUMN ? a + r : a;
    const float* pb = bMode == M_FULL ? b + r * cols : bMode == M_COLUMN ? b + r : b;
    const long sa = aMode == M_FULL || aMode == M_ROW ? 1 : 0, sb = bMode == M_FULL || bMode == M_ROW ? 1 : 0;
    float* po = out + r * cols;
    for (long j = 0; j < cols; j++) po[j] = apply<OP>(pa[j * sa], pb[j * sb]);
  }
}

void binaryScalar(int op, const float* a, int aMode, const float* b, int bMode, float* out, long rows, long cols) {
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

void subScaledScalar(const float* y, const float* x, float s, float* out, long n) {
  for (long i = 0; i < n; i++) {
    const float scaled = s * x[i];
    out[i] = y[i] - scaled;
  }
}

void sumRowsScalar(const float* x, float* out, long outer, long mid) {
  for (long o = 0; o < outer; o++) {
    double s = 0;
    for (long p = 0; p < mid; p++) s += x[o * mid + p];
    out[o] = static_cast<float>(s);
  }
}

void sumMiddleScalar(const float* x, float* out, long outer, long mid, long inner) {
  for (long o = 0; o < outer; o++) {
    float* dst = out + o * inner;
    for (long q = 0; q < inner; q++) dst[q] = 0.0f;
    for (long p = 0; p < mid; p++) {
      const float* row = x + (o * mid + p) * inner;
      for (long q = 0; q < inner; q++) dst[q] += row[q];
    }
  }
}

void extremumScalar(bool max, const float* x, float* out, long outer, long mid, long inner) {
  const float start = max ? -INFINITY : INFINITY;
  for (long o = 0; o < outer; o++) {
    const float* block = x + o * mid * inner;
    float* dst = out + o * inner;
    if (inner == 1) {
      dst[0] = extremumRun(max, block, mid, start);
      continue;
    }
    for (long q = 0; q < inner; q++) dst[q] = start;
    for (long p = 0; p < mid; p++) {
      const float* row = block + p * inner;
      for (long q = 0; q < inner; q++) dst[q] = extremumStep(max, dst[q], row[q]);
    }
  }
}

}  // namespace

const KernelSet scalarKernels = {"portable 4x8", MR, NR, micro4x8, unaryScalar, binaryScalar, sumRowsScalar, sumMiddleScalar, extremumScalar,
                                 subScaledScalar, nullptr, MR, NR, micro4x8F64};

}  // namespace tg
