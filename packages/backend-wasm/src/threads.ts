/**
 * Two-thread float32 matmul in Node: one worker_threads worker instantiates the same
 * *Threads build on the same shared WebAssembly.Memory as the main thread; a matmul above
 * the threshold is split in two halves of C (rows, or columns when C is wider than tall),
 * the worker computes one and the main thread the other, each packing into its own scratch.
 * Dispatch goes through a small control block of shared Int32s with Atomics.wait/notify —
 * no postMessage per call. The worker is started lazily (first split matmul), warms its
 * kernel up once (V8 starts wasm in Liftoff), and is unref()'ed, so it never keeps a
 * process alive; it sleeps in Atomics.wait between calls.
 *
 * Where any piece is missing (no worker_threads, no SharedArrayBuffer or shared wasm
 * memory — browsers without cross-origin isolation —, one core only), or the worker fails
 * to start, everything runs on the calling thread, silently.
 */
import { wasmApi, type WasmMemory } from './wasm-api.js';

// Control block: Int32 slots, then the job's arguments as float64 (byte offsets may pass 2³¹).
// A job is C cut into `chunks` blocks of rows (or columns); both threads claim blocks from
// NEXT (compare-and-swap) until none are left, so a thread the OS does not schedule (a busy
// neighbour on the other core) delays nothing: the other takes its share.
const SEQ = 0; // the current job's tag (1..65535), bumped by the main thread per job
const READY = 1; // 0 starting, 1 warmed up and waiting, -1 failed
const NEXT = 2; // tag << 16 | the next unclaimed block of that job
const FINISHED = 3; // blocks the worker has finished in the current job
const FAILED = 4; // bit i: the worker's kernel threw on block i (a bug): the main thread redoes it
const DONE = 5; // bit i: the worker finished block i of the current job
const CRASH = 6; // tests only: 1 makes the worker exit while holding its next claimed block
const ARGS_AT = 64;
// a, b, c, m, k, n, transA, transB, worker scratch, cut (CUT_*), rows/columns/products per
// block, blocks, and for a batch: its A and B offset arrays (pointers) and product count
const ARGS = 15;
const CUT_COLUMNS = 0;
const CUT_ROWS = 1;
const CUT_PRODUCTS = 2; // a batch (matmulBatch): each block is whole products

/**
 * Worker source, run with `eval: true`: no file to locate, in a bundle or not. It reaches
 * worker_threads through process.getBuiltinModule, not require(): an eval'ed worker runs as
 * an ES module when the process was started with --input-type=module.
 */
const workerSource = `
const { workerData } = process.getBuiltinModule('node:worker_threads');
const { module, memory, control, warm } = workerData;
const ctl = new Int32Array(control, 0, 8);
const args = new Float64Array(control, ${ARGS_AT}, ${ARGS});
let kernel, batchKernel;
try {
  const exports = new WebAssembly.Instance(module, { env: { memory } }).exports;
  kernel = exports.matmulBlock;
  batchKernel = exports.matmulBatch;
  // a worker that ends (an uncaught error, process.exit) says so, and wakes a caller waiting
  // for its blocks: that caller then computes them itself instead of waiting forever
  process.on('exit', () => {
    Atomics.store(ctl, ${READY}, -1);
    Atomics.notify(ctl, ${READY});
    Atomics.add(ctl, ${FINISHED}, 0x10000);
    Atomics.notify(ctl, ${FINISHED});
  });
  // warm-up on the worker's own region: V8 runs new code in Liftoff and tiers up once hot
  for (let i = 0; i < 40; i++) kernel(warm.a, warm.b, warm.c, 64, 256, 64, 0, 0, warm.scratch, 0, 64, 0, 64);
  Atomics.store(ctl, ${READY}, 1);
} catch (error) {
  Atomics.store(ctl, ${READY}, -1);
}
Atomics.notify(ctl, ${READY});
if (Atomics.load(ctl, ${READY}) === 1) {
  let seen = 0;
  for (;;) {
    Atomics.wait(ctl, ${SEQ}, seen);
    seen = Atomics.load(ctl, ${SEQ});
    for (;;) {
      const v = Atomics.load(ctl, ${NEXT});
      const block = v & 0xffff;
      // another job's tag (this one is over, or a newer one started: SEQ tells), or none left
      if ((v >>> 16) !== seen || block >= args[11]) break;
      // the arguments are stable while the job has unclaimed blocks: read, then claim
      const m = args[3], n = args[5], step = args[10], lo = block * step, cut = args[9];
      const hi = Math.min(cut === ${CUT_PRODUCTS} ? args[14] : cut === ${CUT_ROWS} ? m : n, lo + step);
      const a = args[0], b = args[1], c = args[2], k = args[4], tA = args[6], tB = args[7], scratch = args[8];
      if (Atomics.compareExchange(ctl, ${NEXT}, v, v + 1) !== v) continue;
      const crash = Atomics.load(ctl, ${CRASH});
      if (crash === 1) process.exit(1);
      if (crash === 2) Atomics.wait(ctl, ${CRASH}, 2); // hangs: killed without running any code
      try {
        if (cut === ${CUT_PRODUCTS}) batchKernel(a, b, c, m, k, n, tA, tB, scratch, args[12], args[13], lo, hi);
        else if (cut === ${CUT_ROWS}) kernel(a, b, c, m, k, n, tA, tB, scratch, lo, hi, 0, n);
        else kernel(a, b, c, m, k, n, tA, tB, scratch, 0, m, lo, hi);
      } catch (error) {
        Atomics.or(ctl, ${FAILED}, 1 << block);
      }
      Atomics.or(ctl, ${DONE}, 1 << block);
      Atomics.add(ctl, ${FINISHED}, 1);
      Atomics.notify(ctl, ${FINISHED});
    }
  }
}
`;

/**
 * How long the calling thread waits for the worker's next finished block before it decides
 * the worker is gone (killed without running its exit handler) and computes the rest
 * itself. Far above any block's time (a 1024³ block takes ≈ 10 ms), so a busy machine that
 * merely delays the worker never trips it.
 */
export const DEFAULT_WORKER_STALL_MS = 30_000;

/** Bytes of the worker's warm-up operands (64×256 · 256×64), placed after its scratch. */
export const WARM_BYTES = (64 * 256 + 256 * 64 + 64 * 64) * 4;

interface NodeWorker {
  unref(): void;
  terminate(): Promise<number>;
  on(event: 'error' | 'exit', listener: () => void): void;
}

interface WorkerThreads {
  Worker: new (source: string, options: { eval: true; workerData: unknown; name?: string }) => NodeWorker;
}

function nodeBuiltin<T>(id: string): T | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  try {
    return typeof proc?.getBuiltinModule === 'function' ? (proc.getBuiltinModule(id) as T | undefined) : undefined;
  } catch {
    return undefined;
  }
}

/** Most pages a wasm32 memory can have (4 GiB); the *Threads builds declare this maximum. */
const MAX_PAGES = 65536;

/**
 * A shared memory of `initialBytes`, if everything the two-thread mode needs is there:
 * worker_threads, SharedArrayBuffer and Atomics, shared WebAssembly memories, two or more
 * cores. Undefined otherwise: the caller then takes the single-thread builds.
 */
export function sharedMemoryForThreads(initialBytes: number): WasmMemory | undefined {
  if (typeof SharedArrayBuffer !== 'function' || typeof Atomics !== 'object' || typeof Atomics.wait !== 'function') return undefined;
  // Node only: other runtimes' worker_threads emulations (Bun, Deno) are untested here
  const g = globalThis as { process?: { versions?: Record<string, string | undefined> }; Deno?: unknown };
  if (typeof g.process?.versions?.node !== 'string' || g.process.versions.bun !== undefined || g.Deno !== undefined) return undefined;
  const threads = nodeBuiltin<WorkerThreads>('node:worker_threads');
  if (typeof threads?.Worker !== 'function') return undefined;
  const os = nodeBuiltin<{ availableParallelism?: () => number; cpus(): unknown[] }>('node:os');
  const cores = os ? (os.availableParallelism?.() ?? os.cpus().length) : 1;
  if (cores < 2 || !wasmApi?.Memory) return undefined;
  try {
    const memory = new wasmApi.Memory({ initial: Math.ceil(initialBytes / 65536), maximum: MAX_PAGES, shared: true });
    return memory.buffer instanceof SharedArrayBuffer ? memory : undefined;
  } catch {
    return undefined;
  }
}

/** The worker half of the two-thread mode; the main thread's half is the caller's. */
/** The kernel's signature: C[i0:i1, j0:j1] of op(A)·op(B) (matmulBlock in assembly/index.ts). */
export type BlockKernel = (a: number, b: number, c: number, m: number, k: number, n: number, transA: number, transB: number,
  scratch: number, i0: number, i1: number, j0: number, j1: number) => void;

/** Products [first, last) of a batch (matmulBatch in assembly/index.ts). */
export type BatchKernel = (a: number, b: number, c: number, m: number, k: number, n: number, transA: number, transB: number,
  scratch: number, aOffsets: number, bOffsets: number, first: number, last: number) => void;

/** A batch split by whole products: pointers to its i32 offset arrays in the shared memory. */
export interface BatchCut {
  aOffsets: number;
  bOffsets: number;
  count: number;
  kernel: BatchKernel;
}

const workers = new WeakMap<object, MatmulWorker>();

/** Links a backend to its worker, for tests that make the worker fail ({@link workerOf}). */
export function attachWorker(backend: object, worker: MatmulWorker): void {
  workers.set(backend, worker);
}

/** The worker of a backend created with threads, if it has one (tests only). */
export function workerOf(backend: object): MatmulWorker | undefined {
  return workers.get(backend);
}

/** The worker of the two-thread mode, and the main thread's side of each job. */
export class MatmulWorker {
  private readonly control = new SharedArrayBuffer(ARGS_AT + ARGS * 8);
  private readonly ctl = new Int32Array(this.control, 0, 8);
  private readonly args = new Float64Array(this.control, ARGS_AT, ARGS);
  private worker: NodeWorker | undefined;
  private state: 'idle' | 'ready' | 'failed' = 'idle';
  private seq = 0;
  private failNext = 0;

  /**
   * @param module the compiled *Threads build (the worker reuses its compiled code)
   * @param memory the shared memory both threads run on
   * @param scratch the worker's own matmul scratch (matmulScratchBytes() bytes)
   * @param warm WARM_BYTES for its warm-up operands. Nothing else may use either region.
   */
  /** How long to wait for the worker's next block before giving up on it (see DEFAULT_WORKER_STALL_MS). */
  stallMs = DEFAULT_WORKER_STALL_MS;

  constructor(private readonly module: object, private readonly memory: WasmMemory, private readonly scratch: number, private readonly warm: number) {}

  /** False once the worker failed to start: the backend then stays on one thread. */
  get usable(): boolean {
    return this.state !== 'failed';
  }

  /**
   * Tests only: the worker exits ('exit') or hangs for good ('hang') as soon as it has
   * claimed a block of the next job.
   */
  failOnNextBlock(how: 'exit' | 'hang'): void {
    this.failNext = how === 'exit' ? 1 : 2;
  }

  /** Gives up on the worker for good: every later product runs on the calling thread. */
  private retire(): void {
    this.state = 'failed';
    void this.worker?.terminate();
  }

  /** Starts the worker if needed and waits (once) for its warm-up; false if it cannot run. */
  private ready(): boolean {
    if (this.state !== 'idle') return this.state === 'ready';
    const threads = nodeBuiltin<WorkerThreads>('node:worker_threads');
    const a = this.warm, b = a + 64 * 256 * 4, c = b + 256 * 64 * 4;
    try {
      this.worker = new threads!.Worker(workerSource, {
        eval: true,
        name: 'tapegrad-wasm-matmul',
        workerData: { module: this.module, memory: this.memory, control: this.control, warm: { a, b, c, scratch: this.scratch } },
      });
      this.worker.unref();
      this.worker.on('error', () => {
        this.state = 'failed';
      });
      this.worker.on('exit', () => {
        this.state = 'failed';
      });
    } catch {
      this.state = 'failed';
      return false;
    }
    // the worker boots on its own thread: blocking here once (~50–100 ms) is fine; if it
    // never reports (it cannot start at all), the backend stays on one thread after 10 s
    Atomics.wait(this.ctl, READY, 0, 10_000);
    if (Atomics.load(this.ctl, READY) !== 1) {
      this.state = 'failed';
      void this.worker.terminate();
      return false;
    }
    this.state = 'ready';
    return true;
  }

  /**
   * Computes C = op(A)·op(B) (operands already in the shared memory) on both threads: C is
   * cut into `blocks` (≤ 32) blocks of `step` rows (or columns if !byRows; the last may be
   * shorter) that the two threads claim in turn; with `batch`, C is a batch of products and
   * a block is `step` whole products. Returns false, having run nothing, if the worker
   * cannot run: the caller then computes the product itself.
   */
  run(a: number, b: number, c: number, m: number, k: number, n: number, tA: number, tB: number,
    byRows: boolean, step: number, blocks: number, kernel: BlockKernel, mainScratch: number, batch?: BatchCut): boolean {
    if (!this.ready()) return false;
    const x = this.args, ctl = this.ctl;
    x[0] = a; x[1] = b; x[2] = c; x[3] = m; x[4] = k; x[5] = n; x[6] = tA; x[7] = tB;
    x[8] = this.scratch; x[9] = batch ? CUT_PRODUCTS : byRows ? CUT_ROWS : CUT_COLUMNS; x[10] = step; x[11] = blocks;
    x[12] = batch?.aOffsets ?? 0; x[13] = batch?.bOffsets ?? 0; x[14] = batch?.count ?? 0;
    const seq = (this.seq = (this.seq % 0xffff) + 1);
    Atomics.store(ctl, FINISHED, 0);
    Atomics.store(ctl, FAILED, 0);
    Atomics.store(ctl, DONE, 0);
    if (this.failNext) Atomics.store(ctl, CRASH, this.failNext);
    Atomics.store(ctl, NEXT, seq << 16);
    Atomics.store(ctl, SEQ, seq);
    Atomics.notify(ctl, SEQ, 1);
    const size = batch ? batch.count : byRows ? m : n;
    const compute = (block: number) => {
      const lo = block * step, hi = Math.min(size, lo + step);
      if (batch) batch.kernel(a, b, c, m, k, n, tA, tB, mainScratch, batch.aOffsets, batch.bOffsets, lo, hi);
      else if (byRows) kernel(a, b, c, m, k, n, tA, tB, mainScratch, lo, hi, 0, n);
      else kernel(a, b, c, m, k, n, tA, tB, mainScratch, 0, m, lo, hi);
    };
    if (this.failNext) {
      // tests: let the worker claim the first block, so that it is the worker that fails
      // (on a loaded machine the caller could otherwise take every block before it wakes)
      for (let waited = 0; Atomics.load(ctl, NEXT) === seq << 16 && waited < 10_000; waited++) Atomics.wait(ctl, NEXT, seq << 16, 1);
    }
    let mine = 0, mineMask = 0;
    for (;;) {
      const v = Atomics.load(ctl, NEXT);
      if ((v & 0xffff) >= blocks) break;
      if (Atomics.compareExchange(ctl, NEXT, v, v + 1) !== v) continue;
      compute(v & 0xffff);
      mine++;
      mineMask |= 1 << (v & 0xffff);
    }
    // wait for the blocks the worker claimed. If it ended meanwhile (its exit handler adds
    // 0x10000 to FINISHED) or made no progress for stallMs (killed without running any
    // code), compute its unfinished blocks here and retire it: a dead worker must never
    // hang the caller. A block is deterministic, so one the worker also finishes late gets
    // the same values.
    let finished: number;
    while ((finished = Atomics.load(ctl, FINISHED)) !== blocks - mine) {
      const ended = finished >= 0x10000;
      if (ended || Atomics.wait(ctl, FINISHED, finished, this.stallMs) === 'timed-out') {
        if (!ended && Atomics.load(ctl, FINISHED) !== finished) continue;
        this.retire();
        const done = Atomics.load(ctl, DONE);
        for (let block = 0; block < blocks; block++) if (!(mineMask & (1 << block)) && !(done & (1 << block))) compute(block);
        break;
      }
    }
    if (this.failNext) {
      this.failNext = 0;
      Atomics.store(ctl, CRASH, 0);
    }
    const failed = Atomics.load(ctl, FAILED);
    for (let block = 0; block < blocks; block++) if (failed & (1 << block)) compute(block);
    return true;
  }
}
