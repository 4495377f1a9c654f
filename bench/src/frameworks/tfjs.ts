/**
 * TensorFlow.js 4.22 on its `cpu` and `wasm` backends (XNNPACK; single-threaded in Node, where
 * the threaded build cannot start). Layout: examples as rows, X[batch, 784]·W with W = the
 * protocol's Wˡ transposed to [in, out], so the arithmetic is the protocol's exactly. A step is
 * the idiomatic `tf.train.sgd(lr).minimize(loss, false, variables)` inside `tf.tidy`.
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { CLASSES, type Layer, type MatmulSize, PIXELS, type TaskSpec, gatherRows, oneHotRows, transposed } from '../protocol.js';
import { type Framework, type MatmulRun, type OpRun, type TrainData, type Trainer, type Unavailable, argmaxRows } from './types.js';
import { type OpCase, convOutShape } from '../ops.js';

type TF = typeof import('@tensorflow/tfjs');
type T2 = import('@tensorflow/tfjs').Tensor2D;
type Var = import('@tensorflow/tfjs').Variable;

function lossOf(tf: TF, task: TaskSpec, vars: Var[], x: T2, y: T2): { loss: import('@tensorflow/tfjs').Scalar; logits: T2 } {
  let a: T2 = x;
  const L = vars.length / 2;
  for (let l = 0; l < L; l++) {
    const z = tf.add(tf.matMul(a, vars[2 * l] as unknown as T2), vars[2 * l + 1]) as T2;
    a = l < L - 1 ? (task.hidden === 'relu' ? tf.relu(z) : tf.sigmoid(z)) : z;
  }
  const z = a;
  const perExample = task.output === 'softmax-cce'
    ? tf.neg(tf.sum(tf.mul(y, tf.logSoftmax(z)), 1))
    : tf.sum(tf.sub(tf.softplus(z), tf.mul(y, z)), 1);
  return { loss: tf.mean(perExample) as import('@tensorflow/tfjs').Scalar, logits: z };
}

class TfTrainer implements Trainer {
  private readonly vars: Var[];
  private readonly optimizer: import('@tensorflow/tfjs').SGDOptimizer;

  constructor(private readonly tf: TF, private readonly task: TaskSpec, private readonly data: TrainData, layers: Layer[]) {
    this.vars = layers.flatMap((l, i) => [
      tf.variable(tf.tensor2d(transposed(l), [l.inputs, l.outputs]), true, `W${i + 1}`),
      tf.variable(tf.tensor1d(Float32Array.from(l.b)), true, `b${i + 1}`),
    ]);
    this.optimizer = tf.train.sgd(task.lr);
  }

  step(indices: Int32Array): void {
    const { tf } = this;
    const rows = indices.length;
    const { train } = this.data;
    // fresh buffers: TF.js's cpu backend keeps the array it is given
    const xb = gatherRows(train.images, PIXELS, indices, new Float32Array(rows * PIXELS));
    const yb = new Float32Array(rows * CLASSES);
    for (let i = 0; i < rows; i++) yb[i * CLASSES + train.labels[indices[i]]] = 1;
    tf.tidy(() => {
      const x = tf.tensor2d(xb, [rows, PIXELS]);
      const y = tf.tensor2d(yb, [rows, CLASSES]);
      this.optimizer.minimize(() => lossOf(tf, this.task, this.vars, x, y).loss, false, this.vars);
    });
  }

  async sync(): Promise<void> {}

  async evaluate(): Promise<{ loss: number; accuracy: number }> {
    const { tf } = this;
    const ev = this.data.eval;
    const out = tf.tidy(() => {
      const x = tf.tensor2d(Float32Array.from(ev.images), [ev.n, PIXELS]);
      const y = tf.tensor2d(oneHotRows(ev.labels), [ev.n, CLASSES]);
      return lossOf(tf, this.task, this.vars, x, y);
    });
    const loss = (await out.loss.data())[0];
    const logits = await out.logits.data();
    out.loss.dispose();
    out.logits.dispose();
    return { loss, accuracy: argmaxRows(logits, ev.n, CLASSES, ev.labels) };
  }

  dispose(): void {
    this.vars.forEach((v) => v.dispose());
    this.optimizer.dispose();
  }
}

/**
 * T4 in TF.js: images NHWC [B, 28, 28, 1], kernels HWIO (the protocol's OIHW transposed),
 * `tf.conv2d` + bias + relu + `tf.maxPool` twice, then the flattened features in the
 * protocol's (channel, row, column) order (a transpose to NCHW first), dense layers as X·W
 * with W [in, out], `tf.train.momentum(lr, 0.9)` (accum ← μ·accum + g, θ ← θ − η·accum:
 * PyTorch's rule). The wasm backend has no Conv2DBackpropFilter kernel (tfjs-backend-wasm
 * 4.22), so there each convolution runs as a conv3d of depth 1, whose gradient kernels it has.
 */
class TfCnnTrainer implements Trainer {
  private readonly convs: { W: Var; b: Var; padding: number; kernel: number }[];
  private readonly dense: { W: Var; b: Var }[];
  private readonly vars: Var[];
  private readonly optimizer: import('@tensorflow/tfjs').Optimizer;
  private readonly via3d: boolean;

  constructor(private readonly tf: TF, private readonly task: TaskSpec, private readonly data: TrainData, layers: Layer[]) {
    this.via3d = tf.getBackend() === 'wasm';
    this.convs = layers.filter((l) => l.conv).map((l, i) => {
      const c = l.conv!;
      const W = tf.tidy(() => {
        const hwio = tf.transpose(tf.tensor4d(l.W, [c.outChannels, c.inChannels, c.kernel, c.kernel]), [2, 3, 1, 0]);
        return this.via3d ? tf.reshape(hwio, [1, c.kernel, c.kernel, c.inChannels, c.outChannels]) : hwio;
      });
      if (c.padding !== 0 && 2 * c.padding !== c.kernel - 1) throw new Error(`T4 in TF.js: padding ${c.padding} of a ${c.kernel}×${c.kernel} kernel is neither 'valid' nor 'same'`);
      return { W: tf.variable(W, true, `conv${i + 1}W`), b: tf.variable(tf.tensor1d(Float32Array.from(l.b)), true, `conv${i + 1}b`), padding: c.padding, kernel: c.kernel };
    });
    this.dense = layers.filter((l) => !l.conv).map((l, i) => ({
      W: tf.variable(tf.tensor2d(transposed(l), [l.inputs, l.outputs]), true, `dense${i + 1}W`),
      b: tf.variable(tf.tensor1d(Float32Array.from(l.b)), true, `dense${i + 1}b`),
    }));
    this.vars = [...this.convs.flatMap((c) => [c.W, c.b]), ...this.dense.flatMap((d) => [d.W, d.b])];
    this.optimizer = tf.train.momentum(task.lr, task.momentum ?? 0);
  }

  private logits(x: import('@tensorflow/tfjs').Tensor4D): T2 {
    const { tf } = this;
    let h: import('@tensorflow/tfjs').Tensor4D = x;
    for (const c of this.convs) {
      const pad = c.padding === 0 ? 'valid' : 'same';
      const [B, H, W, C] = h.shape;
      const y = this.via3d
        ? tf.reshape(tf.conv3d(tf.reshape(h, [B, 1, H, W, C]) as import('@tensorflow/tfjs').Tensor5D, c.W as unknown as import('@tensorflow/tfjs').Tensor5D, 1, pad), [B, H - (pad === 'valid' ? c.kernel - 1 : 0), W - (pad === 'valid' ? c.kernel - 1 : 0), -1]) as import('@tensorflow/tfjs').Tensor4D
        : tf.conv2d(h, c.W as unknown as import('@tensorflow/tfjs').Tensor4D, 1, pad);
      h = tf.maxPool(tf.relu(tf.add(y, c.b)) as import('@tensorflow/tfjs').Tensor4D, 2, 2, 'valid') as import('@tensorflow/tfjs').Tensor4D;
    }
    // the protocol flattens in (channel, row, column) order: NHWC → NCHW first
    let a = tf.reshape(tf.transpose(h, [0, 3, 1, 2]), [h.shape[0], -1]) as T2;
    this.dense.forEach((d, l) => {
      const z = tf.add(tf.matMul(a, d.W as unknown as T2), d.b) as T2;
      a = l < this.dense.length - 1 ? tf.relu(z) : z;
    });
    return a;
  }

  private loss(x: import('@tensorflow/tfjs').Tensor4D, y: T2): { loss: import('@tensorflow/tfjs').Scalar; logits: T2 } {
    const { tf } = this;
    const z = this.logits(x);
    return { loss: tf.mean(tf.neg(tf.sum(tf.mul(y, tf.logSoftmax(z)), 1))) as import('@tensorflow/tfjs').Scalar, logits: z };
  }

  step(indices: Int32Array): void {
    const { tf } = this;
    const rows = indices.length;
    const { train } = this.data;
    const xb = gatherRows(train.images, PIXELS, indices, new Float32Array(rows * PIXELS));
    const yb = new Float32Array(rows * CLASSES);
    for (let i = 0; i < rows; i++) yb[i * CLASSES + train.labels[indices[i]]] = 1;
    tf.tidy(() => {
      const x = tf.tensor4d(xb, [rows, 28, 28, 1]);
      const y = tf.tensor2d(yb, [rows, CLASSES]);
      this.optimizer.minimize(() => this.loss(x, y).loss, false, this.vars);
    });
  }

  async sync(): Promise<void> {}

  async evaluate(): Promise<{ loss: number; accuracy: number }> {
    const { tf } = this;
    const ev = this.data.eval;
    const logits = new Float32Array(ev.n * CLASSES);
    let loss = 0;
    for (let start = 0; start < ev.n; start += 500) {
      const end = Math.min(ev.n, start + 500);
      const out = tf.tidy(() => this.loss(
        tf.tensor4d(ev.images.slice(start * PIXELS, end * PIXELS), [end - start, 28, 28, 1]),
        tf.tensor2d(oneHotRows(ev.labels.subarray(start, end)), [end - start, CLASSES]),
      ));
      loss += (await out.loss.data())[0] * (end - start);
      logits.set(await out.logits.data(), start * CLASSES);
      out.loss.dispose();
      out.logits.dispose();
    }
    return { loss: loss / ev.n, accuracy: argmaxRows(logits, ev.n, CLASSES, ev.labels) };
  }

  dispose(): void {
    this.vars.forEach((v) => v.dispose());
    this.optimizer.dispose();
  }
}

/**
 * The ops grid in TF.js's own layouts: batched `tf.matMul`; conv2d on NHWC images and HWIO
 * filters (converted once from NCHW/OIHW, outside the timed region; converted back for the
 * check), y and its VJP at the cotangent r through one `tf.valueAndGrads` call.
 */
function tfOp(tf: TF, c: OpCase, operands: Float32Array[]): OpRun {
  type T = import('@tensorflow/tfjs').Tensor;
  let outputs: T[] = [];
  const done = () => outputs.forEach((t) => t.dataSync());
  if (c.kind === 'bmm') {
    const A = tf.tensor(operands[0], c.a), B = tf.tensor(operands[1], c.b);
    return {
      run() {
        tf.dispose(outputs);
        outputs = [tf.matMul(A as import('@tensorflow/tfjs').Tensor3D, B as import('@tensorflow/tfjs').Tensor3D)];
        done();
      },
      async result() {
        return outputs.map((t) => t.dataSync());
      },
      dispose() {
        tf.dispose([...outputs, A, B]);
      },
    };
  }
  const nhwc = [0, 2, 3, 1], nchw = [0, 3, 1, 2];
  const [N, C, H, Wd] = c.x, [O, , kH, kW] = c.w, [, , oH, oW] = convOutShape(c);
  const X = tf.tidy(() => tf.transpose(tf.tensor(operands[0], c.x), nhwc)) as import('@tensorflow/tfjs').Tensor4D;
  const W = tf.tidy(() => tf.transpose(tf.tensor(operands[1], c.w), [2, 3, 1, 0])) as import('@tensorflow/tfjs').Tensor4D; // OIHW → HWIO
  const R = tf.tidy(() => tf.transpose(tf.tensor(operands[2], convOutShape(c)), nhwc)) as import('@tensorflow/tfjs').Tensor4D;
  const conv = () => tf.conv2d(X, W, c.stride, c.padding);
  if (!c.backward) {
    return {
      run() {
        tf.dispose(outputs);
        outputs = [conv()];
        done();
      },
      async result() {
        return tf.tidy(() => [tf.transpose(outputs[0], nchw).dataSync()]);
      },
      dispose() {
        tf.dispose([...outputs, X, W, R]);
      },
    };
  }
  // The wasm backend registers no Conv2DBackpropFilter (tfjs-backend-wasm 4.22): there the
  // same convolution runs as a conv3d of depth 1, whose gradient kernels it has (conv3d
  // takes 'valid' or 'same' padding only, which the grid's cases are).
  const via3d = tf.getBackend() === 'wasm';
  if (via3d && c.padding !== 0 && 2 * c.padding !== kH - 1) throw new Error(`conv3d takes 'valid' or 'same' padding only, not ${c.padding} for ${kH}×${kW}`);
  const inputs = via3d
    ? [tf.reshape(X, [N, 1, H, Wd, C]), tf.reshape(W, [1, kH, kW, C, O])]
    : [X, W];
  const cotangent = via3d ? tf.reshape(R, [N, 1, oH, oW, O]) : R;
  // y = conv(x, w) and its VJP at the cotangent r in one call (valueAndGrads takes dy)
  type Step = (args: T[], dy: T) => { value: T; grads: T[] };
  const step: Step = via3d
    ? tf.valueAndGrads((x: T, w: T) => tf.conv3d(x as import('@tensorflow/tfjs').Tensor5D, w as import('@tensorflow/tfjs').Tensor5D, c.stride, c.padding === 0 ? 'valid' : 'same')) as Step
    : tf.valueAndGrads((x: T, w: T) => tf.conv2d(x as import('@tensorflow/tfjs').Tensor4D, w as import('@tensorflow/tfjs').Tensor4D, c.stride, c.padding)) as Step;
  return {
    run() {
      tf.dispose(outputs);
      const { value, grads } = step(inputs, cotangent);
      outputs = [value, ...grads];
      done();
    },
    async result() {
      const back = (t: T, shape: number[], perm: number[]) => tf.tidy(() => tf.transpose(tf.reshape(t, shape), perm).dataSync());
      return [
        back(outputs[0], [N, oH, oW, O], nchw),
        back(outputs[1], [N, H, Wd, C], nchw),
        back(outputs[2], [kH, kW, C, O], [3, 2, 0, 1]), // HWIO → OIHW
      ];
    },
    dispose() {
      tf.dispose([...outputs, X, W, R, ...(via3d ? [...inputs, cotangent] : [])]);
    },
  };
}

function tfFramework(tf: TF, backend: 'cpu' | 'wasm', details: string): Framework {
  const activate = async () => {
    if (tf.getBackend() !== backend && !(await tf.setBackend(backend))) throw new Error(`tf.setBackend('${backend}') failed`);
  };
  return {
    id: `tfjs-${backend}`,
    label: `TF.js ${backend}`,
    isTapegrad: false,
    details,
    activate,
    async createTrainer(task, data, layers) {
      await activate();
      return task.conv ? new TfCnnTrainer(tf, task, data, layers) : new TfTrainer(tf, task, data, layers);
    },
    async op(c: OpCase, operands: Float32Array[]): Promise<OpRun> {
      await activate();
      return tfOp(tf, c, operands);
    },
    async matmul(size: MatmulSize, a: Float32Array, b: Float32Array): Promise<MatmulRun> {
      await activate();
      const A = tf.tensor2d(a, [size.m, size.k]);
      const B = tf.tensor2d(b, [size.k, size.n]);
      let C: import('@tensorflow/tfjs').Tensor | null = null;
      return {
        run() {
          C?.dispose();
          C = tf.matMul(A, B);
          C.dataSync();
        },
        async result() {
          return C ? C.dataSync() : tf.matMul(A, B).dataSync();
        },
        dispose() {
          C?.dispose();
          A.dispose();
          B.dispose();
        },
      };
    },
  };
}

/** Both TF.js backends, each only if it starts. The wasm binaries are loaded from the package's dist folder. */
export async function loadTfjs(): Promise<{ frameworks: Framework[]; unavailable: Unavailable[] }> {
  const frameworks: Framework[] = [];
  const unavailable: Unavailable[] = [];
  let tf: TF;
  try {
    tf = await import('@tensorflow/tfjs');
    tf.enableProdMode(); // silences the "install tfjs-node" banner; no numerical effect
  } catch (error) {
    const reason = `@tensorflow/tfjs unavailable: ${(error as Error).message.split('\n')[0]}`;
    return { frameworks, unavailable: (['cpu', 'wasm'] as const).map((b) => ({ id: `tfjs-${b}`, label: `TF.js ${b}`, isTapegrad: false, reason })) };
  }
  try {
    if (!(await tf.setBackend('cpu'))) throw new Error("tf.setBackend('cpu') returned false");
    frameworks.push(tfFramework(tf, 'cpu', `@tensorflow/tfjs ${tf.version.tfjs}, cpu backend (plain JS kernels), 1 thread`));
  } catch (error) {
    unavailable.push({ id: 'tfjs-cpu', label: 'TF.js cpu', isTapegrad: false, reason: (error as Error).message });
  }
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    // In Node the backend reads its .wasm files from disk: point it at the package's dist folder.
    const require = createRequire(import.meta.url);
    wasm.setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
    if (!(await tf.setBackend('wasm'))) throw new Error("tf.setBackend('wasm') returned false");
    const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
    const threads = tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT');
    frameworks.push(tfFramework(tf, 'wasm', `@tensorflow/tfjs-backend-wasm ${wasm.version_wasm}, XNNPACK, SIMD ${simd ? 'on' : 'off'}, ${threads ? 'threaded' : '1 thread'}`));
  } catch (error) {
    unavailable.push({ id: 'tfjs-wasm', label: 'TF.js wasm', isTapegrad: false, reason: `@tensorflow/tfjs-backend-wasm: ${(error as Error).message.split('\n')[0]}` });
  }
  return { frameworks, unavailable };
}
