/**
 * A warning where the platform keeps them: process.emitWarning in Node (so `--no-warnings`
 * and `process.on('warning')` apply), console.warn in a browser or a worker.
 */
export function emitWarning(message: string, code: string): void {
  const node = (globalThis as { process?: { emitWarning?: (message: string, options: { code: string }) => void } }).process;
  if (typeof node?.emitWarning === 'function') node.emitWarning(message, { code });
  else console.warn(`(${code}) ${message}`);
}
