// Shared by the test files: the addon as this checkout built it, and whether it should exist.
import { spawnSync } from 'node:child_process';
import { type NativeBackend, loadNativeBackend } from '../src/index.js';

/** g++ (or $CXX), python3 and make answer: node-gyp can build here, so the addon must exist. */
export function toolchainPresent(): boolean {
  const works = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
  return works(process.env.CXX ?? 'g++', ['--version']) && works('python3', ['--version']) && works('make', ['--version']);
}

const probe = loadNativeBackend({ name: 'native-probe' });
/** Why the addon is missing ('' when it loaded). */
export const missingReason = probe.reason ?? '';
export const built = probe.backend !== undefined;

/** A fresh backend over the built addon; only called inside tests that run when `built`. */
export function nativeBackend(options: Parameters<typeof loadNativeBackend>[0] = {}): NativeBackend {
  const result = loadNativeBackend(options);
  if (!result.backend) throw new Error(`native addon unavailable: ${result.reason}`);
  return result.backend;
}
