/**
 * jax-js 0.1.25 on its wasm device (`init('wasm')`: plain `init()` probes WebGPU, which crashes
 * in Node; jax-js starts worker threads only where a global `Worker` exists, so it runs on one
 * thread in Node). The training step — value_and_grad of the loss, then θ − η·∇ — is one `jit`
 * function, and the harness waits on the new parameters with `blockUntilReady` after every
 * step, as BENCH-PROTOCOL's notes prescribe. Layout: examples as rows, X·W with W = Wˡ
 * transposed to [in, out]. jax-js owns arrays by reference count: every argument is consumed.
 */
import { CLASSES, type Layer, type MatmulSize, PIXELS, type TaskSpec, gatherRows, transposed } from '../protocol.js';
import { type Framework, type MatmulRun, type OpRun, type TrainData, type Trainer, type Unavailable, argmaxRows } from './types.js';
import { type OpCase, convOutShape } from '../ops.js';

type Jax = typeof import('@jax-js/jax');
type JArray = import('@jax-js/jax').Array;
type Params = { W: JArray; b: JArray }[];

/** Logits of x under params; consumes both. */
function forward(jax: Jax, task: TaskSpec, params: Params, x: JArray): JArray {
  const { numpy: np, nn } = jax;
  let a = x;
  params.forEach((p, l) => {
    const z = np.matmul(a, p.W).add(p.b);
    a = l < params.length - 1 ? (task.hidden === 'relu' ? nn.relu(z) : nn.sigmoid(z)) : z;
  });
  return a;
}

/** The task's cost, mean over the batch's rows; consumes its arguments. */
function costOf(jax: Jax, task: TaskSpec, params: Params, x: JArray, y: JArray): JArray {
  const { numpy: np, nn } = jax;
  const rows = x.shape[0];
  const z = forward(jax, task, params, x);
  if (task.output === 'softmax-cce') return np.sum(nn.logSoftmax(z, -1).mul(y)).mul(-1 / rows);
  return np.sum(nn.softplus(z.ref).sub(y.mul(z))).mul(1 / rows);
}

class JaxTrainer implements Trainer {
  private params: Params;
  private readonly step_: (params: Params, x: JArray, y: JArray) => [Params, JArray];

  constructor(private readonly jax: Jax, private readonly task: TaskSpec, private readonly data: TrainData, layers: Layer[]) {
    const { numpy: np, jit, valueAndGrad, tree } = jax;
    this.params = layers.map((l) => ({
      W: np.array(transposed(l), { shape: [l.inputs, l.outputs] }),
      b: np.array(Float32Array.from(l.b), { shape: [l.outputs] }),
    }));
    const lr = task.lr;
    const loss = (p: Params, x: JArray, y: JArray) => costOf(jax, task, p, x, y);
    this.step_ = jit((p: Params, x: JArray, y: JArray) => {
      const [value, grads] = valueAndGrad(loss)(tree.ref(p), x, y);
      const next = tree.map((w: JArray, g: JArray) => w.sub(g.mul(lr)), p, grads as unknown as Params) as unknown as Params;
      return [next, value];
    }) as unknown as (params: Params, x: JArray, y: JArray) => [Params, JArray];
  }

  async step(indices: Int32Array): Promise<void> {
    const { numpy: np } = this.jax;
    const rows = indices.length;
    const { train } = this.data;
    const xb = gatherRows(train.images, PIXELS, indices, new Float32Array(rows * PIXELS));
    const yb = new Float32Array(rows * CLASSES);
    for (let i = 0; i < rows; i++) yb[i * CLASSES + train.labels[indices[i]]] = 1;
    const [next, value] = this.step_(this.params, np.array(xb, { shape: [rows, PIXELS] }), np.array(yb, { shape: [rows, CLASSES] }));
    this.params = next;
    value.dispose();
    await this.jax.blockUntilReady(this.params);
  }

  async sync(): Promise<void> {
    await this.jax.blockUntilReady(this.params);
  }

  async evaluate(): Promise<{ loss: number; accuracy: number }> {
    const { numpy: np, tree } = this.jax;
    const ev = this.data.eval;
    const logits = await forward(this.jax, this.task, tree.ref(this.params), np.array(Float32Array.from(ev.images), { shape: [ev.n, PIXELS] })).data();
    let loss = 0;
    for (let i = 0; i < ev.n; i++) {
      const o = i * CLASSES;
      const label = ev.labels[i];
      if (this.task.output === 'softmax-cce') {
        let max = -Infinity;
        for (let j = 0; j < CLASSES; j++) max = Math.max(max, logits[o + j]);
        let s = 0;
        for (let j = 0; j < CLASSES; j++) s += Math.exp(logits[o + j] - max);
        loss += max + Math.log(s) - logits[o + label];
      } else {
        for (let j = 0; j < CLASSES; j++) {
          const z = logits[o + j];
          loss += Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z))) - (j === label ? z : 0);
        }
      }
    }
    return { loss: loss / ev.n, accuracy: argmaxRows(logits, ev.n, CLASSES, ev.labels) };
  }

  dispose(): void {
    this.jax.tree.dispose(this.params);
    (this.step_ as unknown as { dispose?: () => void }).dispose?.();
  }
}

type CnnParams = { convs: { W: JArray; b: JArray }[]; dense: { W: JArray; b: JArray }[] };

/**
 * T4 in jax-js, NCHW/OIHW (JAX's default layout): `lax.conv` with the protocol's padding,
 * bias [O, 1, 1], relu, and the 2×2 stride-2 max-pool as a max over the axes of a
 * [B, C, H/2, 2, W/2, 2] reshape (the windows do not overlap, so this is the pool; jax-js's
 * `lax.reduceWindow` is the general form); the flattened features are in (channel, row,
 * column) order already. One `jit` step: valueAndGrad, then v ← μ·v + g, θ ← θ − η·v.
 */
class JaxCnnTrainer implements Trainer {
  private params: CnnParams;
  private velocity: CnnParams;
  private readonly step_: (params: CnnParams, velocity: CnnParams, x: JArray, y: JArray) => [CnnParams, CnnParams, JArray];

  constructor(private readonly jax: Jax, private readonly task: TaskSpec, private readonly data: TrainData, layers: Layer[]) {
    const { numpy: np, jit, valueAndGrad, tree } = jax;
    const convLayers = layers.filter((l) => l.conv), denseLayers = layers.filter((l) => !l.conv);
    const make = (zeros: boolean): CnnParams => ({
      convs: convLayers.map((l) => {
        const c = l.conv!;
        return {
          W: np.array(zeros ? new Float32Array(l.W.length) : Float32Array.from(l.W), { shape: [c.outChannels, c.inChannels, c.kernel, c.kernel] }),
          b: np.array(zeros ? new Float32Array(l.outputs) : Float32Array.from(l.b), { shape: [c.outChannels, 1, 1] }),
        };
      }),
      dense: denseLayers.map((l) => ({
        W: np.array(zeros ? new Float32Array(l.W.length) : transposed(l), { shape: [l.inputs, l.outputs] }),
        b: np.array(zeros ? new Float32Array(l.outputs) : Float32Array.from(l.b), { shape: [l.outputs] }),
      })),
    });
    this.params = make(false);
    this.velocity = make(true);
    const { lr } = task;
    const mu = task.momentum ?? 0;
    const loss = (p: CnnParams, x: JArray, y: JArray) => np.sum(jax.nn.logSoftmax(this.logits(p, x), -1).mul(y)).mul(-1 / x.shape[0]);
    this.step_ = jit((p: CnnParams, v: CnnParams, x: JArray, y: JArray) => {
      const [value, grads] = valueAndGrad(loss)(tree.ref(p), x, y);
      const nextV = tree.map((vi: JArray, g: JArray) => vi.mul(mu).add(g), v, grads as unknown as CnnParams) as unknown as CnnParams;
      const next = tree.map((w: JArray, vi: JArray) => w.sub(vi.mul(lr)), p, tree.ref(nextV)) as unknown as CnnParams;
      return [next, nextV, value];
    }) as unknown as (params: CnnParams, velocity: CnnParams, x: JArray, y: JArray) => [CnnParams, CnnParams, JArray];
  }

  /** Logits [B, 10] of images [B, 1, 28, 28]; consumes both. */
  private logits(p: CnnParams, x: JArray): JArray {
    const { numpy: np, nn, lax } = this.jax;
    let h = x;
    p.convs.forEach((c, i) => {
      const pad = this.task.conv![i].padding;
      const y = nn.relu(lax.conv(h, c.W, [1, 1], [[pad, pad], [pad, pad]]).add(c.b));
      const [B, C, H, W] = y.shape;
      h = np.max(y.reshape([B, C, H / 2, 2, W / 2, 2]), [3, 5]);
    });
    let a = h.reshape([h.shape[0], -1]);
    p.dense.forEach((d, l) => {
      const z = np.matmul(a, d.W).add(d.b);
      a = l < p.dense.length - 1 ? nn.relu(z) : z;
    });
    return a;
  }

  async step(indices: Int32Array): Promise<void> {
    const { numpy: np } = this.jax;
    const rows = indices.length;
    const { train } = this.data;
    const xb = gatherRows(train.images, PIXELS, indices, new Float32Array(rows * PIXELS));
    const yb = new Float32Array(rows * CLASSES);
    for (let i = 0; i < rows; i++) yb[i * CLASSES + train.labels[indices[i]]] = 1;
    const [next, nextV, value] = this.step_(this.params, this.velocity, np.array(xb, { shape: [rows, 1, 28, 28] }), np.array(yb, { shape: [rows, CLASSES] }));
    this.params = next;
    this.velocity = nextV;
    value.dispose();
    await this.jax.blockUntilReady([this.params, this.velocity]);
  }

  async sync(): Promise<void> {
    await this.jax.blockUntilReady([this.params, this.velocity]);
  }

  async evaluate(): Promise<{ loss: number; accuracy: number }> {
    const { numpy: np, tree } = this.jax;
    const ev = this.data.eval;
    const logits = new Float32Array(ev.n * CLASSES);
    for (let start = 0; start < ev.n; start += 500) {
      const end = Math.min(ev.n, start + 500);
      const x = np.array(ev.images.slice(start * PIXELS, end * PIXELS), { shape: [end - start, 1, 28, 28] });
      logits.set(await this.logits(tree.ref(this.params), x).data(), start * CLASSES);
    }
    return { loss: softmaxLoss(logits, ev.labels), accuracy: argmaxRows(logits, ev.n, CLASSES, ev.labels) };
  }

  dispose(): void {
    this.jax.tree.dispose([this.params, this.velocity]);
    (this.step_ as unknown as { dispose?: () => void }).dispose?.();
  }
}

/** Mean softmax cross-entropy of logit rows [n, 10], in float64. */
function softmaxLoss(logits: ArrayLike<number>, labels: ArrayLike<number>): number {
  let loss = 0;
  for (let i = 0; i < labels.length; i++) {
    const o = i * CLASSES;
    let max = -Infinity;
    for (let j = 0; j < CLASSES; j++) max = Math.max(max, logits[o + j]);
    let s = 0;
    for (let j = 0; j < CLASSES; j++) s += Math.exp(logits[o + j] - max);
    loss += max + Math.log(s) - logits[o + labels[i]];
  }
  return loss / labels.length;
}

/**
 * The ops grid in jax-js, jitted as its training step is: batched `np.matmul`; `lax.conv`
 * (NCHW/OIHW, JAX's default layout) under `valueAndGrad` with the forward value returned as
 * aux, so y is computed (and not dropped as dead code). Arguments are consumed: `.ref` keeps ours.
 */
function jaxOp(jax: Jax, c: OpCase, operands: Float32Array[]): OpRun {
  const { numpy: np, lax } = jax;
  let outputs: JArray[] = [];
  const release = () => {
    outputs.forEach((t) => t.dispose());
    outputs = [];
  };
  if (c.kind === 'bmm') {
    const A = np.array(operands[0], { shape: c.a }), B = np.array(operands[1], { shape: c.b });
    const mm = jax.jit((x: JArray, y: JArray) => np.matmul(x, y)) as unknown as ((x: JArray, y: JArray) => JArray) & { dispose(): void };
    return {
      async run() {
        release();
        outputs = [mm(A.ref, B.ref)];
        await outputs[0].blockUntilReady();
      },
      async result() {
        const data = await Promise.all(outputs.map((t) => t.ref.data()));
        return data;
      },
      dispose() {
        release();
        A.dispose();
        B.dispose();
        mm.dispose();
      },
    };
  }
  const X = np.array(operands[0], { shape: c.x }), W = np.array(operands[1], { shape: c.w });
  const R = np.array(operands[2], { shape: convOutShape(c) });
  const pad: [number, number][] = [[c.padding, c.padding], [c.padding, c.padding]];
  if (!c.backward) {
    const forward = jax.jit((x: JArray, w: JArray) => lax.conv(x, w, [c.stride, c.stride], pad)) as unknown as ((x: JArray, w: JArray) => JArray) & { dispose(): void };
    return {
      async run() {
        release();
        outputs = [forward(X.ref, W.ref)];
        await outputs[0].blockUntilReady();
      },
      async result() {
        return Promise.all(outputs.map((t) => t.ref.data()));
      },
      dispose() {
        release();
        X.dispose();
        W.dispose();
        R.dispose();
        forward.dispose();
      },
    };
  }
  const loss = (x: JArray, w: JArray, r: JArray): [JArray, JArray] => {
    const y = lax.conv(x, w, [c.stride, c.stride], pad);
    return [np.sum(np.multiply(y.ref, r)), y];
  };
  const step = jax.jit(jax.valueAndGrad(loss, { argnums: [0, 1], hasAux: true })) as unknown as
    ((x: JArray, w: JArray, r: JArray) => [[JArray, JArray], [JArray, JArray]]) & { dispose(): void };
  return {
    async run() {
      release();
      const [[value, y], [dx, dw]] = step(X.ref, W.ref, R.ref);
      outputs = [y, dx, dw, value];
      await Promise.all(outputs.map((t) => t.blockUntilReady()));
    },
    async result() {
      return Promise.all(outputs.slice(0, 3).map((t) => t.ref.data()));
    },
    dispose() {
      release();
      X.dispose();
      W.dispose();
      R.dispose();
      step.dispose();
    },
  };
}

export async function loadJax(): Promise<{ frameworks: Framework[]; unavailable: Unavailable[] }> {
  let jax: Jax;
  try {
    jax = await import('@jax-js/jax');
    const devices = await jax.init('wasm');
    if (!devices.includes('wasm')) throw new Error(`init('wasm') returned [${devices.join(', ')}]`);
    jax.defaultDevice('wasm');
  } catch (error) {
    return { frameworks: [], unavailable: [{ id: 'jax-wasm', label: 'jax-js wasm', isTapegrad: false, reason: `@jax-js/jax unavailable: ${(error as Error).message.split('\n')[0]}` }] };
  }
  const { numpy: np } = jax;
  const threads = typeof (globalThis as { Worker?: unknown }).Worker !== 'undefined' ? 'workers available' : '1 thread (no global Worker in Node)';
  const framework: Framework = {
    id: 'jax-wasm',
    label: 'jax-js wasm (jit)',
    isTapegrad: false,
    details: `@jax-js/jax 0.1.25, wasm device, jit (training step and matmul), blockUntilReady per step, ${threads}`,
    async activate() {
      jax.defaultDevice('wasm');
    },
    async createTrainer(task, data, layers) {
      return task.conv ? new JaxCnnTrainer(jax, task, data, layers) : new JaxTrainer(jax, task, data, layers);
    },
    async op(c: OpCase, operands: Float32Array[]): Promise<OpRun> {
      return jaxOp(jax, c, operands);
    },
    async matmul(size: MatmulSize, a: Float32Array, b: Float32Array): Promise<MatmulRun> {
      const A = np.array(a, { shape: [size.m, size.k] });
      const B = np.array(b, { shape: [size.k, size.n] });
      // jit, as for training: the product's kernel is compiled once, at the first call
      const mm = jax.jit((x: JArray, y: JArray) => np.matmul(x, y)) as unknown as ((x: JArray, y: JArray) => JArray) & { dispose(): void };
      let C: JArray | null = null;
      return {
        async run() {
          C?.dispose();
          C = mm(A.ref, B.ref);
          await C.blockUntilReady();
        },
        async result() {
          const c = C ?? mm(A.ref, B.ref);
          C = null;
          return c.data();
        },
        dispose() {
          C?.dispose();
          A.dispose();
          B.dispose();
          mm.dispose();
        },
      };
    },
  };
  return { frameworks: [framework], unavailable: [] };
}
