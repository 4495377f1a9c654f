/**
 * Where one tapegrad training step spends its time: runs the benchmark's own tapegrad step
 * (same trainer, data, weights and epoch order as `main.ts`) under V8's sampling profiler
 * (node:inspector, in this process) and groups the samples of the timed steps by what the
 * code is — matmul kernels, other kernels, batch gather, tape and op plumbing, the buffer
 * pool, garbage collection.
 *
 *   npx tsx bench/src/profile.ts                          # T1 on the fastest backend, 3000 steps
 *   npx tsx bench/src/profile.ts --task T3 --backend wasm --steps 8000
 *   npx tsx bench/src/profile.ts --task T4 --backend native --steps 200 --top 15   # and the 15 costliest functions
 *   npx tsx bench/src/profile.ts --loop userloop --top 15    # the user loop's step (or --loop engine: nn's BP1–BP4,
 *                                                            # userloop+tidy: the user loop inside tidy), on the fastest backend
 *
 * The profiler adds a few per cent to each step; the µs/step printed first is from a separate
 * unprofiled run of the same steps. Only the calling thread is sampled: a matmul's time is
 * the wall time of its call there (its share of the blocks plus any wait for the second
 * thread), since the addon's own frames are charged to their JS caller.
 */
import { Session } from 'node:inspector';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { getBackend, setBackend } from '@tapegrad/core';
import { loadTapegrad } from './frameworks/tapegrad.js';
import { UserLoopTrainer } from './frameworks/tapegrad-loops.js';
import { initialWeights, loadProtocolMnist, protocolBatches, TASK_IDS, TASKS, type TaskId } from './protocol.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** What a sample's function is, from its name and file; first match wins. */
const CATEGORIES: ReadonlyArray<[string, (fn: string, url: string) => boolean]> = [
  ['matmul kernels', (fn, url) => fn === 'matmul' && /backend-(native|wasm)\/(src|dist)|core\/(src|dist)\/backend/.test(url)],
  ['other kernels (element-wise, sums, update)', (_fn, url) => /backend-(native|wasm)\/(src|dist)|core\/(src|dist)\/backend|^wasm/.test(url)],
  // columnSampler lives in core now (datasets re-exports it)
  ['batch gather', (_fn, url) => /datasets\/(src|dist)|core\/src\/columns/.test(url)],
  ['buffer pool, tidy', (_fn, url) => /core\/src\/memory/.test(url)],
  ['tape, ops, tensors (plumbing)', (_fn, url) => /core\/(src|dist)/.test(url)],
  ['nn (layers, losses, optimisers)', (_fn, url) => /nn\/(src|dist)/.test(url)],
];

function post<T>(session: Session, method: string, params: object = {}): Promise<T> {
  return new Promise((resolve, reject) => session.post(method, params, (error, result) => (error ? reject(error) : resolve(result as T))));
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { task: { type: 'string', default: 'T1' }, backend: { type: 'string' }, steps: { type: 'string', default: '3000' }, top: { type: 'string', default: '0' }, loop: { type: 'string', default: 'fit' } } });
  const loop = values.loop!;
  if (!['fit', 'userloop', 'engine', 'userloop+tidy'].includes(loop)) throw new Error('--loop must be fit, userloop, engine or userloop+tidy');
  const taskId = values.task as TaskId;
  if (!TASK_IDS.includes(taskId)) throw new Error(`--task must be one of ${TASK_IDS.join(', ')}`);
  const steps = Number(values.steps);
  if (!Number.isInteger(steps) || steps < 1) throw new Error('--steps must be a positive integer');

  const { frameworks } = await loadTapegrad();
  // loadTapegrad leaves 'js' selected: 'auto' returns to the fastest registered backend
  setBackend(values.backend ?? 'auto');
  const backend = getBackend().name;
  const framework = loop === 'fit'
    ? frameworks.find((f) => f.id === `tapegrad-${backend}`)
    : frameworks.find((f) => f.id === `tapegrad-${loop.replace('+tidy', '')}` && f.companionOf?.framework === `tapegrad-${backend}`);
  if (!framework) throw new Error(`no tapegrad ${loop === 'fit' ? 'backend' : `${loop} row on the backend`} '${backend}' (have ${frameworks.map((f) => f.label).join(', ')})`);
  await framework.activate();
  const task = TASKS[taskId];
  const mnist = loadProtocolMnist();
  const data = { train: mnist.train, eval: mnist.test };
  // userloop+tidy: the user loop's step inside tidy, the control that shows what its fresh buffers cost
  const trainer = loop === 'userloop+tidy' ? new UserLoopTrainer(task, data, initialWeights(task), true) : await framework.createTrainer(task, data, initialWeights(task));
  const batch = protocolBatches(mnist.train.n, task.batch);
  let step = 0; // one running sequence: each run goes on where the last stopped
  const run = async (count: number) => {
    for (const end = step + count; step < end; step++) await trainer.step(batch(step), batch(step + 1));
  };

  await run(Math.min(steps, 500)); // warm-up: V8 tiers the code up
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  await run(steps);
  const microseconds = ((performance.now() - started) * 1000) / steps;
  // CPU time of this process (all its threads): on a loaded machine steadier than the wall clock
  const cpu = process.cpuUsage(cpuBefore);
  const cpuMicroseconds = (cpu.user + cpu.system) / steps;

  const session = new Session();
  session.connect();
  await post(session, 'Profiler.enable');
  await post(session, 'Profiler.setSamplingInterval', { interval: 100 }); // µs: ≥ 1 sample per small step
  await post(session, 'Profiler.start');
  await run(steps);
  const { profile } = await post<{ profile: CpuProfile }>(session, 'Profiler.stop');
  session.disconnect();
  trainer.dispose();

  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  // time inside the native addon is sampled as a nameless frame: charge it to its JS caller
  const parentOf = new Map<number, number>();
  for (const n of profile.nodes) for (const child of n.children ?? []) parentOf.set(child, n.id);
  const frameLine = (id: number) => {
    let node = byId.get(id)!;
    while (node.callFrame.functionName === '' && node.callFrame.url === '' && parentOf.has(node.id)) node = byId.get(parentOf.get(node.id)!)!;
    return node.callFrame.lineNumber + 1;
  };
  const frameOf = (id: number) => {
    let node = byId.get(id)!;
    while (node.callFrame.functionName === '' && node.callFrame.url === '' && parentOf.has(node.id)) node = byId.get(parentOf.get(node.id)!)!;
    return node.callFrame;
  };
  const totals = new Map<string, number>(CATEGORIES.map(([name]) => [name, 0]));
  let other = 0, gc = 0, idle = 0, all = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    const { functionName: fn, url } = frameOf(id);
    all += dt;
    if (fn === '(garbage collector)') gc += dt;
    else if (fn === '(idle)' || fn === '(program)') idle += dt;
    else {
      const hit = CATEGORIES.find(([, test]) => test(fn, url));
      if (hit) totals.set(hit[0], totals.get(hit[0])! + dt);
      else other += dt;
    }
  });
  totals.set('garbage collector', gc);
  totals.set('other (bench loop, engine)', other + idle);
  console.log(`${taskId}${loop === 'fit' ? '' : ` (${loop})`} on ${backend}: ${microseconds.toFixed(0)} µs/step unprofiled (${((microseconds * Math.ceil(mnist.train.n / task.batch)) / 1e6).toFixed(4)} s/epoch; CPU time ${cpuMicroseconds.toFixed(0)} µs/step, load average ${loadavg()[0].toFixed(1)}); profile of ${steps} more steps:`);
  for (const [name, time] of totals) {
    console.log(`  ${name.padEnd(44)} ${((100 * time) / all).toFixed(1).padStart(5)} %  ${(time / steps).toFixed(1).padStart(7)} µs/step`);
  }
  const top = Number(values.top);
  if (top > 0) {
    // self time by function (native frames charged to their JS caller), the largest first
    const byFunction = new Map<string, number>();
    profile.samples.forEach((id, i) => {
      const { functionName: fn, url } = frameOf(id);
      const key = `${fn || '(anonymous)'}:${frameLine(id)} ${url.replace(/^.*\/(packages|bench)\//, '$1/')}`;
      byFunction.set(key, (byFunction.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0));
    });
    console.log(`top ${top} functions by self time (µs/step):`);
    for (const [key, time] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      console.log(`  ${(time / steps).toFixed(1).padStart(8)}  ${((100 * time) / all).toFixed(1).padStart(5)} %  ${key}`);
    }
  }
}

main().catch((error: unknown) => {
  console.error(`profile: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
