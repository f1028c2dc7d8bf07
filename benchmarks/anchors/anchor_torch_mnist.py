"""Reference: a plain PyTorch ResNet-18 for MNIST, as a PyTorch user would run it (7x7/2 stem +
maxpool, 1 input channel, Adam 1e-3, wd 1e-4, StepLR(7, 0.1), batch 128, 10 epochs), with the data already on the GPU (the fastest
honest loader). Prints per-epoch test accuracy and the wall time.

Usage: python benchmarks/anchors/anchor_torch_mnist.py MNIST_DIR [--epochs 10] [--compile] [--bf16]
"""

import argparse
import gzip
import json
import struct
import time

import numpy as np
import torch
import torchvision


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    nd = magic & 0xFF
    shape = struct.unpack(">" + "I" * nd, data[4 : 4 + 4 * nd])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * nd).reshape(shape)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("root")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--compile", action="store_true")
    p.add_argument("--bf16", action="store_true")
    a = p.parse_args()
    t_start = time.perf_counter()
    torch.manual_seed(0)
    dev = "cuda"
    mean, std = 0.1307, 0.3081

    def load(split):
        x = torch.tensor(idx(f"{a.root}/{split}-images-idx3-ubyte.gz"), dtype=torch.float32, device=dev)
        y = torch.tensor(idx(f"{a.root}/{split}-labels-idx1-ubyte.gz"), dtype=torch.long, device=dev)
        return ((x / 255 - mean) / std)[:, None], y

    xtr, ytr = load("train")
    xte, yte = load("t10k")
    m = torchvision.models.resnet18(num_classes=10)
    m.conv1 = torch.nn.Conv2d(1, 64, 7, 2, 3, bias=False)
    m = m.to(dev)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.StepLR(opt, 7, 0.1)
    fwd = torch.compile(m) if a.compile else m
    n = xtr.shape[0]
    for ep in range(a.epochs):
        m.train()
        perm = torch.randperm(n, device=dev)
        t0 = time.perf_counter()
        for i in range(0, n, a.batch):
            idxs = perm[i : i + a.batch]
            with torch.autocast("cuda", torch.bfloat16, enabled=a.bf16):
                loss = torch.nn.functional.cross_entropy(fwd(xtr[idxs]), ytr[idxs])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sched.step()
        m.eval()
        correct = 0
        with torch.no_grad(), torch.autocast("cuda", torch.bfloat16, enabled=a.bf16):
            for i in range(0, xte.shape[0], 1000):
                correct += (fwd(xte[i : i + 1000]).argmax(1) == yte[i : i + 1000]).sum().item()
        torch.cuda.synchronize()
        print(
            json.dumps(
                dict(
                    epoch=ep + 1,
                    test_acc=correct / xte.shape[0],
                    epoch_s=round(time.perf_counter() - t0, 2),
                    total_s=round(time.perf_counter() - t_start, 1),
                )
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
