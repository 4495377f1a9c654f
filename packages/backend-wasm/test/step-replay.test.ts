import { setBackend } from '@tapegrad/core';
import fc from 'fast-check';
import { afterEach, describe, it } from 'vitest';
import { loopSpec, replayedEqualsOrdinary } from '../../core/test/helpers/replay-check.js';
import { initWasmBackend } from '../src/index.js';

/** core's StepReplay on the wasm backend: a replayed training loop is the ordinary one bit for bit (the property core's tests check on js). */

afterEach(() => setBackend('js'));

describe('a replayed training step on wasm', () => {
  it('property: any small MLP, batch, dtype and learning rate trains the same replayed', () => {
    initWasmBackend();
    setBackend('wasm');
    fc.assert(fc.property(loopSpec, replayedEqualsOrdinary), { numRuns: 30, seed: 20261206 });
  });
});
