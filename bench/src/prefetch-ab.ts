/**
 * What gathering the next batch ahead buys (core's columnSampler.prefetch, on the native
 * backend's worker thread): the benchmark's own tapegrad trainer steps in one process, in
 * blocks alternately given the next batch's indices (the trainer prefetches it) and not
 * (the batch is gathered in js at take), the order flipping every round, so other processes'
 * load falls on both alike. Prints the median µs/step of each and the median per-round ratio.
 *
 *   npx tsx bench/src/prefetch-ab.ts --task T3 --rounds 60 --block 200
 *   npx tsx bench/src/prefetch-ab.ts --task T1 --rounds 16 --block 125   # one epoch per block
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { TASK_IDS, TASKS, type TaskId } from './protocol.js';
import { stepSession } from './step-session.js';

const { values } = parseArgs({ options: { task: { type: 'string', default: 'T1' }, rounds: { type: 'string', default: '40' }, block: { type: 'string' }, backend: { type: 'string', default: 'native' } } });
const taskId = values.task as TaskId;
if (!TASK_IDS.includes(taskId) || TASKS[taskId].conv) throw new Error('--task must be T1, T2 or T3');
const rounds = Number(values.rounds);
const block = Number(values.block ?? (taskId === 'T3' ? 200 : 50));
const { trainer, batch } = await stepSession(taskId, values.backend!);
let step = 0;
const run = (ahead: boolean): number => {
  const started = performance.now();
  for (let i = 0; i < block; i++, step++) trainer.step(batch(step), ahead ? batch(step + 1) : undefined);
  return ((performance.now() - started) * 1000) / block;
};
for (let i = 0; i < 5; i++) { run(true); run(false); } // warm-up: V8 tiers the code up
const load = loadavg()[0];
const ahead: number[] = [], plain: number[] = [], ratios: number[] = [];
for (let r = 0; r < rounds; r++) {
  const [first, second] = r % 2 ? [true, false] : [false, true];
  const times = { [String(first)]: run(first), [String(second)]: run(second) };
  ahead.push(times.true);
  plain.push(times.false);
  ratios.push(times.false / times.true);
}
trainer.dispose();
const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[xs.length >> 1];
console.log(`${taskId} on ${values.backend}, ${rounds} rounds of ${block} steps each way: next batch prefetched ${median(ahead).toFixed(1)} µs/step, gathered at take ${median(plain).toFixed(1)}; per-round (at take ÷ prefetched) median ${median(ratios).toFixed(3)}; load average ${load.toFixed(1)} → ${loadavg()[0].toFixed(1)}`);
