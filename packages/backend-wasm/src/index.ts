/**
 * @tapegrad/backend-wasm: float32 kernels in WebAssembly SIMD behind core's Backend seam.
 *
 * Importing this module does nothing but define functions: no compilation, no V8 flag, no
 * registration. `initWasmBackend()` (or `await initWasmBackendAsync()` on a browser's main
 * thread) does all three, once, and — unless the program chose a backend with setBackend —
 * makes 'wasm' the default, since it ranks above js (priority 20 vs 10):
 *
 *   import { initWasmBackend } from '@tapegrad/backend-wasm';
 *   initWasmBackend();     // compiles, registers 'wasm'; every op runs on it from now on
 *
 * @module @tapegrad/backend-wasm
 */
import { registerBackend } from '@tapegrad/core';
import { type WasmBackend, type WasmBackendOptions, createWasmBackend, createWasmBackendAsync } from './backend.js';

export {
  type WasmBackend, type WasmBackendOptions, type WasmVariant,
  DEFAULT_THREAD_THRESHOLD, createWasmBackend, createWasmBackendAsync, enableRelaxedSimd, relaxedSimdSupported, simdSupported,
} from './backend.js';

let registered: WasmBackend | undefined;
let pending: Promise<WasmBackend> | undefined;

/** Where 'wasm' ranks when core picks its default backend: above js (10), below native (30). */
export const WASM_BACKEND_PRIORITY = 20;

/**
 * Compiles the best build this engine runs (relaxed SIMD if it can be enabled, else plain
 * SIMD), registers it with core as 'wasm' and returns it; `backend.variant` says which build
 * was chosen. Later calls return the same backend. Registering makes it core's default
 * (the fastest registered backend) unless the program already chose one with setBackend;
 * `setBackend('js')` or `setBackend('wasm')` choose explicitly.
 *
 * In Node this sets V8's process-wide --experimental-wasm-relaxed-simd flag (pass
 * `{ variant: 'simd' }` to leave V8's flags alone).
 */
export function initWasmBackend(options: Omit<WasmBackendOptions, 'name'> = {}): WasmBackend {
  if (!registered) {
    registered = createWasmBackend(options);
    registerBackend(registered, { priority: WASM_BACKEND_PRIORITY });
  }
  return registered;
}

/** The same as {@link initWasmBackend}: compiles (once) and registers 'wasm'. */
export const registerWasmBackend = initWasmBackend;

/**
 * {@link initWasmBackend} compiling asynchronously, for a browser's main thread, where
 * engines may refuse to compile synchronously (see {@link createWasmBackend}).
 */
export function initWasmBackendAsync(options: Omit<WasmBackendOptions, 'name'> = {}): Promise<WasmBackend> {
  if (registered) return Promise.resolve(registered);
  pending ??= createWasmBackendAsync(options).then((backend) => {
    // a synchronous init may have won the race meanwhile: keep the one registered first
    if (!registered) {
      registered = backend;
      registerBackend(backend, { priority: WASM_BACKEND_PRIORITY });
    }
    return registered;
  }, (error: unknown) => {
    pending = undefined;
    throw error;
  });
  return pending;
}
