import type { Tensor } from './tensor.js';
import type { OpDef } from './op.js';

/**
 * One recorded application of an op: enough to run its vector-Jacobian product later.
 * Nodes hang off their output tensor, so a graph lives exactly as long as someone holds a
 * tensor of it; tapes only keep the set of nodes they recorded, to scope a gradient.
 */
export interface Node {
  readonly def: OpDef<unknown>;
  readonly inputs: readonly Tensor[];
  /** Each input's version when recorded: assign() after recording invalidates the VJP. */
  readonly inputVersions: readonly number[];
  readonly output: Tensor;
  readonly attrs: unknown;
}

/** Anything that wants to hear about recorded nodes: a Tape inside its record() call. */
export interface Recorder {
  add(node: Node): void;
}

const active: Recorder[] = [];
let noGradDepth = 0;

export function activeRecorders(): readonly Recorder[] {
  return noGradDepth > 0 ? [] : active;
}

export function isGradEnabled(): boolean {
  return noGradDepth === 0;
}

export function pushRecorder(recorder: Recorder): void {
  active.push(recorder);
}

export function popRecorder(recorder: Recorder): void {
  const index = active.lastIndexOf(recorder);
  if (index >= 0) active.splice(index, 1);
}

export function isRecording(recorder: Recorder): boolean {
  return active.includes(recorder);
}

/** Runs fn with recording off: nothing inside it is differentiated (parameter updates, metrics). */
export function noGrad<T>(fn: () => T): T {
  noGradDepth++;
  try {
    return fn();
  } finally {
    noGradDepth--;
  }
}
