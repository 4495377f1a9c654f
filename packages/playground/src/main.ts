import { initWasmBackendAsync } from '@tapegrad/backend-wasm';
import type { WebGpuBackend } from '@tapegrad/backend-webgpu';
import { renderGraph, setBackend } from '@tapegrad/core';
import { lineChartSpec, renderSvg } from '@tapegrad/charts';
import { type Activation } from '@tapegrad/nn';
import {
  DATASETS, DATASET_LABELS, DEFAULT_SETTINGS, type DatasetName, type DeltaRow, HIDDEN_ACTIVATIONS, Lab, type LabSettings, OPTIMIZER_NAMES, type OptimizerName,
  extent, mnistProvided, parseHidden, provideMnist,
} from './lab.js';
import { SIDE, toMnistInput, unpackMnistSubset } from './digit.js';

/** The page: settings → a Lab; train in slices of an animation frame; draw; inspect. */

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  status: $('status'), error: $('error'), architecture: $('architecture'),
  backend: $<HTMLSelectElement>('backend'), backendNote: $('backend-note'),
  dataset: $<HTMLSelectElement>('dataset'), hidden: $<HTMLInputElement>('hidden'), activation: $<HTMLSelectElement>('activation'),
  optimizer: $<HTMLSelectElement>('optimizer'), lr: $<HTMLInputElement>('lr'), seed: $<HTMLInputElement>('seed'),
  reset: $<HTMLButtonElement>('reset'), train: $<HTMLButtonElement>('train'), step: $<HTMLButtonElement>('step'),
  gradcheck: $<HTMLButtonElement>('gradcheck'), graph: $<HTMLButtonElement>('graph'),
  boundary: $<HTMLCanvasElement>('boundary'), chart: $('loss-chart'), steps: $('steps'), loss: $('loss'), accuracy: $('accuracy'),
  deltas: $('deltas'), deltaTable: $('delta-table'), gradcheckPanel: $('gradcheck-panel'), gradcheckResult: $('gradcheck-result'),
  graphPanel: $('graph-panel'), graphPicture: $('graph-picture'),
  boundaryFigure: $('boundary-figure'), digitFigure: $('digit-figure'), digit: $<HTMLCanvasElement>('digit'),
  digitInput: $<HTMLCanvasElement>('digit-input'), clear: $<HTMLButtonElement>('clear'), probabilities: $('digit-probabilities'),
  accuracyLabel: $('accuracy-label'),
};

const fill = (select: HTMLSelectElement, values: readonly string[], chosen: string) => {
  select.replaceChildren(...values.map((v) => new Option(v, v, v === chosen, v === chosen)));
};
ui.dataset.replaceChildren(...DATASETS.map((v) => new Option(DATASET_LABELS[v], v, v === DEFAULT_SETTINGS.dataset, v === DEFAULT_SETTINGS.dataset)));
fill(ui.activation, HIDDEN_ACTIVATIONS, DEFAULT_SETTINGS.activation);
fill(ui.optimizer, OPTIMIZER_NAMES, DEFAULT_SETTINGS.optimizer);

let lab: Lab;
let running = false;
/** Steps per slice of training: grown or shrunk so that a slice (its steps and the read of their costs) takes 12–30 ms. */
let stepsPerSlice = 1;
/** A slice is awaiting its read (on WebGPU, the device's work): none other starts meanwhile. */
let slicing = false;
/** When the figures may next be drawn: 200 ms after the last, or 4 × its duration when that is longer. */
let nextFigures = 0;

// ---- backends: a CPU one (wasm, else js) and WebGPU when the browser gives an adapter ----

/** The CPU backend the page starts on; the float64 inspections run on it when training is on WebGPU. */
let cpuBackend = 'js';
/** What the status line says of each backend that trains here. */
const backendStatus = new Map<string, string>([['js', 'js, the reference kernels in JavaScript']]);

/** The adapter in words; SwiftShader (Chromium's Vulkan on the CPU) says that it is a CPU. */
function adapterText(backend: WebGpuBackend): string {
  const { vendor, architecture, device, description, swiftShader } = backend.adapter;
  const name = [vendor, architecture, device, description].filter((s) => s.length > 0).join(' ') || 'an adapter that gives no name';
  return swiftShader ? `${name}: SwiftShader (CPU): correctness only` : name;
}

function backendOption(name: string, label: string, disabled = false): HTMLOptionElement {
  const option = new Option(label, name, name === cpuBackend, name === cpuBackend);
  option.disabled = disabled;
  return option;
}

/**
 * Asks for WebGPU once, at start: the backend's code is a chunk of its own, loaded here only,
 * so a page without WebGPU runs none of it. With an adapter, 'webgpu' becomes a choice
 * (registering it does not switch to it: the page chose its CPU backend first); without one,
 * the reason (WebGpuUnavailableError's one line) is shown beside the switch.
 */
async function probeWebGpu(): Promise<void> {
  const option = ui.backend.querySelector<HTMLOptionElement>('option[value="webgpu"]')!;
  try {
    const { initWebGpuBackend } = await import('@tapegrad/backend-webgpu');
    const adapter = adapterText(await initWebGpuBackend());
    backendStatus.set('webgpu', `webgpu on ${adapter} (WGSL compute shaders; values stay on the device, read once per frame)`);
    option.disabled = false;
    option.textContent = 'webgpu';
    ui.backendNote.textContent = `WebGPU adapter: ${adapter}`;
    document.body.dataset.webgpu = 'available';
  } catch (error) {
    option.textContent = 'webgpu (unavailable)';
    ui.backendNote.textContent = `WebGPU unavailable: ${error instanceof Error ? error.message : String(error)}`;
    document.body.dataset.webgpu = 'unavailable';
  }
}

function readSettings(): LabSettings {
  const lr = Number(ui.lr.value);
  if (!(lr > 0 && lr < 100)) throw new Error(`learning rate: a number between 0 and 100 (got "${ui.lr.value}")`);
  const seed = Number(ui.seed.value);
  if (!Number.isInteger(seed)) throw new Error(`seed: a whole number (got "${ui.seed.value}")`);
  return {
    dataset: ui.dataset.value as DatasetName, backend: ui.backend.value, hidden: parseHidden(ui.hidden.value), activation: ui.activation.value as Activation,
    optimizer: ui.optimizer.value as OptimizerName, lr, seed,
  };
}

function showError(error: unknown): void {
  ui.error.textContent = error instanceof Error ? error.message : String(error);
}

/** The MNIST subset (mnist-subset.bin, written by the vite plugin) is fetched the first time it is chosen. */
async function ensureMnist(): Promise<void> {
  if (mnistProvided()) return;
  ui.architecture.textContent = 'loading the MNIST subset…';
  const response = await fetch(new URL('./mnist-subset.bin', document.baseURI));
  if (!response.ok) throw new Error(`mnist-subset.bin: HTTP ${response.status}`);
  provideMnist(unpackMnistSubset(new Uint8Array(await response.arrayBuffer())));
}

async function reset(): Promise<void> {
  try {
    const settings = readSettings();
    setRunning(false);
    if (settings.dataset === 'mnist') await ensureMnist();
    setBackend(settings.backend);
    try {
      lab = new Lab(settings, cpuBackend);
    } catch (error) {
      // the page goes on with the network it had, on its backend
      if (lab) setBackend(lab.backend);
      throw error;
    }
    ui.status.textContent = `backend: ${backendStatus.get(settings.backend) ?? settings.backend}`;
    ui.error.textContent = '';
    const examples = lab.data.test
      ? `full batch of ${lab.data.labels.length} training digits (${lab.data.test.labels.length} held out for the test accuracy)`
      : `full batch of ${lab.data.labels.length} examples`;
    ui.architecture.textContent = `network ${lab.sizes.join('-')}: ${settings.activation} hidden, ${lab.output} output, `
      + `${lab.mnist ? 'categorical' : 'binary'} cross-entropy; ${settings.optimizer} lr ${settings.lr}, ${examples}, float32 on ${settings.backend}`;
    for (const panel of [ui.deltas, ui.gradcheckPanel, ui.graphPanel]) panel.hidden = true;
    delete ui.deltas.dataset.step;
    delete ui.accuracy.dataset.step;
    // a slice's size was fitted to the old network and backend: start small again
    stepsPerSlice = 1;
    ui.boundaryFigure.hidden = lab.mnist;
    ui.digitFigure.hidden = !lab.mnist;
    ui.accuracyLabel.textContent = lab.mnist ? 'test accuracy' : 'accuracy';
    ui.gradcheck.title = lab.mnist ? '6 sampled entries of every W and b, on 100 training digits' : 'every weight and bias';
    void draw(true);
  } catch (error) {
    showError(error);
  }
}

function setRunning(on: boolean): void {
  running = on;
  ui.train.textContent = on ? 'pause' : 'train';
  ui.train.classList.toggle('running', on);
  showTraining();
  if (on) requestAnimationFrame(() => void trainSlice());
  // the figures of the step training stopped at (a reset's first call has no network yet)
  else if (lab) void draw(true);
}

/** For tests and the curious: 'yes' while a slice of steps may still land, 'no' once the numbers are final. */
function showTraining(): void {
  document.body.dataset.training = running || slicing ? 'yes' : 'no';
}

/**
 * A batch of steps and one read of their costs, then the page draws: training stays smooth at
 * any model size, and on WebGPU the CPU waits for the device once per slice, not per step.
 */
async function trainSlice(): Promise<void> {
  if (!running || slicing) return;
  slicing = true;
  const current = lab;
  const start = performance.now();
  try {
    await current.train(stepsPerSlice);
    const took = performance.now() - start;
    if (took < 12) stepsPerSlice = Math.min(stepsPerSlice * 2, 4096);
    else if (took > 30) stepsPerSlice = Math.max(1, stepsPerSlice >> 1);
  } catch (error) {
    setRunning(false);
    showError(error);
    return;
  } finally {
    slicing = false;
    showTraining();
  }
  // paused while these steps ran: they are the last, so their figures are drawn now
  if (current === lab) void draw(!running);
  if (running) requestAnimationFrame(() => void trainSlice());
}

/** The figures are being drawn (their values read); a forced draw meanwhile is done after. */
let figuresBusy = false;
let figuresAgain = false;

/**
 * The numbers every time; the accuracy, the chart and the boundary (or the digit's bars) at
 * most 5 times a second, and at most a fifth of the time: on a software GPU (SwiftShader) the
 * boundary's 6,400-point forward pass alone can take longer than a training step.
 */
async function draw(force: boolean): Promise<void> {
  const shown = lab;
  const last = shown.history[shown.history.length - 1];
  ui.steps.textContent = String(shown.steps);
  ui.loss.textContent = last ? last[1].toFixed(4) : '–';
  ui.loss.dataset.value = last ? String(last[1]) : '';
  const now = performance.now();
  if (!force && now < nextFigures) return;
  if (figuresBusy) {
    figuresAgain ||= force;
    return;
  }
  figuresBusy = true;
  try {
    const steps = shown.steps;
    const accuracy = await shown.accuracy();
    if (shown !== lab) return;
    ui.accuracy.textContent = accuracy.toFixed(3);
    if (shown.mnist) await predictDrawing();
    else await drawBoundary(shown);
    const svg = await renderSvg(lineChartSpec({
      title: 'Training loss', xLabel: 'step', yLabel: `${shown.mnist ? 'categorical' : 'binary'} cross-entropy (log scale)`, logY: shown.history.length > 0,
      series: [{ name: 'train (full batch)', points: thin(shown.history, 400) }], width: 560, height: 260, points: false,
    }));
    if (shown !== lab) return;
    ui.chart.innerHTML = svg;
    // the step the figures show, for tests: they wait for it rather than for a time
    ui.accuracy.dataset.step = String(steps);
  } catch (error) {
    showError(error);
  } finally {
    figuresBusy = false;
    const end = performance.now();
    nextFigures = end + Math.max(200, 4 * (end - now));
    if (figuresAgain) {
      figuresAgain = false;
      void draw(true);
    }
  }
}

/** At most `count` points, evenly spaced, always keeping the last. */
function thin(points: ReadonlyArray<[number, number]>, count: number): Array<[number, number]> {
  if (points.length <= count) return [...points];
  const every = points.length / count;
  const out = Array.from({ length: count }, (_, i) => points[Math.floor(i * every)]);
  out.push(points[points.length - 1]);
  return out;
}

const GRID = 80;

async function drawBoundary(shown: Lab): Promise<void> {
  const canvas = ui.boundary;
  const context = canvas.getContext('2d')!;
  const box = extent(shown.data.x);
  const p = await shown.probabilityGrid(box, GRID);
  if (shown !== lab) return;
  const image = context.createImageData(GRID, GRID);
  for (let i = 0; i < GRID * GRID; i++) {
    // orange for class 1, blue for class 0, paler near ½
    const t = Math.min(1, Math.abs(p[i] - 0.5) * 2);
    const [r, g, b] = p[i] > 0.5 ? [255, 127, 14] : [31, 119, 180];
    image.data.set([255 - (255 - r) * t * 0.55, 255 - (255 - g) * t * 0.55, 255 - (255 - b) * t * 0.55, 255], 4 * i);
  }
  const offscreen = document.createElement('canvas');
  offscreen.width = GRID;
  offscreen.height = GRID;
  offscreen.getContext('2d')!.putImageData(image, 0, 0);
  context.imageSmoothingEnabled = true;
  context.drawImage(offscreen, 0, 0, canvas.width, canvas.height);
  const n = shown.data.labels.length;
  const radius = n <= 10 ? 9 : 4;
  for (let i = 0; i < n; i++) {
    const x = ((shown.data.x.data[i] - box.x0) / (box.x1 - box.x0)) * canvas.width;
    const y = ((box.y1 - shown.data.x.data[n + i]) / (box.y1 - box.y0)) * canvas.height;
    context.beginPath();
    context.arc(x, y, radius, 0, 2 * Math.PI);
    context.fillStyle = shown.data.labels[i] === 1 ? '#ff7f0e' : '#1f77b4';
    context.fill();
    context.lineWidth = 1.5;
    context.strokeStyle = 'white';
    context.stroke();
  }
}

const exp = (v: number) => (v === 0 ? '0' : v.toExponential(2));

function valuesColumn(values: Float64Array, cols: number, rows: number): string {
  // the first example's column of Δˡ: one value per unit of the layer
  return Array.from({ length: Math.min(rows, 8) }, (_, r) => values[r * cols].toExponential(6).padStart(14)).join('\n') + (rows > 8 ? `\n  … ${rows - 8} more` : '');
}

function showDeltas(cost: number, rows: DeltaRow[], step: number): void {
  const body = rows.map((row) => {
    const [units, examples] = row.shape;
    const worst = Math.max(row.maxDifference, row.dWDifference, row.dbDifference);
    return `<tr><td class="name">${row.layer} (${row.rule})</td><td>${units} × ${examples}</td>`
      + `<td class="values">${valuesColumn(row.tape, examples, units)}</td><td class="values">${valuesColumn(row.manual, examples, units)}</td>`
      + `<td class="${row.maxDifference < 1e-6 ? 'ok' : 'bad'} delta-difference">${exp(row.maxDifference)}</td>`
      + `<td class="${worst < 1e-6 ? 'ok' : 'bad'}">${exp(row.dWDifference)} / ${exp(row.dbDifference)}</td></tr>`;
  }).join('');
  ui.deltaTable.innerHTML = `<p>cost C = ${cost.toFixed(6)} before the step</p><table><thead><tr><th>layer l</th><th>Δ<sup>l</sup> shape</th>`
    + '<th>Δ<sup>l</sup> from the tape<br>(example 1)</th><th>Δ<sup>l</sup> by BP1/BP2<br>(example 1)</th><th>max |Δ<sub>tape</sub> − Δ<sub>BP</sub>|</th>'
    + `<th>max difference<br>∂C/∂W (BP3) / ∂C/∂b (BP4)</th></tr></thead><tbody>${body}</tbody></table>`;
  // the step inspected (the cost before it), for tests
  ui.deltas.dataset.step = String(step);
  ui.deltas.hidden = false;
}

const TOY_DEFAULTS = { hidden: '4', activation: 'tanh', lr: '0.05' };
const MNIST_DEFAULTS = { hidden: '32', activation: 'relu', lr: '0.01' };

ui.reset.addEventListener('click', () => void reset());
ui.dataset.addEventListener('change', () => {
  // a 784-input net wants other defaults than a 2-input one: switch them when the kind of data changes
  const wasMnist = lab?.mnist ?? false;
  const isMnist = ui.dataset.value === 'mnist';
  if (wasMnist !== isMnist) {
    const defaults = isMnist ? MNIST_DEFAULTS : TOY_DEFAULTS;
    ui.hidden.value = defaults.hidden;
    ui.activation.value = defaults.activation;
    ui.lr.value = defaults.lr;
  }
  void reset();
});
for (const input of [ui.backend, ui.activation, ui.optimizer]) input.addEventListener('change', () => void reset());
for (const input of [ui.hidden, ui.lr, ui.seed]) input.addEventListener('change', () => void reset());
ui.train.addEventListener('click', () => setRunning(!running));
ui.step.addEventListener('click', async () => {
  setRunning(false);
  const current = lab;
  try {
    const { cost, rows } = await current.deltas();
    await current.train(1);
    if (current !== lab) return;
    showDeltas(cost, rows, current.steps);
    void draw(true);
  } catch (error) {
    showError(error);
  }
});
ui.gradcheck.addEventListener('click', async () => {
  setRunning(false);
  try {
    // two evaluations of the cost per weight: say so before the page is busy
    ui.gradcheckResult.innerHTML = lab.mnist ? '<p>checking sampled partial derivatives…</p>' : `<p>checking ${lab.parameterCount()} partial derivatives…</p>`;
    ui.gradcheckPanel.hidden = false;
    await new Promise((resolve) => setTimeout(resolve, 30));
    const report = await lab.gradcheck();
    const w = report.worst;
    const where = w ? `${report.names[w.input]}[${w.index.join(', ')}]` : '–';
    const which = report.sampled
      ? `with respect to 6 sampled entries of every W<sup>l</sup> and b<sup>l</sup> (of ${lab.parameterCount()} parameters: all of them would take two cost evaluations each), on the first 100 training digits`
      : 'with respect to every weight and bias';
    ui.gradcheckResult.innerHTML = `<p class="${report.ok ? 'ok' : 'bad'}" id="gradcheck-verdict">${report.ok ? 'ok' : 'FAILED'}: ${report.checked} partial derivatives of C `
      + `${which}, the tape's against central differences (float64).</p>`
      + (w ? `<table><tr><th>worst element</th><th>tape (analytic)</th><th>finite difference</th><th>abs error</th><th>rel error</th></tr>`
        + `<tr><td class="name">${where}</td><td>${w.analytic.toPrecision(10)}</td><td>${w.numeric.toPrecision(10)}</td><td>${exp(w.absError)}</td><td>${exp(w.relError)}</td></tr></table>` : '');
  } catch (error) {
    showError(error);
  }
});
ui.graph.addEventListener('click', async () => {
  setRunning(false);
  try {
    const title = `one step: ${lab.sizes.join('-')} on ${DATASET_LABELS[lab.settings.dataset]}`;
    const svg = await lab.recordedCost(({ cost, model, x, y }) => renderGraph(cost, { format: 'svg', gradients: true, names: [model, { X: x, Y: y }], title }));
    ui.graphPicture.innerHTML = svg.replace(/^<\?xml[^>]*>\s*/, '');
    ui.graphPanel.hidden = false;
  } catch (error) {
    showError(error);
  }
});


// ---- the draw-a-digit box (MNIST) ----

const BRUSH = 20;
const pen = ui.digit.getContext('2d', { willReadFrequently: true })!;
let drawing = false;
let last: [number, number] | null = null;
let predictQueued = false;
/** Bumped by clear: a prediction still being read for the old drawing is dropped. */
let drawingVersion = 0;

function clearDrawing(): void {
  drawingVersion++;
  pen.fillStyle = '#000';
  pen.fillRect(0, 0, ui.digit.width, ui.digit.height);
  ui.digitInput.getContext('2d')!.clearRect(0, 0, SIDE, SIDE);
  ui.probabilities.replaceChildren();
}

function canvasPoint(event: PointerEvent): [number, number] {
  const box = ui.digit.getBoundingClientRect();
  return [((event.clientX - box.left) / box.width) * ui.digit.width, ((event.clientY - box.top) / box.height) * ui.digit.height];
}

/** A soft round brush: a white line with a blurred edge, like a pen stroke photographed and scanned. */
function strokeTo(point: [number, number]): void {
  const from = last ?? point;
  pen.strokeStyle = '#fff';
  pen.lineWidth = BRUSH;
  pen.lineCap = 'round';
  pen.lineJoin = 'round';
  pen.shadowColor = '#fff';
  pen.shadowBlur = 8;
  pen.beginPath();
  pen.moveTo(from[0], from[1]);
  pen.lineTo(point[0] + (from === point ? 0.01 : 0), point[1]);
  pen.stroke();
  last = point;
  if (!predictQueued) {
    predictQueued = true;
    requestAnimationFrame(() => {
      predictQueued = false;
      predictDrawing().catch(showError);
    });
  }
}

/** The drawing as MNIST's 28 × 28 (shown small beside it) and the model's ten probabilities as bars. */
async function predictDrawing(): Promise<void> {
  const { width, height } = ui.digit;
  const rgba = pen.getImageData(0, 0, width, height).data;
  const ink = new Float32Array(width * height);
  for (let i = 0; i < ink.length; i++) ink[i] = rgba[4 * i] / 255;
  const input = toMnistInput(ink, width, height);
  const [shown, version] = [lab, drawingVersion];
  if (!input || !shown?.mnist) return;
  const preview = ui.digitInput.getContext('2d')!;
  const image = preview.createImageData(SIDE, SIDE);
  for (let i = 0; i < SIDE * SIDE; i++) {
    const v = Math.round(input[i] * 255);
    image.data.set([v, v, v, 255], 4 * i);
  }
  preview.putImageData(image, 0, 0);
  const p = await shown.predict(input);
  if (shown !== lab || version !== drawingVersion) return;
  const best = p.indexOf(Math.max(...p));
  ui.probabilities.replaceChildren(...Array.from(p, (value, digit) => {
    const row = document.createElement('div');
    row.className = digit === best ? 'row best' : 'row';
    row.dataset.digit = String(digit);
    row.dataset.probability = String(value);
    row.innerHTML = `<span>${digit}</span><div class="bar"><div style="width:${(100 * value).toFixed(1)}%"></div></div><span class="prob">${value.toFixed(3)}</span>`;
    return row;
  }));
}

ui.digit.addEventListener('pointerdown', (event) => {
  drawing = true;
  last = null;
  ui.digit.setPointerCapture(event.pointerId);
  strokeTo(canvasPoint(event));
});
ui.digit.addEventListener('pointermove', (event) => {
  if (drawing) strokeTo(canvasPoint(event));
});
for (const type of ['pointerup', 'pointercancel'] as const) {
  ui.digit.addEventListener(type, () => {
    drawing = false;
    last = null;
  });
}
ui.clear.addEventListener('click', clearDrawing);
clearDrawing();

try {
  const backend = await initWasmBackendAsync();
  cpuBackend = 'wasm';
  backendStatus.set('wasm', `wasm (${backend.variant}), float32 kernels in WebAssembly SIMD`);
} catch (error) {
  // the js reference kernels still work everywhere: say so and go on
  backendStatus.set('js', `js (the wasm backend did not load: ${error instanceof Error ? error.message : String(error)})`);
}
ui.backend.replaceChildren(
  ...(cpuBackend === 'wasm' ? [backendOption('wasm', 'wasm')] : []),
  backendOption('js', 'js'),
  backendOption('webgpu', 'webgpu (looking for an adapter…)', true),
);
// chosen explicitly: registering WebGPU later must not make it the default
setBackend(cpuBackend);
await reset();
for (const button of [ui.train, ui.step, ui.gradcheck, ui.graph]) button.disabled = false;
document.body.dataset.ready = 'true';
await probeWebGpu();
