/**
 * How a tapegrad training step's time settles: the bench's own trainer (the fit-style step of
 * frameworks/tapegrad.ts: same data, order, initial weights), blocks of steps timed one after
 * another from the first step on, with no evaluation in between, µs per step for each block.
 *
 *   npx tsx bench/src/warmup.ts [--task T1] [--blocks 16] [--steps 125] [--backend native]
 *
 * Why: the protocol times epochs 2..last, and T1's are steps 126–625 of its 625. V8 compiles
 * a function with TurboFan only after it has run enough (per function), and much of a step's
 * code runs once or a few times a step, so the step keeps getting faster for a few thousand
 * steps: this shows where a task's timed epochs fall on that curve.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { TASK_IDS, type TaskId } from './protocol.js';
import { stepSession } from './step-session.js';

const { values } = parseArgs({ options: { task: { type: 'string', default: 'T1' }, blocks: { type: 'string', default: '16' }, steps: { type: 'string', default: '125' }, backend: { type: 'string', default: 'auto' } } });
const taskId = values.task as TaskId;
if (!TASK_IDS.includes(taskId)) throw new Error(`--task must be one of ${TASK_IDS.join(', ')}`);
const blocks = Number(values.blocks), perBlock = Number(values.steps);
if (!Number.isInteger(blocks) || blocks < 1 || !Number.isInteger(perBlock) || perBlock < 1) throw new Error('--blocks and --steps must be positive integers');

const { trainer, batch, backend, stepsPerEpoch } = await stepSession(taskId, values.backend);
const load = loadavg()[0];
const times: string[] = [];
for (let b = 0, s = 0; b < blocks; b++) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < perBlock; i++, s++) trainer.step(batch(s), batch(s + 1));
  times.push((Number(process.hrtime.bigint() - start) / perBlock / 1000).toFixed(0));
}
trainer.dispose();
console.log(`${taskId} on ${backend}, µs/step in blocks of ${perBlock} steps (an epoch is ${stepsPerEpoch} steps; short last batches left out here), load average ${load.toFixed(2)} → ${loadavg()[0].toFixed(2)}:`);
console.log(times.join(' '));
