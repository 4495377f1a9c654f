import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, lines, scratchDir } from './helpers.js';

// Every mistake a user can make on the command line ends the same way: one line on stderr
// that names the command and the option, nothing on stdout, exit code 2, never a stack trace.
const scratch = scratchDir('errors');
afterAll(scratch.cleanup);
const aFile = join(scratch.dir, 'a-file.txt');
writeFileSync(aFile, 'not a directory');
const emptyDir = join(scratch.dir, 'empty');
mkdirSync(emptyDir);
const garbageModel = join(scratch.dir, 'garbage.safetensors');
writeFileSync(garbageModel, Buffer.from('this is not a safetensors file at all'));

const cases: Array<[string, string[], RegExp]> = [
  ['a negative learning rate', ['train', '--lr', '-1'], /^tapegrad train: --lr must be a positive number, got '-1'$/],
  ['a learning rate that is not a number', ['train', '--lr', 'fast'], /^tapegrad train: --lr must be a positive number, got 'fast'$/],
  ['a layer size that is not a number', ['train', '--layers', '784,abc'], /^tapegrad train: --layers must be comma-separated positive integers such as 784,128,10, got '784,abc'$/],
  ['a single layer size', ['train', '--layers', '784'], /^tapegrad train: --layers needs at least an input and an output size/],
  ['zero epochs', ['train', '--epochs', '0'], /^tapegrad train: --epochs must be a positive integer, got '0'$/],
  ['a fractional batch size', ['train', '--batch-size', '1.5'], /^tapegrad train: --batch-size must be a positive integer, got '1.5'$/],
  ['a seed that is not an integer', ['train', '--seed', '1e3x'], /^tapegrad train: --seed must be an integer/],
  ['a missing data directory', ['train', '--data', join(scratch.dir, 'no-such-dir')], /^tapegrad train: --data: no such directory '.*no-such-dir'$/],
  ['a data path that is a file', ['train', '--data', aFile], /^tapegrad train: --data: '.*a-file\.txt' is not a directory/],
  ['a data directory without IDX files', ['train', '--data', emptyDir], /^tapegrad train: --data: loadIdxDataset: missing file train-images-idx3-ubyte .*the directory is empty$/],
  ['an unknown optimizer', ['train', '--optimizer', 'sgdd'], /^tapegrad train: --optimizer must be one of sgd, momentum, nesterov, adam, rprop, lbfgs, newton-cg, got 'sgdd'$/],
  ['an unknown loss', ['train', '--loss', 'hinge'], /^tapegrad train: --loss must be one of bce, cce, mse, got 'hinge'$/],
  ['softmax as a hidden activation', ['train', '--activation', 'softmax'], /^tapegrad train: --activation must be one of relu, sigmoid, tanh, identity, got 'softmax'$/],
  ['an unknown backend', ['train', '--backend', 'gpu'], /^tapegrad train: --backend must be one of js, wasm, native, auto, webgpu, got 'gpu'$/],
  ['a negative subset', ['train', '--limit-train', '-5'], /^tapegrad train: --limit-train must be a non-negative integer, got '-5'$/],
  ['an output directory that is a file', ['train', '--out', aFile, '--limit-train', '10'], /^tapegrad train: --out: '.*a-file\.txt' exists and is not a directory$/],
  ['an output directory that cannot be created', ['train', '--out', join(aFile, 'run')], /^tapegrad train: --out: cannot create '.*a-file\.txt\/run': '.*a-file\.txt' is not a directory$/],
  ['an unknown option', ['train', '--learning-rate', '0.1'], /^tapegrad train: unknown option '--learning-rate'.*\(see tapegrad train --help\)$/],
  ['an option without its value', ['train', '--lr'], /^tapegrad train: option '--lr <rate>' argument missing/],
  ['an extra argument', ['train', 'mnist'], /^tapegrad train: too many arguments for 'train'/],
  ['an unknown command', ['fit'], /^tapegrad: unknown command 'fit'/],
  ['evaluate without --model', ['evaluate'], /^tapegrad evaluate: required option '--model <path>' not specified$/],
  ['evaluate with a missing model', ['evaluate', '--model', join(scratch.dir, 'nothing')], /^tapegrad evaluate: --model: no such file or directory/],
  ['evaluate with a directory that holds no model', ['evaluate', '--model', emptyDir], /^tapegrad evaluate: --model: '.*empty' is a directory without model\.safetensors/],
  ['evaluate with a file that is not safetensors', ['evaluate', '--model', garbageModel], /^tapegrad evaluate: --model: deserializeParameters: .*garbage\.safetensors: header length/],
  ['predict without inputs', ['predict', '--model', garbageModel], /^tapegrad predict: missing required argument 'inputs'/],
  ['gradcheck with an empty batch', ['gradcheck', '--batch', '0'], /^tapegrad gradcheck: --batch must be a positive integer, got '0'$/],
  ['gradcheck with a bad layer list', ['gradcheck', '--layers', '5,,3'], /^tapegrad gradcheck: --layers must be comma-separated positive integers/],
];

describe('a bad option or input', () => {
  it.each(cases)('%s: one line on stderr, exit code 2', async (_, args, expected) => {
    const { code, stdout, stderr } = await cli(args);
    expect(lines(stderr), stderr).toHaveLength(1);
    expect(stderr.trimEnd()).toMatch(expected);
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(stdout).toBe('');
    expect(code).toBe(2);
  });

  it('a layer size that does not fit the data is caught before training', async () => {
    const { code, stderr } = await cli(['train', '--layers', '100,10', '--limit-train', '10', '--limit-test', '10']);
    expect(stderr.trimEnd()).toBe('tapegrad train: --layers starts with 100 inputs but the data has 784 features per example (e.g. --layers 784,10)');
    expect(code).toBe(2);
  });

  it('no command at all prints the usage on stderr and exits 2', async () => {
    const { code, stdout, stderr } = await cli([]);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^Usage: tapegrad \[options\] \[command\]/);
    expect(code).toBe(2);
  });
});
