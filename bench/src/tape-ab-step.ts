/**
 * The training step tape-ab.ts times: frameworks/tapegrad.ts's TapegradTrainer.step (nn's
 * seeded `mlp`, a fresh Tape per step, `cost`, `tape.gradient`, SGD, batches from
 * `columnSampler`, all inside tidy). tape-ab.ts copies this file into each build's folder
 * beside that build's core and nn, so the two builds share no code at all (shared call sites
 * would see both builds' functions and favour one of them).
 */
import { Tape, type Tensor, columnSampler, createRng, registerBackend, setBackend, tensor, tidy } from '@tapegrad/core';
import { SGD, cost, mlp } from '@tapegrad/nn';
import type { TaskSpec } from './protocol.js';

export interface AbTrainer {
  step(indices: Int32Array): void;
  /** Runs `steps` steps on the next batches of `order` (batch after batch, wrapping); returns ms per step. */
  run(steps: number): number;
  /** A checksum of the parameters: both builds must train identically. */
  checksum(): number;
}

/** Registers a fresh native backend (this build's copy of backend-native's wrapper, the shared addon) or picks js. */
export async function useBackend(name: string, nativeEntry: string, addonPath: string): Promise<void> {
  if (name === 'native') {
    const native = (await import(nativeEntry)) as {
      loadNativeBackend(options: { addonPath: string }): { backend?: Parameters<typeof registerBackend>[0]; reason?: string };
    };
    const result = native.loadNativeBackend({ addonPath });
    if (!result.backend) throw new Error(`native backend unavailable: ${result.reason}`);
    registerBackend(result.backend);
  }
  setBackend(name);
}

export function createTrainer(task: TaskSpec, columns: Float32Array, oneHot: Float32Array, n: number, pixels: number, classes: number, order: Int32Array): AbTrainer {
  const model = mlp(task.sizes, {
    hidden: task.hidden,
    output: task.output === 'softmax-cce' ? 'softmax' : 'sigmoid',
    init: task.init === 'he' ? 'heNormal' : 'standardNormal',
    biasInit: task.init === 'classic' ? 'standardNormal' : 'zeros',
    rng: createRng(task.seed),
    dtype: 'float32',
  });
  const params: Tensor[] = Object.values(model.parameters());
  const sgd = new SGD({ lr: task.lr });
  const xs = columnSampler(tensor(columns, { shape: [pixels, n], dtype: 'float32' }));
  const ys = columnSampler(tensor(oneHot, { shape: [classes, n], dtype: 'float32' }));
  const loss = task.output === 'softmax-cce' ? 'cce' : 'bce';
  const activation = task.output === 'softmax-cce' ? 'softmax' : 'sigmoid';
  const batches = Math.floor(order.length / task.batch);
  let next = 0;
  const trainer: AbTrainer = {
    run(steps) {
      const start = performance.now();
      for (let s = 0; s < steps; s++) {
        const at = (next++ % batches) * task.batch;
        trainer.step(order.subarray(at, at + task.batch));
      }
      return (performance.now() - start) / steps;
    },
    step(indices) {
      tidy(() => {
        const xb = xs.take(indices);
        const yb = ys.take(indices);
        const tape = new Tape();
        const c = tape.record(() => {
          const trace = model.trace(xb);
          const last = trace.layers[trace.layers.length - 1];
          return cost(loss, { z: last.z, a: last.a, activation }, yb);
        });
        sgd.step(params, tape.gradient(c, params));
      });
    },
    checksum: () => params.reduce((s, p) => s + Array.from(p.data).reduce((a, v, i) => a + v * ((i % 7) + 1), 0), 0),
  };
  return trainer;
}
