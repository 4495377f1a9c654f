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
/** Recorders below this index were pushed before the innermost noGrad and are muted. */
let barrier = 0;
let noGradDepth = 0;

/** The recorders that hear ops applied now: those started inside the innermost noGrad. */
export function activeRecorders(): readonly Recorder[] {
  return barrier === 0 ? active : active.slice(barrier);
}

/** Whether any recorder hears ops applied now; activeRecorders().length > 0 without the copy. */
export function hasActiveRecorders(): boolean {
  return active.length > barrier;
}

/** Hands a node to every recorder that hears ops applied now (no array copied per op). */
export function notifyRecorders(node: Node): void {
  for (let i = barrier; i < active.length; i++) active[i].add(node);
}

/** False inside noGrad (unless a tape started recording inside it). */
export function isGradEnabled(): boolean {
  return noGradDepth === 0;
}

/**
 * A tape's recording scope. It turns gradients back on inside an enclosing noGrad, so a
 * function that takes gradients internally (an optimiser's line search, gradcheck's
 * second-order check) works wherever it is called.
 */
export function withRecorder<T>(recorder: Recorder, fn: () => T): T {
  const savedDepth = noGradDepth;
  noGradDepth = 0;
  active.push(recorder);
  try {
    return fn();
  } finally {
    const index = active.lastIndexOf(recorder);
    if (index >= 0) active.splice(index, 1);
    noGradDepth = savedDepth;
  }
}

export function isRecording(recorder: Recorder): boolean {
  return active.includes(recorder);
}

/** Runs fn with recording off: nothing inside it is differentiated (parameter updates, metrics). */
export function noGrad<T>(fn: () => T): T {
  const savedBarrier = barrier;
  barrier = active.length;
  noGradDepth++;
  try {
    return fn();
  } finally {
    noGradDepth--;
    barrier = savedBarrier;
  }
}
