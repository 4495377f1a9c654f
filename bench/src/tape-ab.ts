/**
 * A/B of two builds of core in ONE process, interleaved: the same training step (the bench's
 * tapegrad trainer: nn's seeded `mlp`, a fresh Tape per step, `cost`, `tape.gradient`, SGD,
 * batches from `columnSampler`, all inside tidy) run alternately on build A and build B, many
 * rounds, so a neighbour's load falls on both alike. Each build is a copy of packages/core/src
 * and packages/nn/src in a temporary folder (nn's `@tapegrad/core` imports pointed at the
 * copy), with some files replaced; both get their own instance of the same backend.
 *
 *   npx tsx bench/src/tape-ab.ts                      # --compare tape: this tree vs the index-array backprop
 *   npx tsx bench/src/tape-ab.ts --compare anomaly    # this tree vs this tree without the detection hooks
 *   npx tsx bench/src/tape-ab.ts --compare same       # A/A: two copies of this tree, the method's own floor
 *   options: --tasks T3,T1  --rounds 1000  --steps T3=16,T1=4  --backend native|js  --indexed-from <git rev>
 *
 * Output: per task, the median over rounds of each build's ms/step, and the median and the
 * 10th–90th percentiles of the per-round ratio B/A (rounds alternate A-B and B-A).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CLASSES, PIXELS, TASKS, type TaskId, type TaskSpec, epochOrders, loadProtocolMnist } from './protocol.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

// ---- options ---------------------------------------------------------------------------

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && at + 1 < process.argv.length ? process.argv[at + 1] : fallback;
}
const compare = option('compare', 'tape');
if (compare !== 'tape' && compare !== 'anomaly' && compare !== 'same') throw new Error(`--compare must be tape, anomaly or same, got ${compare}`);
const tasks = option('tasks', 'T3,T1').split(',') as TaskId[];
for (const t of tasks) if (!(t in TASKS) || t === 'T4') throw new Error(`unknown task ${t} (the A/B runs the MLP tasks T1–T3)`);
const rounds = Number(option('rounds', '1000'));
/** Steps per build per round: a round of a few milliseconds, so one burst of load rarely hits one build alone. */
const stepsPerRound: Record<TaskId, number> = { T1: 4, T2: 1, T3: 16, T4: 1 };
for (const spec of option('steps', '').split(',').filter(Boolean)) {
  const [id, count] = spec.split('=');
  stepsPerRound[id as TaskId] = Number(count);
}
const backendName = option('backend', 'native');
/** The last revision whose backprop is the index-array form (before it returned to Maps). */
const indexedFrom = option('indexed-from', 'e101e01');

// ---- the two builds --------------------------------------------------------------------

interface Build {
  label: string;
  /** Replaced files, by path under packages/ (e.g. core/src/tape.ts): new content. */
  replace: Record<string, string>;
}

function gitShow(rev: string, path: string): string {
  return execFileSync('git', ['show', `${rev}:${path}`], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26 });
}

/** The anomaly hooks this tree has, removed: the build "before the feature" for the off path. */
function withoutAnomalyHooks(): Record<string, string> {
  const cut = (path: string, pattern: RegExp, by: string, count: number): string => {
    const text = readFileSync(join(root, 'packages', path), 'utf8');
    const hits = text.match(new RegExp(pattern.source, 'g'))?.length ?? 0;
    if (hits !== count) throw new Error(`${path}: expected ${count} anomaly hook(s) matching ${pattern}, found ${hits}; update tape-ab.ts`);
    return text.replace(new RegExp(pattern.source, 'g'), by);
  };
  return {
    'core/src/op.ts': cut('core/src/op.ts', /\n\s*if \(anomalyDetection\)[^\n]*;/, '', 1),
    'core/src/tape.ts': cut('core/src/tape.ts', /const watching = anomalyDetection;/, 'const watching = false;', 1),
  };
}

/**
 * This tree with the index-array backprop: tape.ts and recording.ts (its Node has the sweep's
 * `mark` and `index`) from a revision that had it, and this tree's op.ts creating nodes with
 * those two fields, as that revision's did (same object shape, so no hidden-class change).
 */
function indexArrayTape(): Record<string, string> {
  const op = readFileSync(join(root, 'packages/core/src/op.ts'), 'utf8');
  const literal = ', inputVersions, output, attrs };';
  if (!op.includes(literal)) throw new Error(`core/src/op.ts: no node literal ending '${literal}'; update tape-ab.ts`);
  return {
    'core/src/tape.ts': gitShow(indexedFrom, 'packages/core/src/tape.ts'),
    'core/src/recording.ts': gitShow(indexedFrom, 'packages/core/src/recording.ts'),
    'core/src/op.ts': op.replace(literal, ', inputVersions, output, attrs, mark: 0, index: 0 };'),
  };
}

const builds: [Build, Build] = compare === 'same'
  ? [{ label: 'this tree', replace: {} }, { label: 'this tree again', replace: {} }]
  : compare === 'tape'
  ? [
    { label: 'plain (this tree)', replace: {} },
    { label: `index arrays (tape.ts and recording.ts of ${indexedFrom})`, replace: indexArrayTape() },
  ]
  : [
    { label: 'detection off (this tree)', replace: {} },
    { label: 'no detection hooks', replace: withoutAnomalyHooks() },
  ];

function filesUnder(folder: string): string[] {
  return readdirSync(folder).flatMap((name) => {
    const path = join(folder, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/**
 * Copies core/src, nn/src, backend-native/src and the step (tape-ab-step.ts) into folder,
 * their package imports made relative, so the build shares no module with the other one.
 */
function materialise(build: Build, folder: string): void {
  for (const pkg of ['core', 'nn', 'backend-native']) cpSync(join(root, 'packages', pkg, 'src'), join(folder, pkg, 'src'), { recursive: true });
  cpSync(join(root, 'bench/src/tape-ab-step.ts'), join(folder, 'tape-ab-step.ts'));
  for (const [path, text] of Object.entries(build.replace)) writeFileSync(join(folder, path), text);
  const targets: Record<string, string> = {
    '@tapegrad/core/testing': join(folder, 'core/src/testing/index.js'),
    '@tapegrad/core': join(folder, 'core/src/index.js'),
    '@tapegrad/nn': join(folder, 'nn/src/index.js'),
    './protocol.js': join(root, 'bench/src/protocol.js'),
  };
  for (const file of filesUnder(folder).filter((f) => f.endsWith('.ts'))) {
    const text = readFileSync(file, 'utf8');
    const rewritten = text.replace(/(from\s+|import\()'(@tapegrad\/(?:core\/testing|core|nn)|\.\/protocol\.js)'/g, (whole: string, head: string, name: string) => {
      if (name === './protocol.js' && file !== join(folder, 'tape-ab-step.ts')) return whole;
      let to = relative(dirname(file), targets[name]);
      if (!to.startsWith('.')) to = `./${to}`;
      return `${head}'${to}'`;
    });
    if (rewritten !== text) writeFileSync(file, rewritten);
  }
}

type Step = typeof import('./tape-ab-step.js');

interface Loaded {
  label: string;
  step: Step;
}

async function load(build: Build, folder: string): Promise<Loaded> {
  if (backendName !== 'native' && backendName !== 'js') throw new Error(`--backend must be native or js, got ${backendName}`);
  materialise(build, folder);
  const step = (await import(pathToFileURL(join(folder, 'tape-ab-step.ts')).href)) as Step;
  const nativeEntry = pathToFileURL(join(folder, 'backend-native/src/index.ts')).href;
  await step.useBackend(backendName, nativeEntry, join(root, 'packages/backend-native/build/Release/tapegrad_native.node'));
  return { label: build.label, step };
}

// ---- measurement -----------------------------------------------------------------------

function quantile(sorted: number[], q: number): number {
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  return sorted[lo] + (sorted[Math.min(lo + 1, sorted.length - 1)] - sorted[lo]) * (at - lo);
}
const median = (xs: number[]) => quantile([...xs].sort((a, b) => a - b), 0.5);
/** The fast rounds: the least disturbed by other processes. */
const p10 = (xs: number[]) => quantile([...xs].sort((a, b) => a - b), 0.1);

async function main(): Promise<void> {
  const folder = mkdtempSync(join(tmpdir(), 'tapegrad-ab-'));
  try {
    mkdirSync(join(folder, 'first'));
    mkdirSync(join(folder, 'A'));
    mkdirSync(join(folder, 'B'));
    // The first build a process loads runs ≈ 15 % faster than a second, identical one (an A/A
    // run shows it, whichever is loaded first). So a third copy is loaded first and never timed.
    await load(builds[0], join(folder, 'first'));
    const loaded = [await load(builds[0], join(folder, 'A')), await load(builds[1], join(folder, 'B'))];
    const { train } = loadProtocolMnist();
    const columns = new Float32Array(train.n * PIXELS);
    for (let r = 0; r < train.n; r++) for (let f = 0; f < PIXELS; f++) columns[f * train.n + r] = train.images[r * PIXELS + f];
    const oneHot = new Float32Array(CLASSES * train.n);
    for (let m = 0; m < train.n; m++) oneHot[train.labels[m] * train.n + m] = 1;

    console.log(`tape A/B (--compare ${compare}), backend ${backendName}, ${rounds} rounds per task, node ${process.version}`);
    console.log(`A = ${loaded[0].label}; B = ${loaded[1].label}`);
    console.log(`load average before: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    for (const id of tasks) {
      const task = TASKS[id];
      const order = epochOrders(train.n, 1)[0];
      const trainers = loaded.map((l) => l.step.createTrainer(task, columns, oneHot, train.n, PIXELS, CLASSES, order));
      const run = (which: number, steps: number): number => trainers[which].run(steps);
      // warm-up (JIT, buffer pools)
      for (let w = 0; w < 10; w++) for (const which of [0, 1]) run(which, 20);
      const steps = stepsPerRound[id];
      // both builds must have trained identically so far (same steps, same batches)
      if (trainers[0].checksum() !== trainers[1].checksum()) {
        throw new Error(`${id}: the two builds' parameters differ after the warm-up`);
      }
      const times: [number[], number[]] = [[], []];
      const ratios: number[] = [];
      for (let r = 0; r < rounds; r++) {
        const first = r % 2;
        const t: number[] = [0, 0];
        t[first] = run(first, steps);
        t[1 - first] = run(1 - first, steps);
        times[0].push(t[0]);
        times[1].push(t[1]);
        ratios.push(t[1] / t[0]);
      }
      const sorted = [...ratios].sort((a, b) => a - b);
      const same = trainers[0].checksum() === trainers[1].checksum();
      console.log(
        `${id} (${task.sizes.join('-')}, batch ${task.batch}): ${steps} steps × ${rounds} rounds each; ` +
        `A ${median(times[0]).toFixed(4)} ms/step (p10 ${p10(times[0]).toFixed(4)}), B ${median(times[1]).toFixed(4)} ms/step (p10 ${p10(times[1]).toFixed(4)}); ` +
        `B/A per round: median ${quantile(sorted, 0.5).toFixed(3)} (p25 ${quantile(sorted, 0.25).toFixed(3)}, p75 ${quantile(sorted, 0.75).toFixed(3)}); ` +
        `B/A of the p10s ${(p10(times[1]) / p10(times[0])).toFixed(3)}` +
        `${same ? '' : ' — WARNING: parameters differ between the builds'}`,
      );
    }
    console.log(`load average after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

await main();
