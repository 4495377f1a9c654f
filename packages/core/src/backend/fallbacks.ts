import type { Backend } from './backend.js';
import { jsBackend } from './js.js';

/** How often one kernel ran in js on a fast backend, and over how many elements in all. */
export interface FallbackCount {
  calls: number;
  /** Per call, the length of its largest array argument (the output, or the input it reduces). */
  elements: number;
}

/**
 * By kernel: 'gather', 'transpose', …, with the sub-kernel for the families that take one
 * ('reduce max', 'binary add', 'unary log', 'argReduce argmax').
 */
export type FallbackReport = Record<string, FallbackCount>;

/** The kernels of a {@link Backend}, without its name. */
export type BackendKernels = Omit<Backend, 'name'>;

/** jsBackend's kernels, each counting its calls, for a fast backend to fall back on. */
export interface JsFallbacks {
  /** jsBackend's kernels, each adding one call (and its elements) to the report, then running js's. */
  readonly js: BackendKernels;
  /** A copy of the counts since creation or the last {@link JsFallbacks.reset}. */
  report(): FallbackReport;
  /** Sets the counts back to zero. */
  reset(): void;
}

function largestArray(args: readonly unknown[]): number {
  let largest = 0;
  for (const a of args) if (ArrayBuffer.isView(a)) largest = Math.max(largest, (a as unknown as ArrayLike<number>).length);
  return largest;
}

/**
 * Counters for the calls a fast backend hands to jsBackend, so a benchmark can say which
 * kernels did not run fast. The count is taken in the fallback only (one map update per
 * js call); the fast kernels pay nothing.
 */
export function countJsFallbacks(): JsFallbacks {
  let counts = new Map<string, FallbackCount>();
  const js: Record<string, unknown> = {};
  for (const [key, kernel] of Object.entries(jsBackend)) {
    if (typeof kernel !== 'function') continue;
    const run = kernel as (...args: unknown[]) => void;
    js[key] = (...args: unknown[]): void => {
      const name = typeof args[0] === 'string' ? `${key} ${args[0]}` : key;
      const entry = counts.get(name);
      const elements = largestArray(args);
      if (entry) {
        entry.calls++;
        entry.elements += elements;
      } else counts.set(name, { calls: 1, elements });
      run.apply(jsBackend, args);
    };
  }
  return {
    js: js as unknown as BackendKernels,
    report: () => Object.fromEntries([...counts].map(([name, c]) => [name, { ...c }])),
    reset: () => {
      counts = new Map();
    },
  };
}
