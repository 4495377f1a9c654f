/**
 * The tape and the hand-derived CNN backprop (manual/cnn.ts: BP2/3/4-conv, max and average
 * pooling, Flatten, activation layers, then BP1–BP4 for the dense head) agree, layer by
 * layer, on random small CNNs: 1–2 conv layers with 1–3 channels, kernels 1–3, strides 1–2,
 * paddings 0–1, dilations 1–2, grouped or not, with or without bias, each followed by relu,
 * tanh or sigmoid and optionally a max or average pool; then Flatten, an optional hidden
 * Dense layer and an output layer with its loss. Batch 1–3, float64.
 *
 * A case is a plain record (CnnSpec), so fast-check shrinks a failure to the smallest network
 * that still fails and prints it, e.g.
 *   {"channels":1,"height":4,"width":4,"convs":[{"channels":1,"kernel":1,…}],"hidden":null,…}
 * Weights, biases, images and labels come from the record's seed: `build(record)` replays it.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { type Rng, type Tensor, Tape, createRng, tensor } from '@tapegrad/core';
import {
  type Activation, AvgPool2d, Conv2d, Dense, Flatten, type LossName, type ManualStage, MaxPool2d, type Module, ReLU, type Sequential, Sigmoid, Tanh,
  checkBackprop, cost, manualBackprop, sequential,
} from '@tapegrad/nn';

const SEED = 42;

// ---- the network spec ------------------------------------------------------------------

type ConvActivation = 'relu' | 'tanh' | 'sigmoid';

interface ConvSpec {
  channels: number;
  kernel: number;
  stride: number;
  padding: number;
  dilation: number;
  /** groups = gcd(in, out channels) when true (2 or 3 where they allow it, else 1). */
  grouped: boolean;
  bias: boolean;
  activation: ConvActivation;
  pool: 'none' | 'max' | 'avg';
  /** The pool's stride (its kernel is 2) and padding (0 or 1); countIncludePad for avg. */
  poolStride: number;
  poolPadding: number;
  countIncludePad: boolean;
}

interface Head { loss: LossName; output: Activation }

interface CnnSpec {
  channels: number;
  height: number;
  width: number;
  convs: ConvSpec[];
  /** An optional hidden Dense layer between Flatten and the output layer. */
  hidden: { units: number; activation: Activation } | null;
  outputs: number;
  head: Head;
  batch: number;
  seed: number;
}

/** Simplest first: constantFrom shrinks towards the first entry. */
const HEADS: readonly Head[] = [
  { loss: 'mse', output: 'identity' },
  { loss: 'cce', output: 'softmax' },
  { loss: 'bce', output: 'sigmoid' },
  { loss: 'mse', output: 'tanh' },
];

const convSpec: fc.Arbitrary<ConvSpec> = fc.record({
  channels: fc.integer({ min: 1, max: 3 }),
  kernel: fc.integer({ min: 1, max: 3 }),
  stride: fc.integer({ min: 1, max: 2 }),
  padding: fc.integer({ min: 0, max: 1 }),
  dilation: fc.integer({ min: 1, max: 2 }),
  grouped: fc.boolean(),
  bias: fc.boolean(),
  activation: fc.constantFrom<ConvActivation>('relu', 'tanh', 'sigmoid'),
  pool: fc.constantFrom('none' as const, 'max' as const, 'avg' as const),
  poolStride: fc.integer({ min: 1, max: 2 }),
  poolPadding: fc.integer({ min: 0, max: 1 }),
  countIncludePad: fc.boolean(),
});

const cnnSpec: fc.Arbitrary<CnnSpec> = fc.record({ ...cnnSpecParts(), convs: fc.array(convSpec, { minLength: 1, maxLength: 2 }) });

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
const outSize = (size: number, kernel: number, stride: number, padding: number, dilation: number) => Math.floor((size + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1;

/** The image size after every conv and pool, or null if a window does not fit (the case is discarded). */
function featureShape(spec: CnnSpec): [number, number, number] | null {
  let [c, h, w] = [spec.channels, spec.height, spec.width];
  for (const conv of spec.convs) {
    [h, w] = [outSize(h, conv.kernel, conv.stride, conv.padding, conv.dilation), outSize(w, conv.kernel, conv.stride, conv.padding, conv.dilation)];
    c = conv.channels;
    if (h < 1 || w < 1) return null;
    if (conv.pool !== 'none') {
      [h, w] = [outSize(h, 2, conv.poolStride, conv.poolPadding, 1), outSize(w, 2, conv.poolStride, conv.poolPadding, 1)];
      if (h < 1 || w < 1) return null;
    }
  }
  return [c, h, w];
}

function normals(n: number, rng: Rng, scale = 1): Float64Array {
  return Float64Array.from({ length: n }, () => scale * rng.normal());
}

interface Problem { model: Sequential; X: Tensor; Y: Tensor }

function build(spec: CnnSpec): Problem {
  const rng = createRng(spec.seed);
  const layers: Module[] = [];
  let inChannels = spec.channels;
  for (const conv of spec.convs) {
    const groups = conv.grouped ? gcd(inChannels, conv.channels) : 1;
    const layer = new Conv2d(inChannels, conv.channels, conv.kernel, {
      stride: conv.stride, padding: conv.padding, dilation: conv.dilation, groups, bias: conv.bias, dtype: 'float64', rng,
    });
    if (layer.b) layer.b.assign(normals(layer.b.size, rng, 0.5));
    layers.push(layer, conv.activation === 'relu' ? new ReLU() : conv.activation === 'tanh' ? new Tanh() : new Sigmoid());
    if (conv.pool === 'max') layers.push(new MaxPool2d(2, { stride: conv.poolStride, padding: conv.poolPadding }));
    if (conv.pool === 'avg') layers.push(new AvgPool2d(2, { stride: conv.poolStride, padding: conv.poolPadding, countIncludePad: conv.countIncludePad }));
    inChannels = conv.channels;
  }
  const [c, h, w] = featureShape(spec)!;
  layers.push(new Flatten());
  let features = c * h * w;
  if (spec.hidden) {
    layers.push(new Dense(features, spec.hidden.units, { activation: spec.hidden.activation, biasInit: 'standardNormal', dtype: 'float64', rng }));
    features = spec.hidden.units;
  }
  layers.push(new Dense(features, spec.outputs, { activation: spec.head.output, biasInit: 'standardNormal', dtype: 'float64', rng }));
  const M = spec.batch;
  const X = tensor(normals(M * spec.channels * spec.height * spec.width, rng), { shape: [M, spec.channels, spec.height, spec.width], dtype: 'float64' });
  const Y = new Float64Array(spec.outputs * M);
  for (let m = 0; m < M; m++) {
    if (spec.head.loss === 'cce') Y[Math.floor(rng.next() * spec.outputs) * M + m] = 1;
    else for (let i = 0; i < spec.outputs; i++) Y[i * M + m] = spec.head.loss === 'bce' ? (rng.next() < 0.5 ? 1 : 0) : rng.normal();
  }
  return { model: sequential(...layers), X, Y: tensor(Y, { shape: [spec.outputs, M], dtype: 'float64' }) };
}

// ---- the tape's witness ----------------------------------------------------------------

/** The tape's cost, its ∂C/∂(each layer's output; Zˡ for Dense) and ∂C/∂ every parameter, by name. */
function tapeGradients({ model, X, Y }: Problem, loss: LossName) {
  const tape = new Tape();
  const outputs: Tensor[] = [];
  const C = tape.record(() => {
    let a = X;
    let last = { z: X, a: X, activation: 'identity' as Activation };
    for (const layer of model.layers) {
      if (layer instanceof Dense) {
        const t = layer.trace(a);
        outputs.push(t.z);
        a = t.a;
        last = { ...t, activation: layer.activation };
      } else {
        a = layer.forward(a);
        outputs.push(a);
      }
    }
    return cost(loss, last, Y);
  });
  const names = Object.keys(model.parameters());
  const grads = tape.gradient(C, [...outputs, ...Object.values(model.parameters()), X]);
  const byName = new Map(names.map((n, i) => [n, grads[outputs.length + i]]));
  return { cost: C.item(), dOutput: grads.slice(0, outputs.length), byName, dX: grads[grads.length - 1] };
}

/** The hand derivation's gradient of each parameter, named as model.parameters() names them. */
function manualByName(stages: ManualStage[]): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const s of stages) {
    if (s.kind === 'Dense') {
      out.set(`${s.name}.W`, s.dW);
      out.set(`${s.name}.b`, s.db);
    } else if (s.kind === 'Conv2d') {
      out.set(`${s.name}.W`, s.dK);
      if (s.db) out.set(`${s.name}.b`, s.db);
    }
  }
  return out;
}

/** 1e-9 relative (absolute below 1): round-off here is ~1e-15; a wrong equation is off by far more. */
const TOLERANCE = 1e-9;

function expectAgree(tape: Tensor, hand: Tensor, what: string): void {
  if (tape.shape.join() !== hand.shape.join()) throw new Error(`${what}: shapes differ, tape [${tape.shape.join(',')}] vs hand [${hand.shape.join(',')}]`);
  for (let i = 0; i < tape.size; i++) {
    const [a, b] = [tape.data[i], hand.data[i]];
    if (!(Math.abs(a - b) <= TOLERANCE * Math.max(1, Math.abs(a), Math.abs(b)))) {
      throw new Error(`${what} at flat index ${i}: tape ${a} vs hand ${b} (difference ${Math.abs(a - b).toExponential(3)})`);
    }
  }
}

// ---- properties ------------------------------------------------------------------------

describe('tape = hand-derived CNN backprop, layer by layer, on random small CNNs (float64)', () => {
  it('every layer\'s Δ, every ∂C/∂K, ∂C/∂W and ∂C/∂b, ∂C/∂X and the cost agree', () => {
    const seen = new Map<string, number>();
    const count = (key: string) => seen.set(key, (seen.get(key) ?? 0) + 1);
    fc.assert(
      fc.property(cnnSpec, (spec) => {
        fc.pre(featureShape(spec) !== null);
        const problem = build(spec);
        const tape = tapeGradients(problem, spec.head.loss);
        const manual = manualBackprop(problem.model, problem.X, problem.Y, spec.head.loss);
        expectAgree(tensor([tape.cost], { dtype: 'float64' }), tensor([manual.cost], { dtype: 'float64' }), 'cost C');
        expect(manual.stages.map((s) => s.kind)).toEqual(problem.model.layers.map((l) => l.constructor.name));
        manual.stages.forEach((stage, l) => {
          expectAgree(tape.dOutput[l], stage.delta, `layer ${l + 1} of ${manual.stages.length} ('${stage.name}', ${stage.kind}): Δ`);
        });
        const hand = manualByName(manual.stages);
        expect([...hand.keys()].sort()).toEqual([...tape.byName.keys()].sort());
        for (const [name, g] of tape.byName) expectAgree(g, hand.get(name)!, `∂C/∂${name}`);
        expectAgree(tape.dX, manual.dX, '∂C/∂X');
        // what the runs covered
        for (const layer of problem.model.layers) if (layer instanceof Conv2d && layer.groups > 1) count('groups > 1');
        for (const conv of spec.convs) {
          count(`stride ${conv.stride}`); count(`padding ${conv.padding}`); count(`kernel ${conv.kernel}`); count(`dilation ${conv.dilation}`);
          count(`pool ${conv.pool}`); count(conv.activation);
          if (!conv.bias) count('no bias');
        }
        count(`convs ${spec.convs.length}`); count(`batch ${spec.batch}`);
      }),
      { numRuns: 40, seed: SEED, includeErrorInReport: true },
    );
    for (const key of ['stride 2', 'padding 1', 'kernel 3', 'dilation 2', 'pool max', 'pool avg', 'relu', 'tanh', 'sigmoid', 'groups > 1', 'no bias', 'convs 2', 'batch 3']) {
      expect(seen.get(key) ?? 0, key).toBeGreaterThanOrEqual(1);
    }
  });

  it('checkBackprop reports every witness in agreement, finite differences included', () => {
    fc.assert(
      fc.property(cnnSpec, (spec) => {
        fc.pre(featureShape(spec) !== null);
        const { model, X, Y } = build(spec);
        const report = checkBackprop(model, X, Y, spec.head.loss, { raise: false, fdSamples: 3 });
        if (!report.ok) throw new Error(report.message);
        expect(report.rows.map((r) => r.kind)).toEqual(model.layers.map((l) => l.constructor.name));
      }),
      { numRuns: 15, seed: SEED + 1, includeErrorInReport: true },
    );
  });

  it('a wrong equation is caught and shrunk to a small network: BP2-conv without the stride dilation', () => {
    // the hand derivation's input error, recomputed with the error NOT dilated by the
    // stride (a classic slip), disagrees with the tape as soon as some conv has stride 2
    const wrongInputError = (conv: Conv2d, delta: Tensor, input: Tensor): Float64Array => {
      const [M, C, H, W] = input.shape;
      const [, O, outH, outW] = delta.shape;
      const [kH, kW] = conv.kernelSize;
      const out = new Float64Array(M * C * H * W);
      for (let m = 0; m < M; m++) for (let c = 0; c < C; c++) for (let o = 0; o < O; o++) {
        for (let i = 0; i < outH; i++) for (let j = 0; j < outW; j++) for (let p = 0; p < kH; p++) for (let q = 0; q < kW; q++) {
          const [h, w] = [i + p, j + q]; // stride forgotten
          if (h < H && w < W) out[((m * C + c) * H + h) * W + w] += conv.W.data[((o * C + c) * kH + p) * kW + q] * delta.data[((m * O + o) * outH + i) * outW + j];
        }
      }
      return out;
    };
    const simple = fc.record({ ...cnnSpecParts(), convs: fc.array(convSpec.map((c) => ({ ...c, padding: 0, dilation: 1, grouped: false })), { minLength: 2, maxLength: 2 }) });
    const details = fc.check(
      fc.property(simple, (spec) => {
        fc.pre(featureShape(spec) !== null);
        const problem = build(spec);
        const manual = manualBackprop(problem.model, problem.X, problem.Y, spec.head.loss);
        const tape = tapeGradients(problem, spec.head.loss);
        // the second conv's input error is the error of the layer before it
        const second = manual.stages.findIndex((s, l) => l > 0 && s.kind === 'Conv2d');
        const conv = problem.model.layers[second] as Conv2d;
        const wrong = wrongInputError(conv, manual.stages[second].delta, manual.stages[second - 1].output);
        expectAgree(tape.dOutput[second - 1], tensor(wrong, { shape: [...manual.stages[second - 1].output.shape], dtype: 'float64' }), 'input error of the second conv');
      }),
      { numRuns: 100, seed: SEED },
    );
    expect(details.failed).toBe(true);
    const smallest = details.counterexample![0];
    // shrunk to a second conv of stride 2, everything else as small as it goes
    expect(smallest.convs[1].stride).toBe(2);
    expect(smallest.batch).toBe(1);
    expect(smallest.hidden).toBeNull();
  });
});

/** cnnSpec's fields other than convs, for a variant with its own convs. */
function cnnSpecParts() {
  return {
    channels: fc.integer({ min: 1, max: 3 }),
    height: fc.integer({ min: 3, max: 8 }),
    width: fc.integer({ min: 3, max: 8 }),
    hidden: fc.option(fc.record({ units: fc.integer({ min: 1, max: 4 }), activation: fc.constantFrom<Activation>('relu', 'tanh', 'sigmoid') }), { nil: null }),
    outputs: fc.integer({ min: 1, max: 3 }),
    head: fc.constantFrom(...HEADS),
    batch: fc.integer({ min: 1, max: 3 }),
    seed: fc.nat({ max: 2 ** 31 - 1 }),
  };
}
