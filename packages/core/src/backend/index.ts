import { ValueError } from '../errors.js';
import type { Backend, DeviceMemory } from './backend.js';
import { jsBackend } from './js.js';

export type { ArgReduceKernel, Backend, BinaryKernel, ConvGeometry, CpuBackend, DeviceMemory, ReduceKernel, UnaryKernel } from './backend.js';
export { jsBackend } from './js.js';
export { matmulEachBatch } from './batched.js';
export { type BackendKernels, type FallbackCount, type FallbackReport, type JsFallbacks, countJsFallbacks } from './fallbacks.js';

/** Options of registerBackend. */
export interface RegisterBackendOptions {
  /**
   * Rank when core picks the default: until `setBackend` is called, ops run on the
   * registered backend of highest priority (the fastest available, as each package
   * declares it: js 10, wasm 20, native 30). 0, the default, never becomes the default by
   * itself — a test double or a debugging wrapper must be chosen with `setBackend`.
   */
  priority?: number;
}

/** js's rank: faster backends register above it, wrappers and test doubles below. */
export const JS_BACKEND_PRIORITY = 10;

interface Registered {
  readonly backend: Backend;
  readonly priority: number;
  /** Registration order, so equal priorities keep the first registered. */
  readonly order: number;
}

const registry = new Map<string, Registered>([[jsBackend.name, { backend: jsBackend, priority: JS_BACKEND_PRIORITY, order: 0 }]]);
let registrations = 1;
let current: Backend = jsBackend;
/** True once the user picked a backend: later registrations then change nothing. */
let chosen = false;
/**
 * True once a backend with device memory was registered: only then can a tensor hold a
 * DeviceArray, so only then must an op on a CPU backend check that its inputs are on the CPU.
 */
let deviceRegistered = false;

/** @internal Whether a device backend was ever registered (apply()'s one test before checking inputs). */
export function deviceBackendRegistered(): boolean {
  return deviceRegistered;
}

/** Where each known backend comes from, for the error that names an unregistered one. */
const PROVIDERS: Readonly<Record<string, string>> = {
  wasm: "initWasmBackend() from '@tapegrad/backend-wasm' registers it",
  native: "initNativeBackend() from '@tapegrad/backend-native' registers it",
  webgpu: "await initWebGpuBackend() from '@tapegrad/backend-webgpu' registers it",
};

function fastestRegistered(): Backend {
  let best: Registered | undefined;
  for (const entry of registry.values()) {
    if (!best || entry.priority > best.priority || (entry.priority === best.priority && entry.order < best.order)) best = entry;
  }
  return best!.backend;
}

/**
 * Makes a backend selectable by name with {@link setBackend}. With a `priority` above js's
 * it also becomes the default, unless a backend was chosen explicitly: initialising the
 * wasm or native package is then all it takes to run every op on it.
 */
export function registerBackend(backend: Backend, options: RegisterBackendOptions = {}): void {
  if (backend.name === 'auto') throw new ValueError('registerBackend', "'auto' is reserved: setBackend('auto') returns to the fastest registered backend");
  const previous = registry.get(backend.name);
  if (backend.memory !== undefined) deviceRegistered = true;
  registry.set(backend.name, { backend, priority: options.priority ?? 0, order: previous?.order ?? registrations++ });
  if (!chosen) current = fastestRegistered();
  else if (current.name === backend.name) current = backend;
}

/**
 * Chooses the kernels every op runs from now on: by name, by object (registered on the
 * way), or 'auto' for the fastest registered backend (what runs before any choice).
 */
export function setBackend(backend: string | Backend): void {
  if (typeof backend !== 'string') {
    registerBackend(backend);
    current = backend;
    chosen = true;
    return;
  }
  if (backend === 'auto') {
    chosen = false;
    current = fastestRegistered();
    return;
  }
  const found = registry.get(backend)?.backend;
  if (!found) {
    const hint = PROVIDERS[backend] ? `; ${PROVIDERS[backend]}` : '';
    throw new ValueError('setBackend', `unknown backend '${backend}': registered are ${[...registry.keys()].join(', ')}${hint}`);
  }
  current = found;
  chosen = true;
}

/** The backend ops run on now. */
export function getBackend(): Backend {
  return current;
}

/**
 * @internal Makes `backend` the one ops run on, without registering it, and returns the one
 * it replaces: step-replay.ts records a step through a wrapper of the active backend.
 */
export function swapBackend(backend: Backend): Backend {
  const previous = current;
  current = backend;
  return previous;
}

/** Names of the registered backends, in registration order. */
export function listBackends(): string[] {
  return [...registry.keys()];
}

/**
 * @internal The memory of the registered device backend called `device` (a DeviceArray's
 * owner), for detach and assign; a ValueError naming `op` when it is gone.
 */
export function deviceMemoryOf(op: string, device: string): DeviceMemory {
  const memory = current.name === device ? current.memory : registry.get(device)?.backend.memory;
  if (memory === undefined) throw new ValueError(op, `the values live on the '${device}' device, but no registered backend of that name has device memory`);
  return memory;
}

/** @internal Whether the registered backend `name` keeps values on a device (has `memory`). */
export function isDeviceBackend(name: string): boolean {
  return registry.get(name)?.backend.memory !== undefined;
}
