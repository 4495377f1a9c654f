/**
 * PyTorch rows, where a Python 3 with torch is installed (`/usr/bin/python3`, else `python3`
 * on the PATH, or the interpreter named by TAPEGRAD_BENCH_PYTHON): `bench/python/torch_rows.py`
 * runs the whole plan of one task in a child process, on 1 thread and on 2
 * (`torch.set_num_threads`), and reports its epoch times and test accuracy. It rebuilds the
 * protocol's inputs itself (the split from the same `mnist` package files, mulberry32 orders
 * and weights); this side checks its first five indices and a CRC-32 of every initial weight
 * array against protocol.ts, so a row that trained on other inputs is an ERROR, not a figure.
 * Without Python or torch the rows read `unavailable` with the reason; never a failure.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32 } from 'node:zlib';
import { PROTOCOL_CHECK, type Layer, type TaskSpec } from '../protocol.js';
import type { ExternalRun, Framework, TrainData, Unavailable } from './types.js';

const SCRIPT = fileURLToPath(new URL('../../python/torch_rows.py', import.meta.url));

function pythonCandidates(): string[] {
  const named = process.env.TAPEGRAD_BENCH_PYTHON;
  return named ? [named] : ['/usr/bin/python3', 'python3'];
}

/** The first interpreter that imports torch, with torch's version, or why none does. */
function findTorch(): { python: string; version: string } | { reason: string } {
  const reasons: string[] = [];
  for (const python of pythonCandidates()) {
    if (python.startsWith('/') && !existsSync(python)) {
      reasons.push(`${python} does not exist`);
      continue;
    }
    const r = spawnSync(python, ['-c', 'import torch, numpy; print(torch.__version__)'], { encoding: 'utf8', timeout: 60_000 });
    if (r.status === 0) return { python, version: r.stdout.trim() };
    const last = (r.stderr || r.error?.message || '').trim().split('\n').pop() ?? '';
    reasons.push(`${python}: ${last || `exit ${r.status}`}`);
  }
  return { reason: `no Python with torch and numpy (${reasons.join('; ')})` };
}

interface TorchReport {
  checks: { firstIndices: number[]; weightCrc32: [number, number][]; train: number; test: number };
  epochSeconds?: number[];
  stoppedEarly?: boolean;
  evaluation?: { loss: number; accuracy: number } | null;
  overBudget?: { secondsPerBatch: number; probeBatches: number; estimate: number };
  torch?: string;
  threads?: number;
}

/** Why the Python side's inputs differ from protocol.ts's, or null when they are the same. */
function inputMismatch(report: TorchReport, layers: Layer[], data: TrainData): string | null {
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

function run(python: string, args: string[], log: (s: string) => void, label: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
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
      else reject(new Error(`${SCRIPT} exited with ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
}

function torchFramework(python: string, version: string, threads: number): Framework {
  const id = `pytorch-${threads}thread${threads > 1 ? 's' : ''}`;
  return {
    id,
    label: `PyTorch (${threads} thread${threads > 1 ? 's' : ''})`,
    isTapegrad: false,
    details: `torch ${version} (${python}), float32, torch.set_num_threads(${threads}); the plan runs in bench/python/torch_rows.py, which rebuilds the protocol's inputs (checked here)`,
    async activate() {},
    async createTrainer() {
      throw new Error('PyTorch rows train in their own process (train), not step by step');
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
      const report = JSON.parse((await run(python, args, log, `${task.id} ${id}`)).trim().split('\n').pop()!) as TorchReport;
      const mismatch = inputMismatch(report, layers, data);
      if (mismatch) throw new Error(`the Python side rebuilt other inputs than protocol.ts: ${mismatch}`);
      if (report.overBudget) return { overBudget: report.overBudget };
      return { epochSeconds: report.epochSeconds!, stoppedEarly: report.stoppedEarly ?? false, evaluation: report.evaluation ?? null };
    },
  };
}

/** PyTorch on 1 and 2 threads, or two unavailable rows saying why. */
export function loadPytorch(): { frameworks: Framework[]; unavailable: Unavailable[] } {
  const found = findTorch();
  if ('reason' in found) {
    return { frameworks: [], unavailable: [1, 2].map((t) => ({ id: `pytorch-${t}thread${t > 1 ? 's' : ''}`, label: `PyTorch (${t} thread${t > 1 ? 's' : ''})`, isTapegrad: false, reason: found.reason })) };
  }
  return { frameworks: [torchFramework(found.python, found.version, 1), torchFramework(found.python, found.version, 2)], unavailable: [] };
}
