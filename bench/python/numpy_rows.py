#!/usr/bin/env python3
"""NumPy rows of the tapegrad benchmark (bench/src/frameworks/python.ts runs this).

The seeds' own way of training an MLP, written out with NumPy: examples as columns, the
forward pass Zˡ = Wˡ Aˡ⁻¹ + bˡ, Aˡ = fₗ(Zˡ), then backpropagation by hand — BP1 in its closed
form Δᴸ = (Aᴸ − Y)/M (softmax + CE and sigmoid + BCE alike), BP2 Δˡ = ((Wˡ⁺¹)ᵀ Δˡ⁺¹) ⊙ f′ₗ(Zˡ),
BP3 ∂C/∂Wˡ = Δˡ (Aˡ⁻¹)ᵀ, BP4 ∂C/∂bˡ = Δˡ 𝟙 (shared/BACKPROP.md) — and plain SGD, every layer
updated once all the errors are known (seed 001's footnote). float32 throughout.

T4 (the CNN) by hand the same way: each convolution as one GEMM over the im2col matrix of its
input (activations kept as [channels, batch, rows, columns], so a layer's output is the GEMM's
own [out, batch·rows·columns]), ReLU, 2×2 max-pooling by reshaping into windows, then the dense
layers as above; backward, the pooling's error goes to each window's first maximum (PyTorch's
and tapegrad's choice), ∂C/∂W = Δ·colsᵀ, ∂C/∂X by col2im (the GEMM Wᵀ·Δ added back window
offset by window offset); SGD with PyTorch's momentum (v ← μ·v + g, θ ← θ − η·v).

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

from protocol_inputs import CLASSES, Inputs, parse_args, run_and_report  # noqa: E402


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
    step, logits = cnn(inputs) if inputs.spec.get("conv") else mlp(inputs)

    def evaluate():
        z = logits(inputs.test_x).astype(np.float64)
        y = np.eye(CLASSES)[inputs.test_y].T
        if inputs.spec["output"] == "softmax-cce":
            m = z.max(axis=0, keepdims=True)
            lse = m + np.log(np.exp(z - m).sum(axis=0, keepdims=True))
            per_example = -(y * (z - lse)).sum(axis=0)
        else:
            # BCE summed over the units, in its logits form: softplus(z) − y·z
            per_example = (np.logaddexp(0, z) - y * z).sum(axis=0)
        return {"loss": float(per_example.mean()), "accuracy": float((z.argmax(axis=0) == inputs.test_y).mean())}

    run_and_report(args, inputs, step, evaluate, numpy=np.__version__, threads=args.threads, blas=blas_library(), threadpools=pools)


def softmax_columns(z):
    e = np.exp(z - z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def mlp(inputs):
    """The MLP tasks (T1-T3): step(indices) and logits(rows of examples) → Zᴸ as columns."""
    spec = inputs.spec
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
        return softmax_columns(z) if softmax_out else sigmoid(z)

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

    return step, lambda rows: forward(rows.T)[0][-1]


def im2col(a, k, pad):
    """[C, M, H, W] → the [C·k·k, M·H′·W′] matrix of its k×k windows (rows in (c, kh, kw) order, OIHW's), H′ = H + 2·pad − k + 1."""
    if pad:
        a = np.pad(a, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    c, m, h, w = a.shape
    windows = np.lib.stride_tricks.sliding_window_view(a, (k, k), axis=(2, 3))  # [C, M, H′, W′, k, k], a view
    return np.ascontiguousarray(windows.transpose(0, 4, 5, 1, 2, 3)).reshape(c * k * k, m * (h - k + 1) * (w - k + 1))


def col2im(cols, shape, k, pad):
    """im2col's adjoint: each window's column added back where it was read, into [C, M, H, W] (H, W without padding)."""
    c, m, h, w = shape
    hp, wp = h + 2 * pad, w + 2 * pad
    ho, wo = hp - k + 1, wp - k + 1
    out = np.zeros((c, m, hp, wp), dtype=cols.dtype)
    blocks = cols.reshape(c, k, k, m, ho, wo)
    for i in range(k):
        for j in range(k):
            out[:, :, i:i + ho, j:j + wo] += blocks[:, i, j]
    return out[:, :, pad:pad + h, pad:pad + w]


def pool(a):
    """2×2 max-pooling, stride 2, of [C, M, H, W] (H, W even), and each window's first maximum as a flat offset 0-3 (for the backward pass)."""
    c, m, h, w = a.shape
    windows = a.reshape(c, m, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(c, m, h // 2, w // 2, 4)
    first = windows.argmax(axis=4)  # the first of equal maxima, as PyTorch and tapegrad route the gradient
    return np.take_along_axis(windows, first[..., None], axis=4)[..., 0], first


def unpool(d, first):
    """pool's adjoint: each window's error to its first maximum, zeros elsewhere; [C, M, H/2, W/2] → [C, M, H, W]."""
    c, m, h2, w2 = d.shape
    windows = np.zeros((c, m, h2, w2, 4), dtype=d.dtype)
    np.put_along_axis(windows, first[..., None], d[..., None], axis=4)
    return windows.reshape(c, m, h2, w2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(c, m, 2 * h2, 2 * w2)


def cnn(inputs):
    """T4: conv → ReLU → pool, twice, then the dense layers; momentum SGD. step(indices) and logits(rows) → Zᴸ as columns."""
    spec = inputs.spec
    lr, mu = np.float32(spec["lr"]), np.float32(spec.get("momentum") or 0)
    convs = [c for *_, c in inputs.layers if c]
    params = [W.reshape(out, fan_in).copy() for W, _, fan_in, out, _ in inputs.layers]
    params += [b.reshape(out, 1).copy() for _, b, _, out, _ in inputs.layers]
    L = len(inputs.layers)
    velocity = [np.zeros_like(p) for p in params]
    X = inputs.train_x.reshape(-1, 1, 28, 28)
    Y = np.eye(CLASSES, dtype=np.float32)[inputs.train_y]

    def forward(images):
        """Logits [10, M] and what the backward pass reads, for images [M, 1, 28, 28]."""
        a = images.transpose(1, 0, 2, 3)  # [C, M, H, W]
        kept = []
        for l, conv in enumerate(convs):
            k, pad = conv["kernel"], conv["padding"]
            cols = im2col(a, k, pad)
            h = a.shape[2] + 2 * pad - k + 1
            z = (params[l] @ cols + params[L + l]).reshape(conv["outChannels"], a.shape[1], h, h)
            relu = np.maximum(z, 0)
            pooled, first = pool(relu)
            kept.append((a.shape, cols, z, first))
            a = pooled
        m = a.shape[1]
        h = a.transpose(1, 0, 2, 3).reshape(m, -1).T  # flattened per example in (channel, row, column) order: [400, M]
        zs, As = [], [h]
        for l in range(len(convs), L):
            z = params[l] @ As[-1] + params[L + l]
            zs.append(z)
            As.append(np.maximum(z, 0) if l < L - 1 else z)
        return zs, As, kept, a.shape

    def step(indices):
        zs, As, kept, pooled_shape = forward(X[indices])
        m = len(indices)
        delta = (softmax_columns(zs[-1]) - Y[indices].T) / np.float32(m)  # BP1, closed form
        grads = [None] * (2 * L)
        first_dense = len(convs)
        for l in range(L - 1, first_dense - 1, -1):
            i = l - first_dense
            grads[l] = delta @ As[i].T
            grads[L + l] = delta.sum(axis=1, keepdims=True)
            back = params[l].T @ delta
            delta = back * (zs[i - 1] > 0) if i > 0 else back
        # the dense layers' input error back to the pooled maps [C, M, h, w]
        c, _, ph, pw = pooled_shape
        d = delta.T.reshape(m, c, ph, pw).transpose(1, 0, 2, 3)
        for l in range(len(convs) - 1, -1, -1):
            in_shape, cols, z, first = kept[l]
            dz = unpool(d, first) * (z > 0)
            dz = dz.reshape(dz.shape[0], -1)
            grads[l] = dz @ cols.T
            grads[L + l] = dz.sum(axis=1, keepdims=True)
            if l > 0:
                d = col2im(params[l].T @ dz, in_shape, convs[l]["kernel"], convs[l]["padding"])
        for p, v, g in zip(params, velocity, grads):
            v *= mu
            v += g
            p -= lr * v

    def logits(rows):
        return np.concatenate([forward(rows[i:i + 256].reshape(-1, 1, 28, 28))[0][-1] for i in range(0, rows.shape[0], 256)], axis=1)

    return step, logits


if __name__ == "__main__":
    main()
