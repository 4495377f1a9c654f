#!/usr/bin/env python3
"""PyTorch rows of the tapegrad benchmark (bench/src/frameworks/python.ts runs this).

Trains one BENCH-PROTOCOL task (T1-T4, the spec handed over as JSON by the node side) with
PyTorch on a given number of threads and prints one JSON object on stdout: autograd and
torch.optim.SGD, on the protocol's inputs as protocol_inputs.py rebuilds them, timed by its
run_plan (batch gather `index_select` included, evaluation excluded).
"""
from protocol_inputs import CLASSES, Inputs, parse_args, run_and_report


def main():
    args = parse_args()

    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    inputs = Inputs(args)
    spec = inputs.spec

    cnn = bool(spec.get("conv"))
    params = []
    convs, dense = [], []
    for W, b, fan_in, out, conv in inputs.layers:
        if conv:
            w = torch.tensor(W.reshape(out, conv["inChannels"], conv["kernel"], conv["kernel"]), requires_grad=True)
            convs.append((w, torch.tensor(b, requires_grad=True), conv["padding"]))
        else:
            dense.append((torch.tensor(W.reshape(out, fan_in), requires_grad=True), torch.tensor(b, requires_grad=True)))
    for w, b, *_ in convs + dense:
        params += [w, b]
    optimizer = torch.optim.SGD(params, lr=spec["lr"], momentum=spec.get("momentum") or 0)
    hidden = torch.relu if spec["hidden"] == "relu" else torch.sigmoid

    def logits(x):
        h = x
        if cnn:
            h = h.view(-1, 1, 28, 28)
            for w, b, pad in convs:
                h = F.max_pool2d(torch.relu(F.conv2d(h, w, b, padding=pad)), 2)
            h = h.flatten(1)  # (channel, row, column) order
        for l, (w, b) in enumerate(dense):
            h = F.linear(h, w, b)
            if l < len(dense) - 1:
                h = hidden(h)
        return h

    def cost(z, labels, reduction="mean"):
        if spec["output"] == "softmax-cce":
            return F.cross_entropy(z, labels, reduction=reduction)
        y = F.one_hot(labels, CLASSES).to(z.dtype)
        per_example = F.binary_cross_entropy_with_logits(z, y, reduction="none").sum(1)
        return per_example.mean() if reduction == "mean" else per_example.sum()

    X = torch.from_numpy(inputs.train_x)
    Y = torch.from_numpy(inputs.train_y)

    def step(indices):
        idx = torch.from_numpy(indices)
        xb = X.index_select(0, idx)
        yb = Y.index_select(0, idx)
        optimizer.zero_grad(set_to_none=True)
        loss = cost(logits(xb), yb)
        loss.backward()
        optimizer.step()

    def evaluate():
        with torch.no_grad():
            z = logits(torch.from_numpy(inputs.test_x))
            labels = torch.from_numpy(inputs.test_y)
            return {
                "loss": float(cost(z, labels, reduction="sum")) / inputs.test_x.shape[0],
                "accuracy": float((z.argmax(1) == labels).double().mean()),
            }

    run_and_report(args, inputs, step, evaluate, torch=torch.__version__, threads=torch.get_num_threads())


if __name__ == "__main__":
    main()
