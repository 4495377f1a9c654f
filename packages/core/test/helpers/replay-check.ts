import {
  type DType, StepReplay, Tape, type Tensor, type TypedArray, add, createRng, matmul, mean, mul, relu, square, sub, tensor, tidy,
} from '@tapegrad/core';
import fc from 'fast-check';

/**
 * A small training loop written the way a user writes one (tape, a functional update
 * assigned to each parameter), run either ordinarily or through StepReplay, so the two can
 * be compared bit for bit. Shared by core's tests (js) and the native and wasm backends' tests.
 */
export interface LoopSpec {
  /** Layer widths, input first. */
  sizes: number[];
  batch: number;
  steps: number;
  lr: number;
  dtype: DType;
  seed: number;
  /** Every this many steps the batch is one example short (an epoch's last batch): run ordinarily. */
  shortEvery: number;
  /** Between steps, an unrelated computation of the same shapes inside tidy, on NaN inputs: it would poison any buffer the pool shared with the recording. */
  noise: boolean;
}

export interface LoopResult {
  losses: number[];
  params: TypedArray[];
  replay: StepReplay;
}

export function runLoop(spec: LoopSpec, replayed: boolean): LoopResult {
  const rng = createRng(spec.seed);
  const values = (n: number, scale: number) => Array.from({ length: n }, () => rng.normal() * scale);
  const params: Tensor[] = [];
  for (let l = 1; l < spec.sizes.length; l++) {
    const [fanIn, fanOut] = [spec.sizes[l - 1], spec.sizes[l]];
    params.push(tensor(values(fanOut * fanIn, Math.sqrt(2 / fanIn)), { shape: [fanOut, fanIn], dtype: spec.dtype }));
    params.push(tensor(values(fanOut, 0.1), { shape: [fanOut, 1], dtype: spec.dtype }));
  }
  const forward = (x: Tensor): Tensor => {
    let a = x;
    for (let l = 0; l < params.length; l += 2) {
      const z = add(matmul(params[l], a), params[l + 1]);
      a = l + 2 < params.length ? relu(z) : z;
    }
    return a;
  };
  const replay = new StepReplay();
  if (!replayed) replay.disable('ordinary run');
  const losses: number[] = [];
  const [inputs, outputs] = [spec.sizes[0], spec.sizes[spec.sizes.length - 1]];
  for (let s = 0; s < spec.steps; s++) {
    const batch = (s + 1) % spec.shortEvery === 0 && spec.batch > 1 ? spec.batch - 1 : spec.batch;
    // the batch is made before the step: its random numbers are not the step's
    const xs = values(inputs * batch, 1), ys = values(outputs * batch, 1);
    tidy(() => {
      const x = tensor(xs, { shape: [inputs, batch], dtype: spec.dtype });
      const y = tensor(ys, { shape: [outputs, batch], dtype: spec.dtype });
      replay.run([x, y], {
        compute([xb, yb]) {
          const tape = new Tape();
          const loss = tape.record(() => mean(square(sub(forward(xb), yb))));
          return { outputs: [loss], carry: tape.gradient(loss, params) };
        },
        between([loss]) {
          losses.push(loss.item());
        },
        update(grads) {
          params.forEach((p, i) => p.assign(sub(p, mul(grads[i], spec.lr))));
        },
      });
    });
    if (spec.noise) {
      tidy(() => {
        const nan = tensor(new Array(inputs * spec.batch).fill(Number.NaN), { shape: [inputs, spec.batch], dtype: spec.dtype });
        const tape = new Tape();
        const loss = tape.record(() => mean(square(forward(nan))));
        tape.gradient(loss, params).forEach((g) => void g.data);
      });
    }
  }
  return { losses, params: params.map((p) => p.data.slice()), replay };
}

/** Bit for bit, −0 and NaN payloads included. */
export function sameBits(a: TypedArray, b: TypedArray): boolean {
  if (a.length !== b.length || a.constructor !== b.constructor) return false;
  const [x, y] = [new Uint8Array(a.buffer, a.byteOffset, a.byteLength), new Uint8Array(b.buffer, b.byteOffset, b.byteLength)];
  return x.every((v, i) => v === y[i]);
}

/** Steps a run replays: per the StepReplay protocol, all but the first four full-size steps and the short ones. */
export function expectedReplays(spec: LoopSpec): number {
  let full = 0, replays = 0;
  for (let s = 0; s < spec.steps; s++) {
    const short = (s + 1) % spec.shortEvery === 0 && spec.batch > 1;
    if (short) continue;
    full++;
    if (full > 4) replays++;
  }
  return replays;
}

export const loopSpec: fc.Arbitrary<LoopSpec> = fc.record({
  sizes: fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 2, maxLength: 4 }),
  batch: fc.integer({ min: 1, max: 6 }),
  steps: fc.integer({ min: 5, max: 12 }),
  lr: fc.constantFrom(0.01, 0.05, 0.2),
  dtype: fc.constantFrom<DType>('float32', 'float64'),
  seed: fc.integer({ min: 1, max: 1_000_000 }),
  shortEvery: fc.integer({ min: 3, max: 20 }),
  noise: fc.boolean(),
});

/** The property every backend must have: a replayed loop trains exactly as the ordinary one, and replays what the protocol says it will. */
export function replayedEqualsOrdinary(spec: LoopSpec): boolean {
  const [ordinary, replayed] = [runLoop(spec, false), runLoop(spec, true)];
  if (replayed.replay.state !== 'replaying' && expectedReplays(spec) > 0) throw new Error(`replay is ${replayed.replay.state}: ${replayed.replay.reason}`);
  if (replayed.replay.replayed !== expectedReplays(spec)) throw new Error(`${replayed.replay.replayed} steps replayed, expected ${expectedReplays(spec)}`);
  if (!ordinary.losses.every((l, i) => Object.is(l, replayed.losses[i])) || ordinary.losses.length !== replayed.losses.length) throw new Error(`losses differ: ${ordinary.losses} vs ${replayed.losses}`);
  ordinary.params.forEach((p, i) => {
    if (!sameBits(p, replayed.params[i])) throw new Error(`parameter ${i} differs`);
  });
  return true;
}
