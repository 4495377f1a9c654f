#!/usr/bin/env python3
"""Dev check (not part of the test suite): numpy_rows.py's hand-written T4 backprop against
PyTorch's autograd, in float64, on random weights, biases and images.

One step of numpy_rows.cnn with lr 1 and no momentum moves every parameter by minus its
gradient; the same batch through torch's conv2d / max_pool2d / linear / cross_entropy gives
autograd's. Prints the largest difference per parameter (≈ 1e-16 when they agree) and exits 1
if any exceeds 1e-12.

    cd bench/python && /usr/bin/python3 check_numpy_cnn.py
"""
import sys
import types

import numpy as np
import torch
import torch.nn.functional as F

import numpy_rows

SPEC = {
    "conv": [{"inChannels": 1, "outChannels": 6, "kernel": 5, "padding": 2}, {"inChannels": 6, "outChannels": 16, "kernel": 5, "padding": 0}],
    "sizes": [400, 120, 84, 10], "lr": 1.0, "momentum": 0.0, "output": "softmax-cce",
}
SHAPES = [(25, 6, SPEC["conv"][0]), (150, 16, SPEC["conv"][1]), (400, 120, None), (120, 84, None), (84, 10, None)]
NAMES = ["W conv1", "W conv2", "W dense1", "W dense2", "W dense3", "b conv1", "b conv2", "b dense1", "b dense2", "b dense3"]


def main():
    rng = np.random.default_rng(0)
    layers = [(rng.standard_normal(out * fan_in) * np.sqrt(2 / fan_in), rng.standard_normal(out) * 0.1, fan_in, out, conv) for fan_in, out, conv in SHAPES]
    n, batch = 40, np.arange(3, 19)
    inputs = types.SimpleNamespace(spec=SPEC, layers=layers, train_x=rng.random((n, 784)), train_y=rng.integers(0, 10, n))
    step, _ = numpy_rows.cnn(inputs)
    params = dict(zip(step.__code__.co_freevars, (c.cell_contents for c in step.__closure__)))["params"]
    before = [p.copy() for p in params]
    step(batch)
    ours = [b - p for b, p in zip(before, params)]

    leaf = lambda a: torch.tensor(a, dtype=torch.float64, requires_grad=True)  # noqa: E731
    w1, w2 = leaf(before[0].reshape(6, 1, 5, 5)), leaf(before[1].reshape(16, 6, 5, 5))
    dense = [leaf(before[i]) for i in (2, 3, 4)]
    biases = [leaf(before[5 + i].reshape(-1)) for i in range(5)]
    x = torch.tensor(inputs.train_x[batch].reshape(-1, 1, 28, 28))
    h = F.max_pool2d(torch.relu(F.conv2d(x, w1, biases[0], padding=2)), 2)
    h = F.max_pool2d(torch.relu(F.conv2d(h, w2, biases[1])), 2).flatten(1)
    h = torch.relu(F.linear(h, dense[0], biases[2]))
    h = torch.relu(F.linear(h, dense[1], biases[3]))
    F.cross_entropy(F.linear(h, dense[2], biases[4]), torch.tensor(inputs.train_y[batch])).backward()
    autograd = [w1.grad.reshape(6, 25), w2.grad.reshape(16, 150)] + [d.grad for d in dense] + [b.grad.reshape(-1, 1) for b in biases]

    worst = 0.0
    for name, a, b in zip(NAMES, ours, autograd):
        diff = float(np.abs(a - b.numpy()).max())
        worst = max(worst, diff)
        print(f"{name:9s} {str(a.shape):11s} max |numpy − autograd| {diff:.1e}  (max |grad| {float(np.abs(b.numpy()).max()):.2f})")
    sys.exit(0 if worst <= 1e-12 else 1)


if __name__ == "__main__":
    main()
