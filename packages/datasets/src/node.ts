/**
 * @tapegrad/datasets/node: everything in the universal entry, plus what needs Node: the MNIST
 * digits read from the `mnist` package's files, IDX files read from and written to disk, and
 * gzip. Node's plain `import '@tapegrad/datasets'` resolves here too, so only a bundle for the
 * browser (the `browser` export condition) goes without these.
 * @module @tapegrad/datasets/node
 */
export * from './index.js';
// an explicit export wins over the star's: Node's parseIdx also reads gzipped bytes
export { parseIdx, readIdx, writeIdx, loadIdxDataset } from './node/idx.js';
export { loadMnist, clearMnistCache } from './node/mnist.js';
