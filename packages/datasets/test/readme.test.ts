import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// The README's program runs as written (tsx, with the workspace's path aliases to the
// sources) and must print exactly the block the README shows after it.
const root = fileURLToPath(new URL('../../..', import.meta.url));
const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
const scratch = mkdtempSync(join(tmpdir(), 'tapegrad-datasets-readme-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('README', () => {
  it('has one program, followed by what it prints', () => {
    expect([...readme.matchAll(/```ts\n/g)]).toHaveLength(1);
    expect(readme).toMatch(/```ts\n[\s\S]*?```\n\nprints\n\n```\n[\s\S]*?```/);
  });

  it('the program runs and prints what the README says', () => {
    const [, code, printed] = /```ts\n([\s\S]*?)```\n\nprints\n\n```\n([\s\S]*?)```/.exec(readme)!;
    const file = join(scratch, 'readme.ts');
    writeFileSync(file, code);
    const out = execFileSync(process.execPath, ['--import', 'tsx', file], {
      cwd: root,
      encoding: 'utf8',
      // the root tsconfig's paths send @tapegrad/* to the sources, as for the other tests
      env: { ...process.env, TSX_TSCONFIG_PATH: join(root, 'tsconfig.json') },
    });
    expect(out).toBe(printed);
  });
});
