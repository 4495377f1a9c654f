/**
 * The timing loops, identical for every framework: the harness walks the protocol's epoch
 * orders and hands each framework one batch of example indices at a time, so what differs
 * between rows is only the framework's own step (batch assembly included, as in any real loop).
 */
import { type Layer, type MatmulSize, type TaskSpec, matmulError } from './protocol.js';
import type { Framework, OpRun, TrainData } from './frameworks/types.js';
import { type OpCase, opError, opFlops } from './ops.js';
import { type Allocation, measureAllocation } from './allocation.js';

export type RowStatus = 'ok' | 'extrapolated' | 'skipped' | 'error' | 'unavailable';

export interface TaskRow {
  framework: string;
  label: string;
  isTapegrad: boolean;
  status: RowStatus;
  /** Median over epochs 2..last of the timed epochs, scaled to a full epoch when extrapolated. */
  secondsPerEpoch: number | null;
  examplesPerSecond: number | null;
  /** Test accuracy after the last epoch (null when training was not run to the end). */
  testAccuracy: number | null;
  testLoss: number | null;
  /** Wall time of each timed epoch as run (before any extrapolation). */
  epochSeconds: number[];
  epochsRun: number;
  /** Batches run per epoch, and how many a full epoch has. */
  batchesRun: number;
  batchesPerEpoch: number;
  extrapolated: boolean;
  /** This row's s/epoch ÷ the best tapegrad backend's: how many times faster tapegrad is (filled in later). */
  tapegradSpeedup: number | null;
  /** testAccuracy − the best tapegrad backend's (filled in later). */
  accuracyDelta: number | null;
  accuracyAgrees: boolean | null;
  /**
   * Steady-state bytes one training step allocates (JS heap + ArrayBuffer backing stores),
   * measured after training for the frameworks whose memory is the JS heap (tapegrad, the
   * plain-JS loop); null for the others and for rows not run. See allocation.ts.
   */
  allocation: Allocation | null;
  /**
   * For a companion row (Framework.companionOf): the row it is printed beside and this row's
   * s/epoch ÷ that row's (filled in later; null when either has no time).
   */
  companion: { of: string; kind: 'userloop' | 'engine' | 'plan'; ratio: number | null } | null;
  /** Framework.marking: "SwiftShader (CPU): correctness only" on WebGPU rows run on SwiftShader, else null. */
  marking: string | null;
  /**
   * Whose accuracy this row's is compared with: null for the fastest tapegrad backend's, a
   * framework id for a row that ran the same shortened plan (a WebGPU row on SwiftShader and
   * its CPU twin), 'none' for no comparison.
   */
  accuracyReference: string | null;
  note: string;
}

/** Steps measured for `allocation` (batches of epoch 0's order), after this many unmeasured ones. */
const ALLOCATION_STEPS = 20;
const ALLOCATION_WARMUP = 20;

export interface MatmulRow {
  framework: string;
  label: string;
  isTapegrad: boolean;
  status: RowStatus;
  gflops: number | null;
  medianSeconds: number | null;
  reps: number;
  /** Largest relative error of 64 sampled entries against float64 dot products. */
  maxRelError: number | null;
  tapegradSpeedup: number | null;
  /** The FMA peak of the cores the product ran on and GFLOP/s as a % of it, where the framework measures it. */
  peak?: { gflops: number; cores: number; percent: number };
  /** Framework.marking, where set: the GFLOP/s are right answers' times on a CPU driver, not a speed claim. */
  marking?: string;
  note: string;
}

export interface TrainPlan {
  epochs: number;
  /** Batches per epoch to run; fewer than the full count means the epoch time is extrapolated. */
  batches: number;
  /** Seconds this framework may spend on the task (Infinity: no limit). */
  budget: number;
  /** Whether a run over budget may fall back to a shortened, extrapolated one. */
  allowPartial: boolean;
  /** Why the plan is short, for the note ("quick", "tiny"). */
  label: string;
}

export type Log = (line: string) => void;

const now = () => performance.now() / 1000;

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

class OverBudget extends Error {
  constructor(readonly secondsPerBatch: number, readonly probeBatches: number, readonly estimate: number) {
    super('over budget');
  }
}

type RowSource = Pick<Framework, 'id' | 'label' | 'isTapegrad' | 'companionOf' | 'marking'>;

function emptyRow(fw: RowSource, status: RowStatus, note: string, batchesPerEpoch = 0): TaskRow {
  return {
    framework: fw.id, label: fw.label, isTapegrad: fw.isTapegrad, status, secondsPerEpoch: null, examplesPerSecond: null,
    testAccuracy: null, testLoss: null, epochSeconds: [], epochsRun: 0, batchesRun: 0, batchesPerEpoch, extrapolated: false,
    tapegradSpeedup: null, accuracyDelta: null, accuracyAgrees: null, allocation: null,
    companion: fw.companionOf ? { of: fw.companionOf.framework, kind: fw.companionOf.kind, ratio: null } : null,
    marking: fw.marking ?? null, accuracyReference: null, note,
  };
}

export function unavailableTaskRow(fw: RowSource, status: RowStatus, note: string): TaskRow {
  return emptyRow(fw, status, note);
}

/** One plan run: trains from the protocol's initial weights and times each epoch. */
async function trainOnce(
  fw: Framework, task: TaskSpec, data: TrainData, layers: Layer[], orders: Int32Array[], plan: TrainPlan, log: Log,
): Promise<{ epochSeconds: number[]; evaluation: { loss: number; accuracy: number } | null; stoppedEarly: boolean; allocation: Allocation | null; facts?: string }> {
  const n = data.train.n;
  const fullBatches = Math.ceil(n / task.batch);
  if (fw.train) {
    // the framework runs the plan in its own process (PyTorch): same plan, same probe, its own clock
    const external = await fw.train(task, data, layers, plan, log);
    if ('overBudget' in external) throw new OverBudget(external.overBudget.secondsPerBatch, external.overBudget.probeBatches, external.overBudget.estimate);
    external.epochSeconds.forEach((s, e) => log(`  ${task.id} ${fw.id}: epoch ${e + 1}/${plan.epochs} ${s.toFixed(3)} s${plan.batches < fullBatches ? ` (${plan.batches}/${fullBatches} batches)` : ''}`));
    const evaluation = external.stoppedEarly || plan.label === 'over budget' ? null : external.evaluation;
    return { epochSeconds: external.epochSeconds, evaluation, stoppedEarly: external.stoppedEarly, allocation: null, facts: external.facts };
  }
  const trainer = await fw.createTrainer(task, data, layers);
  try {
    const epochSeconds: number[] = [];
    const totalBatches = plan.epochs * plan.batches;
    const started = now();
    let stoppedEarly = false;
    for (let e = 0; e < plan.epochs; e++) {
      const order = orders[e];
      const t0 = now();
      let firstBatch = 0;
      for (let b = 0; b < plan.batches; b++) {
        const start = b * task.batch;
        // the next batch too: this epoch's next, or the next epoch's first
        const next = b + 1 < plan.batches ? order.subarray(start + task.batch, Math.min(start + 2 * task.batch, n))
          : e + 1 < plan.epochs ? orders[e + 1].subarray(0, Math.min(task.batch, n)) : undefined;
        const pending = trainer.step(order.subarray(start, Math.min(start + task.batch, n)), next);
        if (pending) await pending;
        if (e === 0 && Number.isFinite(plan.budget)) {
          // the probe: estimate the whole plan from the first batches and stop early when it cannot fit
          const elapsed = now() - t0;
          if (b === 0) firstBatch = elapsed;
          const perBatch = b === 0 ? elapsed : (elapsed - firstBatch) / b;
          const estimate = elapsed + perBatch * (totalBatches - b - 1);
          if (estimate > (b === 0 ? 2 : 1) * plan.budget) throw new OverBudget(perBatch, b + 1, estimate);
        }
      }
      await trainer.sync();
      const seconds = now() - t0;
      epochSeconds.push(seconds);
      log(`  ${task.id} ${fw.id}: epoch ${e + 1}/${plan.epochs} ${seconds.toFixed(3)} s${plan.batches < fullBatches ? ` (${plan.batches}/${fullBatches} batches)` : ''}`);
      const elapsed = now() - started;
      const remaining = (plan.epochs - e - 1) * median(epochSeconds.length > 1 ? epochSeconds.slice(1) : epochSeconds);
      if (Number.isFinite(plan.budget) && e + 1 < plan.epochs && elapsed + remaining > 1.25 * plan.budget && epochSeconds.length >= 2) {
        stoppedEarly = true;
        break;
      }
    }
    // a run shortened by the budget trained on a different number of batches than its peers: its accuracy compares with nothing
    const evaluation = stoppedEarly || plan.label === 'over budget' ? null : await trainer.evaluate();
    // after the clock and the evaluation: the extra steps change nothing reported
    let allocation: Allocation | null = null;
    if (fw.isTapegrad || fw.id === 'plain-js') {
      const batches = Array.from({ length: Math.min(ALLOCATION_STEPS, fullBatches) }, (_, b) =>
        orders[0].subarray(b * task.batch, Math.min((b + 1) * task.batch, n)));
      allocation = await measureAllocation((indices) => trainer.step(indices), batches, ALLOCATION_WARMUP);
      if (allocation) log(`  ${task.id} ${fw.id}: ${(allocation.bytesPerStep / 1024).toFixed(1)} KB allocated/step (JS heap ${(allocation.jsHeapBytes / 1024).toFixed(1)} KB + ArrayBuffers ${(allocation.arrayBufferBytes / 1024).toFixed(1)} KB; median of ${allocation.steps} steps, ${allocation.stepsWithGc} dropped for a GC)`);
    }
    return { epochSeconds, evaluation, stoppedEarly, allocation };
  } finally {
    trainer.dispose();
  }
}

/** A task on one framework, within its budget: the full plan, else a shortened extrapolated one, else a "skipped (budget)" row. */
export async function runTask(
  fw: Framework, task: TaskSpec, data: TrainData, layers: Layer[], orders: Int32Array[], plan: TrainPlan, log: Log,
): Promise<TaskRow> {
  const fullBatches = Math.ceil(data.train.n / task.batch);
  await fw.activate();
  let current = plan;
  let note = plan.batches < fullBatches ? `${plan.label}: ${plan.batches}/${fullBatches} batches × ${plan.epochs} epochs, extrapolated` : '';
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const { epochSeconds, evaluation, stoppedEarly, allocation, facts } = await trainOnce(fw, task, data, layers, orders, current, log);
      const timed = epochSeconds.length > 1 ? epochSeconds.slice(1) : epochSeconds;
      const examplesRun = Math.min(current.batches * task.batch, data.train.n);
      const scale = data.train.n / examplesRun;
      const secondsPerEpoch = median(timed) * scale;
      const row = emptyRow(fw, current.batches < fullBatches || stoppedEarly ? 'extrapolated' : 'ok', note, fullBatches);
      row.secondsPerEpoch = secondsPerEpoch;
      row.examplesPerSecond = data.train.n / secondsPerEpoch;
      row.epochSeconds = epochSeconds;
      row.allocation = allocation;
      row.epochsRun = epochSeconds.length;
      row.batchesRun = current.batches;
      row.extrapolated = current.batches < fullBatches;
      if (facts) row.note = `${facts}${row.note ? '; ' : ''}${row.note}`;
      if (epochSeconds.length < 2) row.note = `${row.note}${row.note ? '; ' : ''}only one epoch timed: it includes warm-up`;
      if (stoppedEarly) row.note = `${row.note}${row.note ? '; ' : ''}stopped after ${epochSeconds.length}/${current.epochs} epochs (budget ${current.budget} s): accuracy not run to the end`;
      if (evaluation) {
        row.testAccuracy = evaluation.accuracy;
        row.testLoss = evaluation.loss;
      }
      return row;
    } catch (error) {
      if (!(error instanceof OverBudget)) {
        log(`  ${task.id} ${fw.id}: error: ${(error as Error).stack ?? error}`);
        return emptyRow(fw, 'error', `error: ${(error as Error).message}`, fullBatches);
      }
      const perEpoch = error.secondsPerBatch * fullBatches;
      const probe = `${error.probeBatches} probe batch${error.probeBatches > 1 ? 'es' : ''}: ≈ ${error.secondsPerBatch.toFixed(2)} s/batch, ≈ ${perEpoch.toFixed(1)} s/epoch, plan ≈ ${error.estimate.toFixed(0)} s > budget ${current.budget} s`;
      log(`  ${task.id} ${fw.id}: over budget (${probe})`);
      const epochs = Math.min(current.epochs, 3);
      const batches = Math.min(current.batches - 1, Math.floor((0.5 * current.budget) / (error.secondsPerBatch * epochs)));
      if (attempt > 0 || !current.allowPartial || batches < 2) {
        const row = emptyRow(fw, 'skipped', `skipped (budget): ${probe}`, fullBatches);
        return row;
      }
      current = { ...current, epochs, batches, label: 'over budget' };
      note = `over budget (${probe}); timed ${batches}/${fullBatches} batches × ${epochs} epochs instead, extrapolated; accuracy not run to the end`;
    }
  }
  throw new Error('unreachable');
}

export interface MatmulPlan {
  minReps: number;
  /** Keep repeating until the timed reps add up to this many seconds (more reps for small sizes). */
  minSeconds: number;
  /** Warm up for at least this long (V8 tiers wasm and JS up while it runs). */
  warmupSeconds: number;
  /** Seconds one framework may spend on one size. */
  budget: number;
}

/** The median seconds of at least `minReps` timed calls after a warm-up, or why the budget refused it. */
async function timeCalls(run: () => void | Promise<void>, plan: MatmulPlan, flop: number): Promise<{ seconds: number; reps: number; warmupCalls: number } | { skipped: string }> {
  let warm = 0;
  let calls = 0;
  let first = 0;
  while (calls === 0 || (warm < plan.warmupSeconds && calls < 50)) {
    const t0 = now();
    await run();
    const dt = now() - t0;
    if (calls === 0) first = dt;
    warm += dt;
    calls++;
    if (first * plan.minReps > plan.budget) {
      return { skipped: `skipped (budget): the first call (jit compilation included, where the framework compiles) took ${first.toFixed(2)} s, ${plan.minReps} reps > budget ${plan.budget} s` };
    }
  }
  const times: number[] = [];
  let total = 0;
  while (times.length < plan.minReps || (total < plan.minSeconds && times.length < 1000)) {
    const t0 = now();
    await run();
    const dt = now() - t0;
    times.push(dt);
    total += dt;
  }
  return { seconds: median(times), reps: times.length, warmupCalls: calls };
}

/** GFLOP/s of C = A·B: warm-up, then the median of at least `minReps` timed calls. */
export async function runMatmul(
  fw: Framework, size: MatmulSize, a: Float32Array, b: Float32Array, plan: MatmulPlan, predictedSeconds: number | null, log: Log,
): Promise<MatmulRow> {
  const row: MatmulRow = {
    framework: fw.id, label: fw.label, isTapegrad: fw.isTapegrad, status: 'ok', gflops: null, medianSeconds: null, reps: 0,
    maxRelError: null, tapegradSpeedup: null, ...(fw.marking ? { marking: fw.marking } : {}), note: '',
  };
  const flop = 2 * size.m * size.k * size.n;
  if (predictedSeconds !== null && predictedSeconds * (plan.minReps + 1) > plan.budget) {
    row.status = 'skipped';
    row.note = `skipped (budget): ≈ ${predictedSeconds.toFixed(2)} s a call at its smaller-size speed, ${plan.minReps + 1} calls > budget ${plan.budget} s`;
    return row;
  }
  await fw.activate();
  if (!fw.matmul) throw new Error(`${fw.id} has no matmul row`);
  const run = await fw.matmul(size, a, b);
  try {
    const timed = await timeCalls(() => run.run(), plan, flop);
    if ('skipped' in timed) {
      row.status = 'skipped';
      row.note = timed.skipped;
      return row;
    }
    const calls = run.callsPerRun ?? 1;
    row.medianSeconds = timed.seconds / calls;
    if (calls > 1) row.note = `${calls} products enqueued per timed call, then one wait for the device`;
    row.gflops = flop / row.medianSeconds / 1e9;
    row.reps = timed.reps;
    row.maxRelError = matmulError(size, a, b, await run.result());
    if (row.maxRelError > 1e-4) {
      row.status = 'error';
      row.note = `wrong product: relative error ${row.maxRelError.toExponential(2)}`;
    }
    log(`  matmul ${size.m}×${size.k}×${size.n} ${fw.id}: ${row.gflops.toFixed(2)} GFLOP/s (median of ${timed.reps}, warm-up ${timed.warmupCalls} calls)`);
    return row;
  } catch (error) {
    log(`  matmul ${fw.id}: error: ${(error as Error).stack ?? error}`);
    row.status = 'error';
    row.note = `error: ${(error as Error).message}`;
    return row;
  } finally {
    run.dispose();
  }
}

function elementsText(n: number): string {
  if (n < 1e3) return `${Math.round(n)}`;
  if (n < 1e6) return `${(n / 1e3).toPrecision(3)} k`;
  return `${(n / 1e6).toPrecision(3)} M`;
}

/**
 * The row's note on which kernels ran in js, per evaluation: "js kernels: gather ×64 (0.3 M
 * elements, 80 %), …" (the share is of the js kernels' elements), largest first; "all
 * kernels native" (or wasm) when none did; the js backend says so.
 */
export function jsKernelNote(backend: string, report: Record<string, { calls: number; elements: number }>, evaluations: number): string {
  if (backend === 'js') return 'all kernels js (the js backend)';
  const entries = Object.entries(report).sort((a, b) => b[1].elements - a[1].elements);
  if (entries.length === 0) return `all kernels ${backend}`;
  const total = entries.reduce((s, [, c]) => s + c.elements, 0);
  const per = (x: number) => x / Math.max(1, evaluations);
  const calls = (x: number) => (Number.isInteger(per(x)) ? `${per(x)}` : per(x).toFixed(1));
  return `js kernels (per evaluation): ${entries.map(([name, c]) =>
    `${name} ×${calls(c.calls)} (${elementsText(per(c.elements))} elements, ${total > 0 ? Math.round((100 * c.elements) / total) : 0} %)`).join(', ')}`;
}

/**
 * GFLOP/s of one case of the ops grid (ops.ts), checked against the float64 reference:
 * an error above 1e-3 of the output's scale marks the row wrong. Rows share MatmulRow's shape;
 * null for a framework with no ops-grid implementation (the plain-JS loop).
 */
export async function runOp(
  fw: Framework, c: OpCase, operands: Float32Array[], reference: readonly ArrayLike<number>[], plan: MatmulPlan, log: Log,
): Promise<MatmulRow | null> {
  const row: MatmulRow = {
    framework: fw.id, label: fw.label, isTapegrad: fw.isTapegrad, status: 'ok', gflops: null, medianSeconds: null, reps: 0,
    maxRelError: null, tapegradSpeedup: null, note: '',
  };
  if (!fw.op) return null;
  const flop = opFlops(c);
  await fw.activate();
  let run: OpRun | string;
  try {
    run = await fw.op(c, operands);
  } catch (error) {
    row.status = 'error';
    row.note = `error: ${(error as Error).message.split('\n')[0]}`;
    return row;
  }
  if (typeof run === 'string') {
    row.status = 'unavailable';
    row.note = run;
    return row;
  }
  const op = run;
  try {
    // count the evaluations, so the js kernels are reported per evaluation
    let evaluations = 0;
    op.jsKernels?.reset();
    const timed = await timeCalls(() => {
      evaluations++;
      return op.run();
    }, plan, flop);
    if ('skipped' in timed) {
      row.status = 'skipped';
      row.note = timed.skipped;
      return row;
    }
    row.medianSeconds = timed.seconds;
    row.gflops = flop / timed.seconds / 1e9;
    row.reps = timed.reps;
    if (op.jsKernels) row.note = jsKernelNote(op.jsKernels.backend, op.jsKernels.report(), evaluations);
    row.maxRelError = opError(await op.result(), reference);
    if (!(row.maxRelError <= 1e-3)) {
      row.status = 'error';
      row.note = `wrong result: error ${row.maxRelError.toExponential(2)} of the output's scale${row.note ? `; ${row.note}` : ''}`;
    }
    log(`  ${c.id} ${fw.id}: ${row.gflops.toFixed(2)} GFLOP/s (median of ${timed.reps}, warm-up ${timed.warmupCalls} calls, error ${row.maxRelError.toExponential(1)})`);
    return row;
  } catch (error) {
    const message = (error as Error).message ?? String(error);
    if (/not registered for backend/.test(message)) {
      // the framework lacks the kernel (TF.js wasm has no Conv2DBackpropFilter): not a wrong result
      row.status = 'unavailable';
      row.note = message.split('\n')[0];
      return row;
    }
    log(`  ${c.id} ${fw.id}: error: ${(error as Error).stack ?? error}`);
    row.status = 'error';
    row.note = `error: ${(error as Error).message.split('\n')[0]}`;
    return row;
  } finally {
    op.dispose();
  }
}
