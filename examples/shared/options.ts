import { parseArgs } from 'node:util';

/**
 * Command-line options for the examples: each declares what it accepts, and a bad value is
 * one line on stderr and exit code 2, never a stack trace. (The `tapegrad` CLI uses a full
 * argument parser; these small programs need only this.)
 */
export type OptionSpec =
  | { kind: 'count'; default?: number; min?: number; max?: number; help: string }   // an integer ≥ min (default 1)
  | { kind: 'integer'; default: number; help: string }
  | { kind: 'positive'; default: number; help: string }                             // a number > 0
  | { kind: 'sizes'; default: string; help: string }                                // 784,128,10
  | { kind: 'flag'; help: string };

type ValueOf<S extends OptionSpec> =
  S extends { kind: 'flag' } ? boolean
    : S extends { kind: 'sizes' } ? number[]
      : S extends { kind: 'count'; default: number } ? number
        : S extends { kind: 'count' } ? number | undefined
          : number;

export type Options<T extends Record<string, OptionSpec>> = { [K in keyof T]: ValueOf<T[K]> };

function usageOf(specs: Record<string, OptionSpec>): string {
  const parts = Object.entries(specs).map(([name, s]) => (s.kind === 'flag' ? `[--${name}]` : `[--${name} ${s.help}]`));
  return `usage: main.ts ${parts.join(' ')}`;
}

function fail(message: string, specs: Record<string, OptionSpec>): never {
  console.error(`${message}\n${usageOf(specs)}`);
  process.exit(2);
}

export function readOptions<T extends Record<string, OptionSpec>>(specs: T): Options<T> {
  let values: Record<string, string | boolean | undefined>;
  try {
    const options = Object.fromEntries(Object.entries(specs).map(([name, s]) => [name, s.kind === 'flag' ? { type: 'boolean' as const } : { type: 'string' as const }]));
    values = parseArgs({ options }).values;
  } catch (error) {
    fail((error as Error).message.split('\n')[0], specs);
  }
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const raw = values[name];
    if (spec.kind === 'flag') {
      out[name] = raw === true;
      continue;
    }
    if (raw === undefined) {
      out[name] = spec.kind === 'sizes' ? spec.default.split(',').map(Number) : spec.default;
      continue;
    }
    const text = String(raw);
    const bad = () => fail(`bad value for --${name}: ${text} (expected ${spec.help})`, specs);
    if (spec.kind === 'sizes') {
      const sizes = text.split(',').map(Number);
      if (sizes.length < 2 || sizes.some((v) => !Number.isInteger(v) || v < 1)) bad();
      out[name] = sizes;
      continue;
    }
    const value = Number(text);
    if (text.trim() === '' || !Number.isFinite(value)) bad();
    if (spec.kind === 'positive' && !(value > 0)) bad();
    if (spec.kind === 'integer' && !Number.isInteger(value)) bad();
    if (spec.kind === 'count' && (!Number.isInteger(value) || value < (spec.min ?? 1) || (spec.max !== undefined && value > spec.max))) bad();
    out[name] = value;
  }
  return out as Options<T>;
}
