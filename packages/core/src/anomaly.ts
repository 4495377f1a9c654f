import type { TypedArray } from './dtype.js';
import { DeviceTensorError, TapegradError, fmt } from './errors.js';
import type { Node } from './recording.js';
import type { Tensor } from './tensor.js';

/**
 * NaN hunting, as PyTorch's `detect_anomaly` and JAX's `debug_nans`: while detection is on,
 * every op's output (forward, and the ops a VJP runs) and every gradient a VJP hands back is
 * scanned for NaN and ±∞, and the first one raises an AnomalyError naming the op, where it
 * ran and — in a backward pass — the forward op whose gradient went bad and the user's line
 * that recorded it. Off, the cost is one boolean test per op (`anomalyDetection` in apply)
 * and one per backward sweep. The scan reads values synchronously, so it needs them on the
 * CPU: an op that leaves its output on a device raises a DeviceTensorError instead.
 */

/** Read by apply() and the backward sweep; written only through setDetectAnomalies. */
export let anomalyDetection = false;

/** Turns NaN/∞ detection on or off for everything that follows; returns the previous setting. */
export function setDetectAnomalies(on: boolean): boolean {
  const previous = anomalyDetection;
  anomalyDetection = on;
  return previous;
}

/** Whether NaN/∞ detection is on. */
export function isDetectingAnomalies(): boolean {
  return anomalyDetection;
}

/**
 * Runs fn with NaN/∞ detection on (restoring the previous setting afterwards, even if it
 * throws). Record the forward pass inside it too: the source line of each op is captured
 * when it is recorded, and only while detection is on.
 *
 * ```ts
 * import { detectAnomalies, grad, log, sum, tensor, AnomalyError } from '@tapegrad/core';
 * const x = tensor([1, 0, 2], { dtype: 'float64' });
 * try {
 *   detectAnomalies(() => grad((v) => sum(log(v)))(x));
 * } catch (e) {
 *   if (!(e instanceof AnomalyError)) throw e;
 *   console.log(e.message); // 'log' produced -Infinity at index [1] of its [3] output …
 * }
 * ```
 */
export function detectAnomalies<T>(fn: () => T): T {
  const previous = setDetectAnomalies(true);
  const savedVjp = vjpInProgress;
  try {
    return fn();
  } finally {
    anomalyDetection = previous;
    vjpInProgress = savedVjp;
  }
}

/** What an AnomalyError reports, also available as fields for programs that handle it. */
export interface AnomalyDetails {
  /** 'forward' for an op of the forward pass, 'backward' for one run by a VJP (or a VJP's result). */
  readonly phase: 'forward' | 'backward';
  /** The op whose output held the bad value. */
  readonly op: string;
  readonly inputShapes: readonly (readonly number[])[];
  readonly outputShape: readonly number[];
  /** Position of the first bad element, one number per axis. */
  readonly index: readonly number[];
  /** NaN, Infinity or -Infinity. */
  readonly value: number;
  /** In a backward pass: the recorded forward op whose gradient produced the value. */
  readonly gradientOf?: string;
  /** Where the forward op (gradientOf, or op itself) was called from: `file:line:column`. */
  readonly source?: string;
}

/** A NaN or ±∞ found while detectAnomalies (or setDetectAnomalies(true)) is on. */
export class AnomalyError extends TapegradError implements AnomalyDetails {
  readonly phase: 'forward' | 'backward';
  readonly inputShapes: readonly (readonly number[])[];
  readonly outputShape: readonly number[];
  readonly index: readonly number[];
  readonly value: number;
  readonly gradientOf?: string;
  readonly source?: string;
  constructor(details: AnomalyDetails) {
    super(details.op, describeAnomaly(details));
    this.phase = details.phase;
    this.inputShapes = details.inputShapes;
    this.outputShape = details.outputShape;
    this.index = details.index;
    this.value = details.value;
    this.gradientOf = details.gradientOf;
    this.source = details.source;
  }
}

function describeAnomaly(d: AnomalyDetails): string {
  const inputs = d.inputShapes.length === 0 ? 'no inputs' : `input shapes ${d.inputShapes.map(fmt).join(', ')}`;
  const head = `'${d.op}' produced ${d.value} at index ${fmt(d.index)} of its ${fmt(d.outputShape)} output (${inputs})`;
  const where = d.source ? `, recorded at ${d.source}` : ' (its source line is captured only when the forward pass runs with detection on)';
  if (d.phase === 'forward') return `${head} in the forward pass${d.source ? ` at ${d.source}` : ''}`;
  return `${head} while computing the gradient of '${d.gradientOf}'${where}`;
}

/** Source line of every node recorded while detection is on (a WeakMap: no field on Node). */
const recordedAt = new WeakMap<Node, string>();

/** The node whose VJP is running now, if any (set by the backward sweep while detecting). */
let vjpInProgress: Node | null = null;

/** @internal the backward sweep announces the node whose VJP runs; returns the previous one. */
export function enterVjp(node: Node | null): Node | null {
  const previous = vjpInProgress;
  vjpInProgress = node;
  return previous;
}

/** @internal customGrad calls it while detecting (apply() through watchOutput): remembers the user's line for this node. */
export function noteRecordSite(node: Node): void {
  const site = callerSite();
  if (site !== undefined) recordedAt.set(node, site);
}

/**
 * @internal apply() calls it on each output while detecting, after recording it: notes where
 * its node (if any) was recorded, then scans the values. One call behind one test, so the
 * off path costs apply() a single boolean test.
 */
export function watchOutput(op: string, inputs: readonly Tensor[], output: Tensor): void {
  if (output.node) noteRecordSite(output.node);
  const at = firstNonFinite(cpuValues(op, output));
  if (at < 0) return;
  const inVjp = vjpInProgress;
  throw new AnomalyError({
    phase: inVjp ? 'backward' : 'forward',
    op,
    inputShapes: inputs.map((t) => t.shape),
    outputShape: output.shape,
    index: unravel(at, output.shape),
    value: output.data[at],
    gradientOf: inVjp ? inVjp.def.name : undefined,
    source: inVjp ? recordedAt.get(inVjp) : callerSite(),
  });
}

/** @internal the backward sweep calls it on each gradient a VJP returns (it may return dy itself). */
export function checkGradient(node: Node, inputIndex: number, contribution: Tensor): void {
  const at = firstNonFinite(cpuValues(`${node.def.name} (vjp, input ${inputIndex})`, contribution));
  if (at < 0) return;
  throw new AnomalyError({
    phase: 'backward',
    op: `${node.def.name} (vjp, input ${inputIndex})`,
    inputShapes: node.inputs.map((t) => t.shape),
    outputShape: contribution.shape,
    index: unravel(at, contribution.shape),
    value: contribution.data[at],
    gradientOf: node.def.name,
    source: recordedAt.get(node),
  });
}

/** The values to scan, or why they cannot be scanned where they are. */
function cpuValues(op: string, t: Tensor): TypedArray {
  if (t.device !== 'cpu') {
    throw new DeviceTensorError('detectAnomalies', `'${op}' left its ${fmt(t.shape)} output on the '${t.device}' device, where NaN hunting cannot read it synchronously; hunt NaNs on a CPU backend (setBackend('js')), or check results with \`await t.dataAsync()\``);
  }
  return t.data;
}

function firstNonFinite(data: TypedArray): number {
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    // v - v is 0 for every finite v and NaN for NaN and ±∞
    if (v - v !== 0) return i;
  }
  return -1;
}

function unravel(flat: number, shape: readonly number[]): number[] {
  const index = new Array<number>(shape.length);
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    index[axis] = flat % shape[axis];
    flat = Math.floor(flat / shape[axis]);
  }
  return index;
}

/**
 * The folder core runs from (packages/core/src, or …/@tapegrad/core/dist), read off this
 * module's own stack frame: frames under it are tapegrad's, the first frame outside is the
 * caller. Works in browsers too (a stack is just a string there).
 */
const coreFolder = folderOf(frameFiles(new Error().stack ?? '')[0]);

/** One level above core: packages/ or @tapegrad/, where nn and datasets live beside core. */
const libraryFolder = folderOf(folderOf(coreFolder));

/** src/ or dist/: a sibling package's code sits in the same subfolder (its tests do not). */
const codeSubfolder = coreFolder === undefined ? undefined : coreFolder.slice(folderOf(coreFolder)!.length);

/** Whether a file is the code of a tapegrad package (core, nn, datasets…). */
function inLibrary(file: string): boolean {
  if (libraryFolder === undefined || !file.startsWith(libraryFolder)) return false;
  const rest = file.slice(libraryFolder.length);
  const slash = rest.search(/[\\/]/);
  return slash > 0 && rest.slice(slash + 1).startsWith(codeSubfolder!);
}

/**
 * The first stack frame outside core (an nn layer, or the user's code), followed by the
 * first frame outside every tapegrad package when that differs: "Dense.forward at
 * …/nn/src/layers.ts:40, called from net.test.ts:12".
 */
function callerSite(): string | undefined {
  if (coreFolder === undefined) return undefined;
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 60;
  const stack = new Error().stack ?? '';
  Error.stackTraceLimit = limit;
  const frames = stack.split('\n').map((line) => ({ line: line.trim().replace(/^at /, ''), file: fileOf(line) }));
  const first = frames.find((f) => f.file !== undefined && !f.file.startsWith(coreFolder) && !f.file.startsWith('node:'));
  if (!first) return undefined;
  if (!inLibrary(first.file!)) return first.line;
  const user = frames.find((f) => f.file !== undefined && !inLibrary(f.file) && !f.file.startsWith('node:'));
  return user ? `${first.line}, called from ${user.line}` : first.line;
}

function frameFiles(stack: string): string[] {
  return stack.split('\n').map(fileOf).filter((f): f is string => f !== undefined);
}

/** The file of a V8 (`at f (file:1:2)`, `at file:1:2`) or Firefox/Safari (`f@file:1:2`) frame. */
function fileOf(line: string): string | undefined {
  let location = line.trim();
  if (location.endsWith(')')) location = location.slice(location.lastIndexOf('(') + 1, -1);
  else if (location.startsWith('at ')) location = location.slice(3);
  else if (location.includes('@')) location = location.slice(location.lastIndexOf('@') + 1);
  const match = /^(.*?):\d+:\d+$/.exec(location);
  return match ? match[1] : undefined;
}

/** The folder holding a file or folder, with a trailing separator. */
function folderOf(path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  const trimmed = path.replace(/[\\/]$/, '');
  const cut = Math.max(trimmed.lastIndexOf('/'), trimmed.lastIndexOf('\\'));
  return cut > 0 ? trimmed.slice(0, cut + 1) : undefined;
}
