import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadMnist, writeIdx } from '@tapegrad/datasets';

/** The built executable: these tests run the CLI the way users do (`pnpm test` builds first). */
export const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export function checkBuilt(): void {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`pnpm build\` (or \`npx -y pnpm@10 --filter @tapegrad/cli build\`) first`);
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node dist/main.js …args` to completion; never rejects on a non-zero exit. */
export function cli(args: readonly string[], options: { cwd?: string } = {}): Promise<CliResult> {
  checkBuilt();
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [MAIN, ...args], { cwd: options.cwd ?? ROOT, encoding: 'utf8', maxBuffer: 16 << 20, env: { ...process.env, CI: '1' } }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') reject(error);
      else resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
    });
  });
}

/** Starts the CLI and calls `onStdout` with everything printed so far, until the process ends. */
export function startCli(args: readonly string[], onStdout: (all: string, child: ReturnType<typeof spawn>) => void): Promise<CliResult> {
  checkBuilt();
  const child = spawn(process.execPath, [MAIN, ...args], { cwd: ROOT, env: { ...process.env, CI: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    onStdout(stdout, child);
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? -1 : null), stdout, stderr }));
  });
}

export function scratchDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `tapegrad-cli-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The lines of a stream's text, without the trailing empty one. */
export function lines(text: string): string[] {
  return text.split('\n').filter((l, i, all) => l !== '' || i < all.length - 1);
}

/**
 * Test digits `picks` of the embedded MNIST written as an IDX images file and its labels file
 * (t10k-*-ubyte) in `dir`, which is created; returns the images' bytes (28×28 each, in order).
 */
export function writeTestDigits(dir: string, picks: readonly number[]): Uint8Array {
  const { test } = loadMnist();
  const n = test.labels.length;
  const images = new Uint8Array(picks.length * 784);
  picks.forEach((m, k) => {
    for (let i = 0; i < 784; i++) images[k * 784 + i] = Math.round(255 * test.x.data[i * n + m]);
  });
  mkdirSync(dir);
  writeIdx(join(dir, 't10k-images-idx3-ubyte'), { type: 'uint8', dims: [picks.length, 28, 28], data: images });
  writeIdx(join(dir, 't10k-labels-idx1-ubyte'), { type: 'uint8', dims: [picks.length], data: picks.map((m) => test.labels[m]) });
  return images;
}
