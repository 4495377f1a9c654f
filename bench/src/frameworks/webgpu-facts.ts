/**
 * What the bench says about a WebGPU adapter, without loading the backend: the SwiftShader
 * marking, the adapter's one line, and the shortened plan of a WebGPU row on SwiftShader.
 */
import type { TaskSpec } from '../protocol.js';
import type { TrainPlan } from '../harness.js';

/** Where Debian's chromium keeps SwiftShader's Vulkan driver manifest. */
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/** The marking of every WebGPU row when the adapter is SwiftShader. */
export const SOFTWARE_MARKING = 'SwiftShader (CPU): correctness only';

/** Set to `off` to behave as on a machine without an adapter (the test of the skip). */
export const DISABLE_ENV = 'TAPEGRAD_BENCH_WEBGPU';

export interface AdapterFacts {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** SwiftShader: a CPU driver, right answers and no GPU speed. */
  software: boolean;
}

/** One line naming the adapter, as the CLI says it. */
export function adapterText(adapter: AdapterFacts): string {
  if (adapter.software) return 'SwiftShader, a CPU driver: right answers, no GPU speed';
  return [adapter.vendor, adapter.architecture, adapter.description || adapter.device].filter(Boolean).join(' / ') || '(the adapter gives no description)';
}

/**
 * The plan of a WebGPU row on SwiftShader when the run's is longer: 2 epochs (the second is
 * the timed one) of the first max(2, ⌈128 / batch⌉) batches (T1, T2, T4 2 batches, T3 13),
 * extrapolated. SwiftShader ran a T4 batch in ≈ 15 s here (a loaded 2-core machine), so even
 * the quick plan's 30 would take minutes. Undefined otherwise — never on a real GPU.
 */
export function softwarePlan(task: TaskSpec, plan: TrainPlan, software: boolean): TrainPlan | undefined {
  if (!software) return undefined;
  const epochs = Math.min(plan.epochs, 2);
  const batches = Math.min(plan.batches, Math.max(2, Math.ceil(128 / task.batch)));
  if (epochs === plan.epochs && batches === plan.batches) return undefined;
  return { ...plan, epochs, batches, label: 'SwiftShader plan' };
}
