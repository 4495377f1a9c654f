// Work that JS starts and collects later: a training loop's next batch gather (core's
// columnSampler.prefetch), run as a side job of the two-thread matmul's worker (gemm.cc:
// one job at a time, process-wide, each with a ticket to wait for) while the current step
// goes on on the calling thread.
#include <cstdint>
#include <vector>
#include "kernels.h"

namespace tg {

// out[r·n + k] = x[indices[k]·rowLength + r]: rows of a row-major [N, rowLength] matrix as the
// columns of [rowLength, n], eight rows at a time (eight sequential streams read, each output
// row written in runs of eight), as core's columnSampler.take does in js: the same copies.
template <typename T>
void gatherColumns(const T* x, long rowLength, const int32_t* indices, long n, T* out) {
  long k = 0;
  for (; k + 8 <= n; k += 8) {
    const T* s[8];
    for (int q = 0; q < 8; q++) s[q] = x + static_cast<long>(indices[k + q]) * rowLength;
    T* to = out + k;
    for (long r = 0; r < rowLength; r++, to += n)
      for (int q = 0; q < 8; q++) to[q] = s[q][r];
  }
  for (; k < n; k++) {
    const T* s = x + static_cast<long>(indices[k]) * rowLength;
    T* to = out + k;
    for (long r = 0; r < rowLength; r++, to += n) *to = s[r];
  }
}

template void gatherColumns<float>(const float*, long, const int32_t*, long, float*);
template void gatherColumns<double>(const double*, long, const int32_t*, long, double*);

uint64_t gatherColumnsStart(const void* x, long rowLength, const int32_t* indices, long n, void* out, bool f64, bool async) {
  if (!async) {
    if (f64) gatherColumns(static_cast<const double*>(x), rowLength, indices, n, static_cast<double*>(out));
    else gatherColumns(static_cast<const float*>(x), rowLength, indices, n, static_cast<float*>(out));
    return 0;
  }
  // the indices are copied into the job: the caller's array may change meanwhile
  return postSideJob([x, rowLength, ids = std::vector<int32_t>(indices, indices + n), out, f64] {
    const long count = static_cast<long>(ids.size());
    if (f64) gatherColumns(static_cast<const double*>(x), rowLength, ids.data(), count, static_cast<double*>(out));
    else gatherColumns(static_cast<const float*>(x), rowLength, ids.data(), count, static_cast<float*>(out));
  });
}

void backgroundWait(uint64_t ticket) { waitSideJob(ticket); }

}  // namespace tg
