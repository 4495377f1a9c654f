import {
  type ColumnSampler, DeviceTensorError, type Rng, type RowSampler, Tape, TapegradError, Tensor, type TypedArray, ValueError, add, columnSampler, createRng, getBackend, keep, mul, noGrad,
  StepReplay, outsideTidy, rowSampler, scalar, shuffleInPlace, sum, tidy, zeros,
} from '@tapegrad/core';
import { ACTIVATIONS, type Activation } from './activations.js';
import { type LossName, LOSSES, cost, l2Penalty } from './losses.js';
import { METRICS, type MetricFn, type MetricName } from './metrics.js';
import { type Module, type NamedParameters, setTrainingMode } from './module.js';
import type { Optimizer } from './optim/optimizer.js';
import { Dense } from './layers/dense.js';
import { Embedding } from './layers/embedding.js';
import { Sequential } from './sequential.js';
import { emitWarning } from './warn.js';

/**
 * Training loops: `fit` runs epochs of gradient steps, `evaluate` measures a model on data,
 * `predict` runs it. Where the examples are (`ExampleLayout`):
 * - x of rank 2 is `[features, N]`: examples are columns (the seeds' layout, Dense's input);
 * - x of rank ≥ 3 is `[N, …]`: examples on axis 0 (`[N, C, H, W]` images, `[N, T, D]`
 *   sequences); `layout: 'rows'` says the same of an x of rank 1 or 2 (`[N, T]` token ids);
 * - y and the model's output: rank 2 is `[outputs, N]` (columns: what Dense, hence a CNN
 *   ending in Flatten + Dense, outputs and what every built-in loss and metric expects);
 *   any other rank has examples on axis 0 (`[N]`, `[N, T, V]`, for a loss function of your own).
 *
 * One training step on a batch of columns B:
 * 1. record the forward pass and the cost C_B on a fresh tape, through `model.trace` for a
 *    Sequential (so `cost` can pair sigmoid + bce or softmax + cce in the stable from-logits
 *    form), else through `model.forward` and the loss;
 * 2. add (λ/2)·Σ‖W‖² over the weight matrices if `l2` = λ > 0;
 * 3. ask the tape for ∂C/∂θ for θ in `Object.values(model.parameters())` order;
 * 4. `optimizer.step(params, grads, objective)`, the objective recomputing the batch cost
 *    at the parameters' current values, for L-BFGS line searches and Newton-CG.
 *
 * Batch size 1 is online learning, 1 < b < N mini-batch, b ≥ N (or 'full') full-batch
 * gradient descent: seed 001's "SGD vs. mini batches vs. full-batches" is one option.
 * Epoch order follows BENCH-PROTOCOL.md: each epoch shuffles the identity permutation with
 * Fisher–Yates from one mulberry32 generator whose state carries over between epochs, and
 * batches are consecutive slices of it (the last may be short).
 */

/**
 * Inputs and targets: `fit(model, mnist.train, …)` takes a @tapegrad/datasets split as it is.
 * See the rule above for where the examples are.
 */
export interface Examples {
  /** [features, N] (column m is example m), or [N, …] of rank ≥ 3 (example m is x[m]). */
  x: Tensor;
  /** [outputs, N] (rank 2), or [N, …] (any other rank). */
  y: Tensor;
}

/**
 * Where x's examples are: 'columns' ([features, N]) or 'rows' ([N, …], axis 0). The default
 * follows x's rank: 'columns' for rank 2, 'rows' for rank ≥ 3; set 'rows' for an x of rank 1
 * or 2 with examples on axis 0, such as `[N, T]` token ids for an Embedding.
 */
export type ExampleLayout = 'columns' | 'rows';

/** A loss as a function of predictions Ŷ = model.forward(X) and targets: a scalar tensor built from ops. */
export type LossFn = (yHat: Tensor, y: Tensor) => Tensor;

/** Metrics by name (`['accuracy']`) or as named functions (`{ acc: accuracy, p: (p, y) => … }`). */
export type MetricsSpec = readonly MetricName[] | Readonly<Record<string, MetricName | MetricFn>>;

/** Loss and metrics on a data set, as evaluate and fit's validation compute them. */
export interface EvaluationLog {
  /** Mean cost per example (without any L2 penalty). */
  loss: number;
  metrics: Record<string, number>;
}

/** What fit records after each epoch. */
export interface EpochLog {
  /** 1 for the first epoch. */
  epoch: number;
  /**
   * Mean training cost per example over the epoch, without the L2 penalty: each batch's cost
   * as recorded for its step, i.e. at the parameters before that step.
   */
  loss: number;
  /** Metrics of the epoch's training predictions (each made before its batch's step). */
  metrics: Record<string, number>;
  /** Wall time of the epoch's training steps (validation excluded). */
  seconds: number;
  examplesPerSecond: number;
  /** Loss and metrics on `validation` after the epoch, when it was given. */
  validation?: EvaluationLog;
  /** How many of the epoch's steps were replayed (see FitOptions.replay); 0 when none was. */
  replayedSteps: number;
}

/** What fit returns: one log per finished epoch. */
export type History = EpochLog[];

/** Options of fit. */
export interface FitOptions {
  loss: LossName | LossFn;
  optimizer: Optimizer;
  epochs: number;
  /** Examples per step: 1 is online learning; ≥ N or 'full' is full-batch. Default 32. */
  batchSize?: number | 'full';
  metrics?: MetricsSpec;
  /** Called after each epoch; returning false (or a promise of false) stops training. */
  onEpoch?: (log: EpochLog) => boolean | void | Promise<boolean | void>;
  /** Called after each step with the epoch's running mean loss: a progress display of your own (a page's loss curve). */
  onBatch?: (progress: BatchProgress) => void;
  /** Stops training between two batches once aborted; fit then returns the finished epochs. */
  signal?: AbortSignal;
  /** Seed of the epoch shuffle. Default 42, the benchmark protocol's, so runs repeat exactly. */
  seed?: number;
  /** Shuffle each epoch. Default true; false keeps the data's order. */
  shuffle?: boolean;
  /** λ of an L2 penalty (λ/2)·Σ‖W‖² on the weight matrices (parameters named `W`; biases are not decayed). Default 0. */
  l2?: number;
  /** Evaluated after every epoch, into `log.validation` (its x in the same layout as the data's). */
  validation?: Examples;
  /** Where x's examples are; default by x's rank (see ExampleLayout). */
  layout?: ExampleLayout;
  /**
   * What to do when training produces a NaN or ±∞: in a batch's loss (checked at every step,
   * before the optimiser runs) or in the parameters (checked after every epoch, which also
   * catches a non-finite gradient whose effect the loss hides, e.g. behind a relu).
   * - 'stop' (default): throw a NonFiniteError naming the epoch and step; the error's
   *   `history` holds the epochs that finished. The model keeps the values it had then.
   * - 'warn': print one warning on stderr (the first time only) and go on.
   * - 'ignore': no checks.
   * A full scan of every gradient at every step would cost about as much as the step itself,
   * hence the loss per step and the parameters per epoch.
   */
  onNonFinite?: 'stop' | 'warn' | 'ignore';
  /**
   * Progress on stderr. true: a live bar per epoch when stderr is a terminal, one plain line
   * per epoch otherwise (logs, CI). 'auto': the bar on a terminal outside CI, else nothing.
   * Default false. The bar (cli-progress) is Node's: from the browser entry, true logs one
   * line per epoch on the console and 'auto' shows nothing; use `onBatch` and `onEpoch` for a
   * display of your own.
   */
  progress?: boolean | 'auto';
  /**
   * Replay the training step (default true): fit records two steps' kernel calls, checks
   * that they are the same work and that replaying one on a batch gives bit for bit what an
   * ordinary step gives (again after every `onEpoch`, which may change what a step computes),
   * then replays that recording for the other full-size batches, without the ops, tape and
   * pool machinery around the kernels — the numbers are exactly those of ordinary steps, and
   * small networks train up to twice as fast (core's StepReplay). It happens only when it is
   * safe: a `replayable` optimiser (SGD, Momentum, Nesterov, Adam), no per-step randomness
   * (Dropout), no value read on the CPU inside the step, a CPU backend (and with `onEpoch`, at
   * least 4 full-size batches an epoch, or its checks would cost more than they save).
   * `log.replayedSteps` says how many steps were replayed. An `onBatch` callback must not
   * change what a step computes (a field a layer's forward reads): replayed steps would not
   * see it — change it in `onEpoch`, or pass false. false runs every step ordinarily (also
   * to step through one in a debugger, or profile the ops).
   */
  replay?: boolean;
}

/** What `onBatch` receives after each step. */
export interface BatchProgress {
  /** 1 for the first epoch. */
  epoch: number;
  /** Steps done in this epoch, 1 after the first. */
  batch: number;
  /** Steps in an epoch. */
  batches: number;
  /** Mean training cost per example over the epoch's steps so far. */
  loss: number;
}

/** Options of evaluate. */
export interface EvaluateOptions {
  loss?: LossName | LossFn;
  metrics?: MetricsSpec;
  /** Examples per forward pass; only memory depends on it. Default 256. */
  batchSize?: number | 'full';
  /** Where x's examples are; default by x's rank (see ExampleLayout). */
  layout?: ExampleLayout;
}

/** What evaluate returns: the loss (when asked) and the metrics. */
export interface EvaluateResult {
  /** Present when a loss was given. */
  loss?: number;
  metrics: Record<string, number>;
}

/** Options of predict. */
export interface PredictOptions {
  /** Examples per forward pass; only memory depends on it. Default 256. */
  batchSize?: number | 'full';
  /** Where x's examples are; default by x's rank (see ExampleLayout). */
  layout?: ExampleLayout;
}

/**
 * Training diverged: a batch's loss or a parameter became NaN or ±∞. Thrown by `fit` with
 * `onNonFinite: 'stop'` (its default), so a diverged model is never taken for a trained one.
 */
export class NonFiniteError extends TapegradError {
  /** The epoch (1-based) in which it was found. */
  readonly epoch: number;
  /** The step (1-based batch) within the epoch, or null when found in the parameters at the epoch's end. */
  readonly step: number | null;
  /** What was non-finite: 'loss', or 'parameter <name>'. */
  readonly quantity: string;
  /** The value found (NaN, Infinity or -Infinity). */
  readonly value: number;
  /** The logs of the epochs that finished before it. */
  readonly history: History;
  constructor(epoch: number, step: number | null, quantity: string, value: number, history: History) {
    super('fit', `${quantity} is ${value} in epoch ${epoch}${step === null ? ' (after its last step)' : `, step ${step}`}: training diverged; try a smaller learning rate (or onNonFinite: 'warn' | 'ignore' to go on)`);
    this.epoch = epoch;
    this.step = step;
    this.quantity = quantity;
    this.value = value;
    this.history = history;
  }
}

/** The first non-finite value of t, as [index, value], or null. */
function firstNonFinite(t: Tensor): [number, number] | null {
  const d = t.data;
  for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) return [i, d[i]];
  return null;
}

const DEFAULT_SEED = 42;
const DEFAULT_BATCH_SIZE = 32;
const DEFAULT_EVAL_BATCH_SIZE = 256;
/** How long fit may hold the event loop before yielding, so an abort() from a timer or a signal handler gets through. */
const YIELD_EVERY_MS = 25;
/**
 * How many steps fitAsync enqueues ahead of the device's progress: enough to keep it busy
 * (the next step is queued while one runs), few enough that the progress bar, onBatch and an
 * abort (Ctrl-C) follow the device within two steps and the queued work stays bounded.
 */
const DEVICE_STEPS_AHEAD = 2;

// ---- checks ----------------------------------------------------------------------------

/** x's layout: the option if given (and possible), else by rank. */
function inputLayout(op: string, label: string, x: Tensor, layout: ExampleLayout | undefined): ExampleLayout {
  if (layout !== undefined && layout !== 'columns' && layout !== 'rows') throw new ValueError(op, `layout must be 'columns' or 'rows', got ${String(layout)}`);
  const shape = `[${x.shape.join(',')}]`;
  // predict has no dataset to name
  const where = label ? `${label}: ` : '';
  if (layout === 'columns' && x.rank !== 2) throw new ValueError(op, `${where}layout 'columns' needs x of shape [features, N], got ${shape}`);
  if (layout === 'rows' && x.rank < 1) throw new ValueError(op, `${where}layout 'rows' needs x of shape [N, …], got a scalar`);
  if (layout === undefined && x.rank < 2) {
    throw new ValueError(op, `${where}x must be a [features, N] tensor (examples as columns) or [N, …] of rank ≥ 3 (examples on axis 0), got ${shape}; pass layout: 'rows' for examples on axis 0 of a rank-1 x`);
  }
  return layout ?? (x.rank === 2 ? 'columns' : 'rows');
}

/** Targets and outputs: rank 2 is [outputs, N], any other rank [N, …]. */
function outputLayout(t: Tensor): ExampleLayout {
  return t.rank === 2 ? 'columns' : 'rows';
}

function examplesIn(t: Tensor, layout: ExampleLayout): number {
  return layout === 'columns' ? t.shape[1] : t.shape[0];
}

interface Dataset {
  x: Tensor;
  y: Tensor;
  examples: number;
  xLayout: ExampleLayout;
  yLayout: ExampleLayout;
}

function checkDataset(op: string, label: string, data: Examples | undefined, layout: ExampleLayout | undefined): Dataset {
  if (!data || !(data.x instanceof Tensor) || !(data.y instanceof Tensor)) {
    throw new ValueError(op, `${label} must be { x, y } with two tensors`);
  }
  const { x, y } = data;
  const shapes = `[${x.shape.join(',')}] and [${y.shape.join(',')}]`;
  if (x.rank === 2 && layout === undefined && y.rank !== 2) {
    throw new ValueError(op, `${label}: x and y must be [features, N] and [outputs, N] (examples are columns), got ${shapes}`);
  }
  const xLayout = inputLayout(op, label, x, layout);
  if (y.rank < 1) throw new ValueError(op, `${label}: y must be [outputs, N] or [N, …], got a scalar; shapes ${shapes}`);
  const yLayout = outputLayout(y);
  const examples = examplesIn(x, xLayout);
  if (examplesIn(y, yLayout) !== examples) {
    const where = (l: ExampleLayout) => (l === 'columns' ? 'columns' : 'on axis 0');
    throw new ValueError(op, `${label}: x has ${examples} examples (${where(xLayout)}) but y has ${examplesIn(y, yLayout)} (${where(yLayout)}); shapes ${shapes}`);
  }
  if (examples === 0) throw new ValueError(op, `${label} has no examples`);
  // one NaN in the inputs would poison every weight it meets while the loss stays finite
  for (const [name, t, l] of [['x', x, xLayout], ['y', y, yLayout]] as const) {
    const bad = firstNonFinite(t);
    if (bad) {
      const [index, value] = bad;
      const perExample = t.size / examples;
      const [example, element] = l === 'columns' ? [index % examples, Math.floor(index / examples)] : [Math.floor(index / perExample), index % perExample];
      throw new ValueError(op, `${label}: ${name} has ${value} at example ${example}, ${name === 'x' ? 'feature' : 'output'} ${element}; examples must be finite`);
    }
  }
  return { x, y, examples, xLayout, yLayout };
}

function batchSizeOf(op: string, batchSize: number | 'full' | undefined, fallback: number, examples: number): number {
  const b = batchSize ?? fallback;
  if (b === 'full') return examples;
  if (typeof b !== 'number' || !Number.isInteger(b) || b < 1) throw new ValueError(op, `batchSize must be a positive integer or 'full', got ${String(b)}`);
  return Math.min(b, examples);
}

function checkLoss(op: string, loss: unknown): LossName | LossFn {
  if (typeof loss === 'function') return loss as LossFn;
  if (LOSSES.includes(loss as LossName)) return loss as LossName;
  throw new ValueError(op, `loss must be one of ${LOSSES.join(', ')} or a function (yHat, y) => scalar tensor, got ${String(loss)}`);
}

function resolveMetrics(op: string, spec: MetricsSpec | undefined): Array<[string, MetricFn]> {
  if (spec === undefined) return [];
  const pairs: Array<[string, MetricName | MetricFn]> = Array.isArray(spec)
    ? (spec as readonly MetricName[]).map((name) => [name, name])
    : Object.entries(spec as Record<string, MetricName | MetricFn>);
  return pairs.map(([label, m]) => {
    if (typeof m === 'function') return [label, m];
    if (Object.hasOwn(METRICS, m)) return [label, METRICS[m as MetricName]];
    throw new ValueError(op, `unknown metric '${String(m)}': choose one of ${Object.keys(METRICS).join(', ')}, or pass a function (yHat, y) => number`);
  });
}

// ---- forward and cost ------------------------------------------------------------------

interface Forward {
  cost: Tensor;
  /** The model's output: for a traced output layer, computed when first read (see outputLayer). */
  readonly output: Tensor;
}

/**
 * The output layer's Zᴸ, and Aᴸ = f(Zᴸ) computed when first read (then kept). A loss in its
 * from-logits form (sigmoid + bce, softmax + cce) never reads Aᴸ, and fit's training step
 * reads it only for metrics: a softmax output is five kernels and five tape nodes a step
 * (T1) that nothing used. Where it is read inside the recording (mse, a loss of Aᴸ) it is
 * recorded as before; read after it (metrics), it is computed unrecorded, as values only.
 */
function outputLayer(layer: { trace(a: Tensor): { z: Tensor; a: Tensor } }, a: Tensor): { readonly z: Tensor; readonly a: Tensor } {
  return layer instanceof Dense ? layer.lazyTrace(a) : layer.trace(a);
}

/**
 * The batch's cost from the output layer (cost() reads `a` only for a loss of the
 * activations), and the output when asked; a class for the reason LazyLayerTrace is one.
 */
class LazyForward implements Forward {
  readonly cost: Tensor;
  constructor(private readonly head: { readonly z: Tensor; readonly a: Tensor }, readonly activation: Activation, loss: LossName, y: Tensor) {
    this.cost = cost(loss, this, y);
  }
  get z(): Tensor {
    return this.head.z;
  }
  get a(): Tensor {
    return this.head.a;
  }
  get output(): Tensor {
    return this.head.a;
  }
}

function isTraceableSequential(model: Module): model is Sequential {
  return model instanceof Sequential && model.layers.every((layer) => typeof (layer as { trace?: unknown }).trace === 'function');
}

/** The batch cost and output, by the most stable route the model and loss allow. */
function forwardFor(model: Module, loss: LossName | LossFn): (x: Tensor, y: Tensor) => Forward {
  if (typeof loss === 'function') {
    return (x, y) => {
      const output = model.forward(x);
      return { cost: loss(output, y), output };
    };
  }
  if (isTraceableSequential(model)) {
    const last = model.layers[model.layers.length - 1] as { activation?: unknown };
    const known = ACTIVATIONS.includes(last.activation as Activation);
    const layers = model.layers as ReadonlyArray<Module & { trace(a: Tensor): { z: Tensor; a: Tensor } }>;
    return (x, y) => {
      let a = x;
      for (let i = 0; i < layers.length - 1; i++) a = layers[i].trace(a).a;
      const head = outputLayer(layers[layers.length - 1], a);
      // an unknown output activation: the loss of the activations, never a from-logits form
      if (!known) return { cost: cost(loss, { z: head.a, a: head.a, activation: 'identity' }, y), output: head.a };
      return new LazyForward(head, last.activation as Activation, loss, y);
    };
  }
  if (model instanceof Sequential && model.layers.length > 0) {
    // a CNN (Conv2d…, Flatten, Dense): the layers before the last run forward, the last is
    // traced, so a softmax or sigmoid Dense output still pairs with cce or bce from logits
    const last = model.layers[model.layers.length - 1] as { trace?: unknown; activation?: unknown };
    if (typeof last.trace === 'function' && ACTIVATIONS.includes(last.activation as Activation)) {
      const body = model.layers.slice(0, -1);
      const head = last as { trace(a: Tensor): { z: Tensor; a: Tensor } };
      const activation = last.activation as Activation;
      return (x, y) => {
        let a = x;
        for (const layer of body) a = layer.forward(a);
        return new LazyForward(outputLayer(head, a), activation, loss, y);
      };
    }
  }
  return (x, y) => {
    const output = model.forward(x);
    return { cost: cost(loss, { z: output, a: output, activation: 'identity' }, y), output };
  };
}

/** The weight matrices L2 decays: parameters whose name is, or ends in, `W` (Dense's naming). */
function weightsOf(parameters: NamedParameters): Tensor[] {
  return Object.entries(parameters).filter(([name]) => name === 'W' || name.endsWith('.W')).map(([, t]) => t);
}

// ---- batches ---------------------------------------------------------------------------

/** Contiguous columns [start, end) of t; t itself when that is all of it. */
function columnRange(t: Tensor, start: number, end: number): Tensor {
  if (start === 0 && end === t.shape[1]) return t;
  const [rows, columns] = t.shape;
  const width = end - start;
  const out = t.dtype === 'float64' ? new Float64Array(rows * width) : new Float32Array(rows * width);
  for (let r = 0; r < rows; r++) out.set(t.data.subarray(r * columns + start, r * columns + end), r * width);
  return new Tensor(out, [rows, width], t.dtype);
}

/** Examples [start, end) along axis 0 of t; t itself when that is all of it. */
function rowRange(t: Tensor, start: number, end: number): Tensor {
  if (start === 0 && end === t.shape[0]) return t;
  const perExample = t.size / t.shape[0];
  return new Tensor(t.data.slice(start * perExample, end * perExample), [end - start, ...t.shape.slice(1)], t.dtype);
}

/** Examples [start, end) of t in either layout. */
function exampleRange(t: Tensor, layout: ExampleLayout, start: number, end: number): Tensor {
  return layout === 'columns' ? columnRange(t, start, end) : rowRange(t, start, end);
}

/** A batch's values on the CPU and their shape: a CPU tensor, or what a device's read returned. */
interface BatchValues {
  readonly shape: readonly number[];
  readonly data: TypedArray;
}

/** Writes a batch's [B, …] values into the examples order[start..] of an [N, …] buffer. */
function scatterRows(target: Float64Array, batch: BatchValues, order: Int32Array, start: number): void {
  const width = batch.shape[0];
  const perExample = batch.data.length / width;
  const src = batch.data;
  for (let j = 0; j < width; j++) {
    const to = order[start + j] * perExample;
    for (let i = 0; i < perExample; i++) target[to + i] = src[j * perExample + i];
  }
}

/** Writes a batch's [rows, width] values into the columns order[start..] of a [rows, columns] buffer. */
function scatterColumns(target: Float64Array, columns: number, batch: BatchValues, order: Int32Array, start: number): void {
  const [rows, width] = batch.shape;
  const src = batch.data;
  for (let r = 0; r < rows; r++) for (let j = 0; j < width; j++) target[r * columns + order[start + j]] = src[r * width + j];
}

/** The epoch's order of example indices: identity, then Fisher–Yates if shuffling (as @tapegrad/datasets' epochOrder). */
export function epochOrder(examples: number, rng: Rng | null): Int32Array {
  const order = new Int32Array(examples);
  for (let i = 0; i < examples; i++) order[i] = i;
  if (rng) shuffleInPlace(order, rng);
  return order;
}

function computeMetrics(metrics: Array<[string, MetricFn]>, yHat: Tensor, y: Tensor): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [label, fn] of metrics) out[label] = fn(yHat, y);
  return out;
}

// ---- progress --------------------------------------------------------------------------

/** How fit shows progress; fit's `progress` option picks one (see ReporterFactory). */
export interface Reporter {
  startEpoch(epoch: number, batches: number): void;
  batch(done: number, loss: number): void;
  endEpoch(log: EpochLog): void;
  close(): void;
}

export function formatNumber(v: number): string {
  return Number.isFinite(v) && Math.abs(v) >= 1e-3 && Math.abs(v) < 1e5 ? v.toFixed(4) : v.toPrecision(4);
}

/** `accuracy 0.7500  val_loss 0.5012  0.12s  33333 examples/s`: what follows the loss on an epoch's line. */
export function epochSummary(log: EpochLog): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(log.metrics)) parts.push(`${k} ${formatNumber(v)}`);
  if (log.validation) {
    parts.push(`val_loss ${formatNumber(log.validation.loss)}`);
    for (const [k, v] of Object.entries(log.validation.metrics)) parts.push(`val_${k} ${formatNumber(v)}`);
  }
  parts.push(`${log.seconds.toFixed(2)}s`, `${Math.round(log.examplesPerSecond)} examples/s`);
  return parts.join('  ');
}

/** One line: `epoch 3/20  loss 0.4123  accuracy 0.7500  val_loss 0.5012  0.12s  33333 examples/s`. */
export function formatEpochLog(log: EpochLog, epochs: number): string {
  return `epoch ${log.epoch}/${epochs}  loss ${formatNumber(log.loss)}  ${epochSummary(log)}`;
}

/** Picks the progress display for fit's `progress` option: the console's here, the terminal's in the Node entry. */
export type ReporterFactory = (progress: FitOptions['progress'], epochs: number) => Reporter | null | Promise<Reporter | null>;

/** The universal display: one console line per epoch for `progress: true`; 'auto' has no terminal to look for. */
const consoleReporter: ReporterFactory = (progress, epochs) =>
  progress === true ? { startEpoch() {}, batch() {}, endEpoch: (log) => console.log(formatEpochLog(log, epochs)), close() {} } : null;

function yieldToEventLoop(): Promise<void> {
  // setImmediate runs before timers in Node; a browser has only setTimeout (≥ 4 ms once nested)
  return new Promise((resolve) => (typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0)));
}

// ---- fit, evaluate, predict ------------------------------------------------------------

/**
 * Trains the model in place and returns one log per finished epoch. Asynchronous only so that
 * an AbortSignal (a timer, Ctrl-C) can be heard between batches: the steps themselves are
 * synchronous, and the results depend only on the seed, never on timing.
 *
 * Modes: the steps run in training mode (`model.train()`: Dropout drops, BatchNorm normalises
 * by batch statistics), validation in evaluation mode; the model returns to the mode it was in.
 *
 * Memory: for the duration of the call fit holds a row-major copy of a `[features, N]` `x`
 * and of a `[outputs, N]` `y` (one more copy of each), from which every batch's columns are
 * gathered as contiguous runs; `[N, …]` data needs no copy (each example already is one). Each
 * step's forward and backward pass runs inside core's `tidy()`, so their buffers are reused by
 * the next step; the optimiser's step runs outside it (`outsideTidy`), so an optimiser of your
 * own may keep the tensors it creates (a velocity) without `keep()`.
 *
 * Divergence: by default a NaN or ±∞ loss (checked every step) or parameter (checked every
 * epoch) stops training with a NonFiniteError naming the epoch and step; see `onNonFinite`.
 *
 * On a device backend (a GPU's memory) fit cannot read the loss at every step and rejects
 * with a DeviceTensorError: use `fitAsync`, the same options and results on every backend.
 *
 * ```ts
 * const history = await fit(model, { x, y }, { loss: 'bce', optimizer: sgd, epochs: 100, batchSize: 4, metrics: ['accuracy'] });
 * ```
 */
export function fit(model: Module, data: Examples, options: FitOptions): Promise<History> {
  return fitWith(consoleReporter, model, data, options);
}

/**
 * Fewest full-size batches an epoch must have for fit to replay when an onEpoch callback runs:
 * each epoch then begins with a check (an ordinary step and one replay), which fewer replayed
 * steps would not pay for.
 */
const MIN_BATCHES_TO_RECHECK = 4;

/** fit's checked options and what every step needs, shared by fit and fitAsync. */
interface FitPlan {
  x: Tensor;
  y: Tensor;
  examples: number;
  xLayout: ExampleLayout;
  loss: LossName | LossFn;
  epochs: number;
  batchSize: number;
  l2: number;
  seed: number;
  metrics: Array<[string, MetricFn]>;
  validation: Dataset | undefined;
  onNonFinite: 'stop' | 'warn' | 'ignore';
  parameters: NamedParameters;
  params: Tensor[];
  weights: Tensor[];
  forward: (x: Tensor, y: Tensor) => Forward;
  objectiveOf: (xb: Tensor, yb: Tensor) => Tensor;
  /** Batches gathered in the epoch's order whatever the layout (see planFit). */
  sampleX: ColumnSampler | RowSampler;
  sampleY: ColumnSampler | RowSampler;
}

function planFit(op: string, model: Module, data: Examples, options: FitOptions): FitPlan {
  const { x, y, examples, xLayout } = checkDataset(op, 'data', data, options?.layout);
  if (!options || typeof options.optimizer?.step !== 'function') throw new ValueError(op, 'options.optimizer must be an Optimizer (with step(params, grads, objective))');
  const loss = checkLoss(op, options.loss);
  const { epochs } = options;
  if (!Number.isInteger(epochs) || epochs < 0) throw new ValueError(op, `epochs must be a non-negative integer, got ${String(epochs)}`);
  const batchSize = batchSizeOf(op, options.batchSize, DEFAULT_BATCH_SIZE, examples);
  const l2 = options.l2 ?? 0;
  if (typeof l2 !== 'number' || !(l2 >= 0) || !Number.isFinite(l2)) throw new ValueError(op, `l2 must be a finite number ≥ 0, got ${String(l2)}`);
  const seed = options.seed ?? DEFAULT_SEED;
  if (!Number.isInteger(seed)) throw new ValueError(op, `seed must be an integer, got ${String(seed)}`);
  const metrics = resolveMetrics(op, options.metrics);
  const validation = options.validation === undefined ? undefined : checkDataset(op, 'validation', options.validation, xLayout);
  const onNonFinite = options.onNonFinite ?? 'stop';
  if (!['stop', 'warn', 'ignore'].includes(onNonFinite)) throw new ValueError(op, `onNonFinite must be 'stop', 'warn' or 'ignore', got ${String(onNonFinite)}`);
  if (options.replay !== undefined && typeof options.replay !== 'boolean') throw new ValueError(op, `replay must be true or false, got ${String(options.replay)}`);

  const parameters = model.parameters();
  const params = Object.values(parameters);
  if (params.length === 0) throw new ValueError(op, 'the model has no parameters to train');
  const weights = l2 > 0 ? weightsOf(parameters) : [];
  if (l2 > 0 && weights.length === 0) throw new ValueError(op, `l2 = ${l2} but the model has no weight matrices (parameters named 'W' or '….W') to decay`);
  const forward = forwardFor(model, loss);
  const objectiveOf = (xb: Tensor, yb: Tensor): Tensor => {
    const c = forward(xb, yb).cost;
    return l2 > 0 ? add(c, l2Penalty(weights, l2)) : c;
  };
  // batches gathered in the same seeded order whatever the layout: columns from row-major
  // copies of x and y (one more copy of each, freed when training returns), rows straight from them
  const samplerOf = (t: Tensor, layout: ExampleLayout) => (layout === 'columns' ? columnSampler(t) : rowSampler(t));
  const sampleX = samplerOf(x, xLayout);
  const sampleY = samplerOf(y, outputLayout(y));
  return { x, y, examples, xLayout, loss, epochs, batchSize, l2, seed, metrics, validation, onNonFinite, parameters, params, weights, forward, objectiveOf, sampleX, sampleY };
}

/** What fit does with a NaN or ±∞ under `onNonFinite`: throw, warn once, or nothing. */
function nonFiniteHandler(op: string, onNonFinite: FitPlan['onNonFinite'], history: History): (epoch: number, step: number | null, quantity: string, value: number) => void {
  let warned = false;
  return (epoch, step, quantity, value) => {
    if (onNonFinite === 'stop') throw new NonFiniteError(epoch, step, quantity, value, history);
    if (!warned) {
      warned = true;
      emitWarning(`${op}: ${quantity} is ${value} in epoch ${epoch}${step === null ? '' : `, step ${step}`}; training goes on (onNonFinite: 'warn')`, 'TAPEGRAD_NON_FINITE');
    }
  };
}

/**
 * The typed error of a synchronous loop (fit, evaluate, predict) while a device backend is
 * active: it reads values on the CPU at every batch, which a device's memory only allows
 * asynchronously. Names the async counterpart, which runs on every backend.
 */
function refuseDeviceBackend(op: string, asyncName: string): void {
  const backend = getBackend();
  if (backend.memory !== undefined) {
    throw new DeviceTensorError(op, `the active backend '${backend.name}' keeps tensors on its device, where ${op} cannot read values synchronously; use \`await ${asyncName}(…)\` (same options and results, on every backend)`);
  }
}

/**
 * One epoch's steps, as fit (a CPU backend: the loss read at every step) or fitAsync (a
 * device: the loss summed where it is and read once) takes them; `trainEpochs` runs the loop
 * around them — the order, progress, yields, abort, timing, validation and History.
 */
interface EpochSteps {
  /**
   * Trains on the examples order[start, end); returns the running mean loss to report (NaN
   * when it is not read per step), or a promise of it when the step must wait for a device.
   */
  step(start: number, end: number, batch: number): number | Promise<number>;
  /** After the last step, once its work is done: Σ batch cost × batch size. The epoch's time stops here. */
  lossTotal(): Promise<number>;
  /** The epoch-end checks for non-finite values, then the metrics of the epoch's training predictions. */
  finish(lossTotal: number): Promise<Record<string, number>>;
  /** How many of the epoch's steps so far were replayed. */
  replayedSteps(): number;
}

type EpochStepsFactory = (epoch: number, order: Int32Array, nonFinite: ReturnType<typeof nonFiniteHandler>) => EpochSteps;

/** The epoch loop of fit and fitAsync; `stepsOf` says how one epoch's steps run, `validate` how the validation set is scored. */
async function trainEpochs(
  op: string,
  reporterFor: ReporterFactory,
  model: Module,
  plan: FitPlan,
  options: FitOptions,
  stepsOf: EpochStepsFactory,
  validate: (validation: Dataset) => Promise<EvaluateResult>,
): Promise<History> {
  const { examples, epochs, batchSize, seed, validation, onNonFinite } = plan;
  const { signal, onEpoch, onBatch } = options;
  const history: History = [];
  const nonFinite = nonFiniteHandler(op, onNonFinite, history);
  const rng = options.shuffle === false ? null : createRng(seed);
  const batches = Math.ceil(examples / batchSize);
  const reporter = await reporterFor(options.progress, epochs);
  let lastYield = performance.now();
  // training mode for the steps (Dropout drops, BatchNorm uses batch statistics); the mode the
  // model was in comes back when fit returns or throws
  const wasTraining = setTrainingMode(model, true);
  try {
    for (let epoch = 1; epoch <= epochs; epoch++) {
      if (signal?.aborted) break;
      const order = epochOrder(examples, rng);
      const steps = stepsOf(epoch, order, nonFinite);
      let aborted = false;
      let seconds = 0;
      reporter?.startEpoch(epoch, batches);
      let started = performance.now();
      for (let b = 0; b < batches; b++) {
        if (performance.now() - lastYield > YIELD_EVERY_MS) {
          seconds += performance.now() - started;
          await yieldToEventLoop();
          lastYield = started = performance.now();
        }
        if (signal?.aborted) {
          aborted = true;
          break;
        }
        const start = b * batchSize;
        const end = Math.min(start + batchSize, examples);
        const stepped = steps.step(start, end, b + 1);
        const meanLoss = typeof stepped === 'number' ? stepped : await stepped;
        reporter?.batch(b + 1, meanLoss);
        onBatch?.({ epoch, batch: b + 1, batches, loss: meanLoss });
      }
      if (aborted) break;
      const lossTotal = await steps.lossTotal();
      seconds = (seconds + performance.now() - started) / 1000;
      const metrics = await steps.finish(lossTotal);
      const log: EpochLog = {
        epoch, loss: lossTotal / examples, metrics, seconds, examplesPerSecond: seconds > 0 ? examples / seconds : Infinity, replayedSteps: steps.replayedSteps(),
      };
      if (validation) {
        const result = await validate(validation);
        log.validation = { loss: result.loss!, metrics: result.metrics };
      }
      history.push(log);
      reporter?.endEpoch(log);
      if (onEpoch && (await onEpoch(log)) === false) break;
    }
  } finally {
    reporter?.close();
    setTrainingMode(model, wasTraining);
  }
  return history;
}

/** The first non-finite parameter, by name, reported through `nonFinite` (values read synchronously: a CPU backend). */
function checkParameters(parameters: NamedParameters, epoch: number, nonFinite: ReturnType<typeof nonFiniteHandler>): void {
  for (const [name, p] of Object.entries(parameters)) {
    const bad = firstNonFinite(p);
    if (bad) {
      nonFinite(epoch, null, `parameter '${name}'`, bad[1]);
      return;
    }
  }
}

/** fit with the progress display that `reporterFor` picks (the Node entry passes the terminal's). */
export async function fitWith(reporterFor: ReporterFactory, model: Module, data: Examples, options: FitOptions): Promise<History> {
  const op = 'fit';
  refuseDeviceBackend(op, 'fitAsync');
  const plan = planFit(op, model, data, options);
  const { examples, batchSize, l2, metrics, onNonFinite, parameters, params, weights, forward, objectiveOf, loss, sampleX, sampleY, xLayout } = plan;
  const { optimizer } = options;
  const replay = new StepReplay();
  const fullBatches = Math.floor(examples / batchSize);
  if (options.replay === false) replay.disable('FitOptions.replay is false');
  else if (optimizer.replayable !== true) replay.disable(`the optimiser '${optimizer.name}' is not replayable`);
  else if (options.onEpoch !== undefined && fullBatches < MIN_BATCHES_TO_RECHECK) {
    replay.disable(`an epoch has ${fullBatches} full-size batch${fullBatches === 1 ? '' : 'es'}: the check repeated after each onEpoch would cost more than replaying saves`);
  }
  const stepsOf: EpochStepsFactory = (epoch, order, nonFinite) => {
    // the epoch's predictions, each example in its own place (column or row), for the metrics
    const outputs = metrics.length > 0 ? { values: null as Float64Array | null, shape: [] as number[] } : null;
    let lossSum = 0;
    // after the user's onEpoch (which may have changed what a step computes: a layer's mode, a
    // field its forward reads) the recording is checked again against an ordinary step, and
    // recorded afresh if it differs
    if (options.onEpoch !== undefined) replay.recheck();
    const replayedBefore = replay.replayed;
    return {
      step(start, end, batch) {
        let batchLoss = NaN;
        // each step in a tidy: its batch, activations, cotangents and gradients go back to the
        // buffer pool when it ends, and the next step reuses them instead of allocating
        tidy(() => {
          const xb = sampleX.take(order.subarray(start, end));
          const yb = sampleY.take(order.subarray(start, end));
          // the next batch of x is gathered on another thread (native backend) while this one trains
          if (end < examples && 'prefetch' in sampleX) sampleX.prefetch(order.subarray(end, Math.min(end + batchSize, examples)));
          // forward and gradient; the loss read and checked; the optimiser's update — each
          // step ordinary, or (once it proved the same) replayed by StepReplay
          replay.run([xb, yb], {
            compute([x, y]) {
              const tape = new Tape();
              const forwarded = tape.record(() => forward(x, y));
              const objective = l2 > 0 ? tape.record(() => add(forwarded.cost, l2Penalty(weights, l2))) : forwarded.cost;
              const grads = tape.gradient(objective, params);
              return { outputs: outputs ? [forwarded.cost, forwarded.output] : [forwarded.cost], carry: grads };
            },
            between([batchCost, output]) {
              batchLoss = batchCost.item();
              // checked before the update, so 'stop' leaves the parameters the loss was computed at
              if (onNonFinite !== 'ignore' && !Number.isFinite(batchLoss)) nonFinite(epoch, batch, 'loss', batchLoss);
              if (outputs) {
                const columns = outputLayout(output) === 'columns';
                if (!outputs.values) {
                  outputs.shape = columns ? [output.shape[0], examples] : [examples, ...output.shape.slice(1)];
                  outputs.values = new Float64Array(output.size / (end - start) * examples);
                }
                if (columns) scatterColumns(outputs.values, examples, output, order, start);
                else scatterRows(outputs.values, output, order, start);
              }
            },
            // outside the pooled scope: what the optimiser creates and stores (a velocity, a
            // moment) must survive the step without the optimiser having to keep() it
            update: (grads) => outsideTidy(() => optimizer.step(params, grads, () => objectiveOf(xb, yb))),
            prepare: (advance) => optimizer.prepareReplay?.(params, advance),
          });
        });
        lossSum += batchLoss * (end - start);
        return lossSum / end;
      },
      replayedSteps: () => replay.replayed - replayedBefore,
      lossTotal: async () => lossSum,
      async finish() {
        if (onNonFinite !== 'ignore') checkParameters(parameters, epoch, nonFinite);
        return outputs?.values ? computeMetrics(metrics, new Tensor(outputs.values, outputs.shape, 'float64'), plan.y) : {};
      },
    };
  };
  return trainEpochs(op, reporterFor, model, plan, options, stepsOf, async (validation) => evaluate(model, validation, { loss, metrics: options.metrics, layout: xLayout }));
}

// ---- the asynchronous loops: every backend, devices included ----------------------------

/** A tensor the CPU can read: t itself, or a copy of a device tensor's values read back once. */
async function onCpu(t: Tensor): Promise<Tensor> {
  return t.device === 'cpu' ? t : new Tensor(await t.dataAsync(), t.shape, t.dtype);
}

/** data with both tensors on the CPU, where the checks and the batch samplers read them. */
async function examplesOnCpu(data: Examples): Promise<Examples> {
  if (!data || !(data.x instanceof Tensor) || !(data.y instanceof Tensor)) return data;
  return { x: await onCpu(data.x), y: await onCpu(data.y) };
}

/** A CPU batch uploaded once to the active backend's device, so every op of the step reads the same device copy. */
function uploaded(t: Tensor): Tensor {
  const memory = getBackend().memory;
  return memory === undefined ? t : new Tensor(memory.upload(t.data), t.shape, t.dtype);
}

/** Whether the model reads its input as indices (an Embedding first), which `take` needs on the CPU: x then stays there. */
function takesIndices(model: Module): boolean {
  return model instanceof Embedding || (model instanceof Sequential && model.layers[0] instanceof Embedding);
}

/**
 * `fit` for every backend, a device's (`@tapegrad/backend-webgpu`) included: the same
 * options, training and History. On a CPU backend it is `fit`, step for step. On a device
 * backend each batch is uploaded once, the whole step (forward, backward, optimiser) only
 * enqueues work, and values are read once per epoch: the epoch's loss summed on the device
 * (and the training predictions when `metrics` are asked for, read without stalling the
 * steps). The loop stays at most two steps ahead of the device (it waits on a fence, no
 * transfer), so the progress, `onBatch` and an abort follow the device and the queued work
 * stays bounded. Hence on a device:
 * - `onBatch` and the progress bar get `loss: NaN` (it is not read per step);
 * - non-finite values are checked once per epoch, on the summed loss and the parameters
 *   (a NonFiniteError's `step` is then null), so 'stop' throws after the epoch's steps;
 * - data given as device tensors is read back once (the batch samplers work on the CPU);
 * - a model that starts with an Embedding gets its batch of ids on the CPU (`take` reads
 *   indices there); every other batch is uploaded once;
 * - only optimisers that update on the device work: SGD, Momentum/Nesterov, Adam and RProp
 *   (L-BFGS and Newton-CG, whose line searches read values, throw a DeviceTensorError).
 *
 * ```ts
 * const history = await fitAsync(model, { x, y }, { loss: 'cce', optimizer: new Adam({ lr: 0.01 }), epochs: 5 });
 * ```
 */
export function fitAsync(model: Module, data: Examples, options: FitOptions): Promise<History> {
  return fitAsyncWith(consoleReporter, model, data, options);
}

/** fitAsync with the progress display that `reporterFor` picks (the Node entry passes the terminal's). */
export async function fitAsyncWith(reporterFor: ReporterFactory, model: Module, data: Examples, options: FitOptions): Promise<History> {
  const memory = getBackend().memory;
  if (memory === undefined) return fitWith(reporterFor, model, data, options);
  const op = 'fitAsync';
  const cpuData = await examplesOnCpu(data);
  const cpuOptions = options?.validation === undefined ? options : { ...options, validation: await examplesOnCpu(options.validation) };
  const plan = planFit(op, model, cpuData, cpuOptions);
  const { examples, batchSize, l2, metrics, onNonFinite, parameters, params, weights, forward, objectiveOf, loss, sampleX, sampleY, xLayout } = plan;
  const { optimizer } = options;
  const placeX = takesIndices(model) ? (t: Tensor) => t : uploaded;
  const stepsOf: EpochStepsFactory = (epoch, order, nonFinite) => {
    // each batch's predictions, read back as the device gets to them, placed at the epoch's end
    const outputs: Array<{ read: Promise<TypedArray>; shape: readonly number[]; start: number }> = [];
    // Σ batch cost × batch size, summed on the device: one read per epoch instead of one per step
    const lossSum = zeros([], { dtype: params[0].dtype });
    // fences of the last steps enqueued (no transfer): the loop waits on the oldest
    const ahead: Array<Promise<void>> = [];
    return {
      async step(start, end) {
        tidy(() => {
          const xb = placeX(sampleX.take(order.subarray(start, end)));
          const yb = uploaded(sampleY.take(order.subarray(start, end)));
          const tape = new Tape();
          const forwarded = tape.record(() => forward(xb, yb));
          const batchCost = forwarded.cost;
          const objective = l2 > 0 ? tape.record(() => add(batchCost, l2Penalty(weights, l2))) : batchCost;
          const grads = tape.gradient(objective, params);
          noGrad(() => lossSum.assign(add(lossSum, mul(batchCost, end - start))));
          // the read is enqueued now (a copy after this step's forward), awaited at the epoch's end
          if (metrics.length > 0) {
            const output = forwarded.output;
            outputs.push({ read: output.dataAsync(), shape: output.shape, start });
          }
          outsideTidy(() => optimizer.step(params, grads, () => objectiveOf(xb, yb)));
        });
        ahead.push(memory.settled());
        if (ahead.length > DEVICE_STEPS_AHEAD) await ahead.shift();
        return NaN;
      },
      lossTotal: () => lossSum.itemAsync(),
      // a device's step only enqueues work: nothing to replay
      replayedSteps: () => 0,
      async finish(lossTotal) {
        if (onNonFinite !== 'ignore') {
          if (!Number.isFinite(lossTotal)) nonFinite(epoch, null, 'loss', lossTotal);
          // 0 when every parameter is finite, NaN otherwise (0·±∞ is NaN): one number to read, not the parameters
          const probed = await tidy(() => noGrad(() => params.reduce((acc, p) => add(acc, sum(mul(p, 0))), scalar(0, params[0].dtype)))).itemAsync();
          if (!Number.isFinite(probed)) {
            for (const [name, p] of Object.entries(parameters)) {
              const values = await p.dataAsync();
              const bad = values.find((v) => !Number.isFinite(v));
              if (bad !== undefined) {
                nonFinite(epoch, null, `parameter '${name}'`, bad);
                break;
              }
            }
          }
        }
        if (outputs.length === 0) return {};
        const reads = await Promise.all(outputs.map((o) => o.read));
        const first = outputs[0].shape;
        const columns = first.length === 2;
        const shape = columns ? [first[0], examples] : [examples, ...first.slice(1)];
        const values = new Float64Array(reads[0].length / (first[columns ? 1 : 0]) * examples);
        outputs.forEach((o, i) => {
          const batch = { shape: o.shape, data: reads[i] };
          if (columns) scatterColumns(values, examples, batch, order, o.start);
          else scatterRows(values, batch, order, o.start);
        });
        return computeMetrics(metrics, new Tensor(values, shape, 'float64'), plan.y);
      },
    };
  };
  return trainEpochs(op, reporterFor, model, plan, options, stepsOf, (validation) => evaluateAsync(model, validation, { loss, metrics: options.metrics, layout: xLayout }));
}

/**
 * `evaluate` for every backend: the same options and result. On a CPU backend it is
 * `evaluate`; on a device backend each batch is uploaded once, the loss is summed on the
 * device and read once, and the predictions are read back for the metrics (computed on the
 * CPU, as `evaluate` computes them).
 */
export async function evaluateAsync(model: Module, data: Examples, options: EvaluateOptions = {}): Promise<EvaluateResult> {
  if (getBackend().memory === undefined) return evaluate(model, data, options);
  const op = 'evaluateAsync';
  const { x, y, examples, xLayout, yLayout } = checkDataset(op, 'data', await examplesOnCpu(data), options.layout);
  const loss = options.loss === undefined ? undefined : checkLoss(op, options.loss);
  const metrics = resolveMetrics(op, options.metrics);
  const batchSize = batchSizeOf(op, options.batchSize, DEFAULT_EVAL_BATCH_SIZE, examples);
  if (loss === undefined && metrics.length === 0) throw new ValueError(op, 'nothing to compute: give a loss, metrics, or both');
  const forward = loss === undefined ? null : forwardFor(model, loss);
  // created at the first batch, in the cost's dtype
  let lossSum: Tensor | null = null;
  const reads: Array<{ read: Promise<TypedArray>; shape: readonly number[]; dtype: Tensor['dtype'] }> = [];
  const placeX = takesIndices(model) ? (t: Tensor) => t : uploaded;
  const wasTraining = setTrainingMode(model, false);
  try {
    for (let start = 0; start < examples; start += batchSize) {
      const end = Math.min(start + batchSize, examples);
      tidy(() => noGrad(() => {
        const xb = placeX(exampleRange(x, xLayout, start, end));
        let outputOf: () => Tensor;
        if (forward) {
          const result = forward(xb, uploaded(exampleRange(y, yLayout, start, end)));
          outputOf = () => result.output; // computed only for metrics
          const weighted = mul(result.cost, end - start);
          if (lossSum === null) lossSum = keep(weighted);
          else lossSum.assign(add(lossSum, weighted));
        } else {
          const output = model.forward(xb);
          outputOf = () => output;
        }
        if (metrics.length > 0) {
          const output = outputOf();
          reads.push({ read: output.dataAsync(), shape: output.shape, dtype: output.dtype });
        }
      }));
    }
  } finally {
    setTrainingMode(model, wasTraining);
  }
  // assigned inside the tidy callbacks, which narrowing does not see
  const total = lossSum as Tensor | null;
  const [lossTotal, values] = await Promise.all([total === null ? 0 : total.itemAsync(), Promise.all(reads.map((r) => r.read))]);
  const result: EvaluateResult = {
    metrics: metrics.length > 0 ? computeMetrics(metrics, concatValues(reads.map((r, i) => ({ values: values[i], shape: r.shape, dtype: r.dtype })), examples), y) : {},
  };
  if (loss !== undefined) result.loss = lossTotal / examples;
  return result;
}

/**
 * `predict` for every backend: the same options, and Ŷ as a CPU tensor (on a device backend
 * each batch is uploaded once and its prediction read back; on a CPU backend it is `predict`).
 */
export async function predictAsync(model: Module, x: Tensor, options: PredictOptions = {}): Promise<Tensor> {
  if (getBackend().memory === undefined) return predict(model, x, options);
  const op = 'predictAsync';
  if (!(x instanceof Tensor)) throw new ValueError(op, `x must be a tensor, [features, N] (examples as columns) or [N, …] of rank ≥ 3 (examples on axis 0), got ${typeof x}`);
  const layout = inputLayout(op, '', x, options.layout);
  const examples = examplesIn(x, layout);
  if (examples === 0) throw new ValueError(op, `x has no examples: [${x.shape.join(',')}]`);
  const batchSize = batchSizeOf(op, options.batchSize, DEFAULT_EVAL_BATCH_SIZE, examples);
  const cpuX = await onCpu(x);
  const placeX = takesIndices(model) ? (t: Tensor) => t : uploaded;
  const reads: Array<{ read: Promise<TypedArray>; shape: readonly number[]; dtype: Tensor['dtype'] }> = [];
  const wasTraining = setTrainingMode(model, false);
  try {
    for (let start = 0; start < examples; start += batchSize) {
      const end = Math.min(start + batchSize, examples);
      tidy(() => noGrad(() => {
        const output = model.forward(placeX(exampleRange(cpuX, layout, start, end)));
        reads.push({ read: output.dataAsync(), shape: output.shape, dtype: output.dtype });
      }));
    }
  } finally {
    setTrainingMode(model, wasTraining);
  }
  const values = await Promise.all(reads.map((r) => r.read));
  return concatValues(reads.map((r, i) => ({ values: values[i], shape: r.shape, dtype: r.dtype })), examples);
}

/**
 * The mean cost per example (when a loss is given) and the metrics of the model on data,
 * without recording anything, in evaluation mode (Dropout off, BatchNorm's running statistics;
 * the model's mode is restored afterwards). Batches only bound memory: the result is the same
 * for any batch size, up to rounding. On a device backend: a DeviceTensorError, use `evaluateAsync`.
 */
export function evaluate(model: Module, data: Examples, options: EvaluateOptions = {}): EvaluateResult {
  const op = 'evaluate';
  refuseDeviceBackend(op, 'evaluateAsync');
  const { x, y, examples, xLayout, yLayout } = checkDataset(op, 'data', data, options.layout);
  const loss = options.loss === undefined ? undefined : checkLoss(op, options.loss);
  const metrics = resolveMetrics(op, options.metrics);
  const batchSize = batchSizeOf(op, options.batchSize, DEFAULT_EVAL_BATCH_SIZE, examples);
  if (loss === undefined && metrics.length === 0) throw new ValueError(op, 'nothing to compute: give a loss, metrics, or both');
  return inEvaluationMode(model, () => noGrad(() => {
    const forward = loss === undefined ? null : forwardFor(model, loss);
    let lossSum = 0;
    const outputs: Tensor[] = [];
    for (let start = 0; start < examples; start += batchSize) {
      const end = Math.min(start + batchSize, examples);
      const xb = exampleRange(x, xLayout, start, end);
      if (forward) {
        const result = forward(xb, exampleRange(y, yLayout, start, end));
        lossSum += result.cost.item() * (end - start);
        if (metrics.length > 0) outputs.push(result.output);
      } else {
        outputs.push(model.forward(xb));
      }
    }
    const result: EvaluateResult = { metrics: metrics.length > 0 ? computeMetrics(metrics, concatExamples(outputs, examples), y) : {} };
    if (loss !== undefined) result.loss = lossSum / examples;
    return result;
  }));
}

/** f() with the model in evaluation mode, then back in the mode it was in (fit validates mid-training). */
function inEvaluationMode<T>(model: Module, f: () => T): T {
  const wasTraining = setTrainingMode(model, false);
  try {
    return f();
  } finally {
    setTrainingMode(model, wasTraining);
  }
}

/** A batch's output values as the CPU has them: the typed array, its shape and dtype. */
interface OutputValues {
  values: TypedArray;
  shape: readonly number[];
  dtype: Tensor['dtype'];
}

/** Batches' outputs joined along their examples: columns side by side, [N, …] rows stacked. */
function concatExamples(parts: readonly Tensor[], examples: number): Tensor {
  if (parts.length === 1) return parts[0];
  return concatValues(parts.map((t) => ({ values: t.data, shape: t.shape, dtype: t.dtype })), examples);
}

/** concatExamples of values read back (from a device), always into a new CPU tensor. */
function concatValues(parts: readonly OutputValues[], examples: number): Tensor {
  // rank 2 is [outputs, N] (outputLayout's rule)
  if (parts[0].shape.length === 2) return concatColumns(parts, examples);
  const perExample = parts[0].values.length / parts[0].shape[0];
  const dtype = parts[0].dtype;
  const out = dtype === 'float64' ? new Float64Array(perExample * examples) : new Float32Array(perExample * examples);
  let offset = 0;
  for (const part of parts) {
    out.set(part.values, offset);
    offset += part.values.length;
  }
  return new Tensor(out, [examples, ...parts[0].shape.slice(1)], dtype);
}

/** Side by side, [rows, Σ widths]. */
function concatColumns(parts: readonly OutputValues[], examples: number): Tensor {
  const rows = parts[0].shape[0];
  const dtype = parts[0].dtype;
  const out = dtype === 'float64' ? new Float64Array(rows * examples) : new Float32Array(rows * examples);
  let offset = 0;
  for (const part of parts) {
    const width = part.shape[1];
    for (let r = 0; r < rows; r++) out.set(part.values.subarray(r * width, (r + 1) * width), r * examples + offset);
    offset += width;
  }
  return new Tensor(out, [rows, examples], dtype);
}

/**
 * model.forward(x) in batches without recording, in evaluation mode: Ŷ as [outputs, N] when
 * the model outputs rank 2 (Dense last), else [N, …]. x is [features, N] or [N, …] of rank
 * ≥ 3 (see ExampleLayout). On a device backend: a DeviceTensorError, use `predictAsync`.
 */
export function predict(model: Module, x: Tensor, options: PredictOptions = {}): Tensor {
  const op = 'predict';
  refuseDeviceBackend(op, 'predictAsync');
  if (!(x instanceof Tensor)) throw new ValueError(op, `x must be a tensor, [features, N] (examples as columns) or [N, …] of rank ≥ 3 (examples on axis 0), got ${typeof x}`);
  const layout = inputLayout(op, '', x, options.layout);
  const examples = examplesIn(x, layout);
  if (examples === 0) throw new ValueError(op, `x has no examples: [${x.shape.join(',')}]`);
  const batchSize = batchSizeOf(op, options.batchSize, DEFAULT_EVAL_BATCH_SIZE, examples);
  return inEvaluationMode(model, () => noGrad(() => {
    const outputs: Tensor[] = [];
    for (let start = 0; start < examples; start += batchSize) outputs.push(model.forward(exampleRange(x, layout, start, Math.min(start + batchSize, examples))));
    return concatExamples(outputs, examples);
  }));
}
