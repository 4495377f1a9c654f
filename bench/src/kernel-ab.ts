/**
 * What one optional backend kernel buys a training step: the benchmark's own tapegrad trainer
 * steps in one process, in blocks alternately on the backend as it is and on a copy of it
 * without that kernel (core then does the work its own way, e.g. columnSampler's js gather),
 * the order flipping every round, so other processes' load falls on both alike. Prints the
 * median µs/step of each and the median per-round ratio (> 1: the kernel helps).
 *
 *   npx tsx bench/src/kernel-ab.ts --task T3 --without gatherColumns --rounds 40 --block 200
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { getBackend, registerBackend, setBackend } from '@tapegrad/core';
import { TASK_IDS, TASKS, type TaskId } from './protocol.js';
import { stepSession } from './step-session.js';

const { values } = parseArgs({ options: { task: { type: 'string', default: 'T3' }, without: { type: 'string', default: 'gatherColumns' }, rounds: { type: 'string', default: '40' }, block: { type: 'string' }, backend: { type: 'string', default: 'native' } } });
const taskId = values.task as TaskId;
if (!TASK_IDS.includes(taskId) || TASKS[taskId].conv) throw new Error('--task must be T1, T2 or T3');
const rounds = Number(values.rounds);
const block = Number(values.block ?? (taskId === 'T3' ? 200 : 50));
const { trainer, batch } = await stepSession(taskId, values.backend!);
const withKernel = getBackend();
const kernel = values.without!;
if (typeof (withKernel as unknown as Record<string, unknown>)[kernel] !== 'function') throw new Error(`the ${withKernel.name} backend has no kernel '${kernel}'`);
registerBackend({ ...withKernel, name: `${withKernel.name}-without-${kernel}`, [kernel]: undefined });
let step = 0;
const run = (withIt: boolean): number => {
  setBackend(withIt ? withKernel.name : `${withKernel.name}-without-${kernel}`);
  const started = performance.now();
  for (let i = 0; i < block; i++, step++) trainer.step(batch(step), batch(step + 1));
  return ((performance.now() - started) * 1000) / block;
};
for (let i = 0; i < 5; i++) { run(true); run(false); } // warm-up: V8 tiers the code up
const load = loadavg()[0];
const on: number[] = [], off: number[] = [], ratios: number[] = [];
for (let r = 0; r < rounds; r++) {
  const first = r % 2 === 0;
  const a = run(first), b = run(!first);
  const [withIt, without] = first ? [a, b] : [b, a];
  on.push(withIt);
  off.push(without);
  ratios.push(without / withIt);
}
trainer.dispose();
const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[xs.length >> 1];
console.log(`${taskId} on ${withKernel.name}, ${rounds} rounds of ${block} steps each way: with ${kernel} ${median(on).toFixed(1)} µs/step, without ${median(off).toFixed(1)}; per-round (without ÷ with) median ${median(ratios).toFixed(3)}; load average ${load.toFixed(1)} → ${loadavg()[0].toFixed(1)}`);
