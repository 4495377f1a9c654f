import { UsageError } from './errors.js';

/**
 * Parsers for option values. Commander hands every value over as a string; these turn them
 * into numbers and names or throw a UsageError that names the option, says what it takes
 * and quotes what it got, e.g. `--lr must be a positive number, got '-1'`.
 */

function quote(text: string): string {
  return `'${text}'`;
}

/** The most weights and biases a network may have: 1 GiB of float32, before gradients and optimiser state. */
export const MAX_PARAMETERS = 2 ** 28;

/** Layer sizes such as `784,128,10`: at least an input and an output, each a positive integer. */
export function parseLayers(text: string, option = '--layers'): number[] {
  const parts = text.split(',').map((p) => p.trim());
  const sizes = parts.map(Number);
  if (parts.some((p) => !/^\d+$/.test(p)) || sizes.some((n) => !Number.isSafeInteger(n) || n < 1)) {
    throw new UsageError(`${option} must be comma-separated positive integers such as 784,128,10, got ${quote(text)}`);
  }
  if (sizes.length < 2) throw new UsageError(`${option} needs at least an input and an output size (e.g. 784,10), got ${quote(text)}`);
  let parameters = 0;
  for (let l = 1; l < sizes.length; l++) parameters += sizes[l] * (sizes[l - 1] + 1);
  if (parameters > MAX_PARAMETERS) {
    throw new UsageError(`${option} ${quote(text)} makes ${parameters.toLocaleString('en-US')} parameters; tapegrad train allows at most ${MAX_PARAMETERS.toLocaleString('en-US')} (1 GiB of float32 weights)`);
  }
  return sizes;
}

export function parsePositiveInteger(text: string, option: string): number {
  const n = Number(text);
  if (!/^\s*\+?\d+\s*$/.test(text) || !Number.isSafeInteger(n) || n < 1) throw new UsageError(`${option} must be a positive integer, got ${quote(text)}`);
  return n;
}

/** 0 or more; 0 means "no limit" where the option says so. */
export function parseNonNegativeInteger(text: string, option: string): number {
  const n = Number(text);
  if (!/^\s*\+?\d+\s*$/.test(text) || !Number.isSafeInteger(n)) throw new UsageError(`${option} must be a non-negative integer, got ${quote(text)}`);
  return n;
}

export function parsePositiveNumber(text: string, option: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0) throw new UsageError(`${option} must be a positive number, got ${quote(text)}`);
  return n;
}

/** A seed for mulberry32, which uses the low 32 bits: any integer in [-2³¹, 2³²). */
export function parseSeed(text: string, option = '--seed'): number {
  const n = Number(text);
  if (!/^\s*[-+]?\d+\s*$/.test(text) || !Number.isSafeInteger(n) || n < -(2 ** 31) || n >= 2 ** 32) {
    throw new UsageError(`${option} must be an integer in [-2147483648, 4294967295], got ${quote(text)}`);
  }
  return n;
}

export function parseChoice<T extends string>(text: string, option: string, choices: readonly T[]): T {
  if ((choices as readonly string[]).includes(text)) return text as T;
  throw new UsageError(`${option} must be one of ${choices.join(', ')}, got ${quote(text)}`);
}
