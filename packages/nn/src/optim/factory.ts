import { ValueError } from '@tapegrad/core';
import { Adam, type AdamOptions } from './adam.js';
import { LBFGS, type LBFGSOptions } from './lbfgs.js';
import { Momentum, type MomentumOptions } from './momentum.js';
import { NewtonCG, type NewtonCGOptions } from './newton-cg.js';
import type { Optimizer } from './optimizer.js';
import { RProp, type RPropOptions } from './rprop.js';
import { SGD, type SGDOptions } from './sgd.js';

/** The options each optimiser takes, by the name a command line selects it with. */
export interface OptimizerOptionsByName {
  sgd: SGDOptions;
  momentum: Omit<MomentumOptions, 'nesterov'>;
  nesterov: Omit<MomentumOptions, 'nesterov'>;
  adam: AdamOptions;
  rprop: RPropOptions;
  lbfgs: LBFGSOptions;
  'newton-cg': NewtonCGOptions;
}

/** The name of a built-in optimiser, as optimizer() takes it. */
export type OptimizerName = keyof OptimizerOptionsByName;
/** Every optimiser name the optimizer() factory knows. */
export const OPTIMIZERS: readonly OptimizerName[] = ['sgd', 'momentum', 'nesterov', 'adam', 'rprop', 'lbfgs', 'newton-cg'];

/**
 * An optimiser by name, for code that chooses one at run time (a CLI flag, a config file):
 * `optimizer('adam', { lr: 0.01 })`. Options may be omitted where every one has a default;
 * sgd, momentum and nesterov need `lr`.
 */
export function optimizer<N extends OptimizerName>(
  name: N,
  ...[options]: Partial<OptimizerOptionsByName[N]> extends OptimizerOptionsByName[N] ? [options?: OptimizerOptionsByName[N]] : [options: OptimizerOptionsByName[N]]
): Optimizer {
  const opts = (options ?? {}) as never;
  switch (name as OptimizerName) {
    case 'sgd': return new SGD(opts);
    case 'momentum': return new Momentum({ ...(opts as MomentumOptions), nesterov: false });
    case 'nesterov': return new Momentum({ ...(opts as MomentumOptions), nesterov: true });
    case 'adam': return new Adam(opts);
    case 'rprop': return new RProp(opts);
    case 'lbfgs': return new LBFGS(opts);
    case 'newton-cg': return new NewtonCG(opts);
    default:
      throw new ValueError('optimizer', `unknown optimiser '${String(name)}': choose one of ${OPTIMIZERS.join(', ')}`);
  }
}
