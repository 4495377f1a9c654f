import type { Layer, MatmulSize, Split, TaskSpec } from '../protocol.js';
import type { OpCase } from '../ops.js';
import type { TrainPlan } from '../harness.js';

/** What a trainer is given: the training split (batches index into it) and the split it is evaluated on. */
export interface TrainData {
  train: Split;
  eval: Split;
}

export interface Evaluation {
  /** Mean cost per example (the task's loss) from the framework's own forward pass. */
  loss: number;
  accuracy: number;
}

/**
 * One framework's model of a task, built from the protocol's initial weights. The harness
 * owns the loop: it calls `step` with each batch's example indices in the protocol's order,
 * and `sync` before it stops an epoch's clock.
 */
export interface Trainer {
  /**
   * One plain-SGD step on the training examples `indices` (the batch, in order). `next`: the
   * batch the following step will get (none after the last of the run), for a trainer that
   * gathers it ahead, as a data loader does; the time it takes is still inside the loop's.
   */
  step(indices: Int32Array, next?: Int32Array): void | Promise<void>;
  /** Waits until every queued step has run (asynchronous frameworks); a no-op for synchronous ones. */
  sync(): Promise<void>;
  /** Loss and accuracy on `data.eval` after training; not timed. */
  evaluate(): Promise<Evaluation>;
  dispose(): void;
}

/** C = A·B on the framework's own tensors, built once outside the timed region. */
export interface MatmulRun {
  /** One multiplication, finished when it returns (or resolves). */
  run(): void | Promise<void>;
  /** The last product, row-major [m, n], for the correctness check. */
  result(): Promise<ArrayLike<number>>;
  dispose(): void;
  /**
   * Products one `run` makes (default 1): a device enqueues several and waits once, so one
   * round trip does not dominate a small product; the harness divides the time by it.
   */
  callsPerRun?: number;
}

/**
 * Which kernels of a framework's fast backend ran in plain JS instead (tapegrad's wasm and
 * native backends count the calls they hand to their js kernels, by kernel).
 */
export interface JsKernelCounter {
  /** The fast backend's name ('native', 'wasm'); 'js' when every kernel is js by design. */
  backend: string;
  reset(): void;
  /** Calls and elements (each call's largest array) by kernel since the last reset; {} for the js backend. */
  report(): Record<string, { calls: number; elements: number }>;
}

/** One op of the ops grid (ops.ts) on the framework's own tensors, built once outside the timed region. */
export interface OpRun {
  /** One evaluation (a product; a convolution's forward and backward), finished when it returns (or resolves). */
  run(): void | Promise<void>;
  /** The last evaluation's outputs in PyTorch's layouts, in opOutputShapes' order, for the check. */
  result(): Promise<ArrayLike<number>[]>;
  dispose(): void;
  /** Where the framework can say, which kernels fell back to js during the timed runs (the row's note). */
  jsKernels?: JsKernelCounter;
}

export interface Framework {
  /** CLI id: tapegrad-js, tapegrad-wasm, tfjs-cpu, tfjs-wasm, jax-wasm, plain-js. */
  id: string;
  label: string;
  isTapegrad: boolean;
  /** Version and configuration facts for the report (threads, SIMD, …). */
  details: string;
  /** Makes this framework current before its runs (TF.js and tapegrad switch a global backend). */
  activate(): Promise<void>;
  createTrainer(task: TaskSpec, data: TrainData, layers: Layer[]): Promise<Trainer>;
  /** Why this framework does not run `task` (its row then reads `unavailable` with the reason), or undefined when it does. */
  unsupported?(task: TaskSpec): string | undefined;
  /** Absent: no row in the matmul grid (PyTorch's rows are the training tasks only). */
  matmul?(size: MatmulSize, a: Float32Array, b: Float32Array): Promise<MatmulRun>;
  /**
   * A framework that runs a whole plan itself (in its own process: PyTorch) instead of the
   * harness's step-by-step loop: the same epochs, batches, order and budget probe, timed on
   * its side; the harness then does not call createTrainer.
   */
  train?(task: TaskSpec, data: TrainData, layers: Layer[], plan: { epochs: number; batches: number; budget: number }, log: (line: string) => void): Promise<ExternalRun>;
  /** The ops grid's case on this framework, or a reason it cannot run it (an op it lacks). */
  op?(c: OpCase, operands: Float32Array[]): Promise<OpRun | string>;
  /**
   * The fp32 FMA peak (GFLOP/s, measured in this run) of the cores this framework's matmul
   * of `size` ran on (asked right after that size's runs; `cores` may be fractional when
   * only some products used two threads), where it can say (tapegrad's native backend,
   * through its addon's probe): the matmul table then gives GFLOP/s as a % of it.
   */
  matmulPeak?(size: MatmulSize): { gflops: number; cores: number };
  /**
   * A second way of training with tapegrad on one backend, printed beside that backend's row
   * (`framework`, which trains as nn's `fit` does) with the ratio of their times: the loop a
   * user writes from the README (`userloop`), or nn's hand-written BP1–BP4 engine (`engine`).
   * Never the reference of the "tapegrad ×" ratios.
   */
  companionOf?: { framework: string; kind: 'userloop' | 'engine' | 'plan' };
  /**
   * Set when this framework's numbers are right but its times say nothing about its speed
   * (WebGPU on SwiftShader, a CPU emulating a GPU): every row of it carries this text, is
   * never the reference of the "tapegrad ×" ratios and gets no ratio of its own.
   */
  marking?: string;
  /**
   * The plan this framework runs instead of the task's (WebGPU on SwiftShader runs the quick
   * plan: a CPU emulating a GPU cannot run the protocol in time), or undefined for the task's.
   * Its accuracy is then compared with the fastest CPU backend's on the same plan.
   */
  planFor?(task: TaskSpec, plan: TrainPlan): TrainPlan | undefined;
  /**
   * Rows in the matmul grid only: a backend's one-thread twin (threads off), so the grid shows
   * one thread and both cores side by side; the training tasks run the backend as configured.
   */
  matmulOnly?: boolean;
}

/** What an external plan run reports: its epoch times and evaluation, or the budget probe's verdict. */
export type ExternalRun =
  | { epochSeconds: number[]; stoppedEarly: boolean; evaluation: Evaluation | null; /** Facts of the run for the row's note (the BLAS library NumPy loaded). */ facts?: string }
  | { overBudget: { secondsPerBatch: number; probeBatches: number; estimate: number } };

/** A framework that could not be loaded: its rows say why. */
export interface Unavailable {
  id: string;
  label: string;
  isTapegrad: boolean;
  reason: string;
}

export function argmaxRows(values: ArrayLike<number>, rows: number, width: number, labels: ArrayLike<number>): number {
  let right = 0;
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < width; c++) if (values[r * width + c] > values[r * width + best]) best = c;
    if (best === labels[r]) right++;
  }
  return right / rows;
}
