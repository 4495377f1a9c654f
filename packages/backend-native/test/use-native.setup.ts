/**
 * A vitest setup file that runs any test file on the native backend: it registers the addon
 * and selects it before the file's tests (files that choose a backend themselves still do).
 * For measuring what native buys the float64-heavy suites (gradcheck, checkBackprop, the
 * property tests), e.g.
 *
 *   npx vitest run --config packages/backend-native/vitest.native.config.ts test/backprop.property.test.ts
 */
import { setBackend } from '@tapegrad/core';
import { initNativeBackend } from '../src/index.js';

initNativeBackend();
setBackend('native');
