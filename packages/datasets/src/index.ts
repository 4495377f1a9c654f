/**
 * @tapegrad/datasets: MNIST (embedded, and IDX files you bring), toy sets, batching in the
 * benchmark protocol's order, and input normalisation. Examples are columns throughout:
 * x is [features, N], y is [classes, N]. This is the universal entry (what a browser bundle
 * gets); Node's `@tapegrad/datasets` is `@tapegrad/datasets/node`, which adds the file readers.
 * @module @tapegrad/datasets
 */
export { type LabelledSplit, type Dataset, type DTypeOptions } from './types.js';
export { mnistFromDigits, type MnistDigitData, type MnistFromDigitsOptions } from './mnist.js';
export {
  type IdxType, type IdxData, type IdxArray, type IdxDatasetOptions, type IdxFiles,
  IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, idxMagic, parseIdx, encodeIdx, idxDataset,
} from './idx.js';
export {
  type RandomSource, type BatchSource, type BatchOptions, type Batch,
  epochOrder, takeColumns, batches, batchCount,
} from './batching.js';
// the repeated column gather lives in core (nn's fit uses it too); offered here as before
export { type ColumnSampler, columnSampler } from '@tapegrad/core';
export { type StandardizeStats, type MinMaxStats, standardize, minMaxScale, boxResize } from './preprocess.js';
export { type BinaryDataset, type NoisyToyOptions, type SportsDay, xor, sports, twoSpirals, moons } from './toy.js';
