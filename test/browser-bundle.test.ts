import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { type Plugin, build } from 'esbuild';
import { describe, expect, it } from 'vitest';

// Each package's browser entry, bundled as a web app's bundler would (esbuild, platform
// browser, so the `browser` export condition picks nn's and datasets' universal entries) from
// the built packages (run `pnpm build` first). Any import of a Node built-in fails the test,
// naming the file that imports it: such a bundle would break at load in a page.
const from = fileURLToPath(new URL('../packages/cli/', import.meta.url)); // where every @tapegrad package is linked
const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

function refuseBuiltins(found: string[]): Plugin {
  return {
    name: 'refuse-node-builtins',
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => {
        if (!builtins.has(args.path) && !args.path.startsWith('node:')) return undefined;
        found.push(`${args.path} (imported by ${args.importer})`);
        return { path: args.path, external: true };
      });
    },
  };
}

async function bundle(code: string): Promise<{ builtins: string[]; minified: number; gzipped: number; inputs: string[] }> {
  const found: string[] = [];
  const result = await build({
    stdin: { contents: code, resolveDir: from, loader: 'ts', sourcefile: 'app.ts' },
    bundle: true,
    platform: 'browser',
    format: 'esm',
    minify: true,
    write: false,
    metafile: true,
    logLevel: 'silent',
    // optional peers that a page which wants them installs (graph layout, property tests)
    external: ['@dagrejs/dagre', 'fast-check'],
    plugins: [refuseBuiltins(found)],
  });
  const bytes = result.outputFiles[0].contents;
  return { builtins: found, minified: bytes.byteLength, gzipped: gzipSync(bytes).byteLength, inputs: Object.keys(result.metafile.inputs) };
}

const entries: Array<[string, string]> = [
  ['@tapegrad/core', `export * from '@tapegrad/core';`],
  ['@tapegrad/core/testing', `export * from '@tapegrad/core/testing';`],
  ['@tapegrad/nn', `export * from '@tapegrad/nn';`],
  ['@tapegrad/datasets', `export * from '@tapegrad/datasets';`],
  ['@tapegrad/backend-wasm', `export * from '@tapegrad/backend-wasm';`],
];

describe('browser bundles (esbuild, platform browser)', () => {
  const sizes: string[] = [];
  for (const [name, code] of entries) {
    it(`${name}: no Node built-in anywhere in the bundle`, async () => {
      const result = await bundle(code);
      expect(result.builtins, `${name} pulls Node built-ins into a browser bundle`).toEqual([]);
      // the terminal's progress bar and the file helpers stay on Node's side
      expect(result.inputs.filter((f) => /cli-progress|\/node\/|\/src\/node\.ts/.test(f))).toEqual([]);
      expect(result.minified).toBeGreaterThan(1000);
      sizes.push(`${name.padEnd(24)} ${(result.minified / 1024).toFixed(1).padStart(7)} kB minified ${(result.gzipped / 1024).toFixed(1).padStart(6)} kB gzip`);
    }, 60_000);
  }

  it('the universal entries offer the byte-level model files and in-memory data, not the file helpers', async () => {
    const result = await bundle(`
      import { serializeModel, deserializeModel, fit, mlp } from '@tapegrad/nn';
      import { mnistFromDigits, idxDataset, parseIdx, xor } from '@tapegrad/datasets';
      console.log(serializeModel, deserializeModel, fit, mlp, mnistFromDigits, idxDataset, parseIdx, xor);
    `);
    expect(result.builtins).toEqual([]);
    await expect(bundle(`import { saveModel } from '@tapegrad/nn'; console.log(saveModel);`)).rejects.toThrow(/No matching export .* "saveModel"/);
    await expect(bundle(`import { loadMnist } from '@tapegrad/datasets'; console.log(loadMnist);`)).rejects.toThrow(/No matching export .* "loadMnist"/);
    if (sizes.length > 0) console.log(`browser entries:\n${sizes.join('\n')}`);
  }, 60_000);
});
