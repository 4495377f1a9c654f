import { type StepBody, StepReplay, type Tensor } from '@tapegrad/core';

/**
 * The step replay as nn's `fit` runs it, for the bench's fit-style trainers (which mirror fit
 * step for step): a StepReplay reset at each epoch's first step, so each epoch runs one step
 * ordinarily, records two, checks one against an ordinary step, and replays the rest.
 */
export class FitStepReplay {
  readonly replay = new StepReplay();
  #steps = 0;

  constructor(private readonly stepsPerEpoch: number) {}

  run<Carry>(inputs: readonly Tensor[], body: StepBody<Carry>): void {
    if (this.#steps++ % this.stepsPerEpoch === 0) this.replay.reset();
    this.replay.run(inputs, body);
  }
}
