/**
 * `bench --gpu-report [file]`: one JSON file for a run on a machine with a GPU — what issue 14
 * asks a real-GPU run to measure, in one process:
 *
 * - the adapter (vendor, architecture, device, description) and the device limits that bound
 *   the kernels (workgroup storage and invocations, buffer sizes);
 * - the GPU's fp32 peak, measured by a probe shader: every invocation runs 8 independent vec4
 *   FMA chains (a loop-carried `fma(x, a, b)` with a, b from a uniform, so nothing folds),
 *   over enough workgroups to fill any GPU; GFLOP/s = 2 · 4 lanes · chains · iterations ·
 *   invocations ÷ the median dispatch time;
 * - core's `matmul` on device tensors over a grid up to 4096³, in GFLOP/s and % of that peak,
 *   each product checked at 64 entries against float64 dot products;
 * - T1–T4 on WebGPU (nn's fitAsync, as the bench's WebGPU rows) and on the native CPU backend
 *   (the bench's tapegrad row), s/epoch, their ratio and both accuracies;
 * - the two goals as booleans with their thresholds: T2 ≥ 10× the native backend, matmul
 *   4096³ ≥ 50 % of the probe's peak.
 *
 * On SwiftShader (a CPU emulating a GPU) the report is still written, from bounded sizes so it
 * ends in minutes, with `adapterIsSoftware: true` and each goal "not evaluated: software adapter".
 * The file is written to a temporary name beside the target, then renamed: never half a report.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { type Tensor, matmul, setBackend, tensor, tidy } from '@tapegrad/core';
import { type MatmulPlan, type TaskRow, type TrainPlan, median, runTask } from './harness.js';
import { MATMUL_SIZES, type MatmulSize, PIXELS, type Split, TASKS, type TaskId, describeTask, epochOrders, headOf, initialWeights, loadProtocolMnist, matmulError, matmulOperands, sizeLabel } from './protocol.js';
import type { Framework } from './frameworks/types.js';
import { type AdapterFacts, softwarePlan } from './frameworks/webgpu-facts.js';

export const GOAL_T2_SPEEDUP = 10;
export const GOAL_MATMUL_4096_PERCENT = 50;
const NOT_EVALUATED_SOFTWARE = 'not evaluated: software adapter';

export interface GpuReportOptions {
  file: string;
  mode: 'full' | 'quick' | 'tiny';
  tasks: TaskId[];
  matmul: boolean;
  budgets: Record<TaskId | 'matmul', number>;
  log: (line: string) => void;
}

/** The device's limits that bound tapegrad's kernels (tiling, workgroup sizes, the largest tensor). */
const LIMITS = [
  'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupsPerDimension', 'maxStorageBufferBindingSize', 'maxBufferSize', 'maxStorageBuffersPerShaderStage',
] as const;

const BUFFER_UNIFORM = 0x0040;
const BUFFER_STORAGE = 0x0080;
const BUFFER_COPY_DST = 0x0008;

const CHAINS = 8;
const UNROLL = 4;
const WORKGROUP = 256;

/** The probe's WGSL: CHAINS independent vec4 FMA chains per invocation, the loop body unrolled UNROLL times. */
export function probeShader(): string {
  const chains = Array.from({ length: CHAINS }, (_, c) => c);
  const body = Array.from({ length: UNROLL }, () => chains.map((c) => `    x${c} = fma(x${c}, a, b);`).join('\n')).join('\n');
  return `struct Params { iterations: u32, a: f32, b: f32, pad: f32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> sink: array<f32>;
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let s = f32(gid.x & 1023u) * 1e-3;
${chains.map((c) => `  var x${c} = vec4<f32>(s + ${c}.0, s + ${c}.25, s + ${c}.5, s + ${c}.75);`).join('\n')}
  let a = vec4<f32>(params.a);
  let b = vec4<f32>(params.b);
  for (var i = 0u; i < params.iterations; i++) {
${body}
  }
  // every chain reaches the sink, so none is dead code
  sink[gid.x] = dot(((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7)), vec4<f32>(1.0));
}`;
}

export interface PeakProbe {
  gflops: number;
  workgroups: number;
  invocations: number;
  iterations: number;
  flopsPerDispatch: number;
  medianSeconds: number;
  reps: number;
  /** The sink's first value: finite, or the chains overflowed. */
  sinkFinite: boolean;
}

/**
 * The fp32 FMA peak of the device: the probe dispatched with its iterations doubled until one
 * dispatch takes `targetSeconds`, then timed `reps` times (each dispatch ended by the queue's
 * onSubmittedWorkDone), GFLOP/s from the median.
 */
export async function measurePeak(device: GPUDevice, options: { workgroups: number; targetSeconds: number; reps: number }): Promise<PeakProbe> {
  const invocations = options.workgroups * WORKGROUP;
  const module = device.createShaderModule({ code: probeShader() });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const params = device.createBuffer({ size: 16, usage: BUFFER_UNIFORM | BUFFER_COPY_DST });
  const sink = device.createBuffer({ size: invocations * 4, usage: BUFFER_STORAGE | 0x0004 });
  const bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: params } }, { binding: 1, resource: { buffer: sink } }] });
  const dispatch = async (iterations: number): Promise<number> => {
    const values = new ArrayBuffer(16);
    new Uint32Array(values, 0, 1)[0] = iterations;
    new Float32Array(values, 4, 2).set([0.9999, 1e-4]);
    device.queue.writeBuffer(params, 0, values);
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(options.workgroups);
    pass.end();
    const t0 = performance.now();
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
    return (performance.now() - t0) / 1000;
  };
  await dispatch(1); // compiles the pipeline
  let iterations = 16;
  while (iterations < 1 << 22 && (await dispatch(iterations)) < options.targetSeconds) iterations *= 2;
  const times: number[] = [];
  for (let r = 0; r < options.reps; r++) times.push(await dispatch(iterations));
  const seconds = median(times);
  const flopsPerDispatch = 2 * 4 * CHAINS * UNROLL * iterations * invocations;
  // the sink's first value, read back: a finite number shows the chains ran to the end
  const staging = device.createBuffer({ size: 4, usage: 0x0001 | BUFFER_COPY_DST });
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(sink, 0, staging, 0, 4);
  device.queue.submit([encoder.finish()]);
  await staging.mapAsync(0x0001);
  const first = new Float32Array(staging.getMappedRange().slice(0))[0];
  staging.unmap();
  for (const b of [params, sink, staging]) b.destroy();
  return {
    gflops: flopsPerDispatch / seconds / 1e9, workgroups: options.workgroups, invocations, iterations, flopsPerDispatch,
    medianSeconds: seconds, reps: times.length, sinkFinite: Number.isFinite(first),
  };
}

export interface MatmulEntry {
  size: MatmulSize;
  label: string;
  status: 'ok' | 'error' | 'skipped';
  gflops: number | null;
  medianSeconds: number | null;
  /** Products enqueued per timed repetition (then one wait for the device). */
  callsPerRep: number;
  reps: number;
  percentOfPeak: number | null;
  maxRelError: number | null;
  note: string;
}

/**
 * core's matmul on device tensors: a warm-up (the pipeline's compilation), then `reps`
 * repetitions of enough products for ≈ `repSeconds`, each ended by one wait for the queue;
 * the median repetition's time per product. The product is checked first.
 */
async function timeMatmul(device: GPUDevice, size: MatmulSize, plan: { reps: number; repSeconds: number; budget: number }, peak: number, log: (line: string) => void): Promise<MatmulEntry> {
  const entry: MatmulEntry = { size, label: sizeLabel(size), status: 'ok', gflops: null, medianSeconds: null, callsPerRep: 1, reps: 0, percentOfPeak: null, maxRelError: null, note: '' };
  const { a, b } = matmulOperands(size);
  setBackend('webgpu');
  const A = tensor(a, { shape: [size.m, size.k], dtype: 'float32' });
  const B = tensor(b, { shape: [size.k, size.n], dtype: 'float32' });
  const products = async (count: number): Promise<number> => {
    const t0 = performance.now();
    tidy(() => {
      for (let i = 0; i < count; i++) matmul(A, B);
    });
    await device.queue.onSubmittedWorkDone();
    return (performance.now() - t0) / 1000;
  };
  try {
    const C: Tensor = matmul(A, B);
    entry.maxRelError = matmulError(size, a, b, await C.dataAsync());
    if (entry.maxRelError > 1e-4) {
      entry.status = 'error';
      entry.note = `wrong product: relative error ${entry.maxRelError.toExponential(2)}`;
      return entry;
    }
    const once = await products(1);
    if (once * plan.reps > plan.budget) {
      entry.status = 'skipped';
      entry.note = `skipped (budget): one product took ${once.toFixed(2)} s, ${plan.reps} reps > budget ${plan.budget} s`;
      return entry;
    }
    entry.callsPerRep = Math.max(1, Math.min(256, Math.ceil(plan.repSeconds / Math.max(once, 1e-6))));
    const times: number[] = [];
    for (let r = 0; r < plan.reps; r++) times.push((await products(entry.callsPerRep)) / entry.callsPerRep);
    entry.reps = times.length;
    entry.medianSeconds = median(times);
    entry.gflops = (2 * size.m * size.k * size.n) / entry.medianSeconds / 1e9;
    entry.percentOfPeak = (100 * entry.gflops) / peak;
    log(`  matmul ${entry.label} webgpu: ${entry.gflops.toFixed(2)} GFLOP/s, ${entry.percentOfPeak.toFixed(1)} % of the probe's peak (${entry.callsPerRep} products × ${entry.reps} reps)`);
  } catch (error) {
    entry.status = 'error';
    entry.note = `error: ${(error as Error).message.split('\n')[0]}`;
  } finally {
    setBackend('js');
  }
  return entry;
}

export interface TaskComparison {
  task: TaskId;
  description: string;
  plan: { epochs: number; batches: number; batchesPerEpoch: number; evalExamples: number; label: string };
  webgpu: TaskSide;
  native: TaskSide;
  /** native s/epoch ÷ WebGPU s/epoch: how many times faster the GPU trains (> 1: the GPU). */
  speedup: number | null;
  accuracyDelta: number | null;
  accuracyAgrees: boolean | null;
  tolerance: number;
}

interface TaskSide {
  framework: string;
  status: string;
  secondsPerEpoch: number | null;
  epochSeconds: number[];
  testAccuracy: number | null;
  testLoss: number | null;
  note: string;
}

const side = (r: TaskRow): TaskSide => ({
  framework: r.framework, status: r.status, secondsPerEpoch: r.secondsPerEpoch, epochSeconds: r.epochSeconds, testAccuracy: r.testAccuracy, testLoss: r.testLoss, note: r.note,
});

/** Examples 0, step, 2·step, … of a split: a smaller test set that still holds every digit (the split is ordered by digit). */
function everyNth(split: Split, step: number): Split {
  const n = Math.ceil(split.n / step);
  const images = new Float32Array(n * PIXELS);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    images.set(split.images.subarray(i * step * PIXELS, (i * step + 1) * PIXELS), i * PIXELS);
    labels[i] = split.labels[i * step];
  }
  return { images, labels, n };
}

type Goal = { threshold: string; measured: number | null; met: boolean | string };

/** Writes `text` to `file` through a temporary file in the same folder and a rename, so a reader never sees half of it. */
export function writeAtomically(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  const temporary = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  writeFileSync(temporary, text);
  renameSync(temporary, file);
}

const json = (value: unknown) => `${JSON.stringify(value, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`;

/** The run; returns the exit code (1 without an adapter: the file then says why). */
export async function runGpuReport(options: GpuReportOptions): Promise<number> {
  const { log } = options;
  const file = resolve(options.file);
  const started = Date.now();
  const { loadTapegrad } = await import('./frameworks/tapegrad.js');
  const { loadWebGpu } = await import('./frameworks/tapegrad-webgpu.js');
  const gpu = await loadWebGpu();
  const base = {
    kind: 'tapegrad gpu-report',
    date: new Date().toISOString(),
    command: process.argv.slice(2),
    mode: options.mode,
    machine: { node: process.version, cpu: cpus()[0]?.model ?? null, cores: cpus().length, loadAverageAtStart: loadavg()[0] },
  };
  if (!gpu.loaded) {
    const reason = gpu.unavailable[0]?.reason ?? 'no WebGPU adapter';
    writeAtomically(file, json({ ...base, available: false, reason }));
    log(`bench --gpu-report: ${reason}; wrote ${file}`);
    return 1;
  }
  const tapegrad = await loadTapegrad();
  const { backend, adapter, framework: webgpu } = gpu.loaded;
  const software = adapter.software;
  const device = backend.context.device;
  const cpu = ['native', 'wasm', 'js'].map((b) => tapegrad.frameworks.find((f) => f.id === `tapegrad-${b}`)).find((f): f is Framework => f !== undefined)!;
  log(`gpu-report: adapter ${[adapter.vendor, adapter.architecture, adapter.device, adapter.description].filter(Boolean).join(' / ')}${software ? ' (SwiftShader: software, bounded sizes, goals not evaluated)' : ''}; CPU side ${cpu.id}`);
  const limits = Object.fromEntries(LIMITS.map((name) => [name, (device.limits as unknown as Record<string, number>)[name] ?? null]));

  // the probe: a real GPU gets 8192 workgroups (2 M invocations) and ≈ 50 ms dispatches
  const small = software || options.mode === 'tiny';
  const peak = await measurePeak(device, small
    ? { workgroups: options.mode === 'tiny' ? 4 : 32, targetSeconds: options.mode === 'tiny' ? 0.005 : 0.02, reps: 3 }
    : { workgroups: 8192, targetSeconds: 0.05, reps: 7 });
  log(`  probe: ${peak.gflops.toFixed(1)} GFLOP/s fp32 (${peak.workgroups} workgroups × ${WORKGROUP}, ${peak.iterations} iterations × ${CHAINS * UNROLL} vec4 FMAs, median of ${peak.reps})`);

  const sizes: MatmulSize[] = options.mode === 'tiny'
    ? [{ m: 16, k: 32, n: 8 }, { m: 64, k: 64, n: 64 }]
    : software ? [MATMUL_SIZES[0], { m: 256, k: 256, n: 256 }]
      : [...MATMUL_SIZES, { m: 2048, k: 2048, n: 2048 }, { m: 4096, k: 4096, n: 4096 }];
  const matmulPlan = options.mode === 'full' && !software ? { reps: 7, repSeconds: 0.1 } : { reps: 3, repSeconds: options.mode === 'tiny' ? 0.002 : 0.02 };
  const matmuls: MatmulEntry[] = [];
  if (options.matmul) {
    for (const size of sizes) matmuls.push(await timeMatmul(device, size, { ...matmulPlan, budget: options.budgets.matmul }, peak.gflops, log));
  }

  const comparisons: TaskComparison[] = [];
  if (options.tasks.length > 0) {
    const mnist = loadProtocolMnist();
    for (const id of options.tasks) {
      const task = TASKS[id];
      const fullBatches = Math.ceil(mnist.train.n / task.batch);
      const protocolPlan: TrainPlan = options.mode === 'full'
        ? { epochs: task.epochs, batches: fullBatches, budget: options.budgets[id], allowPartial: true, label: 'full' }
        : options.mode === 'quick'
          ? { epochs: Math.min(task.epochs, 3), batches: Math.min(fullBatches, Math.ceil(640 / task.batch)), budget: options.budgets[id], allowPartial: true, label: 'quick' }
          : { epochs: 2, batches: 2, budget: options.budgets[id], allowPartial: false, label: 'tiny' };
      // SwiftShader: both sides run the shortened plan, so they still train on the same batches
      const shortened = softwarePlan(task, protocolPlan, software);
      const plan = shortened ?? protocolPlan;
      // SwiftShader spent ≈ 450 s evaluating the four tasks' 2,004 test examples here: every 8th (all ten digits) instead
      const data = { train: mnist.train, eval: options.mode === 'tiny' ? headOf(mnist.test, 256) : software ? everyNth(mnist.test, 8) : mnist.test };
      const layers = initialWeights(task);
      const orders = epochOrders(mnist.train.n, plan.epochs);
      log(`${describeTask(task)}: ${plan.epochs} epochs × ${plan.batches}/${fullBatches} batches (${plan.label})`);
      // (as a non-tapegrad row: the report has no allocation figures, so the harness skips their 40 extra steps)
      const nativeRow = await runTask({ ...cpu, isTapegrad: false }, task, data, layers, orders, plan, log);
      const gpuRow = await runTask(webgpu, task, data, layers, orders, plan, log);
      const speedup = nativeRow.secondsPerEpoch !== null && gpuRow.secondsPerEpoch !== null ? nativeRow.secondsPerEpoch / gpuRow.secondsPerEpoch : null;
      const delta = nativeRow.testAccuracy !== null && gpuRow.testAccuracy !== null ? gpuRow.testAccuracy - nativeRow.testAccuracy : null;
      comparisons.push({
        task: id, description: describeTask(task),
        plan: { epochs: plan.epochs, batches: plan.batches, batchesPerEpoch: fullBatches, evalExamples: data.eval.n, label: plan.label },
        webgpu: side(gpuRow), native: side(nativeRow), speedup, accuracyDelta: delta,
        accuracyAgrees: delta === null ? null : Math.abs(delta) <= task.accuracyTolerance, tolerance: task.accuracyTolerance,
      });
    }
  }

  const t2 = comparisons.find((c) => c.task === 'T2');
  const m4096 = matmuls.find((m) => m.size.m === 4096 && m.size.k === 4096 && m.size.n === 4096);
  const goal = (measured: number | null, threshold: number, missing: string): Goal['met'] => {
    if (software) return NOT_EVALUATED_SOFTWARE;
    if (measured === null) return `not evaluated: ${missing}`;
    return measured >= threshold;
  };
  const goals: Record<string, Goal> = {
    t2SpeedupOverNative: {
      threshold: `T2 s/epoch on ${cpu.id} ÷ on WebGPU ≥ ${GOAL_T2_SPEEDUP}`,
      measured: t2?.speedup ?? null,
      met: goal(t2?.speedup ?? null, GOAL_T2_SPEEDUP, 'T2 not run (or not timed)'),
    },
    matmul4096PercentOfPeak: {
      threshold: `matmul 4096³ GFLOP/s ≥ ${GOAL_MATMUL_4096_PERCENT} % of the probe's fp32 peak`,
      measured: m4096?.percentOfPeak ?? null,
      met: goal(m4096?.percentOfPeak ?? null, GOAL_MATMUL_4096_PERCENT, 'the 4096³ product was not timed'),
    },
  };
  const report = {
    ...base,
    available: true,
    adapter: { ...adapter, limits } satisfies AdapterFacts & { limits: unknown },
    adapterIsSoftware: software,
    cpuBackend: { framework: cpu.id, details: cpu.details },
    peak: { ...peak, shader: `${CHAINS} independent vec4 fma chains per invocation, body unrolled ${UNROLL}×, workgroup ${WORKGROUP}` },
    matmul: matmuls,
    tasks: comparisons,
    goals,
    loadAverageAtEnd: loadavg()[0],
    seconds: (Date.now() - started) / 1000,
  };
  writeAtomically(file, json(report));

  // a summary on stdout
  const out: string[] = [];
  out.push(`tapegrad gpu-report — ${software ? 'SwiftShader (CPU): correctness only — times are a CPU emulating a GPU, goals not evaluated' : adapter.description || adapter.device || adapter.vendor}`);
  out.push(`fp32 peak (probe): ${peak.gflops.toFixed(1)} GFLOP/s`);
  for (const m of matmuls) out.push(`matmul ${m.label.padEnd(14)} ${m.gflops === null ? m.status : `${m.gflops.toFixed(2)} GFLOP/s, ${m.percentOfPeak!.toFixed(1)} % of peak`}`);
  for (const c of comparisons) {
    const s = (x: number | null) => (x === null ? '–' : x.toFixed(3));
    out.push(`${c.task}: webgpu ${s(c.webgpu.secondsPerEpoch)} s/epoch, ${cpu.id} ${s(c.native.secondsPerEpoch)} s/epoch, ratio ${c.speedup === null ? '–' : c.speedup.toPrecision(3)}×${software ? ' (not a speed claim)' : ''}; accuracy ${c.webgpu.testAccuracy?.toFixed(4) ?? '–'} vs ${c.native.testAccuracy?.toFixed(4) ?? '–'} (${c.plan.label})`);
  }
  for (const [name, g] of Object.entries(goals)) out.push(`goal ${name}: ${g.threshold}: ${typeof g.met === 'boolean' ? (g.met ? 'MET' : 'NOT MET') : g.met}${g.measured === null ? '' : ` (measured ${g.measured.toPrecision(3)})`}`);
  out.push(`wrote ${file}`);
  process.stdout.write(`${out.join('\n')}\n`);
  return 0;
}
