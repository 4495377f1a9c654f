import { type Rng, type Tensor, createRng, tensor } from '@tapegrad/core';

/**
 * Seed 000's "go to sports" question, made concrete: three features per day (temperature
 * in °C, slept well 0/1, lots of homework 0/1) and the decision we took. The rule behind
 * the labels is hidden from the network: we go when at least two of "pleasant weather",
 * "slept well" and "little homework" hold. Examples are columns, as in the seeds.
 */
export interface SportsData {
  /** [3, M]: temperature scaled to roughly [-1, 1], slept, homework. */
  x: Tensor;
  /** [1, M]: 1 = went to sports. */
  y: Tensor;
  /** The unscaled days, for printing. */
  days: Array<{ temperature: number; slept: number; homework: number; go: number }>;
}

export function sportsData(count: number, seed = 0, rng: Rng = createRng(seed)): SportsData {
  const days = Array.from({ length: count }, () => {
    const temperature = Math.round(-5 + 40 * rng.next());
    const slept = rng.next() < 0.5 ? 1 : 0;
    const homework = rng.next() < 0.5 ? 1 : 0;
    const pleasant = temperature >= 10 && temperature <= 28 ? 1 : 0;
    const go = pleasant + slept + (1 - homework) >= 2 ? 1 : 0;
    return { temperature, slept, homework, go };
  });
  const x = tensor(
    [days.map((d) => (d.temperature - 15) / 20), days.map((d) => d.slept), days.map((d) => d.homework)],
    { dtype: 'float64' },
  );
  const y = tensor([days.map((d) => d.go)], { dtype: 'float64' });
  return { x, y, days };
}
