/**
 * Speed probe of the WebGPU matmul: GFLOP/s = 2·n³ / seconds of C = A·B (float32, n×n) on
 * the current adapter, for each tiling and for the one matmul() picks. Not a test: on
 * SwiftShader (a CPU) the figures mean nothing beyond proving the script runs.
 *
 *   pnpm --filter @tapegrad/core build               (the package imports core's build)
 *   cd packages/backend-webgpu && pnpm exec tsx bench/matmul.ts [--sizes 256,512,1024] [--reps 7]
 *   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json …   (no GPU: SwiftShader)
 *
 * The operands live on the device (uploaded once); a repetition is a loop of dispatches
 * lasting at least ~100 ms, ended by queue.onSubmittedWorkDone(), so submission overhead and
 * one round trip are amortised; the figure is the median repetition after a warm-up (which
 * also compiles the pipeline). Before timing, a few elements of C are checked against a
 * float64 dot product, so a broken kernel cannot post a figure.
 */
import { GpuContext } from '../src/context.js';
import { requestGpuDevice } from '../src/device.js';
import { type MatmulTiling, MATMUL_TILINGS, chooseTiling, matmulUsing } from '../src/kernels/matmul.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : fallback;
};
const sizes = option('--sizes', '256,512,1024').split(',').map(Number);
const reps = Math.max(3, Number(option('--reps', '7')));

// mulberry32, uniform in [-1, 1)
function filled(length: number, seed: number): Float32Array {
  let a = seed;
  const values = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    values[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return values;
}

const { device, adapter } = await requestGpuDevice({ powerPreference: 'high-performance' });
const context = new GpuContext(device);
console.log(`adapter: ${[adapter.vendor, adapter.architecture, adapter.device, adapter.description].filter((s) => s).join(' / ') || '(no description)'}${adapter.swiftShader ? '  [SwiftShader: a CPU, figures mean nothing]' : ''}`);
console.log(`limits: workgroup storage ${device.limits.maxComputeWorkgroupStorageSize} B, invocations ${device.limits.maxComputeInvocationsPerWorkgroup}`);

const median = (list: number[]) => [...list].sort((x, y) => x - y)[Math.floor(list.length / 2)];

for (const n of sizes) {
  const aValues = filled(n * n, 1), bValues = filled(n * n, 2);
  const a = context.upload(aValues), b = context.upload(bValues), c = context.allocate(n * n, false);
  const picked = chooseTiling(n, n, 1, n);
  for (const tiling of MATMUL_TILINGS) {
    const call = (t: MatmulTiling) => matmulUsing({ tiling: t }, context, a, b, c, n, n, n, false, false);
    call(tiling);
    const values = await c.read();
    for (const [i, j] of [[0, 0], [n - 1, n - 1], [n >> 1, (n >> 2) + 1]]) {
      let dot = 0;
      for (let p = 0; p < n; p++) dot += aValues[i * n + p] * bValues[p * n + j];
      if (Math.abs(values[i * n + j] - dot) > 1e-4 * n) throw new Error(`${tiling.name} ${n}³: C[${i},${j}] = ${values[i * n + j]}, expected ${dot}`);
    }
    // calls per repetition: enough for ~100 ms, from one timed call
    let start = performance.now();
    call(tiling);
    await device.queue.onSubmittedWorkDone();
    const calls = Math.max(1, Math.ceil(100 / Math.max(performance.now() - start, 1e-3)));
    const seconds: number[] = [];
    for (let r = 0; r < reps; r++) {
      start = performance.now();
      for (let i = 0; i < calls; i++) call(tiling);
      await device.queue.onSubmittedWorkDone();
      seconds.push((performance.now() - start) / 1000 / calls);
    }
    const gflops = (2 * n ** 3) / median(seconds) / 1e9;
    console.log(`${String(n).padStart(5)}³  ${tiling.name.padEnd(5)} ${`${tiling.blockM}×${tiling.blockN}`.padEnd(7)}${gflops.toFixed(1).padStart(8)} GFLOP/s  (${(median(seconds) * 1000).toFixed(2)} ms, ${calls} calls × ${reps})${tiling === picked ? '  ← matmul() picks this' : ''}`);
  }
  a.dispose();
  b.dispose();
  c.dispose();
}
context.destroy();
