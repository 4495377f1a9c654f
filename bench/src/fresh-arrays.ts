/**
 * The typed arrays a training step creates fresh (`new Float32Array(n)` and the like: each a
 * new ArrayBuffer that V8 must create, count as external memory and sweep — what the buffer
 * pool saves inside tidy), per step and by length, for fit's step, the user loop and the user
 * loop inside tidy (frameworks/tapegrad-loops.ts). Counted by wrapping the typed-array
 * constructors before core is loaded, so every allocation is seen (core's, the backends', the
 * batch gather's); views of an existing buffer are not counted. Not timed.
 *
 *   npx tsx bench/src/fresh-arrays.ts                 # T1, on the fastest backend, 100 steps after 100
 *   npx tsx bench/src/fresh-arrays.ts --task T3 --loops userloop
 */
import { parseArgs } from 'node:util';

type Constructor = Float32ArrayConstructor | Float64ArrayConstructor | Int32ArrayConstructor;

/** Arrays created with a length while `counting`, by constructor and length. */
const created = new Map<string, { bytes: number; count: number }>();
let counting = false;
for (const [name, bytesPer] of [['Float32Array', 4], ['Float64Array', 8], ['Int32Array', 4]] as const) {
  const original = globalThis[name] as Constructor;
  (globalThis as Record<string, unknown>)[name] = new Proxy(original, {
    construct(target, args, newTarget) {
      if (counting && typeof args[0] === 'number') {
        const key = `${name}(${args[0]})`;
        const entry = created.get(key) ?? { bytes: args[0] * bytesPer, count: 0 };
        entry.count++;
        created.set(key, entry);
      }
      return Reflect.construct(target, args, newTarget);
    },
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { task: { type: 'string', default: 'T1' }, steps: { type: 'string', default: '100' }, loops: { type: 'string', default: 'fit,userloop,userloop+tidy' }, backend: { type: 'string' } } });
  // loaded after the constructors are wrapped
  const { getBackend, setBackend } = await import('@tapegrad/core');
  const { loadTapegrad } = await import('./frameworks/tapegrad.js');
  const { UserLoopTrainer } = await import('./frameworks/tapegrad-loops.js');
  const { TASKS, TASK_IDS, initialWeights, loadProtocolMnist, protocolBatches } = await import('./protocol.js');
  const taskId = values.task as (typeof TASK_IDS)[number];
  if (!TASK_IDS.includes(taskId)) throw new Error(`--task must be one of ${TASK_IDS.join(', ')}`);
  const steps = Number(values.steps);
  const { frameworks } = await loadTapegrad();
  setBackend(values.backend ?? 'auto');
  const backend = getBackend().name;
  const task = TASKS[taskId];
  const mnist = loadProtocolMnist();
  const data = { train: mnist.train, eval: mnist.test };
  const batch = protocolBatches(mnist.train.n, task.batch);
  for (const loop of values.loops!.split(',')) {
    let trainer;
    if (loop === 'fit') {
      const fw = frameworks.find((f) => f.id === `tapegrad-${backend}`);
      if (!fw) throw new Error(`no tapegrad row on ${backend}`);
      await fw.activate();
      trainer = await fw.createTrainer(task, data, initialWeights(task));
    } else if (loop === 'userloop' || loop === 'userloop+tidy') {
      trainer = new UserLoopTrainer(task, data, initialWeights(task), loop === 'userloop+tidy');
    } else throw new Error('--loops: fit, userloop, userloop+tidy');
    const run = (from: number, count: number) => {
      for (let s = from; s < from + count; s++) trainer.step(batch(s), batch(s + 1));
    };
    run(0, steps); // warm-up: the pool fills, V8 tiers the code up
    created.clear();
    counting = true;
    run(steps, steps);
    counting = false;
    trainer.dispose();
    const rows = [...created].sort((a, b) => b[1].bytes * b[1].count - a[1].bytes * a[1].count);
    const total = rows.reduce((acc, [, e]) => acc + e.bytes * e.count, 0) / steps;
    const arrays = rows.reduce((acc, [, e]) => acc + e.count, 0) / steps;
    console.log(`${taskId} ${loop} on ${backend}: ${(total / 1024).toFixed(1)} KB of fresh typed arrays per step, ${arrays.toFixed(1)} arrays`);
    for (const [key, e] of rows) console.log(`  ${key.padEnd(22)} ${(e.count / steps).toFixed(2).padStart(6)} per step  ${((e.bytes * e.count) / steps / 1024).toFixed(1).padStart(7)} KB`);
  }
}

main().catch((error: unknown) => {
  console.error(`fresh-arrays: ${error instanceof Error ? error.stack : String(error)}`);
  process.exit(1);
});
