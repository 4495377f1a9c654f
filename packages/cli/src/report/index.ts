import { METRICS_FILE } from '../model-file.js';
import { cliVersion, fixed4 } from '../io.js';
import type { TopLevelSpec } from '@tapegrad/charts';
import type { Picture } from './bitmap.js';
import { weightTiles } from './charts.js';
import { CNN_IMAGE_CAPTIONS, type CnnPictures, cnnImages } from './conv-images.js';
import { type ReportEpoch, type ReportImage, reportHtml } from './html.js';

/**
 * What a finished training run leaves besides the model: metrics.json, the PNGs and
 * report.html. The charts (curves, confusion matrix) are @tapegrad/charts' Vega-Lite specs,
 * drawn to SVG (inline in report.html) and to PNG by resvg; the layer pictures are pixels with
 * SVG text on top, drawn to PNG by resvg at one pixel per pixel: an MLP's first-layer weights
 * (./charts.ts's weightTiles, first-layer.png), a CNN's first convolution's kernels and
 * feature maps (conv-images.ts). report.html holds everything
 * itself: it opens anywhere alone.
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
  /** Contents by file name, in the order to write them (report.html last, the page that gathers the rest). */
  files: Record<string, string | Uint8Array>;
  wallSeconds: number;
}

const FIRST_LAYER_CAPTION = 'Incoming weights of every first-layer unit as an image, each tile scaled to its own largest |w| (red positive, blue negative, white 0): above, the weights themselves; below, what training added to the random initial weights, where the learned stroke detectors show.';

/** first-layer.png: an MLP's W¹ and what training changed in it, as tiles. */
function firstLayerImage(firstLayer: NonNullable<RunRecord['firstLayer']>): Picture {
  const { units, inputs } = firstLayer;
  // after a few epochs from He init the learned part of W¹ is small next to the initial noise:
  // the difference is where the stroke detectors show
  const change = Float64Array.from({ length: units * inputs }, (_, i) => firstLayer.trained[i] - firstLayer.initial[i]);
  return weightTiles([
    { label: 'The weights W¹ after training', weights: firstLayer.trained },
    { label: 'What training changed: W¹ − W¹ at initialisation', weights: change },
  ], units, inputs, `First layer: ${units} units × ${inputs} inputs. Red +, blue −, each tile scaled to its largest |w|`);
}

export async function renderReport(run: RunRecord): Promise<RenderedReport> {
  // loaded here, not at the top: Vega and resvg take a second or two to load, which every
  // other command (evaluate, predict, --help) would pay for nothing
  const [{ confusionChartSpec, lineChartSpec, renderSvg }, { svgToPng }] = await Promise.all([import('@tapegrad/charts'), import('./svg-png.js')]);
  /** The chart as SVG text and as the PNG file's bytes. */
  const chart = async (spec: TopLevelSpec): Promise<{ svg: string; png: Uint8Array }> => {
    const svg = await renderSvg(spec);
    return { svg, png: svgToPng(svg) };
  };
  const { settings, epochs, final, confusion, firstLayer, cnn } = run;
  const curve = (pick: (e: ReportEpoch) => number) => epochs.map((e) => [e.epoch, pick(e)] as const);
  const [loss, accuracy, confusionMatrix] = await Promise.all([
    chart(lineChartSpec({
      title: 'Loss per epoch', xLabel: 'epoch', yLabel: `${settings.loss} loss (mean per example)`, integerX: true,
      series: [{ name: 'train (running)', points: curve((e) => e.loss) }, { name: 'test', points: curve((e) => e.testLoss) }],
      yInclude: [0], width: 540, height: 320,
    })),
    chart(lineChartSpec({
      title: 'Accuracy per epoch', xLabel: 'epoch', yLabel: 'accuracy', integerX: true,
      series: [{ name: 'train (running)', points: curve((e) => e.trainAccuracy) }, { name: 'test', points: curve((e) => e.testAccuracy) }],
      width: 540, height: 320,
    })),
    chart(confusionChartSpec(confusion, `Confusion matrix, test set (${final.testCorrect}/${final.testExamples} = ${fixed4(final.testAccuracy)})`)),
  ]);
  const layerPictures: Record<string, Picture> = {
    ...(firstLayer ? { 'first-layer.png': firstLayerImage(firstLayer) } : {}),
    ...(cnn ? cnnImages(cnn) : {}),
  };
  // zoom 1: one PNG pixel per picture pixel, so every tile pixel comes out exactly as drawn
  const layerImages: Record<string, Uint8Array> = Object.fromEntries(Object.entries(layerPictures).map(([file, picture]) => [file, svgToPng(picture.svg(), 1)]));
  const layerCaptions: Record<string, string> = { 'first-layer.png': FIRST_LAYER_CAPTION, ...CNN_IMAGE_CAPTIONS };
  const images: Record<string, Uint8Array> = {
    'loss.png': loss.png,
    'accuracy.png': accuracy.png,
    ...layerImages,
    'confusion.png': confusionMatrix.png,
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
    images: ([
      { file: 'loss.png', svg: loss.svg, caption: 'Loss per epoch: the training figure is the mean over the epoch\'s batches, each scored before its step; the test figure is measured after the epoch.' },
      { file: 'accuracy.png', svg: accuracy.svg, caption: 'Accuracy per epoch, training (running) and test.' },
      { file: 'confusion.png', svg: confusionMatrix.svg, caption: 'Test-set confusion matrix: rows are the true class, columns the prediction; shade is the share of the row (square-root scale), the number the count; recall at the right.' },
      ...Object.keys(layerImages).map((file) => ({ file, caption: layerCaptions[file] })),
    ] as { file: string; svg?: string; caption: string }[]).map((image): ReportImage => ({ ...image, png: images[image.file] })),
  });
  return { files: { [METRICS_FILE]: `${JSON.stringify(metrics, null, 2)}\n`, ...images, 'report.html': html }, wallSeconds };
}
