// unfold and fold (im2col, col2im), js vs wasm (copies in and out included), float32:
//   npx tsx packages/backend-wasm/bench/conv.ts
import { type ConvGeometry, jsBackend } from '@tapegrad/core';
import { createWasmBackend } from '../src/index.js';

const wasm = createWasmBackend({ variant: 'simd', threads: 'off', smallCallsInJs: false });

function geometry(N: number, C: number, H: number, W: number, k: number, stride: number, pad: number): ConvGeometry {
  const outH = Math.floor((H + 2 * pad - k) / stride) + 1, outW = Math.floor((W + 2 * pad - k) / stride) + 1;
  return { N, C, H, W, kH: k, kW: k, strideH: stride, strideW: stride, padH: pad, padW: pad, dilationH: 1, dilationW: 1, outH, outW };
}

/** Best of 7 loops, µs a call. */
function time(run: () => void, minMs = 60): number {
  run();
  let best = Infinity;
  for (let r = 0; r < 7; r++) {
    let calls = 0;
    const start = performance.now();
    let now = start;
    while (now - start < minMs) {
      run();
      calls++;
      now = performance.now();
    }
    best = Math.min(best, ((now - start) * 1000) / calls);
  }
  return best;
}

const cases: Array<[string, ConvGeometry]> = [
  ['[1,1,3,3] 2×2', geometry(1, 1, 3, 3, 2, 1, 0)],
  ['[1,1,4,4] 3×3 pad 1', geometry(1, 1, 4, 4, 3, 1, 1)],
  ['[1,2,6,6] 3×3 pad 1', geometry(1, 2, 6, 6, 3, 1, 1)],
  ['[1,4,8,8] 3×3 pad 1', geometry(1, 4, 8, 8, 3, 1, 1)],
  ['[2,8,16,16] 3×3 pad 1', geometry(2, 8, 16, 16, 3, 1, 1)],
  ['[8,16,28,28] 2×2 stride 2', geometry(8, 16, 28, 28, 2, 2, 0)],
  ['[8,32,32,32] 5×5 stride 2 pad 2', geometry(8, 32, 32, 32, 5, 2, 2)],
  ['[32,64,32,32] 3×3 pad 1', geometry(32, 64, 32, 32, 3, 1, 1)],
];
for (const [name, g] of cases) {
  const image = Float32Array.from({ length: g.N * g.C * g.H * g.W }, () => Math.random());
  const cols = new Float32Array(g.N * g.C * g.kH * g.kW * g.outH * g.outW);
  const back = new Float32Array(image.length);
  const minMs = cols.length > 1e6 ? 400 : 60;
  const ju = time(() => jsBackend.unfold(image, g, 0, cols), minMs), wu = time(() => wasm.unfold(image, g, 0, cols), minMs);
  const jf = time(() => jsBackend.fold(cols, g, back), minMs), wf = time(() => wasm.fold(cols, g, back), minMs);
  const f = (x: number) => (x < 10 ? x.toFixed(2) : x < 1000 ? x.toFixed(0) : `${(x / 1000).toFixed(1)} ms`);
  console.log(`${name.padEnd(34)} ${String(cols.length).padStart(9)} cols  unfold js ${f(ju)} wasm ${f(wu)} (${(ju / wu).toFixed(2)}×)  fold js ${f(jf)} wasm ${f(wf)} (${(jf / wf).toFixed(2)}×)`);
}
