/**
 * The benchmark's own tapegrad trainer for one task, set up as the harness does (same data,
 * first epoch's order, initial weights) for the scripts that time its steps outside the
 * harness (warmup.ts, prefetch-ab.ts): `batch(s)` is step s's indices in the protocol's
 * sequence, epoch after epoch.
 */
import { type Backend, getBackend, registerBackend, setBackend } from '@tapegrad/core';
import { loadTapegrad } from './frameworks/tapegrad.js';
import { UserLoopTrainer } from './frameworks/tapegrad-loops.js';
import type { Trainer } from './frameworks/types.js';
import { initialWeights, loadProtocolMnist, protocolBatches, TASKS, type TaskId, type TaskSpec } from './protocol.js';

export interface StepSession {
  trainer: Trainer;
  task: TaskSpec;
  /** The backend the trainer runs on. */
  backend: string;
  /** Step s's batch: the protocol's sequence, epoch after epoch (protocolBatches). */
  batch(s: number): Int32Array;
  /** Steps in one protocol epoch (its short last batch included). */
  stepsPerEpoch: number;
}

/**
 * Sets `backend` ('auto': the fastest registered) and builds the trainer of its tapegrad row,
 * or with `loop` 'userloop' the user loop's trainer (frameworks/tapegrad-loops.ts) instead.
 */
export async function stepSession(taskId: TaskId, backend = 'auto', loop: 'fit' | 'userloop' = 'fit'): Promise<StepSession> {
  const { frameworks } = await loadTapegrad();
  setBackend(backend);
  const name = getBackend().name;
  const framework = frameworks.find((f) => f.id === `tapegrad-${name}`);
  if (!framework) throw new Error(`no tapegrad row for the backend '${name}'`);
  await framework.activate();
  const task = TASKS[taskId];
  const mnist = loadProtocolMnist();
  const data = { train: mnist.train, eval: mnist.test };
  const trainer = loop === 'userloop' ? new UserLoopTrainer(task, data, initialWeights(task)) : await framework.createTrainer(task, data, initialWeights(task));
  const batch = protocolBatches(mnist.train.n, task.batch);
  return { trainer, task, backend: name, batch, stepsPerEpoch: Math.ceil(mnist.train.n / task.batch) };
}

type Kernel = (...args: unknown[]) => unknown;

/**
 * Registers and selects a copy of `inner`, named `${inner.name}-${suffix}`, whose every kernel is
 * `around(name, kernel)` with `kernel` inner's own bound to it: how kernel-times.ts times each
 * call (and the replay probe, since replaced by core's StepReplay, recorded them).
 */
export function useWrappedKernels(inner: Backend, suffix: string, around: (name: string, kernel: Kernel) => Kernel): void {
  const wrapped: Record<string, unknown> = { ...inner, name: `${inner.name}-${suffix}` };
  for (const [name, fn] of Object.entries(inner)) if (typeof fn === 'function') wrapped[name] = around(name, (fn as Kernel).bind(inner));
  registerBackend(wrapped as unknown as Backend);
  setBackend(`${inner.name}-${suffix}`);
}
