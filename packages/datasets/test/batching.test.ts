import { afterEach, describe, expect, it } from 'vitest';
import { type Backend, ShapeError, ValueError, createRng, getBackend, jsBackend, mulberry32, randn, registerBackend, setBackend, tensor } from '@tapegrad/core';
import { batchCount, batches, columnSampler, epochOrder, loadMnist, takeColumns } from '@tapegrad/datasets';

/** The protocol's epoch order written out from BENCH-PROTOCOL.md, independent of the package. */
function protocolEpochs(n: number, seed: number, epochs: number): number[][] {
  let a = seed;
  const rng = () => {
    a |= 0; a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out: number[][] = [];
  for (let e = 0; e < epochs; e++) {
    const p = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i >= 1; i--) {
      const j = Math.floor(rng() * (i + 1));
      [p[i], p[j]] = [p[j], p[i]];
    }
    out.push(p);
  }
  return out;
}

describe('epochOrder: the benchmark protocol shuffle', () => {
  it('BENCH-PROTOCOL check: seed 42, n = 7996, epoch 0 starts 7340, 1210, 6119, 2666, 7366', () => {
    expect(Array.from(epochOrder(7996, createRng(42)).subarray(0, 5))).toEqual([7340, 1210, 6119, 2666, 7366]);
    // a bare uniform source works the same
    expect(Array.from(epochOrder(7996, mulberry32(42)).subarray(0, 5))).toEqual([7340, 1210, 6119, 2666, 7366]);
  });

  it('carries the generator across epochs: epochs 0–2 equal the protocol written out', () => {
    const rng = createRng(42);
    const reference = protocolEpochs(7996, 42, 3);
    for (let e = 0; e < 3; e++) expect(Array.from(epochOrder(7996, rng))).toEqual(reference[e]);
    expect(reference[1].slice(0, 5)).toEqual([755, 4476, 3743, 3085, 196]);
  });

  it('is a permutation, and trivial for n = 0 and 1', () => {
    const order = epochOrder(1000, createRng(7));
    expect(Array.from(order).sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(Array.from(epochOrder(0, createRng(1)))).toEqual([]);
    expect(Array.from(epochOrder(1, createRng(1)))).toEqual([0]);
    expect(() => epochOrder(2.5, createRng(1))).toThrow('epochOrder: n must be a non-negative integer, got 2.5');
  });
});

describe('takeColumns', () => {
  const x = tensor([[0, 1, 2, 3], [10, 11, 12, 13], [20, 21, 22, 23]], { dtype: 'float64' });

  it('gathers columns in the given order, repeats allowed, dtype kept', () => {
    const t = takeColumns(x, [3, 0, 3]);
    expect(t.shape).toEqual([3, 3]);
    expect(t.dtype).toBe('float64');
    expect(t.toArray()).toEqual([[3, 0, 3], [13, 10, 13], [23, 20, 23]]);
    expect(takeColumns(tensor([[1.5, 2.5]]), Int32Array.of(1)).dtype).toBe('float32');
    expect(takeColumns(x, []).shape).toEqual([3, 0]);
  });

  it('matches a plain element-by-element gather across row blocks (rows not a multiple of the block)', () => {
    const rows = 37, n = 50;
    const values = new Float32Array(rows * n).map((_, i) => i * 0.5 - 7);
    const big = tensor(values, { shape: [rows, n], dtype: 'float32' });
    const indices = Int32Array.of(49, 0, 17, 17, 3, 48, 25);
    const got = takeColumns(big, indices);
    expect(got.shape).toEqual([rows, indices.length]);
    const want = new Float32Array(rows * indices.length);
    for (let r = 0; r < rows; r++) for (let k = 0; k < indices.length; k++) want[r * indices.length + k] = values[r * n + indices[k]];
    expect(Array.from(got.data)).toEqual(Array.from(want));
  });

  it('copies: the batch does not share storage with the source', () => {
    const t = takeColumns(x, [1]);
    t.assign([100, 110, 120]);
    expect(x.toArray()).toEqual([[0, 1, 2, 3], [10, 11, 12, 13], [20, 21, 22, 23]]);
  });

  it('refuses indices outside the columns and non-matrices', () => {
    expect(() => takeColumns(x, [0, 4])).toThrow(new ValueError('takeColumns', 'index 4 at position 1 is not a column of a [3,4] matrix'));
    expect(() => takeColumns(x, [-1])).toThrow(ValueError);
    expect(() => takeColumns(x, [0.5])).toThrow(ValueError);
    expect(() => takeColumns(tensor([1, 2, 3]), [0])).toThrow(new ShapeError('takeColumns', 'expects a [rows, N] matrix, got shape [3]'));
  });
});

describe('columnSampler', () => {
  it('take equals takeColumns on random shapes and index lists (repeats, out of order, odd sizes), float32 and float64', () => {
    const rng = createRng(7);
    for (const dtype of ['float32', 'float64'] as const) {
      for (let trial = 0; trial < 40; trial++) {
        const rows = 1 + Math.floor(rng.next() * 70);
        const n = 1 + Math.floor(rng.next() * 90);
        const values = Float64Array.from({ length: rows * n }, () => rng.normal() * 1e3);
        const x = tensor(values, { shape: [rows, n], dtype });
        const sampler = columnSampler(x);
        expect(sampler.shape).toEqual([rows, n]);
        expect(sampler.dtype).toBe(dtype);
        for (let draw = 0; draw < 4; draw++) {
          const b = Math.floor(rng.next() * 40); // 0..39: empty, short, and across the 8-column blocks
          const indices = Int32Array.from({ length: b }, () => Math.floor(rng.next() * n));
          const got = sampler.take(draw % 2 ? Array.from(indices) : indices);
          const want = takeColumns(x, indices);
          expect(got.shape).toEqual(want.shape);
          expect(got.dtype).toBe(want.dtype);
          expect(got.data.constructor).toBe(want.data.constructor);
          expect(Array.from(got.data)).toEqual(Array.from(want.data));
        }
      }
    }
  });

  it('is a snapshot, and each batch is a fresh copy', () => {
    const x = tensor([[0, 1, 2, 3], [10, 11, 12, 13]], { dtype: 'float64' });
    const sampler = columnSampler(x);
    const t = sampler.take([2, 2]);
    t.assign([0, 0, 0, 0]);
    expect(sampler.take([2, 0]).toArray()).toEqual([[2, 0], [12, 10]]);
  });

  it('prefetch is a hint: on js it changes nothing (take after it, of the same or other indices, equals takeColumns) and checks indices as take does', () => {
    const x = tensor(Float64Array.from({ length: 600 * 9 }, (_, i) => (i * 37) % 101), { shape: [600, 9], dtype: 'float32' });
    const sampler = columnSampler(x);
    sampler.prefetch([8, 0, 3, 3, 1, 2, 7, 5, 4, 6]);
    expect(Array.from(sampler.take([8, 0, 3, 3, 1, 2, 7, 5, 4, 6]).data)).toEqual(Array.from(takeColumns(x, [8, 0, 3, 3, 1, 2, 7, 5, 4, 6]).data));
    sampler.prefetch([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(Array.from(sampler.take([2, 1]).data)).toEqual(Array.from(takeColumns(x, [2, 1]).data));
    expect(() => sampler.prefetch([0, 9])).toThrow(new ValueError('columnSampler.prefetch', 'index 9 at position 1 is not a column of a [600,9] matrix'));
  });

  it('refuses indices outside the columns (naming the function and the index) and non-matrices', () => {
    const sampler = columnSampler(tensor([[0, 1, 2, 3], [10, 11, 12, 13], [20, 21, 22, 23]]));
    expect(() => sampler.take([0, 4])).toThrow(new ValueError('columnSampler.take', 'index 4 at position 1 is not a column of a [3,4] matrix'));
    expect(() => sampler.take([-1])).toThrow('columnSampler.take: index -1 at position 0');
    expect(() => sampler.take([1, 0.5])).toThrow('index 0.5 at position 1');
    expect(() => columnSampler(tensor([1, 2, 3]))).toThrow(new ShapeError('columnSampler', 'expects a [rows, N] matrix, got shape [3]'));
  });
});

describe('batches', () => {
  // 10 examples, feature rows 100 + m and 200 + m; y the one-hot of m mod 3
  const n = 10;
  const labels = Uint8Array.from({ length: n }, (_, m) => m % 3);
  const data = {
    x: tensor([Array.from({ length: n }, (_, m) => 100 + m), Array.from({ length: n }, (_, m) => 200 + m)], { dtype: 'float64' }),
    y: tensor([0, 1, 2].map((c) => Array.from(labels, (l) => (l === c ? 1 : 0))), { dtype: 'float64' }),
    labels,
  };

  it('consecutive slices of each epoch order, the last one short, x / y / labels aligned', () => {
    const all = [...batches(data, { batchSize: 4, seed: 3, epochs: 2 })];
    expect(all.map((b) => [b.epoch, b.step, b.indices.length])).toEqual([[0, 0, 4], [0, 1, 4], [0, 2, 2], [1, 0, 4], [1, 1, 4], [1, 2, 2]]);
    const [e0, e1] = protocolEpochs(n, 3, 2);
    expect(all.slice(0, 3).flatMap((b) => Array.from(b.indices))).toEqual(e0);
    expect(all.slice(3).flatMap((b) => Array.from(b.indices))).toEqual(e1);
    for (const b of all) {
      const idx = Array.from(b.indices);
      expect(b.x.shape).toEqual([2, idx.length]);
      expect(b.x.toArray()).toEqual([idx.map((m) => 100 + m), idx.map((m) => 200 + m)]);
      expect(b.y.shape).toEqual([3, idx.length]);
      expect(Array.from(b.labels)).toEqual(idx.map((m) => m % 3));
      expect(b.y.toArray()).toEqual([0, 1, 2].map((c) => idx.map((m) => (m % 3 === c ? 1 : 0))));
    }
  });

  it('one generator over several epochs = the same generator passed to one call per epoch', () => {
    const joint = [...batches(data, { batchSize: 3, seed: 11, epochs: 3 })].map((b) => Array.from(b.indices));
    const rng = createRng(11);
    const split = [0, 1, 2].flatMap(() => [...batches(data, { batchSize: 3, rng })].map((b) => Array.from(b.indices)));
    expect(split).toEqual(joint);
    // a seed per call would restart the generator: every epoch the same order
    const reseeded = [0, 1].map(() => [...batches(data, { batchSize: 10, seed: 11 })][0].indices);
    expect(Array.from(reseeded[1])).toEqual(Array.from(reseeded[0]));
  });

  it('MNIST, seed 42, batch 64: 125 batches per epoch, the first starting 7340, 1210, 6119, 2666, 7366', () => {
    const { train } = loadMnist();
    const epoch = batches(train, { batchSize: 64, seed: 42 });
    const first = epoch.next().value!;
    expect(Array.from(first.indices.subarray(0, 5))).toEqual([7340, 1210, 6119, 2666, 7366]);
    expect(first.x.shape).toEqual([784, 64]);
    expect(first.y.shape).toEqual([10, 64]);
    // 7340 lies in digit 9's block (train indices 7214–7995), 1210 in digit 1's (800–1700)
    expect(Array.from(first.labels.subarray(0, 5))).toEqual([9, 1, 7, 3, 9]);
    for (let p = 0; p < 784; p += 97) expect(first.x.data[p * 64]).toBe(train.x.data[p * 7996 + 7340]);
    const rest = [...epoch];
    expect(rest.length + 1).toBe(125);
    expect(batchCount(7996, 64)).toBe(125);
    expect(rest.at(-1)!.indices.length).toBe(7996 - 124 * 64);
    expect(rest.at(-1)!.x.shape).toEqual([784, 60]);
  });

  it('shuffle: false keeps the stored order; dropLast skips the short batch', () => {
    const ordered = [...batches(data, { batchSize: 4, shuffle: false, epochs: 2 })];
    expect(ordered.map((b) => Array.from(b.indices))).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9], [0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
    const dropped = [...batches(data, { batchSize: 4, seed: 1, dropLast: true })];
    expect(dropped.map((b) => b.indices.length)).toEqual([4, 4]);
    expect(batchCount(10, 4, true)).toBe(2);
    expect([...batches({ x: data.x }, { batchSize: 20, shuffle: false })].map((b) => [b.x.shape, 'y' in b, 'labels' in b])).toEqual([[[2, 10], false, false]]);
  });

  it('refuses bad options when called, before the first batch', () => {
    expect(() => batches(data, { batchSize: 4 })).toThrow(
      'batches: shuffling needs a seed or an rng (tapegrad never draws unseeded randomness); pass shuffle: false for the stored order',
    );
    expect(() => batches(data, { batchSize: 0, seed: 1 })).toThrow('batches: batchSize must be a positive integer, got 0');
    expect(() => batches(data, { batchSize: 2, seed: 1, rng: createRng(1) })).toThrow('batches: pass a seed or an rng, not both');
    expect(() => batches(data, { batchSize: 2, seed: 1, epochs: -1 })).toThrow('batches: epochs must be a non-negative integer, got -1');
    expect(() => batches({ x: data.x, y: tensor([[1, 2, 3]]) }, { batchSize: 2, seed: 1 })).toThrow(
      new ShapeError('batches', 'y of shape [1,3] does not have the N = 10 columns of x [2,10]'),
    );
    expect(() => batches({ x: data.x, labels: new Uint8Array(9) }, { batchSize: 2, seed: 1 })).toThrow('batches: 9 labels for the N = 10 columns of x');
    expect(() => batches({ x: tensor([1, 2]) }, { batchSize: 2, seed: 1 })).toThrow('batches: expects x as a [features, N] matrix, got shape [2]');
  });
});

describe('batches gathers the next batch ahead where the backend can', () => {
  afterEach(() => setBackend('js'));

  /** A js backend that can gather on "another thread" (here at once), recording each start and each wait. */
  function spyBackend(name: string) {
    const log: string[] = [];
    const backend: Backend = {
      ...jsBackend,
      name,
      gatherColumnsAsync(x, rowLength, indices, out) {
        log.push(`start ${indices[0]}`);
        const [from, to] = [x as Float32Array, out as Float32Array];
        for (let k = 0; k < indices.length; k++) for (let r = 0; r < rowLength; r++) to[r * indices.length + k] = from[indices[k] * rowLength + r];
        return () => log.push(`wait ${indices[0]}`);
      },
    };
    registerBackend(backend);
    setBackend(name);
    return log;
  }

  // 512 features × 120 examples in batches of 40: 20,480 values a batch, enough to be gathered ahead
  const x = randn([512, 120], { seed: 4 });
  const y = randn([2, 120], { seed: 5 });

  it('the next batch of the same epoch, never across epochs (the rng draws stay the caller\'s), with takeColumns\' values', () => {
    const log = spyBackend('spy-gather');
    const seen = [...batches({ x, y }, { batchSize: 40, seed: 8, epochs: 2 })];
    expect(getBackend().name).toBe('spy-gather');
    const firsts = seen.map((b) => b.indices[0]);
    // per epoch: batch 0 gathered at take, batches 1 and 2 started while the one before trained
    expect(log).toEqual([
      `start ${firsts[1]}`, `wait ${firsts[1]}`, `start ${firsts[2]}`, `wait ${firsts[2]}`,
      `start ${firsts[4]}`, `wait ${firsts[4]}`, `start ${firsts[5]}`, `wait ${firsts[5]}`,
    ]);
    expect(seen.flatMap((b) => Array.from(b.indices))).toEqual(protocolEpochs(120, 8, 2).flat());
    for (const b of seen) {
      expect(Array.from(b.x.data)).toEqual(Array.from(takeColumns(x, b.indices).data));
      expect(Array.from(b.y!.data)).toEqual(Array.from(takeColumns(y, b.indices).data));
    }
  });

  it('a loop that stops early waits for the gather it started, and no later batch is gathered', () => {
    const log = spyBackend('spy-gather-break');
    let first = -1;
    for (const b of batches({ x }, { batchSize: 40, seed: 8 })) {
      first = b.indices[0];
      break;
    }
    const [order] = protocolEpochs(120, 8, 1);
    const next = order[40];
    expect(first).toBe(order[0]);
    expect(log).toEqual([`start ${next}`, `wait ${next}`]);
  });
});
