import { DeviceTensorError, ValueError, fmt } from './errors.js';
import { cotangentsOf } from './tape.js';
import { Tensor } from './tensor.js';

/**
 * The recorded graph behind a tensor as a picture: DOT (Graphviz), Mermaid, or a
 * self-contained SVG/HTML laid out by dagre. Browser-safe: no Node imports.
 *
 * One box per recorded op (its output's shape, dtype and value statistics, and — with
 * `gradients` — the statistics of the cotangent ∂y/∂output), one ellipse per leaf (named
 * from a module or a name map when given), edges from inputs to the ops that read them.
 */

/** Tensor names: a Map, a record of named tensors, or a module (`parameters()` / `named()`). */
export type GraphNames =
  | ReadonlyMap<Tensor, string>
  | Readonly<Record<string, Tensor>>
  | {
      /** A module's parameters by name. */
      parameters(): Readonly<Record<string, Tensor>>;
    }
  | {
      /** Named tensors, as a record or as [name, tensor] pairs. */
      named(): Readonly<Record<string, Tensor>> | Iterable<readonly [string, Tensor]>;
    };

/** Folds the ops between a module's inputs and its output into one box labelled `name`. */
export interface GraphFold {
  name: string;
  /** The module's output (e.g. a Dense layer's activation). */
  output: Tensor;
  /** The module's inputs: they and everything behind them stay outside the box. */
  inputs: readonly Tensor[];
}

/** Options of toDot, toMermaid and graphModel: names, gradients, highlights. */
export interface GraphOptions {
  /** Labels for leaves (and any tensor), e.g. a model: its parameters appear as `0.W`, `1.b`; or several sources. */
  names?: GraphNames | readonly GraphNames[];
  /** Compute ∂y/∂t for every tensor in the graph (one backward sweep) and show its statistics. */
  gradients?: boolean;
  /** Highlight every edge on a path from these tensors to y (the loss). */
  highlight?: Tensor | readonly Tensor[];
  /** Modules to show as one box each. */
  fold?: readonly GraphFold[];
  /** A title for the picture. */
  title?: string;
}

/** Value statistics of one tensor: over its finite values, and counts of the others. */
export interface TensorStats {
  min: number;
  mean: number;
  max: number;
  nan: number;
  posInf: number;
  negInf: number;
}

/** A vertex of the graph model: an op, a leaf tensor, or a fold of repeated ops. */
export interface GraphVertex {
  /** n0, n1, … in topological order (inputs first): stable across runs. */
  id: string;
  kind: 'op' | 'leaf' | 'fold';
  /** The op's name, the leaf's name (or 'leaf'), or the fold's name. */
  label: string;
  /** For a fold: the ops inside it, in order. */
  ops?: readonly string[];
  shape: readonly number[];
  dtype: string;
  /** Absent when the values live on a device: a graph is drawn synchronously and cannot read them. */
  values?: TensorStats;
  /** With `gradients`, the cotangent's statistics (absent on a device, as values). */
  gradient?: TensorStats;
  /** A leaf that requires gradients or a module named: a parameter. */
  parameter: boolean;
  highlighted: boolean;
}

/** An edge of the graph model: from an input vertex to the op vertex that used it. */
export interface GraphEdge {
  from: string;
  to: string;
  highlighted: boolean;
}

/** The recorded graph as vertices and edges, what toDot, toMermaid and renderGraph draw. */
export interface GraphModel {
  vertices: GraphVertex[];
  edges: GraphEdge[];
  title?: string;
}

/**
 * Minimum, maximum, mean and counts of NaN and ±∞ over a tensor's values, as the graph labels
 * show them. A DeviceTensorError for a tensor on a device (the values are not readable synchronously).
 */
export function tensorStats(t: Tensor): TensorStats {
  if (t.device !== 'cpu') throw new DeviceTensorError('tensorStats', `tensor ${fmt(t.shape)} lives on the '${t.device}' device; compute on its values from \`await t.dataAsync()\``);
  const data = t.data;
  let min = Infinity, max = -Infinity, total = 0, finite = 0, nan = 0, posInf = 0, negInf = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v !== v) nan++;
    else if (v === Infinity) posInf++;
    else if (v === -Infinity) negInf++;
    else {
      if (v < min) min = v;
      if (v > max) max = v;
      total += v;
      finite++;
    }
  }
  return finite === 0 ? { min: NaN, mean: NaN, max: NaN, nan, posInf, negInf } : { min, mean: total / finite, max, nan, posInf, negInf };
}

/** Tensors named by a module (parameters() or named()): drawn as parameters, not as data. */
function moduleTensors(source: GraphNames | readonly GraphNames[] | undefined): Set<Tensor> {
  const out = new Set<Tensor>();
  const sources = source === undefined ? [] : Array.isArray(source) ? (source as readonly GraphNames[]) : [source as GraphNames];
  for (const names of sources) {
    const isModule = !(names instanceof Map) && ['named', 'parameters'].some((k) => typeof (names as Record<string, unknown>)[k] === 'function');
    if (isModule) for (const t of nameMap(names).keys()) out.add(t);
  }
  return out;
}

function nameMap(source: GraphNames | readonly GraphNames[] | undefined): Map<Tensor, string> {
  const out = new Map<Tensor, string>();
  if (source === undefined) return out;
  if (Array.isArray(source)) {
    for (const names of source as readonly GraphNames[]) for (const [t, name] of nameMap(names)) out.set(t, name);
    return out;
  }
  const names = source as GraphNames;
  if (names instanceof Map) {
    for (const [t, name] of names) out.set(t, name);
    return out;
  }
  let entries: Iterable<readonly [string, Tensor]>;
  if (typeof (names as { named?: unknown }).named === 'function') {
    const named = (names as { named(): Readonly<Record<string, Tensor>> | Iterable<readonly [string, Tensor]> }).named();
    entries = Symbol.iterator in Object(named) ? (named as Iterable<readonly [string, Tensor]>) : Object.entries(named);
  } else if (typeof (names as { parameters?: unknown }).parameters === 'function') {
    entries = Object.entries((names as { parameters(): Readonly<Record<string, Tensor>> }).parameters());
  } else {
    entries = Object.entries(names as Readonly<Record<string, Tensor>>);
  }
  for (const [name, t] of entries) if (t instanceof Tensor) out.set(t, name);
  return out;
}

/** Every tensor behind y (y included), inputs before the ops that read them. */
function collect(y: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>([y]);
  const stack: Array<[Tensor, number]> = [[y, 0]];
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const [t, next] = top;
    const inputs = t.node ? t.node.inputs : [];
    if (next < inputs.length) {
      top[1] = next + 1;
      const child = inputs[next];
      if (!seen.has(child)) {
        seen.add(child);
        stack.push([child, 0]);
      }
    } else {
      order.push(t);
      stack.pop();
    }
  }
  return order;
}

/** The tensors behind `from` (inclusive) within the collected set. */
function ancestors(from: Tensor): Set<Tensor> {
  const out = new Set<Tensor>();
  const stack = [from];
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (out.has(t)) continue;
    out.add(t);
    if (t.node) stack.push(...t.node.inputs);
  }
  return out;
}

/** The graph behind y as plain data: what toDot, toMermaid and renderGraph draw. */
export function graphModel(y: Tensor, options: GraphOptions = {}): GraphModel {
  if (!(y instanceof Tensor)) throw new ValueError('graph', `the output must be a Tensor, got ${typeof y}`);
  const tensors = collect(y);
  const collected = new Set(tensors);
  const names = nameMap(options.names);
  const parameters = moduleTensors(options.names);
  const cotangents = new Map<Tensor, Tensor>();
  if (options.gradients) {
    const found = cotangentsOf(y, tensors);
    tensors.forEach((t, i) => {
      const g = found[i];
      if (g) cotangents.set(t, g);
    });
  }
  // highlighted: tensors on a path from a chosen tensor to y
  const targets = options.highlight === undefined ? [] : options.highlight instanceof Tensor ? [options.highlight] : [...options.highlight];
  const leadsToTarget = new Set<Tensor>(targets);
  for (const t of tensors) if (t.node && t.node.inputs.some((input) => leadsToTarget.has(input))) leadsToTarget.add(t);
  // fold membership: ancestors(output) minus ancestors(each input)
  const foldOf = new Map<Tensor, number>();
  (options.fold ?? []).forEach((fold, k) => {
    const outside = new Set<Tensor>();
    for (const input of fold.inputs) for (const t of ancestors(input)) outside.add(t);
    for (const t of ancestors(fold.output)) if (!outside.has(t) && !foldOf.has(t)) foldOf.set(t, k);
  });

  const vertexOf = new Map<Tensor, string>();
  const vertices: GraphVertex[] = [];
  const foldVertex = new Map<number, GraphVertex>();
  for (const t of tensors) {
    const fold = foldOf.get(t);
    if (fold !== undefined) {
      let v = foldVertex.get(fold);
      if (!v) {
        v = { id: `n${vertices.length}`, kind: 'fold', label: options.fold![fold].name, ops: [], shape: [], dtype: t.dtype, values: statsOf(t), parameter: false, highlighted: false };
        foldVertex.set(fold, v);
        vertices.push(v);
      }
      if (t.node) (v.ops as string[]).push(t.node.def.name);
      // the module's output, or — when y does not read it (a loss on logits skips the last
      // activation) — the last of its tensors that y does read
      if (t === options.fold![fold].output || (!collected.has(options.fold![fold].output) && t.node)) {
        v.shape = t.shape;
        v.values = statsOf(t);
        const g = cotangents.get(t);
        if (g) v.gradient = statsOf(g);
      }
      if (leadsToTarget.has(t)) v.highlighted = true;
      vertexOf.set(t, v.id);
      continue;
    }
    const g = cotangents.get(t);
    const v: GraphVertex = {
      id: `n${vertices.length}`,
      kind: t.node ? 'op' : 'leaf',
      label: t.node ? t.node.def.name : names.get(t) ?? (t.size === 1 ? 'constant' : 'leaf'),
      shape: t.shape,
      dtype: t.dtype,
      values: statsOf(t),
      gradient: g ? statsOf(g) : undefined,
      parameter: !t.node && (t.requiresGrad || parameters.has(t)),
      highlighted: leadsToTarget.has(t),
    };
    if (t.node && names.has(t)) v.label = `${names.get(t)} = ${v.label}`;
    vertices.push(v);
    vertexOf.set(t, v.id);
  }
  const edges: GraphEdge[] = [];
  const seenEdges = new Set<string>();
  for (const t of tensors) {
    if (!t.node) continue;
    const to = vertexOf.get(t)!;
    for (const input of t.node.inputs) {
      const from = vertexOf.get(input)!;
      const key = `${from}>${to}`;
      if (from === to || seenEdges.has(key)) continue;
      seenEdges.add(key);
      edges.push({ from, to, highlighted: leadsToTarget.has(input) && leadsToTarget.has(t) });
    }
  }
  return { vertices, edges, title: options.title };
}

/** A number in 4 significant digits, as short as that allows. */
export function formatStat(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? '+∞' : '−∞';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a < 1e-3 || a >= 1e5) return v.toExponential(2);
  return String(Number(v.toPrecision(4)));
}

/** A vertex's statistics: none for values on a device, which a synchronous drawing cannot read. */
function statsOf(t: Tensor): TensorStats | undefined {
  return t.device === 'cpu' ? tensorStats(t) : undefined;
}

function statsLine(prefix: string, s: TensorStats | undefined): string {
  if (s === undefined) return `${prefix} on the device`;
  const bad = [s.nan ? `NaN ${s.nan}` : '', s.posInf ? `+∞ ${s.posInf}` : '', s.negInf ? `−∞ ${s.negInf}` : ''].filter(Boolean).join(' ');
  return `${prefix} ${formatStat(s.min)} / ${formatStat(s.mean)} / ${formatStat(s.max)}${bad ? `  ${bad}` : ''}`;
}

function hasBad(s: TensorStats | undefined): boolean {
  return s !== undefined && s.nan + s.posInf + s.negInf > 0;
}

/** The text lines of a vertex's label: title, shape and dtype, values, gradient. */
export function vertexLines(v: GraphVertex): string[] {
  const title = v.kind === 'fold' ? `${v.label} (${v.ops!.length} op${v.ops!.length === 1 ? '' : 's'}: ${[...new Set(v.ops)].join(', ')})` : v.label;
  const lines = [title, `[${v.shape.join(',')}] ${v.dtype}`, statsLine('value', v.values)];
  if (v.gradient) lines.push(statsLine('grad', v.gradient));
  return lines;
}

function dotEscape(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
}

/**
 * The graph behind y in Graphviz DOT: `dot -Tsvg` draws it, or paste it into any DOT viewer.
 * Ops are boxes, leaves ellipses (parameters filled blue), folded modules double boxes,
 * anything holding NaN/±∞ (value or gradient) filled red; highlighted paths are thick and red.
 * Statistics read `min / mean / max` over the finite values.
 */
export function toDot(y: Tensor, options: GraphOptions = {}): string {
  const model = graphModel(y, options);
  const out = ['digraph tapegrad {', '  rankdir=BT;', '  node [fontname="Helvetica", fontsize=10];'];
  if (model.title) out.push(`  label="${dotEscape(model.title)}"; labelloc=t;`);
  for (const v of model.vertices) {
    const label = vertexLines(v).map(dotEscape).join('\\n');
    const shape = v.kind === 'leaf' ? 'ellipse' : v.kind === 'fold' ? 'box3d' : 'box';
    const attrs = [`label="${label}"`, `shape=${shape}`];
    const fill = hasBad(v.values) || hasBad(v.gradient) ? '#f8c0c0' : v.parameter ? '#cfe2ff' : v.kind === 'fold' ? '#e8e0f8' : '';
    if (fill) attrs.push('style=filled', `fillcolor="${fill}"`);
    if (v.kind === 'op') attrs.push('style="rounded' + (fill ? ',filled' : '') + '"');
    if (v.highlighted) attrs.push('color="#d01010"', 'penwidth=2');
    out.push(`  ${v.id} [${dedupeStyle(attrs).join(', ')}];`);
  }
  for (const e of model.edges) out.push(`  ${e.from} -> ${e.to}${e.highlighted ? ' [color="#d01010", penwidth=2.5]' : ''};`);
  out.push('}');
  return `${out.join('\n')}\n`;
}

/** An op box that is also filled keeps one style attribute ("rounded,filled"). */
function dedupeStyle(attrs: string[]): string[] {
  const styled = attrs.filter((a) => a.startsWith('style='));
  if (styled.length < 2) return attrs;
  return [...attrs.filter((a) => !a.startsWith('style=')), styled[styled.length - 1]];
}

/**
 * The same graph as a Mermaid flowchart (renders in GitHub Markdown, GitLab and most docs
 * tools): the same labels, classes `param`, `bad` and `fold`, highlighted edges in red.
 */
export function toMermaid(y: Tensor, options: GraphOptions = {}): string {
  const model = graphModel(y, options);
  const out = ['flowchart BT'];
  if (model.title) out.unshift(`---\ntitle: ${model.title.replace(/\n/g, ' ')}\n---`);
  const mermaidText = (s: string) => s.replace(/"/g, '#quot;').replace(/</g, '#lt;').replace(/>/g, '#gt;');
  for (const v of model.vertices) {
    const label = vertexLines(v).map(mermaidText).join('<br/>');
    const [open, close] = v.kind === 'leaf' ? ['([', '])'] : v.kind === 'fold' ? ['[[', ']]'] : ['(', ')'];
    out.push(`  ${v.id}${open}"${label}"${close}`);
    const cls = hasBad(v.values) || hasBad(v.gradient) ? 'bad' : v.parameter ? 'param' : v.kind === 'fold' ? 'fold' : '';
    if (cls) out.push(`  class ${v.id} ${cls}`);
  }
  const red: number[] = [];
  model.edges.forEach((e, i) => {
    out.push(`  ${e.from} --> ${e.to}`);
    if (e.highlighted) red.push(i);
  });
  out.push('  classDef param fill:#cfe2ff,stroke:#555', '  classDef bad fill:#f8c0c0,stroke:#a00', '  classDef fold fill:#e8e0f8,stroke:#555');
  if (red.length > 0) out.push(`  linkStyle ${red.join(',')} stroke:#d01010,stroke-width:3px`);
  return `${out.join('\n')}\n`;
}
