// Kernel entry points shared by the portable (scalar) and AVX2-FMA translation units.
// Everything here is plain C++ over raw float pointers: the addon hands the kernels the
// JS typed arrays' own memory (napi_get_typedarray_info), so nothing is copied.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>

namespace tg {

// Unary and binary kernel codes, in the order the TypeScript side sends them. Relu keeps NaN
// (x > 0 or NaN ? x : +0, PyTorch's), round is to nearest even; isNaN / isFinite write 1 or 0.
enum Unary : int {
  U_RELU, U_STEP, U_NEG, U_ABS, U_SIGN, U_SQRT, U_EXP, U_SIGMOID, U_TANH, U_LOG, U_POW, U_SOFTPLUS,
  U_LOG1P, U_EXPM1, U_ERF, U_SIN, U_COS, U_FLOOR, U_CEIL, U_ROUND, U_ISNAN, U_ISFINITE, U_COUNT
};
// The activation gradients take (a, b) = (y, or relu's x; dy), rounding each step to float32
// as core's js kernels do: sigmoidGrad dy·(y·(1 − y)), tanhGrad dy·(1 − y·y), reluGrad dy·[x > 0].
// maximum / minimum: NaN where either side is NaN, else a on ties (a ≥ b ? a : b), as js.
enum Binary : int {
  B_ADD, B_SUB, B_MUL, B_DIV, B_GT, B_GE, B_LT, B_LE, B_EQ, B_SIGMOID_GRAD, B_TANH_GRAD, B_RELU_GRAD,
  B_MAXIMUM, B_MINIMUM, B_COUNT
};
// How a binary operand is read over the output seen as [rows, cols]: itself, one value per
// column (a bias row [1, n]), one value per row ([m, 1]), or one value.
enum Mode : int { M_FULL, M_ROW, M_COLUMN, M_SCALAR };

// C[MR×NR] (+)= Σ_p Ap[p·MR + r]·Bp[p·NR + c], for one packed A panel and one packed B panel.
// `accumulate` adds the product to what C holds (the k-blocks after the first).
using MicroKernel = void (*)(long kc, const float* Ap, const float* Bp, float* C, long ldc, bool accumulate);
// C[MR×NR] = Σ_p A(r, p)·B(p, c) read in place, A(r, p) at A[r·aRow + p·aCol] and B(p, c)
// at B[p·ldb + c]: the same operations in the same order as MicroKernel over packed panels
// (accumulate false), so the same bits, without packing (small products: gemm.cc).
// MicroKernel over float64 panels (MR rows × NR columns of doubles).
using MicroKernelF64 = void (*)(long kc, const double* Ap, const double* Bp, double* C, long ldc, bool accumulate);
using DirectKernel = void (*)(long kc, const float* A, long aRow, long aCol, const float* B, long ldb, float* C, long ldc);

// The float64 element-wise and reduction kernels (elementwise.h, instantiated for double):
// the same operations in the same order as core's js kernels, so the same bits.
struct Float64Kernels {
  // false (nothing written) for a kernel js computes with V8's own Math functions (exp, log,
  // tanh, sigmoid, softplus, log1p, expm1, erf, sin, cos, pow other than x²)
  bool (*unary)(int op, const double* x, double* out, long n, double scalar);
  void (*binary)(int op, const double* a, int aMode, const double* b, int bMode, double* out, long rows, long cols);
  // out = c ≠ 0 ? a : b, the three read according to their Mode
  void (*where)(const double* c, int cMode, const double* a, int aMode, const double* b, int bMode, double* out, long rows, long cols);
  void (*subScaled)(const double* y, const double* x, double s, double* out, long n);
  // x [outer, mid, inner], mid summed away; with inner = 1 in runs of `run` (the shape's last axis), as js
  void (*sum)(const double* x, double* out, long outer, long mid, long inner, long run);
  void (*extremum)(bool max, const double* x, double* out, long outer, long mid, long inner);
};

struct KernelSet {
  const char* name;
  int mr, nr;
  MicroKernel micro;
  void (*unary)(int op, const float* x, float* out, long n, double scalar);
  // out[i, j] = a ∘ b over [rows, cols]; a and b read according to their Mode.
  void (*binary)(int op, const float* a, int aMode, const float* b, int bMode, float* out, long rows, long cols);
  // out[o] = Σ_p x[o·mid + p], accumulated in double (the js backend sums rows in double).
  void (*sumRows)(const float* x, float* out, long outer, long mid);
  // out[o, q] = Σ_p x[o, p, q], one float32 add after another as js does: bit-identical.
  void (*sumMiddle)(const float* x, float* out, long outer, long mid, long inner);
  // out[o, q] = max (or min) over p of x[o, p, q], as js: starting from ∓∞, each value in
  // order replaces the running one if it is greater (less) or NaN, so NaN wins and ties keep
  // the first (max(−0, +0) = −0): bit-identical.
  void (*extremum)(bool max, const float* x, float* out, long outer, long mid, long inner);
  // out = y − s·x, s·x rounded to float32 before the subtraction (never fused); out may be y or x.
  void (*subScaled)(const float* y, const float* x, float s, float* out, long n);
  // null where the set has none (the portable one: the compiler's SSE2 code gains nothing)
  DirectKernel microDirect;
  // float64 matmul: its micro-kernel's MR × NR (MR a divisor of gemm.cc's MC, NR of its NC)
  int mrF64, nrF64;
  MicroKernelF64 microF64;
  // float64 element-wise and reductions: this set's target's instantiation of elementwise.h
  const Float64Kernels* f64;
  // The rest is float32 matmul only; null (or the reference values) where the set has none.
  // dst[p·width + l] = src[l·ld + p] for l < lines, 0 for lines ≤ l < width (a multiple of 8),
  // p < kc: `lines` strided lines (a transposed B's columns, a row-major A's rows) laid out
  // as a panel, eight lines at a time through an 8×8 transpose in registers. Width 6 (lines
  // ≤ 6): dst must have 2 floats to spare past kc·6 (the stores are 8 wide).
  void (*packLines)(const float* src, long ld, long lines, long kc, float* dst, long width);
  // The column form for a narrow C (n ≤ 12): tile[j·16 + r] (+)= Σ_p A(r, p)·B(p, j) for
  // r < rows (≤ 8: cols ≤ 12; ≤ 16: cols ≤ 6), j < cols, with A's columns as one or two
  // vectors of 8 rows (A(·, p) at A + p·aStep; lanes ≥ rows are read as 0, never past them)
  // and B(p, j) = B[p·bRow + j·bCol] broadcast: per element the FMA chain from +0 over p in
  // order that the row-form kernels compute, then added to the tile with `accumulate` (the
  // k blocks after the first, as those kernels add to C), so the same bits; 8 useful lanes
  // of 8 where 6×16 tiles use 10 of 16 (n = 10).
  void (*microColumns)(long kc, const float* A, long aStep, long rows, const float* B, long bRow, long bCol, long cols, float* tile, bool accumulate);
  // gemmDirect's reach (gemm.cc, kDirectMaxB): false, products whose B has ≤ 16 Ki floats;
  // true, also a row-major B whose k blocks (kc·n) have, and a transposed B of ≤ 64 Ki.
  bool wideDirect;
  // microColumns' most columns per call for 9–16 rows (0: 6, the AVX2 set's two ymm vectors
  // of rows; 12 for the AVX-512 set's one zmm vector)
  int columnsAt16;
};

extern const KernelSet scalarKernels;
// The float32 matmul paths as they were before packLines, microColumns and the wider direct
// path (the same bits by construction): tests compare every path against it.
const KernelSet& referenceGemmKernels(const KernelSet& ks);
extern const Float64Kernels portableFloat64Kernels;

namespace {
// js's max/min step, in one place for both kernel sets (internal linkage: each translation
// unit, compiled for its own target, keeps its own copy)
template <typename T>
inline T extremumStep(bool max, T acc, T v) { return (max ? v > acc : v < acc) || v != v ? v : acc; }
// One run of n values (stride 1) folded into acc, in order.
template <typename T>
inline T extremumRun(bool max, const T* x, long n, T acc) {
  for (long p = 0; p < n; p++) acc = extremumStep(max, acc, x[p]);
  return acc;
}
}  // namespace
#if defined(__x86_64__) || defined(__i386__)
extern const KernelSet avx2Kernels;
extern const Float64Kernels avx2Float64Kernels;
// `iterations` × 12 independent 8-wide FMAs on registers (the peak probe's loop).
void avx2FmaLoop(long iterations, float* sink);
// The same over 4-wide double FMAs (the float64 peak).
void avx2FmaLoopF64(long iterations, double* sink);
#endif

#if defined(__x86_64__) || defined(__i386__)
// kernels_avx512.cc: the AVX-512 set's float32 matmul kernels (8×32 tiles of zmm registers);
// its other kernels are the AVX2 set's (cpu.cc).
void micro8x32Avx512(long kc, const float* A, const float* B, float* C, long ldc, bool accumulate);
void micro8x32DirectAvx512(long kc, const float* A, long aRow, long aCol, const float* B, long ldb, float* C, long ldc);
void microColumnsAvx512(long kc, const float* A, long aStep, long rows, const float* B, long bRow, long bCol, long cols, float* tile, bool accumulate);
// avx2FmaLoop's 12 chains on 16-wide zmm registers (the float32 peak where AVX-512 runs)
void avx512FmaLoop(long iterations, float* sink);
#endif

// The set this CPU runs best (AVX-512 when __builtin_cpu_supports says avx512f, else AVX2 +
// FMA when it says so), or the portable one when `portable` is set (tests force it to
// exercise the scalar path); `avx2` caps it at the AVX2 set (tests and A/B timing).
const KernelSet& kernels(bool portable, bool avx2 = false);
bool cpuHasAvx2Fma();
bool cpuHasAvx512f();
int usableCores();

// C = op(A)·op(B) for row-major C [m, n]; A(i, p) = a[i·aRow + p·aCol], B(p, j) = b[p·bRow + j·bCol].
// threads: 1; 2 to split C between the calling thread and one persistent worker while the
// second core delivers (gemm.cc, Pool::account); 3 to split it in any case (tests).
void sgemm(const KernelSet& ks, const float* a, long aRow, long aCol, const float* b, long bRow, long bCol,
           float* c, long ldc, long m, long k, long n, int threads);

// count products of one shape: C_i = op(A_i)·op(B_i), A_i at a + aOffsets[i], B_i at
// b + bOffsets[i] (offsets may repeat), C_i at c + i·m·n (row-major [m, n]). threads as for
// sgemm: with 2 or 3, whole products are split between the two threads (2 or ≥ 4 of them),
// else each product is cut as sgemm cuts it. Bit-identical to one thread either way.
void sgemmBatched(const KernelSet& ks, const float* a, long aRow, long aCol, const int32_t* aOffsets,
                  const float* b, long bRow, long bCol, const int32_t* bOffsets,
                  float* c, long count, long m, long k, long n, int threads);

// sgemm / sgemmBatched in float64: the same loop nest and thread split over 6×8 (AVX2) or
// 4×8 (portable) double tiles. Bit-identical to one thread either way.
void dgemm(const KernelSet& ks, const double* a, long aRow, long aCol, const double* b, long bRow, long bCol,
           double* c, long ldc, long m, long k, long n, int threads);
void dgemmBatched(const KernelSet& ks, const double* a, long aRow, long aCol, const int32_t* aOffsets,
                  const double* b, long bRow, long bCol, const int32_t* bOffsets,
                  double* c, long count, long m, long k, long n, int threads);

struct ThreadStats {
  double twoThreadCalls, declined, backoffs, blocks, workerBlocks;
};
ThreadStats threadStats();

// Where a convolution's windows fall (core's ConvGeometry): an image [N, C, H, W], a kernel
// kH×kW, the window at output (oh, ow) reading rows oh·strideH − padH + i·dilationH.
struct ConvGeometry {
  long N, C, H, W, kH, kW, strideH, strideW, padH, padW, dilationH, dilationW, outH, outW;
};
// im2col: out [N, C·kH·kW, outH·outW] (or, batched, [C·kH·kW, N·outH·outW]), padValue outside
// the image; every element written.
// unfold, fold and transpose are templates over float and double (conv.cc instantiates both).
template <typename T>
void unfold(const T* x, const ConvGeometry& g, T padValue, T* out, bool batched);
// col2im, unfold's adjoint: out [N, C, H, W] = the sum of the columns' entries over each pixel.
template <typename T>
void fold(const T* cols, const ConvGeometry& g, T* out, bool batched);
// out = x [shape] with its axes permuted (out axis i is x axis perm[i]); rank ≤ 16.
template <typename T>
void transpose(const T* x, const long* shape, const long* perm, long rank, T* out);
// out [outer, n, inner] = x [outer, axisSize, inner] at the n indices along the middle axis
// (each in [0, axisSize): the caller checks); indexing.cc, float and double.
template <typename T>
void gather(const T* x, long outer, long axisSize, long inner, const int32_t* indices, long n, T* out);
// out [rowLength, n] = the rows `indices` (each in [0, N): the caller checks) of the row-major
// [N, rowLength] x, as columns (background.cc, float and double).
template <typename T>
void gatherColumns(const T* x, long rowLength, const int32_t* indices, long n, T* out);
// gatherColumns on the background thread (`async`; else here, now): the indices are copied, x
// and out must stay put until backgroundWait(ticket) returns. Ticket 0: already done.
uint64_t gatherColumnsStart(const void* x, long rowLength, const int32_t* indices, long n, void* out, bool f64, bool async);
void backgroundWait(uint64_t ticket);
// A side job for the two-thread matmul's worker (gemm.cc): queued after the previous one is
// done, started as soon as the worker is free; run here (ticket 0) when no worker can start.
uint64_t postSideJob(std::function<void()> fn);
void waitSideJob(uint64_t ticket);
// Max-pooling over unfold's windows (outside the image: −∞; NaN wins): out [N, C, outH, outW].
void maxPool(const float* x, const ConvGeometry& g, float* out);
// Its VJP: each window's dy shared by the window's maxima of x (ties equally), into out [N, C, H, W].
void maxPoolScatter(const float* dy, const float* x, const ConvGeometry& g, float* out);
// The scatter's adjoint: out [N, C, outH, outW] = Σ v·(1/t) over each window's t maxima of x.
void maxPoolGather(const float* v, const float* x, const ConvGeometry& g, float* out);

// Peak FMA throughput (GFLOP/s) of `threads` cores running independent FMAs on registers,
// in float32 (8 lanes; 16 where the AVX-512 set runs the float32 matmul) or, with `float64`,
// in float64 (4 lanes: float64 runs the AVX2 kernels everywhere).
double fmaPeakGflops(int threads, double seconds, bool float64 = false);

}  // namespace tg
