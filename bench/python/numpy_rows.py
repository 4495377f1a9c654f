#!/usr/bin/env python3
"""NumPy rows of the tapegrad benchmark (bench/src/frameworks/python.ts runs this).

The seeds' own way of training an MLP, written out with NumPy: examples as columns, the
forward pass Zˡ = Wˡ Aˡ⁻¹ + bˡ, Aˡ = fₗ(Zˡ), then backpropagation by hand — BP1 in its closed
form Δᴸ = (Aᴸ − Y)/M (softmax + CE and sigmoid + BCE alike), BP2 Δˡ = ((Wˡ⁺¹)ᵀ Δˡ⁺¹) ⊙ f′ₗ(Zˡ),
BP3 ∂C/∂Wˡ = Δˡ (Aˡ⁻¹)ᵀ, BP4 ∂C/∂bˡ = Δˡ 𝟙 (shared/BACKPROP.md) — and plain SGD, every layer
updated once all the errors are known (seed 001's footnote). float32 throughout. The MLP tasks
only (T1-T3): the seeds derive no convolution.

BLAS threads: OPENBLAS_NUM_THREADS (and OMP_NUM_THREADS) are set to --threads before NumPy is
imported; threadpoolctl, where installed, also limits them and names the library. The report
says which BLAS library the process loaded (NumPy on Debian links the reference BLAS unless
libopenblas0-pthread is installed).
"""
import os
import sys


def threads_from_argv():
    argv = sys.argv
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return "1"


# before NumPy loads its BLAS
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = threads_from_argv()

import numpy as np  # noqa: E402

from protocol_inputs import CLASSES, Inputs, parse_args, report, run_plan  # noqa: E402


def blas_library():
    """The BLAS shared library this process mapped (from /proc/self/maps), e.g. openblas-pthread/libblas.so.3."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "blas" in line.lower() and "/" in line}
        names = sorted(p.replace("/usr/lib/x86_64-linux-gnu/", "") for p in paths if "numpy" not in p)
        return ", ".join(names) or "unknown"
    except OSError:
        return "unknown"


def limit_threads(threads):
    """threadpoolctl's limit and its view of the BLAS, where it is installed; None otherwise."""
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        return None
    threadpool_limits(limits=threads, user_api="blas")
    return [{"library": i.get("internal_api"), "threads": i.get("num_threads"), "version": i.get("version")} for i in threadpool_info()]


def main():
    args = parse_args()
    pools = limit_threads(args.threads)
    inputs = Inputs(args)
    spec = inputs.spec
    if spec.get("conv"):
        raise SystemExit("numpy_rows.py: the seeds' hand-written backprop is for MLPs; no convolution task")
    lr = np.float32(spec["lr"])
    relu_hidden = spec["hidden"] == "relu"
    softmax_out = spec["output"] == "softmax-cce"
    Ws = [W.reshape(out, fan_in).copy() for W, _, fan_in, out, _ in inputs.layers]
    bs = [b.reshape(out, 1).copy() for _, b, _, out, _ in inputs.layers]
    L = len(Ws)
    X = inputs.train_x  # [N, 784]: one example per row, so a batch is one gather of rows
    Y = np.eye(CLASSES, dtype=np.float32)[inputs.train_y]  # one-hot rows [N, 10]

    def sigmoid(z):
        with np.errstate(over="ignore"):
            return np.float32(1) / (np.float32(1) + np.exp(-z))

    def output(z):
        if softmax_out:
            e = np.exp(z - z.max(axis=0, keepdims=True))
            return e / e.sum(axis=0, keepdims=True)
        return sigmoid(z)

    def forward(A):
        """Every Zˡ and Aˡ (A⁰ = the batch as columns)."""
        zs, As = [], [A]
        for l in range(L):
            Z = Ws[l] @ As[-1] + bs[l]
            zs.append(Z)
            As.append(output(Z) if l == L - 1 else (np.maximum(Z, 0) if relu_hidden else sigmoid(Z)))
        return zs, As

    def step(indices):
        A0 = X[indices].T  # [784, M] columns (a transposed view of the gathered rows)
        Yb = Y[indices].T
        M = A0.shape[1]
        zs, As = forward(A0)
        delta = (As[L] - Yb) / np.float32(M)  # BP1, closed form
        grads = [None] * L
        for l in range(L - 1, -1, -1):
            dW = delta @ As[l].T  # BP3
            db = delta.sum(axis=1, keepdims=True)  # BP4
            grads[l] = (dW, db)
            if l > 0:
                back = Ws[l].T @ delta
                # BP2: f′ from what the forward pass kept (relu′(0) = 0; σ′ = a(1 − a))
                delta = back * (zs[l - 1] > 0) if relu_hidden else back * As[l] * (np.float32(1) - As[l])
        for l in range(L):
            Ws[l] -= lr * grads[l][0]
            bs[l] -= lr * grads[l][1]

    timed = run_plan(args, inputs, step)
    if timed is None:
        return
    epoch_seconds, stopped_early = timed
    evaluation = None
    if not stopped_early and not args.no_evaluate:
        zs, _ = forward(inputs.test_x.T)
        z = zs[-1].astype(np.float64)
        y = np.eye(CLASSES)[inputs.test_y].T
        if softmax_out:
            m = z.max(axis=0, keepdims=True)
            lse = m + np.log(np.exp(z - m).sum(axis=0, keepdims=True))
            per_example = -(y * (z - lse)).sum(axis=0)
        else:
            # BCE summed over the units, in its logits form: softplus(z) − y·z
            per_example = (np.logaddexp(0, z) - y * z).sum(axis=0)
        evaluation = {"loss": float(per_example.mean()), "accuracy": float((z.argmax(axis=0) == inputs.test_y).mean())}
    report(inputs, epoch_seconds, stopped_early, evaluation, numpy=np.__version__, threads=args.threads, blas=blas_library(), threadpools=pools)


if __name__ == "__main__":
    main()
