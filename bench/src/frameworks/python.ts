/**
 * The Python rows, where a Python 3 has what they need (`/usr/bin/python3`, else `python3` on
 * the PATH, or the interpreter named by TAPEGRAD_BENCH_PYTHON), each on 1 thread and on 2:
 *
 * - PyTorch (`bench/python/torch_rows.py`): autograd and `torch.optim.SGD`,
 *   `torch.set_num_threads`; any task.
 * - NumPy (`bench/python/numpy_rows.py`): the seeds' own loop — forward, BP1–BP4 by hand, SGD —
 *   examples as columns; BLAS threads through OPENBLAS_NUM_THREADS (threadpoolctl too, where
 *   installed); T4's CNN by hand the same way (im2col GEMMs, pooling by reshapes, momentum).
 *
 * Each script runs the whole plan of one task in a child process and reports its epoch times
 * and test accuracy. Both rebuild the protocol's inputs with the same code
 * (`bench/python/protocol_inputs.py`: the split from the same `mnist` package files, mulberry32
 * orders and weights); this side checks their first five indices and a CRC-32 of every initial
 * weight array against protocol.ts, so a row that trained on other inputs is an ERROR, not a
 * figure. Without Python, torch or numpy the rows read `unavailable` with the reason; never a
 * failure.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32 } from 'node:zlib';
import { PROTOCOL_CHECK, type Layer, type TaskSpec } from '../protocol.js';
import type { ExternalRun, Framework, TrainData, Unavailable } from './types.js';

function pythonCandidates(): string[] {
  const named = process.env.TAPEGRAD_BENCH_PYTHON;
  return named ? [named] : ['/usr/bin/python3', 'python3'];
}

/** The first interpreter whose `probe` (Python code printing a version) succeeds, or why none does. */
function findPython(probe: string, what: string): { python: string; version: string } | { reason: string } {
  const reasons: string[] = [];
  for (const python of pythonCandidates()) {
    if (python.startsWith('/') && !existsSync(python)) {
      reasons.push(`${python} does not exist`);
      continue;
    }
    const r = spawnSync(python, ['-c', probe], { encoding: 'utf8', timeout: 60_000 });
    if (r.status === 0) return { python, version: r.stdout.trim() };
    const last = (r.stderr || r.error?.message || '').trim().split('\n').pop() ?? '';
    reasons.push(`${python}: ${last || `exit ${r.status}`}`);
  }
  return { reason: `no Python with ${what} (${reasons.join('; ')})` };
}

/** What a Python row's script prints (the last line of its stdout). */
export interface PythonReport {
  checks: { firstIndices: number[]; weightCrc32: [number, number][]; train: number; test: number };
  epochSeconds?: number[];
  stoppedEarly?: boolean;
  evaluation?: { loss: number; accuracy: number } | null;
  overBudget?: { secondsPerBatch: number; probeBatches: number; estimate: number };
  threads?: number;
  /** numpy_rows.py: the BLAS library the process loaded. */
  blas?: string;
}

/** Why the Python side's inputs differ from protocol.ts's, or null when they are the same. */
export function inputMismatch(report: PythonReport, layers: Layer[], data: TrainData): string | null {
  const { checks } = report;
  if (checks.firstIndices.join(',') !== PROTOCOL_CHECK.join(',')) return `epoch 0 starts ${checks.firstIndices.join(', ')}, not ${PROTOCOL_CHECK.join(', ')}`;
  if (checks.train !== data.train.n || checks.test !== data.eval.n) return `split ${checks.train}/${checks.test}, not ${data.train.n}/${data.eval.n}`;
  if (checks.weightCrc32.length !== layers.length) return `${checks.weightCrc32.length} layers, not ${layers.length}`;
  const bytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  for (let l = 0; l < layers.length; l++) {
    const [w, b] = checks.weightCrc32[l];
    if (w !== crc32(bytes(layers[l].W)) || b !== crc32(bytes(layers[l].b))) return `the initial weights of layer ${l + 1} differ (CRC-32)`;
  }
  return null;
}

function run(python: string, script: string, args: string[], log: (s: string) => void, label: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      const text = d.toString();
      err += text;
      for (const line of text.split('\n')) if (/^epoch /.test(line)) log(`  ${label}: ${line}`);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${script} exited with ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
}

/** A Python row's family: how it is named, which script runs it, what its interpreter needs. */
export interface PythonFamily {
  /** Ids are `<family>-1thread` and `<family>-2threads`. */
  family: 'pytorch' | 'numpy';
  name: string;
  script: string;
  /** Prints the version the rows' details give; fails where the family cannot run. */
  probe: string;
  /** What the interpreter lacks when the probe fails, for the unavailable rows' reason. */
  needs: string;
  details(python: string, version: string, threads: number): string;
  unsupported?(task: TaskSpec): string | undefined;
}

export const PYTORCH: PythonFamily = {
  family: 'pytorch',
  name: 'PyTorch',
  script: fileURLToPath(new URL('../../python/torch_rows.py', import.meta.url)),
  probe: 'import torch, numpy; print(torch.__version__)',
  needs: 'torch and numpy',
  details: (python, version, threads) =>
    `torch ${version} (${python}), float32, torch.set_num_threads(${threads}); the plan runs in bench/python/torch_rows.py, which rebuilds the protocol's inputs (checked here)`,
};

export const NUMPY: PythonFamily = {
  family: 'numpy',
  name: 'NumPy',
  script: fileURLToPath(new URL('../../python/numpy_rows.py', import.meta.url)),
  probe: 'import numpy; print(numpy.__version__)',
  needs: 'numpy',
  details: (python, version, threads) =>
    `numpy ${version} (${python}), float32, the seeds' loop by hand (forward, BP1–BP4, SGD; examples as columns; T4: convolutions as im2col GEMMs, momentum SGD), OPENBLAS_NUM_THREADS=${threads}; the plan runs in bench/python/numpy_rows.py, which rebuilds the protocol's inputs (checked here)`,
};

/** The BLAS library's short name from numpy_rows.py's list of mapped files: 'openblas-pthread', 'blas (reference)'. */
export function blasName(mapped: string): string {
  const first = mapped.split(', ').find((p) => /libblas|openblas|mkl|blis/.test(p)) ?? mapped;
  if (/^blas\/libblas/.test(first)) return 'reference BLAS (blas/libblas.so.3)';
  return first.split('/')[0];
}

const idOf = (family: PythonFamily, threads: number) => `${family.family}-${threads}thread${threads > 1 ? 's' : ''}`;
const labelOf = (family: PythonFamily, threads: number) => `${family.name} (${threads} thread${threads > 1 ? 's' : ''})`;

function pythonFramework(family: PythonFamily, python: string, version: string, threads: number): Framework {
  const id = idOf(family, threads);
  return {
    id,
    label: labelOf(family, threads),
    isTapegrad: false,
    details: family.details(python, version, threads),
    ...(family.unsupported ? { unsupported: family.unsupported } : {}),
    async activate() {},
    async createTrainer() {
      throw new Error(`${family.name} rows train in their own process (train), not step by step`);
    },
    async train(task: TaskSpec, data: TrainData, layers: Layer[], plan: { epochs: number; batches: number; budget: number }, log: (s: string) => void): Promise<ExternalRun> {
      const require = createRequire(import.meta.url);
      const digits = dirname(require.resolve('mnist/src/digits/0.json'));
      const args = [
        '--spec', JSON.stringify(task), '--digits', digits, '--threads', String(threads),
        '--epochs', String(plan.epochs), '--batches', String(plan.batches),
        '--eval-examples', String(data.eval.n),
        ...(Number.isFinite(plan.budget) ? ['--budget', String(plan.budget)] : []),
      ];
      const report = JSON.parse((await run(python, family.script, args, log, `${task.id} ${id}`)).trim().split('\n').pop()!) as PythonReport;
      const mismatch = inputMismatch(report, layers, data);
      if (mismatch) throw new Error(`the Python side rebuilt other inputs than protocol.ts: ${mismatch}`);
      if (report.overBudget) return { overBudget: report.overBudget };
      return {
        epochSeconds: report.epochSeconds!, stoppedEarly: report.stoppedEarly ?? false, evaluation: report.evaluation ?? null,
        ...(report.blas ? { facts: `BLAS ${blasName(report.blas)}` } : {}),
      };
    },
  };
}

/** A family's rows on 1 and 2 threads, or two unavailable rows saying why. */
export function loadPythonFamily(family: PythonFamily): { frameworks: Framework[]; unavailable: Unavailable[] } {
  const found = findPython(family.probe, family.needs);
  if ('reason' in found) {
    return { frameworks: [], unavailable: [1, 2].map((t) => ({ id: idOf(family, t), label: labelOf(family, t), isTapegrad: false, reason: found.reason })) };
  }
  return { frameworks: [1, 2].map((t) => pythonFramework(family, found.python, found.version, t)), unavailable: [] };
}

/** PyTorch on 1 and 2 threads, or two unavailable rows saying why. */
export const loadPytorch = () => loadPythonFamily(PYTORCH);

/** The NumPy hand-written backprop on 1 and 2 BLAS threads, or two unavailable rows saying why. */
export const loadNumpy = () => loadPythonFamily(NUMPY);
