// Dev check (not part of the addon, nor of the test suite): the matmul kernels, the
// convolution family (conv.cc) and the two-thread pool built with a sanitizer, run over batched and single products, one and two
// threads, all transpose variants and edge sizes, checking one thread's bits against two's
// and every element against a double-precision reference; in float32 and float64. Run by sanitize.sh.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>
#include "../src/native/kernels.h"

namespace {
int failures = 0;
int runsDone = 0;

void check(bool ok, const char* what, long count, long m, long k, long n, bool tA, bool tB) {
  if (ok) return;
  failures++;
  std::fprintf(stderr, "FAIL %s: %ld × %ld×%ld×%ld tA=%d tB=%d\n", what, count, m, k, n, tA, tB);
}

// The float32 or float64 entry points, by element type.
void gemmBatched(const tg::KernelSet& ks, const float* a, long aRow, long aCol, const int32_t* aOff, const float* b, long bRow, long bCol,
                 const int32_t* bOff, float* c, long count, long m, long k, long n, int threads) {
  tg::sgemmBatched(ks, a, aRow, aCol, aOff, b, bRow, bCol, bOff, c, count, m, k, n, threads);
}
void gemmBatched(const tg::KernelSet& ks, const double* a, long aRow, long aCol, const int32_t* aOff, const double* b, long bRow, long bCol,
                 const int32_t* bOff, double* c, long count, long m, long k, long n, int threads) {
  tg::dgemmBatched(ks, a, aRow, aCol, aOff, b, bRow, bCol, bOff, c, count, m, k, n, threads);
}
void gemm(const tg::KernelSet& ks, const float* a, long aRow, long aCol, const float* b, long bRow, long bCol, float* c, long ldc, long m,
          long k, long n, int threads) {
  tg::sgemm(ks, a, aRow, aCol, b, bRow, bCol, c, ldc, m, k, n, threads);
}
void gemm(const tg::KernelSet& ks, const double* a, long aRow, long aCol, const double* b, long bRow, long bCol, double* c, long ldc, long m,
          long k, long n, int threads) {
  tg::dgemm(ks, a, aRow, aCol, b, bRow, bCol, c, ldc, m, k, n, threads);
}

template <typename T>
void batch(const tg::KernelSet& ks, long count, long m, long k, long n, bool tA, bool tB, bool broadcastA, std::mt19937& rng) {
  std::uniform_real_distribution<T> d(-2, 2);
  const double u = std::ldexp(1.0, sizeof(T) == 4 ? -24 : -53);
  const long aMats = broadcastA ? 1 : count;
  // exact-size arrays: one element too far is a heap-buffer-overflow under ASan
  std::vector<T> a(aMats * m * k + 1), b(count * k * n + 1);
  for (auto& x : a) x = d(rng);
  for (auto& x : b) x = d(rng);
  std::vector<int32_t> aOff(count), bOff(count);
  for (long i = 0; i < count; i++) {
    aOff[i] = static_cast<int32_t>(1 + (broadcastA ? 0 : (count - 1 - i) * m * k));
    bOff[i] = static_cast<int32_t>(1 + i * k * n);
  }
  std::vector<T> c1(count * m * n, NAN), c2(count * m * n, NAN);
  const long aRow = tA ? 1 : k, aCol = tA ? m : 1, bRow = tB ? 1 : n, bCol = tB ? k : 1;
  gemmBatched(ks, a.data(), aRow, aCol, aOff.data(), b.data(), bRow, bCol, bOff.data(), c1.data(), count, m, k, n, 1);
  gemmBatched(ks, a.data(), aRow, aCol, aOff.data(), b.data(), bRow, bCol, bOff.data(), c2.data(), count, m, k, n, 3);
  check(std::memcmp(c1.data(), c2.data(), c1.size() * sizeof(T)) == 0, "1 vs 2 threads", count, m, k, n, tA, tB);
  for (long p = 0; p < count; p++) {
    const T* A = a.data() + aOff[p];
    const T* B = b.data() + bOff[p];
    for (long i = 0; i < m; i++)
      for (long j = 0; j < n; j++) {
        double s = 0, mag = 0;
        for (long q = 0; q < k; q++) {
          const double v = static_cast<double>(A[i * aRow + q * aCol]) * B[q * bRow + j * bCol];
          s += v;
          mag += std::fabs(v);
        }
        const double got = c1[p * m * n + i * n + j];
        if (!(std::fabs(got - s) <= 16 * u * std::sqrt(static_cast<double>(k)) * mag + 1e-30)) {
          check(false, "against double", count, m, k, n, tA, tB);
          return;
        }
      }
  }
  // and single products through sgemm, split or not
  std::vector<T> s1(m * n, NAN), s2(m * n, NAN);
  gemm(ks, a.data() + aOff[0], aRow, aCol, b.data() + bOff[0], bRow, bCol, s1.data(), n, m, k, n, 1);
  gemm(ks, a.data() + aOff[0], aRow, aCol, b.data() + bOff[0], bRow, bCol, s2.data(), n, m, k, n, 3);
  check(std::memcmp(s1.data(), c1.data(), s1.size() * sizeof(T)) == 0 && std::memcmp(s1.data(), s2.data(), s1.size() * sizeof(T)) == 0,
        "single product", 1, m, k, n, tA, tB);
  // float32: the fast paths (column form, packLines, wider in-place path) against the reference ones
  if constexpr (sizeof(T) == 4) {
    std::vector<T> r1(m * n, NAN);
    gemm(tg::referenceGemmKernels(ks), a.data() + aOff[0], aRow, aCol, b.data() + bOff[0], bRow, bCol, r1.data(), n, m, k, n, 1);
    check(std::memcmp(s1.data(), r1.data(), s1.size() * sizeof(T)) == 0, "fast vs reference paths", 1, m, k, n, tA, tB);
  }
}
// The convolution family (conv.cc) under the sanitizers: unfold and fold in both column
// layouts, the max-pool kernels (the 2×2 path and the general one, with padding and
// dilation), and transpose, each on arrays sized exactly, so any read or write past them shows.
void convolutions(std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1, 1);
  auto filled = [&](long n) {
    std::vector<float> v(n);
    for (auto& x : v) x = u(rng);
    return v;
  };
  const long geometries[][14] = {
      {2, 3, 7, 6, 3, 2, 1, 2, 1, 0, 1, 1, 7, 3}, {1, 1, 5, 5, 5, 5, 1, 1, 2, 2, 1, 1, 5, 5}, {3, 2, 9, 9, 2, 2, 2, 2, 0, 0, 1, 1, 4, 4},
      {2, 2, 8, 7, 3, 3, 2, 1, 1, 1, 2, 2, 3, 5}, {1, 2, 4, 4, 1, 1, 1, 1, 0, 0, 1, 1, 4, 4}, {2, 1, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 4, 4},
  };
  for (const auto& q : geometries) {
    const tg::ConvGeometry g{q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7], q[8], q[9], q[10], q[11], q[12], q[13]};
    const long image = g.N * g.C * g.H * g.W, cols = g.N * g.C * g.kH * g.kW * g.outH * g.outW, pooled = g.N * g.C * g.outH * g.outW;
    std::vector<float> x = filled(image), c(cols), back(image);
    for (bool batched : {false, true}) {
      tg::unfold(x.data(), g, 0.0f, c.data(), batched);
      tg::fold(c.data(), g, back.data(), batched);
    }
    // max-pooling reads −∞ outside the image; every window here has an element inside
    std::vector<float> y(pooled), dy = filled(pooled), dx(image), v = filled(image);
    tg::maxPool(x.data(), g, y.data());
    tg::maxPoolScatter(dy.data(), x.data(), g, dx.data());
    tg::maxPoolGather(v.data(), x.data(), g, y.data());
    const long shape[4] = {g.N, g.C, g.H, g.W}, perm[4] = {1, 0, 3, 2};
    tg::transpose(x.data(), shape, perm, 4, back.data());
    runsDone++;
  }
}
}  // namespace

int main() {
  std::mt19937 rng(42);
  const long shapes[][4] = {{1, 1, 1, 1}, {2, 5, 3, 7}, {3, 6, 16, 16}, {5, 7, 17, 15}, {32, 64, 32, 64}, {4, 13, 300, 37},
                            {2, 18, 64, 256}, {6, 61, 257, 40}, {70, 3, 5, 2}, {2, 150, 40, 2100}, {4, 5, 0, 3},
                            {2, 30, 784, 10}, {2, 30, 10, 784}, {3, 17, 33, 11}, {2, 9, 5, 12}, {2, 128, 784, 64}, {2, 10, 64, 128},
                            {1, 150, 256, 100}};
  int runs = 0;
  for (const tg::KernelSet* ks : {&tg::kernels(false), &tg::kernels(false, true), &tg::kernels(true)})
    for (const auto& s : shapes)
      for (int t = 0; t < 4; t++)
        for (bool broadcastA : {false, true}) {
          batch<float>(*ks, s[0], s[1], s[2], s[3], t & 1, t & 2, broadcastA, rng);
          batch<double>(*ks, s[0], s[1], s[2], s[3], t & 1, t & 2, broadcastA, rng);
          runs += 2;
        }
  convolutions(rng);
  // side jobs (columnSampler.prefetch's gather) on the worker, posted without waiting, while
  // split products run: each gather exact, the products' bits as on one thread
  int gathers = 0;
  {
    const long rows = 40, rowLength = 33, n = 13;
    std::vector<float> x(rows * rowLength), a(30 * 200), b(200 * 50), c1(30 * 50), c2(30 * 50);
    for (auto& v : x) v = std::uniform_real_distribution<float>(-1, 1)(rng);
    for (auto& v : a) v = std::uniform_real_distribution<float>(-1, 1)(rng);
    for (auto& v : b) v = std::uniform_real_distribution<float>(-1, 1)(rng);
    sgemm(tg::kernels(false), a.data(), 200, 1, b.data(), 50, 1, c1.data(), 50, 30, 200, 50, 1);
    for (int round = 0; round < 200; round++) {
      std::vector<int32_t> idx(n);
      for (auto& i : idx) i = static_cast<int32_t>(rng() % rows);
      std::vector<float> out(rowLength * n, -1.0f);
      const uint64_t ticket = tg::gatherColumnsStart(x.data(), rowLength, idx.data(), n, out.data(), false, true);
      sgemm(tg::kernels(false), a.data(), 200, 1, b.data(), 50, 1, c2.data(), 50, 30, 200, 50, 2);
      if (round % 3) tg::backgroundWait(ticket);
      else tg::backgroundWait(tg::gatherColumnsStart(x.data(), rowLength, idx.data(), n, out.data(), false, true));
      for (long k = 0; k < n; k++)
        for (long r = 0; r < rowLength; r++)
          if (out[r * n + k] != x[idx[k] * rowLength + r]) failures++;
      if (std::memcmp(c1.data(), c2.data(), c1.size() * sizeof(float)) != 0) failures++;
      gathers++;
    }
  }
  std::printf("%d batches, %d failures; %d convolution geometries; %d side-job gathers\n", runs, failures, runsDone, gathers);
  return failures ? 1 : 0;
}
