import { ValueError } from './errors.js';
import { type GraphModel, type GraphOptions, type GraphVertex, graphModel, vertexLines } from './graph.js';
import type { Tensor } from './tensor.js';

/** Options of renderGraph: toDot's, plus the output format. */
export interface RenderGraphOptions extends GraphOptions {
  /** 'svg': a standalone SVG document; 'html' (default): a page holding it, with a legend. */
  format?: 'svg' | 'html';
  /**
   * What each box says: 'full' (op, shape and dtype, value and gradient statistics), 'compact'
   * (op, shape and dtype: boxes a third the size), or 'auto' (default): full up to
   * {@link COMPACT_ABOVE} vertices, compact above. The full text is always the box's tooltip.
   */
  labels?: 'full' | 'compact' | 'auto';
}

/** Above this many vertices, 'auto' labels are compact: a LeNet step's full boxes would span 7,000 px. */
export const COMPACT_ABOVE = 120;

const CHAR_WIDTH = 6.6;
const LINE_HEIGHT = 14;
const PADDING = 8;

interface Placed {
  vertex: GraphVertex;
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The subset of @dagrejs/dagre this file uses. */
interface DagreModule {
  graphlib: { Graph: new () => DagreGraph };
  layout(graph: DagreGraph): void;
}
interface DagreGraph {
  setGraph(label: Record<string, unknown>): void;
  setDefaultEdgeLabel(fn: () => Record<string, unknown>): void;
  setNode(id: string, label: { width: number; height: number }): void;
  setEdge(from: string, to: string): void;
  node(id: string): { x: number; y: number; width: number; height: number };
  edge(from: string, to: string): { points: Array<{ x: number; y: number }> };
  graph(): { width?: number; height?: number };
}

async function loadDagre(): Promise<DagreModule> {
  try {
    const module = (await import('@dagrejs/dagre')) as unknown as Partial<DagreModule> & { default?: DagreModule };
    return typeof module.layout === 'function' ? (module as DagreModule) : module.default!;
  } catch {
    throw new ValueError('renderGraph', "needs the optional peer dependency @dagrejs/dagre for its layout: npm install @dagrejs/dagre (toDot and toMermaid need nothing)");
  }
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function fillOf(v: GraphVertex): string {
  const bad = (s: GraphVertex['values'] | undefined) => s !== undefined && s.nan + s.posInf + s.negInf > 0;
  if (bad(v.values) || bad(v.gradient)) return '#f8c0c0';
  if (v.parameter) return '#cfe2ff';
  if (v.kind === 'fold') return '#e8e0f8';
  if (v.kind === 'leaf') return '#f4f4f4';
  return '#fffbe6';
}

/**
 * Where the picture draws a vertex: a leaf read by several ops is drawn once beside each of
 * them (a parameter read by the forward pass, the backward pass and the update would
 * otherwise pull edges across the whole picture); everything else once.
 */
interface Drawn {
  key: string;
  vertex: GraphVertex;
  /** 0 for the vertex itself, k ≥ 1 for the k-th extra copy of a shared leaf. */
  copy: number;
}

/** Lays the model out with dagre (inputs at the bottom, the loss at the top) and draws it. */
async function layoutSvg(model: GraphModel, compact: boolean): Promise<string> {
  const dagre = await loadDagre();
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'BT', nodesep: 24, ranksep: 36, marginx: 16, marginy: 16 });
  g.setDefaultEdgeLabel(() => ({}));
  const lines = new Map<string, string[]>();
  const byId = new Map(model.vertices.map((v) => [v.id, v]));
  const readers = new Map<string, number>();
  for (const e of model.edges) readers.set(e.from, (readers.get(e.from) ?? 0) + 1);
  const drawn: Drawn[] = [];
  const sized = (vertex: GraphVertex): { width: number; height: number } => {
    const text = lines.get(vertex.id)!;
    const width = Math.ceil(Math.max(...text.map((l) => l.length)) * CHAR_WIDTH + 2 * PADDING);
    const height = text.length * LINE_HEIGHT + 2 * PADDING;
    // an ellipse holds its text only if it is √2 times the text's box (the box's corners lie on it)
    return vertex.kind === 'leaf' ? { width: Math.ceil(width * Math.SQRT2), height: Math.ceil(height * 1.25) } : { width, height };
  };
  const tooltips = new Map<string, string>();
  for (const v of model.vertices) {
    const full = vertexLines(v);
    tooltips.set(v.id, full.join('\n'));
    lines.set(v.id, compact ? full.slice(0, 2) : full);
    drawn.push({ key: v.id, vertex: v, copy: 0 });
    g.setNode(v.id, sized(v));
  }
  // the edges, each from the copy of a shared leaf that sits beside its reader
  const used = new Map<string, number>();
  const edges = model.edges.map((e) => {
    const from = byId.get(e.from)!;
    let key = e.from;
    if (from.kind === 'leaf' && (readers.get(e.from) ?? 0) > 1) {
      const k = used.get(e.from) ?? 0;
      used.set(e.from, k + 1);
      if (k > 0) {
        key = `${e.from}-${k}`;
        drawn.push({ key, vertex: from, copy: k });
        g.setNode(key, sized(from));
      }
    }
    g.setEdge(key, e.to);
    return { ...e, key };
  });
  dagre.layout(g);
  const placed: Array<Placed & { key: string; copy: number }> = drawn.map(({ key, vertex, copy }) => {
    const n = g.node(key);
    return { key, vertex, copy, x: n.x, y: n.y, width: n.width, height: n.height };
  });
  const routes = edges.map((e) => g.edge(e.key, e.to).points);
  // the extent of everything drawn: dagre's own size can leave an edge's bend outside it
  let right = g.graph().width ?? 100, bottom = g.graph().height ?? 100;
  for (const p of placed) {
    right = Math.max(right, p.x + p.width / 2 + 16);
    bottom = Math.max(bottom, p.y + p.height / 2 + 16);
  }
  for (const route of routes) for (const point of route) {
    right = Math.max(right, point.x + 16);
    bottom = Math.max(bottom, point.y + 16);
  }
  const titleHeight = model.title ? 24 : 0;
  const width = Math.ceil(right);
  const height = Math.ceil(bottom + titleHeight);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker>'
      + '<marker id="arrow-hot" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#d01010"/></marker></defs>',
    `<rect width="${width}" height="${height}" fill="white"/>`,
  ];
  if (model.title) out.push(`<text x="${width / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${escapeXml(model.title)}</text>`);
  out.push(`<g transform="translate(0,${titleHeight})">`);
  edges.forEach((e, i) => {
    const points = routes[i].map((p) => `${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
    out.push(`<polyline class="edge" points="${points}" fill="none" stroke="${e.highlighted ? '#d01010' : '#888'}" stroke-width="${e.highlighted ? 2.5 : 1}" marker-end="url(#${e.highlighted ? 'arrow-hot' : 'arrow'})"/>`);
  });
  for (const p of placed) {
    const v = p.vertex;
    const left = p.x - p.width / 2, top = p.y - p.height / 2;
    const stroke = v.highlighted ? '#d01010' : '#555';
    const strokeWidth = v.highlighted ? 2 : 1;
    const shape = v.kind === 'leaf'
      ? `<ellipse cx="${p.x.toFixed(1)}" cy="${p.y.toFixed(1)}" rx="${(p.width / 2).toFixed(1)}" ry="${(p.height / 2).toFixed(1)}"`
      : `<rect x="${left.toFixed(1)}" y="${top.toFixed(1)}" width="${p.width}" height="${p.height}" rx="${v.kind === 'op' ? 6 : 0}"`;
    // a copy of a shared leaf is dashed, so the eye knows it has met this tensor before
    const dash = p.copy > 0 ? ' stroke-dasharray="4 3"' : '';
    out.push(`<g class="${p.copy > 0 ? 'copy' : 'vertex'} ${v.kind}" id="${p.key}">${shape} fill="${fillOf(v)}" stroke="${stroke}" stroke-width="${strokeWidth}"${dash}/><title>${escapeXml(tooltips.get(v.id)!)}</title>`);
    const text = lines.get(v.id)!;
    const textTop = p.y - (text.length * LINE_HEIGHT) / 2;
    text.forEach((line, i) => {
      const y = textTop + (i + 0.8) * LINE_HEIGHT;
      out.push(`<text x="${p.x.toFixed(1)}" y="${y.toFixed(1)}" text-anchor="middle"${i === 0 ? ' font-weight="bold"' : ''}>${escapeXml(line)}</text>`);
    });
    out.push('</g>');
  }
  out.push('</g></svg>');
  return out.join('\n');
}

/**
 * The recorded graph behind y drawn as a self-contained SVG, or an HTML page holding it
 * (default), laid out by dagre (the optional peer dependency @dagrejs/dagre, imported only
 * here, when first called): no Graphviz binary, no network. Same options and labels as
 * toDot. Async because the layout library loads lazily.
 */
export async function renderGraph(y: Tensor, options: RenderGraphOptions = {}): Promise<string> {
  const format = options.format ?? 'html';
  if (format !== 'svg' && format !== 'html') throw new ValueError('renderGraph', `format must be 'svg' or 'html', got '${String(format)}'`);
  const labels = options.labels ?? 'auto';
  if (labels !== 'full' && labels !== 'compact' && labels !== 'auto') throw new ValueError('renderGraph', `labels must be 'full', 'compact' or 'auto', got '${String(labels)}'`);
  const model = graphModel(y, options);
  const svg = await layoutSvg(model, labels === 'compact' || (labels === 'auto' && model.vertices.length > COMPACT_ABOVE));
  if (format === 'svg') return `<?xml version="1.0" encoding="UTF-8"?>\n${svg}\n`;
  const title = escapeXml(model.title ?? 'tapegrad graph');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<style>body{font-family:Helvetica,Arial,sans-serif;margin:12px;color:#222}.legend span{display:inline-block;padding:2px 8px;margin-right:8px;border:1px solid #555;font-size:12px}
.picture{overflow:auto;border:1px solid #ddd}</style></head>
<body><h1 style="font-size:16px">${title}</h1>
<p class="legend"><span style="background:#fffbe6;border-radius:6px">op</span><span style="background:#f4f4f4;border-radius:50%">leaf</span><span style="background:#cfe2ff">parameter</span><span style="background:#e8e0f8">folded module</span><span style="background:#f8c0c0">holds NaN/±∞</span><span style="border-color:#d01010;color:#d01010">highlighted path</span>
 — statistics are min / mean / max over the finite values; grad is ∂output/∂tensor.</p>
<div class="picture">${svg}</div>
</body></html>
`;
}
