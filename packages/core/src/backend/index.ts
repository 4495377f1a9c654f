import { ValueError } from '../errors.js';
import type { Backend } from './backend.js';
import { jsBackend } from './js.js';

export type { Backend, BinaryKernel, ReduceKernel, UnaryKernel } from './backend.js';
export { jsBackend } from './js.js';

const backends = new Map<string, Backend>([[jsBackend.name, jsBackend]]);
let current: Backend = jsBackend;

/** Makes a backend selectable by name with {@link setBackend}. */
export function registerBackend(backend: Backend): void {
  backends.set(backend.name, backend);
}

/** Chooses the kernels every op runs from now on, by name or by object. */
export function setBackend(backend: string | Backend): void {
  if (typeof backend !== 'string') {
    registerBackend(backend);
    current = backend;
    return;
  }
  const found = backends.get(backend);
  if (!found) throw new ValueError('setBackend', `unknown backend '${backend}': registered are ${[...backends.keys()].join(', ')}`);
  current = found;
}

export function getBackend(): Backend {
  return current;
}

export function listBackends(): string[] {
  return [...backends.keys()];
}
