import type { Backend } from './backend/backend.js';
import { getBackend, swapBackend } from './backend/index.js';
import type { TypedArray } from './dtype.js';
import { ValueError } from './errors.js';
import { setStepCapture } from './memory.js';
import { sameShape } from './shape.js';
import { setStepHooks } from './step-hooks.js';
import type { Storage } from './storage.js';
import { Tensor } from './tensor.js';

/**
 * Step replay: a training step recorded once as the list of its kernel calls, then replayed
 * on the same buffers with none of the op, tape and pool machinery around it — what
 * `jax.jit` and CUDA graphs do for a step whose work is the same every time.
 *
 * Why: most of a small network's step is JavaScript (ops checking shapes, the tape walking
 * its nodes, the pool handing out buffers), which V8 optimises only after a few hundred
 * steps, because each of those functions runs a few times a step. A replay is one short
 * loop over kernel calls: fast from the first steps (bench README, "A replay, probed").
 *
 * What a recording holds:
 * - every call the step makes into the active backend (calls a kernel makes inside
 *   another are part of that one);
 * - the CPU copies core makes itself (reshape's copy, assign, detach, cast);
 * - for each buffer the step allocated, what it held when a call first used it: zeros
 *   (then the replay zeroes it again) or values written on the CPU (a lifted constant, a
 *   filled tensor: the replay writes them again).
 * The buffers the step allocates are fresh and owned by the recording: the pool never hands
 * them to anyone else, so between replays nothing else writes them.
 *
 * What makes it safe: {@link StepReplay} replays only after two consecutive recordings made
 * the same calls with the same numbers (up to renaming the step's own buffers) and one
 * replay matched an ordinary step bit for bit; a step that draws random numbers, reads a
 * value on the CPU in the middle, or runs on a device backend is never replayed.
 */

/** One recorded call: a kernel of the backend, or one of core's own CPU writes. */
interface Action {
  readonly name: string;
  /** Called as Reflect.apply(call, self, args): no arguments array made per replayed call. */
  readonly call: (...args: unknown[]) => unknown;
  readonly self: unknown;
  readonly args: unknown[];
  /** A small external array's values when the call read it (a lifted scalar). */
  readonly seen: (TypedArray | undefined)[] | null;
}

/** Small arrays made afresh each step (a lifted scalar, an optimiser's scalar) count as the same array when their values are. */
const SMALL_CONSTANT = 64;

const copyValues = (source: TypedArray, target: TypedArray): void => target.set(source);
const zeroValues = (target: TypedArray): void => {
  target.fill(0);
};

/** The recording in progress, if any. */
let active: Recorder | null = null;

class Recorder {
  readonly actions: Action[] = [];
  /** Where each segment ends (an index into actions): {@link StepRecorder.split}. */
  readonly splits: number[] = [];
  /** Buffers the step allocated: fresh, owned by the recording. */
  readonly owned = new Set<TypedArray>();
  /** The owned buffers that were asked for zeroed. */
  readonly zeroed = new Set<TypedArray>();
  /** Owned buffers already used by a call (their first contents are recorded). */
  readonly used = new Set<TypedArray>();
  /** What an owned buffer held when first used, when that was not zeros. */
  readonly constants = new Set<TypedArray>();
  /** Small external arrays as the last call left them: one that differs at its next call was rewritten by JavaScript in between. */
  readonly lastSeen = new Map<TypedArray, TypedArray>();
  refusal: string | null = null;
  paused = 0;
  depth = 0;

  constructor(readonly inputs: Map<TypedArray, number>) {}

  get listening(): boolean {
    return this.paused === 0 && this.depth === 0 && this.refusal === null;
  }

  refuse(reason: string): void {
    this.refusal ??= reason;
  }

  /** A kernel call (made through the recording backend). */
  kernel(name: string, call: (...args: unknown[]) => unknown, self: unknown, args: unknown[]): unknown {
    if (!this.listening) return Reflect.apply(call, self, args);
    this.push(name, call, self, args);
    this.depth++;
    try {
      return Reflect.apply(call, self, args);
    } finally {
      this.depth--;
      // what the call itself wrote is the step's; what changes before the next call is not.
      // A call writes memory, not arrays: every array it may have written through another
      // view (a scratch buffer and its smaller views) is forgotten too
      for (const a of args) if (ArrayBuffer.isView(a)) this.forgetOverlapping(a);
      for (const a of args) if (this.isSmallExternal(a)) this.lastSeen.set(a, a.slice());
    }
  }

  forgetOverlapping(view: ArrayBufferView): void {
    for (const seen of this.lastSeen.keys()) {
      if (seen.buffer === view.buffer && seen.byteOffset < view.byteOffset + view.byteLength && view.byteOffset < seen.byteOffset + seen.byteLength) this.lastSeen.delete(seen);
    }
  }

  isSmallExternal(a: unknown): a is TypedArray {
    return ArrayBuffer.isView(a) && (a as TypedArray).length <= SMALL_CONSTANT && !this.owned.has(a as TypedArray) && !this.inputs.has(a as TypedArray);
  }

  /** One of core's own copies, about to happen. */
  copy(source: TypedArray, target: TypedArray): void {
    if (this.listening) this.push('copy', copyValues as Action['call'], undefined, [source, target]);
    this.forgetOverlapping(target);
  }

  push(name: string, call: Action['call'], self: unknown, rawArgs: unknown[]): void {
    const args = rawArgs.map(frozenArg);
    let seen: (TypedArray | undefined)[] | null = null;
    for (let i = 0; i < args.length; i++) {
      const a = args[i];
      if (!ArrayBuffer.isView(a)) {
        if (a !== null && typeof a === 'object' && containsArray(a)) this.refuse(`the kernel '${name}' got an array nested in an argument`);
        continue;
      }
      const buffer = a as TypedArray;
      if (this.owned.has(buffer)) this.firstUse(buffer);
      else if (this.isSmallExternal(buffer)) {
        seen ??= [];
        seen[i] = buffer.slice();
        const last = this.lastSeen.get(buffer);
        if (last !== undefined && !sameBits(last, buffer)) this.refuse(`JavaScript rewrites an array between two of the step's calls (call ${this.actions.length + 1}, '${name}'): a replay would read only its last values`);
      }
    }
    this.actions.push({ name, call, self, args, seen });
  }

  /** Before a call first uses an owned buffer: the replay must put back what it holds now. */
  firstUse(buffer: TypedArray): void {
    if (this.used.has(buffer)) return;
    this.used.add(buffer);
    if (!isAllZero(buffer)) {
      const values = buffer.slice();
      this.constants.add(values);
      this.actions.push({ name: 'constant', call: copyValues as Action['call'], self: undefined, args: [values, buffer], seen: null });
    } else if (this.zeroed.has(buffer)) {
      this.actions.push({ name: 'zero', call: zeroValues as Action['call'], self: undefined, args: [buffer], seen: null });
    }
  }
}

/** Shapes and options are copied (a caller may reuse its array); buffers stay themselves. */
function frozenArg(a: unknown): unknown {
  if (a === null || typeof a !== 'object' || ArrayBuffer.isView(a)) return a;
  if (Array.isArray(a)) return a.map(frozenArg);
  const proto = Object.getPrototypeOf(a);
  if (proto !== Object.prototype && proto !== null) return a;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(a)) copy[key] = frozenArg((a as Record<string, unknown>)[key]);
  return copy;
}

/** Whether a plain array or object holds a float buffer somewhere (replay patches top-level buffers only). */
function containsArray(a: object): boolean {
  if (ArrayBuffer.isView(a)) return a instanceof Float32Array || a instanceof Float64Array;
  if (Array.isArray(a)) return a.some((v) => v !== null && typeof v === 'object' && containsArray(v));
  const proto = Object.getPrototypeOf(a);
  if (proto !== Object.prototype && proto !== null) return false;
  return Object.values(a).some((v) => v !== null && typeof v === 'object' && containsArray(v));
}

/** Every bit zero: +0 everywhere (−0 and NaN are not). */
function isAllZero(buffer: TypedArray): boolean {
  return bytesOf(buffer).every((byte) => byte === 0);
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Bit for bit (NaN payloads and −0 included). */
function sameBits(a: ArrayBufferView, b: ArrayBufferView): boolean {
  if (a.byteLength !== b.byteLength || a.constructor !== b.constructor) return false;
  const x = bytesOf(a), y = bytesOf(b);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** What a step body gets while it is recorded: where its parts meet, and a way to run code that is not part of the step. */
export interface StepRecorder {
  /** Ends the current segment: the replay can stop here, and the caller read outputs before going on. */
  split(): void;
  /** Runs fn without recording it: reads of the outputs, checks, progress. */
  outside<T>(fn: () => T): T;
}

/** A recorded step: its calls in segments, the buffers it reads and writes, its outputs. */
export interface StepTrace {
  /** How many calls a replay makes. */
  readonly calls: number;
  /** How many segments the step's split() calls made (one more than the calls). */
  readonly segments: number;
  /** The buffers holding the outputs after a replay. */
  readonly outputs: readonly TypedArray[];
  readonly outputShapes: readonly (readonly number[])[];
  /** Buffers neither the inputs nor the step's own: parameters, an optimiser's state, constants. */
  readonly externals: readonly TypedArray[];
  readonly inputShapes: readonly (readonly number[])[];
  readonly inputDTypes: readonly string[];
  /** Replays segment `segment` (all of them when omitted) on `inputs`, the buffers of tensors shaped as the recording's inputs. */
  run(inputs: readonly Storage[], segment?: number): void;
  /** Why `other` is not the same step up to renaming the step's own buffers, or null when it is. */
  differenceFrom(other: StepTrace): string | null;
}

/** The one implementation of StepTrace (a class of its own, so the recorder stays out of the public types). */
class Trace implements StepTrace {
  readonly #recorder: Recorder;
  /** The calls, in the segments the step's split() made. */
  readonly #segments: Action[][];
  /** Where each input's buffer appears: patched before every replay. */
  readonly #inputSites: { action: Action; index: number; slot: number }[] = [];
  readonly outputs: TypedArray[];
  readonly externals: TypedArray[];

  constructor(recorder: Recorder, readonly inputShapes: (readonly number[])[], readonly inputDTypes: string[], outputs: TypedArray[], readonly outputShapes: (readonly number[])[]) {
    this.#recorder = recorder;
    const { actions, splits } = recorder;
    this.#segments = [];
    let from = 0;
    for (const to of [...splits, actions.length]) {
      this.#segments.push(actions.slice(from, to));
      from = to;
    }
    this.outputs = outputs;
    const externals = new Set<TypedArray>();
    for (const action of actions) {
      action.args.forEach((a, index) => {
        if (!ArrayBuffer.isView(a)) return;
        const buffer = a as TypedArray;
        const slot = recorder.inputs.get(buffer);
        if (slot !== undefined) this.#inputSites.push({ action, index, slot });
        else if (!recorder.owned.has(buffer) && !recorder.constants.has(buffer)) externals.add(buffer);
      });
    }
    this.externals = [...externals];
  }

  get calls(): number {
    return this.#recorder.actions.length;
  }

  run(inputs: readonly Storage[], segment?: number): void {
    const sites = this.#inputSites;
    for (let i = 0; i < sites.length; i++) sites[i].action.args[sites[i].index] = inputs[sites[i].slot];
    if (segment === undefined) {
      for (let s = 0; s < this.#segments.length; s++) replayActions(this.#segments[s]);
    } else replayActions(this.#segments[segment]);
  }

  get segments(): number {
    return this.#segments.length;
  }

  differenceFrom(other: StepTrace): string | null {
    const [a, b] = [this.#recorder, (other as Trace).#recorder];
    if (a.actions.length !== b.actions.length) return `the steps made ${a.actions.length} and ${b.actions.length} calls`;
    if (a.splits.join() !== b.splits.join()) return 'the steps split at different calls';
    const renamed = new Map<TypedArray, TypedArray>();
    const back = new Map<TypedArray, TypedArray>();
    const sameBuffer = (x: TypedArray, y: TypedArray, seenX: TypedArray | undefined, seenY: TypedArray | undefined): boolean => {
      const [slotX, slotY] = [a.inputs.get(x), b.inputs.get(y)];
      if (slotX !== undefined || slotY !== undefined) return slotX === slotY;
      if (a.constants.has(x) || b.constants.has(y)) return a.constants.has(x) && b.constants.has(y) && sameBits(x, y);
      const [ownX, ownY] = [a.owned.has(x), b.owned.has(y)];
      if (ownX || ownY) {
        if (!ownX || !ownY || x.length !== y.length || x.constructor !== y.constructor) return false;
        const [to, from] = [renamed.get(x), back.get(y)];
        if (to === undefined && from === undefined) {
          renamed.set(x, y);
          back.set(y, x);
          return true;
        }
        return to === y && from === x;
      }
      // external: the same array (a parameter, an optimiser's state: its values change from
      // step to step, by the step itself); or a small one made afresh with the same values
      // (a lifted scalar). A cached array that JavaScript rewrites before each call would
      // pass here: the check against an ordinary step (StepReplay) catches that.
      if (x === y) return true;
      return seenX !== undefined && seenY !== undefined && sameBits(seenX, seenY);
    };
    const sameArg = (x: unknown, y: unknown, seenX?: TypedArray, seenY?: TypedArray): boolean => {
      if (ArrayBuffer.isView(x) || ArrayBuffer.isView(y)) {
        if (!ArrayBuffer.isView(x) || !ArrayBuffer.isView(y)) return false;
        if (x instanceof Float32Array || x instanceof Float64Array) return sameBuffer(x, y as TypedArray, seenX, seenY);
        return sameBits(x, y); // index arrays (batch offsets): by value
      }
      if (typeof x === 'number' && typeof y === 'number') return Object.is(x, y);
      if (Array.isArray(x) || Array.isArray(y)) {
        return Array.isArray(x) && Array.isArray(y) && x.length === y.length && x.every((v, i) => sameArg(v, y[i]));
      }
      if (x !== null && y !== null && typeof x === 'object' && typeof y === 'object' && Object.getPrototypeOf(x) === Object.prototype && Object.getPrototypeOf(y) === Object.prototype) {
        const keys = Object.keys(x);
        return keys.length === Object.keys(y).length && keys.every((k) => sameArg((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k]));
      }
      return x === y;
    };
    for (let i = 0; i < a.actions.length; i++) {
      const [x, y] = [a.actions[i], b.actions[i]];
      if (x.name !== y.name || x.args.length !== y.args.length) return `call ${i + 1} is '${x.name}' in one step and '${y.name}' in the other`;
      for (let j = 0; j < x.args.length; j++) {
        if (!sameArg(x.args[j], y.args[j], x.seen?.[j], y.seen?.[j])) return `call ${i + 1} ('${x.name}') has a different argument ${j + 1}`;
      }
    }
    if (this.outputs.length !== other.outputs.length || this.outputs.some((o, i) => !sameBuffer(o, other.outputs[i], undefined, undefined))) return 'the outputs are different buffers';
    return null;
  }
}

function replayActions(actions: Action[]): void {
  for (let i = 0; i < actions.length; i++) {
    const action = actions[i];
    const result = Reflect.apply(action.call, action.self, action.args);
    // a kernel started on another thread (gatherColumnsAsync) hands back its wait
    if (typeof result === 'function') (result as () => void)();
  }
}

/** The active backend seen through the recorder: each of its methods records the call, then makes it. */
function recordingBackend(inner: Backend, recorder: Recorder): Backend {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(inner, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      let kernel = wrapped.get(property);
      if (kernel === undefined) {
        const method = value as (...args: unknown[]) => unknown;
        kernel = (...args: unknown[]) => recorder.kernel(String(property), method, target, args);
        wrapped.set(property, kernel);
      }
      return kernel;
    },
  });
}

/**
 * Runs `body` on `inputs` and records it as a {@link StepTrace} (or says why it cannot be
 * replayed). The body returns its outputs, whose buffers the trace then names; it may call
 * `split()` between the parts a replay must be able to stop between, and `outside(fn)` for
 * code that is not part of the step. Outputs are computed (deferred values) before it returns.
 */
export function recordStep(inputs: readonly Tensor[], body: (recorder: StepRecorder) => readonly Tensor[]): { outputs: readonly Tensor[]; trace: StepTrace | null; refusal: string | null } {
  if (active !== null) throw new ValueError('recordStep', 'a step is already being recorded');
  const backend = getBackend();
  const slots = new Map<TypedArray, number>();
  const recorder = new Recorder(slots);
  if (backend.memory !== undefined) recorder.refuse(`the backend '${backend.name}' keeps values on its device`);
  inputs.forEach((t, slot) => {
    const storage = t.storage;
    if (!ArrayBuffer.isView(storage)) recorder.refuse('an input is not on the CPU');
    else if (slots.has(storage as TypedArray)) recorder.refuse('two inputs share one buffer');
    else slots.set(storage as TypedArray, slot);
  });
  const handle: StepRecorder = {
    split() {
      if (recorder.paused === 0) recorder.splits.push(recorder.actions.length);
    },
    outside<T>(fn: () => T): T {
      recorder.paused++;
      try {
        return fn();
      } finally {
        recorder.paused--;
      }
    },
  };
  active = recorder;
  const previous = swapBackend(recordingBackend(backend, recorder));
  setStepCapture((buffer, zeroed) => {
    recorder.owned.add(buffer);
    if (zeroed) recorder.zeroed.add(buffer);
  });
  setStepHooks({
    copy(source, target) {
      if (ArrayBuffer.isView(source) && ArrayBuffer.isView(target)) recorder.copy(source as TypedArray, target as TypedArray);
    },
    read(op) {
      if (recorder.listening) recorder.refuse(`the step reads values on the CPU (${op}) before it ends`);
    },
    write(op) {
      if (recorder.listening) recorder.refuse(`the step writes values from JavaScript into a tensor (${op} of an array of numbers)`);
    },
    randomDraw() {
      if (recorder.paused === 0) recorder.refuse('the step draws random numbers');
    },
  });
  let outputs: readonly Tensor[];
  try {
    outputs = body(handle);
    // deferred values are computed now, inside the recording
    for (const t of outputs) void t.storage;
  } finally {
    active = null;
    swapBackend(previous);
    setStepCapture(null);
    setStepHooks(null);
  }
  const buffers: TypedArray[] = [];
  for (const t of outputs) {
    const storage = t.storage as TypedArray;
    if (!recorder.owned.has(storage)) recorder.refuse('an output is not a buffer the step computed');
    buffers.push(storage);
  }
  if (recorder.refusal !== null) return { outputs, trace: null, refusal: recorder.refusal };
  const trace = new Trace(recorder, inputs.map((t) => t.shape), inputs.map((t) => t.dtype), buffers, outputs.map((t) => t.shape));
  return { outputs, trace, refusal: null };
}

/** A training step in three parts, as {@link StepReplay} runs it. */
export interface StepBody<Carry> {
  /** The forward and backward pass on the inputs: the outputs to read between the parts (the loss first), and what the update needs (the gradients). */
  compute(inputs: readonly Tensor[]): { outputs: readonly Tensor[]; carry: Carry };
  /** Reads the outputs (the loss, the predictions) and checks them; throwing here skips the update, as in an ordinary step. */
  between(outputs: readonly Tensor[]): void;
  /** The update: the optimiser's step. */
  update(carry: Carry): void;
  /**
   * The JavaScript of a step that a replay does not repeat, for numbers that change from step
   * to step (Adam's bias correction): write them into the small arrays the recorded kernels
   * read (arrays kept from step to step, not made afresh). Called before every replay with
   * `advance` true (move the step's count on, as the step would), and before the check's
   * replay with `advance` false (the ordinary step just checked already moved it on).
   */
  prepare?(advance: boolean): void;
}

/** Where a {@link StepReplay} stands. */
export type StepReplayState = 'ordinary' | 'recording' | 'verifying' | 'replaying' | 'off';

/**
 * Runs a training step ordinarily until it has proved that replaying it is the same, then
 * replays it: the engine behind `fit`'s step replay, usable by any loop whose step is the
 * same work every time (the same ops on the same shapes with the same scalars; its values,
 * of course, change).
 *
 * Protocol, per {@link reset}:
 * 1. one ordinary step (an optimiser creates its state on its first step);
 * 2. two recorded steps, which must make the same calls with the same numbers;
 * 3. one check: an ordinary step, then the replay of the same batch from the same state,
 *    must leave every parameter, every optimiser state and every output bit for bit the same;
 * 4. then every step whose inputs have the recorded shapes is replayed (others, an epoch's
 *    short last batch, run ordinarily); {@link recheck} repeats the check of 3 at the next
 *    step (fit does after each onEpoch callback), recording afresh if it fails.
 * If 2 or 3 fails, or the step draws random numbers, reads values on the CPU between its
 * parts' calls, or runs on a device, it is never replayed (`state` 'off', `reason` says why).
 */
export class StepReplay {
  #state: StepReplayState = 'ordinary';
  #reason: string | null = null;
  #trace: StepTrace | null = null;
  #first: StepTrace | null = null;
  /** Whether the ordinary step that comes before the recordings ran (since the last reset). */
  #warmedUp = false;
  #replayed = 0;
  /** Whether the check under way is of a recording that already replayed (recheck): failing it records afresh instead of turning replay off. */
  #rechecking = false;

  get state(): StepReplayState {
    return this.#state;
  }

  /** Why the step is not replayed ('off'), or null. */
  get reason(): string | null {
    return this.#reason;
  }

  /** Steps replayed so far. */
  get replayed(): number {
    return this.#replayed;
  }

  /** Drops the recording: the next steps record and check again (unless replay is off for good). */
  reset(): void {
    this.#trace = this.#first = null;
    if (this.#state !== 'off') this.#state = 'ordinary';
    this.#warmedUp = false;
    this.#rechecking = false;
  }

  /**
   * Checks the recording again at the next step (an ordinary step, and its replay from the
   * same state, bit for bit) before replaying on: for a caller that ran code of its own
   * between steps which may have changed what the step does (fit, after each `onEpoch`
   * callback: it may switch a layer's mode). If the check fails the step is recorded afresh.
   * Cheaper than {@link reset}: one extra replay instead of four steps, two of them recorded.
   */
  recheck(): void {
    if (this.#state !== 'replaying') return;
    this.#state = 'verifying';
    this.#rechecking = true;
  }

  /** Turns replay off for good, with the reason `reason` reports. */
  disable(reason: string): void {
    this.#state = 'off';
    this.#reason = reason;
    this.#trace = this.#first = null;
  }

  /** One step on `inputs` (ordinary, recorded, checked or replayed: the same numbers in every case). */
  run<Carry>(inputs: readonly Tensor[], body: StepBody<Carry>): void {
    const trace = this.#trace;
    if (this.#state === 'replaying' && trace !== null && fits(trace, inputs)) {
      this.#replay(trace, inputs, body);
      return;
    }
    if (this.#state === 'off' || (trace !== null && !fits(trace, inputs)) || (this.#first !== null && !fits(this.#first, inputs))) {
      ordinary(inputs, body);
      return;
    }
    if (this.#state === 'ordinary' && !this.#warmedUp) {
      this.#warmedUp = true;
      ordinary(inputs, body);
      return;
    }
    if (this.#state === 'verifying' && trace !== null) {
      this.#verify(trace, inputs, body);
      return;
    }
    this.#record(inputs, body);
  }

  #record<Carry>(inputs: readonly Tensor[], body: StepBody<Carry>): void {
    this.#state = 'recording';
    const { trace, refusal } = recordStep(inputs, (recorder) => {
      const { outputs, carry } = body.compute(inputs);
      for (const t of outputs) void t.storage;
      recorder.split();
      recorder.outside(() => body.between(outputs));
      body.update(carry);
      return outputs;
    });
    if (trace === null) {
      this.disable(refusal!);
      return;
    }
    if (this.#first === null) {
      this.#first = trace;
      return;
    }
    const difference = trace.differenceFrom(this.#first);
    this.#first = null;
    if (difference !== null) {
      this.disable(`two steps differ: ${difference}`);
      return;
    }
    this.#trace = trace;
    this.#state = 'verifying';
  }

  #verify<Carry>(trace: StepTrace, inputs: readonly Tensor[], body: StepBody<Carry>): void {
    const before = trace.externals.map((b) => b.slice());
    const outputs = ordinary(inputs, body);
    // the ordinary step's JavaScript moved the step's numbers on; the replay below writes them again (prepare(false))
    const expected = outputs.map((t) => (t.storage as TypedArray).slice());
    const after = trace.externals.map((b) => b.slice());
    trace.externals.forEach((b, i) => b.set(before[i]));
    body.prepare?.(false);
    trace.run(inputs.map((t) => t.storage));
    const same = trace.outputs.every((o, i) => sameBits(o, expected[i])) && trace.externals.every((b, i) => sameBits(b, after[i]));
    // the ordinary step's results stand either way
    trace.externals.forEach((b, i) => b.set(after[i]));
    const rechecked = this.#rechecking;
    this.#rechecking = false;
    if (same) this.#state = 'replaying';
    else if (rechecked) this.reset();
    else this.disable('a replayed step differed from the ordinary one');
  }

  #replay<Carry>(trace: StepTrace, inputs: readonly Tensor[], body: StepBody<Carry>): void {
    const storages = inputs.map((t) => t.storage);
    body.prepare?.(true);
    trace.run(storages, 0);
    body.between(trace.outputs.map((buffer, i) => new Tensor(buffer, trace.outputShapes[i])));
    for (let s = 1; s < trace.segments; s++) trace.run(storages, s);
    this.#replayed++;
  }
}

/** A step as if no replay existed; returns its outputs. */
function ordinary<Carry>(inputs: readonly Tensor[], body: StepBody<Carry>): readonly Tensor[] {
  const { outputs, carry } = body.compute(inputs);
  body.between(outputs);
  body.update(carry);
  return outputs;
}

/** Whether inputs have the recording's shapes and dtypes. */
function fits(trace: StepTrace, inputs: readonly Tensor[]): boolean {
  return inputs.length === trace.inputShapes.length && inputs.every((t, i) => t.dtype === trace.inputDTypes[i] && sameShape(t.shape, trace.inputShapes[i]));
}
