import { type Tensor, columnSampler, createRng, jsBackend, memoryStats, registerBackend, setBackend, tensor, tidy } from '@tapegrad/core';
import { SPLIT_UPDATE_FROM } from '../src/backend.js';
import { SGD, fit, mlp } from '@tapegrad/nn';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { loadAddon } from '../src/addon.js';
import { built, nativeBackend } from './native.js';

/**
 * The batch gather a training loop starts ahead (core's columnSampler.prefetch): the addon's
 * gatherColumnsStart on the matmul worker's side-job slot, against a plain loop, and the
 * sampler on the native backend against takeColumns.
 */

/** out[r·n + k] = x[indices[k]·rowLength + r], written out plainly. */
function reference(x: Float32Array | Float64Array, rowLength: number, indices: Int32Array): Float32Array | Float64Array {
  const out = new (x.constructor as Float32ArrayConstructor)(rowLength * indices.length);
  for (let k = 0; k < indices.length; k++) for (let r = 0; r < rowLength; r++) out[r * indices.length + k] = x[indices[k] * rowLength + r];
  return out;
}

/** datasets' takeColumns, written out: columns `indices` of x [rows, N]. */
function takeColumns(x: Tensor, indices: ArrayLike<number>): { data: ArrayLike<number> } {
  const [rows, n] = x.shape;
  const out: number[] = [];
  for (let r = 0; r < rows; r++) for (let k = 0; k < indices.length; k++) out.push(x.data[r * n + indices[k]]);
  return { data: out };
}

function randomArray(type: 'float32' | 'float64', length: number, seed: number): Float32Array | Float64Array {
  const rng = createRng(seed);
  const values = Float64Array.from({ length }, () => rng.normal() * 1e3);
  return type === 'float32' ? Float32Array.from(values) : values;
}

/** gather(x, rowLength, indices, out) writes exactly reference()'s values, on random matrices, batches and repeats, float32 and float64. */
function gathersAsReference(gather: (x: Float32Array | Float64Array, rowLength: number, indices: Int32Array, out: Float32Array | Float64Array) => void, numRuns: number, seed: number): void {
  fc.assert(fc.property(
    fc.constantFrom('float32' as const, 'float64' as const), fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 40 }),
    fc.array(fc.nat(), { maxLength: 37 }), fc.integer(),
    (type, rowLength, rows, raw, valuesSeed) => {
      const x = randomArray(type, rows * rowLength, valuesSeed);
      const indices = Int32Array.from(raw, (i) => i % rows);
      const out = new (x.constructor as Float32ArrayConstructor)(rowLength * indices.length).fill(NaN);
      gather(x, rowLength, indices, out);
      expect(Array.from(out)).toEqual(Array.from(reference(x, rowLength, indices)));
    },
  ), { numRuns, seed });
}

afterEach(() => setBackend('js'));

describe.runIf(built)('gatherColumnsAsync (the next batch, gathered on the worker thread)', () => {
  for (const threads of ['auto', 'off'] as const) {
    it(`writes exactly the rows at indices as columns, float32 and float64, any batch size (threads '${threads}')`, () => {
      const backend = nativeBackend({ name: `native-prefetch-${threads}`, threads });
      gathersAsReference((x, rowLength, indices, out) => {
        const wait = backend.gatherColumnsAsync!(x, rowLength, indices, out);
        wait();
        wait(); // a second wait returns at once
      }, 40, 42);
    });
  }

  it('jobs posted back to back without waits each complete (a start waits for the job before it), while two-thread products run', () => {
    const backend = nativeBackend({ name: 'native-prefetch-queue', threads: 'always' });
    const x = randomArray('float32', 200 * 784, 3) as Float32Array;
    const a = randomArray('float32', 128 * 784, 4) as Float32Array, b = randomArray('float32', 784 * 64, 5) as Float32Array;
    const product = new Float32Array(128 * 64), alone = new Float32Array(128 * 64);
    nativeBackend({ name: 'native-prefetch-one', threads: 'off' }).matmul(a, b, alone, 128, 784, 64, false, false);
    const jobs = Array.from({ length: 12 }, (_, j) => {
      const indices = Int32Array.from({ length: 64 }, (_, k) => (k * 37 + j * 11) % 200);
      const out = new Float32Array(784 * 64).fill(NaN);
      return { indices, out, wait: backend.gatherColumnsAsync!(x, 784, indices, out) };
    });
    backend.matmul(a, b, product, 128, 784, 64, false, false);
    for (const { wait } of jobs.slice().reverse()) wait();
    for (const { indices, out } of jobs) expect(Array.from(out)).toEqual(Array.from(reference(x, 784, indices)));
    // one thread and two give the same bits, side job or not
    expect(Array.from(product)).toEqual(Array.from(alone));
  });

  it('refuses bad arguments before starting: an index outside the rows, a short out, out inside x, mixed types', () => {
    const { addon } = loadAddon();
    const x = new Float32Array(40);
    expect(() => addon!.gatherColumnsStart(x, 8, Int32Array.of(0, 5), new Float32Array(16), 1)).toThrow(/indices\[1\] = 5 is outside \[0, 5\)/);
    expect(() => addon!.gatherColumnsStart(x, 8, Int32Array.of(0, 4), new Float32Array(15), 1)).toThrow(RangeError);
    expect(() => addon!.gatherColumnsStart(x, 8, Int32Array.of(1), x.subarray(0, 8), 1)).toThrow(/out must not share memory with x/);
    expect(() => addon!.gatherColumnsStart(x, 7, Int32Array.of(1), new Float32Array(7), 1)).toThrow(/rowLength must be a positive divisor/);
    expect(() => addon!.gatherColumnsStart(x, 8, Int32Array.of(1), new Float64Array(8), 1)).toThrow(TypeError);
    expect(() => addon!.backgroundWait(-1)).toThrow(TypeError);
  });
});

describe.runIf(built)('a large update in two halves (subScaled from SPLIT_UPDATE_FROM values, half on the worker)', () => {
  it('is bit-identical to js, float32 and float64, into out, y or x, at odd lengths around the threshold', () => {
    const backend = nativeBackend({ name: 'native-split-update', smallFloat64InJs: false });
    for (const type of ['float32', 'float64'] as const) {
      for (const n of [SPLIT_UPDATE_FROM - 1, SPLIT_UPDATE_FROM, 100_352, 131_075]) {
        const y = randomArray(type, n, n), x = randomArray(type, n, n + 1);
        const expected = y.slice();
        jsBackend.subScaled(y, x, 0.1, expected);
        const out = y.slice().fill(NaN), intoY = y.slice(), intoX = x.slice();
        backend.subScaled(y, x, 0.1, out);
        backend.subScaled(intoY, x, 0.1, intoY);
        backend.subScaled(y, intoX, 0.1, intoX);
        for (const got of [out, intoY, intoX]) expect(got.every((v, i) => Object.is(v, expected[i]))).toBe(true);
      }
    }
  });
});

describe.runIf(built)('gatherColumns (a batch gathered at take, on the calling thread)', () => {
  it('writes exactly the rows at indices as columns, float32 and float64, any batch size', () => {
    const backend = nativeBackend({ name: 'native-gather-now' });
    gathersAsReference((x, rowLength, indices, out) => backend.gatherColumns!(x, rowLength, indices, out), 60, 43);
  });

  it('columnSampler.take uses it for every batch not gathered ahead, with the values of js\'s loop (plain arrays of indices too)', () => {
    const native = nativeBackend({ name: 'native-take' });
    let calls = 0;
    registerBackend({ ...native, gatherColumns: (...args: Parameters<NonNullable<typeof native.gatherColumns>>) => (calls++, native.gatherColumns!(...args)) });
    const rng = createRng(12);
    for (const dtype of ['float32', 'float64'] as const) {
      const rows = 37, n = 29;
      const x = tensor(Float64Array.from({ length: rows * n }, () => rng.normal()), { shape: [rows, n], dtype });
      const indices = [[3], [0, 28, 28, 5], Array.from({ length: 19 }, (_, k) => (k * 11) % n)];
      setBackend('js');
      const inJs = indices.map((i) => Array.from(columnSampler(x).take(i).data));
      setBackend('native-take');
      const sampler = columnSampler(x);
      indices.forEach((i, k) => {
        const got = sampler.take(k === 2 ? Int32Array.from(i) : i);
        expect(got.dtype).toBe(dtype);
        expect(got.shape).toEqual([rows, i.length]);
        expect(Array.from(got.data)).toEqual(inJs[k]);
        expect(Array.from(got.data)).toEqual(Array.from(takeColumns(x, i).data));
      });
      expect(() => sampler.take([0, -1])).toThrow(`columnSampler.take: index -1 at position 1 is not a column of a [${rows},${n}] matrix`);
    }
    expect(calls).toBe(6);
  });

  for (const backend of ['native', 'js'] as const) {
    it(`inside tidy a batch gathered at take is a pool buffer, not zeroed: one buffer goes round, nothing allocated once warm (${backend})`, () => {
      if (backend === 'native') registerBackend(nativeBackend({ name: 'native-take-pool' }));
      setBackend(backend === 'native' ? 'native-take-pool' : 'js');
      const rows = 784, n = 40;
      const x = tensor(Float32Array.from({ length: rows * n }, (_, i) => i % 977), { shape: [rows, n], dtype: 'float32' });
      const sampler = columnSampler(x);
      const batch = (s: number) => Int32Array.from({ length: 10 }, (_, k) => (s * 10 + k * 3) % n);
      const buffers = new Set<ArrayBufferLike>();
      const step = (s: number) => tidy(() => {
        const xb = sampler.take(batch(s));
        buffers.add((xb.data as Float32Array).buffer);
        return Array.from(xb.data.subarray(0, 10));
      });
      for (let s = 0; s < 3; s++) step(s);
      const before = memoryStats().allocated;
      for (let s = 3; s < 20; s++) expect(step(s)).toEqual(Array.from(batch(s), (j) => x.data[j]));
      expect(memoryStats().allocated).toBe(before);
      expect(buffers.size).toBe(1);
    });
  }
});

describe.runIf(built)('columnSampler.prefetch on the native backend', () => {
  it('take after prefetch equals takeColumns; a take of other indices drops the prefetched batch; float32 and float64', () => {
    // the native backend, counting the gathers started on the worker
    const native = nativeBackend({ name: 'native-sampler' });
    let started = 0;
    registerBackend({ ...native, gatherColumnsAsync: (...args: Parameters<NonNullable<typeof native.gatherColumnsAsync>>) => (started++, native.gatherColumnsAsync!(...args)) });
    setBackend('native-sampler');
    const rng = createRng(11);
    for (const dtype of ['float32', 'float64'] as const) {
      const rows = 1100, n = 50;
      const x = tensor(Float64Array.from({ length: rows * n }, () => rng.normal()), { shape: [rows, n], dtype });
      const sampler = columnSampler(x);
      const batchOf = (b: number) => Int32Array.from({ length: b }, () => Math.floor(rng.next() * n));
      for (let step = 0; step < 30; step++) {
        const next = batchOf(15 + (step % 5)); // 1100 × 15…19 values: above prefetch's minimum (16,384)
        sampler.prefetch(next);
        // every third step takes something else first: the prefetched batch is dropped
        const indices = step % 3 === 2 ? batchOf(15) : next;
        const got = sampler.take(indices);
        expect(got.dtype).toBe(dtype);
        expect(got.shape).toEqual([rows, indices.length]);
        expect(Array.from(got.data)).toEqual(Array.from(takeColumns(x, indices).data));
      }
      // prefetch twice, then take the second; prefetch checks indices as take does
      sampler.prefetch(Int32Array.from({ length: 20 }, (_, k) => (k * 3) % n));
      sampler.prefetch(Int32Array.from({ length: 20 }, (_, k) => (k * 7) % n));
      expect(Array.from(sampler.take(Int32Array.from({ length: 20 }, (_, k) => (k * 7) % n)).data)).toEqual(Array.from(takeColumns(x, Int32Array.from({ length: 20 }, (_, k) => (k * 7) % n)).data));
      expect(() => sampler.prefetch([0, n])).toThrow(`columnSampler.prefetch: index ${n} at position 1 is not a column of a [${rows},${n}] matrix`);
    }
    expect(started).toBe(2 * 32);
    // a batch below 16,384 values is gathered at take: nothing started
    const small = columnSampler(tensor(new Float32Array(1100 * 50), { shape: [1100, 50], dtype: 'float32' }));
    small.prefetch([1, 2, 3]);
    expect(Array.from(small.take([1, 2, 3]).data)).toEqual(new Array(3300).fill(0));
    expect(started).toBe(2 * 32);
  });

  it('inside tidy the prefetched batch is a pool buffer: steps reuse it, none allocated once warm', () => {
    registerBackend(nativeBackend({ name: 'native-sampler-pool' }));
    setBackend('native-sampler-pool');
    const rows = 784, n = 40;
    const x = tensor(Float32Array.from({ length: rows * n }, (_, i) => i % 977), { shape: [rows, n], dtype: 'float32' });
    const sampler = columnSampler(x);
    const batch = (s: number) => Int32Array.from({ length: 24 }, (_, k) => (s * 24 + k * 3) % n); // 784 × 24 values: prefetched
    const buffers = new Set<ArrayBufferLike>();
    const step = (s: number) => tidy(() => {
      const xb = sampler.take(batch(s));
      if (s >= 4) buffers.add((xb.data as Float32Array).buffer);
      sampler.prefetch(batch(s + 1));
      return xb.data[0];
    });
    for (let s = 0; s < 4; s++) step(s);
    const before = memoryStats().allocated;
    for (let s = 4; s < 24; s++) expect(step(s)).toBe(x.data[batch(s)[0]]);
    expect(memoryStats().allocated).toBe(before);
    // the prefetched batches' buffers themselves go round the pool: a few, not one per step
    expect(buffers.size).toBeLessThanOrEqual(3);
  });
});

describe.runIf(built)('fit on the native backend gathers each next batch ahead', () => {
  it('and trains to exactly the weights it reaches with every batch gathered at take', async () => {
    const native = nativeBackend({ name: 'native-fit' });
    let started = 0;
    registerBackend({ ...native, name: 'native-fit-ahead', gatherColumnsAsync: (...args: Parameters<NonNullable<typeof native.gatherColumnsAsync>>) => (started++, native.gatherColumnsAsync!(...args)) });
    registerBackend({ ...native, name: 'native-fit-at-take', gatherColumnsAsync: undefined });
    const rng = createRng(5);
    const n = 96, features = 700; // batches of 32 columns: 22,400 values, gathered ahead
    const x = tensor(Float64Array.from({ length: features * n }, () => rng.next()), { shape: [features, n], dtype: 'float32' });
    const y = tensor(Float64Array.from({ length: 3 * n }, (_, i) => (i % 3 === Math.floor(i / n) ? 1 : 0)), { shape: [3, n], dtype: 'float32' });
    const train = async (backend: string) => {
      setBackend(backend);
      const model = mlp([features, 16, 3], { hidden: 'relu', output: 'softmax', rng: createRng(9), dtype: 'float32' });
      await fit(model, { x, y }, { loss: 'cce', optimizer: new SGD({ lr: 0.1 }), epochs: 2, batchSize: 32, seed: 4, progress: false });
      return Object.values(model.parameters()).map((p) => Array.from(p.data));
    };
    const ahead = await train('native-fit-ahead');
    expect(started).toBe(2 * 2); // per epoch: batches 2 and 3 (the first is gathered at take)
    expect(await train('native-fit-at-take')).toEqual(ahead);
  });
});
