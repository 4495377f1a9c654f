import { Command, CommanderError } from 'commander';
import { LOSSES, OPTIMIZERS } from '@tapegrad/nn';
import { runEvaluate, parseEvaluateOptions } from './commands/evaluate.js';
import { GRADCHECK_DEFAULTS, parseGradcheckOptions, runGradcheck } from './commands/gradcheck.js';
import { runConformance } from './commands/conformance.js';
import { GRAPH_DEFAULTS, GRAPH_FORMATS, parseGraphOptions, runGraph } from './commands/graph.js';
import { parsePredictOptions, runPredict } from './commands/predict.js';
import {
  CNN_DEFAULTS, CNN_DEFAULT_LR, CNN_OUTPUT_FILES, DEFAULT_LR, HIDDEN_ACTIVATIONS, INIT_CHOICES, MODEL_KINDS, OUTPUT_ACTIVATIONS, OUTPUT_FILES,
  type RawOptions, TRAIN_DEFAULTS, type TrainState, interruptMessage, parseTrainOptions, runTrain,
} from './commands/train.js';
import { EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, UsageError, firstLine } from './errors.js';
import { type Io, cliVersion, processIo } from './io.js';
import { describeFsError } from './output-folder.js';

const COMMANDS = ['train', 'evaluate', 'predict', 'gradcheck', 'graph', 'conformance', 'help'];

const EXIT_CODES = `
Exit codes: 0 success; 1 a failed gradient check, a diverged training run (loss or weights
NaN/∞) or an internal error (a bug: please report it); 2 a mistake in the options or the input,
a file that cannot be read or written (full disk), or an --out in use by another run (one line
on stderr); 130 interrupted (Ctrl-C).`;

const lrDefaults = Object.entries(DEFAULT_LR).map(([name, lr]) => `${name} ${lr}`).join(', ');
const cnnLrDefaults = Object.entries(CNN_DEFAULT_LR).filter(([name, lr]) => DEFAULT_LR[name as keyof typeof DEFAULT_LR] !== lr).map(([name, lr]) => `${name} ${lr}`).join(', ');
const cnnOnlyFiles = CNN_OUTPUT_FILES.filter((f) => !(OUTPUT_FILES as readonly string[]).includes(f));

function buildProgram(io: Io, setExit: (code: number) => void, setCommand: (name: string) => void): Command {
  const program = new Command('tapegrad')
    .description('Train, evaluate and query small neural networks on MNIST with tapegrad, a reverse-mode autodiff library.')
    .version(cliVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'explain the command and every option')
    .option('--debug', 'on an unexpected error, print its stack trace')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => process.stdout.write(s),
      writeErr: (s) => process.stderr.write(s),
      // errors are printed by run() as one line, with the command's name
      outputError: () => {},
    })
    .addHelpText('after', `
Commands print --help of their own, e.g. tapegrad train --help.
${EXIT_CODES}`);
  program.hook('preAction', (_, action) => setCommand(action.name()));

  program.command('train')
    .summary('train an MLP or a CNN (defaults: BENCH-PROTOCOL T1, or T4 with --model cnn, on the embedded MNIST) and write model, metrics and report')
    .description('Train a multilayer perceptron or a LeNet-5 CNN and write the model, its metrics and a report. The defaults are '
      + 'BENCH-PROTOCOL.md\'s task T1 exactly (784-128-10, relu, softmax + cross-entropy, SGD 0.1, batch 64, 5 epochs, '
      + 'He init from mulberry32(1001), epoch order from mulberry32(42)), which reaches test accuracy 0.9117 on the embedded MNIST. '
      + 'With --model cnn they are task T4\'s (LeNet-5: conv 5×5 1→6 pad 2, relu, maxpool 2, conv 5×5 6→16, relu, maxpool 2, dense 400-120-84-10; '
      + 'SGD with momentum 0.9 at 0.01, batch 64, 10 epochs, He init from mulberry32(1004)), which reaches test accuracy 0.9551 (1914/2004) on the native and wasm backends (PyTorch: 0.9536; float32 runs drift apart after the first epoch).')
    .option('--model <kind>', `${MODEL_KINDS.join(' or ')}: the multilayer perceptron --layers describes (T1), or T4's fixed LeNet-5 CNN on the 28×28 images (its own defaults for --optimizer, --epochs and --seed; --layers, --activation, --loss and --output do not apply)`, TRAIN_DEFAULTS.model)
    .option('--layers <sizes>', 'layer sizes of the MLP, input first, comma-separated', TRAIN_DEFAULTS.layers)
    .option('--activation <name>', `activation of every hidden layer of the MLP: ${HIDDEN_ACTIVATIONS.join(', ')}`, TRAIN_DEFAULTS.activation)
    .option('--loss <name>', `cost, averaged over the batch: ${LOSSES.join(', ')} (categorical cross-entropy, binary cross-entropy summed over the output units, half squared error); the CNN's is cce`, TRAIN_DEFAULTS.loss)
    .option('--output <name>', `output activation: ${OUTPUT_ACTIVATIONS.join(', ')} (default: softmax for cce, sigmoid for bce and mse; softmax + cce and sigmoid + bce use the stable from-logits cost)`)
    .option('--optimizer <name>', `${OPTIMIZERS.join(', ')}; momentum is PyTorch's SGD with momentum 0.9 (v ← 0.9·v + g, θ ← θ − lr·v) (default: "${TRAIN_DEFAULTS.optimizer}" for the MLP, "${CNN_DEFAULTS.optimizer}" for the CNN)`)
    .option('--lr <rate>', `learning rate, > 0 (default by optimizer: ${lrDefaults}; with --model cnn ${cnnLrDefaults}; for rprop the initial step, for lbfgs and newton-cg the fraction of the step)`)
    .option('--batch-size <n>', 'examples per step (1: online; ≥ the training set: full batch)', TRAIN_DEFAULTS.batchSize)
    .option('--epochs <n>', `passes over the training set, ≥ 1 (default: "${TRAIN_DEFAULTS.epochs}" for the MLP, "${CNN_DEFAULTS.epochs}" for the CNN)`)
    .option('--seed <n>', `seed of the initial weights: mulberry32(n) draws W¹ row-major, then W², … (the CNN: conv1, conv2, dense1, dense2, dense3); the epoch order has its own seed (default: "${TRAIN_DEFAULTS.seed}", T1's, for the MLP; "${CNN_DEFAULTS.seed}", T4's, for the CNN)`)
    .option('--shuffle-seed <n>', 'seed of the epoch order: one mulberry32(n) Fisher–Yates-shuffles epoch 1, 2, … in turn (42 is the protocol\'s)', TRAIN_DEFAULTS.shuffleSeed)
    .option('--init <name>', `weight initialiser of every layer: ${INIT_CHOICES.join(', ')}; biases start at 0 (default: heNormal, sd √(2/in), with relu; else xavierUniform)`)
    .option('--data <dir>', 'a directory with MNIST-format IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each optionally .gz) (default: the 10,000 digits embedded in the mnist package, split 7,996 train / 2,004 test)')
    .option('--out <dir>', `where to write ${OUTPUT_FILES.join(', ')} (the CNN: ${cnnOnlyFiles.join(', ')} instead of first-layer.png)`, TRAIN_DEFAULTS.out)
    .option('--backend <name>', 'kernels: js, wasm, native, auto (the fastest CPU backend that loads and passes a self-test: native, then wasm, then js; the choice is printed), or webgpu (a GPU through WebGPU; never picked by auto)', TRAIN_DEFAULTS.backend)
    .option('--limit-train <n>', 'use n training examples spread evenly over the set (0: all), for quick runs', '0')
    .option('--limit-test <n>', 'use n test examples spread evenly over the set (0: all); evaluate repeats the same subset', '0')
    .option('--quiet', 'no progress bar and no per-epoch lines: print only the final result line (and errors)')
    .addHelpText('after', `
Output: a progress bar on stderr (when it is a terminal), one line per epoch with the loss,
train and test accuracy and examples/s on stdout, then ${OUTPUT_FILES.join(', ')} in --out
(a CNN writes ${cnnOnlyFiles.join(' and ')}, its first convolution's kernels and feature maps, for first-layer.png),
staged beside it and published together (manifest.json last, with each file's sha256, which
evaluate and predict check). --out always holds one run's complete outputs, or nothing: a
killed run, a full disk or Ctrl-C leave the earlier run's set as it was. A second run into the
same --out exits 2 while the first runs. Ctrl-C stops after the current batch and writes
nothing (exit code 130); Ctrl-C twice quits at once, also writing nothing. A run whose loss or
weights become NaN/∞ stops with exit code 1 and writes nothing: try a smaller --lr.

Examples:
  tapegrad train                                  # T1: test accuracy 0.9117 after 5 epochs
  tapegrad train --model cnn --out out/cnn        # T4: LeNet-5, test accuracy ≈ 0.95 after 10 epochs
  tapegrad train --model cnn --optimizer adam --epochs 3
  tapegrad train --epochs 1 --limit-train 1000 --out /tmp/quick
  tapegrad train --layers 784,256,64,10 --optimizer adam --lr 0.001 --epochs 10
  tapegrad train --data ~/fashion-mnist --out out/fashion
${EXIT_CODES}`)
    .action(async (raw: RawOptions, command: Command) => {
      // only what the user gave: the defaults depend on --model, and --layers and friends are
      // refused with --model cnn only when given (parseTrainOptions fills in the rest)
      const given = Object.fromEntries(Object.entries(raw).filter(([key]) => command.getOptionValueSource(key) !== 'default'));
      const options = parseTrainOptions(given);
      const controller = new AbortController();
      const state: TrainState = { phase: 'preparing' };
      let interrupts = 0;
      const onSignal = () => {
        interrupts++;
        if (interrupts === 1) {
          if (state.phase !== 'published') controller.abort();
          io.err(interruptMessage(state, options.out));
        } else if (state.phase !== 'published') {
          // synchronous: the staged files and the lock go before the process does
          state.folder?.discard();
          const message = state.folder ? state.folder.nothingWritten() : `nothing written to ${options.out}`;
          state.folder?.release();
          io.err(`interrupted again: quitting at once; ${message}`);
          process.exit(EXIT_INTERRUPTED);
        }
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        const command = ['tapegrad', ...process.argv.slice(2)].join(' ');
        setExit(await runTrain(options, { io, signal: controller.signal, command, state }));
      } finally {
        if (interrupts > 0) {
          // the run has stopped and said so; another Ctrl-C while the process winds down
          // quits at once with the same code, instead of dying of the signal. Added before
          // the handlers go: with no listener left, Node restores the signal's default action.
          const quit = () => process.exit(EXIT_INTERRUPTED);
          process.on('SIGINT', quit);
          process.on('SIGTERM', quit);
        }
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });

  program.command('evaluate')
    .summary('measure a saved model\'s test accuracy (repeats what train recorded)')
    .description('Measure a saved model on the test set. The architecture comes from the file\'s metadata; the data, by default, is what the model was trained on (with the same test subset), so this repeats the accuracy train recorded.')
    .option('--model <path>', 'a model.safetensors written by train, or the --out directory that holds it (required)')
    .option('--data <dir>', 'evaluate on the test files of this IDX directory instead (t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; the train files must be there too)')
    .option('--limit-test <n>', 'use n test examples spread evenly over the set (0: all) (default: the subset the model was trained with)')
    .option('--backend <name>', 'kernels: js, wasm, native, auto (the fastest CPU backend), or webgpu (a GPU through WebGPU)', 'auto')
    .option('--json', 'print the result as one JSON object')
    .addHelpText('after', `
Examples:
  tapegrad evaluate --model out/run
  tapegrad evaluate --model out/run/model.safetensors --data ~/mnist --json
${EXIT_CODES}`)
    .action(async (raw: RawOptions) => {
      setExit(await runEvaluate(parseEvaluateOptions(raw), io));
    });

  program.command('predict')
    .summary('predict the digit in PNG images or IDX image files, with class probabilities')
    .description('Predict the class of PNG images (converted to grayscale, inverted if the background is light, padded square and box-filtered to 28×28, scaled to [0, 1]) or of every image in an IDX images file, and print the class probabilities.')
    .argument('<inputs...>', 'PNG images and/or IDX images files (e.g. t10k-images-idx3-ubyte[.gz]); with the labels file beside an IDX file, its accuracy is printed too')
    .option('--model <path>', 'a model.safetensors written by train, or the directory that holds it (required)')
    .option('--limit <n>', 'print the first n images of an IDX file (0: all)', '10')
    .option('--backend <name>', 'kernels: js, wasm, native, auto (the fastest CPU backend), or webgpu (a GPU through WebGPU)', 'auto')
    .option('--json', 'print the results as one JSON object')
    .addHelpText('after', `
Examples:
  tapegrad predict --model out/run my-digit.png
  tapegrad predict --model out/run --limit 5 ~/mnist/t10k-images-idx3-ubyte.gz
${EXIT_CODES}`)
    .action(async (inputs: string[], raw: RawOptions) => {
      setExit(await runPredict(parsePredictOptions(raw, inputs), io));
    });

  program.command('gradcheck')
    .summary('check backprop: tape vs BP1–BP4 vs finite differences vs augmented form, per layer')
    .description('Check backpropagation on one network in float64: the tape against the hand-written BP1–BP4, central finite differences and the augmented form [b W][1; A], layer by layer, and the batch gradient against the mean of per-example gradients. Prints the table; exits 1 if any differ beyond tolerance.')
    .option('--layers <sizes>', 'layer sizes, input first, comma-separated', GRADCHECK_DEFAULTS.layers)
    .option('--activation <name>', `hidden activation: ${HIDDEN_ACTIVATIONS.join(', ')}`, GRADCHECK_DEFAULTS.activation)
    .option('--loss <name>', `${LOSSES.join(', ')} (with softmax, sigmoid and sigmoid output respectively)`, GRADCHECK_DEFAULTS.loss)
    .option('--batch <n>', 'examples in the batch', GRADCHECK_DEFAULTS.batch)
    .option('--seed <n>', 'one mulberry32(n) draws the weights, then the inputs X ~ N(0, 1), then the targets', GRADCHECK_DEFAULTS.seed)
    .addHelpText('after', `
Examples:
  tapegrad gradcheck
  tapegrad gradcheck --layers 784,30,10 --activation sigmoid --loss bce --batch 2
${EXIT_CODES}`)
    .action((raw: RawOptions) => {
      setExit(runGradcheck(parseGradcheckOptions(raw), io));
    });

  program.command('graph')
    .summary('draw one training step\'s recorded graph, with values and gradients at every node')
    .description('Record one training step (forward pass and cost) and draw its graph: every op with its output shape, dtype and value statistics (min / mean / max, NaN and ±∞ counts) and the gradient of the cost at that node; parameters named 0.W, 0.b, …. HTML and SVG are laid out by dagre and self-contained; DOT is for Graphviz, Mermaid for Markdown.')
    .option('--layers <sizes>', 'layer sizes, input first, comma-separated (a fresh network)', GRAPH_DEFAULTS.layers)
    .option('--activation <name>', `hidden activation: ${HIDDEN_ACTIVATIONS.join(', ')}`, GRAPH_DEFAULTS.activation)
    .option('--loss <name>', `${LOSSES.join(', ')} (default: bce for one output, else cce)`)
    .option('--batch <n>', 'examples in the batch', GRAPH_DEFAULTS.batch)
    .option('--seed <n>', 'one mulberry32(n) draws the weights, then the inputs X ~ N(0, 1), then the targets', GRAPH_DEFAULTS.seed)
    .option('--model <path>', 'draw a saved model (model.safetensors or its --out directory) on --batch embedded MNIST test images instead')
    .option('--fold', 'draw each dense layer as one box')
    .option('--format <name>', `${GRAPH_FORMATS.join(', ')} (default: from the --out extension: .svg, .dot/.gv, .mmd, else html)`)
    .option('--out <file>', 'where to write the picture', GRAPH_DEFAULTS.out)
    .addHelpText('after', `
Examples:
  tapegrad graph --layers 3,2,1 --out graph.html
  tapegrad graph --model out/main-job --batch 4 --fold --out mnist-step.svg
  tapegrad graph --layers 4,3,2 --loss cce --out step.dot
${EXIT_CODES}`)
    .action(async (raw: RawOptions) => {
      setExit(await runGraph(parseGraphOptions(raw), io));
    });

  program.command('conformance')
    .summary('every op\'s forward pass and gradients on every backend that loads, against js')
    .description('Run every op\'s forward pass and VJPs (core/testing\'s checkBackends) on each backend that loads (wasm, native) and print, per op and backend, the largest float32 difference from js in ulps and relative terms, and whether float64 is bit-identical.')
    .addHelpText('after', `
Examples:
  tapegrad conformance
  tapegrad conformance > conformance.txt
${EXIT_CODES}`)
    .action(() => {
      setExit(runConformance(io));
    });

  return program;
}

/** The command named on the line, for error messages raised before commander knows it. */
function commandIn(argv: readonly string[]): string | undefined {
  return argv.find((a) => COMMANDS.includes(a));
}

/**
 * Runs the command line and returns the exit code; never throws. Every failure ends in one
 * line on stderr: `tapegrad train: --lr must be a positive number, got '-1'`.
 */
export async function run(argv: readonly string[], io: Io = processIo): Promise<number> {
  let exitCode = EXIT_OK;
  let command = commandIn(argv);
  const debug = argv.includes('--debug');
  const program = buildProgram(io, (code) => {
    exitCode = code;
  }, (name) => {
    command = name;
  });
  const prefix = () => `tapegrad${command && command !== 'help' ? ` ${command}` : ''}`;
  if (argv.length === 0) {
    program.outputHelp({ error: true });
    return EXIT_USAGE;
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end in a CommanderError with exit code 0
      if (error.exitCode === 0) return EXIT_OK;
      if (error.code === 'commander.help' || error.code === 'commander.helpDisplayed') return EXIT_USAGE;
      const message = error.message.replace(/^error: /, '').split('\n').map((l) => l.trim()).filter(Boolean).join(' ');
      io.err(`${prefix()}: ${message} (see ${prefix()} --help)`);
      return EXIT_USAGE;
    }
    if (error instanceof UsageError) {
      io.err(`${prefix()}: ${firstLine(error.message)}`);
      return EXIT_USAGE;
    }
    // a file the system would not read or write (a full disk, a permission): the user's to fix
    const fsError = error as NodeJS.ErrnoException;
    if (typeof fsError?.code === 'string' && /^E[A-Z]+$/.test(fsError.code) && typeof fsError.path === 'string') {
      io.err(`${prefix()}: cannot access ${fsError.path}: ${describeFsError(error)}`);
      return EXIT_USAGE;
    }
    const err = error instanceof Error ? error : new Error(String(error));
    if (debug) io.err(err.stack ?? String(err));
    else io.err(`${prefix()}: internal error: ${firstLine(err.message)} (run again with --debug for the stack trace)`);
    io.err(`${prefix()}: this is a bug in tapegrad, not a mistake of yours: please report it with the command line and the --debug output`);
    return EXIT_FAILURE;
  }
}
