import { Tensor, noGrad } from '@tapegrad/core';
import {
  type Activation, type EpochLog, type LossName, LOSSES, NonFiniteError, type Optimizer, type OptimizerName, OPTIMIZERS,
  type SafetensorsMetadata, type Sequential, confusionMatrix, evaluate, fitAsync, mlp, nonFiniteParameters, optimizer as makeOptimizer, predict,
  serializeParameters,
} from '@tapegrad/nn';
import { type BackendChoice, GPU_BACKEND_CHOICES, selectBackend, selectCpuBackend } from '../backend.js';
import { CNN_MIN_SIDE, buildCnn, cnnParameterCount, describeCnn, squareSide } from '../cnn.js';
import { type LoadedData, loadData } from '../data.js';
import { EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, UsageError } from '../errors.js';
import { type Io, cliVersion, fixed4 } from '../io.js';
import {
  type Architecture, METRICS_FILE, MODEL_FILE, OUTPUT_FOR_LOSS, architectureMetadata, modelInput,
} from '../model-file.js';
import { type FileWriter, MANIFEST_FILE, OutputFolder } from '../output-folder.js';
import {
  MAX_PARAMETERS, parseChoice, parseLayers, parseNonNegativeInteger, parsePositiveInteger, parsePositiveNumber, parseSeed,
} from '../options.js';
import { type CnnPictures, CNN_REPORT_IMAGES } from '../report/conv-images.js';
import { type RunFinal, type RunSettings, renderReport } from '../report/index.js';

/**
 * `tapegrad train`. Its defaults are BENCH-PROTOCOL.md's task T1 exactly: 784-128-10, relu
 * hidden, softmax + categorical cross-entropy (from logits), plain SGD at 0.1, batches of 64,
 * 5 epochs, He-normal weights (sd √(2/in), biases 0) drawn W¹ then W² from mulberry32(1001),
 * epoch order from mulberry32(42) carried across epochs, float32. TF.js reaches test accuracy
 * 0.9117 on that; so does this.
 *
 * `--model cnn` is task T4 with its own defaults: the LeNet-5 of cnn.ts, SGD with momentum 0.9
 * (PyTorch's form) at 0.01, batches of 64, 10 epochs, weights from mulberry32(1004), the same
 * epoch order. PyTorch reaches 0.9536 on that; this 0.9551 on the native and wasm backends
 * (float32 runs drift apart after the first epoch; in float64 this and PyTorch
 * agree on every epoch).
 */

export type ModelKind = 'mlp' | 'cnn';
export const MODEL_KINDS: readonly ModelKind[] = ['mlp', 'cnn'];

export const HIDDEN_ACTIVATIONS: readonly Activation[] = ['relu', 'sigmoid', 'tanh', 'identity'];
export const OUTPUT_ACTIVATIONS: readonly Activation[] = ['softmax', 'sigmoid', 'identity'];
export const INIT_CHOICES = ['heNormal', 'heUniform', 'xavierNormal', 'xavierUniform', 'lecunNormal', 'lecunUniform', 'standardNormal'] as const;

/** The learning rate each optimiser gets when --lr is not given: T1's 0.1 for the SGD family, else the optimiser's own default. */
export const DEFAULT_LR: Record<OptimizerName, number> = {
  sgd: 0.1, momentum: 0.1, nesterov: 0.1, adam: 0.001, rprop: 0.01, lbfgs: 1, 'newton-cg': 1,
};

/** The same for --model cnn: T4's 0.01 for the SGD family. */
export const CNN_DEFAULT_LR: Record<OptimizerName, number> = { ...DEFAULT_LR, sgd: 0.01, momentum: 0.01, nesterov: 0.01 };

export const TRAIN_DEFAULTS = {
  model: 'mlp',
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

/** Where --model cnn's defaults (BENCH-PROTOCOL T4) differ from the MLP's (T1). */
export const CNN_DEFAULTS = {
  optimizer: 'momentum',
  epochs: '10',
  seed: '1004',
} as const;

/** The options that shape an MLP; the CNN's architecture is fixed (T4's LeNet-5). */
const MLP_ONLY_OPTIONS = [['layers', '--layers'], ['activation', '--activation'], ['output', '--output'], ['loss', '--loss']] as const;

export interface TrainOptions {
  /** 'mlp' (T1 by default) or 'cnn' (T4's LeNet-5). */
  model: ModelKind;
  /** The MLP's sizes, input first; empty for the CNN. */
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
  const model = parseChoice(text(raw, 'model', TRAIN_DEFAULTS.model), '--model', MODEL_KINDS);
  const cnn = model === 'cnn';
  if (cnn) {
    for (const [key, flag] of MLP_ONLY_OPTIONS) {
      if (raw[key] !== undefined) throw new UsageError(`${flag} shapes an MLP; --model cnn is BENCH-PROTOCOL T4's fixed LeNet-5 (relu, softmax + cce), so drop ${flag}`);
    }
  }
  const defaults = cnn ? { ...TRAIN_DEFAULTS, ...CNN_DEFAULTS } : TRAIN_DEFAULTS;
  const loss = parseChoice(text(raw, 'loss', defaults.loss), '--loss', LOSSES);
  const name = parseChoice(text(raw, 'optimizer', defaults.optimizer), '--optimizer', OPTIMIZERS);
  const activation = parseChoice(text(raw, 'activation', defaults.activation), '--activation', HIDDEN_ACTIVATIONS);
  return {
    model,
    layers: cnn ? [] : parseLayers(text(raw, 'layers', defaults.layers)),
    activation,
    output: typeof raw.output === 'string' ? parseChoice(raw.output, '--output', OUTPUT_ACTIVATIONS) : OUTPUT_FOR_LOSS[loss],
    loss,
    optimizer: name,
    lr: typeof raw.lr === 'string' ? parsePositiveNumber(raw.lr, '--lr') : (cnn ? CNN_DEFAULT_LR : DEFAULT_LR)[name],
    batchSize: parsePositiveInteger(text(raw, 'batchSize', defaults.batchSize), '--batch-size'),
    epochs: parsePositiveInteger(text(raw, 'epochs', defaults.epochs), '--epochs'),
    seed: parseSeed(text(raw, 'seed', defaults.seed), '--seed'),
    shuffleSeed: parseSeed(text(raw, 'shuffleSeed', TRAIN_DEFAULTS.shuffleSeed), '--shuffle-seed'),
    init: typeof raw.init === 'string' ? parseChoice(raw.init, '--init', INIT_CHOICES) : activation === 'relu' ? 'heNormal' : 'xavierUniform',
    data: typeof raw.data === 'string' ? raw.data : undefined,
    out: text(raw, 'out', TRAIN_DEFAULTS.out),
    backend: parseChoice(text(raw, 'backend', TRAIN_DEFAULTS.backend), '--backend', GPU_BACKEND_CHOICES),
    quiet: raw.quiet === true,
    limitTrain: typeof raw.limitTrain === 'string' ? parseNonNegativeInteger(raw.limitTrain, '--limit-train') : 0,
    limitTest: typeof raw.limitTest === 'string' ? parseNonNegativeInteger(raw.limitTest, '--limit-test') : 0,
  };
}

/** The network the options and the data make, checked against each other before any training. */
function architectureFor(options: TrainOptions, data: LoadedData): Architecture {
  const features = data.train.x.shape[0];
  const classes = data.train.y.shape[0];
  if (options.model === 'cnn') {
    const side = squareSide(features);
    if (side === undefined || side < CNN_MIN_SIDE) {
      throw new UsageError(`--model cnn takes square images of side ≥ ${CNN_MIN_SIDE} (28×28 for MNIST), but the data has ${features} values per example`);
    }
    const count = cnnParameterCount({ channels: 1, side, classes });
    if (count > MAX_PARAMETERS) {
      throw new UsageError(`--model cnn on ${side}×${side} images makes ${count.toLocaleString('en-US')} parameters; tapegrad train allows at most ${MAX_PARAMETERS.toLocaleString('en-US')} (1 GiB of float32 weights)`);
    }
    return { kind: 'cnn', channels: 1, side, classes, activation: 'relu', output: 'softmax', loss: 'cce' };
  }
  if (options.layers[0] !== features) {
    throw new UsageError(`--layers starts with ${options.layers[0]} inputs but the data has ${features} features per example (e.g. --layers ${features},${options.layers.slice(1).join(',')})`);
  }
  const outputs = options.layers[options.layers.length - 1];
  if (outputs !== classes) {
    throw new UsageError(`--layers ends with ${outputs} outputs but the data has ${classes} classes (e.g. --layers ${options.layers.slice(0, -1).join(',')},${classes})`);
  }
  return { kind: 'mlp', layers: options.layers, activation: options.activation, output: options.output, loss: options.loss };
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

/** What an MLP run writes; manifest.json, written last, lists the others with their sha256. */
export const OUTPUT_FILES = [MODEL_FILE, METRICS_FILE, 'loss.png', 'accuracy.png', 'first-layer.png', 'confusion.png', 'report.html', MANIFEST_FILE] as const;

/** What a CNN run writes: the conv1 pictures instead of first-layer.png. */
export const CNN_OUTPUT_FILES = [MODEL_FILE, METRICS_FILE, 'loss.png', 'accuracy.png', ...CNN_REPORT_IMAGES, 'confusion.png', 'report.html', MANIFEST_FILE] as const;

/** Every name a run of either model writes: an --out of the other kind's run is still train's own folder. */
const ANY_OUTPUT_FILE = [...new Set<string>([...OUTPUT_FILES, ...CNN_OUTPUT_FILES])];

export function outputFilesFor(model: ModelKind): readonly string[] {
  return model === 'cnn' ? CNN_OUTPUT_FILES : OUTPUT_FILES;
}

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
  const folder = new OutputFolder(options.out, { outputs: ANY_OUTPUT_FILE, writer: context.writer, command: context.command });
  // checked first (no side effects), so a mistake in --out costs no data loading
  folder.check();
  const data = loadData({ data: options.data, limitTrain: options.limitTrain, limitTest: options.limitTest });
  const architecture = architectureFor(options, data);
  // then the lock: a second run into the same folder stops here, before any training
  folder.acquire();
  state.folder = folder;
  try {
    return await train(options, architecture, context, state, folder, data);
  } finally {
    folder.discard();
    folder.release();
  }
}

/** The network with its initial weights: T1's mlp, or T4's LeNet-5 drawn conv1, conv2, dense1, dense2, dense3 from one generator. */
function initialModel(options: TrainOptions, architecture: Architecture): Sequential {
  if (architecture.kind === 'cnn') return buildCnn({ ...architecture, init: options.init, seed: options.seed });
  return mlp(architecture.layers, {
    hidden: architecture.activation, output: architecture.output, init: options.init, dtype: 'float32', seed: options.seed,
  });
}

/** The weights the report draws as tiles: W¹ of an MLP, conv1's kernels of a CNN. */
function firstWeights(model: Sequential, architecture: Architecture): Tensor {
  return architecture.kind === 'cnn' ? model.parameters()['conv1.W'] : model.denseLayers()[0].W;
}

async function train(options: TrainOptions, architecture: Architecture, { io, signal, command = 'tapegrad train' }: TrainContext, state: TrainState, folder: OutputFolder, data: LoadedData): Promise<number> {
  const started = performance.now();
  const say = (line: string) => {
    if (!options.quiet) io.out(line);
  };
  for (const line of folder.recovered) io.err(`${options.out}: ${line}`);
  const backend = await selectBackend(options.backend);
  say(backend.message);
  say(`data: ${data.description}`);

  let model = initialModel(options, architecture);
  const optimizer = countingOptimizer(makeOptimizer(options.optimizer, { lr: options.lr } as never));
  const batches = Math.ceil(data.train.labels.length / Math.min(options.batchSize, data.train.labels.length));
  const network = architecture.kind === 'cnn'
    ? `${describeCnn(architecture)} + cce`
    : `${options.layers.join('-')}, ${options.activation} hidden, ${options.output} output + ${options.loss}`;
  const momentum = options.optimizer === 'momentum' || options.optimizer === 'nesterov' ? ' (μ 0.9)' : '';
  say(`model: ${network}, ${options.init} init (seed ${options.seed}); `
    + `${options.optimizer} lr ${options.lr}${momentum}, batch ${options.batchSize}, ${options.epochs} epoch${options.epochs === 1 ? '' : 's'} (order seed ${options.shuffleSeed})`);
  // the CNN reads images [N, C, S, S]; fit, evaluate and predict take rank 4 as examples on axis 0
  const trainSet = { x: modelInput(architecture, data.train.x), y: data.train.y };
  const testSet = { x: modelInput(architecture, data.test.x), y: data.test.y };

  // kept to draw what training changed: after a few epochs from He init, the learned part of
  // W¹ is small next to the initial noise, and only the difference shows the stroke detectors
  const initialFirstLayer = Float32Array.from(await firstWeights(model, architecture).dataAsync());
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
    // fitAsync is fit on a CPU backend; on WebGPU it reads the loss once per epoch
    history = await fitAsync(model, trainSet, {
      loss: options.loss,
      optimizer,
      epochs: options.epochs,
      batchSize: options.batchSize,
      seed: options.shuffleSeed,
      metrics: ['accuracy'],
      validation: testSet,
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
  // a GPU run's figures, report and model file come from a CPU copy of the trained weights
  if (backend.name === 'webgpu') {
    const trained = model.parameters();
    await selectCpuBackend();
    model = initialModel(options, architecture);
    for (const [name, parameter] of Object.entries(model.parameters())) parameter.assign(await trained[name].dataAsync());
  }
  const badParameters = nonFiniteParameters(model.parameters());
  if (badParameters.length > 0) {
    const [first] = badParameters;
    return diverged(new NonFiniteError(options.epochs, null, `parameter '${first.name}'`, first.value, history));
  }

  // the final figures, from the trained model
  const testOutput = predict(model, testSet.x);
  const test = evaluate(model, testSet, { loss: options.loss, metrics: ['accuracy'] });
  const correct = Math.round(test.metrics.accuracy * data.test.labels.length);
  const trainFinal = evaluate(model, trainSet, { loss: options.loss, metrics: ['accuracy'] });
  const classes = data.test.y.shape[0];
  const confusion = confusionMatrix(testOutput, data.test.y, classes === 1 ? 2 : classes);

  const settings: RunSettings = {
    model: options.model,
    layers: architecture.kind === 'cnn' ? `lenet5 ${architecture.channels}x${architecture.side}x${architecture.side}` : options.layers.join(','),
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
  // the architecture's keys (cnn: no 'layers') after the settings, which they override
  const { data: _, layers: __, ...recorded } = settings;
  const metadata: SafetensorsMetadata = {
    ...Object.fromEntries(Object.entries(recorded).map(([k, v]) => [k, String(v)])),
    ...architectureMetadata(architecture),
    dataset: data.source,
    testAccuracy: String(final.testAccuracy),
    tapegrad: cliVersion(),
  };

  // Staged beside --out and published together: an interruption before publish() leaves
  // --out as it was, a complete earlier set or nothing.
  await yieldToEventLoop();
  if (signal?.aborted) return interruptedAfterTraining();
  const firstLayer = firstWeights(model, architecture);
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
    ...(architecture.kind === 'cnn'
      ? { cnn: cnnPictures(model, testSet.x, data.test.labels, testOutput, initialFirstLayer) }
      : { firstLayer: { initial: initialFirstLayer, trained: firstLayer.data, units: firstLayer.shape[0], inputs: firstLayer.shape[1] } }),
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
    + `${trainingSeconds.toFixed(1)} s training, ${report.wallSeconds.toFixed(1)} s in all; wrote ${outputFilesFor(options.model).join(', ')} to ${options.out}`);
  return EXIT_OK;
}

/** The test example whose conv1 feature maps the report shows: the first of the test set. */
export const FEATURE_MAP_EXAMPLE = 0;

/**
 * What the CNN report draws: conv1's kernels before and after training, and one test digit
 * with conv1's feature maps after relu (nn's own conv1 and relu1 layers, run forward).
 */
function cnnPictures(model: Sequential, testImages: Tensor, labels: Uint8Array, testOutput: Tensor, initialKernels: Float32Array): CnnPictures {
  const kernels = model.parameters()['conv1.W'];
  const [channels, inChannels, kernelHeight, kernelWidth] = kernels.shape;
  const index = FEATURE_MAP_EXAMPLE;
  const [, imageChannels, side] = testImages.shape;
  const perImage = imageChannels * side * side;
  const digit = testImages.data.slice(index * perImage, (index + 1) * perImage);
  const [conv1, relu1] = model.layers;
  const image = new Tensor(digit, [1, imageChannels, side, side], testImages.dtype);
  const maps = noGrad(() => relu1.forward(conv1.forward(image)));
  const classes = testOutput.shape[0];
  const count = testOutput.shape[1];
  let predicted = 0;
  for (let c = 1; c < classes; c++) if (testOutput.data[c * count + index] > testOutput.data[predicted * count + index]) predicted = c;
  return {
    kernels: { initial: initialKernels, trained: Float32Array.from(kernels.data), channels, inChannels, height: kernelHeight, width: kernelWidth },
    digit: { pixels: Float32Array.from(digit.subarray(0, side * side)), side, label: labels[index], predicted, index },
    maps: { values: Float32Array.from(maps.data), channels: maps.shape[1], height: maps.shape[2], width: maps.shape[3] },
  };
}
