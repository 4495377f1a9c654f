// Run-time CPU feature detection: the addon is built for the baseline target and picks the
// AVX2 + FMA kernels only where the CPU (and the OS, which __builtin_cpu_supports checks
// through XGETBV for the AVX state) supports them.
#include <cstdlib>
#include <thread>
#if defined(__linux__)
#include <sched.h>
#endif
#include "kernels.h"

namespace tg {

bool cpuHasAvx2Fma() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return has;
#else
  return false;
#endif
}

bool cpuHasAvx512f() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return has;
#else
  return false;
#endif
}

// The cores this process may run on: its affinity mask (taskset, a container's cpuset), not
// the machine's count that std::thread::hardware_concurrency() gives — a second thread on a
// process held to one core only takes turns with the first. Read once, at load.
int usableCores() {
  static const int cores = [] {
#if defined(__linux__)
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
#endif
    return static_cast<int>(std::thread::hardware_concurrency());
  }();
  return cores;
}

#if defined(__x86_64__) || defined(__i386__)
// The AVX2 set with the float32 matmul on zmm registers: 8×32 tiles (packed loop nest and
// direct path), the column form (n ≤ 12) on 16-row vectors; packLines, the element-wise
// kernels and float64 stay AVX2's.
// Built on first use, after every translation unit's static initialisation.
static const KernelSet& avx512Kernels() {
  static const KernelSet set = [] {
    KernelSet s = avx2Kernels;
    s.name = "avx512f 8x32";
    s.mr = 8;
    s.nr = 32;
    s.micro = micro8x32Avx512;
    s.microDirect = micro8x32DirectAvx512;
    s.microColumns = microColumnsAvx512;
    s.columnsAt16 = 12;
    return s;
  }();
  return set;
}
#endif

const KernelSet& kernels(bool portable, bool avx2) {
#if defined(__x86_64__) || defined(__i386__)
  if (!portable && !avx2 && cpuHasAvx512f()) return avx512Kernels();
  if (!portable && cpuHasAvx2Fma()) return avx2Kernels;
#endif
  (void)portable;
  (void)avx2;
  return scalarKernels;
}

// Here, not in the AVX2 unit: a plain copy, run on any CPU.
const KernelSet& referenceGemmKernels(const KernelSet& ks) {
#if defined(__x86_64__) || defined(__i386__)
  static const KernelSet avx2Reference = [] {
    KernelSet r = avx2Kernels;
    r.name = "avx2-fma 6x16 reference gemm";
    r.packLines = nullptr;
    r.microColumns = nullptr;
    r.wideDirect = false;
    return r;
  }();
  // the AVX-512 set's reference is the AVX2 one's: the same bits by construction
  if (&ks == &avx2Kernels || &ks == &avx512Kernels()) return avx2Reference;
#endif
  return ks;
}

}  // namespace tg
