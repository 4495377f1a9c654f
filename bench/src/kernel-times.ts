/**
 * Where a training step's time goes, kernel by kernel: the benchmark's own tapegrad trainer
 * (as warmup.ts builds it) on a copy of its backend whose every kernel call is timed, by
 * kernel and (matmul) shape or (element-wise, reductions) sub-kernel and length. Unlike the
 * sampling profiler (profile.ts), whose sampling thread competes with the native backend's
 * worker for the second core, this reads the wall time of each call on the calling thread —
 * for a split product, its share of the blocks plus any wait for the worker — so per-kernel
 * figures stay true; the step total includes the timing's own cost (two clock reads a call).
 *
 *   npx tsx bench/src/kernel-times.ts [--task T1|T2|T3] [--backend native] [--steps 2000] [--loop fit|userloop]
 *
 * The first --steps steps warm up (V8 tiers the code up), the next --steps are timed.
 */
import { parseArgs } from 'node:util';
import { getBackend } from '@tapegrad/core';
import { TASK_IDS, TASKS, type TaskId } from './protocol.js';
import { stepSession, useWrappedKernels } from './step-session.js';

const { values } = parseArgs({ options: { task: { type: 'string', default: 'T1' }, backend: { type: 'string', default: 'native' }, steps: { type: 'string', default: '2000' }, loop: { type: 'string', default: 'fit' } } });
if (values.loop !== 'fit' && values.loop !== 'userloop') throw new Error('--loop must be fit or userloop');
const taskId = values.task as TaskId;
if (!TASK_IDS.includes(taskId)) throw new Error(`--task must be one of ${TASK_IDS.join(', ')}`);
const steps = Number(values.steps);
if (!Number.isInteger(steps) || steps < 1) throw new Error('--steps must be a positive integer');

const { trainer, batch, backend } = await stepSession(taskId, values.backend, values.loop);
const timed = getBackend();
interface Entry { calls: number; ms: number; args: unknown[] }
/** Per kernel, per sub-kernel ('' for none), per size key: calls and time. Labels are built when printing. */
const totals = new Map<string, Map<string, Map<number, Entry>>>();
const lengthOf = (a: unknown): number => (ArrayBuffer.isView(a) ? (a as unknown as ArrayLike<number>).length : -1);
/** A number that tells the calls of one kernel apart: matmul's shape and layout, the others' lengths. */
function sizeKey(kernel: string, args: unknown[]): number {
  if (kernel === 'matmul') return ((((args[3] as number) * 65536 + (args[4] as number)) * 65536 + (args[5] as number)) * 4) + (args[6] ? 2 : 0) + (args[7] ? 1 : 0);
  if (kernel === 'unary') return lengthOf(args[2]);
  if (kernel === 'binary') return lengthOf(args[5]);
  if (kernel === 'reduce') return lengthOf(args[1]) * 2 ** 26 + lengthOf(args[4]);
  return 0;
}
function labelOf(kernel: string, sub: string, args: unknown[]): string {
  if (kernel === 'matmul') return `matmul ${args[3]}×${args[4]}×${args[5]}${args[6] ? ' Aᵀ' : ''}${args[7] ? ' Bᵀ' : ''}`;
  if (kernel === 'unary') return `unary ${sub} (${lengthOf(args[2])})`;
  if (kernel === 'binary') return `binary ${sub} (${lengthOf(args[5])})`;
  if (kernel === 'reduce') return `reduce ${sub} (${lengthOf(args[1])} → ${lengthOf(args[4])})`;
  return kernel;
}
/** The same timing around fn, filed under its kernel, sub-kernel and size. */
function timedCall(kernel: string, fn: (...a: unknown[]) => unknown, self: unknown): (...args: unknown[]) => unknown {
  const family = kernel === 'unary' || kernel === 'binary' || kernel === 'reduce';
  const bySub = new Map<string, Map<number, Entry>>();
  totals.set(kernel, bySub);
  return (...args: unknown[]) => {
    const started = performance.now();
    const result = fn.apply(self, args);
    const ms = performance.now() - started;
    const sub = family ? (args[0] as string) : '';
    let bySize = bySub.get(sub);
    if (bySize === undefined) bySub.set(sub, (bySize = new Map()));
    const key = sizeKey(kernel, args);
    const entry = bySize.get(key);
    if (entry === undefined) bySize.set(key, { calls: 1, ms, args });
    else {
      entry.calls++;
      entry.ms += ms;
    }
    return result;
  };
}
// what the timing itself costs a call: the wrapper around a kernel that does nothing
const nothing = timedCall('probe', () => undefined, null);
const probe = new Float32Array(4);
for (let i = 0; i < 20000; i++) nothing('add', probe, [4], probe, [4], probe, [4]);
const probeStarted = process.hrtime.bigint();
for (let i = 0; i < 100000; i++) nothing('add', probe, [4], probe, [4], probe, [4]);
const overheadUs = Number(process.hrtime.bigint() - probeStarted) / 100000 / 1000;
totals.delete('probe');
useWrappedKernels(timed, 'timed', (kernel, fn) => timedCall(kernel, fn, null));
for (let s = 0; s < steps; s++) trainer.step(batch(s), batch(s + 1));
for (const bySub of totals.values()) bySub.clear();
const started = process.hrtime.bigint();
for (let s = steps; s < 2 * steps; s++) trainer.step(batch(s), batch(s + 1));
const stepUs = Number(process.hrtime.bigint() - started) / steps / 1000;
trainer.dispose();
let kernelsUs = 0, callsPerStep = 0;
console.log(`${taskId} on ${backend}: ${stepUs.toFixed(1)} µs/step timed (${steps} steps after ${steps} of warm-up); kernel calls by total time:`);
const rows = [...totals].flatMap(([kernel, bySub]) => [...bySub].flatMap(([sub, bySize]) => [...bySize.values()].map((e) => ({ label: labelOf(kernel, sub, e.args), calls: e.calls, ms: e.ms }))));
for (const { label, calls, ms } of rows.sort((a, b) => b.ms - a.ms)) {
  const us = (ms * 1000) / steps;
  kernelsUs += us;
  callsPerStep += calls / steps;
  console.log(`${us.toFixed(2).padStart(9)} µs/step  ${(calls / steps).toFixed(2).padStart(5)} calls  ${label}`);
}
console.log(`${kernelsUs.toFixed(1).padStart(9)} µs/step in kernels; ${(stepUs - kernelsUs).toFixed(1)} µs/step elsewhere (tape, ops, tensors, the trainer), of which the timing itself ≈ ${(callsPerStep * overheadUs).toFixed(1)} (${callsPerStep.toFixed(0)} calls × ${overheadUs.toFixed(2)} µs, measured around a kernel that does nothing)`);
