/**
 * The ops grid's oracle: each case computed by definition in float64 loops, independent of
 * every framework measured (tapegrad included). Not fast (the ResNet case takes seconds), run
 * once per case, outside any timed region.
 */
import { type OpCase, convOutShape, opOutputShapes } from './ops.js';

const size = (shape: readonly number[]) => shape.reduce((p, d) => p * d, 1);

/** The case's outputs in opOutputShapes' order: bmm [c]; conv2d [y, dx, dw] for the cotangent r. */
export function opReference(c: OpCase, operands: readonly Float32Array[]): Float64Array[] {
  const outputs = opOutputShapes(c).map((s) => new Float64Array(size(s)));
  if (c.kind === 'bmm') {
    const [a, b] = operands;
    const m = c.a[c.a.length - 2], k = c.a[c.a.length - 1], n = c.b[c.b.length - 1];
    const [out] = outputs;
    for (let batch = 0; batch < size(c.a.slice(0, -2)); batch++) {
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let p = 0; p < k; p++) s += a[batch * m * k + i * k + p] * b[batch * k * n + p * n + j];
          out[batch * m * n + i * n + j] = s;
        }
      }
    }
    return outputs;
  }
  const [x, w, r] = operands;
  const [y] = outputs;
  // forward-only cases discard the gradients
  const [dx, dw] = c.backward ? outputs.slice(1) : [new Float64Array(size(c.x)), new Float64Array(size(c.w))];
  const [N, C, H, W] = c.x;
  const [O, , KH, KW] = c.w;
  const [, , OH, OW] = convOutShape(c);
  // y[n,o,p,q] = Σ x[n,c,p·s−pad+i, q·s−pad+j]·w[o,c,i,j]; dx and dw from the same terms times r[n,o,p,q]
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      for (let p = 0; p < OH; p++) {
        for (let q = 0; q < OW; q++) {
          const at = ((n * O + o) * OH + p) * OW + q;
          const g = r[at];
          let s = 0;
          for (let ch = 0; ch < C; ch++) {
            for (let i = 0; i < KH; i++) {
              const h = p * c.stride - c.padding + i;
              if (h < 0 || h >= H) continue;
              for (let j = 0; j < KW; j++) {
                const v = q * c.stride - c.padding + j;
                if (v < 0 || v >= W) continue;
                const xi = ((n * C + ch) * H + h) * W + v, wi = ((o * C + ch) * KH + i) * KW + j;
                s += x[xi] * w[wi];
                dx[xi] += g * w[wi];
                dw[wi] += g * x[xi];
              }
            }
          }
          y[at] = s;
        }
      }
    }
  }
  return outputs;
}
