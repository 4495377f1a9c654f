import { type StepBody, StepReplay, type Tensor } from '@tapegrad/core';

/**
 * The step replay as nn's `fit` runs it, for the bench's fit-style trainers (which mirror fit
 * step for step): a StepReplay (one ordinary step, two recorded, one checked against an
 * ordinary step, then replays) whose recording is checked again at each epoch's first step.
 */
export class FitStepReplay {
  readonly replay = new StepReplay();
  #steps = 0;

  constructor(private readonly stepsPerEpoch: number) {}

  run<Carry>(inputs: readonly Tensor[], body: StepBody<Carry>): void {
    if (this.#steps++ % this.stepsPerEpoch === 0) this.replay.recheck();
    this.replay.run(inputs, body);
  }
}
