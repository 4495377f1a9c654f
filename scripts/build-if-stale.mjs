#!/usr/bin/env node
// Rebuilds only the packages whose sources changed since their dist was written, quietly:
// for `pnpm start` and `pnpm demo`, which should print the job's output, not pages of build
// logs. A package is stale when a file among its inputs (src/, assembly/, scripts/,
// binding.gyp, package.json, tsup.config.ts) is newer than the oldest file in its dist/, or
// dist/ is missing. Its own build script then runs with the output captured: one line when it
// works, the whole log when it fails. `pnpm build` (and `pnpm test`, which runs it) still
// builds everything.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
// dependencies first (each dist is used by the next ones at run time)
const ORDER = ['core', 'backend-wasm', 'backend-native', 'nn', 'datasets', 'cli'];
const INPUTS = ['src', 'assembly', 'scripts', 'binding.gyp', 'package.json', 'tsup.config.ts'];

/** The newest (or oldest) modification time under `path`, a file or a directory. */
function mtime(path, pick) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let best = pick === Math.max ? -Infinity : Infinity;
  for (const entry of readdirSync(path)) best = pick(best, mtime(join(path, entry), pick));
  return best;
}

function staleness(dir) {
  const dist = join(dir, 'dist');
  if (!existsSync(dist) || readdirSync(dist).length === 0) return 'no dist';
  const built = mtime(dist, Math.min);
  for (const input of INPUTS) {
    const path = join(dir, input);
    if (existsSync(path) && mtime(path, Math.max) > built) return `${input} changed`;
  }
  return null;
}

let failed = false;
const rebuilt = [];
for (const name of ORDER) {
  const dir = join(root, 'packages', name);
  if (!existsSync(dir)) continue;
  const reason = staleness(dir);
  if (reason === null) continue;
  const script = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).scripts?.build;
  if (!script) continue;
  const started = performance.now();
  // as `pnpm run build` would: the package's and the workspace's binaries on PATH
  const PATH = [join(dir, 'node_modules/.bin'), join(root, 'node_modules/.bin'), process.env.PATH].join(delimiter);
  const run = spawnSync(script, { cwd: dir, shell: true, encoding: 'utf8', env: { ...process.env, PATH } });
  if (run.status !== 0) {
    process.stderr.write(`@tapegrad/${name}: build failed (${reason}):\n${run.stdout}${run.stderr}`);
    failed = true;
    break;
  }
  rebuilt.push(`@tapegrad/${name} (${reason}, ${((performance.now() - started) / 1000).toFixed(1)} s)`);
}
if (failed) process.exit(1);
process.stderr.write(rebuilt.length > 0 ? `rebuilt ${rebuilt.join(', ')}\n` : 'builds up to date\n');
