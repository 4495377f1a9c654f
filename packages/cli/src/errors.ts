/**
 * What the command line does with a failure decides its exit code:
 * - UsageError: the user's input is wrong (an option's value, a missing file, a data file
 *   that does not parse). One line on stderr, exit 2: the mistake is theirs to fix.
 * - anything else is ours: one line, a hint to rerun with --debug for the stack, exit 1.
 * A failed gradient check exits 1 through its own result, and an interrupted training run
 * exits 130 (128 + SIGINT), as shells expect of a process stopped by Ctrl-C.
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * A model file that cannot be used: unreadable, not safetensors, or metadata that does not
 * describe a network tapegrad builds (a damaged or foreign file). A UsageError (exit 2): the
 * file is the user's input. The message starts with `--model: ` and names the file.
 */
export class ModelFileError extends UsageError {
  /** The file read. */
  readonly path: string;
  constructor(path: string, message: string) {
    super(`--model: ${message}`);
    this.name = 'ModelFileError';
    this.path = path;
  }
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 130;

/** The first line of a message: errors from libraries sometimes carry more. */
export function firstLine(message: string): string {
  return message.split('\n')[0].trim();
}
