import type { Module } from '../module.js';
import {
  type EpochLog, type Examples, type FitOptions, type History, type Reporter, type ReporterFactory,
  epochSummary, fitAsyncWith, fitWith, formatEpochLog, formatNumber,
} from '../train.js';

function plainReporter(epochs: number): Reporter {
  return {
    startEpoch() {},
    batch() {},
    endEpoch(log: EpochLog) {
      process.stderr.write(`${formatEpochLog(log, epochs)}\n`);
    },
    close() {},
  };
}

/** A cli-progress bar per epoch, left on screen with the epoch's summary when it ends. */
async function barReporter(epochs: number): Promise<Reporter> {
  // a CommonJS package: its exports arrive as `default` under ESM interop, as the namespace under require
  const mod = await import('cli-progress');
  const { SingleBar, Presets } = (mod.default ?? mod) as typeof import('cli-progress');
  let bar: InstanceType<typeof SingleBar> | null = null;
  return {
    startEpoch(epoch, batches) {
      bar = new SingleBar({
        stream: process.stderr,
        format: `epoch ${epoch}/${epochs} |{bar}| {value}/{total} batches  loss {loss}{summary}`,
        hideCursor: true,
        clearOnComplete: false,
        barsize: 24,
      }, Presets.shades_classic);
      bar.start(batches, 0, { loss: '–', summary: '' });
    },
    batch(done, loss) {
      // NaN: fitAsync on a device reads the loss once per epoch, not per batch
      bar?.update(done, { loss: Number.isNaN(loss) ? '–' : formatNumber(loss) });
    },
    endEpoch(log) {
      bar?.update({ loss: formatNumber(log.loss), summary: `  ${epochSummary(log)}` });
      bar?.stop();
      bar = null;
    },
    close() {
      bar?.stop();
      bar = null;
    },
  };
}

const terminalReporter: ReporterFactory = (progress, epochs) => {
  if (!progress) return null;
  const tty = process.stderr.isTTY === true;
  if (progress === 'auto') return tty && !process.env.CI ? barReporter(epochs) : null;
  return tty ? barReporter(epochs) : plainReporter(epochs);
};

/**
 * Node's fit: the universal fit, with `progress` drawn on stderr (a cli-progress bar on a
 * terminal, one line per epoch otherwise). The same training, logs and results; see the
 * universal `fit` for the options.
 *
 * ```ts
 * const history = await fit(model, { x, y }, { loss: 'bce', optimizer: sgd, epochs: 100, progress: 'auto' });
 * ```
 */
export function fit(model: Module, data: Examples, options: FitOptions): Promise<History> {
  return fitWith(terminalReporter, model, data, options);
}

/**
 * Node's fitAsync: the universal fitAsync (every backend, a GPU's included), with `progress`
 * drawn on stderr as Node's fit draws it.
 */
export function fitAsync(model: Module, data: Examples, options: FitOptions): Promise<History> {
  return fitAsyncWith(terminalReporter, model, data, options);
}
