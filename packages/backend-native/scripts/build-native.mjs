// Builds the Node-API addon (build/Release/tapegrad_native.node) with node-gyp and the
// machine's C++ compiler. It runs at install (the package's own `install` script) and in
// `pnpm build`, and it NEVER fails either: on any problem it prints one line saying why
// and exits 0, and @tapegrad/backend-native then reports the addon missing at run time, so
// tapegrad runs on wasm (or js). The full compiler output goes to build/build-native.log.
//
//   node scripts/build-native.mjs            build unless the addon is newer than its sources
//   node scripts/build-native.mjs --force    rebuild
//
// Environment: TAPEGRAD_NATIVE_SKIP=1 skips the build; npm_config_nodedir (as npm and pnpm
// pass it from .npmrc's `nodedir`) points node-gyp at Node's headers; without it, the
// headers of the running node (<prefix>/include/node, e.g. /usr on Debian) are used when
// present, since node-gyp would otherwise try to download them.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const addon = join(root, 'build', 'Release', 'tapegrad_native.node');
const log = join(root, 'build', 'build-native.log');
const say = (line) => process.stdout.write(`@tapegrad/backend-native: ${line}\n`);

function sourcesNewest() {
  const files = ['binding.gyp', 'scripts/build-native.mjs', ...readdirSync(join(root, 'src', 'native')).map((f) => `src/native/${f}`)];
  return Math.max(...files.map((f) => statSync(join(root, f)).mtimeMs));
}

/** node-gyp's entry point: this package's own (a devDependency), else the package manager's. */
function findNodeGyp() {
  try {
    return { command: process.execPath, prefix: [createRequire(join(root, 'package.json')).resolve('node-gyp/bin/node-gyp.js')] };
  } catch {
    // npm and pnpm bundle node-gyp and say where in npm_config_node_gyp
    const bundled = process.env.npm_config_node_gyp;
    if (bundled && existsSync(bundled)) return { command: process.execPath, prefix: [bundled] };
    return { command: 'node-gyp', prefix: [] };
  }
}

function nodeDir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  const prefix = dirname(dirname(process.execPath));
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? prefix : undefined;
}

/** The most telling line of node-gyp's output: a compiler or make error, else node-gyp's own reason. */
function lastError(output) {
  const lines = output.split('\n').map((l) => l.trim()).filter(Boolean);
  const generic = /^gyp ERR! (build|configure) error$|^gyp ERR! (cwd|node -v|node-gyp -v|command|System|not ok)/;
  const pick = lines.find((l) => /You need to install/.test(l))
    ?? lines.find((l) => /\berror:|\*\*\* \[|not found|Can.t find|ENOENT/i.test(l) && !generic.test(l))
    ?? lines.filter((l) => !generic.test(l) && !/^gyp info/.test(l)).pop() ?? 'no output';
  return pick.replace(/^gyp ERR! (stack )?/, '').slice(0, 200);
}

const upToDate = () => existsSync(addon) && statSync(addon).mtimeMs >= sourcesNewest();

/**
 * One build at a time in this folder (two `pnpm build`s at once would clobber each other's
 * objects): an atomic mkdir as the lock; a second build waits for the first (≤ 5 min), and a
 * lock older than that is taken as left behind by a killed build.
 */
function withLock(build) {
  const lock = join(root, '.build-native.lock');
  const started = Date.now();
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      let age = 0;
      try {
        age = Date.now() - statSync(lock).mtimeMs;
      } catch {
        continue; // released meanwhile
      }
      if (age > 300_000 || Date.now() - started > 300_000) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
    }
  }
  try {
    build(Date.now() - started > 1000);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function main() {
  if (process.env.TAPEGRAD_NATIVE_SKIP === '1') {
    say('not built (TAPEGRAD_NATIVE_SKIP=1); tapegrad will use wasm');
    return;
  }
  const force = process.argv.includes('--force');
  if (!force && upToDate()) {
    say('addon up to date (build/Release/tapegrad_native.node)');
    return;
  }
  withLock((waited) => {
    if (waited && upToDate()) say('addon up to date (built by a concurrent build)');
    else build();
  });
}

function build() {
  const gyp = findNodeGyp();
  const dir = nodeDir();
  const args = [...gyp.prefix, 'rebuild', '--release', '--jobs', '2', ...(dir ? [`--nodedir=${dir}`] : [])];
  const started = Date.now();
  const result = spawnSync(gyp.command, args, { cwd: root, encoding: 'utf8', timeout: 300_000, env: { ...process.env, npm_config_loglevel: 'warn' } });
  const output = `${result.stdout ?? ''}\n${result.stderr ?? ''}`;
  try {
    mkdirSync(dirname(log), { recursive: true });
    writeFileSync(log, `$ ${gyp.command} ${args.join(' ')}\n${output}`);
  } catch {
    // the log is a convenience: a read-only install still gets its one line below
  }
  if (result.error) {
    say(`not built (${result.error.code === 'ENOENT' ? 'node-gyp not found' : result.error.message}); tapegrad will use wasm`);
  } else if (result.status !== 0 || !existsSync(addon)) {
    say(`not built (node-gyp exited ${result.status ?? result.signal}: ${lastError(output)}; see build/build-native.log); tapegrad will use wasm`);
  } else {
    say(`built build/Release/tapegrad_native.node in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}

try {
  main();
} catch (error) {
  say(`not built (${error instanceof Error ? error.message : String(error)}); tapegrad will use wasm`);
}
process.exit(0);
