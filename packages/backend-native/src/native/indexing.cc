// The indexing family: gather (core's take, and the batch gather of a training loop) in
// float32 and float64, the same copies as core's js kernel (packages/core/src/backend/
// js-indexing.ts): x seen as [outer, axisSize, inner], each index selecting one contiguous
// run of `inner` values, copied whole.
#include <cstdint>
#include <cstring>
#include "kernels.h"

namespace tg {

template <typename T>
void gather(const T* x, long outer, long axisSize, long inner, const int32_t* indices, long n, T* out) {
  for (long o = 0; o < outer; o++) {
    const T* base = x + o * axisSize * inner;
    if (inner == 1) {
      for (long j = 0; j < n; j++) out[j] = base[indices[j]];
    } else {
      for (long j = 0; j < n; j++) std::memcpy(out + j * inner, base + static_cast<long>(indices[j]) * inner, inner * sizeof(T));
    }
    out += n * inner;
  }
}

template void gather<float>(const float*, long, long, long, const int32_t*, long, float*);
template void gather<double>(const double*, long, long, long, const int32_t*, long, double*);

}  // namespace tg
