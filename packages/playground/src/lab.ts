import { Tape, Tensor, type TypedArray, add, getBackend, matmul, outsideTidy, reshape, setBackend, stack, tensor, tidy } from '@tapegrad/core';
import { type GradcheckReport, gradcheck } from '@tapegrad/core/testing';
import { type Activation, Adam, type LossName, type Optimizer, SGD, type Sequential, activate, cost, manualBackprop, mlp } from '@tapegrad/nn';
import { type LabelledSplit, type MnistDigitData, mnistFromDigits, moons, twoSpirals, xor } from '@tapegrad/datasets';

/**
 * The playground's model, data and training, free of the DOM: on a toy set a two-input network
 * with a sigmoid output and binary cross-entropy, on the MNIST subset a 784-input network with
 * a softmax output and categorical cross-entropy; trained full-batch in float32 on the backend
 * active when the Lab is made (wasm, js, or webgpu). The inspections (Δˡ tape vs BP1–BP4,
 * gradcheck, the tape's graph) run on a float64 copy of the current weights, on a CPU backend,
 * where the witnesses agree to rounding.
 *
 * One program for every backend: values are read with the asynchronous readers, which on a CPU
 * backend resolve at once and on WebGPU wait for the device, so training enqueues a batch of
 * steps and reads their costs once (one read per animation frame, not one per op or step).
 */

export const DATASETS = ['xor', 'moons', 'spirals', 'mnist'] as const;
export const DATASET_LABELS: Record<DatasetName, string> = { xor: 'XOR', moons: 'two moons', spirals: 'two spirals', mnist: 'MNIST subset' };
export type DatasetName = (typeof DATASETS)[number];
export const HIDDEN_ACTIVATIONS: readonly Activation[] = ['tanh', 'relu', 'sigmoid'];
export const OPTIMIZER_NAMES = ['adam', 'sgd'] as const;
export type OptimizerName = (typeof OPTIMIZER_NAMES)[number];

export interface LabSettings {
  dataset: DatasetName;
  /** The registered backend the network trains on ('wasm', 'js' or 'webgpu'); the page makes it active. */
  backend: string;
  /** Hidden layer sizes; the input (2 or 784) and the output (1 or 10) are fixed by the data. */
  hidden: number[];
  activation: Activation;
  optimizer: OptimizerName;
  lr: number;
  seed: number;
}

export const DEFAULT_SETTINGS: LabSettings = { dataset: 'xor', backend: 'wasm', hidden: [4], activation: 'tanh', optimizer: 'adam', lr: 0.05, seed: 1 };

/** Parses "8, 8" into [8, 8]: positive integers, at most 6 layers of at most 64 units. */
export function parseHidden(text: string): number[] {
  const parts = text.split(/[\s,]+/).filter((p) => p.length > 0);
  const sizes = parts.map(Number);
  if (sizes.some((n) => !Number.isInteger(n) || n < 1 || n > 64)) throw new Error(`hidden layers: whole numbers from 1 to 64, comma-separated (got "${text}")`);
  if (sizes.length > 6) throw new Error(`hidden layers: at most 6 (got ${sizes.length})`);
  return sizes;
}

let mnistDigits: MnistDigitData[] | null = null;

/** Hands the lab the MNIST subset's ten digits (the page fetches them once, on first use). */
export function provideMnist(digits: MnistDigitData[]): void {
  mnistDigits = digits;
}

export function mnistProvided(): boolean {
  return mnistDigits !== null;
}

/** The training examples (as columns) and, for MNIST, the held-out test examples. */
export interface LabData extends LabelledSplit {
  test?: LabelledSplit;
}

export function loadDataset(name: DatasetName, dtype: 'float32' | 'float64'): LabData {
  switch (name) {
    case 'xor': return xor({ dtype });
    case 'moons': return moons(200, { noise: 0.1, seed: 7, dtype });
    case 'spirals': return twoSpirals(200, { noise: 0.05, seed: 7, turns: 1.5, dtype });
    case 'mnist': {
      if (!mnistDigits) throw new Error('the MNIST subset is not loaded yet');
      const { train, test } = mnistFromDigits(mnistDigits, { dtype });
      return { ...train, test };
    }
  }
}

/** A few distinct indices in [0, n), spread out and reproducible (a fixed-step walk). */
function sampleIndices(n: number, count: number): number[] {
  if (n <= count) return Array.from({ length: n }, (_, i) => i);
  const step = Math.floor(n / count);
  return Array.from({ length: count }, (_, i) => (i * step + ((i * 7919) % step)) % n);
}

/** The box the decision boundary is drawn over: the data's extent, padded. */
export function extent(x: Tensor): { x0: number; x1: number; y0: number; y1: number } {
  const n = x.shape[1];
  const xs = Array.from(x.data.subarray(0, n));
  const ys = Array.from(x.data.subarray(n, 2 * n));
  const pad = (lo: number, hi: number) => Math.max(0.25, 0.15 * (hi - lo));
  const [xl, xh, yl, yh] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  return { x0: xl - pad(xl, xh), x1: xh + pad(xl, xh), y0: yl - pad(yl, yh), y1: yh + pad(yl, yh) };
}

export interface DeltaRow {
  /** 1-based layer index l. */
  layer: number;
  /** Which equation gives Δˡ by hand: BP1 at the output, BP2 below it. */
  rule: 'BP1' | 'BP2';
  shape: readonly number[];
  /** Δˡ = ∂C/∂Zˡ from the tape and from BP1–BP4, row-major. */
  tape: Float64Array;
  manual: Float64Array;
  /** max |Δ_tape − Δ_BP| over the layer, and the same for ∂C/∂Wˡ (BP3) and ∂C/∂bˡ (BP4). */
  maxDifference: number;
  dWDifference: number;
  dbDifference: number;
}

/** `t` where the active backend keeps its values: uploaded once on a device, itself on the CPU. */
function placed(t: Tensor): Tensor {
  return getBackend().memory === undefined ? t : tensor(t.data, { shape: [...t.shape], dtype: t.dtype });
}


function maxAbsDifference(a: Tensor, b: Tensor): number {
  let worst = 0;
  for (let i = 0; i < a.size; i++) worst = Math.max(worst, Math.abs(a.data[i] - b.data[i]));
  return worst;
}

export class Lab {
  readonly settings: LabSettings;
  readonly data: LabData;
  readonly model: Sequential;
  readonly sizes: number[];
  readonly mnist: boolean;
  readonly output: Activation;
  readonly loss: LossName;
  private readonly optimizer: Optimizer;
  /** (step, cost) after every training step. */
  readonly history: Array<[number, number]> = [];
  steps = 0;
  /** The backend the network trains on, and whether it keeps the values in device memory (WebGPU). */
  readonly backend: string;
  readonly onDevice: boolean;
  /** The CPU backend the float64 inspections run on (WebGPU has no float64). */
  readonly inspectOn: string;
  /** The training inputs and targets (and test inputs) where the backend computes: uploaded once on a device. */
  private readonly x: Tensor;
  private readonly y: Tensor;
  private readonly testX: Tensor | undefined;
  /** Every public async method runs after the previous one: reads never interleave with a batch of steps. */
  private queue: Promise<unknown> = Promise.resolve();

  /** Builds the network on the active backend; `inspectOn` names a registered CPU backend for the float64 inspections. */
  constructor(settings: LabSettings, inspectOn = 'js') {
    this.settings = settings;
    this.backend = getBackend().name;
    this.onDevice = getBackend().memory !== undefined;
    this.inspectOn = inspectOn;
    this.data = loadDataset(settings.dataset, 'float32');
    this.mnist = settings.dataset === 'mnist';
    this.output = this.mnist ? 'softmax' : 'sigmoid';
    this.loss = this.mnist ? 'cce' : 'bce';
    this.sizes = this.mnist ? [784, ...settings.hidden, 10] : [2, ...settings.hidden, 1];
    this.model = mlp(this.sizes, { hidden: settings.activation, output: this.output, dtype: 'float32', seed: settings.seed });
    this.optimizer = settings.optimizer === 'adam' ? new Adam({ lr: settings.lr }) : new SGD({ lr: settings.lr });
    this.x = placed(this.data.x);
    this.y = placed(this.data.y);
    this.testX = this.data.test && placed(this.data.test.x);
  }

  /** Runs fn after every earlier call has finished (a failure does not block the ones after it). */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * fn (synchronous: ops only enqueue) with `backend` active, then the previous one again: a
   * call still queued when the page switched to another backend runs on this network's own.
   */
  private runOn<T>(backend: string, fn: () => T): T {
    const previous = getBackend().name;
    if (previous === backend) return fn();
    setBackend(backend);
    try {
      return fn();
    } finally {
      setBackend(previous);
    }
  }

  /** fn on the backend the network lives on. */
  private onOwn<T>(fn: () => T): T {
    return this.runOn(this.backend, fn);
  }

  /** fn on a CPU backend (float64 work): the inspection backend when the network lives on a device. */
  private onCpu<T>(fn: () => T): T {
    return this.runOn(this.onDevice ? this.inspectOn : this.backend, fn);
  }

  /** How many weights and biases the network has. */
  parameterCount(): number {
    return Object.values(this.model.parameters()).reduce((n, p) => n + p.size, 0);
  }

  /**
   * One full-batch step of gradient descent on the tape, enqueued (on a device nothing waits);
   * returns the cost before the step, detached from the step's graph so a tidy can release it.
   */
  private enqueueStep(): Tensor {
    const tape = new Tape();
    const traced = tape.record(() => this.model.trace(this.x));
    const C = tape.record(() => cost(this.loss, { ...traced.layers[traced.layers.length - 1], activation: this.output }, this.y));
    const params = Object.values(this.model.parameters());
    const grads = tape.gradient(C, params);
    const before = C.detach();
    // the optimiser's state (Adam's moments) outlives the step
    outsideTidy(() => this.optimizer.step(params, grads));
    return before;
  }

  /**
   * `count` training steps, then one read of their costs (stacked where they were computed):
   * on WebGPU the CPU waits once here, not at every step. Returns the costs before each step.
   */
  train(count: number): Promise<number[]> {
    return this.exclusive(async () => {
      const costs = this.onOwn(() => tidy(() => stack(Array.from({ length: count }, () => tidy(() => this.enqueueStep())))));
      const values = Array.from(await costs.dataAsync());
      for (const value of values) this.history.push([++this.steps, value]);
      return values;
    });
  }

  /** The model's forward pass on `x`, its values read back (the pass's intermediates released at once). */
  private forwardValues(x: Tensor): Promise<TypedArray> {
    return this.onOwn(() => tidy(() => this.model.forward(x))).dataAsync();
  }

  /** Toy sets: P(class 1) over the data and its accuracy at 0.5. MNIST: the test set's accuracy (most probable digit). */
  accuracy(): Promise<number> {
    return this.exclusive(async () => {
      if (this.data.test && this.testX) {
        const { labels } = this.data.test;
        const p = await this.forwardValues(this.testX);
        const n = labels.length;
        let right = 0;
        for (let m = 0; m < n; m++) {
          let best = 0;
          for (let k = 1; k < 10; k++) if (p[k * n + m] > p[best * n + m]) best = k;
          if (best === labels[m]) right++;
        }
        return right / n;
      }
      const p = await this.forwardValues(this.x);
      let right = 0;
      for (let i = 0; i < p.length; i++) if ((p[i] > 0.5 ? 1 : 0) === this.data.labels[i]) right++;
      return right / p.length;
    });
  }

  /** P(class 1) on a side × side grid over the box, row 0 at the top (y1). */
  probabilityGrid(box: { x0: number; x1: number; y0: number; y1: number }, side: number): Promise<Float32Array> {
    const grid = new Float32Array(2 * side * side);
    for (let r = 0; r < side; r++) {
      for (let c = 0; c < side; c++) {
        const i = r * side + c;
        grid[i] = box.x0 + ((c + 0.5) / side) * (box.x1 - box.x0);
        grid[side * side + i] = box.y1 - ((r + 0.5) / side) * (box.y1 - box.y0);
      }
    }
    return this.exclusive(async () => Float32Array.from(await this.forwardValues(new Tensor(grid, [2, side * side], 'float32'))));
  }

  /** MNIST: the ten digits' probabilities for one 28 × 28 image (784 values in [0, 1], row-major). */
  predict(pixels: Float32Array): Promise<Float64Array> {
    return this.exclusive(async () => Float64Array.from(await this.forwardValues(new Tensor(Float32Array.from(pixels), [784, 1], 'float32'))));
  }

  /**
   * fn on the current weights in a float64 network of the same shape, on a CPU backend (the
   * inspections): the weights are read (asynchronously: they may be on the device), then fn
   * runs synchronously with the CPU backend active. A promise fn returns is the caller's to
   * await, after the synchronous part of fn ran on the CPU backend.
   */
  private inspect<T>(fn: (copy: { model: Sequential; x: Tensor; y: Tensor }) => T): Promise<T> {
    return this.exclusive(async () => {
      const params = Object.entries(this.model.parameters());
      const values = await Promise.all(params.map(([, p]) => p.dataAsync()));
      return this.onCpu(() => {
        const copy = mlp(this.sizes, { hidden: this.settings.activation, output: this.output, dtype: 'float64', seed: this.settings.seed });
        const target = copy.parameters();
        params.forEach(([name], i) => target[name].data.set(values[i]));
        const data = loadDataset(this.settings.dataset, 'float64');
        return fn({ model: copy, x: data.x, y: data.y });
      });
    });
  }

  /**
   * One training step looked at layer by layer: Δˡ = ∂C/∂Zˡ from the tape beside Δˡ from
   * the hand-written BP1–BP4 (nn's manualBackprop), on the current weights in float64.
   */
  deltas(): Promise<{ cost: number; rows: DeltaRow[] }> {
    return this.inspect(({ model, x, y }) => this.deltasOf(model, x, y));
  }

  private deltasOf(model: Sequential, x: Tensor, y: Tensor): { cost: number; rows: DeltaRow[] } {
    const layers = model.denseLayers();
    const tape = new Tape();
    const traced = tape.record(() => model.trace(x));
    const C = tape.record(() => cost(this.loss, { ...traced.layers[traced.layers.length - 1], activation: this.output }, y));
    const L = layers.length;
    const grads = tape.gradient(C, [...traced.layers.map((t) => t.z), ...layers.map((l) => l.W), ...layers.map((l) => l.b)]);
    const manual = manualBackprop(model, x, y, this.loss);
    const rows = layers.map((_, l): DeltaRow => ({
      layer: l + 1,
      rule: l === L - 1 ? 'BP1' : 'BP2',
      shape: [...grads[l].shape],
      tape: Float64Array.from(grads[l].data),
      manual: Float64Array.from(manual.layers[l].delta.data),
      maxDifference: maxAbsDifference(grads[l], manual.layers[l].delta),
      dWDifference: maxAbsDifference(grads[L + l], manual.layers[l].dW),
      dbDifference: maxAbsDifference(grads[2 * L + l], manual.layers[l].db),
    }));
    return { cost: C.item(), rows };
  }

  /**
   * core's gradcheck on the cost as a function of every Wˡ and bˡ (float64 copy): the tape's
   * gradient against central differences, element by element. On MNIST, where that is tens of
   * thousands of weights, two cost evaluations each: a few sampled entries of every Wˡ and bˡ
   * on the first 100 training examples (see sampledParameters).
   */
  gradcheck(): Promise<GradcheckReport & { names: string[]; sampled: boolean }> {
    return this.inspect(({ model, x, y }) => this.gradcheckOf(model, x, y));
  }

  private gradcheckOf(model: Sequential, x: Tensor, y: Tensor): GradcheckReport & { names: string[]; sampled: boolean } {
    const layers = model.denseLayers();
    const names = layers.flatMap((_, l) => [`W${l + 1}`, `b${l + 1}`]);
    const network = (params: Tensor[], input: Tensor, target: Tensor) => {
      let a = input;
      let z = input;
      layers.forEach((layer, l) => {
        z = add(matmul(params[2 * l], a), params[2 * l + 1]);
        a = activate(layer.activation, z);
      });
      return cost(this.loss, { z, a, activation: this.output }, target);
    };
    const full = layers.flatMap((l) => [l.W, l.b]);
    if (!this.mnist) return { ...gradcheck((...params: Tensor[]) => network(params, x, y), full, { raise: false }), names, sampled: false };
    const examples = 100;
    const n = x.shape[1];
    const head = (t: Tensor) => {
      const rows = t.shape[0];
      const out = new Float64Array(rows * examples);
      for (let r = 0; r < rows; r++) out.set(t.data.subarray(r * n, r * n + examples), r * examples);
      return new Tensor(out, [rows, examples], 'float64');
    };
    const [xs, ys] = [head(x), head(y)];
    const sampled = full.map((p) => sampledParameters(p, 6));
    const report = gradcheck((...picked: Tensor[]) => network(picked.map((s, i) => sampled[i].rebuild(s)), xs, ys), sampled.map((s) => s.values), { raise: false });
    // name the worst element by its place in Wˡ or bˡ, not its place among the sampled ones
    const worst = report.worst && { ...report.worst, index: sampled[report.worst.input].where(report.worst.index[0]) };
    return { ...report, worst, names, sampled: true };
  }

  /**
   * draw(the recorded graph of one step's cost, the model to name parameters by, X, Y), on the
   * float64 copy: draw's synchronous part (a graph drawing's gradients) runs on the CPU backend.
   */
  recordedCost<T>(draw: (recorded: { cost: Tensor; model: Sequential; x: Tensor; y: Tensor }) => T): Promise<T> {
    return this.inspect(({ model, x, y }) => {
      const tape = new Tape();
      const traced = tape.record(() => model.trace(x));
      const C = tape.record(() => cost(this.loss, { ...traced.layers[traced.layers.length - 1], activation: this.output }, y));
      return draw({ cost: C, model, x, y });
    });
  }
}

/**
 * A parameter p as a function of k of its entries s: p = rest + reshape(P s), where rest is p
 * with those entries zeroed and P the [size, k] matrix placing s back. gradcheck on s then
 * checks ∂C/∂p at exactly those entries, through the same tape ops (matmul's VJP gives Pᵀ ∂C/∂p).
 */
function sampledParameters(p: Tensor, count: number): { values: Tensor; rebuild: (s: Tensor) => Tensor; where: (k: number) => number[] } {
  const picked = sampleIndices(p.size, count);
  const rest = Float64Array.from(p.data);
  const placement = new Float64Array(p.size * picked.length);
  picked.forEach((at, k) => {
    rest[at] = 0;
    placement[at * picked.length + k] = 1;
  });
  const restTensor = new Tensor(rest, [...p.shape], 'float64');
  const P = new Tensor(placement, [p.size, picked.length], 'float64');
  const values = new Tensor(Float64Array.from(picked, (at) => p.data[at]), [picked.length, 1], 'float64');
  const cols = p.shape[1] ?? 1;
  return {
    values,
    rebuild: (s) => add(restTensor, reshape(matmul(P, s), [...p.shape])),
    where: (k) => (p.shape.length === 2 ? [Math.floor(picked[k] / cols), picked[k] % cols] : [picked[k]]),
  };
}
