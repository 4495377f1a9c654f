import { tensor, matmulT, setBackend, tidy } from '@tapegrad/core';
import { loadTapegrad } from './src/frameworks/tapegrad.js';
await loadTapegrad();
const shapes: [string, number, number, number, boolean, boolean][] = [
  ['c1 fwd W·cols', 6, 25, 50176, false, false],
  ['c1 dW dY·colsT', 6, 50176, 25, false, true],
  ['c2 fwd', 16, 150, 6400, false, false],
  ['c2 dW', 16, 6400, 150, false, true],
  ['c2 dcols WT·dY', 150, 16, 6400, true, false],
];
for (const be of ['native', 'native-1thread']) {
  setBackend(be);
  for (const [name, m, k, n, tA, tB] of shapes) {
    const A = tensor(new Float32Array(m * k).fill(0.5), { shape: tA ? [k, m] : [m, k], dtype: 'float32' });
    const B = tensor(new Float32Array(k * n).fill(0.25), { shape: tB ? [n, k] : [k, n], dtype: 'float32' });
    for (let i = 0; i < 20; i++) tidy(() => { matmulT(A, B, tA, tB); });
    const cpu0 = process.cpuUsage(); const t0 = performance.now();
    const reps = 50;
    for (let i = 0; i < reps; i++) tidy(() => { matmulT(A, B, tA, tB); });
    const dt = (performance.now() - t0) / reps; const cpu = process.cpuUsage(cpu0);
    console.log(be.padEnd(15), name.padEnd(16), `${dt.toFixed(3)} ms wall, ${((cpu.user + cpu.system) / 1000 / reps).toFixed(3)} ms cpu, ${(2 * m * k * n / dt / 1e6).toFixed(1)} GFLOP/s`);
  }
}
