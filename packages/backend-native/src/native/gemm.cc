// Float32 and float64 matrix products, one GotoBLAS/BLIS loop nest templated on the element
// type: B packed into NR-wide panels KC deep (in
// L2/L3), A packed into MR-high panels of MC rows (in L2), and the micro-kernel running
// MR×NR of C in registers over one A and one B panel (in L1). Packing reads A and B through
// their strides, so the transposed variants cost one strided read per element and never
// materialise a transpose. Edges are zero-padded in the panels and written back through a
// small tile. Also: the two-thread split and the FMA peak probe.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif
#include <thread>
#include <type_traits>
#include <vector>
#include "kernels.h"

namespace tg {
namespace {

#ifndef TG_KC
#define TG_KC 256
#endif
#ifndef TG_MC
#define TG_MC 144
#endif
#ifndef TG_NC
#define TG_NC 2048
#endif
constexpr long KC_MAX = TG_KC;
constexpr long MC = TG_MC;  // a multiple of both MRs (6 and 4): A block 144 × 256 × 4 B = 144 KiB
constexpr long NC = TG_NC;  // a multiple of both NRs (16 and 8): B block ≤ 2 MiB

// The micro-kernel of a kernel set for element type T: float32's 6×16 (or 4×8), float64's
// 6×8 (or 4×8), the same twelve accumulator registers holding half as many lanes each.
template <typename T>
struct Gemm;
template <>
struct Gemm<float> {
  static int mr(const KernelSet& ks) { return ks.mr; }
  static int nr(const KernelSet& ks) { return ks.nr; }
  static MicroKernel micro(const KernelSet& ks) { return ks.micro; }
};
template <>
struct Gemm<double> {
  static int mr(const KernelSet& ks) { return ks.mrF64; }
  static int nr(const KernelSet& ks) { return ks.nrF64; }
  static MicroKernelF64 micro(const KernelSet& ks) { return ks.microF64; }
};

// Packing buffers, one set per thread (the caller and the worker) and element type, never shrunk.
template <typename T>
struct Scratch {
  T* a = nullptr;
  T* b = nullptr;
  Scratch() {
    // 16 elements to spare: packLines' 8-wide stores into 6-wide panels run 2 past the last
    a = static_cast<T*>(std::aligned_alloc(64, (MC * KC_MAX + 16) * sizeof(T)));
    b = static_cast<T*>(std::aligned_alloc(64, KC_MAX * NC * sizeof(T)));
  }
  ~Scratch() {
    std::free(a);
    std::free(b);
  }
};

template <typename T>
Scratch<T>& scratch() {
  thread_local Scratch<T> s;
  return s;
}

template <typename T>
struct Problem {
  const T* a;
  long aRow, aCol;
  const T* b;
  long bRow, bCol;
  T* c;
  long ldc, m, k, n;
};

// Ap[panel][p][r] = A(i0 + panel·MR + r, p0 + p), zero past the last row.
template <typename T, int MR>
void packA(const KernelSet& ks, const Problem<T>& P, long i0, long mc, long p0, long kc, T* Ap) {
  if (P.aRow == 1 && P.aCol != 1) {
    // Aᵀ stored: the block's mc values of one p are contiguous; one pass over them, p by p
    // (panel by panel, each of the kc lines m floats apart was read again from L2 for every
    // panel: 1024×1024×256 Aᵀ ran at 165 GFLOP/s to the row-major A's 181 on AVX-512)
    const long full = mc / MR * MR;
    for (long p1 = 0; p1 < kc; p1 += 8) {
      // 8 lines at a time, panel by panel: the lines (m floats apart: the same L1 sets when m
      // is a multiple of 1024) stay in L1, and each panel gets 8·MR contiguous values
      const long p2 = std::min(kc, p1 + 8);
      for (long ir = 0; ir < full; ir += MR)
        for (long p = p1; p < p2; p++) std::memcpy(Ap + ir * kc + p * MR, P.a + i0 + ir + (p0 + p) * P.aCol, MR * sizeof(T));
      if (full < mc)
        for (long p = p1; p < p2; p++)
          for (int r = 0; r < MR; r++) Ap[full * kc + p * MR + r] = r < mc - full ? P.a[i0 + full + r + (p0 + p) * P.aCol] : T(0);
    }
    return;
  }
  for (long ir = 0; ir < mc; ir += MR) {
    const long rows = std::min<long>(MR, mc - ir);
    T* dst = Ap + ir * kc;
    const T* src = P.a + (i0 + ir) * P.aRow + p0 * P.aCol;
    if constexpr (std::is_same_v<T, float>) {
      // A row-major: its rows are lines (panels in increasing order: each spill is overwritten)
      if (P.aCol == 1 && (MR == 6 || MR == 8) && ks.packLines) {
        ks.packLines(src, P.aRow, rows, kc, dst, MR);
        continue;
      }
    }
    if (P.aCol == 1) {  // A row-major: each panel row is contiguous in p
      for (long p = 0; p < kc; p++)
        for (int r = 0; r < MR; r++) dst[p * MR + r] = r < rows ? src[r * P.aRow + p] : 0.0f;
    } else {  // Aᵀ stored: the MR values of one p are contiguous
      for (long p = 0; p < kc; p++)
        for (int r = 0; r < MR; r++) dst[p * MR + r] = r < rows ? src[p * P.aCol + r * P.aRow] : 0.0f;
    }
  }
}

// Bp[panel][p][j] = B(p0 + p, j0 + panel·NR + j), zero past the last column.
template <typename T, int NR>
void packB(const KernelSet& ks, const Problem<T>& P, long p0, long kc, long j0, long nc, T* Bp) {
  for (long jr = 0; jr < nc; jr += NR) {
    const long cols = std::min<long>(NR, nc - jr);
    T* dst = Bp + jr * kc;
    const T* src = P.b + p0 * P.bRow + (j0 + jr) * P.bCol;
    if constexpr (std::is_same_v<T, float>) {
      if (P.bRow == 1 && P.bCol != 1 && ks.packLines) {  // Bᵀ stored: its columns are lines
        ks.packLines(src, P.bCol, cols, kc, dst, NR);
        continue;
      }
    }
    if (P.bCol == 1 && cols == NR) {  // a whole panel: NR contiguous values a row (vectorised)
      for (long p = 0; p < kc; p++) std::memcpy(dst + p * NR, src + p * P.bRow, NR * sizeof(T));
    } else if (P.bCol == 1) {
      for (long p = 0; p < kc; p++) {
        const T* row = src + p * P.bRow;
        for (int j = 0; j < NR; j++) dst[p * NR + j] = j < cols ? row[j] : 0.0f;
      }
    } else {  // Bᵀ stored: walk each column of B down p (contiguous), write across the panel
      for (int j = 0; j < NR; j++) {
        if (j < cols) {
          const T* col = src + j * P.bCol;
          for (long p = 0; p < kc; p++) dst[p * NR + j] = col[p * P.bRow];
        } else {
          for (long p = 0; p < kc; p++) dst[p * NR + j] = 0.0f;
        }
      }
    }
  }
}

// The k depth of a block for element type T: K_C floats, or the same bytes of doubles (half
// as deep), so that a float64 A block, B panel and B block fill the caches as float32's do.
template <typename T>
constexpr long kcMax() {
  return KC_MAX * static_cast<long>(sizeof(float)) / static_cast<long>(sizeof(T));
}

// Equal k blocks of at most kcMax<T>() (784 = 4 × 196) rather than 256+256+256+16.
template <typename T>
long kcStepFor(long k) {
  const long kBlocks = (k + kcMax<T>() - 1) / kcMax<T>();
  return (k + kBlocks - 1) / kBlocks;
}

long roundUp(long x, long unit) { return (x + unit - 1) / unit * unit; }

// Floats of B up to which gemmDirect skips packing A (and B if row-major): all of B (k·n),
// or with KernelSet::wideDirect one k block of a row-major B (kc·n: T1's 128×784×64 runs
// 4 blocks of 196×64) and 4× as much of a transposed B, which gemmDirect packs into
// contiguous panels. Not more of a row-major B: its rows n floats apart (4 KiB at n = 1024)
// fall into the same L1 sets (1024×64×1024 ran 2× slower in place than packed).
constexpr long kDirectMaxB = 16384;
bool directFits(const KernelSet& ks, const Problem<float>& P) {
  if (!ks.wideDirect) return P.k * P.n <= kDirectMaxB;
  return P.bCol == 1 ? kcStepFor<float>(P.k) * P.n <= kDirectMaxB : P.k * P.n <= 4 * kDirectMaxB;
}

// Cutting C by rows, B is packed once for both threads (packUnits below), block (jc, pc) at
// jc·k + pc·roundUp(nc, NR): what gemmSingle reads as `packedB`.

// `packedB`: B packed as packUnits lays it out, or null to pack each block here.
template <typename T, int MR, int NR>
void gemmSingle(const KernelSet& ks, const Problem<T>& P, const T* packedB) {
  Scratch<T>& s = scratch<T>();
  const auto micro = Gemm<T>::micro(ks);
  const long kcStep = kcStepFor<T>(P.k);
  alignas(64) T tile[MR * NR];
  for (long jc = 0; jc < P.n; jc += NC) {
    const long nc = std::min(NC, P.n - jc);
    for (long pc = 0; pc < P.k; pc += kcStep) {
      const long kc = std::min(kcStep, P.k - pc);
      const bool accumulate = pc > 0;
      const T* Bblock = packedB ? packedB + jc * P.k + pc * roundUp(nc, NR) : s.b;
      if (!packedB) packB<T, NR>(ks, P, pc, kc, jc, nc, s.b);
      for (long ic = 0; ic < P.m; ic += MC) {
        const long mc = std::min(MC, P.m - ic);
        packA<T, MR>(ks, P, ic, mc, pc, kc, s.a);
        for (long jr = 0; jr < nc; jr += NR) {
          const long cols = std::min<long>(NR, nc - jr);
          const T* Bp = Bblock + jr * kc;
          for (long ir = 0; ir < mc; ir += MR) {
            const long rows = std::min<long>(MR, mc - ir);
            T* C = P.c + (ic + ir) * P.ldc + jc + jr;
            const T* Ap = s.a + ir * kc;
            if (rows == MR && cols == NR) {
              micro(kc, Ap, Bp, C, P.ldc, accumulate);
            } else {
              micro(kc, Ap, Bp, tile, NR, false);
              for (long r = 0; r < rows; r++)
                for (long j = 0; j < cols; j++) C[r * P.ldc + j] = accumulate ? C[r * P.ldc + j] + tile[r * NR + j] : tile[r * NR + j];
            }
          }
        }
      }
    }
  }
}

// A product small enough that packing costs a good part of the arithmetic (B ≤ 64 KiB, so
// that it stays in L1/L2): A is read in place (DirectKernel), and so is B when it is
// row-major; a transposed B (a column-major one) is packed into NR-wide panels as usual, which
// DirectKernel reads as rows NR apart. Edge tiles read a zero-padded copy of the last rows of
// A or the last columns of B into a small tile. k deeper than K_C (T3's 30×784×10) runs in
// the packed loop nest's k blocks, each block's sums added to C as the packed micro-kernel
// adds them: every element gets the packed loop nest's operations in its order, so the
// same bits.
template <int MR, int NR>
void gemmDirect(const KernelSet& ks, const Problem<float>& P) {
  Scratch<float>& s = scratch<float>();
  alignas(64) float tile[MR * NR];
  const long kcStep = kcStepFor<float>(P.k);
  const bool packed = P.bCol != 1;
  const long nEdge = packed ? 0 : P.n % NR, nFull = packed ? roundUp(P.n, NR) : P.n - nEdge;
  // C = tile (the first k block) or C + tile (the later ones), as the packed kernel stores
  auto writeBack = [&](float* C, long rows, long cols, bool accumulate) {
    for (long r = 0; r < rows; r++)
      for (long j = 0; j < cols; j++) C[r * P.ldc + j] = accumulate ? C[r * P.ldc + j] + tile[r * NR + j] : tile[r * NR + j];
  };
  for (long pc = 0; pc < P.k; pc += kcStep) {
    const long kc = std::min(kcStep, P.k - pc);
    const bool accumulate = pc > 0;
    float* bEdge = s.b;  // row-major B: its last nEdge columns of this k block, kc × NR, zero-padded
    if (packed) packB<float, NR>(ks, P, pc, kc, 0, P.n, s.b);  // panel j at s.b + j·kc, zero-padded past n
    if (nEdge) {
      for (long p = 0; p < kc; p++)
        for (long j = 0; j < NR; j++) bEdge[p * NR + j] = j < nEdge ? P.b[(pc + p) * P.bRow + nFull + j] : 0.0f;
    }
    for (long i = 0; i < P.m; i += MR) {
      const long rows = std::min<long>(MR, P.m - i);
      const float* A = P.a + i * P.aRow + pc * P.aCol;
      long aRow = P.aRow, aCol = P.aCol;
      if (rows < MR) {  // the last rows of A, row-major and zero-padded to MR rows
        for (long r = 0; r < MR; r++)
          for (long p = 0; p < kc; p++) s.a[r * kc + p] = r < rows ? A[r * P.aRow + p * P.aCol] : 0.0f;
        A = s.a;
        aRow = kc;
        aCol = 1;
      }
      float* C = P.c + i * P.ldc;
      for (long j = 0; j < nFull; j += NR) {
        const float* B = packed ? s.b + j * kc : P.b + pc * P.bRow + j;
        const long ldb = packed ? NR : P.bRow, cols = std::min<long>(NR, P.n - j);
        if (rows == MR && cols == NR && !accumulate) {
          ks.microDirect(kc, A, aRow, aCol, B, ldb, C + j, P.ldc);
        } else {
          ks.microDirect(kc, A, aRow, aCol, B, ldb, tile, NR);
          writeBack(C + j, rows, cols, accumulate);
        }
      }
      if (nEdge) {
        ks.microDirect(kc, A, aRow, aCol, bEdge, NR, tile, NR);
        writeBack(C + nFull, rows, nEdge, accumulate);
      }
    }
  }
}

// The column form (KernelSet::microColumns) for a narrow C (n ≤ kColumnsMax): C in panels of
// 16 rows (two vectors; 8 when at most 8 are left), each column of a panel's tile one or two
// vectors of rows, in chunks of ≤ 6 columns (≤ 12 for 8 rows). Aᵀ stored is read in place
// (its columns are contiguous); a row-major A is laid out 16 rows at a time by packLines,
// one k block at a time (16·kc floats, in L1). B is read in place, one broadcast per value.
// T3's 30×784×10 then runs 2 panels × 2 vectors × 10 = 40 FMAs per k step where 6×16 tiles
// run 5 × 12 = 60. The k blocks, each element's FMA chain from +0 within a block and the
// block sums added in order are the row form's (gemmDirect): the same bits.
constexpr long kColumnsMax = 12;
void gemmColumns(const KernelSet& ks, const Problem<float>& P) {
  Scratch<float>& s = scratch<float>();
  alignas(32) float tile[16 * kColumnsMax];  // tile[j·16 + r]: C(i + r, j), summed over the k blocks so far
  const long kcStep = kcStepFor<float>(P.k);
  for (long i = 0; i < P.m; i += 16) {
    // 16 rows (two vectors) while more than 8 are left, in column chunks of ≤ 6 (10 = 5 + 5)
    const long rows = std::min<long>(16, P.m - i), width = rows > 8 ? 16 : 8;
    const long at16 = ks.columnsAt16 ? ks.columnsAt16 : 6;  // 12 on zmm: one call for n ≤ 12
    const long chunks = rows > 8 ? (P.n + at16 - 1) / at16 : 1, chunk = (P.n + chunks - 1) / chunks;
    // the k blocks innermost, each added to the tile in order as the row form adds it to C:
    // C is written once, not read and written once per block
    for (long pc = 0; pc < P.k; pc += kcStep) {
      const long kc = std::min(kcStep, P.k - pc);
      const float* A = P.a + i * P.aRow + pc * P.aCol;
      long aStep = P.aCol, laneRows = rows;
      if (P.aRow != 1) {  // A's columns are strided: lay its rows out as a panel, zero-padded
        if (P.aCol == 1) {
          ks.packLines(A, P.aRow, rows, kc, s.a, width);
        } else {
          for (long p = 0; p < kc; p++)
            for (long r = 0; r < width; r++) s.a[p * width + r] = r < rows ? A[r * P.aRow + p * P.aCol] : 0.0f;
        }
        A = s.a;
        aStep = width;
        laneRows = width;
      }
      for (long j = 0; j < P.n; j += chunk)
        ks.microColumns(kc, A, aStep, laneRows, P.b + pc * P.bRow + j * P.bCol, P.bRow, P.bCol, std::min(chunk, P.n - j), tile + j * 16, pc > 0);
    }
    float* C = P.c + i * P.ldc;
    for (long r = 0; r < rows; r++)
      for (long q = 0; q < P.n; q++) C[r * P.ldc + q] = tile[q * 16 + r];
  }
}

template <typename T>
void gemmDispatch(const KernelSet& ks, const Problem<T>& P, const T* packedB = nullptr) {
  if (P.m == 0 || P.n == 0) return;
  if (P.k == 0) {
    for (long i = 0; i < P.m; i++) std::fill(P.c + i * P.ldc, P.c + i * P.ldc + P.n, 0.0f);
    return;
  }
  if constexpr (std::is_same_v<T, double>) {
    // float64: the packed loop nest always (no direct kernel yet)
    if (ks.mrF64 == 6 && ks.nrF64 == 8) gemmSingle<double, 6, 8>(ks, P, packedB);
    else gemmSingle<double, 4, 8>(ks, P, packedB);
  } else {
    // Also a few rows against a wide row-major B (a convolution's W·cols: m = O output
    // channels, n = the batch's windows): each element of B is used by at most four row
    // panels, so packing it (one more write and read of all of B) costs more than it saves.
    const bool fewRows = P.m <= 24 && P.bCol == 1;
    if (!packedB && ks.microColumns && P.n <= kColumnsMax) {
      gemmColumns(ks, P);
      return;
    }
    if (!packedB && ks.microDirect && (directFits(ks, P) || (fewRows && P.k <= KC_MAX))) {
      if (ks.mr == 8 && ks.nr == 32) gemmDirect<8, 32>(ks, P);
      else gemmDirect<6, 16>(ks, P);
      return;
    }
    if (ks.mr == 8 && ks.nr == 32) gemmSingle<float, 8, 32>(ks, P, packedB);
    else if (ks.mr == 6 && ks.nr == 16) gemmSingle<float, 6, 16>(ks, P, packedB);
    else gemmSingle<float, 4, 8>(ks, P, packedB);
  }
}

// One share of packing all of B: the NR-panels [j0, j0 + nc) of the k block at p0.
template <typename T>
struct PackUnit {
  long p0, kc, j0, nc;
  T* dst;
};

template <typename T>
void packUnit(const KernelSet& ks, const Problem<T>& P, const PackUnit<T>& u) {
  if (Gemm<T>::nr(ks) == 32) packB<T, 32>(ks, P, u.p0, u.kc, u.j0, u.nc, u.dst);
  else if (Gemm<T>::nr(ks) == 16) packB<T, 16>(ks, P, u.p0, u.kc, u.j0, u.nc, u.dst);
  else packB<T, 8>(ks, P, u.p0, u.kc, u.j0, u.nc, u.dst);
}

// Cuts the packing of all of B into about `wanted` units of whole panels (each within one
// (jc, pc) block), so that both threads can pack it.
template <typename T>
void packUnits(const KernelSet& ks, const Problem<T>& P, T* out, long wanted, std::vector<PackUnit<T>>& units) {
  units.clear();
  const long nr = Gemm<T>::nr(ks), kcStep = kcStepFor<T>(P.k);
  const long kBlocks = (P.k + kcStep - 1) / kcStep, panels = (P.n + nr - 1) / nr;
  const long perUnit = std::max(1L, (panels * kBlocks + wanted - 1) / wanted);
  for (long jc = 0; jc < P.n; jc += NC) {
    const long nc = std::min(NC, P.n - jc);
    for (long pc = 0; pc < P.k; pc += kcStep) {
      const long kc = std::min(kcStep, P.k - pc);
      T* block = out + jc * P.k + pc * roundUp(nc, nr);
      for (long j = 0; j < nc; j += perUnit * nr) {
        const long cols = std::min(perUnit * nr, nc - j);
        units.push_back({pc, kc, jc + j, cols, block + j * kc});
      }
    }
  }
}

// ---- two threads ------------------------------------------------------------------------------
//
// C is cut into blocks of rows (or of columns when C is wider than tall), and the calling
// thread and one persistent worker claim blocks from a shared counter until none are
// left. The caller never waits for the worker to *start*: if the worker is asleep or
// descheduled, the caller claims every block itself; it only waits for blocks the worker
// has already claimed, which are being computed. The counter and the job's generation
// share one 64-bit word, so a worker that wakes late cannot claim a block of a newer job
// with the parameters of an older one.

// A batch of products of one shape (sgemmBatched): product i reads A at a + aOffsets[i] and
// B at b + bOffsets[i] and writes C at c + i·m·n; a block is `perBlock` whole products.
struct Batch {
  const int32_t* aOffsets;
  const int32_t* bOffsets;
  long count, perBlock;
};

template <typename T>
struct Job {
  const KernelSet* ks;
  Problem<T> P;
  bool byRows;
  long step;  // columns per block (cutting by columns)
  const T* packedB;  // cutting by rows: B packed once for both threads
  long packCount = 0;  // cutting by rows: the first packCount claims pack B, the rest compute
  const PackUnit<T>* pack = nullptr;
  const Batch* batch = nullptr;  // set: blocks are products of this batch (byRows false)
  long panels = 0, rowBlocks = 0;  // cutting by rows: C's MR-row panels, shared out over rowBlocks blocks
};

// Products [first, last) of a batch, each the whole single-thread loop nest on its own: the
// bits of product i do not depend on which thread computes it, nor on the blocks.
template <typename T>
void computeProducts(const KernelSet& ks, const Problem<T>& shape, const Batch& batch, long first, long last) {
  const long cSize = shape.m * shape.n;
  for (long i = first; i < last; i++) {
    Problem<T> P = shape;
    P.a = shape.a + batch.aOffsets[i];
    P.b = shape.b + batch.bOffsets[i];
    P.c = shape.c + i * cSize;
    gemmDispatch(ks, P);
  }
}

// One pool (and worker thread) per element type: a float32 and a float64 product never
// share a job's buffers; only one JS thread calls either at a time, so the two workers
// never compute at once.
template <typename T>
class Pool {
 public:
  // true if the product ran on two threads; false: the caller should compute it alone.
  // `adaptive`: decline while the second core has lately done little of the work (below).
  bool run(const Job<T>& job, long blocks, bool adaptive) {
    std::unique_lock<std::mutex> busy(runMutex_, std::try_to_lock);
    if (!busy.owns_lock() || !ensureWorker()) return false;  // another JS thread is using it
    keepOffCallersCpu();
    if (adaptive && backoff_ > 0) {
      backoff_--;
      stats_.declined++;
      return false;
    }
    job_ = job;
    job_.packCount = 0;
    if (job.byRows) {
      // B is packed by both threads too: claims 0 … packCount − 1 are its units, and no
      // block is computed before every unit is packed (packed_ counts them)
      const long floats = job.P.k * roundUp(job.P.n, static_cast<long>(Gemm<T>::nr(*job.ks)));
      if (!reservePackedB(floats)) return false;
      packUnits(*job.ks, job.P, packedB_, 8, units_);
      if (static_cast<long>(units_.size()) + blocks >= 65536) return false;
      job_.packedB = packedB_;
      job_.pack = units_.data();
      job_.packCount = static_cast<long>(units_.size());
    }
    done_.store(0, std::memory_order_relaxed);
    packed_.store(0, std::memory_order_relaxed);
    // a side job queued or running keeps the worker from this product: its share then says
    // nothing about the second core, so this product is left out of the pause rule
    const bool sideBusy = sideDone_.load(std::memory_order_acquire) != sidePosted_.load(std::memory_order_acquire);
    const uint64_t gen = ++generation_ & 0xffffffffu;
    const uint64_t claims = static_cast<uint64_t>(job_.packCount + blocks);
    state_.store(gen << 32 | claims << 16, std::memory_order_release);
    bool wake;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      posted_ = gen;
      wake = sleeping_;
    }
    if (wake) wake_.notify_one();
    const long mine = work(gen);
    // only blocks the worker claimed remain: they are being computed. Spin a little (the
    // worker is usually about to finish), then sleep until it signals the last block, so a
    // worker the OS has descheduled (the other core busy) can have this core.
    int spins = 0;
    while (done_.load(std::memory_order_acquire) < blocks && spins++ < 4000) pause();
    if (done_.load(std::memory_order_acquire) < blocks) {
      std::unique_lock<std::mutex> lock(mutex_);
      finished_.wait(lock, [&] { return done_.load(std::memory_order_acquire) >= blocks; });
    }
    account(blocks, mine, adaptive && !sideBusy);
    return true;
  }

  // Queues fn for the worker (one side job at a time: the previous one is finished first)
  // and returns its ticket for waitSide; a worker spinning between products starts it at
  // once, a sleeping one is woken. Runs fn here (ticket 0) when no worker can start.
  uint64_t postSide(std::function<void()> fn) {
    waitSide(sidePosted_.load(std::memory_order_acquire));
    std::unique_lock<std::mutex> lock(mutex_);
    if (!ensureWorkerLocked()) {
      lock.unlock();
      fn();
      return 0;
    }
    keepOffCallersCpu();
    side_ = std::move(fn);
    const uint64_t ticket = sidePosted_.load(std::memory_order_relaxed) + 1;
    sidePosted_.store(ticket, std::memory_order_release);
    const bool wake = sleeping_;
    lock.unlock();
    if (wake) wake_.notify_one();
    return ticket;
  }

  // Returns once side job `ticket` is done. If the worker has not started it (busy with a
  // product, or held back by the OS while other processes have its core), the caller runs
  // it itself, as it computes a product's blocks itself: waiting for a late worker would
  // cost more than the job. Otherwise the worker is running it: spin a little, then sleep.
  void waitSide(uint64_t ticket) {
    if (sideDone_.load(std::memory_order_acquire) >= ticket) return;
    if (runSide(ticket)) return;
    for (int spins = 0; spins < 4000; spins++) {
      if (sideDone_.load(std::memory_order_acquire) >= ticket) return;
      pause();
    }
    std::unique_lock<std::mutex> lock(mutex_);
    finished_.wait(lock, [&] { return sideDone_.load(std::memory_order_acquire) >= ticket; });
  }

  ThreadStats stats() {
    std::lock_guard<std::mutex> busy(runMutex_);
    return stats_;
  }

 private:
  // The worker's share of the blocks tells whether the second core is there for us: about
  // half when it is free; little when other processes hold it, and then the caller mostly
  // waits for the worker's last block, so two threads lose to one (measured on this shared
  // machine: T1 steps 850 µs on one thread, 1,100–1,160 on two). After a few products with
  // a small share, decline the next 32 (computed alone), then try again.
  void account(long blocks, long mine, bool adaptive) {
    const long theirs = blocks - mine;
    stats_.twoThreadCalls++;
    stats_.blocks += blocks;
    stats_.workerBlocks += theirs;
    if (!adaptive) return;
    share_ = 0.75 * share_ + 0.25 * static_cast<double>(theirs) / blocks;
    if (share_ < kMinShare) {
      backoff_ = 32;
      share_ = 0.5;
      stats_.backoffs++;
    }
  }

 public:

 private:
  // Claims and computes blocks of job `gen` until there are none left. The state word is
  // generation (32 bits) | block count (16) | next block (16): one compare-and-swap checks
  // all three, so a thread still looking at an old job can never claim a block of a new one.
  long work(uint64_t gen) {
    long computed = 0;
    for (;;) {
      uint64_t s = state_.load(std::memory_order_acquire);
      long index, claims;
      do {
        if ((s >> 32) != gen) return computed;
        claims = static_cast<long>((s >> 16) & 0xffffu);
        index = static_cast<long>(s & 0xffffu);
        if (index >= claims) return computed;
      } while (!state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire));
      // a successful claim means the job is still live: its caller waits for this claim
      const long packCount = job_.packCount, blocks = claims - packCount;
      if (index < packCount) {
        packUnit(*job_.ks, job_.P, job_.pack[index]);
        packed_.fetch_add(1, std::memory_order_acq_rel);
        continue;
      }
      // the units the other thread claimed are being packed: wait for them
      for (int spins = 0; packed_.load(std::memory_order_acquire) < packCount; spins++) {
        if (spins < 20000) pause();
        else std::this_thread::yield();
      }
      computeBlock(job_, index - packCount);
      computed++;
      if (done_.fetch_add(1, std::memory_order_acq_rel) + 1 == blocks) {
        // the last block: wake the caller if it went to sleep waiting (under the mutex, so
        // the wake-up cannot fall between its check and its wait)
        std::lock_guard<std::mutex> lock(mutex_);
        finished_.notify_all();
      }
    }
  }

  static void pause() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }

  static void computeBlock(const Job<T>& job, long index) {
    if (job.batch) {
      computeProducts(*job.ks, job.P, *job.batch, index * job.batch->perBlock,
                      std::min(job.batch->count, (index + 1) * job.batch->perBlock));
      return;
    }
    Problem<T> P = job.P;
    if (job.byRows) {
      // block i: panels [i·panels/blocks, (i+1)·panels/blocks), so blocks differ by at most one panel
      const long mr = Gemm<T>::mr(*job.ks);
      const long start = index * job.panels / job.rowBlocks * mr;
      P.m = std::min((index + 1) * job.panels / job.rowBlocks * mr, job.P.m) - start;
      P.a = job.P.a + start * job.P.aRow;
      P.c = job.P.c + start * job.P.ldc;
    } else {
      const long start = index * job.step;
      P.n = std::min(job.step, job.P.n - start);
      P.b = job.P.b + start * job.P.bCol;
      P.c = job.P.c + start;
    }
    gemmDispatch(*job.ks, P, job.byRows ? job.packedB : nullptr);
  }

  bool ensureWorker() {
    std::lock_guard<std::mutex> lock(mutex_);
    return ensureWorkerLocked();
  }

  // Keeps the worker off the calling thread's core. When the other core is busy (another
  // process there, even at nice 19), Linux places a woken worker on the caller's core and
  // leaves it there: worker and caller then take turns on one core (measured: a side job
  // finished ≈ 1 ms after it was posted, the worker's whole spin) and a split product runs
  // slower than on one thread. One affinity call each time the caller has moved.
  void keepOffCallersCpu() {
#if defined(__linux__)
    const int cpu = sched_getcpu();
    if (cpu < 0 || cpu == callerCpu_.load(std::memory_order_relaxed) || cpu >= CPU_SETSIZE) return;
    callerCpu_.store(cpu, std::memory_order_relaxed);
    // only within the cores the program may use (taskset, a container's cpuset): the caller's
    // mask when the worker started, never widened
    if (!allowedKnown_ || !CPU_ISSET(cpu, &allowed_)) return;
    cpu_set_t set = allowed_;
    CPU_CLR(cpu, &set);
    if (CPU_COUNT(&set) > 0) pthread_setaffinity_np(handle_, sizeof set, &set);
#endif
  }

  bool ensureWorkerLocked() {
    if (started_) return workerOk_;
    started_ = true;
#if defined(__linux__)
    CPU_ZERO(&allowed_);
    allowedKnown_ = pthread_getaffinity_np(pthread_self(), sizeof allowed_, &allowed_) == 0;
#endif
    try {
      std::thread worker([this] { loop(); });
#if defined(__linux__)
      handle_ = worker.native_handle();
#endif
      worker.detach();
      workerOk_ = true;
    } catch (...) {
      workerOk_ = false;  // no threads here: every product runs on the caller
    }
    return workerOk_;
  }

  bool sidePending() const { return sidePosted_.load(std::memory_order_acquire) != sideClaimed_.load(std::memory_order_acquire); }

  // Claims side job `ticket` for this thread (the worker, or a caller that found it not yet
  // started) and runs it; false if it is not the next unclaimed job.
  bool runSide(uint64_t ticket) {
    std::function<void()> fn;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (sideClaimed_.load(std::memory_order_relaxed) + 1 != ticket || sidePosted_.load(std::memory_order_relaxed) < ticket) return false;
      sideClaimed_.store(ticket, std::memory_order_release);
      fn = std::move(side_);
    }
    fn();
    {
      // under the mutex, so that a waiter cannot miss the signal between its check and its wait
      std::lock_guard<std::mutex> lock(mutex_);
      sideDone_.store(ticket, std::memory_order_release);
    }
    finished_.notify_all();
    return true;
  }

  void loop() {
    uint64_t seen = 0;
    for (;;) {
      // spin first, for kSpinMicroseconds after the last job: a training step issues its
      // products and its side job (the next batch's gather) a few hundred microseconds
      // apart, and waking a sleeping thread costs the caller 15–25 µs on this machine (a
      // futex wake; when the second core is busy, the woken thread can even land on the
      // caller's core and preempt it), more than the gather it would run
      uint64_t gen = state_.load(std::memory_order_acquire) >> 32;
      auto last = std::chrono::steady_clock::now();
      const auto until = last + std::chrono::microseconds(kSpinMicroseconds);
      for (int i = 0; gen == seen && !sidePending(); i++) {
        pause();
        gen = state_.load(std::memory_order_acquire) >> 32;
        if ((i & 63) == 63) {
          // stop spinning at the end, or as soon as the OS has taken the core away for a
          // while (another thread wants it: the caller, or another process): spinning on
          // would take turns with it, and the caller is better off alone
          const auto now = std::chrono::steady_clock::now();
          if (now > until || now - last > std::chrono::microseconds(30)) break;
          last = now;
        }
      }
      if (gen == seen && !sidePending()) {
        std::unique_lock<std::mutex> lock(mutex_);
        sleeping_ = true;
        wake_.wait(lock, [&] { return posted_ != seen || sidePending(); });
        sleeping_ = false;
        gen = posted_;
      }
      // a product first (its caller is computing it too), then the side job
      if (gen != seen) {
        seen = gen;
        work(gen);
      }
      if (sidePending()) runSide(sidePosted_.load(std::memory_order_acquire));
    }
  }

  // Grows the shared packed-B buffer (never shrinks: the largest product's k × n).
  bool reservePackedB(long floats) {
    if (floats <= packedBFloats_) return true;
    T* grown = static_cast<T*>(std::aligned_alloc(64, roundUp(floats * sizeof(T), 64)));
    if (!grown) return false;
    std::free(packedB_);
    packedB_ = grown;
    packedBFloats_ = floats;
    return true;
  }

  static constexpr double kMinShare = 0.25;
  // How long the worker spins after its last job before it sleeps: a T1 step's two large
  // products and its side job come 100–300 µs apart, T3's side jobs every ≈ 70 µs (bench
  // README, "Two threads and the next batch": 300 µs measured as fast as 1,000 and faster
  // than 50 on both, interleaved in one process)
  static constexpr long kSpinMicroseconds = 300;

  std::function<void()> side_;          // under mutex_
  std::atomic<uint64_t> sidePosted_{0}, sideClaimed_{0}, sideDone_{0};  // written under mutex_
  bool sleeping_ = false;               // under mutex_
  std::atomic<int> callerCpu_{-1};
#if defined(__linux__)
  pthread_t handle_{};
  cpu_set_t allowed_{};       // the cores the caller could use when the worker started
  bool allowedKnown_ = false;
#endif
  std::mutex runMutex_;
  bool started_ = false, workerOk_ = false;
  double share_ = 0.5;
  long backoff_ = 0;
  ThreadStats stats_{};
  T* packedB_ = nullptr;
  long packedBFloats_ = 0;
  Job<T> job_{};
  std::atomic<long> done_{0};
  std::atomic<long> packed_{0};
  std::vector<PackUnit<T>> units_;  // the current job's units of B (written before it is posted)
  std::atomic<uint64_t> state_{0};
  uint64_t generation_ = 0;
  std::mutex mutex_;
  std::condition_variable wake_, finished_;
  uint64_t posted_ = 0;
};

// Leaked on purpose: the detached worker sleeps on its members until the process exits,
// so they must never be destroyed.
template <typename T>
Pool<T>& pool() {
  static Pool<T>* p = new Pool<T>();
  return *p;
}

template <typename T>
void gemm(const KernelSet& ks, const T* a, long aRow, long aCol, const T* b, long bRow, long bCol,
          T* c, long ldc, long m, long k, long n, int threads) {
  const Problem<T> P{a, aRow, aCol, b, bRow, bCol, c, ldc, m, k, n};
  const long mr = Gemm<T>::mr(ks), nr = Gemm<T>::nr(ks);
  if (threads >= 2 && k > 0 && usableCores() >= 2) {
    // By rows where C has at least two micro-tiles of them: B is packed once (≤ 256 MiB)
    // and the rows are cut into about eight blocks of whole micro-tiles, each packing only
    // its own rows of A, so blocks cost nothing extra and a thread that the OS holds back
    // (the other core busy) leaves the rest of the work to the caller. Otherwise (a few
    // wide rows) by columns in 2–4 blocks, each packing all of the short A.
    const bool byRows = m >= 2 * mr && static_cast<double>(k) * n <= 64.0 * 1024 * 1024;
    Job<T> job{&ks, P, byRows, 0, nullptr};
    long blocks;
    if (byRows) {
      // about eight blocks of whole panels (at most MC rows each), as equal as panels allow:
      // T1's 128 rows are 22 panels, cut 2,3,3,3,2,3,3,3 (a fixed 18-row step cut 7 × 18 + 2,
      // and one thread then computed 72 rows to the other's 56)
      job.panels = (m + mr - 1) / mr;
      blocks = std::max(std::min(8L, job.panels), (job.panels * mr + MC - 1) / MC);
      job.rowBlocks = blocks;
    } else {
      const long wanted = std::max(2L, std::min(4L, static_cast<long>(static_cast<double>(m) * k * n / 2097152.0)));
      long step = (n + wanted - 1) / wanted;
      if (n >= 2 * nr) step = roundUp(step, nr);
      job.step = step;
      blocks = (n + step - 1) / step;
    }
    if (blocks >= 2 && blocks < 65536 && pool<T>().run(job, blocks, threads == 2)) return;
  }
  gemmDispatch(ks, P);
}

template <typename T>
void gemmBatched(const KernelSet& ks, const T* a, long aRow, long aCol, const int32_t* aOffsets,
                 const T* b, long bRow, long bCol, const int32_t* bOffsets,
                 T* c, long count, long m, long k, long n, int threads) {
  if (count == 0 || m == 0 || n == 0) return;
  const Problem<T> shape{a, aRow, aCol, b, bRow, bCol, c, n, m, k, n};
  if (threads >= 2 && k > 0 && (count == 2 || count >= 4) && usableCores() >= 2) {
    // Whole products are the blocks: no shared packing, no waiting for one, and each
    // product gets exactly the single-thread operations. Up to 64 blocks, so that a thread
    // the OS holds back leaves little for the other to wait on. (Three products would split
    // 2 : 1; those, and a single one, are cut inside each product below instead.)
    const long blocks = std::min(count, 64L);
    const long perBlock = (count + blocks - 1) / blocks;
    const Batch batch{aOffsets, bOffsets, count, perBlock};
    Job<T> job{&ks, shape, false, 0, nullptr};
    job.batch = &batch;
    if (pool<T>().run(job, (count + perBlock - 1) / perBlock, threads == 2)) return;
    threads = 1;  // declined ('auto' while the second core is busy): all on this thread
  }
  if (threads >= 2) {
    for (long i = 0; i < count; i++)
      gemm(ks, a + aOffsets[i], aRow, aCol, b + bOffsets[i], bRow, bCol, c + i * m * n, n, m, k, n, threads);
    return;
  }
  const Batch batch{aOffsets, bOffsets, count, count};
  computeProducts(ks, shape, batch, 0, count);
}

}  // namespace

void sgemm(const KernelSet& ks, const float* a, long aRow, long aCol, const float* b, long bRow, long bCol,
           float* c, long ldc, long m, long k, long n, int threads) {
  gemm<float>(ks, a, aRow, aCol, b, bRow, bCol, c, ldc, m, k, n, threads);
}

void dgemm(const KernelSet& ks, const double* a, long aRow, long aCol, const double* b, long bRow, long bCol,
           double* c, long ldc, long m, long k, long n, int threads) {
  gemm<double>(ks, a, aRow, aCol, b, bRow, bCol, c, ldc, m, k, n, threads);
}

void sgemmBatched(const KernelSet& ks, const float* a, long aRow, long aCol, const int32_t* aOffsets,
                  const float* b, long bRow, long bCol, const int32_t* bOffsets,
                  float* c, long count, long m, long k, long n, int threads) {
  gemmBatched<float>(ks, a, aRow, aCol, aOffsets, b, bRow, bCol, bOffsets, c, count, m, k, n, threads);
}

void dgemmBatched(const KernelSet& ks, const double* a, long aRow, long aCol, const int32_t* aOffsets,
                  const double* b, long bRow, long bCol, const int32_t* bOffsets,
                  double* c, long count, long m, long k, long n, int threads) {
  gemmBatched<double>(ks, a, aRow, aCol, aOffsets, b, bRow, bCol, bOffsets, c, count, m, k, n, threads);
}

uint64_t postSideJob(std::function<void()> fn) { return pool<float>().postSide(std::move(fn)); }

void waitSideJob(uint64_t ticket) {
  if (ticket != 0) pool<float>().waitSide(ticket);
}

// Both element types' pools, summed.
ThreadStats threadStats() {
  const ThreadStats s = pool<float>().stats(), d = pool<double>().stats();
  return {s.twoThreadCalls + d.twoThreadCalls, s.declined + d.declined, s.backoffs + d.backoffs, s.blocks + d.blocks,
          s.workerBlocks + d.workerBlocks};
}

double fmaPeakGflops(int threads, double seconds, bool float64) {
#if defined(__x86_64__) || defined(__i386__)
  if (!cpuHasAvx2Fma()) return 0;
  threads = std::max(1, threads);
  const bool wide = !float64 && cpuHasAvx512f();  // the float32 matmul's zmm FMAs (kernels())
  auto measure = [seconds, float64, wide]() {
    float sink = 0;
    double sinkF64 = 0;
    long iterations = 1 << 16;
    double best = 0;
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
      const auto t0 = std::chrono::steady_clock::now();
      if (float64) avx2FmaLoopF64(iterations, &sinkF64);
      else if (wide) avx512FmaLoop(iterations, &sink);
      else avx2FmaLoop(iterations, &sink);
      const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      best = std::max(best, iterations * 12.0 * (float64 ? 4 : wide ? 16 : 8) * 2 / dt / 1e9);
      if (dt < 2e-3) iterations *= 2;
    }
    return best + sink * 0 + sinkF64 * 0;  // the sinks keep the loop's result live
  };
  if (threads == 1) return measure();
  std::vector<double> results(threads, 0.0);
  std::vector<std::thread> others;
  for (int t = 1; t < threads; t++) others.emplace_back([&, t] { results[t] = measure(); });
  results[0] = measure();
  for (auto& th : others) th.join();
  double total = 0;
  for (double r : results) total += r;
  return total;
#else
  (void)threads;
  (void)seconds;
  (void)float64;
  return 0;
#endif
}

}  // namespace tg
