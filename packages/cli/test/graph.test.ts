import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'tapegrad-graph-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tapegrad graph', () => {
  it('--layers 3,2,1 writes the HTML picture of one step, and the format follows the extension', async () => {
    const html = join(dir, 'graph.html');
    const r = await cli(['graph', '--layers', '3,2,1', '--out', html]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^graph: 3-2-1 sigmoid\/sigmoid \+ bce, batch 2, seed 0; cost 0\.304742; wrote .*graph\.html \(html\)\n$/);
    const page = readFileSync(html, 'utf8');
    expect(page).toMatch(/^<!doctype html>/);
    expect(page.match(/<g class="vertex/g)).toHaveLength(17);
    const dot = join(dir, 'step.dot');
    expect((await cli(['graph', '--layers', '3,2,1', '--fold', '--out', dot])).code).toBe(0);
    const text = readFileSync(dot, 'utf8');
    expect(text).toMatch(/^digraph tapegrad \{/);
    expect(text).toContain('dense 1 (3 ops: matmul, add, sigmoid)\\n[2,2] float64');
    expect(text).toContain('dense 2 (2 ops: matmul, add)\\n[1,2] float64');
  });

  it('--model draws a saved model on a few embedded MNIST test images', async () => {
    const model = join(dir, 'model');
    expect((await cli(['train', '--layers', '784,8,10', '--epochs', '1', '--limit-train', '100', '--limit-test', '10', '--backend', 'js', '--quiet', '--out', model])).code).toBe(0);
    const svg = join(dir, 'mnist.svg');
    const r = await cli(['graph', '--model', model, '--batch', '3', '--out', svg]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/784-8-10 relu\/softmax \+ cce, 3 test images; cost \d/);
    const text = readFileSync(svg, 'utf8');
    expect(text).toMatch(/^<\?xml/);
    for (const name of ['0.W', '0.b', '1.W', '1.b', '>X<', '>Y<', '>relu<', '>exp<', '[784,3] float32']) expect(text).toContain(name);
  }, 60_000);

  it('a bad option is one line and exit 2', async () => {
    const r = await cli(['graph', '--format', 'png']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^tapegrad graph: --format/);
    const missing = await cli(['graph', '--model', join(dir, 'nothing-here')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^tapegrad graph: --model: no such file or directory/);
  });
});
