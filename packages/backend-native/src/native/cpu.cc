// Run-time CPU feature detection: the addon is built for the baseline target and picks the
// AVX2 + FMA kernels only where the CPU (and the OS, which __builtin_cpu_supports checks
// through XGETBV for the AVX state) supports them.
#include <cstdlib>
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
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
#else
  return false;
#endif
}

const KernelSet& kernels(bool portable) {
#if defined(__x86_64__) || defined(__i386__)
  if (!portable && cpuHasAvx2Fma()) return avx2Kernels;
#endif
  (void)portable;
  return scalarKernels;
}

}  // namespace tg
