/**
 * Dev-only outside check (not a test): tapegrad's convolutions and pools against PyTorch on
 * a few cases with every option, values and gradients, float64. Needs /usr/bin/python3 with
 * torch (Debian: apt-get install python3-torch).
 *
 *   npx tsx scripts/dev/conv-torch-check.ts
 */
import { execFileSync } from 'node:child_process';
import {
  type Tensor, adaptiveAvgPool2d, avgPool2d, conv1d, conv2d, convTranspose2d, maxPool2d, randn, vjp,
} from '@tapegrad/core';

interface Case { name: string; inputs: Tensor[]; f: (...xs: Tensor[]) => Tensor; torch: string }
const r = (shape: number[], seed: number) => randn(shape, { seed, dtype: 'float64' });
const cases: Case[] = [
  { name: 'conv2d stride/pad/dilation/groups', inputs: [r([2, 4, 9, 8], 1), r([6, 2, 3, 2], 2)],
    f: (x, w) => conv2d(x, w, { stride: [2, 1], padding: [1, 2], dilation: [1, 2], groups: 2 }),
    torch: 'F.conv2d(x, w, stride=(2,1), padding=(1,2), dilation=(1,2), groups=2)' },
  { name: "conv2d 'same' even kernel", inputs: [r([1, 3, 7, 6], 3), r([2, 3, 4, 2], 4)],
    f: (x, w) => conv2d(x, w, { padding: 'same', dilation: [1, 2] }), torch: "F.conv2d(x, w, padding='same', dilation=(1,2))" },
  { name: 'conv1d', inputs: [r([2, 4, 11], 5), r([4, 2, 3], 6)],
    f: (x, w) => conv1d(x, w, { stride: 2, padding: 1, dilation: 2, groups: 2 }), torch: 'F.conv1d(x, w, stride=2, padding=1, dilation=2, groups=2)' },
  { name: 'convTranspose2d', inputs: [r([2, 4, 4, 5], 7), r([4, 3, 3, 2], 8)],
    f: (x, w) => convTranspose2d(x, w, { stride: [2, 3], padding: [1, 0], outputPadding: [1, 2], dilation: [1, 1], groups: 2 }),
    torch: 'F.conv_transpose2d(x, w, stride=(2,3), padding=(1,0), output_padding=(1,2), dilation=(1,1), groups=2)' },
  { name: 'maxPool2d', inputs: [r([2, 3, 9, 7], 9)], f: (x) => maxPool2d(x, { kernelSize: [3, 2], stride: [2, 1], padding: [1, 1], dilation: [2, 1] }),
    torch: 'F.max_pool2d(x, (3,2), stride=(2,1), padding=(1,1), dilation=(2,1))' },
  { name: 'avgPool2d countIncludePad=false', inputs: [r([2, 3, 7, 7], 10)], f: (x) => avgPool2d(x, { kernelSize: 3, stride: 2, padding: 1, countIncludePad: false }),
    torch: 'F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)' },
  { name: 'adaptiveAvgPool2d 5×7 → 3×4', inputs: [r([2, 2, 5, 7], 11)], f: (x) => adaptiveAvgPool2d(x, [3, 4]), torch: 'F.adaptive_avg_pool2d(x, (3,4))' },
];

const payload = cases.map((c) => {
  const [y, back] = vjp(c.f, ...c.inputs);
  const dy = r([...y.shape], 99);
  const grads = back(dy);
  return { name: c.name, torch: c.torch, inputs: c.inputs.map((t) => ({ shape: t.shape, data: t.toFlatArray() })), dy: dy.toFlatArray(),
    y: { shape: y.shape, data: y.toFlatArray() }, grads: grads.map((g) => g.toFlatArray()) };
});

const python = `
import json, sys, torch
import torch.nn.functional as F
worst = 0.0
for c in json.load(sys.stdin):
    ts = [torch.tensor(i['data'], dtype=torch.float64).reshape(i['shape']).requires_grad_() for i in c['inputs']]
    names = ['x', 'w'][:len(ts)]
    y = eval(c['torch'], {'F': F, **dict(zip(names, ts))})
    assert list(y.shape) == c['y']['shape'], (c['name'], list(y.shape), c['y']['shape'])
    dy = torch.tensor(c['dy'], dtype=torch.float64).reshape(y.shape)
    grads = torch.autograd.grad(y, ts, dy)
    err = (y.detach().flatten() - torch.tensor(c['y']['data'], dtype=torch.float64)).abs().max().item()
    for g, mine in zip(grads, c['grads']):
        err = max(err, (g.flatten() - torch.tensor(mine, dtype=torch.float64)).abs().max().item())
    worst = max(worst, err)
    print(f"{c['name']:38s} shape {list(y.shape)}  max |tapegrad - torch| over y and grads: {err:.2e}")
print('torch', torch.__version__, 'worst', f'{worst:.2e}', 'OK' if worst < 1e-10 else 'MISMATCH')
`;
process.stdout.write(execFileSync('/usr/bin/python3', ['-c', python], { input: JSON.stringify(payload), encoding: 'utf8' }));
