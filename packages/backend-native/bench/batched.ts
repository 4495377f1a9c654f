/**
 * float32 batched matmul (Backend.matmulBatched), GFLOP/s = 2·count·m·k·n / seconds, of
 * each backend's batched kernel ("after") against a baseline ("before"), in one process,
 * interleaved. The baseline is, by default, the loop of single products on views that
 * core's `matmulEachBatch` runs over the same backend's `matmul` (what both backends did
 * before they had a batched kernel); with `--before-native FILE.node` and/or
 * `--before-wasm FILE.js`, an older build of the addon (its `matmul` in that loop) or of
 * the wasm package's ESM bundle (its own `matmulBatched`) instead, e.g. main's:
 *
 *   pnpm build
 *   cd packages/backend-native && pnpm exec tsx bench/batched.ts [--reps 9] [--only attention] \
 *     [--before-native old/tapegrad_native.node] [--before-wasm old/backend-wasm/dist/index.js]
 *
 * Shapes: attention [8,4,64,32]·[8,4,32,64] (32 products of 64×32×64) and its scores
 * Q·Kᵀ ([8,4,64,32]·[8,4,64,32]ᵀ); conv2d's lowering W [1,64,576] · U [32,1,576,1024] (one
 * weight read in place against 32 images' columns: 32 products of 64×576×1024).
 * Contenders: native 'auto' and 'off' (one thread), wasm (relaxed SIMD) 'auto' and 'off';
 * wasm's figures include copying operands in and the result out. Each figure is the median
 * of the repetitions after a warm-up; a repetition is a loop of calls lasting ≥ ~40 ms.
 * Machines here are shared: compare the ratios within one run. Besides wall-clock GFLOP/s
 * ("wall", with the range over repetitions), each figure is also given per second of this
 * process's CPU time ("cpu", process.cpuUsage: every thread's, the worker's spinning too):
 * on a machine whose cores other processes hold, wall-clock time mostly measures the OS's
 * scheduling, while CPU time still measures the work one thread does.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Backend, matmulEachBatch } from '@tapegrad/core';
import { createWasmBackend } from '../../backend-wasm/src/index.js';
import { loadNativeBackend } from '../src/index.js';

const args = process.argv.slice(2);
const at = args.indexOf('--reps');
const reps = Math.max(3, at >= 0 ? Number(args[at + 1]) : 9);
const onlyAt = args.indexOf('--only');
const only = onlyAt >= 0 ? args[onlyAt + 1] : undefined;
const option = (name: string) => (args.includes(name) ? resolve(args[args.indexOf(name) + 1]) : undefined);
const beforeNative = option('--before-native'), beforeWasm = option('--before-wasm');

const load = (options: Parameters<typeof loadNativeBackend>[0]) => {
  const result = loadNativeBackend(options);
  if (!result.backend) throw new Error(`native addon unavailable: ${result.reason}`);
  return result.backend;
};
/** The loop of single products over `backend.matmul` (both backends' matmulBatched before). */
const loopOver = (backend: Backend): Backend => ({
  ...backend,
  matmulBatched: (a, b, out, m, k, n, tA, tB, aOffsets, bOffsets) => matmulEachBatch(backend.matmul, a, b, out, m, k, n, tA, tB, aOffsets, bOffsets),
});
const oldWasm = beforeWasm ? (await import(pathToFileURL(beforeWasm).href)) as { createWasmBackend: typeof createWasmBackend } : undefined;
const nativeBefore = (threads: 'auto' | 'off') => loopOver(load({ name: `native-before-${threads}`, threads, addonPath: beforeNative }));
const wasmBefore = (threads: 'auto' | 'off') => oldWasm ? oldWasm.createWasmBackend({ name: `wasm-before-${threads}`, threads }) : loopOver(createWasmBackend({ name: `wasm-loop-${threads}`, threads }));
const backends: Array<{ label: string; before: Backend; after: Backend }> = [
  { label: 'native auto', before: nativeBefore('auto'), after: load({ name: 'native-auto' }) },
  { label: 'native 1 thread', before: nativeBefore('off'), after: load({ name: 'native-1', threads: 'off' }) },
  { label: 'wasm auto', before: wasmBefore('auto'), after: createWasmBackend({ name: 'wasm-auto' }) },
  { label: 'wasm 1 thread', before: wasmBefore('off'), after: createWasmBackend({ name: 'wasm-1', threads: 'off' }) },
];
console.log(`before: native ${beforeNative ?? 'this build, loop of single products'}; wasm ${beforeWasm ?? 'this build, loop of single products'}`);

function filled(length: number, seed: number): Float32Array {
  let a = seed;
  const next = () => {
    a |= 0; a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Float32Array.from({ length }, () => next() * 2 - 1);
}

interface Shape { name: string; m: number; k: number; n: number; tA: boolean; tB: boolean; aOffsets: Int32Array; bOffsets: Int32Array; aLength: number; bLength: number }
const range = (count: number, stride: number) => Int32Array.from({ length: count }, (_, i) => i * stride);
const shapes: Shape[] = [
  { name: 'attention [8,4,64,32]·[8,4,32,64]', m: 64, k: 32, n: 64, tA: false, tB: false, aOffsets: range(32, 64 * 32), bOffsets: range(32, 32 * 64), aLength: 32 * 64 * 32, bLength: 32 * 32 * 64 },
  { name: 'attention Q·Kᵀ [8,4,64,32]·[8,4,64,32]ᵀ', m: 64, k: 32, n: 64, tA: false, tB: true, aOffsets: range(32, 64 * 32), bOffsets: range(32, 64 * 32), aLength: 32 * 64 * 32, bLength: 32 * 64 * 32 },
  { name: 'conv W [1,64,576]·U [32,1,576,1024]', m: 64, k: 576, n: 1024, tA: false, tB: false, aOffsets: range(32, 0), bOffsets: range(32, 576 * 1024), aLength: 64 * 576, bLength: 32 * 576 * 1024 },
].filter((s) => !only || s.name.includes(only));

const run = (backend: Backend, a: Float32Array, b: Float32Array, c: Float32Array, s: Shape) =>
  backend.matmulBatched(a, b, c, s.m, s.k, s.n, s.tA, s.tB, s.aOffsets, s.bOffsets);

console.log(`load average ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')}; ${reps} repetitions`);
for (const s of shapes) {
  const count = s.aOffsets.length;
  const a = filled(s.aLength, 1), b = filled(s.bLength, 2), c = new Float32Array(count * s.m * s.n);
  const flop = 2 * count * s.m * s.k * s.n;
  const calls = Math.max(1, Math.ceil(0.04 / (flop / 50e9)));
  const contenders = backends.flatMap(({ label, before, after }) => [{ label: `${label} before`, backend: before }, { label: `${label} after`, backend: after }]);
  const times = contenders.map(() => [] as number[]), cpuTimes = contenders.map(() => [] as number[]);
  for (const { backend } of contenders) for (let w = 0; w < Math.max(3, calls); w++) run(backend, a, b, c, s);
  for (let r = 0; r < reps; r++) {
    for (let j = 0; j < contenders.length; j++) {
      const i = (j + r) % contenders.length;
      const t0 = performance.now(), cpu0 = process.cpuUsage();
      for (let call = 0; call < calls; call++) run(contenders[i].backend, a, b, c, s);
      const cpu = process.cpuUsage(cpu0);
      times[i].push((performance.now() - t0) / 1000 / calls);
      cpuTimes[i].push((cpu.user + cpu.system) / 1e6 / calls);
    }
  }
  console.log(`\n${s.name}: ${count} products of ${s.m}×${s.k}×${s.n}, ${(flop / 1e6).toFixed(1)} MFLOP a call`);
  const median = (t: number[]) => flop / [...t].sort((x, y) => x - y)[t.length >> 1] / 1e9;
  const range = (t: number[]) => `${(flop / Math.max(...t) / 1e9).toFixed(1)}–${(flop / Math.min(...t) / 1e9).toFixed(1)}`;
  const wall = times.map(median), cpu = cpuTimes.map(median);
  for (let i = 0; i < contenders.length; i += 2) {
    console.log(`  ${backends[i / 2].label.padEnd(16)} wall: before ${wall[i].toFixed(1).padStart(5)} (${range(times[i])}), after ${wall[i + 1].toFixed(1).padStart(5)} (${range(times[i + 1])}) = ${(wall[i + 1] / wall[i]).toFixed(2)}×`
      + ` | cpu: before ${cpu[i].toFixed(1).padStart(5)}, after ${cpu[i + 1].toFixed(1).padStart(5)} = ${(cpu[i + 1] / cpu[i]).toFixed(2)}×`);
  }
}
