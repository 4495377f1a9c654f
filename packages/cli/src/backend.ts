import { type Backend, getBackend, matmul, ones, setBackend } from '@tapegrad/core';
import { initNativeBackend, nativeUnavailableReason } from '@tapegrad/backend-native';
import { initWasmBackend } from '@tapegrad/backend-wasm';
import { initWebGpuBackend } from '@tapegrad/backend-webgpu';
import { UsageError, firstLine } from './errors.js';

export type BackendChoice = 'js' | 'wasm' | 'native' | 'auto' | 'webgpu';
export const BACKEND_CHOICES: readonly BackendChoice[] = ['js', 'wasm', 'native', 'auto'];
/**
 * `train`, `evaluate` and `predict` also run on a GPU (nn's fitAsync, evaluateAsync and
 * predictAsync: values read back asynchronously); graph, gradcheck and conformance are CPU-only.
 */
export const GPU_BACKEND_CHOICES: readonly BackendChoice[] = [...BACKEND_CHOICES, 'webgpu'];

export const WASM_PACKAGE = '@tapegrad/backend-wasm';
export const NATIVE_PACKAGE = '@tapegrad/backend-native';
export const WEBGPU_PACKAGE = '@tapegrad/backend-webgpu';

export interface SelectedBackend {
  /** The backend the run uses: 'js', 'wasm' or 'native'. */
  name: string;
  /** One line for the user: which backend runs and, for auto, why not a faster one. */
  message: string;
}

/** A backend that loaded, with what to say about it; or why it could not. */
type Candidate = { backend: Backend; detail: string } | { backend?: undefined; reason: string };

/** A 2×3 · 3×2 product of ones must be all 3s: catches a backend that loads but computes garbage. */
function selfTest(backend: Backend): void {
  const previous = getBackend();
  setBackend(backend);
  try {
    const product = matmul(ones([2, 3]), ones([3, 2])).toFlatArray();
    if (product.length !== 4 || product.some((v) => v !== 3)) throw new Error(`self-test failed: ones(2,3)·ones(3,2) gave [${product.join(', ')}]`);
  } finally {
    setBackend(previous);
  }
}

function attempt(load: () => Candidate): Candidate {
  try {
    const candidate = load();
    if (candidate.backend) selfTest(candidate.backend);
    return candidate;
  } catch (error) {
    return { reason: firstLine(error instanceof Error ? error.message : String(error)) };
  }
}

/** The C++ addon, if its install-time build succeeded (it never fails the install). */
function native(): Candidate {
  return attempt(() => {
    const backend = initNativeBackend();
    if (!backend) return { reason: nativeUnavailableReason() ?? 'the addon did not load' };
    return { backend, detail: `${NATIVE_PACKAGE}, ${backend.kernel}, ${backend.threads} thread${backend.threads === 1 ? '' : 's'}` };
  });
}

/** WebAssembly SIMD: needs nothing but the engine. */
function wasm(): Candidate {
  return attempt(() => {
    const backend = initWasmBackend();
    return { backend, detail: `${WASM_PACKAGE}, ${backend.variant}, ${backend.threads} thread${backend.threads === 1 ? '' : 's'}` };
  });
}

function use(candidate: { backend: Backend; detail: string }, note = ''): SelectedBackend {
  setBackend(candidate.backend);
  return { name: candidate.backend.name, message: `backend: ${candidate.backend.name} (${candidate.detail}${note})` };
}

/**
 * Switches core to the chosen backend. 'auto' takes the fastest that loads and passes the
 * self-test — native (C++ addon), then wasm, then js — and says why it skipped a faster
 * one; naming 'native' or 'wasm' insists (a UsageError if it is unavailable).
 */
export async function selectBackend(choice: BackendChoice): Promise<SelectedBackend> {
  if (choice === 'webgpu') return webgpu();
  if (choice === 'js') {
    setBackend('js');
    return { name: 'js', message: 'backend: js' };
  }
  if (choice === 'native' || choice === 'wasm') {
    const candidate = choice === 'native' ? native() : wasm();
    if (!candidate.backend) throw new UsageError(`--backend ${choice}: ${choice === 'native' ? NATIVE_PACKAGE : WASM_PACKAGE} is not available: ${candidate.reason}`);
    return use(candidate);
  }
  const fastest = native();
  if (fastest.backend) return use(fastest);
  const next = wasm();
  if (next.backend) return use(next, `; auto: native unavailable: ${fastest.reason}`);
  setBackend('js');
  return { name: 'js', message: `backend: js (auto: native unavailable: ${fastest.reason}; wasm unavailable: ${next.reason})` };
}

/**
 * WebGPU: a GPU through Dawn (Node's `webgpu` package). Never chosen by 'auto' (its reads are
 * asynchronous, so only `train` runs on it); the self-test reads its product asynchronously.
 */
async function webgpu(): Promise<SelectedBackend> {
  let backend: Awaited<ReturnType<typeof initWebGpuBackend>>;
  try {
    backend = await initWebGpuBackend();
    setBackend(backend);
    const product = await matmul(ones([2, 3]), ones([3, 2])).toFlatArrayAsync();
    if (product.length !== 4 || product.some((v) => v !== 3)) throw new Error(`self-test failed: ones(2,3)·ones(3,2) gave [${product.join(', ')}]`);
  } catch (error) {
    throw new UsageError(`--backend webgpu: ${WEBGPU_PACKAGE} is not available: ${firstLine(error instanceof Error ? error.message : String(error))}`);
  }
  const adapter = backend.adapter.swiftShader
    ? 'SwiftShader, a CPU driver: right answers, no GPU speed'
    : [backend.adapter.vendor, backend.adapter.description || backend.adapter.device].filter(Boolean).join(' ');
  return { name: 'webgpu', message: `backend: webgpu (${WEBGPU_PACKAGE}, ${adapter})` };
}

/**
 * The fastest CPU backend that loads, made current without a message: where a GPU run's
 * trained model is copied for the figures, the report and the model file.
 */
export async function selectCpuBackend(): Promise<string> {
  return (await selectBackend('auto')).name;
}
