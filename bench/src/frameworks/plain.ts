/**
 * The baseline without any framework: Float32Array storage, i-k-j matrix products written
 * out, and backpropagation derived by hand (BP1–BP4): δᴸ = (P − Y)/B for softmax + CE and
 * for sigmoid + summed BCE, ∂C/∂Wˡ = (Aˡ⁻¹)ᵀ·δˡ, ∂C/∂bˡ = Σ_rows δˡ, δˡ⁻¹ = δˡ·(Wˡ)ᵀ ⊙ f′(Zˡ⁻¹).
 * Rows are examples; Wˡ is kept transposed, [in, out], so every inner loop runs along a row.
 * No zero-skipping or other data-dependent shortcuts.
 */
import { CLASSES, type Layer, type MatmulSize, PIXELS, type TaskSpec, gatherRows, transposed } from '../protocol.js';
import { type Framework, type MatmulRun, type TrainData, type Trainer, argmaxRows } from './types.js';

/** Z[B, out] = A[B, in]·Wt[in, out] + b, i-k-j. */
function forwardLayer(A: Float32Array, Wt: Float32Array, b: Float32Array, Z: Float32Array, rows: number, inputs: number, outputs: number): void {
  for (let i = 0; i < rows; i++) {
    const z0 = i * outputs;
    for (let j = 0; j < outputs; j++) Z[z0 + j] = b[j];
    const a0 = i * inputs;
    for (let k = 0; k < inputs; k++) {
      const a = A[a0 + k];
      const w0 = k * outputs;
      for (let j = 0; j < outputs; j++) Z[z0 + j] += a * Wt[w0 + j];
    }
  }
}

function activate(kind: 'relu' | 'sigmoid', Z: Float32Array, out: Float32Array, n: number): void {
  if (kind === 'relu') for (let i = 0; i < n; i++) out[i] = Z[i] > 0 ? Z[i] : 0;
  else for (let i = 0; i < n; i++) out[i] = 1 / (1 + Math.exp(-Z[i]));
}

/** Output probabilities P (softmax per row, or sigmoid per unit) into `out`. */
function outputProbabilities(kind: TaskSpec['output'], Z: Float32Array, out: Float32Array, rows: number): void {
  if (kind === 'sigmoid-bce') {
    for (let i = 0; i < rows * CLASSES; i++) out[i] = 1 / (1 + Math.exp(-Z[i]));
    return;
  }
  for (let i = 0; i < rows; i++) {
    const o = i * CLASSES;
    let max = -Infinity;
    for (let j = 0; j < CLASSES; j++) max = Math.max(max, Z[o + j]);
    let s = 0;
    for (let j = 0; j < CLASSES; j++) s += Math.exp(Z[o + j] - max);
    for (let j = 0; j < CLASSES; j++) out[o + j] = Math.exp(Z[o + j] - max) / s;
  }
}

/** The task's per-example loss of row i, in float64. */
function rowLoss(kind: TaskSpec['output'], Z: Float32Array, i: number, label: number): number {
  const o = i * CLASSES;
  if (kind === 'sigmoid-bce') {
    let s = 0;
    for (let j = 0; j < CLASSES; j++) {
      const z = Z[o + j];
      const softplus = Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));
      s += softplus - (j === label ? z : 0);
    }
    return s;
  }
  let max = -Infinity;
  for (let j = 0; j < CLASSES; j++) max = Math.max(max, Z[o + j]);
  let s = 0;
  for (let j = 0; j < CLASSES; j++) s += Math.exp(Z[o + j] - max);
  return max + Math.log(s) - Z[o + label];
}

interface PlainLayer {
  Wt: Float32Array;
  b: Float32Array;
  dWt: Float32Array;
  db: Float32Array;
  inputs: number;
  outputs: number;
}

class PlainTrainer implements Trainer {
  private readonly layers: PlainLayer[];
  /** Per layer: Z and A (A⁰ is the batch), sized for a full batch; a short batch uses a prefix. */
  private readonly Z: Float32Array[];
  private readonly A: Float32Array[];
  private readonly dZ: Float32Array[];
  private readonly dA: Float32Array[];

  constructor(private readonly task: TaskSpec, private readonly data: TrainData, layers: Layer[]) {
    this.layers = layers.map((l) => ({
      Wt: transposed(l), b: Float32Array.from(l.b), dWt: new Float32Array(l.W.length), db: new Float32Array(l.outputs), inputs: l.inputs, outputs: l.outputs,
    }));
    const B = task.batch;
    this.A = [new Float32Array(B * PIXELS), ...this.layers.map((l) => new Float32Array(B * l.outputs))];
    this.Z = this.layers.map((l) => new Float32Array(B * l.outputs));
    this.dZ = this.layers.map((l) => new Float32Array(B * l.outputs));
    this.dA = this.layers.map((l) => new Float32Array(B * l.inputs));
  }

  /** Forward pass of `rows` examples in A[0]; leaves Zˡ, Aˡ (A of the last layer unused). */
  private forward(rows: number): void {
    const L = this.layers.length;
    for (let l = 0; l < L; l++) {
      const { Wt, b, inputs, outputs } = this.layers[l];
      forwardLayer(this.A[l], Wt, b, this.Z[l], rows, inputs, outputs);
      if (l < L - 1) activate(this.task.hidden, this.Z[l], this.A[l + 1], rows * outputs);
    }
  }

  step(indices: Int32Array): void {
    const rows = indices.length;
    const { train } = this.data;
    gatherRows(train.images, PIXELS, indices, this.A[0]);
    this.forward(rows);
    const L = this.layers.length;
    // δᴸ = (P − Y)/B
    const dL = this.dZ[L - 1];
    outputProbabilities(this.task.output, this.Z[L - 1], dL, rows);
    for (let i = 0; i < rows; i++) dL[i * CLASSES + train.labels[indices[i]]] -= 1;
    const inv = 1 / rows;
    for (let i = 0; i < rows * CLASSES; i++) dL[i] *= inv;
    const lr = this.task.lr;
    for (let l = L - 1; l >= 0; l--) {
      const { Wt, b, dWt, db, inputs, outputs } = this.layers[l];
      const A = this.A[l];
      const dZ = this.dZ[l];
      // ∂C/∂Wt = Aᵀ·δ (i-k-j), ∂C/∂b = Σ rows of δ
      dWt.fill(0);
      db.fill(0);
      for (let i = 0; i < rows; i++) {
        const a0 = i * inputs;
        const d0 = i * outputs;
        for (let k = 0; k < inputs; k++) {
          const a = A[a0 + k];
          const w0 = k * outputs;
          for (let j = 0; j < outputs; j++) dWt[w0 + j] += a * dZ[d0 + j];
        }
        for (let j = 0; j < outputs; j++) db[j] += dZ[d0 + j];
      }
      if (l > 0) {
        // δˡ⁻¹ = (δˡ·Wtᵀ) ⊙ f′(Zˡ⁻¹), with the weights before this step's update
        const dA = this.dA[l];
        const dPrev = this.dZ[l - 1];
        const Zp = this.Z[l - 1];
        const Ap = this.A[l];
        for (let i = 0; i < rows; i++) {
          const d0 = i * outputs;
          for (let k = 0; k < inputs; k++) {
            const w0 = k * outputs;
            let s = 0;
            for (let j = 0; j < outputs; j++) s += dZ[d0 + j] * Wt[w0 + j];
            dA[i * inputs + k] = s;
          }
        }
        const n = rows * inputs;
        if (this.task.hidden === 'relu') for (let i = 0; i < n; i++) dPrev[i] = Zp[i] > 0 ? dA[i] : 0;
        else for (let i = 0; i < n; i++) dPrev[i] = dA[i] * Ap[i] * (1 - Ap[i]);
      }
      for (let i = 0; i < Wt.length; i++) Wt[i] -= lr * dWt[i];
      for (let j = 0; j < outputs; j++) b[j] -= lr * db[j];
    }
  }

  async sync(): Promise<void> {}

  async evaluate(): Promise<{ loss: number; accuracy: number }> {
    const ev = this.data.eval;
    const B = this.task.batch;
    const L = this.layers.length;
    let loss = 0;
    const logits = new Float32Array(ev.n * CLASSES);
    for (let start = 0; start < ev.n; start += B) {
      const rows = Math.min(B, ev.n - start);
      this.A[0].set(ev.images.subarray(start * PIXELS, (start + rows) * PIXELS));
      this.forward(rows);
      const Z = this.Z[L - 1];
      for (let i = 0; i < rows; i++) loss += rowLoss(this.task.output, Z, i, ev.labels[start + i]);
      logits.set(Z.subarray(0, rows * CLASSES), start * CLASSES);
    }
    return { loss: loss / ev.n, accuracy: argmaxRows(logits, ev.n, CLASSES, ev.labels) };
  }

  dispose(): void {}
}

export function plainFramework(): Framework {
  return {
    id: 'plain-js',
    label: 'plain JS loop',
    isTapegrad: false,
    details: 'hand-written Float32Array loops, i-k-j matmul, manual backprop, 1 thread',
    async activate() {},
    unsupported: (task) => (task.conv ? 'the plain-JS loop is written for the MLP tasks (T1–T3) only: no hand-written convolution backprop' : undefined),
    async createTrainer(task, data, layers) {
      return new PlainTrainer(task, data, layers);
    },
    async matmul(size: MatmulSize, a: Float32Array, b: Float32Array): Promise<MatmulRun> {
      const { m, k, n } = size;
      const c = new Float32Array(m * n);
      return {
        run() {
          c.fill(0);
          for (let i = 0; i < m; i++) {
            const c0 = i * n;
            for (let p = 0; p < k; p++) {
              const av = a[i * k + p];
              const b0 = p * n;
              for (let j = 0; j < n; j++) c[c0 + j] += av * b[b0 + j];
            }
          }
        },
        async result() {
          return c;
        },
        dispose() {},
      };
    },
  };
}
