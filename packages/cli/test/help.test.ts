import { describe, expect, it } from 'vitest';
import { cli } from './helpers.js';

// --help explains every option of every command, with its default where it has one.
const options: Record<string, string[]> = {
  train: [
    '--model <kind>', '--layers <sizes>', '--activation <name>', '--loss <name>', '--output <name>', '--optimizer <name>', '--lr <rate>',
    '--batch-size <n>', '--epochs <n>', '--seed <n>', '--shuffle-seed <n>', '--init <name>', '--data <dir>', '--out <dir>',
    '--backend <name>', '--limit-train <n>', '--limit-test <n>', '--quiet', '-h, --help',
  ],
  evaluate: ['--model <path>', '--data <dir>', '--limit-test <n>', '--backend <name>', '--json', '-h, --help'],
  predict: ['inputs', '--model <path>', '--limit <n>', '--backend <name>', '--json', '-h, --help'],
  gradcheck: ['--layers <sizes>', '--activation <name>', '--loss <name>', '--batch <n>', '--seed <n>', '-h, --help'],
  graph: [
    '--layers <sizes>', '--activation <name>', '--loss <name>', '--batch <n>', '--seed <n>', '--model <path>', '--fold',
    '--format <name>', '--out <file>', '-h, --help',
  ],
  conformance: ['-h, --help'],
};

describe('--help', () => {
  it('lists the commands and the exit codes', async () => {
    const { code, stdout } = await cli(['--help']);
    expect(code).toBe(0);
    for (const command of Object.keys(options)) expect(stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    expect(stdout).toMatch(/Exit codes: 0 success; 1 .*; 2 a mistake in the options or the input/s);
  });

  it.each(Object.keys(options))('%s --help explains every option', async (command) => {
    const { code, stdout, stderr } = await cli([command, '--help']);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(stdout).toMatch(new RegExp(`^Usage: tapegrad ${command} `));
    for (const flag of options[command]) {
      // each option is followed by a description on its line
      const line = stdout.split('\n').find((l) => l.trimStart().startsWith(flag));
      expect(line, `${command} --help lacks ${flag}`).toBeDefined();
      expect(line!.trim().length, `${flag} has no description`).toBeGreaterThan(flag.length + 8);
    }
    expect(stdout).toMatch(/Examples:/);
  });

  it('train --help gives T1 as the defaults, T4\'s for --model cnn, and says how the seeds map', async () => {
    const { stdout } = await cli(['help', 'train']);
    const text = stdout.replace(/\s+/g, ' ');
    for (const fragment of [
      '(default: "mlp")', '(default: "784,128,10")', '(default: "relu")', '(default: "cce")', '(default: "sgd" for the MLP, "momentum" for the CNN)', 'sgd 0.1',
      'with --model cnn sgd 0.01, momentum 0.01, nesterov 0.01', '(default: "64")', '(default: "5" for the MLP, "10" for the CNN)',
      '(default: "1001", T1\'s, for the MLP; "1004", T4\'s, for the CNN)', '(default: "42")', '(default: "out/run")', '(default: "auto")',
    ]) {
      expect(text).toContain(fragment);
    }
    expect(text).toMatch(/mulberry32\(n\) draws W¹ row-major, then W²/);
    expect(text).toMatch(/one mulberry32\(n\) Fisher–Yates-shuffles epoch 1, 2, … in turn/);
  });

  it('--version prints the package version', async () => {
    const { code, stdout } = await cli(['--version']);
    expect(code).toBe(0);
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
