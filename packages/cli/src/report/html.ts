/**
 * report.html: the run's pictures, settings and numbers on one self-contained page. Charts are
 * inline SVG (vector, selectable text), other pictures PNG data URLs: the file opens anywhere
 * alone, copied or mailed without the PNGs beside it.
 */

export interface ReportEpoch {
  epoch: number;
  loss: number;
  trainAccuracy: number;
  testLoss: number;
  testAccuracy: number;
  seconds: number;
  examplesPerSecond: number;
}

export interface ReportImage {
  /** The PNG file beside the page that shows the same picture. */
  file: string;
  caption: string;
  /** The picture's PNG bytes: inlined as a data URL when there is no SVG. */
  png: Uint8Array;
  /** The picture as SVG, inlined as it is (a chart). */
  svg?: string;
}

export interface ReportInput {
  title: string;
  settings: Record<string, string | number | boolean | null>;
  final: Record<string, string | number>;
  epochs: readonly ReportEpoch[];
  images: readonly ReportImage[];
  command: string;
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function table(rows: ReadonlyArray<readonly [string, string]>): string {
  return `<table>${rows.map(([k, v]) => `<tr><th>${escape(k)}</th><td>${escape(v)}</td></tr>`).join('')}</table>`;
}

function show(value: string | number | boolean | null): string {
  if (value === null) return '–';
  if (typeof value === 'number' && !Number.isInteger(value)) return String(Number(value.toPrecision(6)));
  return String(value);
}

export function reportHtml(input: ReportInput): string {
  const epochRows = input.epochs.map((e) => `<tr>${[
    String(e.epoch), e.loss.toFixed(4), e.trainAccuracy.toFixed(4), e.testLoss.toFixed(4), e.testAccuracy.toFixed(4), e.seconds.toFixed(2), String(Math.round(e.examplesPerSecond)),
  ].map((c) => `<td>${c}</td>`).join('')}</tr>`).join('\n');
  const figures = input.images.map((img) => {
    // the SVG's own <?xml?> prologue, if any, is not allowed inside HTML
    const picture = img.svg !== undefined
      ? img.svg.replace(/^<\?xml[^>]*>\s*/, '').replace('<svg ', `<svg role="img" aria-label="${escape(img.caption)}" `)
      : `<img src="data:image/png;base64,${Buffer.from(img.png).toString('base64')}" alt="${escape(img.caption)}">`;
    return `<figure id="${escape(img.file)}">${picture}<figcaption>${escape(img.caption)} <span class="file">(${escape(img.file)})</span></figcaption></figure>`;
  }).join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escape(input.title)}</title>
<style>
  body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1420px; padding: 0 1em; color: #222; }
  h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
  table { border-collapse: collapse; margin: 0.5em 0; }
  th, td { border: 1px solid #ddd; padding: 0.25em 0.7em; text-align: left; font-variant-numeric: tabular-nums; }
  th { background: #f5f5f5; font-weight: 600; }
  .columns { display: flex; gap: 2em; flex-wrap: wrap; align-items: flex-start; }
  .pictures { display: flex; flex-wrap: wrap; gap: 0 2em; align-items: flex-start; }
  figure { margin: 1em 0; max-width: 100%; } figure img, figure svg { display: block; max-width: 100%; height: auto; border: 1px solid #eee; }
  .file { color: #999; }
  figcaption { color: #555; font-size: 0.9em; max-width: 640px; }
  code { background: #f5f5f5; padding: 0.1em 0.3em; }
</style>
</head>
<body>
<h1>${escape(input.title)}</h1>
<p><code>${escape(input.command)}</code></p>
<div class="columns">
<div><h2>Final metrics</h2>
${table(Object.entries(input.final).map(([k, v]) => [k, show(v)] as const))}</div>
<div><h2>Settings</h2>
${table(Object.entries(input.settings).map(([k, v]) => [k, show(v)] as const))}</div>
</div>
<h2>Epochs</h2>
<table>
<tr><th>epoch</th><th>train loss</th><th>train accuracy</th><th>test loss</th><th>test accuracy</th><th>seconds</th><th>examples/s</th></tr>
${epochRows}
</table>
<p>Train loss and accuracy are the epoch's running figures: each batch is scored just before its own step. Test figures are measured after the epoch.</p>
<h2>Pictures</h2>
<div class="pictures">
${figures}
</div>
</body>
</html>
`;
}
