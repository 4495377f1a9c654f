/**
 * Two companions of the `tapegrad (<backend>)` row (which trains the way nn's `fit` does:
 * `tidy`, `model.trace` + `cost`, `tape.gradient`, in-place `SGD.step`), on the same backend:
 *
 * - **the user loop**: what a user writes from the README's "A taste" with core alone — the
 *   weights as plain tensors, a new `Tape` per step, `tape.gradient`, and functional updates
 *   `W = sub(W, mul(dW, lr))`, with no `tidy`, no `keep`, no optimiser object. Its speed
 *   against `fit`'s row says what knowing the library's internals is worth (issue 13's target:
 *   within 1.15×).
 * - **the engine**: nn's hand-written BP1–BP4 (`manualBackprop`: the seeds' derivation, no tape)
 *   for the gradients, with `fit`'s SGD step and batch gather, so the two rows differ only in
 *   how the gradients are found (target: the tape's step ≤ 1.1× the engine's).
 */
import {
  type ColumnSampler, Tape, type Tensor, add, columnSampler, logSoftmax, matmul, mean, mul, neg, noGrad, relu, setBackend, sigmoid, softplus, sub, sum,
  tensor, tidy,
} from '@tapegrad/core';
import { type Batch, batches } from '@tapegrad/datasets';
import { SGD, type Sequential, manualBackprop } from '@tapegrad/nn';
import { CLASSES, type Layer, ORDER_SEED, PIXELS, type TaskSpec } from '../protocol.js';
import { buildModel, columnsOf, oneHotColumns } from './tapegrad.js';
import { type Framework, type TrainData, type Trainer, argmaxRows } from './types.js';

/** Which tasks the companions run (issue 13: the user loop on T1 and T3; the engine beside the tape step). */
const COMPANION_TASKS = ['T1', 'T3'];

/**
 * The loop of the README's "A taste", grown to the protocol's MLPs: core ops only, examples as
 * columns, Zˡ = Wˡ Aˡ⁻¹ + bˡ, the task's cost written out (softmax cross-entropy through
 * `logSoftmax`; sigmoid + BCE in its logits form, softplus(z) − y·z), SGD as
 * `W = sub(W, mul(dW, lr))`, over the batches of @tapegrad/datasets' `batches()`. Nothing is
 * tidied: every tensor is left to the garbage collector.
 */
export class UserLoopTrainer implements Trainer {
  private weights: Tensor[] = [];
  private readonly x: Tensor;
  private readonly y: Tensor;
  /**
   * The batches as a user's loop gets them: @tapegrad/datasets' batches() over the protocol's
   * order (seed 42, one generator across epochs), which gathers each next batch ahead as fit
   * does. null once a caller has left that sequence.
   */
  private stream: Generator<Batch<{ x: Tensor; y: Tensor }>, void, undefined> | null;
  /** For a caller off the protocol's sequence (a plan cut short, the allocation probe): its batches gathered at take. */
  private samplers: { xs: ColumnSampler; ys: ColumnSampler } | null = null;

  /**
   * `inTidy`: the same step inside `tidy`, returning the new weights — not what the row runs,
   * but bench/src/loops.ts's control: what the loop costs once its buffers are pooled.
   */
  constructor(private readonly task: TaskSpec, private readonly data: TrainData, layers: Layer[], private readonly inTidy = false) {
    for (let l = 0; l < layers.length; l++) {
      const [inputs, outputs] = [task.sizes[l], task.sizes[l + 1]];
      this.weights.push(tensor(layers[l].W.slice(), { shape: [outputs, inputs], dtype: 'float32' }));
      this.weights.push(tensor(layers[l].b.slice(), { shape: [outputs, 1], dtype: 'float32' }));
    }
    const { train } = data;
    this.x = tensor(columnsOf(train.images, train.n, PIXELS), { shape: [PIXELS, train.n], dtype: 'float32' });
    this.y = tensor(oneHotColumns(train.labels), { shape: [CLASSES, train.n], dtype: 'float32' });
    this.stream = batches({ x: this.x, y: this.y }, { batchSize: task.batch, seed: ORDER_SEED, epochs: Number.MAX_SAFE_INTEGER });
  }

  /** The harness's batch `indices`: the user's next batch while the two agree, else gathered here. */
  private batch(indices: Int32Array): { x: Tensor; y: Tensor } {
    if (this.stream !== null) {
      const next = this.stream.next();
      if (!next.done && sameIndices(next.value.indices, indices)) return next.value;
      // the caller left the protocol's sequence: every later batch is gathered as asked
      this.stream.return();
      this.stream = null;
    }
    this.samplers ??= { xs: columnSampler(this.x), ys: columnSampler(this.y) };
    return { x: this.samplers.xs.take(indices), y: this.samplers.ys.take(indices) };
  }

  /** The last layer's pre-activation Zᴸ. */
  private logits(x: Tensor): Tensor {
    const w = this.weights;
    let a = x;
    for (let l = 0; l < w.length; l += 2) {
      const z = add(matmul(w[l], a), w[l + 1]);
      if (l + 2 === w.length) return z;
      a = this.task.hidden === 'relu' ? relu(z) : sigmoid(z);
    }
    throw new Error('unreachable');
  }

  /** The task's cost, the mean over the batch's columns. */
  private cost(z: Tensor, y: Tensor): Tensor {
    if (this.task.output === 'softmax-cce') return neg(mean(sum(mul(y, logSoftmax(z, 0)), 0)));
    return mean(sum(sub(softplus(z), mul(y, z)), 0));
  }

  step(indices: Int32Array): void {
    if (this.inTidy) this.weights = tidy(() => this.update(indices));
    else this.weights = this.update(indices);
  }

  private update(indices: Int32Array): Tensor[] {
    const { x: xb, y: yb } = this.batch(indices);
    const tape = new Tape();
    const c = tape.record(() => this.cost(this.logits(xb), yb));
    const grads = tape.gradient(c, this.weights);
    return this.weights.map((w, i) => sub(w, mul(grads[i], this.task.lr)));
  }

  async sync(): Promise<void> {}

  async evaluate(): Promise<{ loss: number; accuracy: number }> {
    const { eval: ev } = this.data;
    return noGrad(() => {
      const x = tensor(columnsOf(ev.images, ev.n, PIXELS), { shape: [PIXELS, ev.n], dtype: 'float32' });
      const y = tensor(oneHotColumns(ev.labels), { shape: [CLASSES, ev.n], dtype: 'float32' });
      const z = this.logits(x);
      const rows = new Float32Array(ev.n * CLASSES);
      const o = z.data; // the argmax of Zᴸ is that of softmax(Zᴸ) and of sigmoid(Zᴸ)
      for (let k = 0; k < CLASSES; k++) for (let m = 0; m < ev.n; m++) rows[m * CLASSES + k] = o[k * ev.n + m];
      return { loss: this.cost(z, y).item(), accuracy: argmaxRows(rows, ev.n, CLASSES, ev.labels) };
    });
  }

  dispose(): void {
    this.stream?.return();
  }
}

function sameIndices(a: Int32Array, b: Int32Array): boolean {
  if (a.length !== b.length) return false;
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return false;
  return true;
}

/** fit's step with the tape replaced by nn's hand-written BP1–BP4 engine. */
class EngineTrainer implements Trainer {
  private readonly model: Sequential;
  private readonly params: Tensor[];
  private readonly sgd: SGD;
  private readonly xs;
  private readonly ys;
  private readonly loss: 'cce' | 'bce';

  constructor(task: TaskSpec, private readonly data: TrainData, layers: Layer[]) {
    this.model = buildModel(task, layers);
    this.params = this.model.denseLayers().flatMap((d) => [d.W, d.b]);
    this.sgd = new SGD({ lr: task.lr });
    const { train } = data;
    this.xs = columnSampler(tensor(columnsOf(train.images, train.n, PIXELS), { shape: [PIXELS, train.n], dtype: 'float32' }));
    this.ys = columnSampler(tensor(oneHotColumns(train.labels), { shape: [CLASSES, train.n], dtype: 'float32' }));
    this.loss = task.output === 'softmax-cce' ? 'cce' : 'bce';
  }

  step(indices: Int32Array): void {
    tidy(() => {
      const xb = this.xs.take(indices);
      const yb = this.ys.take(indices);
      const { layers } = manualBackprop(this.model, xb, yb, this.loss);
      this.sgd.step(this.params, layers.flatMap((l) => [l.dW, l.db]));
    });
  }

  async sync(): Promise<void> {}

  async evaluate(): Promise<{ loss: number; accuracy: number }> {
    const { eval: ev } = this.data;
    const x = tensor(columnsOf(ev.images, ev.n, PIXELS), { shape: [PIXELS, ev.n], dtype: 'float32' });
    const y = tensor(oneHotColumns(ev.labels), { shape: [CLASSES, ev.n], dtype: 'float32' });
    const { cost, layers } = manualBackprop(this.model, x, y, this.loss);
    const output = layers[layers.length - 1].a.data;
    const rows = new Float32Array(ev.n * CLASSES);
    for (let k = 0; k < CLASSES; k++) for (let m = 0; m < ev.n; m++) rows[m * CLASSES + k] = output[k * ev.n + m];
    return { loss: cost, accuracy: argmaxRows(rows, ev.n, CLASSES, ev.labels) };
  }

  dispose(): void {}
}

/**
 * The user-loop and engine rows on `backend` (the fastest registered one), each a companion
 * of `tapegrad-<backend>`: the report prints its time ÷ that row's.
 */
export function tapegradCompanions(backend: string): Framework[] {
  const common = (kind: 'userloop' | 'engine'): Pick<Framework, 'isTapegrad' | 'companionOf' | 'activate' | 'unsupported'> => ({
    isTapegrad: true,
    companionOf: { framework: `tapegrad-${backend}`, kind },
    async activate() {
      setBackend(backend);
    },
    unsupported: (task) => (COMPANION_TASKS.includes(task.id) ? undefined : `run on ${COMPANION_TASKS.join(' and ')} only`),
  });
  return [
    {
      id: 'tapegrad-userloop',
      label: `tapegrad user loop (${backend})`,
      details: `the README's "A taste" loop on ${backend}: core ops, a new Tape per step, tape.gradient, W = sub(W, mul(dW, lr)), batches from datasets' batches(); no tidy, keep or optimiser (bench/src/frameworks/tapegrad-loops.ts)`,
      ...common('userloop'),
      async createTrainer(task, data, layers) {
        setBackend(backend);
        return new UserLoopTrainer(task, data, layers);
      },
    },
    {
      id: 'tapegrad-engine',
      label: `nn BP1–BP4 engine (${backend})`,
      details: `@tapegrad/nn's hand-written BP1–BP4 (manualBackprop, no tape) on ${backend}, with fit's batch gather and SGD step, in tidy`,
      ...common('engine'),
      async createTrainer(task, data, layers) {
        setBackend(backend);
        return new EngineTrainer(task, data, layers);
      },
    },
  ];
}
