/**
 * Bytes a training step allocates, in steady state. The requirement is that a step
 * does not allocate fresh buffers for every intermediate, so what matters is allocation, not
 * the live heap: a step's garbage is gone by the next sample whenever a collection ran.
 *
 * Node 20's V8 exposes no running total of bytes allocated, so each measured step is
 * bracketed instead: a full collection first (gc() through --expose-gc, set at run time),
 * then the step, with V8's GCProfiler watching. In a step during which no collection ran,
 * nothing was freed, so the growth of `heapUsed` (JS objects: tape nodes, Tensor objects,
 * typed arrays small enough to live on the heap) plus the growth of `arrayBuffers` (the
 * backing stores of typed arrays, outside the JS heap) is exactly what the step allocated
 * and still held at its end — every buffer it created, since nothing could be collected.
 * Steps during which V8 collected anyway are dropped (and counted); the figure is the median
 * of the rest. Not timed, and run after the timed epochs and the evaluation, so it changes
 * no reported time or accuracy.
 */
import { GCProfiler, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export interface Allocation {
  /** Median over the clean steps of (JS heap + ArrayBuffer) growth: bytes allocated per step. */
  bytesPerStep: number;
  /** The two parts of that step (the median step's). */
  jsHeapBytes: number;
  arrayBufferBytes: number;
  /** Steps measured without a collection during them, and steps dropped because V8 collected. */
  steps: number;
  stepsWithGc: number;
}

let collect: (() => void) | null = null;

function fullGc(): void {
  if (!collect) {
    setFlagsFromString('--expose-gc');
    collect = runInNewContext('gc') as () => void;
  }
  collect();
}

/** Measures `step` on each of `batches` in turn (after `warmup` unmeasured steps); null if every step saw a collection. */
export async function measureAllocation(
  step: (indices: Int32Array) => void | Promise<void>, batches: Int32Array[], warmup: number,
): Promise<Allocation | null> {
  // warm-up under the measurement's own conditions, a full GC before each step: with only
  // 3 plain warm-up steps, the first ≈ 6 measured T1 steps each showed ≈ 800 KB more young-
  // generation heap than the rest (the size of the batch's 50,000 floats boxed as heap
  // numbers: code V8 deoptimised after the evaluation's other shapes or the forced
  // collections, running unoptimised until re-optimised). That is the JIT warming up, not
  // the step's steady state; 20 steps like this one settle it (T1: every step ≈ 105 KB).
  for (let i = 0; i < warmup; i++) {
    fullGc();
    await step(batches[i % batches.length]);
  }
  const clean: Array<{ heap: number; buffers: number }> = [];
  let stepsWithGc = 0;
  for (const indices of batches) {
    fullGc();
    const profiler = new GCProfiler();
    const before = process.memoryUsage();
    profiler.start();
    const pending = step(indices);
    if (pending) await pending;
    const after = process.memoryUsage();
    const collections = profiler.stop()?.statistics.length ?? 0;
    if (collections > 0) {
      stepsWithGc++;
      continue;
    }
    clean.push({ heap: after.heapUsed - before.heapUsed, buffers: after.arrayBuffers - before.arrayBuffers });
  }
  if (clean.length === 0) return null;
  const sorted = clean.map((c) => ({ ...c, total: c.heap + c.buffers })).sort((a, b) => a.total - b.total);
  const mid = sorted[sorted.length >> 1];
  return { bytesPerStep: mid.total, jsHeapBytes: mid.heap, arrayBufferBytes: mid.buffers, steps: clean.length, stepsWithGc };
}
