import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TrainOptions, parseTrainOptions, runTrain } from '../src/commands/train.js';
import { UsageError } from '../src/errors.js';
import type { Io } from '../src/io.js';
import { type FileWriter, type Manifest, OutputFolder, diskWriter, processIdentity, recoverForReading, verifyManifest } from '../src/output-folder.js';
import { OUTPUT_FILES } from '../src/commands/train.js';
import { run } from '../src/program.js';
import { buildModel, loadModelFile } from '../src/model-file.js';
import { serializeParameters } from '@tapegrad/nn';
import { writeIdx } from '@tapegrad/datasets';
import { scratchDir, startCli } from './helpers.js';

/**
 * Failure modes of `tapegrad train --out DIR`: whatever happens (kill -9 at any moment, Ctrl-C
 * twice, a full disk, a diverged run, a second run, a crash halfway through a publish), DIR
 * afterwards holds one run's complete outputs (its manifest checks out) or nothing, and the
 * next run clears what was left beside it. Tiny runs (a few hundred digits, --backend js) keep
 * this file to about half a minute.
 */

const scratch = scratchDir('reliability');
afterAll(() => scratch.cleanup());

function capture(): { io: Io; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l) => out.push(l), err: (l) => err.push(l) }, out, err };
}

function tinyOptions(out: string, extra: Record<string, string | boolean> = {}): TrainOptions {
  return parseTrainOptions({ epochs: '1', limitTrain: '300', limitTest: '50', backend: 'js', quiet: true, layers: '784,16,10', out, ...extra });
}

/** The folder's files and their digests, after checking them against its manifest. */
function snapshot(dir: string): Manifest['files'] {
  const manifest = verifyManifest(dir);
  expect(manifest).not.toBeNull();
  expect(readdirSync(dir).sort()).toEqual([...OUTPUT_FILES].sort());
  return manifest!.files;
}

/** What a run may leave beside DIR: its lock and staging or old folders. */
function leftovers(dir: string): string[] {
  const prefix = `.${basename(dir)}.`;
  return readdirSync(dirname(dir)).filter((n) => n.startsWith(prefix));
}

/** A complete earlier run in `dir`, trained in-process. */
async function earlierRun(dir: string, extra: Record<string, string | boolean> = {}): Promise<Manifest['files']> {
  const { io } = capture();
  expect(await runTrain(tinyOptions(dir, extra), { io })).toBe(0);
  return snapshot(dir);
}

/** Ten classes of 8×8 images (a bright row or column), as IDX files: the spawned runs load them in a blink. */
function writeTinyIdx(dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const [prefix, count] of [['train', 200], ['t10k', 40]] as const) {
    const images = new Uint8Array(count * 64);
    const labels = new Uint8Array(count);
    for (let k = 0; k < count; k++) {
      labels[k] = k % 10;
      for (let j = 0; j < 8; j++) images[k * 64 + (k % 10 < 8 ? (k % 8) * 8 + j : j * 8 + (k % 10) - 8)] = 255;
    }
    writeIdx(join(dir, `${prefix}-images-idx3-ubyte`), { dims: [count, 8, 8], data: images });
    writeIdx(join(dir, `${prefix}-labels-idx1-ubyte`), { dims: [count], data: labels });
  }
}

/** Rows for the fault-scenario table printed at the end: what the folder held afterwards. */
const outcomes: string[] = [];
afterAll(() => {
  if (outcomes.length > 0) console.log(`fault scenarios → --out afterwards:\n${outcomes.map((o) => `  ${o}`).join('\n')}`);
});

function same(a: Manifest['files'], b: Manifest['files']): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

describe('the output folder is one unit', () => {
  let base: Manifest['files'];
  const dir = join(scratch.dir, 'unit');
  beforeAll(async () => {
    base = await earlierRun(dir);
  }, 60_000);

  it('a full disk while staging (ENOSPC on report.html) names the file, publishes nothing and keeps the earlier set', async () => {
    const enospc: FileWriter = {
      write(path, data) {
        if (basename(path) === 'report.html') throw Object.assign(new Error(`ENOSPC: no space left on device, write '${path}'`), { code: 'ENOSPC', path });
        diskWriter.write(path, data);
      },
    };
    const { io } = capture();
    const failed = runTrain(tinyOptions(dir, { seed: '7' }), { io, writer: enospc });
    await expect(failed).rejects.toThrow(UsageError);
    await expect(failed).rejects.toThrow(/^cannot write .*unit\/report\.html \(staged at .*\): no space left on the device \(ENOSPC\); nothing was published: '.*unit' keeps the earlier run's outputs$/);
    expect(same(snapshot(dir), base)).toBe(true);
    expect(leftovers(dir)).toEqual([]);
    outcomes.push('ENOSPC while staging report.html: old set complete, no staging, no lock (exit 2)');
  }, 30_000);

  it('a diverged run (mse, --lr 1e6) exits 1 with one line naming the epoch and --lr, and writes nothing', async () => {
    const { io, err } = capture();
    const code = await runTrain(tinyOptions(dir, { lr: '1e6', loss: 'mse', output: 'identity', epochs: '2' }), { io });
    expect(code).toBe(1);
    expect(err).toHaveLength(1);
    // Infinity or NaN depending on how relu treats the overflow; the rest of the line is exact
    expect(err[0].replace(/became (NaN|Infinity) /, 'became ∞ ')).toBe(`tapegrad train: training diverged: loss became ∞ in epoch 1/2 at batch 4/5; nothing written to ${dir} (keeps the earlier run's outputs); try a smaller --lr (it was 1000000)`);
    expect(same(snapshot(dir), base)).toBe(true);
    expect(leftovers(dir)).toEqual([]);
    outcomes.push('diverged run (loss non-finite at batch 4): old set complete (exit 1)');
  }, 30_000);

  it('Ctrl-C after the last batch writes nothing and says so', async () => {
    const controller = new AbortController();
    const { io, err } = capture();
    io.out = (line) => {
      if (/^epoch 1\/1 /.test(line)) controller.abort();
    };
    const code = await runTrain(tinyOptions(dir, { quiet: false, seed: '8' }), { io, signal: controller.signal });
    expect(code).toBe(130);
    expect(err).toEqual([`interrupted after training: nothing written to ${dir} (keeps the earlier run's outputs)`]);
    expect(same(snapshot(dir), base)).toBe(true);
    expect(leftovers(dir)).toEqual([]);
    outcomes.push('Ctrl-C after the last batch: old set complete (exit 130)');
  }, 30_000);

  it('a second run into the same --out exits 2 naming the first; a dead run\'s lock is taken over', async () => {
    const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      writeFileSync(join(dirname(dir), `.${basename(dir)}.lock`), JSON.stringify({ pid: sleeper.pid, startedAt: '2026-01-01T00:00:00.000Z', command: 'tapegrad train --out unit' }));
      const { io, err } = capture();
      expect(await run(['train', '--limit-train', '100', '--limit-test', '20', '--backend', 'js', '--out', dir], io)).toBe(2);
      expect(err).toEqual([`tapegrad train: --out: '${dir}' is in use by another run (pid ${sleeper.pid}, started 2026-01-01T00:00:00.000Z: tapegrad train --out unit); wait for it or give another --out (lock file ${join(dirname(dir), '.unit.lock')})`]);
    } finally {
      sleeper.kill('SIGKILL');
      await new Promise((resolve) => sleeper.once('exit', resolve));
    }
    const folder = new OutputFolder(dir, { outputs: OUTPUT_FILES });
    folder.acquire();
    expect(folder.recovered).toEqual([`took over the lock of pid ${sleeper.pid}, which no longer runs`]);
    folder.release();
    expect(leftovers(dir)).toEqual([]);
    expect(same(snapshot(dir), base)).toBe(true);
    outcomes.push('second run while the first holds the lock: first run\'s folder untouched (exit 2)');
  }, 30_000);

  it('a lock whose pid now belongs to another process is stale: taken over, and a live holder\'s identity still counts', async () => {
    const lockPath = join(dirname(dir), `.${basename(dir)}.lock`);
    const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      await new Promise((resolve) => sleeper.once('spawn', resolve));
      const identity = processIdentity(sleeper.pid!);
      expect(identity).toMatch(/^[0-9a-f-]{36}\/\d+$/);
      // the same pid and the same process (boot, start time): still running
      writeFileSync(lockPath, JSON.stringify({ pid: sleeper.pid, startedAt: '2026-01-01T00:00:00.000Z', command: 'tapegrad train --out unit', process: identity }));
      expect(() => new OutputFolder(dir, { outputs: OUTPUT_FILES }).acquire()).toThrow(/is in use by another run \(pid \d+/);
      // the pid reused after a reboot, or by a process started later: the run that locked is gone
      for (const other of [`00000000-0000-0000-0000-000000000000/${identity!.split('/')[1]}`, `${identity!.split('/')[0]}/1`]) {
        writeFileSync(lockPath, JSON.stringify({ pid: sleeper.pid, startedAt: '2026-01-01T00:00:00.000Z', command: 'tapegrad train --out unit', process: other }));
        const folder = new OutputFolder(dir, { outputs: OUTPUT_FILES });
        folder.acquire();
        expect(folder.recovered).toEqual([`took over the lock of pid ${sleeper.pid}, which no longer runs (another process has that pid now)`]);
        // the lock it wrote names this process
        expect(JSON.parse(readFileSync(lockPath, 'utf8'))).toMatchObject({ pid: process.pid, process: processIdentity(process.pid) });
        folder.release();
      }
    } finally {
      sleeper.kill('SIGKILL');
      await new Promise((resolve) => sleeper.once('exit', resolve));
    }
    expect(leftovers(dir)).toEqual([]);
    expect(same(snapshot(dir), base)).toBe(true);
    outcomes.push('a killed run\'s lock whose pid another process took: taken over, folder untouched');
  }, 30_000);

  it('a symlinked --out keeps its link: the folder it points to is replaced as one unit', async () => {
    const target = join(scratch.dir, 'linked-target');
    const link = join(scratch.dir, 'linked');
    const first = await earlierRun(target);
    symlinkSync(target, link);
    const { io } = capture();
    expect(await runTrain(tinyOptions(link, { seed: '9' }), { io })).toBe(0);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toBe(target);
    const now = snapshot(target);
    expect(same(now, first)).toBe(false);
    expect(same(snapshot(link), now)).toBe(true);
    expect(leftovers(target)).toEqual([]);
    expect(leftovers(link)).toEqual([]);
    // the moment between publishing's two renames, through the link: no target, the staged set beside it
    renameSync(target, join(scratch.dir, '.linked-target.staging-1-feed'));
    recoverForReading(link);
    expect(same(snapshot(link), now)).toBe(true);
    outcomes.push('--out a symbolic link to a folder: the link kept, the folder it points to holds the new set');
  }, 30_000);

  it('refuses /proc, /sys and a folder holding files of its own, up front', async () => {
    for (const target of ['/proc/x', '/sys/x', '/proc']) {
      const { io, err } = capture();
      expect(await run(['train', '--out', target], io)).toBe(2);
      expect(err).toEqual([`tapegrad train: --out: '${target}' is under ${target.slice(0, 5).replace(/\/$/, '')}, the kernel's virtual file system; give an ordinary folder`]);
    }
    const mine = join(scratch.dir, 'mine');
    mkdirSync(mine);
    writeFileSync(join(mine, 'notes.txt'), 'mine');
    const { io, err } = capture();
    expect(await run(['train', '--out', mine], io)).toBe(2);
    expect(err[0]).toBe(`tapegrad train: --out: '${mine}' holds 'notes.txt', which tapegrad train does not write; the folder is replaced as a whole, so give a folder of its own (new or from an earlier run)`);
    expect(readdirSync(mine)).toEqual(['notes.txt']);
  });

  it('evaluate refuses a folder whose files differ from its manifest', async () => {
    const other = join(scratch.dir, 'tampered');
    await earlierRun(other);
    writeFileSync(join(other, 'metrics.json'), '{}\n');
    const { io, err } = capture();
    expect(await run(['evaluate', '--model', other, '--backend', 'js'], io)).toBe(2);
    expect(err).toEqual([`tapegrad evaluate: --model: ${join(other, 'metrics.json')} differs from what manifest.json recorded (changed after the run, or from another run): the folder is not one run's complete outputs`]);
  }, 30_000);
});

describe('a model with NaN weights', () => {
  it('loads with a warning naming the parameters (evaluate and predict print it)', () => {
    const folder = join(scratch.dir, 'nan-model');
    mkdirSync(folder);
    const architecture = { layers: [4, 3, 2], activation: 'relu', output: 'softmax', loss: 'cce' } as const;
    const model = buildModel({ ...architecture, layers: [4, 3, 2] });
    model.parameters()['1.W'].assign([1, 2, NaN, 4, 5, 6]);
    writeFileSync(join(folder, 'model.safetensors'), serializeParameters(model.parameters(), {
      format: 'tapegrad-mlp/1', layers: '4,3,2', activation: 'relu', output: 'softmax', loss: 'cce',
    }));
    const warnings: string[] = [];
    loadModelFile(folder, (line) => warnings.push(line));
    expect(warnings).toEqual([`warning: ${join(folder, 'model.safetensors')}: parameters '1.W' hold NaN or ±∞ (NaN in '1.W' at element 2); the model comes from a diverged run and its outputs mean nothing`]);
  });
});

describe('sizes too large to allocate', () => {
  it("--layers and a model's metadata over 2²⁸ parameters are refused before anything is allocated (exit 2)", async () => {
    const { io, err } = capture();
    expect(await run(['train', '--layers', '784,100000000,10', '--out', join(scratch.dir, 'huge')], io)).toBe(2);
    expect(err).toEqual(["tapegrad train: --layers '784,100000000,10' makes 79,500,000,010 parameters; tapegrad train allows at most 268,435,456 (1 GiB of float32 weights)"]);
    const folder = join(scratch.dir, 'huge-metadata');
    mkdirSync(folder);
    writeFileSync(join(folder, 'model.safetensors'), serializeParameters({}, {
      format: 'tapegrad-mlp/1', layers: '784,100000000,10', activation: 'relu', output: 'softmax', loss: 'cce',
    }));
    const evaluated = capture();
    expect(await run(['evaluate', '--model', folder, '--backend', 'js'], evaluated.io)).toBe(2);
    expect(evaluated.err).toEqual([`tapegrad evaluate: --model: ${join(folder, 'model.safetensors')}: metadata 'layers' '784,100000000,10' makes 79,500,000,010 parameters; tapegrad train allows at most 268,435,456 (1 GiB of float32 weights)`]);
    expect(existsSync(join(scratch.dir, 'huge'))).toBe(false);
  });
});

describe('recovery from a run killed halfway through publishing', () => {
  /** A fake complete set (manifest included) in `dir`. */
  function fakeSet(dir: string, tag: string): void {
    mkdirSync(dir, { recursive: true });
    const files: Manifest['files'] = {};
    for (const name of OUTPUT_FILES.filter((n) => n !== 'manifest.json')) {
      const bytes = Buffer.from(`${tag} ${name}`);
      writeFileSync(join(dir, name), bytes);
      files[name] = { bytes: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') };
    }
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ format: 'tapegrad-outputs/1', files, createdAt: 'now' }));
  }

  it('between the two renames (no DIR, the old set and a complete staged set beside it): the next run rolls forward', () => {
    const dir = join(scratch.dir, 'between', 'run');
    fakeSet(join(dirname(dir), '.run.old-123-aaaa'), 'old');
    fakeSet(join(dirname(dir), '.run.staging-123-bbbb'), 'new');
    const folder = new OutputFolder(dir, { outputs: OUTPUT_FILES });
    folder.acquire();
    folder.release();
    expect(readFileSync(join(dir, 'model.safetensors'), 'utf8')).toBe('new model.safetensors');
    expect(verifyManifest(dir)).not.toBeNull();
    expect(leftovers(dir)).toEqual([]);
    outcomes.push('kill -9 between the two renames of a publish: new set complete after the next run (or evaluate)');
  });

  it('evaluate and predict finish the same roll-forward on reading', () => {
    const dir = join(scratch.dir, 'reading', 'run');
    fakeSet(join(dirname(dir), '.run.old-5-aaaa'), 'old');
    fakeSet(join(dirname(dir), '.run.staging-5-bbbb'), 'new');
    recoverForReading(dir);
    expect(readFileSync(join(dir, 'metrics.json'), 'utf8')).toBe('new metrics.json');
  });

  it('killed while staging: the half-written staging folder and old *.tmp files go, the earlier set stays', () => {
    const dir = join(scratch.dir, 'staging', 'run');
    fakeSet(dir, 'old');
    const staging = join(dirname(dir), '.run.staging-77-cccc');
    mkdirSync(staging);
    writeFileSync(join(staging, 'model.safetensors'), 'half');
    writeFileSync(join(dir, '.metrics.json.77.abcdef.tmp'), 'half');
    const folder = new OutputFolder(dir, { outputs: OUTPUT_FILES });
    folder.acquire();
    folder.release();
    expect(readFileSync(join(dir, 'model.safetensors'), 'utf8')).toBe('old model.safetensors');
    expect(existsSync(staging)).toBe(false);
    expect(existsSync(join(dir, '.metrics.json.77.abcdef.tmp'))).toBe(false);
    expect(verifyManifest(dir)).not.toBeNull();
    expect(leftovers(dir)).toEqual([]);
    outcomes.push('kill -9 while staging: old set complete; staging and *.tmp removed by the next run');
  });

  it('after the first rename only (no DIR, no complete staged set): the old set is put back', () => {
    const dir = join(scratch.dir, 'renamed', 'run');
    fakeSet(join(dirname(dir), '.run.old-9-aaaa'), 'old');
    mkdirSync(join(dirname(dir), '.run.staging-9-bbbb'));
    const folder = new OutputFolder(dir, { outputs: OUTPUT_FILES });
    folder.acquire();
    folder.release();
    expect(readFileSync(join(dir, 'model.safetensors'), 'utf8')).toBe('old model.safetensors');
    expect(leftovers(dir)).toEqual([]);
  });
});

describe('the built CLI under kill -9 and double Ctrl-C (spawned)', () => {
  const dir = join(scratch.dir, 'killed');
  const data = join(scratch.dir, 'tiny-idx');
  let base: Manifest['files'];
  beforeAll(async () => {
    writeTinyIdx(data);
    base = await earlierRun(dir, { data, layers: '64,8,10', limitTrain: '0', limitTest: '0' });
  }, 60_000);

  const args = ['train', '--data', data, '--epochs', '2', '--layers', '64,8,10', '--batch-size', '40', '--backend', 'js', '--seed', '5', '--out', dir];

  /** Runs the CLI and SIGKILLs it `delay` ms after `trigger` appears on stdout (or when it ends). */
  async function killAfter(trigger: RegExp, delay: number): Promise<{ killed: boolean }> {
    let timer: NodeJS.Timeout | undefined;
    let armed = false;
    const result = await startCli(args, (all, child: ChildProcess) => {
      if (!armed && trigger.test(all)) {
        armed = true;
        timer = setTimeout(() => child.kill('SIGKILL'), delay);
      }
    });
    clearTimeout(timer);
    return { killed: result.code === -1 };
  }

  // during training, and after the last epoch line (final evaluation, report, staging,
  // publish); the states between the two renames of a publish are built by hand above
  const moments: Array<[string, RegExp, number]> = [
    ['during training', /^model: /m, 0],
    ['while the report renders', /^epoch 2\/2 /m, 150],
    ['while staging or publishing', /^epoch 2\/2 /m, 500],
    ['late (publishing, or done)', /^epoch 2\/2 /m, 1500],
  ];
  for (const [label, trigger, delay] of moments) {
    it(`kill -9 ${label}: --out holds the old or the new complete set, and the next run clears the rest`, async () => {
      const { killed } = await killAfter(trigger, delay);
      // recovery is what the next run (or evaluate) does first
      recoverForReading(dir);
      const now = snapshot(dir);
      const which = same(now, base) ? 'old' : 'new';
      const folder = new OutputFolder(dir, { outputs: OUTPUT_FILES });
      folder.acquire();
      folder.release();
      expect(leftovers(dir)).toEqual([]);
      expect(same(snapshot(dir), now)).toBe(true);
      outcomes.push(`kill -9 ${label}${killed ? '' : ' (the run had already finished)'}: ${which} set complete; leftovers removed by the next run`);
      if (which === 'new') base = now;
    }, 30_000);
  }

  it('Ctrl-C twice quits at once with exact messages, exit 130, and writes nothing', async () => {
    let sent = false;
    // many epochs, so both signals land during training however busy the machine is
    const long = args.map((a, i) => (args[i - 1] === '--epochs' ? '1000' : a));
    const result = await startCli(long, (all, child) => {
      if (!sent && /^model: /m.test(all)) {
        sent = true;
        child.kill('SIGINT');
        setTimeout(() => child.kill('SIGINT'), 100);
      }
    });
    // 130; or, when the second Ctrl-C lands while Node is already tearing down after the
    // first one's graceful stop, death by SIGINT, which a shell reports as 130 too
    expect([130, -1]).toContain(result.code);
    const stderr = result.stderr.split('\n').filter(Boolean);
    expect(stderr).toContain(`interrupted: stopping after the current batch; nothing will be written to ${dir} (Ctrl-C again to quit at once)`);
    // the first Ctrl-C may already have stopped the run when the second arrives
    const second = `interrupted again: quitting at once; nothing written to ${dir} (keeps the earlier run's outputs)`;
    const graceful = /^interrupted in epoch \d+\/1000 after batch \d+\/5: nothing written to .* \(keeps the earlier run's outputs\)$/;
    expect(stderr.some((l) => l === second || graceful.test(l))).toBe(true);
    expect(same(snapshot(dir), base)).toBe(true);
    expect(leftovers(dir)).toEqual([]);
    outcomes.push('Ctrl-C twice during training: old set complete, no staging, no lock (exit 130)');
  }, 30_000);
});
