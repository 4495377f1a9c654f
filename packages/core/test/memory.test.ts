import v8 from 'node:v8';
import vm from 'node:vm';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Tape, type Tensor, add, matmul, mean, mul, noGrad, randn, sigmoid, sub, tidy, zeros } from '@tapegrad/core';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** heapUsed after full collections, so only what is still reachable counts. */
function settledHeap(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** A 4-8-3 sigmoid MLP on a fixed batch of 8 (examples as columns), MSE loss, plain SGD. */
function makeProblem() {
  const params = {
    w1: randn([8, 4], { seed: 1, std: 0.5 }),
    b1: zeros([8, 1]),
    w2: randn([3, 8], { seed: 2, std: 0.5 }),
    b2: zeros([3, 1]),
  };
  const x = randn([4, 8], { seed: 3 });
  const y = randn([3, 8], { seed: 4, mean: 0.5, std: 0.2 });
  const list = [params.w1, params.b1, params.w2, params.b2];

  function step(lr: number): { loss: number; tape: Tape } {
    const tape = new Tape();
    const loss = tape.record(() => {
      const a1 = sigmoid(add(matmul(params.w1, x), params.b1));
      const a2 = sigmoid(add(matmul(params.w2, a1), params.b2));
      const diff = sub(a2, y);
      return mean(mul(diff, diff));
    });
    const grads = tape.gradient(loss, list);
    noGrad(() => list.forEach((p, i) => p.assign(sub(p, mul(grads[i], lr)))));
    return { loss: loss.item(), tape };
  }
  return { step, params };
}

describe('memory', () => {
  it('10,000 record/gradient/update cycles keep the heap flat, and every tape lets go', () => {
    const { step, params } = makeProblem();
    const first = step(0.5);
    expect(first.tape.size).toBe(0);
    let heapAt1000 = 0;
    let last = first;
    let released = 0;
    for (let cycle = 2; cycle <= 10_000; cycle++) {
      last = step(0.5);
      if (last.tape.size === 0) released++;
      if (cycle === 1_000) heapAt1000 = settledHeap();
    }
    const heapAt10000 = settledHeap();
    expect(released).toBe(9_999);
    // every cycle allocates tensors, nodes and closures; none may survive it
    expect(heapAt10000 - heapAt1000).toBeLessThan(5 * 1024 * 1024);
    // the cycles really trained: the loss went down and the weights moved
    expect(last.loss).toBeLessThan(first.loss * 0.5);
    expect(params.w1.version).toBe(10_000);
    expect(Number.isFinite(last.loss)).toBe(true);
  });

  it('a spent non-persistent tape no longer keeps the recorded tensors alive; a persistent one does', async () => {
    const x = randn([16, 16], { seed: 9 });
    const run = (persistent: boolean) => {
      const tape = new Tape({ persistent });
      let hidden: Tensor = x;
      const loss = tape.record(() => {
        hidden = sigmoid(matmul(x, x));
        return mean(hidden);
      });
      tape.gradient(loss, x);
      return { tape, hidden: new WeakRef(hidden) };
    };
    const spent = run(false);
    const kept = run(true);
    // WeakRefs are only cleared after the current job: let it end before collecting
    await new Promise((resolve) => setTimeout(resolve, 0));
    gc();
    expect(spent.tape.size).toBe(0);
    expect(spent.hidden.deref()).toBeUndefined();
    expect(kept.tape.size).toBeGreaterThan(0);
    expect(kept.hidden.deref()).toBeDefined();
  });
});

describe('small fresh buffers (outside tidy) cut from shared slabs', () => {
  it('each array is zero-filled, 16-byte aligned, and its own: writes to one never show in another (float32 and float64, any order of sizes)', () => {
    fc.assert(fc.property(
      fc.array(fc.record({ size: fc.integer({ min: 1, max: 700 }), float64: fc.boolean() }), { minLength: 1, maxLength: 60 }),
      (requests) => {
        const made = requests.map(({ size, float64 }) => zeros([size], { dtype: float64 ? 'float64' : 'float32' }));
        made.forEach((t, k) => {
          expect(t.data.every((v) => v === 0)).toBe(true);
          expect(t.data.byteOffset % 16).toBe(0);
          t.data.fill(k + 1);
        });
        made.forEach((t, k) => expect(t.data.every((v) => v === k + 1)).toBe(true));
      },
    ), { numRuns: 60, seed: 42 });
  });

  it('only arrays of 65 bytes to 2 KB share a slab (at most 16 KB, so a kept one pins little); smaller and larger ones own their buffers', () => {
    const [a, b] = [zeros([100]), zeros([100])]; // 400 bytes each: cut one after the other
    expect(a.data.buffer).toBe(b.data.buffer);
    expect(b.data.byteOffset - a.data.byteOffset).toBe(400);
    expect(a.data.buffer.byteLength).toBeLessThanOrEqual(16384);
    for (const [size, dtype] of [[16, 'float32'], [8, 'float64'], [513, 'float32'], [257, 'float64']] as const) {
      const t = zeros([size], { dtype });
      expect(t.data.byteOffset).toBe(0);
      expect(t.data.buffer.byteLength).toBe(t.data.byteLength);
    }
    // an op's output is cut the same way, and inside tidy the pool then reuses that very view
    const x = randn([10, 10], { seed: 1 });
    expect(add(x, x).data.buffer.byteLength).toBeLessThanOrEqual(16384);
    expect(Array.from(add(x, x).data)).toEqual(Array.from(x.data, (v) => Math.fround(v + v)));
    const first = tidy(() => add(x, x).data);
    expect(tidy(() => add(x, x).data)).toBe(first);
  });
});
