/**
 * jax-js 0.1.25 on its wasm device (`init('wasm')`: plain `init()` probes WebGPU, which crashes
 * in Node; jax-js starts worker threads only where a global `Worker` exists, so it runs on one
 * thread in Node). The training step — value_and_grad of the loss, then θ − η·∇ — is one `jit`
 * function, and the harness waits on the new parameters with `blockUntilReady` after every
 * step, as BENCH-PROTOCOL's notes prescribe. Layout: examples as rows, X·W with W = Wˡ
 * transposed to [in, out]. jax-js owns arrays by reference count: every argument is consumed.
 */
import { CLASSES, type Layer, type MatmulSize, PIXELS, type TaskSpec, gatherRows, transposed } from '../protocol.js';
import { type Framework, type MatmulRun, type TrainData, type Trainer, type Unavailable, argmaxRows } from './types.js';
import type { ConvCase, ConvRun } from '../conv.js';

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
      return new JaxTrainer(jax, task, data, layers);
    },
    // conv2d forward + backward: lax.conv (NCHW, OIHW, as PyTorch) and its VJP at cotangent
    // dy, all in one jit function, as a training step would be
    async conv(c: ConvCase, x: Float32Array, w: Float32Array, dy: Float32Array): Promise<ConvRun> {
      const [oh, ow] = [c.H + 2 * c.padding - c.k + 1, c.W + 2 * c.padding - c.k + 1];
      const X = np.array(x, { shape: [c.N, c.C, c.H, c.W] });
      const Wt = np.array(w, { shape: [c.O, c.C, c.k, c.k] });
      const DY = np.array(dy, { shape: [c.N, c.O, oh, ow] });
      const pad: [number, number][] = [[c.padding, c.padding], [c.padding, c.padding]];
      const conv = (a: JArray, b: JArray) => jax.lax.conv(a, b, [1, 1], pad);
      const step = jax.jit((a: JArray, b: JArray, g: JArray) => {
        const [y, back] = jax.vjp(conv, [a, b]);
        const [da, db] = back(g) as unknown as [JArray, JArray];
        return [y, da, db];
      }) as unknown as ((a: JArray, b: JArray, g: JArray) => [JArray, JArray, JArray]) & { dispose(): void };
      let out: [JArray, JArray, JArray] | null = null;
      const release = () => {
        out?.forEach((t) => t.dispose());
        out = null;
      };
      const run = async () => {
        release();
        out = step(X.ref, Wt.ref, DY.ref);
        await jax.blockUntilReady(out);
      };
      const forward = jax.jit((a: JArray, b: JArray) => conv(a, b)) as unknown as ((a: JArray, b: JArray) => JArray) & { dispose(): void };
      return {
        run,
        async forward() {
          release();
          const y = forward(X.ref, Wt.ref);
          await y.blockUntilReady();
          y.dispose();
        },
        async result() {
          if (!out) await run();
          const [y, dx, dw] = out!;
          out = null;
          return { y: await y.data(), dx: await dx.data(), dw: await dw.data() };
        },
        dispose() {
          release();
          X.dispose();
          Wt.dispose();
          DY.dispose();
          step.dispose();
          forward.dispose();
        },
      };
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
