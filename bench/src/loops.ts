/**
 * fit's step against the user loop's and nn's BP1–BP4 engine's (frameworks/tapegrad-loops.ts),
 * interleaved in one process, so that load from other processes falls on all three alike:
 * each round runs `--steps` steps of each trainer in turn (the order rotating from round to
 * round), on the same batches, and the ratios are taken round by round. Prints each trainer's
 * median and 10th-percentile µs/step, and the medians of the per-round ratios user loop ÷ fit
 * and fit (the tape's step) ÷ engine — issue 13's targets (≤ 1.15 and ≤ 1.1) — each against
 * fit as it runs (its step replayed) and with its replay off.
 *
 *   npx tsx bench/src/loops.ts                          # T1 and T3 on the fastest backend
 *   npx tsx bench/src/loops.ts --tasks T1 --rounds 400 --backend wasm
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { type StepReplay, getBackend, setBackend } from '@tapegrad/core';
import { loadTapegrad } from './frameworks/tapegrad.js';
import type { Trainer } from './frameworks/types.js';
import { UserLoopTrainer } from './frameworks/tapegrad-loops.js';
import { TASKS, type TaskId, initialWeights, loadProtocolMnist, protocolBatches } from './protocol.js';

/**
 * 'fit' replays its step as nn's fit does (after its first four steps); 'fit-ordinary' is
 * the same trainer with the replay off — every step through the ops, the tape and the pool;
 * 'userloop+tidy': the user loop's step inside tidy — the control that shows what its fresh
 * buffers cost.
 */
const KINDS = ['fit', 'fit-ordinary', 'userloop', 'engine', 'userloop+tidy'] as const;
type Kind = (typeof KINDS)[number];

function quantile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { tasks: { type: 'string', default: 'T1,T3' }, rounds: { type: 'string', default: '300' }, steps: { type: 'string' }, backend: { type: 'string' } },
  });
  const { frameworks } = await loadTapegrad();
  setBackend(values.backend ?? 'auto');
  const backend = getBackend().name;
  const mnist = loadProtocolMnist();
  const rounds = Number(values.rounds);
  console.log(`fit vs user loop vs engine on ${backend}, interleaved, ${rounds} rounds; load average ${loadavg()[0].toFixed(1)} at start`);
  for (const id of values.tasks!.split(',') as TaskId[]) {
    const task = TASKS[id];
    const steps = Number(values.steps ?? (id === 'T3' ? 16 : 4));
    const trainers = {} as Record<Kind, Trainer>;
    for (const kind of KINDS) {
      if (kind === 'userloop+tidy') {
        trainers[kind] = new UserLoopTrainer(task, { train: mnist.train, eval: mnist.test }, initialWeights(task), true);
        continue;
      }
      const fw = kind === 'fit' || kind === 'fit-ordinary'
        ? frameworks.find((f) => f.id === `tapegrad-${backend}`)
        : frameworks.find((f) => f.id === `tapegrad-${kind}` && f.companionOf?.framework === `tapegrad-${backend}`);
      if (!fw) throw new Error(`no ${kind} row on ${backend}`);
      await fw.activate();
      trainers[kind] = await fw.createTrainer(task, { train: mnist.train, eval: mnist.test }, initialWeights(task));
      if (kind === 'fit-ordinary') (trainers[kind] as Trainer & { replay: StepReplay }).replay.disable('loops.ts: fit with its replay off');
    }
    // every trainer gets the protocol's sequence, epoch after epoch, as in the harness
    const batch = protocolBatches(mnist.train.n, task.batch);
    let cursor = 0;
    const times: Record<Kind, number[]> = { fit: [], 'fit-ordinary': [], userloop: [], engine: [], 'userloop+tidy': [] };
    // CPU time of the process (its threads: GC helpers, the native backend's second thread): on a
    // loaded machine steadier than the wall clock, which also counts time spent descheduled
    const cpuTimes: Record<Kind, number[]> = { fit: [], 'fit-ordinary': [], userloop: [], engine: [], 'userloop+tidy': [] };
    const runSteps = (trainer: Trainer, from: number) => {
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      for (let s = from; s < from + steps; s++) trainer.step(batch(s), batch(s + 1));
      const cpu = process.cpuUsage(c0);
      return { wall: ((performance.now() - t0) * 1000) / steps, cpu: (cpu.user + cpu.system) / steps };
    };
    for (let r = -20; r < rounds; r++) { // 20 rounds of warm-up
      for (let k = 0; k < KINDS.length; k++) {
        const kind = KINDS[((((r % KINDS.length) + KINDS.length) % KINDS.length) + k) % KINDS.length];
        const { wall, cpu } = runSteps(trainers[kind], cursor);
        if (r >= 0) {
          times[kind].push(wall);
          cpuTimes[kind].push(cpu);
        }
      }
      cursor += steps;
    }
    const ratio = (a: Kind, b: Kind) => quantile(times[a].map((t, i) => t / times[b][i]), 0.5);
    const cpuRatio = (a: Kind, b: Kind) => quantile(cpuTimes[a], 0.5) / quantile(cpuTimes[b], 0.5);
    console.log(`${id}: ${steps} steps per trainer per round`);
    for (const kind of KINDS) {
      console.log(`  ${kind.padEnd(14)} wall: median ${quantile(times[kind], 0.5).toFixed(0).padStart(6)} µs/step, p10 ${quantile(times[kind], 0.1).toFixed(0).padStart(6)};  CPU: median ${quantile(cpuTimes[kind], 0.5).toFixed(0).padStart(6)} µs/step`);
    }
    const line = (what: string, a: Kind, b: Kind, target: number) =>
      console.log(`  ${what}: median of per-round ratios ${ratio(a, b).toFixed(3)}, ratio of p10s ${(quantile(times[a], 0.1) / quantile(times[b], 0.1)).toFixed(3)}, ratio of CPU medians ${cpuRatio(a, b).toFixed(3)}   (target ≤ ${target})`);
    line('user loop ÷ fit', 'userloop', 'fit', 1.15);
    line('user loop ÷ fit without its replay', 'userloop', 'fit-ordinary', 1.15);
    line('tape (fit) ÷ engine', 'fit', 'engine', 1.1);
    line('tape (fit without its replay) ÷ engine', 'fit-ordinary', 'engine', 1.1);
    line('user loop in tidy ÷ fit (control)', 'userloop+tidy', 'fit', 1.15);
    for (const kind of KINDS) trainers[kind].dispose();
  }
  console.log(`load average ${loadavg()[0].toFixed(1)} at end`);
}

main().catch((error: unknown) => {
  console.error(`loops: ${error instanceof Error ? error.stack : String(error)}`);
  process.exit(1);
});
