import {
  StepReplay, Tape, Tensor, ValueError, add, createRng, dropout, matmul, mean, mul, recordStep, relu, setBackend, slice, square, sub, sum, tanh, tensor, tidy,
} from '@tapegrad/core';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { createFakeDevice } from './helpers/fake-device.js';
import { type LoopSpec, expectedReplays, loopSpec, replayedEqualsOrdinary, runLoop, sameBits } from './helpers/replay-check.js';

afterEach(() => setBackend('js'));

const base: LoopSpec = { sizes: [5, 4, 3], batch: 4, steps: 12, lr: 0.1, dtype: 'float32', seed: 7, shortEvery: 100, noise: false };

/** A one-layer least-squares step with a custom update: what each refusal test varies. */
function linearLoop(options: { steps: number; lr?: (step: number) => number; compute?: (w: Tensor, x: Tensor, y: Tensor) => Tensor; update?: (w: Tensor, g: Tensor, step: number) => void; off?: boolean }) {
  const w = tensor([[0.5, -0.25], [0.125, 1]]);
  const replay = new StepReplay();
  if (options.off) replay.disable('ordinary run');
  const states: string[] = [];
  for (let s = 0; s < options.steps; s++) {
    tidy(() => {
      const x = tensor([[s, 1], [2, s % 3]]);
      const y = tensor([[1, 0], [0, 1]]);
      replay.run([x, y], {
        compute([xb, yb]) {
          const tape = new Tape();
          const loss = tape.record(() => (options.compute ?? ((W, X, Y) => mean(square(sub(matmul(W, X), Y)))))(w, xb, yb));
          return { outputs: [loss], carry: tape.gradient(loss, [w])[0] };
        },
        between() {},
        update: (g) => (options.update ?? ((W, G, step) => W.assign(sub(W, mul(G, options.lr?.(step) ?? 0.01)))))(w, g, s),
      });
    });
    states.push(replay.state);
  }
  return { w, replay, states };
}

describe('StepReplay', () => {
  it('runs one ordinary step, records two, checks one, then replays: bit for bit the ordinary training', () => {
    const ordinary = runLoop(base, false);
    const replayed = runLoop(base, true);
    expect(replayed.replay.state).toBe('replaying');
    expect(replayed.replay.reason).toBeNull();
    expect(replayed.replay.replayed).toBe(8);
    expect(replayed.losses).toEqual(ordinary.losses);
    replayed.params.forEach((p, i) => expect(sameBits(p, ordinary.params[i])).toBe(true));
    // and training happened: the loss moved
    expect(replayed.losses[11]).not.toBe(replayed.losses[0]);
  });

  it('goes through its states in order', () => {
    const { states } = linearLoop({ steps: 6 });
    expect(states).toEqual(['ordinary', 'recording', 'verifying', 'replaying', 'replaying', 'replaying']);
  });

  it('property: any small MLP, batch, dtype and learning rate trains the same replayed, short batches and a busy pool included', () => {
    fc.assert(fc.property(loopSpec, replayedEqualsOrdinary), { numRuns: 40, seed: 20261206 });
  });

  it("keeps its buffers out of the pool: a computation of the same shapes between steps cannot touch them", () => {
    const spec = { ...base, noise: true, shortEvery: 5 };
    const replayed = runLoop(spec, true);
    expect(replayed.replay.replayed).toBe(expectedReplays(spec));
    expect(replayed.replay.replayed).toBeGreaterThan(0);
    const ordinary = runLoop(spec, false);
    expect(replayed.losses).toEqual(ordinary.losses);
    expect(replayed.losses.every(Number.isFinite)).toBe(true);
  });

  it('never replays a step that draws random numbers', () => {
    const rng = createRng(3);
    const { replay, states } = linearLoop({ steps: 6, compute: (W, X, Y) => mean(square(sub(dropout(matmul(W, X), 0.5, { rng }), Y))) });
    expect(replay.state).toBe('off');
    expect(replay.reason).toBe('the step draws random numbers');
    expect(states.slice(1)).toEqual(['off', 'off', 'off', 'off', 'off']);
  });

  it('never replays a step that reads a value on the CPU before it ends', () => {
    const { replay } = linearLoop({ steps: 6, compute: (W, X, Y) => mul(mean(square(sub(matmul(W, X), Y))), sum(X).item() > 3 ? 1 : 2) });
    expect(replay.state).toBe('off');
    expect(replay.reason).toBe('the step reads values on the CPU (item) before it ends');
  });

  it('never replays a step that writes values from JavaScript into a tensor', () => {
    const { replay } = linearLoop({
      steps: 6,
      update(W, G) {
        W.assign(sub(W, mul(G, 0.01)));
        W.assign([W.data[0] > 0 ? 0.5 : -0.5, 0, 0, 1]);
      },
    });
    expect(replay.state).toBe('off');
    expect(replay.reason).toMatch(/^the step (reads values on the CPU \(Tensor\.data\)|writes values from JavaScript)/);
    const constant = linearLoop({ steps: 6, update: (W) => void W.assign([0.5, 0, 0, 1]) });
    expect(constant.replay.reason).toBe('the step writes values from JavaScript into a tensor (assign of an array of numbers)');
  });

  it('never replays a step whose numbers change from step to step (a learning-rate schedule)', () => {
    const { replay } = linearLoop({ steps: 6, lr: (step) => 0.1 / (step + 1) });
    expect(replay.state).toBe('off');
    expect(replay.reason).toMatch(/^two steps differ: call \d+ \('\w+'\) has a different argument \d+$/);
  });

  it('replays a step whose numbers change when prepare writes them into the arrays its kernels read', () => {
    // a learning-rate schedule kept in a one-element array: the update reads it, prepare moves it on
    const run = (replayed: boolean) => {
      const w = tensor([[0.5, -0.25], [0.125, 1]]);
      const lr = new Float32Array(1);
      let step = 0;
      const schedule = () => {
        step++;
        lr[0] = 0.1 / step;
      };
      const replay = new StepReplay();
      if (!replayed) replay.disable('ordinary run');
      for (let s = 0; s < 10; s++) {
        tidy(() => replay.run([tensor([[s % 4, 1], [2, s % 3]])], {
          compute([x]) {
            const tape = new Tape();
            const loss = tape.record(() => mean(square(matmul(w, x))));
            return { outputs: [loss], carry: tape.gradient(loss, [w])[0] };
          },
          between() {},
          update(g) {
            schedule();
            w.assign(sub(w, mul(g, new Tensor(lr, []))));
          },
          prepare(advance) {
            if (advance) step++;
            lr[0] = 0.1 / step;
          },
        }));
      }
      return { w: w.data.slice(), replay, step };
    };
    const [replayed, ordinary] = [run(true), run(false)];
    expect(replayed.replay.reason).toBeNull();
    expect(replayed.replay.state).toBe('replaying');
    expect(replayed.replay.replayed).toBe(6);
    expect(replayed.step).toBe(10);
    expect(sameBits(replayed.w, ordinary.w)).toBe(true);
  });

  it('turns itself off when a replay differs from the ordinary step, and the ordinary numbers stand', () => {
    // a scale JavaScript rewrites before each update, in an array the step reuses: the
    // recordings cannot see it, the check against an ordinary step does
    const scale = new Float32Array(1);
    const update = (W: Tensor, G: Tensor, step: number) => {
      scale[0] = 0.01 * (1 + (step % 2));
      W.assign(sub(W, mul(G, new Tensor(scale, []))));
    };
    const replayed = linearLoop({ steps: 8, update });
    expect(replayed.replay.state).toBe('off');
    expect(replayed.replay.reason).toBe('a replayed step differed from the ordinary one');
    expect(replayed.replay.replayed).toBe(0);
    const ordinary = linearLoop({ steps: 8, update, off: true });
    expect(sameBits(replayed.w.data, ordinary.w.data)).toBe(true);
  });

  it('never replays a step whose JavaScript rewrites an array between two of its calls', () => {
    // one scalar array reused for two values: a replay would give both calls the last one
    const scalar = new Float32Array(1);
    const { replay } = linearLoop({
      steps: 6,
      update(W, G) {
        scalar[0] = 0.5;
        const half = mul(G, new Tensor(scalar, []));
        scalar[0] = 0.01;
        W.assign(sub(W, mul(half, new Tensor(scalar, []))));
      },
    });
    expect(replay.state).toBe('off');
    expect(replay.reason).toMatch(/^JavaScript rewrites an array between two of the step's calls \(call \d+, 'binary'\): a replay would read only its last values$/);
  });

  it('tells a write through another view of the same memory from a rewrite by JavaScript', () => {
    // a scratch array and a view of its first half: the step writes the half, then reads the whole
    const scratch = new Float32Array(8);
    const [whole, half] = [new Tensor(scratch, [8]), new Tensor(scratch.subarray(0, 4), [4])];
    const w = tensor([0.5, -0.25, 0.125, 1]);
    const run = (replayed: boolean) => {
      w.assign([0.5, -0.25, 0.125, 1]);
      scratch.fill(0);
      const replay = new StepReplay();
      if (!replayed) replay.disable('ordinary run');
      const losses: number[] = [];
      for (let s = 0; s < 8; s++) {
        tidy(() => replay.run([tensor([s % 3, 1, 2, s % 2])], {
          compute([x]) {
            const tape = new Tape();
            const loss = tape.record(() => sum(square(mul(w, x))));
            return { outputs: [loss], carry: tape.gradient(loss, [w])[0] };
          },
          between([loss]) {
            losses.push(loss.item());
          },
          update(g) {
            const previous = slice(whole, [0], [4]); // the whole array read before the half is written
            half.assign(mul(g, 0.01));
            w.assign(sub(sub(w, slice(whole, [0], [4])), mul(previous, 0.5)));
          },
        }));
      }
      return { losses, w: w.data.slice(), replay };
    };
    const [replayed, ordinary] = [run(true), run(false)];
    expect(replayed.replay.reason).toBeNull();
    expect(replayed.replay.replayed).toBe(4);
    expect(replayed.losses).toEqual(ordinary.losses);
    expect(sameBits(replayed.w, ordinary.w)).toBe(true);
  });

  it('runs an input of another shape ordinarily and goes on replaying', () => {
    const spec = { ...base, shortEvery: 7, steps: 16 };
    expect(replayedEqualsOrdinary(spec)).toBe(true);
    expect(runLoop(spec, true).replay.replayed).toBe(expectedReplays(spec));
  });

  it('skips the update when between throws, as an ordinary step would', () => {
    const w = tensor([[1, 2], [3, 4]]);
    const replay = new StepReplay();
    const step = (stop: boolean) => tidy(() => replay.run([tensor([[1, 0], [0, 1]])], {
      compute([x]) {
        const tape = new Tape();
        const loss = tape.record(() => sum(square(matmul(w, x))));
        return { outputs: [loss], carry: tape.gradient(loss, [w])[0] };
      },
      between() {
        if (stop) throw new Error('stop');
      },
      update: (g) => w.assign(sub(w, mul(g, 0.001))),
    }));
    for (let s = 0; s < 5; s++) step(false);
    expect(replay.state).toBe('replaying');
    const before = w.data.slice();
    expect(() => step(true)).toThrow('stop');
    expect(Array.from(w.data)).toEqual(Array.from(before));
    step(false);
    expect(Array.from(w.data)).not.toEqual(Array.from(before));
  });

  it('recheck: checks the recording again at the next step, and records afresh when the step changed', () => {
    let activation = relu;
    const w = tensor([[0.5, -0.25], [0.125, 1]]);
    const train = (replay: StepReplay, steps: number) => {
      const states: string[] = [];
      for (let s = 0; s < steps; s++) {
        if (s === 6) {
          activation = tanh; // what an onEpoch callback might change between epochs
          replay.recheck();
        }
        tidy(() => replay.run([tensor([[s % 4, 1], [2, s % 3]])], {
          compute([x]) {
            const tape = new Tape();
            const loss = tape.record(() => mean(square(activation(matmul(w, x)))));
            return { outputs: [loss], carry: tape.gradient(loss, [w])[0] };
          },
          between() {},
          update: (g) => w.assign(sub(w, mul(g, 0.05))),
        }));
        states.push(replay.state);
      }
      return states;
    };
    const replay = new StepReplay();
    expect(train(replay, 12)).toEqual([
      'ordinary', 'recording', 'verifying', 'replaying', 'replaying', 'replaying',
      // step 7 checks the recording made with relu against an ordinary step with tanh: it differs, so the step is recorded afresh
      'ordinary', 'ordinary', 'recording', 'verifying', 'replaying', 'replaying',
    ]);
    const replayed = w.data.slice();
    activation = relu;
    w.assign([0.5, -0.25, 0.125, 1]);
    const off = new StepReplay();
    off.disable('ordinary run');
    train(off, 12);
    expect(sameBits(replayed, w.data)).toBe(true);
    // a recheck that passes goes straight back to replaying
    const calm = new StepReplay();
    activation = relu;
    train(calm, 6);
    calm.recheck();
    expect(calm.state).toBe('verifying');
  });

  it('records afresh after reset, and stays off once off', () => {
    const replay = new StepReplay();
    replay.reset();
    expect(replay.state).toBe('ordinary');
    replay.disable('not today');
    replay.reset();
    expect(replay.state).toBe('off');
    expect(replay.reason).toBe('not today');
  });
});

describe('recordStep', () => {
  it('names its calls and the buffers it reads, and refuses a device backend', () => {
    const w = tensor([[1, 2], [3, 4]]);
    const x = tensor([[1], [1]]);
    const { trace } = tidy(() => recordStep([x], () => [add(matmul(w, x), 1)]));
    expect(trace).not.toBeNull();
    expect(trace!.calls).toBeGreaterThanOrEqual(2);
    expect(trace!.externals).toContain(w.data);
    const device = createFakeDevice('fake');
    setBackend(device);
    const refused = recordStep([x], () => [add(x, 1)]);
    expect(refused.trace).toBeNull();
    expect(refused.refusal).toBe("the backend 'fake' keeps values on its device");
  });

  it('cannot be nested', () => {
    const x = tensor([1, 2]);
    expect(() => recordStep([x], () => [recordStep([x], () => [add(x, 1)]).outputs[0]])).toThrow(ValueError);
    // and the outer recording was cleaned up: a new one works
    expect(recordStep([x], () => [add(x, 1)]).trace).not.toBeNull();
  });
});
