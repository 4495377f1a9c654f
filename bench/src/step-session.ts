/**
 * The benchmark's own tapegrad trainer for one task, set up as the harness does (same data,
 * first epoch's order, initial weights) for the scripts that time its steps outside the
 * harness (warmup.ts, prefetch-ab.ts): `batch(s)` is step s's indices, cycling over the first
 * epoch's full batches.
 */
import { getBackend, setBackend } from '@tapegrad/core';
import { loadTapegrad } from './frameworks/tapegrad.js';
import type { Trainer } from './frameworks/types.js';
import { epochOrders, initialWeights, loadProtocolMnist, TASKS, type TaskId, type TaskSpec } from './protocol.js';

export interface StepSession {
  trainer: Trainer;
  task: TaskSpec;
  /** The backend the trainer runs on. */
  backend: string;
  /** Step s's batch: the first epoch's full batches, in order, over and over. */
  batch(s: number): Int32Array;
  /** Steps in one protocol epoch (its short last batch included). */
  stepsPerEpoch: number;
}

/** Sets `backend` ('auto': the fastest registered) and builds the trainer of its tapegrad row. */
export async function stepSession(taskId: TaskId, backend = 'auto'): Promise<StepSession> {
  const { frameworks } = await loadTapegrad();
  setBackend(backend);
  const name = getBackend().name;
  const framework = frameworks.find((f) => f.id === `tapegrad-${name}`);
  if (!framework) throw new Error(`no tapegrad row for the backend '${name}'`);
  await framework.activate();
  const task = TASKS[taskId];
  const mnist = loadProtocolMnist();
  const trainer = await framework.createTrainer(task, { train: mnist.train, eval: mnist.test }, initialWeights(task));
  const order = epochOrders(mnist.train.n, 1)[0];
  const full = Math.floor(mnist.train.n / task.batch);
  const batch = (s: number) => order.subarray((s % full) * task.batch, (s % full + 1) * task.batch);
  return { trainer, task, backend: name, batch, stepsPerEpoch: Math.ceil(mnist.train.n / task.batch) };
}
