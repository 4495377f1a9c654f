// im2col (unfold) and col2im (fold) in float32, the convolution family's two kernels: the
// same loops, in the same order, as core's js reference (packages/core/src/backend/js-conv.ts),
// so unfold copies the same values and fold adds each image element's terms in the same
// order, one float32 addition at a time: bit-identical to js. The heavy part of a
// convolution is the matmul that follows, which runs in gemm.cc.
#include <algorithm>
#include <cstring>
#include "kernels.h"

namespace tg {
namespace {

// The output columns [first, end) whose input column ow·stride + offset lies inside [0, size).
inline void validRange(long offset, long stride, long size, long count, long* first, long* end) {
  long f = offset >= 0 ? 0 : std::min(count, (-offset + stride - 1) / stride);
  const long last = size - 1 - offset;  // largest ow·stride allowed
  long e = last < 0 ? f : std::max(f, std::min(count, last / stride + 1));
  *first = f;
  *end = e;
}

}  // namespace

void unfold(const float* x, const ConvGeometry& g, float padValue, float* out) {
  const long plane = g.H * g.W;
  float* o = out;
  for (long image = 0; image < g.N * g.C; image++) {
    const float* base = x + image * plane;
    for (long i = 0; i < g.kH; i++) {
      const long rowOffset = i * g.dilationH - g.padH;
      for (long j = 0; j < g.kW; j++) {
        const long colOffset = j * g.dilationW - g.padW;
        long first, end;
        validRange(colOffset, g.strideW, g.W, g.outW, &first, &end);
        for (long oh = 0; oh < g.outH; oh++, o += g.outW) {
          const long ih = oh * g.strideH + rowOffset;
          if (ih < 0 || ih >= g.H) {
            std::fill(o, o + g.outW, padValue);
            continue;
          }
          std::fill(o, o + first, padValue);
          const float* row = base + ih * g.W + colOffset;
          if (g.strideW == 1) {
            if (end > first) std::memcpy(o + first, row + first, (end - first) * sizeof(float));
          } else {
            for (long ow = first; ow < end; ow++) o[ow] = row[ow * g.strideW];
          }
          std::fill(o + end, o + g.outW, padValue);
        }
      }
    }
  }
}

void fold(const float* cols, const ConvGeometry& g, float* out) {
  const long plane = g.H * g.W;
  std::fill(out, out + g.N * g.C * plane, 0.0f);
  const float* c = cols;
  for (long image = 0; image < g.N * g.C; image++) {
    float* base = out + image * plane;
    for (long i = 0; i < g.kH; i++) {
      const long rowOffset = i * g.dilationH - g.padH;
      for (long j = 0; j < g.kW; j++) {
        const long colOffset = j * g.dilationW - g.padW;
        long first, end;
        validRange(colOffset, g.strideW, g.W, g.outW, &first, &end);
        for (long oh = 0; oh < g.outH; oh++, c += g.outW) {
          const long ih = oh * g.strideH + rowOffset;
          if (ih < 0 || ih >= g.H) continue;
          float* row = base + ih * g.W + colOffset;
          if (g.strideW == 1) {
            for (long ow = first; ow < end; ow++) row[ow] += c[ow];
          } else {
            for (long ow = first; ow < end; ow++) row[ow * g.strideW] += c[ow];
          }
        }
      }
    }
  }
}

}  // namespace tg
