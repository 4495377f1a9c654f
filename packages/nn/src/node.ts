/**
 * @tapegrad/nn/node: everything in the universal entry, plus what needs Node: models saved to
 * and loaded from files, atomic file writes, and `fit` with a terminal progress bar. Node's
 * plain `import '@tapegrad/nn'` resolves here too, so only a bundle for the browser (the
 * `browser` export condition) goes without these.
 * @module @tapegrad/nn/node
 */
export * from './index.js';
// an explicit export wins over the star's: Node's fit draws its progress on the terminal
export { fit, fitAsync } from './node/fit.js';
export { saveModel, loadModel } from './node/files.js';
export { writeFileAtomic } from './node/atomic.js';
