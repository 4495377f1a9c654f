/**
 * What a replayed training step would cost: records one step of the benchmark's own tapegrad
 * trainer (the fit-style step: tidy, tape, SGD in place) — every call of its backend's kernels,
 * and the CPU copies core makes itself (reshape's, through TypedArray.prototype.set) — then
 * makes the same calls with the same arguments, the same buffers and the same batch, step after
 * step, with none of the op, tape and pool plumbing around them, and times blocks of steps from
 * the first. That is how fast a step replay (a trace recorded once and replayed, as jax.jit or
 * CUDA graphs do) could run from the first steps, where the protocol's timed epochs fall in
 * V8's warm-up of that plumbing (README: "… where the targets stand").
 *
 * Then the check that replaying is training: as many ordinary steps on that one recorded batch,
 * from the same initial weights, must end at the same test loss and accuracy, bit for bit.
 * (Without the copies the losses differ in the seventh digit: a replay must capture every
 * write of a step, not only the backend's.)
 *
 *   npx tsx bench/src/replay-probe.ts [--task T1|T2|T3|T4] [--blocks 8] [--steps 125]
 *
 * A probe, not a feature: it replays one batch over and over and knows nothing of what a real
 * replay must handle (each step's batch indices, an epoch's first and short last batches,
 * scalars that change from step to step such as Adam's bias correction, the buffers the pool
 * may hand to other code between steps, zeroed buffers, values read on the CPU).
 */
import { parseArgs } from 'node:util';
import { getBackend } from '@tapegrad/core';
import { TASK_IDS, type TaskId } from './protocol.js';
import { stepSession, useWrappedKernels } from './step-session.js';

const { values } = parseArgs({ options: { task: { type: 'string', default: 'T1' }, blocks: { type: 'string', default: '8' }, steps: { type: 'string', default: '125' } } });
const taskId = values.task as TaskId;
if (!TASK_IDS.includes(taskId)) throw new Error(`--task must be one of ${TASK_IDS.join(', ')}`);
const blocks = Number(values.blocks), perBlock = Number(values.steps);
if (!Number.isInteger(blocks) || blocks < 1 || !Number.isInteger(perBlock) || perBlock < 1) throw new Error('--blocks and --steps must be positive integers');

type Call = { kernel: (...a: unknown[]) => unknown; args: unknown[] };

/** A session whose backend can record the kernel calls of the steps it is told to. */
async function recordingSession() {
  const session = await stepSession(taskId, 'native');
  const inner = getBackend();
  const calls: Call[] = [];
  let recording = false;
  useWrappedKernels(inner, 'recorded', (_name, kernel) => (...args) => {
    if (recording) calls.push({ kernel, args });
    return kernel(...args);
  });
  // the CPU copies core makes itself (reshape's, through TypedArray.prototype.set): not
  // backend calls, but part of the step all the same
  const set = Float32Array.prototype.set;
  const record = (indices: Int32Array) => {
    recording = true;
    Float32Array.prototype.set = function (this: Float32Array, source: ArrayLike<number>, offset?: number) {
      calls.push({ kernel: (s: unknown, o: unknown) => set.call(this, s as ArrayLike<number>, o as number), args: [source, offset] });
      return set.call(this, source, offset);
    };
    try {
      session.trainer.step(indices, indices);
    } finally {
      Float32Array.prototype.set = set;
      recording = false;
    }
  };
  return { ...session, calls, record };
}

/** The recorded calls once more; a prefetch's wait (what gatherColumnsAsync returns) is called at once. */
function replay(calls: Call[]): void {
  for (let c = 0; c < calls.length; c++) {
    const result = calls[c].kernel(...calls[c].args);
    if (typeof result === 'function') (result as () => void)();
  }
}

const replayed = await recordingSession();
const { batch } = replayed;
const one = batch(1);
replayed.trainer.step(batch(0), one); // step 0: batch 1 is prefetched, as every later step's is
replayed.record(one);
const rows: number[] = [];
for (let b = 0; b < blocks; b++) {
  const started = performance.now();
  for (let i = 0; i < perBlock; i++) replay(replayed.calls);
  rows.push(((performance.now() - started) * 1000) / perBlock);
}
console.log(`${taskId}: ${replayed.calls.length} calls a step (kernels and copies); replayed, µs/step in blocks of ${perBlock} from the first: ${rows.map((r) => r.toFixed(0)).join(' ')}`);

// the same training without the replay: steps 0 and 1 as above, then the recorded batch again
const ordinary = await stepSession(taskId, 'native');
ordinary.trainer.step(batch(0), one);
ordinary.trainer.step(one, one);
const normalRows: number[] = [];
for (let b = 0; b < blocks; b++) {
  const started = performance.now();
  for (let i = 0; i < perBlock; i++) ordinary.trainer.step(one, one);
  normalRows.push(((performance.now() - started) * 1000) / perBlock);
}
console.log(`${taskId}: ordinary steps on the same batch, µs/step: ${normalRows.map((r) => r.toFixed(0)).join(' ')}`);
const [a, b] = [await replayed.trainer.evaluate(), await ordinary.trainer.evaluate()];
console.log(`after ${2 + blocks * perBlock} steps: test loss ${a.loss} replayed, ${b.loss} ordinary; accuracy ${a.accuracy} and ${b.accuracy}: ${a.loss === b.loss && a.accuracy === b.accuracy ? 'the same' : 'DIFFERENT'}`);
replayed.trainer.dispose();
ordinary.trainer.dispose();
