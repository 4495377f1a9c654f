/** Ratios, accuracy agreement and the printed tables; the JSON carries the same numbers. */
import type { MatmulRow, TaskRow } from './harness.js';
import { type MatmulSize, type TaskId, sizeLabel } from './protocol.js';
import type { OpCase } from './ops.js';

/**
 * |Δ accuracy| allowed between frameworks in a full run of the MLP tasks (BENCH-PROTOCOL: same
 * accuracy up to float32 rounding); each task carries its own (TaskSpec.accuracyTolerance: T4's is 0.01).
 */
export const ACCURACY_TOLERANCE = 0.005;

/** The fastest tapegrad row that has a time, the reference of the ratios. */
export function bestTapegrad(rows: readonly TaskRow[]): TaskRow | null {
  let best: TaskRow | null = null;
  for (const r of rows) {
    if (!r.isTapegrad || r.companion || r.marking || r.secondsPerEpoch === null) continue;
    if (!best || r.secondsPerEpoch < best.secondsPerEpoch!) best = r;
  }
  return best;
}

/**
 * Fills tapegradSpeedup (row s/epoch ÷ best tapegrad s/epoch), the accuracy comparison, and
 * each companion row's ratio to the row it sits beside.
 */
export function compareTaskRows(rows: TaskRow[], tolerance = ACCURACY_TOLERANCE): TaskRow | null {
  const best = bestTapegrad(rows);
  for (const r of rows) {
    const partner = r.companion ? rows.find((x) => x.framework === r.companion!.of) : undefined;
    // a marked row's (or its twin's) time is no speed claim: no ratios
    const speedClaim = !r.marking && !partner?.marking;
    if (r.companion && partner?.secondsPerEpoch && r.secondsPerEpoch !== null && speedClaim) r.companion.ratio = r.secondsPerEpoch / partner.secondsPerEpoch;
    if (best && r.secondsPerEpoch !== null && speedClaim) r.tapegradSpeedup = r.secondsPerEpoch / best.secondsPerEpoch!;
    const reference = accuracyReferenceOf(r, rows, best);
    if (reference && reference !== r && reference.testAccuracy !== null && r.testAccuracy !== null) {
      r.accuracyDelta = r.testAccuracy - reference.testAccuracy;
      r.accuracyAgrees = Math.abs(r.accuracyDelta) <= tolerance;
    }
  }
  return best;
}

/** The row whose accuracy `r`'s is compared with: TaskRow.accuracyReference's, or the fastest tapegrad backend's. */
export function accuracyReferenceOf(r: TaskRow, rows: readonly TaskRow[], best: TaskRow | null): TaskRow | null {
  if (r.accuracyReference === 'none') return null;
  if (r.accuracyReference !== null) return rows.find((x) => x.framework === r.accuracyReference) ?? null;
  return best;
}

/** Fills tapegradSpeedup = best tapegrad GFLOP/s ÷ row GFLOP/s, per size. */
export function compareMatmulRows(rows: MatmulRow[]): MatmulRow | null {
  let best: MatmulRow | null = null;
  for (const r of rows) if (r.isTapegrad && !r.marking && r.gflops !== null && (!best || r.gflops > best.gflops!)) best = r;
  for (const r of rows) if (best && !r.marking && r.gflops !== null) r.tapegradSpeedup = best.gflops! / r.gflops;
  return best;
}

// ---- text tables -----------------------------------------------------------------------

function fmt(v: number | null, digits: number): string {
  return v === null || !Number.isFinite(v) ? '–' : v.toFixed(digits);
}

function fmtSeconds(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return '–';
  return v >= 100 ? v.toFixed(1) : v >= 1 ? v.toFixed(3) : v.toFixed(4);
}

function fmtInt(v: number | null): string {
  return v === null || !Number.isFinite(v) ? '–' : Math.round(v).toLocaleString('en-US');
}

function fmtRatio(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return '–';
  return v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

export function table(header: string[], rows: string[][], rightAlign: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (rightAlign[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function statusText(r: TaskRow | MatmulRow): string {
  switch (r.status) {
    case 'ok': return 'ok';
    case 'extrapolated': return 'extrapolated';
    case 'skipped': return r.note.startsWith('skipped (--skip)') ? 'skipped (--skip)' : 'skipped (budget)';
    case 'unavailable': return 'unavailable';
    case 'error': return 'ERROR';
  }
}

function accuracyText(r: TaskRow, best: TaskRow | null): string {
  if (r.testAccuracy === null) return '–';
  if (best === r || r.accuracyReference === 'none') return 'reference';
  if (r.accuracyAgrees === null) return '–';
  const d = r.accuracyDelta!;
  return `${r.accuracyAgrees ? 'yes' : 'NO'} (${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(4)})`;
}

/**
 * A companion row's ratio, as its note says it: the user loop's time ÷ fit's row; for the
 * engine, the tape's step (fit's row) ÷ the engine's, the way issue 13's target reads.
 */
export function companionText(r: TaskRow, rows: readonly TaskRow[]): string {
  if (!r.companion || r.secondsPerEpoch === null) return '';
  const partner = rows.find((x) => x.framework === r.companion!.of);
  const name = partner?.label ?? r.companion.of;
  if (r.companion.kind === 'plan') return `${name}'s plan on this CPU backend: its accuracy reference`;
  if (r.companion.ratio === null) return `beside ${name}: no ratio`;
  return r.companion.kind === 'userloop'
    ? `user loop ÷ fit (${name}): ${r.companion.ratio.toFixed(3)}×`
    : `tape step (${name}) ÷ engine: ${(1 / r.companion.ratio).toFixed(3)}×`;
}

export function formatTaskTable(rows: TaskRow[], best: TaskRow | null): string {
  const header = ['framework', 'status', 's/epoch', 'examples/s', 'test acc', 'test loss', 'tapegrad ×', 'acc agrees', 'KB alloc/step', 'note'];
  const body = rows.map((r) => [
    r.label, statusText(r), fmtSeconds(r.secondsPerEpoch), fmtInt(r.examplesPerSecond), fmt(r.testAccuracy, 4), fmt(r.testLoss, 4),
    fmtRatio(r.tapegradSpeedup), accuracyText(r, best), r.allocation ? (r.allocation.bytesPerStep / 1024).toFixed(1) : '–',
    [companionText(r, rows), r.note].filter(Boolean).join('; '),
  ]);
  return table(header, body, [false, false, true, true, true, true, true, false, true, false]);
}

export interface MatmulResult {
  size: MatmulSize;
  rows: MatmulRow[];
}

/** One row per framework, one column per size: GFLOP/s, then the same grid of tapegrad × ratios. */
export function formatMatmulTables(results: MatmulResult[], order: { id: string; label: string }[]): string {
  return formatGrid(results.map((r) => ({ label: sizeLabel(r.size), rows: r.rows })), order);
}

/** The ops grid (ops.ts) in the matmul grid's form, one column per case. */
export function formatOpTables(results: { case: OpCase; rows: MatmulRow[] }[], order: { id: string; label: string }[]): string {
  return formatGrid(results.map((r) => ({ label: r.case.id, rows: r.rows })), order);
}

function formatGrid(results: { label: string; rows: MatmulRow[] }[], order: { id: string; label: string }[]): string {
  const columns = results.map((r) => r.label);
  const cell = (res: { rows: MatmulRow[] }, id: string, f: (r: MatmulRow) => string) => {
    const r = res.rows.find((x) => x.framework === id);
    if (!r) return '';
    if (r.status === 'skipped') return r.note.startsWith('skipped (--skip)') ? 'skip' : 'budget';
    if (r.status === 'unavailable') return 'n/a';
    if (r.status === 'error') return 'ERROR';
    return f(r);
  };
  const present = order.filter((fw) => results.some((res) => res.rows.some((r) => r.framework === fw.id)));
  const gflops = table(
    ['GFLOP/s', ...columns],
    present.map((fw) => [fw.label, ...results.map((res) => cell(res, fw.id, (r) => fmt(r.gflops, r.gflops! >= 10 ? 1 : 2)))]),
    [false, ...columns.map(() => true)],
  );
  const ratios = table(
    ['tapegrad ×', ...columns],
    present.map((fw) => [fw.label, ...results.map((res) => cell(res, fw.id, (r) => fmtRatio(r.tapegradSpeedup)))]),
    [false, ...columns.map(() => true)],
  );
  // "% of peak" only for the rows that measured their machine's FMA peak (tapegrad native)
  const withPeak = present.filter((fw) => results.some((res) => res.rows.some((r) => r.framework === fw.id && r.peak)));
  const peaks = withPeak.length === 0 ? [] : ['', table(
    ['% of FMA peak', ...columns],
    withPeak.map((fw) => [fw.label, ...results.map((res) => cell(res, fw.id, (r) => (r.peak ? `${r.peak.percent.toFixed(0)} % of ${r.peak.gflops.toFixed(0)} (${Number.isInteger(r.peak.cores) ? r.peak.cores : r.peak.cores.toFixed(1)} core${r.peak.cores !== 1 ? 's' : ''})` : '–')))]),
    [false, ...columns.map(() => true)],
  )];
  const notes: string[] = [];
  for (const res of results) {
    for (const r of res.rows) if (r.note) notes.push(`  ${res.label} ${r.label}: ${r.note}`);
  }
  return [gflops, '', ratios, ...peaks, ...(notes.length ? ['', 'notes:', ...notes] : [])].join('\n');
}

export interface AgreementCheck {
  task: TaskId;
  peer: string;
  tapegradAccuracy: number | null;
  peerAccuracy: number | null;
  agrees: boolean | null;
  tolerance: number;
}
