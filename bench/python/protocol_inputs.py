"""What every Python row of the tapegrad benchmark shares (torch_rows.py, numpy_rows.py).

Each row rebuilds BENCH-PROTOCOL's inputs from the protocol's text alone: the split from the
`mnist` package's digit files (their folder is an argument), the epoch orders from
mulberry32(42) and the initial weights from mulberry32(seed) with Box-Muller normals. The
node side (bench/src/frameworks/python.ts) checks the first five indices of epoch 0 and a
CRC-32 of every initial weight array against its own, so a row that trained on different
inputs is an error, not a figure.

`run_plan` is the one timed loop: each epoch's training steps (batch gather, forward,
backward, update) on perf_counter, evaluation excluded, with the same budget probe as
bench/src/harness.ts; `report` prints the one JSON line the node side reads.
"""
import argparse
import json
import math
import os
import sys
import time
import zlib

import numpy as np

PIXELS = 784
CLASSES = 10


def mulberry32(a):
    """The protocol's generator, on unsigned 32-bit integers (the same bit patterns as JS's int32 arithmetic)."""
    state = a & 0xFFFFFFFF

    def imul(x, y):
        return (x * y) & 0xFFFFFFFF

    def rng():
        nonlocal state
        state = (state + 0x6D2B79F5) & 0xFFFFFFFF
        t = imul(state ^ (state >> 15), 1 | state)
        t = ((t + imul(t ^ (t >> 7), 61 | t)) & 0xFFFFFFFF) ^ t
        return ((t ^ (t >> 14)) & 0xFFFFFFFF) / 4294967296

    return rng


def normal(rng):
    u1 = rng()
    u2 = rng()
    return math.sqrt(-2 * math.log(1 - u1)) * math.cos(2 * math.pi * u2)


def epoch_orders(n, epochs, seed=42):
    rng = mulberry32(seed)
    orders = []
    for _ in range(epochs):
        p = list(range(n))
        for i in range(n - 1, 0, -1):
            j = math.floor(rng() * (i + 1))
            p[i], p[j] = p[j], p[i]
        orders.append(np.array(p, dtype=np.int64))
    return orders


def layer_shapes(spec):
    """(fan-in, out, conv or None) per layer, in the protocol's drawing order: convolutions first."""
    shapes = [(c["inChannels"] * c["kernel"] * c["kernel"], c["outChannels"], c) for c in spec.get("conv") or []]
    sizes = spec["sizes"]
    shapes += [(sizes[l], sizes[l + 1], None) for l in range(len(sizes) - 1)]
    return shapes


def initial_weights(spec):
    """(W flat float32, b float32, fan-in, out, conv or None) per layer."""
    rng = mulberry32(spec["seed"])
    layers = []
    for fan_in, out, conv in layer_shapes(spec):
        sd = math.sqrt(2 / fan_in) if spec["init"] == "he" else 1.0
        W = np.array([normal(rng) * sd for _ in range(out * fan_in)], dtype=np.float64).astype(np.float32)
        b = np.zeros(out, dtype=np.float32)
        if spec["init"] == "classic":
            b = np.array([normal(rng) for _ in range(out)], dtype=np.float64).astype(np.float32)
        layers.append((W, b, fan_in, out, conv))
    return layers


def load_split(digits_dir):
    train_x, train_y, test_x, test_y = [], [], [], []
    for d in range(CLASSES):
        with open(os.path.join(digits_dir, f"{d}.json")) as f:
            data = np.asarray(json.load(f)["data"], dtype=np.float64).astype(np.float32)
        rows = data.reshape(-1, PIXELS)
        n_train = math.floor(0.8 * rows.shape[0])
        train_x.append(rows[:n_train])
        test_x.append(rows[n_train:])
        train_y.append(np.full(n_train, d, dtype=np.int64))
        test_y.append(np.full(rows.shape[0] - n_train, d, dtype=np.int64))
    return np.concatenate(train_x), np.concatenate(train_y), np.concatenate(test_x), np.concatenate(test_y)


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", required=True, help="the task's TaskSpec as JSON")
    ap.add_argument("--digits", required=True, help="folder of the mnist package's <d>.json files")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, required=True)
    ap.add_argument("--batches", type=int, required=True, help="batches run per epoch")
    ap.add_argument("--eval-examples", type=int, default=0, help="evaluate on the first N test examples (0: all)")
    ap.add_argument("--budget", type=float, default=math.inf)
    ap.add_argument("--no-evaluate", action="store_true")
    return ap.parse_args()


class Inputs:
    """The protocol's inputs for one task, and the checks the node side compares with its own."""

    def __init__(self, args):
        self.spec = json.loads(args.spec)
        self.train_x, self.train_y, self.test_x, self.test_y = load_split(args.digits)
        if args.eval_examples > 0:
            self.test_x, self.test_y = self.test_x[: args.eval_examples], self.test_y[: args.eval_examples]
        self.n = self.train_x.shape[0]
        self.orders = epoch_orders(self.n, args.epochs)
        self.layers = initial_weights(self.spec)
        self.checks = {
            "firstIndices": [int(v) for v in self.orders[0][:5]],
            "weightCrc32": [[zlib.crc32(W.tobytes()), zlib.crc32(b.tobytes())] for W, b, *_ in self.layers],
            "train": int(self.n),
            "test": int(self.test_x.shape[0]),
        }


def run_plan(args, inputs, step):
    """
    Times the plan: step(indices) for each batch of each epoch's order. Returns
    (epoch_seconds, stopped_early), or None after printing the budget probe's verdict.
    """
    batch = inputs.spec["batch"]
    n = inputs.n
    total_batches = args.epochs * args.batches
    epoch_seconds = []
    stopped_early = False
    started = time.perf_counter()
    for e in range(args.epochs):
        order = inputs.orders[e]
        t0 = time.perf_counter()
        first = 0.0
        for bi in range(args.batches):
            step(order[bi * batch: min((bi + 1) * batch, n)])
            if e == 0 and math.isfinite(args.budget):
                # the harness's probe: estimate the whole plan from the first batches, stop when it cannot fit
                elapsed = time.perf_counter() - t0
                if bi == 0:
                    first = elapsed
                per_batch = elapsed if bi == 0 else (elapsed - first) / bi
                estimate = elapsed + per_batch * (total_batches - bi - 1)
                if estimate > (2 if bi == 0 else 1) * args.budget:
                    print(json.dumps({"checks": inputs.checks, "overBudget": {"secondsPerBatch": per_batch, "probeBatches": bi + 1, "estimate": estimate}}))
                    return None
        epoch_seconds.append(time.perf_counter() - t0)
        print(f"epoch {e + 1}/{args.epochs} {epoch_seconds[-1]:.3f} s", file=sys.stderr, flush=True)
        elapsed = time.perf_counter() - started
        timed = epoch_seconds[1:] if len(epoch_seconds) > 1 else epoch_seconds
        remaining = (args.epochs - e - 1) * float(np.median(timed))
        if math.isfinite(args.budget) and e + 1 < args.epochs and elapsed + remaining > 1.25 * args.budget and len(epoch_seconds) >= 2:
            stopped_early = True
            break
    return epoch_seconds, stopped_early


def run_and_report(args, inputs, step, evaluate, **facts):
    """run_plan, then evaluate() (the test set's {"loss", "accuracy"}) unless the plan stopped early or --no-evaluate, then report."""
    timed = run_plan(args, inputs, step)
    if timed is None:
        return
    epoch_seconds, stopped_early = timed
    evaluation = None if stopped_early or args.no_evaluate else evaluate()
    report(inputs, epoch_seconds, stopped_early, evaluation, **facts)


def report(inputs, epoch_seconds, stopped_early, evaluation, **facts):
    print(json.dumps({"checks": inputs.checks, "epochSeconds": epoch_seconds, "stoppedEarly": stopped_early, "evaluation": evaluation, **facts}))
