/**
 * The native backend's float32 matmul paths (backend-native README, "matmul") against the
 * reference paths they replaced (the backend option `gemm: 'reference'`: the same bits, the
 * old dispatch), or against another build of the addon (--baseline-addon), in one process,
 * alternating so that other processes' load falls on both alike (this VM drifts ±30 %).
 *
 * Steps (the default): the benchmark's own tapegrad trainer on --task, in blocks of --block
 * steps alternately on each backend, the order flipping every round; prints the median
 * µs/step of each and the median per-round ratio (> 1: the fast paths help).
 *
 *   npx tsx bench/src/gemm-ab.ts --task T3 --rounds 40 --block 200
 *   npx tsx bench/src/gemm-ab.ts --task T1 --threads off --rounds 20 --block 50
 *   npx tsx bench/src/gemm-ab.ts --task T3 --threads off --baseline-addon /tmp/main-build/tapegrad_native.node
 *
 * --products: the task's own matmul shapes alone instead (8 rotating copies of the operands
 * and outputs, so they sit in cache as in a step), µs and GFLOP/s per product, each a median
 * over --rounds rounds:
 *
 *   npx tsx bench/src/gemm-ab.ts --products --task T3 --threads off --rounds 9
 *   npx tsx bench/src/gemm-ab.ts --products --task T1 --baseline-addon /tmp/main-build/tapegrad_native.node
 *
 * --threads: 'auto' (the default, as the benchmark runs) or 'off' (one thread; required for
 * steps against --baseline-addon).
 *
 * --against avx2: the AVX2 kernel set of the same addon (`kernels: 'avx2'`) instead of the
 * reference paths, on a CPU with AVX-512 (README, "The AVX-512 set"); --task T2 too:
 *
 *   npx tsx bench/src/gemm-ab.ts --task T2 --against avx2 --rounds 10 --block 5
 *
 * --against one-thread: the same kernels on one thread (`threads: 'off'`) against --threads
 * (whether the two-thread split pays with the kernel set that runs).
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { type Backend, registerBackend, setBackend } from '@tapegrad/core';
import { stepSession } from './step-session.js';

const { values } = parseArgs({
  options: {
    task: { type: 'string', default: 'T3' }, rounds: { type: 'string' }, block: { type: 'string' }, threads: { type: 'string', default: 'auto' },
    products: { type: 'boolean', default: false }, 'baseline-addon': { type: 'string' }, against: { type: 'string', default: 'reference' },
  },
});
const taskId = values.task!;
if (taskId !== 'T1' && taskId !== 'T2' && taskId !== 'T3') throw new Error('--task must be T1, T2 or T3');
const against = values.against as 'reference' | 'avx2' | 'one-thread';
if (against !== 'reference' && against !== 'avx2' && against !== 'one-thread') throw new Error("--against must be 'reference', 'avx2' or 'one-thread'");
const threads = values.threads as 'auto' | 'off';
if (threads !== 'auto' && threads !== 'off') throw new Error("--threads must be 'auto' or 'off'");

interface NativeModule {
  loadNativeBackend(options: { name: string; threads: 'auto' | 'off' | 'always'; gemm?: 'fast' | 'reference'; kernels?: 'avx2'; addonPath?: string }): { backend?: Backend; reason?: string };
}
const native = (await import(new URL('../../packages/backend-native/dist/index.js', import.meta.url).href)) as NativeModule;
const load = (name: string, extra: { gemm?: 'reference'; kernels?: 'avx2'; addonPath?: string; threads?: 'off' }): Backend => {
  const result = native.loadNativeBackend({ name, threads, ...extra });
  if (!result.backend) throw new Error(`${name}: ${result.reason}`);
  registerBackend(result.backend);
  return result.backend;
};
const baseline = values['baseline-addon'];
// each addon file has its own worker thread (matmul splits, the next batch's gather), which
// spins for a while after each job: two of them and the caller on 2 cores ran T3's step 4×
// slower. Steps against another build therefore run on one thread, where neither starts it.
if (baseline && !values.products && threads !== 'off') throw new Error('--baseline-addon with steps needs --threads off (two addons, two worker threads)');
const fast = load('native-gemm-fast', {});
const reference = load('native-gemm-reference',
  baseline ? { addonPath: baseline } : against === 'avx2' ? { kernels: 'avx2' } : against === 'one-thread' ? { threads: 'off' } : { gemm: 'reference' });
const referenceLabel = baseline ? `baseline ${baseline}` : against === 'avx2' ? "kernels: 'avx2'" : against === 'one-thread' ? "threads: 'off'" : "gemm: 'reference'";
const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[xs.length >> 1];
const loadBefore = loadavg()[0];

// m, k, n, transposeA, transposeB: the products of one step (forward, then backward)
const PRODUCTS: Record<'T1' | 'T2' | 'T3', [number, number, number, boolean, boolean][]> = {
  T2: [[1024, 784, 256, false, false], [1024, 1024, 256, false, false], [10, 1024, 256, false, false], [10, 256, 1024, false, true],
    [1024, 10, 256, true, false], [1024, 256, 1024, false, true], [1024, 1024, 256, true, false], [1024, 256, 784, false, true]],
  T3: [[30, 784, 10, false, false], [10, 30, 10, false, false], [10, 10, 30, false, true], [30, 10, 10, true, false], [30, 10, 784, false, true]],
  T1: [[128, 784, 64, false, false], [10, 128, 64, false, false], [10, 64, 128, false, true], [128, 10, 64, true, false], [128, 64, 784, false, true]],
};

if (values.products) {
  const rounds = Number(values.rounds ?? 9);
  console.log(`${taskId} products, threads ${threads}, fast vs ${referenceLabel}, median of ${rounds} alternating rounds`);
  for (const [m, k, n, tA, tB] of PRODUCTS[taskId]) {
    const copies = 8;
    const fill = (length: number, seed: number) => Float32Array.from({ length }, (_, i) => Math.sin(i * 12.9898 + seed) * 0.5);
    const as = Array.from({ length: copies }, (_, c) => fill(m * k, c)), bs = Array.from({ length: copies }, (_, c) => fill(k * n, c + 99));
    const outs = Array.from({ length: copies }, () => new Float32Array(m * n));
    const reps = Math.max(100, Math.min(20000, Math.round(2e8 / (m * k * n))));
    const time = (backend: Backend): number => {
      for (let i = 0; i < reps >> 2; i++) backend.matmul(as[i % copies], bs[i % copies], outs[i % copies], m, k, n, tA, tB);
      const started = process.hrtime.bigint();
      for (let i = 0; i < reps; i++) backend.matmul(as[i % copies], bs[i % copies], outs[i % copies], m, k, n, tA, tB);
      return Number(process.hrtime.bigint() - started) / reps / 1000;
    };
    const withFast: number[] = [], withReference: number[] = [];
    for (let r = 0; r < rounds; r++) {
      if (r % 2 === 0) { withFast.push(time(fast)); withReference.push(time(reference)); }
      else { withReference.push(time(reference)); withFast.push(time(fast)); }
    }
    const gflops = (us: number) => ((2 * m * k * n) / us / 1000).toFixed(0);
    const f = median(withFast), ref = median(withReference);
    console.log(`${`${m}×${k}×${n}${tA ? ' Aᵀ' : ''}${tB ? ' Bᵀ' : ''}`.padEnd(16)} fast ${f.toFixed(2).padStart(7)} µs (${gflops(f).padStart(3)} GFLOP/s)   reference ${ref.toFixed(2).padStart(7)} µs (${gflops(ref).padStart(3)} GFLOP/s)   ${(ref / f).toFixed(2)}×`);
  }
} else {
  const rounds = Number(values.rounds ?? 40);
  const block = Number(values.block ?? (taskId === 'T3' ? 200 : taskId === 'T2' ? 5 : 50));
  const { trainer, batch } = await stepSession(taskId, 'native');
  let step = 0;
  const run = (backend: Backend): number => {
    setBackend(backend.name);
    const started = performance.now();
    for (let i = 0; i < block; i++, step++) trainer.step(batch(step), batch(step + 1));
    return ((performance.now() - started) * 1000) / block;
  };
  for (let i = 0; i < 5; i++) { run(fast); run(reference); } // warm-up: V8 tiers the code up
  const withFast: number[] = [], withReference: number[] = [], ratios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const first = r % 2 === 0;
    const a = run(first ? fast : reference), b = run(first ? reference : fast);
    const [f, ref] = first ? [a, b] : [b, a];
    withFast.push(f);
    withReference.push(ref);
    ratios.push(ref / f);
  }
  trainer.dispose();
  console.log(`${taskId} steps, threads ${threads}, ${rounds} rounds of ${block} each way: fast ${median(withFast).toFixed(1)} µs/step, ${referenceLabel} ${median(withReference).toFixed(1)}; per-round (reference ÷ fast) median ${median(ratios).toFixed(3)}`);
}
console.log(`load average ${loadBefore.toFixed(2)} → ${loadavg()[0].toFixed(2)}`);
