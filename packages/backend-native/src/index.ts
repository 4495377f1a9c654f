/**
 * @tapegrad/backend-native: float32 kernels in C++ (AVX2 + FMA where the CPU has them) behind
 * core's Backend seam, as a Node-API addon built from source at install by node-gyp.
 *
 * Importing this module does nothing but define functions. `initNativeBackend()` loads the
 * addon, registers it with core as 'native' (priority 30: above wasm's 20 and js's 10, so
 * it becomes the default unless the program chose a backend) and returns it — or returns
 * undefined when the addon was not built here, and `nativeUnavailableReason()` says why:
 *
 *   import { initWasmBackend } from '@tapegrad/backend-wasm';
 *   import { initNativeBackendOrWarn } from '@tapegrad/backend-native';
 *   initWasmBackend();
 *   initNativeBackendOrWarn(); // native when built, else one warning and wasm stays the default
 *
 * @module @tapegrad/backend-native
 */
import { getBackend, registerBackend } from '@tapegrad/core';
import { DEFAULT_ADDON_PATH, loadAddon } from './addon.js';
import { type NativeBackend, type NativeBackendOptions, wrapAddon } from './backend.js';

export type { NativeFeatures, ThreadStats } from './addon.js';
export { DEFAULT_ADDON_PATH } from './addon.js';
export { AVX512_THREAD_THRESHOLD, DEFAULT_THREAD_THRESHOLD, FLOAT64_NATIVE_FROM, FLOAT64_NATIVE_REDUCE_FROM, SPLIT_UPDATE_FROM, type NativeBackend, type NativeBackendOptions } from './backend.js';

/** Where 'native' ranks when core picks its default backend: above wasm (20) and js (10). */
export const NATIVE_BACKEND_PRIORITY = 30;

/** Options of initNativeBackend: the backend's, and which addon file to load. */
export interface LoadNativeOptions extends NativeBackendOptions {
  /** The .node file to load (default: build/Release/tapegrad_native.node in this package). */
  addonPath?: string;
}

/** The backend, or why there is none: the addon was not built, or failed to load. */
export type NativeLoadResult = { backend: NativeBackend; reason?: undefined } | { backend?: undefined; reason: string };

/**
 * Loads the addon (synchronously, once per path) and wraps it as a backend, without
 * registering it. Never throws: a missing or broken addon comes back as `{ reason }`.
 */
export function loadNativeBackend(options: LoadNativeOptions = {}): NativeLoadResult {
  const { addonPath, ...backendOptions } = options;
  const loaded = loadAddon(addonPath ?? DEFAULT_ADDON_PATH);
  if (!loaded.addon) return { reason: loaded.reason };
  try {
    return { backend: wrapAddon(loaded.addon, backendOptions) };
  } catch (error) {
    return { reason: `the addon loaded but failed to start: ${(error as Error).message}` };
  }
}

let registered: NativeBackend | undefined;
let unavailable: string | undefined;
let warned = false;

/**
 * Loads the addon, registers it with core as 'native' (priority {@link NATIVE_BACKEND_PRIORITY}:
 * it becomes the default unless the program already chose a backend with setBackend) and
 * returns it; later calls return the same backend. Returns undefined when the addon is
 * unavailable: {@link nativeUnavailableReason} then says why.
 */
export function initNativeBackend(options: Omit<LoadNativeOptions, 'name'> = {}): NativeBackend | undefined {
  if (registered) return registered;
  const result = loadNativeBackend(options);
  if (!result.backend) {
    unavailable = result.reason;
    return undefined;
  }
  registered = result.backend;
  unavailable = undefined;
  registerBackend(registered, { priority: NATIVE_BACKEND_PRIORITY });
  return registered;
}

/** The same as {@link initNativeBackend}. */
export const registerNativeBackend = initNativeBackend;

/** Why the last {@link initNativeBackend} found no addon; undefined if it did (or was not called). */
export function nativeUnavailableReason(): string | undefined {
  return unavailable;
}

/**
 * {@link initNativeBackend}, and when the addon is unavailable, one warning (the first time
 * only, per process): "tapegrad: native backend unavailable (why); using <the backend ops
 * run on now>". `warn` receives the line (default: console.warn).
 */
export function initNativeBackendOrWarn(options: Omit<LoadNativeOptions, 'name'> & { warn?: (line: string) => void } = {}): NativeBackend | undefined {
  const { warn = console.warn, ...rest } = options;
  const backend = initNativeBackend(rest);
  if (!backend && !warned) {
    warned = true;
    warn(`tapegrad: native backend unavailable (${unavailable}); using ${getBackend().name}`);
  }
  return backend;
}

/**
 * The machine's FMA peak in GFLOP/s over `threads` cores, float32 or float64 (see
 * {@link NativeBackend.fmaPeakGflops}); undefined when the addon is unavailable.
 */
export function fmaPeakGflops(threads = 1, seconds = 0.05, dtype: 'float32' | 'float64' = 'float32'): number | undefined {
  return loadNativeBackend().backend?.fmaPeakGflops(threads, seconds, dtype);
}
