import { randn, registerBackend, setBackend, tensor } from '@tapegrad/core';
import { SGD, fit, mlp } from '@tapegrad/nn';
import { SPLIT_UPDATE_FROM } from '../src/backend.js';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { type LoopSpec, loopSpec, replayedEqualsOrdinary, runLoop } from '../../core/test/helpers/replay-check.js';
import { built, nativeBackend } from './native.js';

/**
 * core's StepReplay on the native backend: a replayed training loop is the ordinary one bit
 * for bit (the property core's tests check on js), here with the addon's kernels, its
 * worker thread (large updates split in two) and its float64 paths.
 */

afterEach(() => setBackend('js'));

describe.runIf(built)('a replayed training step on native', () => {
  it('property: any small MLP, batch, dtype and learning rate trains the same replayed', () => {
    registerBackend(nativeBackend());
    setBackend('native');
    fc.assert(fc.property(loopSpec, replayedEqualsOrdinary), { numRuns: 30, seed: 20261206 });
  });

  it('with layers large enough for the worker thread, over 20 steps', () => {
    registerBackend(nativeBackend());
    setBackend('native');
    const spec: LoopSpec = { sizes: [400, 200, 10], batch: 32, steps: 20, lr: 0.05, dtype: 'float32', seed: 3, shortEvery: 9, noise: true };
    expect(replayedEqualsOrdinary(spec)).toBe(true);
    expect(runLoop(spec, true).replay.replayed).toBe(14);
  });

  it("fit with SGD on a layer whose update is split across both threads: the same parameters and History", async () => {
    registerBackend(nativeBackend());
    setBackend('native');
    const x = randn([400, 96], { seed: 5 });
    const y = tensor(Array.from({ length: 10 }, (_, c) => Array.from({ length: 96 }, (_, j) => (j % 10 === c ? 1 : 0))));
    const runs = [];
    for (const replay of [true, false]) {
      const model = mlp([400, 200, 10], { output: 'softmax', seed: 9 });
      const history = await fit(model, { x, y }, { loss: 'cce', optimizer: new SGD({ lr: 0.1 }), epochs: 2, batchSize: 16, replay });
      runs.push({ losses: history.map((log) => log.loss), replayed: history.map((log) => log.replayedSteps), params: Object.values(model.parameters()).map((p) => Array.from(p.data)) });
    }
    expect(200 * 400).toBeGreaterThanOrEqual(SPLIT_UPDATE_FROM);
    expect(runs[0].replayed).toEqual([2, 6]);
    expect(runs[0].losses).toEqual(runs[1].losses);
    expect(runs[0].params).toEqual(runs[1].params);
  });
});
