import { getBackend, isDeviceBackend, listBackends, setBackend } from '../backend/index.js';
import { createRng } from '../random.js';
import { DeviceTensorError, ValueError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { vjp } from '../tape.js';

/**
 * The cross-backend conformance report: the same forward pass and VJPs on every registered
 * backend, each compared with the reference (js, the float64-exact one) element by element.
 */

export interface CheckBackendsOptions {
  /** Backends to compare (default: every registered one but the reference and device backends, whose values are read asynchronously). */
  backends?: readonly string[];
  /** The backend the others are compared with. Default 'js'. */
  reference?: string;
  /** Seed of the cotangent r the VJPs are taken at (normal entries). Default 42. */
  seed?: number;
}

/** One backend's largest difference from the reference on one result (the output or an input's gradient). */
export interface ConformanceRow {
  backend: string;
  /** 'output', or 'grad 0', 'grad 1', … (∂⟨f, r⟩/∂input k). */
  what: string;
  /** The largest distance in units in the last place (of the output dtype) over the elements. */
  maxUlps: number;
  /** The largest |b − a| / max(|a|, tiny) over the elements. */
  maxRelative: number;
  maxAbsolute: number;
  /** Flat index of the element with the largest ulp distance (−1 when all agree). */
  worstIndex: number;
  /** NaN/∞ in one result where the other has a finite value, or a shape mismatch. */
  mismatch?: string;
}

/** What checkBackends returns: one row per backend and result, against the reference backend. */
export interface ConformanceReport {
  reference: string;
  rows: ConformanceRow[];
}

const scratch = new DataView(new ArrayBuffer(8));

/** An order-preserving integer for a float: adjacent floats differ by 1. */
function ordinal(v: number, dtype: 'float32' | 'float64'): bigint {
  if (dtype === 'float32') {
    scratch.setFloat32(0, v);
    const bits = scratch.getInt32(0);
    return BigInt(bits < 0 ? -2147483648 - bits : bits);
  }
  scratch.setFloat64(0, v);
  const bits = scratch.getBigInt64(0);
  return bits < 0n ? -9223372036854775808n - bits : bits;
}

function compare(backend: string, what: string, a: Tensor, b: Tensor): ConformanceRow {
  const row: ConformanceRow = { backend, what, maxUlps: 0, maxRelative: 0, maxAbsolute: 0, worstIndex: -1 };
  if (a.shape.join(',') !== b.shape.join(',')) return { ...row, maxUlps: Infinity, maxRelative: Infinity, maxAbsolute: Infinity, mismatch: `shape [${b.shape}] vs [${a.shape}]` };
  for (let i = 0; i < a.size; i++) {
    const x = a.data[i], y = b.data[i];
    if (Object.is(x, y) || (Number.isNaN(x) && Number.isNaN(y))) continue;
    if (!Number.isFinite(x) || !Number.isFinite(y)) {
      return { ...row, maxUlps: Infinity, maxRelative: Infinity, maxAbsolute: Infinity, worstIndex: i, mismatch: `element ${i}: ${y} vs ${x}` };
    }
    const ulps = Number(ordinal(x, a.dtype) - ordinal(y, a.dtype));
    const distance = Math.abs(ulps);
    const absolute = Math.abs(y - x);
    const relative = absolute / Math.max(Math.abs(x), Number.MIN_VALUE);
    if (distance > row.maxUlps) {
      row.maxUlps = distance;
      row.worstIndex = i;
    }
    row.maxRelative = Math.max(row.maxRelative, relative);
    row.maxAbsolute = Math.max(row.maxAbsolute, absolute);
  }
  return row;
}

function run(fn: (...xs: Tensor[]) => Tensor, inputs: readonly Tensor[], seed: number): Tensor[] {
  const [output, pullback] = vjp(fn, ...inputs);
  const rng = createRng(seed);
  const r = new Tensor(output.dtype === 'float32' ? new Float32Array(output.size) : new Float64Array(output.size), output.shape, output.dtype);
  for (let i = 0; i < r.size; i++) r.data[i] = rng.normal();
  return [output, ...pullback(r)];
}

/**
 * Runs fn(...inputs) and its VJPs (at one seeded random cotangent) on every registered
 * backend and reports, per result, the largest difference from the reference backend in
 * ulps, relative and absolute terms — the conformance table that shows a backend whose
 * kernel or gradient is wrong before a training run does. Register the backends first
 * (e.g. initWasmBackend()). The current backend is restored afterwards.
 *
 * ```ts
 * const report = checkBackends((a, b) => sum(matmul(a, b).tanh()), [A, B]);
 * for (const row of report.rows) console.log(row.backend, row.what, row.maxUlps, row.maxRelative);
 * ```
 */
export function checkBackends(fn: (...xs: Tensor[]) => Tensor, inputs: readonly Tensor[], options: CheckBackendsOptions = {}): ConformanceReport {
  const reference = options.reference ?? 'js';
  const registered = listBackends();
  if (!registered.includes(reference)) throw new ValueError('checkBackends', `reference backend '${reference}' is not registered (registered: ${registered.join(', ')})`);
  // device backends are read asynchronously: only named ones are tried (and refused)
  const backends = options.backends ?? registered.filter((name) => name !== reference && !isDeviceBackend(name));
  const seed = options.seed ?? 42;
  const previous = getBackend();
  try {
    setBackend(reference);
    onCpu(reference);
    const expected = run(fn, inputs, seed);
    const rows: ConformanceRow[] = [];
    for (const name of backends) {
      setBackend(name);
      onCpu(name);
      const got = run(fn, inputs, seed);
      got.forEach((t, k) => rows.push(compare(name, k === 0 ? 'output' : `grad ${k - 1}`, expected[k], t)));
    }
    return { reference, rows };
  } finally {
    setBackend(previous);
  }
}

/** checkBackends compares values synchronously: a device backend's stay out of its reach. */
function onCpu(name: string): void {
  if (getBackend().memory !== undefined) {
    throw new DeviceTensorError('checkBackends', `backend '${name}' keeps values on its device, which a synchronous comparison cannot read; leave it out with the \`backends\` option`);
  }
}
