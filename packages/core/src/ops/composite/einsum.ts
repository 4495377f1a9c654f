import { eye } from '../../creation.js';
import { ShapeError, ValueError, fmt } from '../../errors.js';
import { assertTensor } from '../../op.js';
import type { Tensor } from '../../tensor.js';
import { mul } from '../arithmetic.js';
import { broadcastTo, reshape, transpose } from '../layout.js';
import { matmulT } from '../matmul.js';
import { sum } from '../reduce.js';

/**
 * Einstein summation, lowered to the primitives every other op uses: a repeated label in
 * one operand (a diagonal, a trace) is a multiply by an identity mask and a sum; a label no
 * later operand or the output needs is summed away as early as possible; each pair of
 * operands contracts as one (batched) matmul after a transpose and a reshape; products
 * without a shared summed label (outer products, element-wise products) are a broadcasting
 * multiply. So every gradient, of any order, comes from those primitives' VJPs (TF.js's
 * einsum has none: its issue #7722).
 */

/** A label is a letter; an ellipsis expands into labels of its own, counted from the right. */
type Label = string;

interface Operand {
  tensor: Tensor;
  labels: Label[];
}

const ellipsisLabel = (fromRight: number): Label => `…${fromRight}`;

function parseTerm(spec: string, term: string, rank: number | undefined, which: string): Label[] {
  const parts = term.split('...');
  if (parts.length > 2) throw new ValueError('einsum', `"${spec}": ${which} has more than one ellipsis`);
  for (const part of parts) {
    for (const ch of part) {
      if (!/[a-zA-Z]/.test(ch)) throw new ValueError('einsum', `"${spec}": '${ch}' in ${which} is not a letter (labels are a–z, A–Z, and one '...' per term)`);
    }
  }
  const letters = parts.join('').length;
  if (parts.length === 1) {
    if (rank !== undefined && rank !== letters) {
      throw new ShapeError('einsum', `"${spec}": ${which} has ${letters} labels but its tensor has rank ${rank}`);
    }
    return [...parts[0]];
  }
  // the ellipsis stands for the axes the letters leave over (rank given for inputs only)
  const covered = rank === undefined ? -1 : rank - letters;
  if (rank !== undefined && covered < 0) throw new ShapeError('einsum', `"${spec}": ${which} has ${letters} labels but its tensor has rank ${rank}`);
  const middle = Array.from({ length: Math.max(covered, 0) }, (_, i) => ellipsisLabel(covered - i));
  return [...parts[0], ...middle, ...parts[1]];
}

/** x's tensor with its axes permuted into the order of `order`'s labels. */
function arrange(x: Operand, order: readonly Label[]): Tensor {
  const perm = order.map((l) => x.labels.indexOf(l));
  return transpose(x.tensor, perm);
}

/** Sums away every label of x that `keep` does not list. */
function sumUnneeded(x: Operand, keep: ReadonlySet<Label>): Operand {
  const axes = x.labels.flatMap((l, i) => (keep.has(l) ? [] : [i]));
  if (axes.length === 0) return x;
  return { tensor: sum(x.tensor, axes), labels: x.labels.filter((l) => keep.has(l)) };
}

/** Collapses each label repeated within one operand to its diagonal: x·I summed over one copy. */
function takeDiagonals(x: Operand): Operand {
  let { tensor: t, labels } = x;
  for (let i = 0; i < labels.length; i++) {
    const j = labels.indexOf(labels[i], i + 1);
    if (j < 0) continue;
    const n = t.shape[i];
    const maskShape = t.shape.map((_, axis) => (axis === i || axis === j ? n : 1));
    const mask = reshape(eye(n, n, { dtype: t.dtype }), maskShape);
    t = sum(mul(t, mask), j);
    labels = labels.filter((_, axis) => axis !== j);
    i--; // the label may repeat a third time
  }
  return { tensor: t, labels };
}

/** Contracts two operands over their shared labels that `keep` does not need. */
function contract(a: Operand, b: Operand, keep: ReadonlySet<Label>, size: ReadonlyMap<Label, number>): Operand {
  const inB = new Set(b.labels), inA = new Set(a.labels);
  const batch = a.labels.filter((l) => inB.has(l) && keep.has(l));
  const summed = a.labels.filter((l) => inB.has(l) && !keep.has(l));
  const aFree = a.labels.filter((l) => !inB.has(l));
  const bFree = b.labels.filter((l) => !inA.has(l));
  const labels = [...batch, ...aFree, ...bFree];
  const dims = (ls: readonly Label[]) => ls.map((l) => size.get(l)!);
  const count = (ls: readonly Label[]) => dims(ls).reduce((p, d) => p * d, 1);
  if (summed.length === 0) {
    // nothing to sum: a broadcasting product, each side given length-1 axes for the other's free labels
    const left = reshape(arrange(a, [...batch, ...aFree]), [...dims(batch), ...dims(aFree), ...bFree.map(() => 1)]);
    const right = reshape(arrange(b, [...batch, ...bFree]), [...dims(batch), ...aFree.map(() => 1), ...dims(bFree)]);
    return { tensor: mul(left, right), labels };
  }
  // [batch, M, K]·[batch, K, N]; an operand already stored as [batch, K, M] (or [batch, N, K])
  // is read through matmul's transpose flag instead of being copied
  const same = (x: Operand, order: readonly Label[]) => order.every((l, i) => x.labels[i] === l);
  const transposeA = !same(a, [...batch, ...aFree, ...summed]) && same(a, [...batch, ...summed, ...aFree]);
  const transposeB = !same(b, [...batch, ...summed, ...bFree]) && same(b, [...batch, ...bFree, ...summed]);
  const lead = batch.length > 0 ? [count(batch)] : [];
  const [m, k, n] = [count(aFree), count(summed), count(bFree)];
  const left = reshape(arrange(a, transposeA ? [...batch, ...summed, ...aFree] : [...batch, ...aFree, ...summed]), [...lead, ...(transposeA ? [k, m] : [m, k])]);
  const right = reshape(arrange(b, transposeB ? [...batch, ...bFree, ...summed] : [...batch, ...summed, ...bFree]), [...lead, ...(transposeB ? [n, k] : [k, n])]);
  return { tensor: reshape(matmulT(left, right, transposeA, transposeB), dims(labels)), labels };
}

/**
 * Einstein summation as in NumPy and PyTorch: `einsum('bij,bjk->bik', a, b)` is a batched
 * matmul, `'ii->'` a trace, `'ii->i'` a diagonal, `'i,j->ij'` an outer product,
 * `'...ij->...ji'` a transpose of the last two axes. Without `->` the output is every label
 * that appears once, in alphabetical order (after the ellipsis axes). A label's length must
 * agree across operands, or be 1 (then it broadcasts). Gradients of any order come from the
 * primitives it lowers to. A malformed spec is a ValueError quoting it.
 */
export function einsum(spec: string, ...operands: Tensor[]): Tensor {
  if (typeof spec !== 'string') throw new ValueError('einsum', `the spec must be a string, got ${typeof spec}`);
  operands.forEach((t, i) => assertTensor('einsum', t, i));
  const compact = spec.replace(/\s+/g, '');
  const arrow = compact.split('->');
  if (arrow.length > 2) throw new ValueError('einsum', `"${spec}" has more than one '->'`);
  const terms = arrow[0].split(',');
  if (operands.length === 0) throw new ValueError('einsum', `"${spec}" needs at least one tensor`);
  if (terms.length !== operands.length) {
    throw new ValueError('einsum', `"${spec}" names ${terms.length} operand${terms.length === 1 ? '' : 's'} but ${operands.length} tensor${operands.length === 1 ? ' was' : 's were'} given`);
  }
  let inputs: Operand[] = operands.map((t, i) => ({ tensor: t, labels: parseTerm(spec, terms[i], t.rank, `operand ${i} ('${terms[i]}')`) }));

  // every label's length: equal across operands, or 1 (broadcast)
  const size = new Map<Label, number>();
  for (const { tensor, labels } of inputs) {
    labels.forEach((l, axis) => {
      const d = tensor.shape[axis], seen = size.get(l);
      if (seen === undefined || seen === 1) size.set(l, d);
      else if (d !== seen && d !== 1) {
        const where = l.startsWith('…') ? 'an ellipsis axis' : `label '${l}'`;
        throw new ShapeError('einsum', `"${spec}": ${where} has length ${seen} in one place and ${d} in another (${operands.map((x) => fmt(x.shape)).join(', ')})`);
      }
    });
  }
  inputs = inputs.map(({ tensor, labels }) => {
    const full = labels.map((l) => size.get(l)!);
    return { tensor: full.some((d, i) => d !== tensor.shape[i]) ? broadcastTo(tensor, full) : tensor, labels };
  });

  const ellipsisRank = Math.max(0, ...inputs.map(({ labels }) => labels.filter((l) => l.startsWith('…')).length));
  let output: Label[];
  if (arrow.length === 2) {
    const named = parseTerm(spec, arrow[1], undefined, `the output ('${arrow[1]}')`);
    if (!arrow[1].includes('...') && ellipsisRank > 0) {
      throw new ValueError('einsum', `"${spec}": the operands have '...' axes, so the output must say where they go ('...')`);
    }
    const at = arrow[1].indexOf('...');
    output = at < 0 ? named : [...named.slice(0, at), ...Array.from({ length: ellipsisRank }, (_, i) => ellipsisLabel(ellipsisRank - i)), ...named.slice(at)];
    const all = new Set(inputs.flatMap((x) => x.labels));
    for (const l of output) {
      if (!all.has(l)) throw new ValueError('einsum', `"${spec}": output label '${l}' appears in no operand`);
      if (output.indexOf(l) !== output.lastIndexOf(l)) throw new ValueError('einsum', `"${spec}": output label '${l}' appears twice`);
    }
  } else {
    const counts = new Map<Label, number>();
    for (const x of inputs) for (const l of x.labels) if (!l.startsWith('…')) counts.set(l, (counts.get(l) ?? 0) + 1);
    const once = [...counts].filter(([, c]) => c === 1).map(([l]) => l).sort();
    output = [...Array.from({ length: ellipsisRank }, (_, i) => ellipsisLabel(ellipsisRank - i)), ...once];
  }

  // diagonals first, then each operand drops what nobody else needs, then contract left to right
  inputs = inputs.map(takeDiagonals);
  const needed = (from: number): Set<Label> => new Set([...output, ...inputs.slice(from).flatMap((x) => x.labels)]);
  let acc = sumUnneeded(inputs[0], needed(1));
  for (let i = 1; i < inputs.length; i++) {
    const keep = needed(i + 1);
    const next = sumUnneeded(inputs[i], new Set([...keep, ...acc.labels]));
    acc = contract(sumUnneeded(acc, new Set([...keep, ...next.labels])), next, keep, size);
  }
  acc = sumUnneeded(acc, new Set(output));
  return arrange(acc, output);
}
