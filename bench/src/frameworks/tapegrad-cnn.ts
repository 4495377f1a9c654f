/**
 * tapegrad on T4 (BENCH-PROTOCOL's LeNet-5 style CNN) as a user writes a training loop with
 * core's ops on a Tape: images [N, 1, 28, 28] (PyTorch's layout) gathered with core's
 * `rowSampler`, `conv2d` (with its bias option) + `relu` + `maxPool2d` twice, the flattened 400 features
 * through three dense layers as rows (z = a·Wᵀ + b, W [out, in] as the protocol fills it),
 * softmax cross-entropy from the logits, `tape.gradient`, and @tapegrad/nn's `Momentum`
 * (PyTorch's heavy-ball SGD: v ← μ·v + g, θ ← θ − η·v). Parameters are the protocol's initial
 * weights, copied in.
 */
import {
  type RowSampler, type StepBody, StepReplay, Tape, type Tensor, add, conv2d, div, logSoftmax, matmulT, maxPool2d, mul, neg, noGrad, relu, reshape, rowSampler, sum, tensor, tidy,
} from '@tapegrad/core';
import { Momentum } from '@tapegrad/nn';
import { CLASSES, type Layer, PIXELS, type TaskSpec, oneHotRows } from '../protocol.js';
import { type Trainer, type TrainData, argmaxRows } from './types.js';

const SIDE = 28;

interface ConvParams {
  W: Tensor;
  /** [O]: conv2d's bias option. */
  b: Tensor;
  padding: number;
}

export class TapegradCnnTrainer implements Trainer {
  private readonly convs: ConvParams[];
  private readonly dense: { W: Tensor; b: Tensor }[];
  private readonly params: Tensor[];
  private readonly optimizer: Momentum;
  private readonly xs: RowSampler;
  private readonly ys: RowSampler;

  constructor(private readonly task: TaskSpec, private readonly data: TrainData, layers: Layer[]) {
    const f32 = (values: Float32Array, shape: number[]) => tensor(Float32Array.from(values), { shape, dtype: 'float32' });
    this.convs = layers.filter((l) => l.conv).map((l) => {
      const c = l.conv!;
      return { W: f32(l.W, [c.outChannels, c.inChannels, c.kernel, c.kernel]), b: f32(l.b, [c.outChannels]), padding: c.padding };
    });
    this.dense = layers.filter((l) => !l.conv).map((l) => ({ W: f32(l.W, [l.outputs, l.inputs]), b: f32(l.b, [l.outputs]) }));
    this.params = [...this.convs.flatMap((c) => [c.W, c.b]), ...this.dense.flatMap((d) => [d.W, d.b])];
    this.optimizer = new Momentum({ lr: task.lr, momentum: task.momentum ?? 0 });
    const { train } = data;
    this.xs = rowSampler(tensor(train.images, { shape: [train.n, 1, SIDE, SIDE], dtype: 'float32' }));
    this.ys = rowSampler(tensor(oneHotRows(train.labels), { shape: [train.n, CLASSES], dtype: 'float32' }));
  }

  /** Logits [B, 10] of images [B, 1, 28, 28]. */
  private logits(x: Tensor): Tensor {
    let h = x;
    for (const c of this.convs) {
      h = maxPool2d(relu(conv2d(h, c.W, { padding: c.padding, bias: c.b })), { kernelSize: 2 });
    }
    let a = reshape(h, [h.shape[0], -1]);
    this.dense.forEach((d, l) => {
      const z = add(matmulT(a, d.W, false, true), d.b);
      a = l < this.dense.length - 1 ? relu(z) : z;
    });
    return a;
  }

  /** Mean over the batch of −Σ y·log softmax(z). */
  private cost(z: Tensor, y: Tensor): Tensor {
    return neg(div(sum(mul(y, logSoftmax(z, 1))), z.shape[0]));
  }

  step(indices: Int32Array): void {
    tidy(() => {
      const x = this.xs.take(indices);
      const y = this.ys.take(indices);
      this.replay.run([x, y], this.body);
    });
  }

  /** The step in fit's three parts, replayed as fit replays it. */
  private readonly body: StepBody<Tensor[]> = {
    compute: ([x, y]) => {
      const tape = new Tape();
      const c = tape.record(() => this.cost(this.logits(x), y));
      return { outputs: [c], carry: tape.gradient(c, this.params) };
    },
    between: () => {},
    update: (grads) => this.optimizer.step(this.params, grads),
  };

  readonly replay = new StepReplay();

  async sync(): Promise<void> {}

  async evaluate(): Promise<{ loss: number; accuracy: number }> {
    const ev = this.data.eval;
    return noGrad(() => tidy(() => {
      // in slices of 500: the columns of a whole test set's first convolution would take 100 MB
      const logits = new Float32Array(ev.n * CLASSES);
      let loss = 0;
      for (let start = 0; start < ev.n; start += 500) {
        const end = Math.min(ev.n, start + 500);
        const x = tensor(ev.images.slice(start * PIXELS, end * PIXELS), { shape: [end - start, 1, SIDE, SIDE], dtype: 'float32' });
        const y = tensor(oneHotRows(ev.labels.subarray(start, end)), { shape: [end - start, CLASSES], dtype: 'float32' });
        const z = this.logits(x);
        loss += this.cost(z, y).item() * (end - start);
        logits.set(z.data as Float32Array, start * CLASSES);
      }
      return { loss: loss / ev.n, accuracy: argmaxRows(logits, ev.n, CLASSES, ev.labels) };
    }));
  }

  dispose(): void {}
}
