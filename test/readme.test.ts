import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// Each ```ts block of a package README is a complete program; run it so docs cannot rot.
const root = fileURLToPath(new URL('..', import.meta.url));
const scratch = fileURLToPath(new URL('./.readme-snippets/', import.meta.url));

function snippets(readme: string): string[] {
  const text = readFileSync(fileURLToPath(new URL(`../${readme}`, import.meta.url)), 'utf8');
  return [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
}

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// What each snippet must print, in order of appearance: the numbers the README promises.
const expected: Record<string, RegExp[][]> = {
  'packages/core/README.md': [
    [/\[ 2, 3 \] float32 \[ \[ 1, 2 \], \[ 3, 4 \] \] 100352/, /Tensor\(float32, \[2,3\]\)\n\[\[1, 2, 3\],\n \[4, 5, 6\]\]/],
    [/0\.71094948\d*, 0\.73105859/],
    [/\[ 2, 4, 5, 6 \] \[ 2, 4, 5, 3 \]\n\[\] \[ 8, 3 \]/],
    [
      /\[ 1, 3, 2 \]\n\[ \[ 1, 1 \], \[ 0, 0 \], \[ 2, 2 \] \]/,
      /take: index 3 at \[0\] is out of range for axis 0 of size 3 in \[3,2\]/,
      /\[ \[ 2, 1, 2, 3, 2 \], \[ 5, 4, 5, 6, 5 \] \]\n\[ \[ 1, 3, 6 \], \[ 4, 9, 15 \] \] \[ 1, 1, 1 \]\n-Infinity\n\[ 1, 1 \] \[ \[ 2, 1 \], \[ 2, 2 \] \]\n\[ 0, 6, 0 \]/,
    ],
    [/matmul: inner dimensions differ: \[3,4\] · \[5,2\]/, /add: shapes \[3\] and \[2\] cannot be broadcast together/],
    [/\[ NaN, 0, 0\.5, 2\.5 \] \[ NaN, -1, 0\.5, 1 \] \[ NaN, 0, 0\.5, 2\.5 \]\n\[ 1, 0, 0, 0 \] \[ NaN, -2, 0, 2 \]\n0\.841345 0\.841192\n\[ 2, 0, 2, 2, 2, 0 \]/],
    [/\[ 1, 1, 4, 3 \] \[ 1, 1, 1 \]\n\[ 1, 2, 4, 4 \] \[ 10, 18, 24, 18 \]\n\[ 1, 2, 2, 2 \]\n\[ 110, 118 \]\n\[ 5, 7, 13, 15 \] \[ 2\.5, 4\.5, 10\.5, 12\.5 \] 7\.5\n\[\[\[\[45,66,54\],\[84,120,96\],\[81,114,90\]\]\]\]\n\[ 1, 1, 4, 4 \]/],
    [/\[ 3, 12, 27 \]\n\[ 6, 12, 18 \]/, /\[ 6, 0, 18 \]/],
    [/\[ \[ -0\.26248959373947, 0\.231285077328125\d* \] \] \[ \[ -0\.26248959373947, 0\.231285077328125\d* \] \]/],
    [/0 14 \[ 0\.5, -1, 1\.5 \]/, /2 0\.875 \[ 0\.125, -0\.25, 0\.375 \]/],
    [/\[ 0\.268941421369995\d*, 0\.5, 0\.880797077977882\d* \]/],
    [/true 16 ok: 16 derivatives agree/],
    [/softplus: VJP agrees/],
    [/0\.1108 → 0\.0411\n100 steps: fresh buffers 0 \| reused \d+\n\[ 4, 8 \] \[ 4, 8 \] true\nTensor\.data: tensor \[4,8\] was released when tidy\(\) returned/],
    [/^replaying 6\ntrue\n$/],
    [/^cpu js true\n\[ '1\.000', '2\.718', '7\.389', '20\.086' \]\n\[ \[ 1, 2\.71828\d* \], \[ 7\.38905\d*, 20\.0855\d* \] \] 7\.7982\nitem: tensor \[\] lives on the 'webgpu' device; read it with `await t\.itemAsync\(\)`\n$/],
    [
      /forward log - \[ 1 \] -Infinity\nlog: 'log' produced -Infinity at index \[1\] of its \[3\] output \(input shapes \[3\]\) in the forward pass at <anonymous> \(<this file>\)/,
      /backward div sqrt \[ 1 \] Infinity\ndiv: 'div' produced Infinity at index \[1\] of its \[3\] output \(input shapes \[3\], \[3\]\) while computing the gradient of 'sqrt', recorded at <anonymous> \(<this file>\)/,
    ],
    [/\[ 3 \] \[ 0\.855341, 0, 0 \]\n\[ 3, 3 \] \[ 0, -1\.181568, 0 \]\n\[\s+3,\s+0,\s+0,\s+0,\s+-6,\s+0,\s+0,\s+0,\s+12\s+\]/],
    [
      /n0 \[label="W\\n\[1,2\] float64\\nvalue -1 \/ -0\.25 \/ 0\.5\\ngrad -1 \/ -0\.75 \/ -0\.5", shape=ellipse, color="#d01010", penwidth=2\];/,
      /n3 \[label="sigmoid\\n\[1,1\] float64\\nvalue 0\.5 \/ 0\.5 \/ 0\.5\\ngrad -2 \/ -2 \/ -2"/, /n0 -> n2 \[color="#d01010", penwidth=2\.5\];\nflowchart BT/,
    ],
    [/full 6 boxes, 1 copies, 28 lines of text\ncompact 6 boxes, 1 copies, 14 lines of text\n<title>mul\n\[3\] float64\nvalue 0\.5 \/ 2\.333 \/ 4\.5\ngrad 1 \/ 1 \/ 1<\/title>/],
  ],
  'packages/nn/README.md': [
    [/loss 0\.741 → 0\.00\d/, /accuracy 1\n/],
    [/mse 2\.860 → 0\.0\d\d/],
    [/\[ '0\.W', '0\.b', '2\.W', '2\.b', '5\.W', '5\.b' \]\nstep 0: loss 1\.322\nstep 9: loss 0\.343/],
    [/train accuracy 1\nevaluate \{ accuracy: 1 \}\npredict \[ 2, 16 \]/],
    [/train \[ 2, 0, 2, 2 \]\neval \[ 1, 1, 1, 1 \]/],
    [/\[ 1, 6, 3 \] 21/],
    [/conv2 \(Conv2d\)     \[1, 16, 10, 10\]        2416\n/, /Parameters: 51914\nBuffers: 12\n\[ 'conv1\.W', 'conv1\.b', 'bn1\.gamma', 'bn1\.beta' \]/],
    [/loss 0\.741 → 0\.0\d\d/],
    [/\s+1\s+\S+e-1[5-9]\s+\S+e-1[5-9]/, /ok: 2 layers agree \(tape = BP1–BP4 = augmented form = finite differences\)/],
    [
      /Δ 1 0 0 2 \| ∂C\/∂K 10 13 16 22 25 28 34 37 40\n∂C\/∂X 1 2 3 0 4 7 10 6 7 16 19 12 0 14 16 18\n/,
      /\n\s+1\s+conv1\s+Conv2d(\s+\d\.\d\de[-+]\d+){4}\s+—\n\s+2\s+relu1\s+ReLU\s/,
      /ok: 7 layers agree \(tape = hand-derived CNN backprop and BP1–BP4 = augmented form = finite differences\)/,
    ],
    [/\[ 5, 4, 1, 3, 3 \] \[ 5, 4 \] \[ 5, 3, 64 \]\n\[ 4 \]/],
        [/a 4-3-2 network true\n\d+ bytes; in memory/],
    [/^loss 0\.686 → 0\.00\d, accuracy 1\n0\.00\d 1 cpu \[ 1, 6 \]\n$/],
  ],
  'README.md': [[/^0\.\d{4} \[ 4, 2 \] \[ 4, 1 \] \[ 1, 4 \] \[ 1, 1 \]/]],
  'packages/charts/README.md': [[/^<svg true\n$/]],
  'packages/backend-webgpu/README.md': [[/^SwiftShader \(a CPU: right answers, no GPU speed\)\nwebgpu 1\.125 \[ \[ 1, 0\.25 \], \[ -0\.5, 0\.5 \] \]\nDeviceTensorError\n$/]],
};

// the WebGPU README runs on SwiftShader, the CPU Vulkan driver of Debian's chromium (as its tests)
const snippetEnv = { ...process.env };
snippetEnv.VK_ICD_FILENAMES ??= '/usr/lib/chromium/vk_swiftshader_icd.json';
snippetEnv.XDG_RUNTIME_DIR ??= mkdtempSync(join(tmpdir(), 'tapegrad-xdg-'));

for (const readme of Object.keys(expected)) {
  describe(readme, () => {
    const blocks = snippets(readme);
    it('has one expectation per snippet', () => expect(blocks.length).toBe(expected[readme].length));
    blocks.forEach((code, i) => {
      it(`snippet ${i + 1} runs and prints what the README says`, () => {
        mkdirSync(scratch, { recursive: true });
        const file = `${scratch}${readme.replace(/\W+/g, '_')}_${i + 1}.ts`;
        writeFileSync(file, code);
        const out = execFileSync(process.execPath, ['--import', 'tsx', file], { cwd: root, encoding: 'utf8', env: snippetEnv });
        for (const pattern of expected[readme][i] ?? [/^$/]) expect(out).toMatch(pattern);
      });
    });
  });
}
