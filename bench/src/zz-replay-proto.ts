// Prototype (not for landing): how fast would a replayed T1 step run from the first steps?
// Records the kernel calls of one fit-style step and replays them (same buffers, same
// arguments) for the next steps, timing blocks of 125 steps; values are not checked.
import { type Backend, getBackend, registerBackend, setBackend } from '@tapegrad/core';
import { stepSession } from './step-session.js';
const { trainer, batch } = await stepSession((process.argv[3] ?? 'T1') as 'T1', 'native');
const inner = getBackend();
const calls: { fn: (...a: unknown[]) => unknown; args: unknown[] }[] = [];
let recording = false;
const wrapped: Record<string, unknown> = { ...inner, name: 'native-rec' };
for (const [k, fn] of Object.entries(inner)) {
  if (typeof fn !== 'function') continue;
  wrapped[k] = (...args: unknown[]) => {
    if (recording) calls.push({ fn: (fn as (...a: unknown[]) => unknown).bind(inner), args });
    return (fn as (...a: unknown[]) => unknown).apply(inner, args);
  };
}
registerBackend(wrapped as unknown as Backend);
setBackend('native-rec');
const mode = process.argv[2] ?? 'replay';
let s = 0;
trainer.step(batch(s), batch(s + 1)); s++;
recording = true;
trainer.step(batch(s), batch(s + 1)); s++;
recording = false;
console.log(`recorded ${calls.length} kernel calls: ${[...new Set(calls.map((c) => c.fn.name.replace('bound ', '')))].join(', ')}`);
const rows: number[] = [];
for (let b = 0; b < 8; b++) {
  const t0 = performance.now();
  for (let i = 0; i < 125; i++, s++) {
    if (mode === 'replay') {
      for (let c = 0; c < calls.length; c++) {
        const r = calls[c].fn(...calls[c].args);
        if (typeof r === 'function') (r as () => void)(); // a prefetch's wait
      }
    } else trainer.step(batch(s), batch(s + 1));
  }
  rows.push(Math.round(((performance.now() - t0) * 1000) / 125));
}
console.log(`${mode}: µs/step in blocks of 125 steps from step 2: ${rows.join(' ')}`);
