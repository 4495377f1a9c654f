import { createRequire } from 'node:module';

/** Where a command prints: stdout for results, stderr for progress and diagnostics. Tests pass their own. */
export interface Io {
  out(line: string): void;
  err(line: string): void;
}

export const processIo: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

/** This package's version, from its package.json (one directory up from src/ and from dist/). */
export function cliVersion(): string {
  try {
    return (createRequire(import.meta.url)('../package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** 0.9116766 → "0.9117". */
export function fixed4(value: number): string {
  return Number.isFinite(value) ? value.toFixed(4) : String(value);
}
