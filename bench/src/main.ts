/**
 * The BENCH-PROTOCOL benchmark: tapegrad (every registered backend) against TensorFlow.js
 * cpu and wasm, jax-js wasm and a plain-JS loop, on T1, T2, T3 and the matmul sizes.
 *
 *   pnpm bench                                   full run (T2 within a time budget)
 *   pnpm bench --quick                           a few batches per epoch, extrapolated (< 2 min)
 *   pnpm bench --tasks T1,matmul --frameworks tapegrad,tfjs-wasm --json out.json
 *
 * See bench/README.md for every option and column.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type MatmulPlan, type MatmulRow, type TaskRow, type TrainPlan, runMatmul, runOp, runTask, unavailableTaskRow } from './harness.js';
import { OP_CASES, type OpCase, TINY_OP_CASES, opFlops, opOperands } from './ops.js';
import { opReference } from './reference.js';
import {
  MATMUL_SIZES, type MatmulSize, TASKS, TASK_IDS, TINY_MATMUL_SIZES, type TaskId, describeTask, epochOrders, headOf, initialWeights,
  loadProtocolMnist, matmulOperands, protocolCheck, sizeLabel,
} from './protocol.js';
import type { Framework, TrainData, Unavailable } from './frameworks/types.js';
import { type AdapterFacts, SOFTWARE_MARKING, adapterText } from './frameworks/webgpu-facts.js';
import {
  ACCURACY_TOLERANCE, type AgreementCheck, type MatmulResult, accuracyReferenceOf, compareMatmulRows, compareTaskRows, formatMatmulTables, formatOpTables, formatTaskTable,
} from './report.js';

// ---- options ---------------------------------------------------------------------------

type Kind = TaskId | 'matmul' | 'ops';
const KINDS: readonly Kind[] = [...TASK_IDS, 'matmul', 'ops'];
/** Execution order: cheap first, T2 (the long one) last. */
const RUN_ORDER: readonly Kind[] = ['matmul', 'ops', 'T1', 'T3', 'T4', 'T2'];
const FAMILIES = ['tapegrad', 'tfjs', 'jax', 'pytorch', 'numpy', 'plain'] as const;
type Family = (typeof FAMILIES)[number];
const FRAMEWORK_ORDER = ['tfjs-cpu', 'tfjs-wasm', 'jax-wasm', 'pytorch-1thread', 'pytorch-2threads', 'numpy-1thread', 'numpy-2threads', 'plain-js'];
const PEERS_FOR_AGREEMENT = ['tfjs-cpu', 'tfjs-wasm', 'jax-wasm', 'pytorch-1thread', 'pytorch-2threads', 'numpy-1thread', 'numpy-2threads'];
/** Row order: tapegrad's backends (js first), their companions (user loop, engine), then the peers. */
const COMPANIONS = ['tapegrad-userloop', 'tapegrad-engine'];
function rankOf(id: string): number {
  if (COMPANIONS.includes(id)) return 1.5 + COMPANIONS.indexOf(id) / 10;
  return id.startsWith('tapegrad-') ? (id === 'tapegrad-js' ? 0 : 1) : 2 + FRAMEWORK_ORDER.indexOf(id);
}
/** Rows of the training tasks only (no matmul grid or ops grid rows, not even 'unavailable' ones). */
const taskOnly = (id: string) => id.startsWith('pytorch-') || id.startsWith('numpy-');

const HELP = `usage: pnpm bench [options]   (or: tsx bench/src/main.ts [options])

  --quick               a few batches per epoch (about 640 examples), 3 epochs at most, times
                        extrapolated to a full epoch and labelled so; fewer matmul reps
  --tiny                with --quick: 2 batches × 2 epochs, 256 test examples, small matmuls (for tests)
  --tasks LIST          any of T1,T2,T3,T4,matmul,ops (default: all); T4 = the LeNet-5 style CNN; ops = the ops grid (batched matmul,
                        conv2d forward + backward at LeNet and ResNet shapes: src/ops.ts)
  --frameworks LIST     any of tapegrad, tapegrad-<backend> (js, wasm, native, wasm-1thread, native-1thread), tfjs, tfjs-cpu, tfjs-wasm,
                        tapegrad-userloop (the README's loop: new Tape per step, functional SGD, no tidy), tapegrad-engine (nn's BP1–BP4),
                        jax, jax-wasm, pytorch, pytorch-1thread, pytorch-2threads (where python3 has torch),
                        numpy, numpy-1thread, numpy-2threads (the seeds' hand-written backprop, where python3 has numpy; T1–T3),
                        plain, plain-js, all (default: all)
  --skip LIST           framework:task pairs not to run, e.g. tfjs-cpu:T2,plain-js:T2 (rows say "skipped (--skip)")
  --budget SPEC         seconds one framework may spend on one task: N for all, or T2=600,matmul=30,…
                        ('none' = no limit). Defaults: full T2=300, T4=300, matmul=120 per size, ops=120 per case,
                        others none; quick T1=20,T2=15,T3=20,T4=20,matmul=4,ops=8
  --json FILE           also write the results as JSON
  --gpu-report [FILE]   instead of the tables: the WebGPU report for a machine with a GPU (default FILE gpu-report.json):
                        adapter and limits, a probe shader's fp32 peak, matmul up to 4096³ (% of that peak), T1–T4 on
                        WebGPU against the native CPU backend, and issue 14's two goals; --tasks, --quick, --tiny and
                        --budget apply (see bench/README.md, "A real-GPU run")
  -h, --help            this text`;

class UsageError extends Error {}

interface Options {
  mode: 'full' | 'quick' | 'tiny';
  kinds: Kind[];
  frameworks: string[];
  skip: Set<string>;
  budgets: Record<Kind, number>;
  json: string | null;
  gpuReport: string | null;
}

/** `--gpu-report` takes an optional file: given none (the last argument, or another option next), the default. */
export const GPU_REPORT_DEFAULT = 'gpu-report.json';
function withGpuReportFile(argv: string[]): string[] {
  return argv.flatMap((arg, i) => (arg === '--gpu-report' && (i + 1 === argv.length || argv[i + 1].startsWith('-')) ? [arg, GPU_REPORT_DEFAULT] : [arg]));
}

function list(value: string, what: string): string[] {
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new UsageError(`--${what} needs a comma-separated list`);
  return items;
}

const FRAMEWORK_TOKEN = /^(all|tapegrad|tapegrad-[a-z0-9_-]+|tfjs|tfjs-cpu|tfjs-wasm|jax|jax-wasm|pytorch|pytorch-1thread|pytorch-2threads|numpy|numpy-1thread|numpy-2threads|plain|plain-js)$/;

function parseBudget(value: string, base: Record<Kind, number>): Record<Kind, number> {
  const out = { ...base };
  const seconds = (v: string): number => {
    if (v === 'none') return Infinity;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--budget: '${v}' is not a positive number of seconds or 'none'`);
    return n;
  };
  if (!value.includes('=')) {
    const s = seconds(value.trim());
    for (const k of KINDS) out[k] = s;
    return out;
  }
  for (const item of list(value, 'budget')) {
    const [k, v] = item.split('=');
    if (!KINDS.includes(k as Kind) || v === undefined) throw new UsageError(`--budget: '${item}' is not TASK=SECONDS with TASK one of ${KINDS.join(', ')}`);
    out[k as Kind] = seconds(v);
  }
  return out;
}

function parseOptions(argv: string[]): Options | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: withGpuReportFile(argv),
      options: {
        quick: { type: 'boolean', default: false },
        tiny: { type: 'boolean', default: false },
        tasks: { type: 'string' },
        frameworks: { type: 'string' },
        skip: { type: 'string' },
        budget: { type: 'string' },
        json: { type: 'string' },
        'gpu-report': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    throw new UsageError((error as Error).message.split('\n')[0]);
  }
  const v = parsed.values;
  if (v.help) return 'help';
  if (v.tiny && !v.quick) throw new UsageError('--tiny only goes with --quick');
  const mode = v.tiny ? 'tiny' : v.quick ? 'quick' : 'full';
  const kinds = v.tasks === undefined ? [...KINDS] : list(v.tasks, 'tasks');
  for (const k of kinds) if (!KINDS.includes(k as Kind)) throw new UsageError(`--tasks: unknown task '${k}' (choose from ${KINDS.join(', ')})`);
  const frameworks = v.frameworks === undefined ? ['all'] : list(v.frameworks, 'frameworks');
  for (const f of frameworks) if (!FRAMEWORK_TOKEN.test(f)) throw new UsageError(`--frameworks: unknown framework '${f}' (choose from tapegrad, tapegrad-js, tapegrad-wasm, tapegrad-native, tapegrad-userloop, tapegrad-engine, tfjs, tfjs-cpu, tfjs-wasm, jax, jax-wasm, pytorch, pytorch-1thread, pytorch-2threads, numpy, numpy-1thread, numpy-2threads, plain, plain-js, all)`);
  const skip = new Set<string>();
  if (v.skip !== undefined) {
    for (const item of list(v.skip, 'skip')) {
      const [f, k] = item.split(':');
      if (!f || !k || !FRAMEWORK_TOKEN.test(f) || f === 'all' || !KINDS.includes(k as Kind)) {
        throw new UsageError(`--skip: '${item}' is not FRAMEWORK:TASK (e.g. tfjs-cpu:T2)`);
      }
      skip.add(`${f}:${k}`);
    }
  }
  const defaults: Record<Kind, number> = mode === 'full'
    ? { T1: Infinity, T2: 300, T3: Infinity, T4: 300, matmul: 120, ops: 120 }
    : { T1: 20, T2: 15, T3: 20, T4: 20, matmul: 4, ops: 8 };
  const budgets = v.budget === undefined ? defaults : parseBudget(v.budget, defaults);
  const gpuReport = v['gpu-report'] ?? null;
  if (gpuReport !== null) {
    if (v.frameworks !== undefined || v.skip !== undefined || v.json !== undefined) throw new UsageError('--gpu-report runs WebGPU and the native backend only and writes its own file: no --frameworks, --skip or --json');
    if (v.tasks !== undefined && kinds.includes('ops')) throw new UsageError('--gpu-report: the ops grid is not part of the report (choose from T1, T2, T3, T4, matmul)');
  }
  return { mode, kinds: KINDS.filter((k) => kinds.includes(k)), frameworks, skip, budgets, json: v.json ?? null, gpuReport };
}

// ---- framework selection -----------------------------------------------------------------

function familyOf(token: string): Family | 'all' {
  if (token === 'all') return 'all';
  return token.split('-')[0] as Family;
}

function selected(token: string, id: string): boolean {
  if (token === 'all') return true;
  if (token === id) return true;
  return token === familyOf(id) || (token === 'plain' && id === 'plain-js') || (token === 'jax' && id === 'jax-wasm');
}

function isSkipped(skip: Set<string>, id: string, kind: Kind): boolean {
  for (const entry of skip) {
    const [f, k] = entry.split(':');
    if (k === kind && selected(f, id)) return true;
  }
  return false;
}

interface Loaded {
  frameworks: Framework[];
  unavailable: Unavailable[];
  /** The adapter the WebGPU rows ran on, when they did. */
  webgpu: AdapterFacts | null;
  /** The fastest CPU backend's framework: the accuracy reference of a WebGPU row on a shortened plan. */
  cpuTwin: Framework | null;
}

async function loadFrameworks(tokens: string[], log: (s: string) => void): Promise<Loaded> {
  const families = new Set(tokens.map(familyOf));
  const want = (f: Family) => families.has('all') || families.has(f);
  const frameworks: Framework[] = [];
  const unavailable: Unavailable[] = [];
  const add = (r: { frameworks: Framework[]; unavailable: Unavailable[] }) => {
    frameworks.push(...r.frameworks);
    unavailable.push(...r.unavailable);
  };
  const timed = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const r = await f();
    log(`loaded ${what} in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
    return r;
  };
  let cpuTwin: Framework | null = null;
  let webgpu: AdapterFacts | null = null;
  if (want('tapegrad')) {
    const loaded = await timed('tapegrad', async () => (await import('./frameworks/tapegrad.js')).loadTapegrad());
    add(loaded);
    cpuTwin = ['native', 'wasm', 'js'].map((b) => loaded.frameworks.find((f) => f.id === `tapegrad-${b}`)).find(Boolean) ?? null;
    // Dawn is loaded only when the WebGPU rows are asked for
    if (tokens.some((t) => selected(t, 'tapegrad-webgpu'))) {
      const gpu = await timed('WebGPU', async () => (await import('./frameworks/tapegrad-webgpu.js')).loadWebGpu());
      add({ frameworks: gpu.loaded ? [gpu.loaded.framework] : [], unavailable: gpu.unavailable });
      webgpu = gpu.loaded?.adapter ?? null;
      if (webgpu) log(`WebGPU adapter: ${adapterText(webgpu)}`);
    }
  }
  if (want('tfjs')) add(await timed('TF.js', async () => (await import('./frameworks/tfjs.js')).loadTfjs()));
  if (want('jax')) add(await timed('jax-js', async () => (await import('./frameworks/jax.js')).loadJax()));
  if (want('pytorch')) add(await timed('PyTorch', async () => (await import('./frameworks/python.js')).loadPytorch()));
  if (want('numpy')) add(await timed('NumPy', async () => (await import('./frameworks/python.js')).loadNumpy()));
  if (want('plain')) add({ frameworks: [(await import('./frameworks/plain.js')).plainFramework()], unavailable: [] });
  const keep = (id: string) => tokens.some((t) => selected(t, id));
  const rank = (id: string) => rankOf(id);
  const byRank = <T extends { id: string }>(a: T, b: T) => rank(a.id) - rank(b.id);
  const fws = frameworks.filter((f) => keep(f.id)).sort(byRank);
  const missing = unavailable.filter((u) => keep(u.id));
  // a tapegrad backend named explicitly but never registered
  for (const t of tokens) {
    if (t.startsWith('tapegrad-') && !fws.some((f) => f.id === t) && !missing.some((u) => u.id === t)) {
      missing.push({ id: t, label: `tapegrad (${t.slice(9)})`, isTapegrad: true, reason: `no tapegrad backend '${t.slice(9)}' is registered` });
    }
  }
  return { frameworks: fws, unavailable: missing.sort(byRank), webgpu, cpuTwin };
}

// ---- machine facts -----------------------------------------------------------------------

/**
 * Which code of tapegrad the run measures: its TypeScript sources, compiled by tsx — from the
 * repository root (`pnpm bench`, `npx tsx bench/src/…`), whose tsconfig maps @tapegrad/* to src
 * — or the built dist that users import (tsx run inside bench/, where the packages' exports
 * resolve). Measured: T3's fit step 56–64 µs from the sources, 52 from dist.
 */
function tapegradBuild(): string {
  const core = import.meta.resolve('@tapegrad/core');
  return /\/src\/[^/]+\.ts$/.test(core) ? 'TypeScript sources through tsx (the root tsconfig\'s paths; run tsx inside bench/ to measure the built dist)' : 'built dist';
}

function cpuFlags(): string {
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const flags = new Set((/^flags\s*:(.*)$/m.exec(info)?.[1] ?? '').trim().split(/\s+/));
    return ['avx2', 'fma', 'avx512f'].filter((f) => flags.has(f)).join(' ') || 'unknown';
  } catch {
    return 'unknown';
  }
}

// ---- the run -----------------------------------------------------------------------------

async function main(argv: string[]): Promise<number> {
  let options: Options | 'help';
  try {
    options = parseOptions(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`bench: ${error.message} (see --help)\n`);
      return 2;
    }
    throw error;
  }
  if (options === 'help') {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const opts = options;
  const log = (s: string) => process.stderr.write(`${s}\n`);
  if (opts.gpuReport !== null) {
    const { runGpuReport } = await import('./gpu-report.js');
    return runGpuReport({
      file: opts.gpuReport, mode: opts.mode, tasks: TASK_IDS.filter((id) => opts.kinds.includes(id)), matmul: opts.kinds.includes('matmul'), budgets: opts.budgets, log,
    });
  }
  const started = Date.now();
  const loadAtStart = loadavg()[0].toFixed(2);

  const check = protocolCheck();
  log(`protocol check (first five indices of epoch 0, seed 42): ${check.got.join(', ')} ${check.ok ? 'ok' : `WRONG, expected ${check.expected.join(', ')}`}`);
  if (!check.ok) return 1;

  const { frameworks, unavailable, webgpu, cpuTwin } = await loadFrameworks(opts.frameworks, log);
  for (const u of unavailable) log(`unavailable: ${u.label}: ${u.reason}`);
  const all = [...frameworks, ...unavailable].sort((a, b) => {
    const rank = (id: string) => rankOf(id);
    return rank(a.id) - rank(b.id);
  });

  const modeLabel = opts.mode === 'full' ? 'full' : opts.mode === 'quick' ? 'quick, extrapolated' : 'tiny (quick, extrapolated)';
  const taskResults: Partial<Record<TaskId, { rows: TaskRow[]; best: string | null; plan: TrainPlan; evalExamples: number }>> = {};
  const matmulResults: MatmulResult[] = [];

  const opResults: { case: OpCase; rows: MatmulRow[] }[] = [];

  const needsData = opts.kinds.some((k) => k !== 'matmul' && k !== 'ops');
  const mnist = needsData ? loadProtocolMnist() : null;
  if (mnist) log(`MNIST split: ${mnist.train.n} train, ${mnist.test.n} test`);

  for (const kind of RUN_ORDER) {
    if (!opts.kinds.includes(kind)) continue;
    if (kind === 'matmul') {
      const sizes: readonly MatmulSize[] = opts.mode === 'tiny' ? TINY_MATMUL_SIZES : MATMUL_SIZES;
      const plan: MatmulPlan = opts.mode === 'full'
        ? { minReps: 7, minSeconds: 1, warmupSeconds: 0.5, budget: opts.budgets.matmul }
        : opts.mode === 'quick'
          ? { minReps: 3, minSeconds: 0.1, warmupSeconds: 0.1, budget: opts.budgets.matmul }
          : { minReps: 3, minSeconds: 0.01, warmupSeconds: 0.01, budget: opts.budgets.matmul };
      log(`matmul: ${sizes.map(sizeLabel).join(', ')} (≥ ${plan.minReps} reps, budget ${Number.isFinite(plan.budget) ? `${plan.budget} s` : 'none'} per size)`);
      const lastSpeed = new Map<string, number>();
      for (const size of sizes) {
        const { a, b } = matmulOperands(size);
        const rows: MatmulRow[] = [];
        for (const fw of all) {
          const base = { framework: fw.id, label: fw.label, isTapegrad: fw.isTapegrad, gflops: null, medianSeconds: null, reps: 0, maxRelError: null, tapegradSpeedup: null };
          if (taskOnly(fw.id) || (!('reason' in fw) && !fw.matmul)) continue;
          if ('reason' in fw) {
            rows.push({ ...base, status: 'unavailable', note: fw.reason });
            continue;
          }
          if (isSkipped(opts.skip, fw.id, 'matmul')) {
            rows.push({ ...base, status: 'skipped', note: 'skipped (--skip)' });
            continue;
          }
          // predict from the previous size's speed only when that size was not dominated by call overhead
          // (≥ 10 ms a call and ≥ 10 MFLOP: a tiny product's time under load says nothing about a larger one's)
          const speed = lastSpeed.get(fw.id);
          const predicted = speed ? (2 * size.m * size.k * size.n) / (speed * 1e9) : null;
          const row = await runMatmul(fw, size, a, b, plan, predicted, log);
          const peak = fw.matmulPeak?.(size);
          if (peak && row.gflops !== null) row.peak = { ...peak, percent: (100 * row.gflops) / peak.gflops };
          if (row.gflops !== null && row.medianSeconds! >= 0.01 && 2 * size.m * size.k * size.n >= 1e7) lastSpeed.set(fw.id, row.gflops);
          rows.push(row);
        }
        compareMatmulRows(rows);
        matmulResults.push({ size, rows });
      }
      continue;
    }
    if (kind === 'ops') {
      const cases = opts.mode === 'tiny' ? TINY_OP_CASES : OP_CASES;
      const plan: MatmulPlan = opts.mode === 'full'
        ? { minReps: 7, minSeconds: 1, warmupSeconds: 0.5, budget: opts.budgets.ops }
        : { minReps: 3, minSeconds: opts.mode === 'quick' ? 0.1 : 0.01, warmupSeconds: opts.mode === 'quick' ? 0.1 : 0.01, budget: opts.budgets.ops };
      log(`ops: ${cases.map((c) => c.id).join(', ')} (≥ ${plan.minReps} reps, budget ${Number.isFinite(plan.budget) ? `${plan.budget} s` : 'none'} per case)`);
      for (const c of cases) {
        const operands = opOperands(c);
        const reference = opReference(c, operands);
        const rows: MatmulRow[] = [];
        for (const fw of all) {
          const base = { framework: fw.id, label: fw.label, isTapegrad: fw.isTapegrad, gflops: null, medianSeconds: null, reps: 0, maxRelError: null, tapegradSpeedup: null };
          if (taskOnly(fw.id)) continue;
          if ('reason' in fw) {
            rows.push({ ...base, status: 'unavailable', note: fw.reason });
            continue;
          }
          if (!('reason' in fw) && !fw.op) continue;
          if (isSkipped(opts.skip, fw.id, 'ops')) {
            rows.push({ ...base, status: 'skipped', note: 'skipped (--skip)' });
            continue;
          }
          const row = await runOp(fw, c, operands, reference, plan, log);
          if (row) rows.push(row);
        }
        compareMatmulRows(rows);
        opResults.push({ case: c, rows });
      }
      continue;
    }
    const task = TASKS[kind];
    const fullBatches = Math.ceil(mnist!.train.n / task.batch);
    const plan: TrainPlan = opts.mode === 'full'
      ? { epochs: task.epochs, batches: fullBatches, budget: opts.budgets[kind], allowPartial: true, label: 'full' }
      : opts.mode === 'quick'
        ? { epochs: Math.min(task.epochs, 3), batches: Math.min(fullBatches, Math.ceil(640 / task.batch)), budget: opts.budgets[kind], allowPartial: true, label: 'quick' }
        : { epochs: 2, batches: 2, budget: opts.budgets[kind], allowPartial: false, label: 'tiny' };
    const data: TrainData = { train: mnist!.train, eval: opts.mode === 'tiny' ? headOf(mnist!.test, 256) : mnist!.test };
    const layers = initialWeights(task);
    const orders = epochOrders(mnist!.train.n, plan.epochs);
    log(`${describeTask(task)}: ${plan.epochs} epochs × ${plan.batches}/${fullBatches} batches, budget ${Number.isFinite(plan.budget) ? `${plan.budget} s` : 'none'} per framework`);
    const rows: TaskRow[] = [];
    for (const fw of all) {
      if ('matmulOnly' in fw && fw.matmulOnly) continue;
      if ('reason' in fw) {
        rows.push(unavailableTaskRow(fw, 'unavailable', fw.reason));
        continue;
      }
      if (isSkipped(opts.skip, fw.id, kind)) {
        rows.push(unavailableTaskRow(fw, 'skipped', 'skipped (--skip)'));
        continue;
      }
      const unsupported = fw.unsupported?.(task);
      if (unsupported) {
        rows.push(unavailableTaskRow(fw, 'unavailable', unsupported));
        continue;
      }
      const shortened = fw.planFor?.(task, plan);
      if (!shortened) {
        rows.push(await runTask(fw, task, data, layers, orders, plan, log));
        continue;
      }
      // the protocol's plan is out of reach for this framework (WebGPU on SwiftShader): the
      // shortened one, stated in the row, and the fastest CPU backend on the same plan as its
      // accuracy reference
      const reduction = `${shortened.label} (the run's: ${plan.batches} batches × ${plan.epochs} epochs)`;
      log(`  ${task.id} ${fw.id}: ${reduction}: ${shortened.batches}/${fullBatches} batches × ${shortened.epochs} epochs`);
      const row = await runTask(fw, task, data, layers, epochOrders(mnist!.train.n, shortened.epochs), { ...shortened, label: reduction }, log);
      rows.push(row);
      if (cpuTwin) {
        const twin: Framework = {
          ...cpuTwin, id: `${fw.id}-twin`, label: `${cpuTwin.label}, ${shortened.label}`, companionOf: { framework: fw.id, kind: 'plan' },
        };
        const twinRow = await runTask(twin, task, data, layers, epochOrders(mnist!.train.n, shortened.epochs), { ...shortened, label: reduction }, log);
        twinRow.accuracyReference = 'none';
        row.accuracyReference = twin.id;
        rows.push(twinRow);
      }
    }
    const best = compareTaskRows(rows, task.accuracyTolerance);
    taskResults[kind] = { rows, best: best?.framework ?? null, plan, evalExamples: data.eval.n };
  }

  // ---- accuracy agreement: tapegrad (best backend) against TF.js, jax-js, PyTorch and NumPy, each task within its tolerance
  const agreement: AgreementCheck[] = [];
  for (const id of ['T1', 'T3', 'T4', 'T2'] as const) {
    const res = taskResults[id];
    if (!res) continue;
    const best = res.rows.find((r) => r.framework === res.best) ?? null;
    for (const r of res.rows) {
      if (!PEERS_FOR_AGREEMENT.includes(r.framework) && r.framework !== 'tapegrad-webgpu') continue;
      const reference = accuracyReferenceOf(r, res.rows, best);
      agreement.push({ task: id, peer: r.framework, tapegradAccuracy: reference?.testAccuracy ?? null, peerAccuracy: r.testAccuracy, agrees: r.accuracyAgrees, tolerance: TASKS[id].accuracyTolerance });
    }
  }
  const judged = agreement.filter((a) => a.agrees !== null);
  const agreementOk = judged.length > 0 ? judged.every((a) => a.agrees) : null;

  // ---- print
  const out: string[] = [];
  out.push(`tapegrad benchmark (BENCH-PROTOCOL) — mode: ${modeLabel}`);
  out.push(`node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} (${cpuFlags()}), ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; load average ${loadAtStart} at start, ${loadavg()[0].toFixed(2)} at end (other processes share these cores)`);
  out.push(`protocol check: epoch 0 starts ${check.got.join(', ')} — ${check.ok ? 'ok' : 'WRONG'}`);
  out.push(`tapegrad's packages: ${tapegradBuild()}`);
  out.push('frameworks:');
  for (const fw of all) out.push(`  ${fw.label.padEnd(27)} ${'reason' in fw ? `UNAVAILABLE: ${fw.reason}` : fw.details}`);
  if (webgpu?.software) {
    out.push(`WebGPU rows: ${SOFTWARE_MARKING} — the adapter is SwiftShader, a CPU emulating a GPU: their results are checked, their times are not a GPU's`);
    out.push('  and give no ratios (no speed claim); a plan longer than the SwiftShader plan (2 epochs × max(2, ⌈128 / batch⌉) batches) is shortened to it, each such row');
    out.push('  beside the fastest CPU backend on the same plan (its accuracy reference).');
  }
  out.push('"tapegrad ×" = this row\'s time ÷ the best tapegrad backend\'s (s/epoch; for matmul, tapegrad GFLOP/s ÷ this row\'s): > 1 means tapegrad is faster.');
  out.push(`"acc agrees" = |test accuracy − best tapegrad backend's| ≤ the task's tolerance (${TASK_IDS.map((id) => `${id} ${TASKS[id].accuracyTolerance}`).join(', ')}).`);
  out.push('"KB alloc/step" = steady-state KB one training step allocates (JS heap + ArrayBuffer backing stores; median of up to 20 steps after training, each after a full GC and with none during it); tapegrad and the plain-JS loop only.');
  for (const id of TASK_IDS) {
    const res = taskResults[id];
    if (!res) continue;
    const task = TASKS[id];
    out.push('');
    out.push(`== ${describeTask(task)}`);
    out.push(`   ${res.plan.epochs} epochs × ${res.plan.batches}/${Math.ceil(mnist!.train.n / task.batch)} batches [${modeLabel}]; s/epoch = median of epochs 2..last; test on ${res.evalExamples} examples${opts.mode === 'full' ? '' : ' after the shortened training'}`);
    out.push(formatTaskTable(res.rows, res.rows.find((r) => r.framework === res.best) ?? null));
  }
  if (matmulResults.length) {
    out.push('');
    out.push(`== matmul C = A·B, float32, GFLOP/s = 2mkn / median seconds (≥ ${opts.mode === 'full' ? 7 : 3} reps after warm-up) [${modeLabel}]`);
    out.push(formatMatmulTables(matmulResults, all.map((f) => ({ id: f.id, label: f.label }))));
  }
  if (opResults.length) {
    out.push('');
    out.push(`== ops grid, float32, GFLOP/s = FLOPs / median seconds (conv f+b = forward, dX and dW: 3 × 2·N·O·oH·oW·C·kH·kW) [${modeLabel}]`);
    for (const r of opResults) out.push(`   ${r.case.id}: ${r.case.label}`);
    out.push(formatOpTables(opResults, all.map((f) => ({ id: f.id, label: f.label }))));
  }
  if (agreement.length) {
    out.push('');
    const verdict = agreementOk === null ? 'not judged (no accuracies)' : agreementOk ? 'PASS' : 'FAIL';
    out.push(`accuracy agreement (tapegrad best backend vs TF.js, jax-js, PyTorch and NumPy; WebGPU vs its accuracy reference; |Δ| ≤ the task's tolerance)${opts.mode === 'full' ? '' : ' — after shortened training'}: ${verdict}`);
    for (const a of agreement) out.push(`  ${a.task} ${a.peer.padEnd(16)} tapegrad ${a.tapegradAccuracy?.toFixed(4) ?? '–'}  peer ${a.peerAccuracy?.toFixed(4) ?? '–'}  ${a.agrees === null ? 'n/a' : `${a.agrees ? 'agrees' : 'DISAGREES'} (|Δ| ${Math.abs((a.peerAccuracy ?? 0) - (a.tapegradAccuracy ?? 0)).toFixed(4)} ≤ ${a.tolerance}?)`}`);
  }
  out.push('');
  out.push(`total ${((Date.now() - started) / 1000).toFixed(1)} s`);
  process.stdout.write(`${out.join('\n')}\n`);

  if (opts.json) {
    const json = {
      mode: opts.mode,
      modeLabel,
      extrapolated: opts.mode !== 'full',
      date: new Date().toISOString(),
      command: process.argv.slice(2),
      machine: { node: process.version, cpu: cpus()[0]?.model ?? null, cpuFlags: cpuFlags(), cores: cpus().length, loadAverageAtStart: Number(loadAtStart), loadAverageAtEnd: loadavg()[0] },
      tapegradBuild: tapegradBuild(),
      protocolCheck: check,
      webgpu: webgpu ? { adapter: webgpu, adapterIsSoftware: webgpu.software, marking: webgpu.software ? SOFTWARE_MARKING : null } : null,
      frameworks: all.map((f) => ({ id: f.id, label: f.label, isTapegrad: f.isTapegrad, available: !('reason' in f), details: 'reason' in f ? f.reason : f.details })),
      budgets: Object.fromEntries(Object.entries(opts.budgets).map(([k, v]) => [k, Number.isFinite(v) ? v : null])),
      tasks: Object.fromEntries(Object.entries(taskResults).map(([id, res]) => [id, {
        spec: TASKS[id as TaskId], plan: { ...res.plan, budget: Number.isFinite(res.plan.budget) ? res.plan.budget : null }, evalExamples: res.evalExamples,
        bestTapegrad: res.best, rows: res.rows,
      }])),
      matmul: matmulResults.map((r) => ({ size: r.size, label: sizeLabel(r.size), rows: r.rows })),
      ops: opResults.map((r) => ({ case: r.case, flops: opFlops(r.case), rows: r.rows })),
      accuracyAgreement: { tolerance: ACCURACY_TOLERANCE, tolerances: Object.fromEntries(TASK_IDS.map((id) => [id, TASKS[id].accuracyTolerance])), ok: agreementOk, checks: agreement },
      seconds: (Date.now() - started) / 1000,
    };
    const file = resolve(opts.json);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${JSON.stringify(json, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`);
    log(`wrote ${file}`);
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`bench: ${(error as Error).stack ?? error}\n`);
    process.exit(1);
  },
);
