import { anomalyDetection, watchOutput } from './anomaly.js';
import { type Backend, deviceBackendRegistered, getBackend } from './backend/index.js';
import type { DType } from './dtype.js';
import { DTypeError, DeviceTensorError, ValueError, fmt } from './errors.js';
import { ReleasedTensorError } from './memory.js';
import { type Node, hasActiveRecorders, isGradEnabled, notifyRecorders } from './recording.js';
import type { Shape } from './shape.js';
import { type Storage, isDeviceArray } from './storage.js';
import { Tensor } from './tensor.js';

/** What a VJP sees of the recorded call: the inputs, the output and the op's attributes. */
export interface VjpContext<A> {
  readonly inputs: readonly Tensor[];
  readonly output: Tensor;
  readonly attrs: A;
}

/**
 * One thunk per input, or null for an input with no gradient (a condition, an index).
 * Thunks are written in tape ops, so a backward pass recorded by an outer tape can be
 * differentiated again; the tape calls only the thunks of inputs that need a gradient.
 */
export type VjpResult = ReadonlyArray<(() => Tensor) | null>;

/**
 * A primitive: its shape rule, its kernel call and its vector-Jacobian product, in one
 * object, one file. Everything else (softmax, losses, layers) composes primitives.
 */
export interface OpDef<A = undefined> {
  readonly name: string;
  /** Validates the inputs' shapes (and attrs) and returns the output shape. */
  shape(shapes: readonly Shape[], attrs: A): Shape;
  /**
   * The output's dtype, for the one op that changes it (cast); default: the inputs' dtype.
   * The tensor is labelled with it, so it must be a rule here, not a choice the kernel makes.
   */
  dtype?(inputDType: DType, attrs: A): DType;
  /**
   * Computes the output (of the output dtype) through the backend, into storage from
   * `outputStorage(backend, …)`: on the backend's device if it has memory, else on the CPU.
   * Inputs are CPU typed arrays on a CPU backend; on a device backend, its DeviceArrays or
   * CPU typed arrays (which its kernels upload for the call).
   */
  forward(backend: Backend, inputs: readonly Storage[], shapes: readonly Shape[], outShape: Shape, dtype: DType, attrs: A): Storage;
  /** Absent for ops with no useful derivative (comparisons): their outputs are constants. */
  vjp?(dy: Tensor, ctx: VjpContext<A>): VjpResult;
}

/** Declares a primitive op (name, forward kernel call, VJP) with its attribute type checked; returns it unchanged. */
export function defineOp<A = undefined>(def: OpDef<A>): OpDef<A> {
  return def;
}

/** Checks that every input shares one dtype: mixing is an error, never a silent cast. */
export function commonDType(op: string, inputs: readonly Tensor[]): DType {
  const dtype = inputs[0].dtype;
  for (const t of inputs) {
    if (t.dtype !== dtype) {
      const list = inputs.map((x) => `${x.dtype} ${fmt(x.shape)}`).join(' and ');
      throw new DTypeError(op, `mixed dtypes: ${list}; convert one with cast()`);
    }
  }
  return dtype;
}

/**
 * Runs a primitive: validate, compute, and record a node if anyone is listening.
 *
 * `fused`, for an op's own file only: computes the output in place of `def.forward`, from
 * the input tensors (which it may read without computing a deferred input's values). It
 * must give exactly def.forward's values, on CPU inputs and a CPU backend (the caller checks
 * both: the device placement check is skipped). The node recorded is def's, as always.
 */
export function apply<A>(def: OpDef<A>, inputs: readonly Tensor[], attrs: A, fused?: (backend: Backend, outShape: Shape, dtype: DType) => Storage): Tensor {
  // plain loops, no closures: this runs for every op, and small-batch steps are bound by it
  const n = inputs.length;
  const shapes = new Array<Shape>(n);
  for (let i = 0; i < n; i++) {
    const t = inputs[i];
    assertTensor(def.name, t, i);
    if (t.released) throw new ReleasedTensorError(def.name, `input ${i}: tensor ${fmt(t.shape)} was released when tidy() returned; keep() it or return it from tidy()`);
    shapes[i] = t.shape;
  }
  const inputDType = commonDType(def.name, inputs);
  const dtype = def.dtype ? def.dtype(inputDType, attrs) : inputDType;
  const outShape = def.shape(shapes, attrs);
  const backend = getBackend();
  let data: Storage;
  if (fused === undefined) {
    const buffers = new Array<Storage>(n);
    for (let i = 0; i < n; i++) buffers[i] = inputs[i].storage;
    // until a device backend exists this is one flag test (backend.memory is then read once
    // per op, by the forward's outputStorage)
    if (deviceBackendRegistered()) checkPlacement(def.name, backend, inputs, buffers);
    data = def.forward(backend, buffers, shapes, outShape, dtype, attrs);
  } else data = fused(backend, outShape, dtype);
  const output = new Tensor(data, outShape, dtype);
  if (def.vjp) record(def, inputs, output, attrs);
  // NaN hunting's one test per op while it is off (its record-site capture included)
  if (anomalyDetection) watchOutput(def.name, inputs, output);
  return output;
}

/**
 * Attaches a node to `output` if gradients are on and a tape records or an input requires
 * gradients. apply() calls it for primitives; customGrad for user-defined ops.
 */
export function record<A>(def: OpDef<A>, inputs: readonly Tensor[], output: Tensor, attrs: A): void {
  const recording = hasActiveRecorders();
  let requiresGrad = false;
  const n = inputs.length;
  if (isGradEnabled()) for (let i = 0; i < n; i++) if (inputs[i].requiresGrad) requiresGrad = true;
  if (!recording && !requiresGrad) return;
  const inputVersions = new Array<number>(n);
  for (let i = 0; i < n; i++) inputVersions[i] = inputs[i].version;
  const node: Node = { def: def as OpDef<unknown>, inputs, inputVersions, output, attrs };
  output.node = node;
  output.requiresGrad = requiresGrad;
  if (recording) notifyRecorders(node);
}

/**
 * For op wrappers that read a shape before apply() sees the inputs: without it a plain array
 * fails with "cannot read properties of undefined", or (sum) is silently returned as is.
 */
export function assertTensor(op: string, value: unknown, index = 0): asserts value is Tensor {
  if (!(value instanceof Tensor)) throw new ValueError(op, `input ${index} is ${describe(value)}, not a Tensor`);
}

/**
 * Refuses device values the active backend cannot reach: any on a CPU backend (its kernels
 * would read a DeviceArray as garbage), another device's on a device backend. CPU values are
 * fine everywhere (a device backend uploads them for the call).
 */
function checkPlacement(op: string, backend: Backend, inputs: readonly Tensor[], buffers: readonly Storage[]): void {
  const onCpu = backend.memory === undefined;
  for (let i = 0; i < buffers.length; i++) {
    const s = buffers[i];
    if (!isDeviceArray(s) || (!onCpu && s.device === backend.name)) continue;
    const computes = onCpu ? 'computes on the CPU' : `keeps values on its own device`;
    throw new DeviceTensorError(op, `input ${i} ${fmt(inputs[i].shape)} lives on the '${s.device}' device but the active backend '${backend.name}' ${computes}; setBackend('${s.device}'), or bring it over with \`tensor(await t.dataAsync(), { shape: t.shape })\``);
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}
