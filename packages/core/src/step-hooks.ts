import type { Storage } from './storage.js';

/**
 * Where core reports to a step being recorded (step-replay.ts): the CPU copies it makes
 * itself, values read or written on the CPU, random numbers drawn. A module of its own so that
 * tensor.ts, storage.ts and random.ts need not import the recorder (which imports them).
 */
export interface StepHooks {
  copy(source: Storage, target: Storage): void;
  read(op: string): void;
  write(op: string): void;
  randomDraw(): void;
}

let hooks: StepHooks | null = null;

/** @internal Installed by recordStep for the length of one recording. */
export function setStepHooks(next: StepHooks | null): void {
  hooks = next;
}

/** @internal core is about to copy `source` into `target` on the CPU (reshape, assign, detach, cast). */
export function noteCopy(source: Storage, target: Storage): void {
  if (hooks !== null) hooks.copy(source, target);
}

/** @internal A value is read on the CPU (item, data, toArray). */
export function noteCpuRead(op: string): void {
  if (hooks !== null) hooks.read(op);
}

/** @internal Values from JavaScript are written into a tensor (assign of an array of numbers). */
export function noteCpuWrite(op: string): void {
  if (hooks !== null) hooks.write(op);
}

/** @internal A seeded generator draws a number. */
export function noteRandomDraw(): void {
  if (hooks !== null) hooks.randomDraw();
}
