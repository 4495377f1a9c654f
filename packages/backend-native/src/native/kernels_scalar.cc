// The portable kernels: plain C++ compiled for the baseline target (x86-64 = SSE2, or any
// other architecture), used when the CPU lacks AVX2 + FMA. The compiler vectorises the
// inner loops with what the baseline has. Same results as the AVX2 set where js is
// matched exactly (relu, step, neg, abs, sign, sqrt, x², add … equal, column sums); the
// transcendental ones use libm in double, rounded once to float.
#include <cmath>
#include "elementwise.h"
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
// (Math.log1p … and js's own erf, to ≤ 1 float ulp apart).
void unaryLibm(int op, const float* x, float* out, long n) {
  switch (op) {
    case U_LOG1P: for (long i = 0; i < n; i++) out[i] = static_cast<float>(std::log1p(static_cast<double>(x[i]))); return;
    case U_EXPM1: for (long i = 0; i < n; i++) out[i] = static_cast<float>(std::expm1(static_cast<double>(x[i]))); return;
    case U_ERF: for (long i = 0; i < n; i++) out[i] = static_cast<float>(std::erf(static_cast<double>(x[i]))); return;
    case U_SIN: for (long i = 0; i < n; i++) out[i] = static_cast<float>(std::sin(static_cast<double>(x[i]))); return;
    case U_COS: for (long i = 0; i < n; i++) out[i] = static_cast<float>(std::cos(static_cast<double>(x[i]))); return;
  }
}

void unaryScalar(int op, const float* x, float* out, long n, double scalar) {
  // relu, step, neg, abs, sign, sqrt, floor, ceil, round, isNaN, isFinite and x²: exact, the
  // same template as float64's (elementwise.h)
  if (unaryExact<float>(op, x, out, n, scalar)) return;
  switch (op) {
    case U_EXP: for (long i = 0; i < n; i++) out[i] = static_cast<float>(std::exp(static_cast<double>(x[i]))); return;
    case U_SIGMOID: for (long i = 0; i < n; i++) out[i] = static_cast<float>(sigmoid(x[i])); return;
    case U_TANH: for (long i = 0; i < n; i++) out[i] = static_cast<float>(std::tanh(static_cast<double>(x[i]))); return;
    case U_LOG: for (long i = 0; i < n; i++) out[i] = static_cast<float>(std::log(static_cast<double>(x[i]))); return;
    case U_POW: for (long i = 0; i < n; i++) out[i] = static_cast<float>(jsPow(x[i], scalar)); return;
    case U_SOFTPLUS: for (long i = 0; i < n; i++) out[i] = static_cast<float>(softplus(x[i])); return;
    default: unaryLibm(op, x, out, n); return;
  }
}

void subScaledScalar(const float* y, const float* x, float s, float* out, long n) { subScaledOf<float>(y, x, s, out, n); }

void sumRowsScalar(const float* x, float* out, long outer, long mid) {
  for (long o = 0; o < outer; o++) {
    double s = 0;
    for (long p = 0; p < mid; p++) s += x[o * mid + p];
    out[o] = static_cast<float>(s);
  }
}

// column sums one float32 addition after another, as js (inner > 1 never reads `run`)
void sumMiddleScalar(const float* x, float* out, long outer, long mid, long inner) { sumOf<float>(x, out, outer, mid, inner, mid); }

void extremumScalar(bool max, const float* x, float* out, long outer, long mid, long inner) { extremumOf<float>(max, x, out, outer, mid, inner); }

}  // namespace

const Float64Kernels portableFloat64Kernels = float64Kernels();

const KernelSet scalarKernels = {"portable 4x8", MR, NR, micro4x8, unaryScalar, binaryOf<float>, sumRowsScalar, sumMiddleScalar, extremumScalar,
                                 subScaledScalar, nullptr, MR, NR, micro4x8F64, &portableFloat64Kernels,
                                 nullptr, nullptr, false, 0};

}  // namespace tg
