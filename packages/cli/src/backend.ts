import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Backend, getBackend, listBackends, matmul, ones, setBackend } from '@tapegrad/core';
import { UsageError, firstLine } from './errors.js';

export type BackendChoice = 'js' | 'wasm' | 'auto';
export const BACKEND_CHOICES: readonly BackendChoice[] = ['js', 'wasm', 'auto'];

export const WASM_PACKAGE = '@tapegrad/backend-wasm';

export interface SelectedBackend {
  /** The backend the run uses, e.g. 'js' or 'wasm'. */
  name: string;
  /** One line for the user: which backend runs and, for auto, why. */
  message: string;
}

function isBackend(value: unknown): value is Backend {
  return typeof value === 'object' && value !== null
    && typeof (value as Backend).name === 'string' && typeof (value as Backend).matmul === 'function';
}

/**
 * The wasm package is optional: it is not a dependency of this package, so it is looked up
 * at run time, first by name (installed next to the CLI, or linked into its node_modules),
 * then as the sibling package's build in this monorepo (packages/backend-wasm/dist).
 * The specifier is a variable so that neither the bundler nor the type checker insists on
 * a package that may not exist.
 */
async function importWasmPackage(): Promise<Record<string, unknown>> {
  const specifier: string = WASM_PACKAGE;
  try {
    return (await import(specifier)) as Record<string, unknown>;
  } catch (error) {
    const sibling = new URL('../../backend-wasm/dist/index.js', import.meta.url);
    if (existsSync(fileURLToPath(sibling))) return (await import(sibling.href)) as Record<string, unknown>;
    throw error;
  }
}

/**
 * Finds and initialises the backend a module offers. The contract, in the order tried: an
 * async factory (`initWasmBackend`, the package's documented entry point, then
 * `createWasmBackend`, `loadWasmBackend`, `createBackend`, `init`) resolving to a Backend; a Backend object (`wasmBackend`, `backend`, default
 * export); or a factory that registered a backend named 'wasm' with core's registerBackend.
 */
async function backendFromModule(module: Record<string, unknown>): Promise<Backend | string> {
  const exports = { ...(typeof module.default === 'object' && module.default !== null ? (module.default as Record<string, unknown>) : {}), ...module };
  for (const name of ['initWasmBackend', 'createWasmBackend', 'loadWasmBackend', 'createBackend', 'init']) {
    const factory = exports[name];
    if (typeof factory !== 'function') continue;
    const made: unknown = await (factory as () => unknown)();
    if (isBackend(made)) return made;
    if (listBackends().includes('wasm')) return 'wasm';
  }
  for (const name of ['wasmBackend', 'backend', 'default']) {
    if (isBackend(exports[name])) return exports[name] as Backend;
  }
  if (listBackends().includes('wasm')) return 'wasm';
  throw new Error(`${WASM_PACKAGE} exports no backend (expected an init function such as createWasmBackend() or a Backend object named wasmBackend)`);
}

/** A 2×3 · 3×2 product of ones must be all 3s: catches a backend that loads but computes garbage. */
function selfTest(): void {
  const product = matmul(ones([2, 3]), ones([3, 2])).toFlatArray();
  if (product.length !== 4 || product.some((v) => v !== 3)) throw new Error(`self-test failed: ones(2,3)·ones(3,2) gave [${product.join(', ')}]`);
}

async function loadWasm(): Promise<{ name: string; detail: string }> {
  const previous = getBackend();
  const backend = await backendFromModule(await importWasmPackage());
  setBackend(backend);
  try {
    selfTest();
  } catch (error) {
    setBackend(previous);
    throw error;
  }
  // the package says which build it compiled (relaxed SIMD or plain SIMD), when it says
  const variant = (getBackend() as Backend & { variant?: unknown }).variant;
  return { name: getBackend().name, detail: typeof variant === 'string' ? `${WASM_PACKAGE}, ${variant}` : WASM_PACKAGE };
}

/**
 * Switches core to the chosen backend. 'auto' tries the wasm backend and falls back to js
 * when it cannot be imported or initialised; 'wasm' insists (a UsageError if unavailable).
 */
export async function selectBackend(choice: BackendChoice): Promise<SelectedBackend> {
  if (choice === 'js') {
    setBackend('js');
    return { name: 'js', message: 'backend: js' };
  }
  try {
    const { name, detail } = await loadWasm();
    return { name, message: `backend: ${name} (${detail})` };
  } catch (error) {
    const reason = firstLine(error instanceof Error ? error.message : String(error));
    if (choice === 'wasm') throw new UsageError(`--backend wasm: ${WASM_PACKAGE} is not available: ${reason}`);
    setBackend('js');
    return { name: 'js', message: `backend: js (auto: ${WASM_PACKAGE} not available: ${reason})` };
  }
}
