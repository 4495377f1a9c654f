import { METRICS_FILE } from '../model-file.js';
import { cliVersion, fixed4 } from '../io.js';
import { confusionChart, lineChart, weightTiles } from './charts.js';
import { CNN_IMAGE_CAPTIONS, type CnnPictures, cnnImages } from './conv-images.js';
import { type ReportEpoch, reportHtml } from './html.js';

/**
 * What a finished training run leaves besides the model: metrics.json, the PNGs and
 * report.html. An MLP's report draws its first layer's weights (first-layer.png); a CNN's,
 * its first convolution's kernels and feature maps (conv-images.ts).
 */

export interface RunSettings {
  /** 'mlp' or 'cnn'; absent means mlp. */
  model?: string;
  layers: string;
  activation: string;
  output: string;
  loss: string;
  optimizer: string;
  lr: number;
  batchSize: number;
  epochs: number;
  seed: number;
  shuffleSeed: number;
  init: string;
  dtype: string;
  data: string;
  limitTrain: number;
  limitTest: number;
  backend: string;
}

export interface RunFinal {
  testAccuracy: number;
  testCorrect: number;
  testExamples: number;
  testLoss: number;
  trainAccuracy: number;
  trainLoss: number;
  trainExamples: number;
  trainingSeconds: number;
}

export interface RunRecord {
  command: string;
  settings: RunSettings;
  dataDescription: string;
  epochs: readonly ReportEpoch[];
  final: RunFinal;
  /** counts[true][predicted] on the test set. */
  confusion: number[][];
  /** An MLP's W¹ before and after training, [units, inputs] row-major: first-layer.png. */
  firstLayer?: { initial: ArrayLike<number>; trained: ArrayLike<number>; units: number; inputs: number };
  /** A CNN's conv1 kernels and feature maps: conv1-kernels.png, conv1-feature-maps.png. */
  cnn?: CnnPictures;
  /** performance.now() when the command started: wall seconds are counted up to the drawn report. */
  startedAt: number;
}

export const REPORT_IMAGES = ['loss.png', 'accuracy.png', 'first-layer.png', 'confusion.png'] as const;

export interface RenderedReport {
  /** Contents by file name, in the order to write them (report.html last: it shows the others). */
  files: Record<string, string | Uint8Array>;
  wallSeconds: number;
}

const FIRST_LAYER_CAPTION = 'Incoming weights of every first-layer unit as an image, each tile scaled to its own largest |w| (red positive, blue negative, white 0): above, the weights themselves; below, what training added to the random initial weights, where the learned stroke detectors show.';

/** first-layer.png: an MLP's W¹ and what training changed in it, as tiles. */
function firstLayerImage(firstLayer: NonNullable<RunRecord['firstLayer']>): Uint8Array {
  const { units, inputs } = firstLayer;
  // after a few epochs from He init the learned part of W¹ is small next to the initial noise:
  // the difference is where the stroke detectors show
  const change = Float64Array.from({ length: units * inputs }, (_, i) => firstLayer.trained[i] - firstLayer.initial[i]);
  return weightTiles([
    { label: 'THE WEIGHTS W1 AFTER TRAINING', weights: firstLayer.trained },
    { label: 'WHAT TRAINING CHANGED: W1 - W1 AT INITIALISATION', weights: change },
  ], units, inputs, `FIRST LAYER: ${units} UNITS x ${inputs} INPUTS. RED +, BLUE -, EACH TILE SCALED TO ITS MAX |W|`).toPng();
}

export function renderReport(run: RunRecord): RenderedReport {
  const { settings, epochs, final, confusion, firstLayer, cnn } = run;
  const curve = (pick: (e: ReportEpoch) => number) => epochs.map((e) => [e.epoch, pick(e)] as const);
  const layerImages: Record<string, Uint8Array> = {
    ...(firstLayer ? { 'first-layer.png': firstLayerImage(firstLayer) } : {}),
    ...(cnn ? cnnImages(cnn) : {}),
  };
  const layerCaptions: Record<string, string> = { 'first-layer.png': FIRST_LAYER_CAPTION, ...CNN_IMAGE_CAPTIONS };
  const images: Record<string, Uint8Array> = {
    'loss.png': lineChart({
      title: 'LOSS PER EPOCH', xLabel: 'EPOCH', yLabel: `${settings.loss.toUpperCase()} LOSS (MEAN PER EXAMPLE)`, integerX: true,
      series: [{ name: 'TRAIN (RUNNING)', points: curve((e) => e.loss) }, { name: 'TEST', points: curve((e) => e.testLoss) }],
      yInclude: [0],
    }).toPng(),
    'accuracy.png': lineChart({
      title: 'ACCURACY PER EPOCH', xLabel: 'EPOCH', yLabel: 'ACCURACY', integerX: true,
      series: [{ name: 'TRAIN (RUNNING)', points: curve((e) => e.trainAccuracy) }, { name: 'TEST', points: curve((e) => e.testAccuracy) }],
    }).toPng(),
    ...layerImages,
    'confusion.png': confusionChart(confusion, `CONFUSION MATRIX, TEST SET (${final.testCorrect}/${final.testExamples} = ${fixed4(final.testAccuracy)})`).toPng(),
  };
  const wallSeconds = Math.round(performance.now() - run.startedAt) / 1000;
  const metrics = {
    tapegrad: cliVersion(),
    createdAt: new Date().toISOString(),
    command: run.command,
    settings,
    data: { source: settings.data, description: run.dataDescription, trainExamples: final.trainExamples, testExamples: final.testExamples },
    epochs,
    final: { ...final, wallSeconds, confusion },
    notes: {
      loss: 'train loss and trainAccuracy per epoch are running figures: each batch is scored just before its own step',
      seconds: 'training steps only, per epoch; wallSeconds covers the whole command up to the report',
    },
  };
  const last = epochs[epochs.length - 1];
  const html = reportHtml({
    title: `tapegrad: ${settings.model === 'cnn' ? 'LeNet-5 CNN' : settings.layers.replaceAll(',', '-')} on ${settings.data === 'mnist' ? 'MNIST' : settings.data}, test accuracy ${fixed4(final.testAccuracy)}`,
    command: run.command,
    settings: { ...settings },
    final: {
      'test accuracy': `${fixed4(final.testAccuracy)} (${final.testCorrect}/${final.testExamples})`,
      'test loss': fixed4(final.testLoss),
      'train accuracy (after training)': fixed4(final.trainAccuracy),
      'train loss (after training)': fixed4(final.trainLoss),
      'training seconds': final.trainingSeconds,
      'wall seconds': wallSeconds,
      'examples/s (last epoch)': Math.round(last.examplesPerSecond),
    },
    epochs,
    images: [
      { file: 'loss.png', caption: 'Loss per epoch: the training figure is the mean over the epoch\'s batches, each scored before its step; the test figure is measured after the epoch.' },
      { file: 'accuracy.png', caption: 'Accuracy per epoch, training (running) and test.' },
      { file: 'confusion.png', caption: 'Test-set confusion matrix: rows are the true class, columns the prediction; shade is the share of the row (square-root scale), the number the count; recall at the right.' },
      ...Object.keys(layerImages).map((file) => ({ file, caption: layerCaptions[file] })),
    ],
  });
  return { files: { [METRICS_FILE]: `${JSON.stringify(metrics, null, 2)}\n`, ...images, 'report.html': html }, wallSeconds };
}
