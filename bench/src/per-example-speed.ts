/**
 * perExampleGradients: the vectorised rules (Dense, Conv2d) against one backward pass per
 * example, on the fastest backend here. Median of 15 timed runs after 2 warm-ups, each in tidy;
 * the two methods alternate run by run, so load from other processes falls on both alike.
 *
 *   npx tsx bench/src/per-example-speed.ts [--backend js]   (from the repository root: its tsconfig maps the
 *                                             @tapegrad packages to their sources)
 */
import { type Tensor, createRng, getBackend, tensor, tidy } from '@tapegrad/core';
import { Conv2d, Dense, Flatten, MaxPool2d, type Module, ReLU, mlp, perExampleGradients, sequential } from '@tapegrad/nn';

interface Case {
  name: string;
  model: Module;
  x: Tensor;
  y: Tensor;
}

function labels(classes: number, examples: number): Tensor {
  const y = new Float32Array(classes * examples);
  for (let m = 0; m < examples; m++) y[((7 * m) % classes) * examples + m] = 1;
  return tensor(y, { shape: [classes, examples] });
}

function cases(): Case[] {
  const rng = createRng(5);
  const normal = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
  const batch = 32;
  return [
    {
      name: `MLP 784-64-10 relu/softmax, batch ${batch}`,
      model: mlp([784, 64, 10], { hidden: 'relu', output: 'softmax', seed: 1 }),
      x: tensor(normal(784 * batch), { shape: [784, batch] }),
      y: labels(10, batch),
    },
    {
      name: `small CNN: conv 1→6 5×5 pad 2, relu, pool 2, conv 6→16 5×5, relu, pool 2, flatten, dense 400→10 softmax; 28×28, batch ${batch}`,
      model: sequential(
        new Conv2d(1, 6, 5, { padding: 2, seed: 1 }), new ReLU(), new MaxPool2d(2),
        new Conv2d(6, 16, 5, { seed: 2 }), new ReLU(), new MaxPool2d(2),
        new Flatten(), new Dense(400, 10, { activation: 'softmax', seed: 3 }),
      ),
      x: tensor(normal(batch * 28 * 28), { shape: [batch, 1, 28, 28] }),
      y: labels(10, batch),
    },
  ];
}

// --backend js skips it; by default the native backend from the workspace (bench does not
// depend on it), where its addon was built
if (!process.argv.includes('js')) {
  const native = (await import('../../packages/backend-native/src/index.js')) as { initNativeBackend(): unknown };
  native.initNativeBackend();
}
console.log(`backend ${getBackend().name}`);
for (const c of cases()) {
  const run = (method: 'vectorised' | 'loop') => {
    const start = performance.now();
    tidy(() => {
      perExampleGradients(c.model, 'cce', c.x, c.y, { method });
    });
    return performance.now() - start;
  };
  for (let w = 0; w < 2; w++) {
    run('vectorised');
    run('loop');
  }
  const times = { vectorised: [] as number[], loop: [] as number[] };
  for (let r = 0; r < 15; r++) {
    times.vectorised.push(run('vectorised'));
    times.loop.push(run('loop'));
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const [v, l] = [median(times.vectorised), median(times.loop)];
  console.log(`${c.name}: vectorised ${v.toFixed(1)} ms, loop ${l.toFixed(1)} ms, ${(l / v).toFixed(1)}×`);
}
