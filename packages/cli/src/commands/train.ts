import type { Tensor } from '@tapegrad/core';
import {
  type Activation, type EpochLog, type LossName, LOSSES, NonFiniteError, type Optimizer, type OptimizerName, OPTIMIZERS,
  type SafetensorsMetadata, confusionMatrix, evaluate, fit, mlp, nonFiniteParameters, optimizer as makeOptimizer, predict,
  serializeParameters,
} from '@tapegrad/nn';
import { type BackendChoice, BACKEND_CHOICES, selectBackend } from '../backend.js';
import { type LoadedData, loadData } from '../data.js';
import { EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, UsageError } from '../errors.js';
import { type Io, cliVersion, fixed4 } from '../io.js';
import { METRICS_FILE, MODEL_FILE, MODEL_FORMAT, OUTPUT_FOR_LOSS } from '../model-file.js';
import { type FileWriter, MANIFEST_FILE, OutputFolder } from '../output-folder.js';
import {
  parseChoice, parseLayers, parseNonNegativeInteger, parsePositiveInteger, parsePositiveNumber, parseSeed,
} from '../options.js';
import { type RunFinal, type RunSettings, renderReport } from '../report/index.js';

/**
 * `tapegrad train`. Its defaults are BENCH-PROTOCOL.md's task T1 exactly: 784-128-10, relu
 * hidden, softmax + categorical cross-entropy (from logits), plain SGD at 0.1, batches of 64,
 * 5 epochs, He-normal weights (sd √(2/in), biases 0) drawn W¹ then W² from mulberry32(1001),
 * epoch order from mulberry32(42) carried across epochs, float32. TF.js reaches test accuracy
 * 0.9117 on that; so does this.
 */

export const HIDDEN_ACTIVATIONS: readonly Activation[] = ['relu', 'sigmoid', 'tanh', 'identity'];
export const OUTPUT_ACTIVATIONS: readonly Activation[] = ['softmax', 'sigmoid', 'identity'];
export const INIT_CHOICES = ['heNormal', 'heUniform', 'xavierNormal', 'xavierUniform', 'lecunNormal', 'lecunUniform', 'standardNormal'] as const;

/** The learning rate each optimiser gets when --lr is not given: T1's 0.1 for the SGD family, else the optimiser's own default. */
export const DEFAULT_LR: Record<OptimizerName, number> = {
  sgd: 0.1, momentum: 0.1, nesterov: 0.1, adam: 0.001, rprop: 0.01, lbfgs: 1, 'newton-cg': 1,
};

export const TRAIN_DEFAULTS = {
  layers: '784,128,10',
  activation: 'relu',
  loss: 'cce',
  optimizer: 'sgd',
  batchSize: '64',
  epochs: '5',
  seed: '1001',
  shuffleSeed: '42',
  out: 'out/run',
  backend: 'auto',
} as const;

export interface TrainOptions {
  layers: number[];
  activation: Activation;
  output: Activation;
  loss: LossName;
  optimizer: OptimizerName;
  lr: number;
  batchSize: number;
  epochs: number;
  /** Seeds the weights (mulberry32), drawn W¹, W², … */
  seed: number;
  /** Seeds the epoch order (mulberry32), one generator for all epochs. */
  shuffleSeed: number;
  init: (typeof INIT_CHOICES)[number];
  data?: string;
  out: string;
  backend: BackendChoice;
  quiet: boolean;
  /** Keep this many train / test examples, spread evenly (0: all). */
  limitTrain: number;
  limitTest: number;
}

/** The options as commander hands them over: strings, booleans, or absent. */
export type RawOptions = Record<string, string | boolean | undefined>;

function text(raw: RawOptions, key: string, fallback: string): string {
  const value = raw[key];
  return typeof value === 'string' ? value : fallback;
}

export function parseTrainOptions(raw: RawOptions): TrainOptions {
  const loss = parseChoice(text(raw, 'loss', TRAIN_DEFAULTS.loss), '--loss', LOSSES);
  const name = parseChoice(text(raw, 'optimizer', TRAIN_DEFAULTS.optimizer), '--optimizer', OPTIMIZERS);
  const activation = parseChoice(text(raw, 'activation', TRAIN_DEFAULTS.activation), '--activation', HIDDEN_ACTIVATIONS);
  return {
    layers: parseLayers(text(raw, 'layers', TRAIN_DEFAULTS.layers)),
    activation,
    output: typeof raw.output === 'string' ? parseChoice(raw.output, '--output', OUTPUT_ACTIVATIONS) : OUTPUT_FOR_LOSS[loss],
    loss,
    optimizer: name,
    lr: typeof raw.lr === 'string' ? parsePositiveNumber(raw.lr, '--lr') : DEFAULT_LR[name],
    batchSize: parsePositiveInteger(text(raw, 'batchSize', TRAIN_DEFAULTS.batchSize), '--batch-size'),
    epochs: parsePositiveInteger(text(raw, 'epochs', TRAIN_DEFAULTS.epochs), '--epochs'),
    seed: parseSeed(text(raw, 'seed', TRAIN_DEFAULTS.seed), '--seed'),
    shuffleSeed: parseSeed(text(raw, 'shuffleSeed', TRAIN_DEFAULTS.shuffleSeed), '--shuffle-seed'),
    init: typeof raw.init === 'string' ? parseChoice(raw.init, '--init', INIT_CHOICES) : activation === 'relu' ? 'heNormal' : 'xavierUniform',
    data: typeof raw.data === 'string' ? raw.data : undefined,
    out: text(raw, 'out', TRAIN_DEFAULTS.out),
    backend: parseChoice(text(raw, 'backend', TRAIN_DEFAULTS.backend), '--backend', BACKEND_CHOICES),
    quiet: raw.quiet === true,
    limitTrain: typeof raw.limitTrain === 'string' ? parseNonNegativeInteger(raw.limitTrain, '--limit-train') : 0,
    limitTest: typeof raw.limitTest === 'string' ? parseNonNegativeInteger(raw.limitTest, '--limit-test') : 0,
  };
}

function checkArchitecture(options: TrainOptions, data: LoadedData): void {
  const features = data.train.x.shape[0];
  const classes = data.train.y.shape[0];
  if (options.layers[0] !== features) {
    throw new UsageError(`--layers starts with ${options.layers[0]} inputs but the data has ${features} features per example (e.g. --layers ${features},${options.layers.slice(1).join(',')})`);
  }
  const outputs = options.layers[options.layers.length - 1];
  if (outputs !== classes) {
    throw new UsageError(`--layers ends with ${outputs} outputs but the data has ${classes} classes (e.g. --layers ${options.layers.slice(0, -1).join(',')},${classes})`);
  }
}

/** Counts the optimiser's steps, so an interruption can say how far the epoch got. */
function countingOptimizer(inner: Optimizer): Optimizer & { steps: number } {
  const wrapper = {
    name: inner.name,
    steps: 0,
    step(params: readonly Tensor[], grads: readonly Tensor[], objective?: () => Tensor) {
      wrapper.steps++;
      inner.step(params, grads, objective);
    },
    reset() {
      inner.reset();
    },
  };
  return wrapper;
}

function seconds(ms: number): number {
  return Math.round(ms) / 1000;
}

/** What a run writes; manifest.json, written last, lists the others with their sha256. */
export const OUTPUT_FILES = [MODEL_FILE, METRICS_FILE, 'loss.png', 'accuracy.png', 'first-layer.png', 'confusion.png', 'report.html', MANIFEST_FILE] as const;

/** Where a run is, so a Ctrl-C can say exactly what will and will not be written. */
export type TrainPhase = 'preparing' | 'training' | 'finishing' | 'published';

export interface TrainState {
  phase: TrainPhase;
  /** The output folder, once locked: a second Ctrl-C discards its staging and releases its lock. */
  folder?: OutputFolder;
}

export interface TrainContext {
  io: Io;
  /** Aborted by Ctrl-C: training stops after the current batch and nothing is written. */
  signal?: AbortSignal;
  /** The command line, for the report. */
  command?: string;
  /** Filled in as the run goes, for the signal handler. */
  state?: TrainState;
  /** How output files reach the disk (tests inject a full disk). */
  writer?: FileWriter;
}

/** The first Ctrl-C's message: what the run will do now, and what --out will hold. */
export function interruptMessage(state: TrainState, out: string): string {
  const nothing = `nothing will be written to ${out}`;
  switch (state.phase) {
    case 'preparing':
      return `interrupted: stopping before training; ${nothing} (Ctrl-C again to quit at once)`;
    case 'training':
      return `interrupted: stopping after the current batch; ${nothing} (Ctrl-C again to quit at once)`;
    case 'finishing':
      return `interrupted: training has finished, but its outputs are discarded; ${nothing} (Ctrl-C again to quit at once)`;
    case 'published':
      return `interrupted: the outputs are already complete in ${out}; finishing`;
  }
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export async function runTrain(options: TrainOptions, context: TrainContext): Promise<number> {
  const state = context.state ?? { phase: 'preparing' };
  state.phase = 'preparing';
  const folder = new OutputFolder(options.out, { outputs: OUTPUT_FILES, writer: context.writer, command: context.command });
  // checked first (no side effects), so a mistake in --out costs no data loading
  folder.check();
  const data = loadData({ data: options.data, limitTrain: options.limitTrain, limitTest: options.limitTest });
  checkArchitecture(options, data);
  // then the lock: a second run into the same folder stops here, before any training
  folder.acquire();
  state.folder = folder;
  try {
    return await train(options, context, state, folder, data);
  } finally {
    folder.discard();
    folder.release();
  }
}

async function train(options: TrainOptions, { io, signal, command = 'tapegrad train' }: TrainContext, state: TrainState, folder: OutputFolder, data: LoadedData): Promise<number> {
  const started = performance.now();
  const say = (line: string) => {
    if (!options.quiet) io.out(line);
  };
  for (const line of folder.recovered) io.err(`${options.out}: ${line}`);
  const backend = await selectBackend(options.backend);
  say(backend.message);
  say(`data: ${data.description}`);

  const model = mlp(options.layers, {
    hidden: options.activation, output: options.output, init: options.init, dtype: 'float32', seed: options.seed,
  });
  const optimizer = countingOptimizer(makeOptimizer(options.optimizer, { lr: options.lr } as never));
  const batches = Math.ceil(data.train.labels.length / Math.min(options.batchSize, data.train.labels.length));
  say(`model: ${options.layers.join('-')}, ${options.activation} hidden, ${options.output} output + ${options.loss}, ${options.init} init (seed ${options.seed}); `
    + `${options.optimizer} lr ${options.lr}, batch ${options.batchSize}, ${options.epochs} epoch${options.epochs === 1 ? '' : 's'} (order seed ${options.shuffleSeed})`);

  // kept to draw what training changed: after a few epochs from He init, the learned part of
  // W¹ is small next to the initial noise, and only the difference shows the stroke detectors
  const initialFirstLayer = Float32Array.from(model.denseLayers()[0].W.data);
  const trainingStarted = performance.now();
  if (signal?.aborted) {
    io.err(`interrupted before training: ${folder.nothingWritten()}`);
    return EXIT_INTERRUPTED;
  }
  state.phase = 'training';
  const diverged = (error: NonFiniteError) => {
    io.err(`tapegrad train: training diverged: ${error.quantity} became ${error.value} in epoch ${error.epoch}/${options.epochs}`
      + `${error.step === null ? '' : ` at batch ${error.step}/${batches}`}; ${folder.nothingWritten()}; try a smaller --lr (it was ${options.lr})`);
    return EXIT_FAILURE;
  };
  let history: EpochLog[];
  try {
    history = await fit(model, data.train, {
      loss: options.loss,
      optimizer,
      epochs: options.epochs,
      batchSize: options.batchSize,
      seed: options.shuffleSeed,
      metrics: ['accuracy'],
      validation: data.test,
      signal,
      progress: options.quiet ? false : 'auto',
      onEpoch: (log: EpochLog) => {
        say(`epoch ${log.epoch}/${options.epochs}  loss ${fixed4(log.loss)}  train accuracy ${fixed4(log.metrics.accuracy)}  `
          + `test accuracy ${fixed4(log.validation!.metrics.accuracy)}  ${log.seconds.toFixed(2)} s  ${Math.round(log.examplesPerSecond)} examples/s`);
      },
    });
  } catch (error) {
    if (error instanceof NonFiniteError) return diverged(error);
    throw error;
  }
  const trainingSeconds = seconds(performance.now() - trainingStarted);
  state.phase = 'finishing';

  if (history.length < options.epochs) {
    const epoch = history.length + 1;
    const done = optimizer.steps - history.length * batches;
    io.err(`interrupted in epoch ${epoch}/${options.epochs} after batch ${done}/${batches}: ${folder.nothingWritten()}`);
    return EXIT_INTERRUPTED;
  }
  const interruptedAfterTraining = () => {
    io.err(`interrupted after training: ${folder.nothingWritten()}`);
    return EXIT_INTERRUPTED;
  };
  if (signal?.aborted) return interruptedAfterTraining();
  const badParameters = nonFiniteParameters(model.parameters());
  if (badParameters.length > 0) {
    const [first] = badParameters;
    return diverged(new NonFiniteError(options.epochs, null, `parameter '${first.name}'`, first.value, history));
  }

  // the final figures, from the trained model
  const testOutput = predict(model, data.test.x);
  const test = evaluate(model, data.test, { loss: options.loss, metrics: ['accuracy'] });
  const correct = Math.round(test.metrics.accuracy * data.test.labels.length);
  const trainFinal = evaluate(model, data.train, { loss: options.loss, metrics: ['accuracy'] });
  const classes = data.test.y.shape[0];
  const confusion = confusionMatrix(testOutput, data.test.y, classes === 1 ? 2 : classes);

  const settings: RunSettings = {
    layers: options.layers.join(','),
    activation: options.activation,
    output: options.output,
    loss: options.loss,
    optimizer: options.optimizer,
    lr: options.lr,
    batchSize: options.batchSize,
    epochs: options.epochs,
    seed: options.seed,
    shuffleSeed: options.shuffleSeed,
    init: options.init,
    dtype: 'float32',
    data: data.source,
    limitTrain: options.limitTrain,
    limitTest: options.limitTest,
    backend: backend.name,
  };
  const final: RunFinal = {
    testAccuracy: test.metrics.accuracy,
    testCorrect: correct,
    testExamples: data.test.labels.length,
    testLoss: test.loss!,
    trainAccuracy: trainFinal.metrics.accuracy,
    trainLoss: trainFinal.loss!,
    trainExamples: data.train.labels.length,
    trainingSeconds,
  };
  const { data: _, ...recorded } = settings;
  const metadata: SafetensorsMetadata = {
    format: MODEL_FORMAT,
    ...Object.fromEntries(Object.entries(recorded).map(([k, v]) => [k, String(v)])),
    dataset: data.source,
    testAccuracy: String(final.testAccuracy),
    tapegrad: cliVersion(),
  };

  // Staged beside --out and published together: an interruption before publish() leaves
  // --out as it was, a complete earlier set or nothing.
  await yieldToEventLoop();
  if (signal?.aborted) return interruptedAfterTraining();
  const firstLayer = model.denseLayers()[0].W;
  // drawn before staging (Vega renders asynchronously): a Ctrl-C meanwhile stages nothing
  const report = await renderReport({
    command,
    settings,
    dataDescription: data.description,
    epochs: history.map((log) => ({
      epoch: log.epoch,
      loss: log.loss,
      trainAccuracy: log.metrics.accuracy,
      testLoss: log.validation!.loss,
      testAccuracy: log.validation!.metrics.accuracy,
      seconds: log.seconds,
      examplesPerSecond: log.examplesPerSecond,
    })),
    final,
    confusion,
    firstLayer: { initial: initialFirstLayer, trained: firstLayer.data, units: firstLayer.shape[0], inputs: firstLayer.shape[1] },
    startedAt: started,
  });
  if (signal?.aborted) return interruptedAfterTraining();
  folder.stage();
  folder.write(MODEL_FILE, serializeParameters(model.parameters(), metadata));
  for (const [file, contents] of Object.entries(report.files)) folder.write(file, contents);
  await yieldToEventLoop();
  if (signal?.aborted) return interruptedAfterTraining();
  folder.publish();
  state.phase = 'published';
  // the one line --quiet keeps
  io.out(`test accuracy ${fixed4(final.testAccuracy)} (${correct}/${final.testExamples}) after ${history.length} epoch${history.length === 1 ? '' : 's'}, `
    + `${trainingSeconds.toFixed(1)} s training, ${report.wallSeconds.toFixed(1)} s in all; wrote ${OUTPUT_FILES.join(', ')} to ${options.out}`);
  return EXIT_OK;
}
