import { jsBackend, type UnaryKernel } from '@tapegrad/core';
import { createWasmBackend } from '../src/index.js';
const wasm = createWasmBackend({ variant: 'simd', threads: 'off', smallCallsInJs: false });
function once(run: () => void, calls: number): number {
  const start = performance.now();
  for (let i = 0; i < calls; i++) run();
  return ((performance.now() - start) * 1000) / calls;
}
for (const n of [32, 48, 64, 96, 128, 1024, 4096, 65536]) {
  const row: string[] = [];
  for (const k of ['log1p', 'sin', 'cos'] as UnaryKernel[]) {
    const x = Float32Array.from({ length: n }, () => (k === 'log1p' ? Math.random() * 10 : (Math.random() * 2 - 1) * 10));
    const out = new Float32Array(n);
    const calls = Math.max(3, Math.round(200000 / n));
    const js: number[] = [], wa: number[] = [];
    for (let r = 0; r < 25; r++) { js.push(once(() => jsBackend.unary(k, x, out, 0), calls)); wa.push(once(() => wasm.unary(k, x, out, 0), calls)); }
    js.sort((a, b) => a - b); wa.sort((a, b) => a - b);
    row.push(`${k} js ${js[3].toFixed(2)} wasm ${wa[3].toFixed(2)} (${(js[3] / wa[3]).toFixed(2)}×)`);
  }
  console.log(String(n).padStart(6), row.join('  '));
}
