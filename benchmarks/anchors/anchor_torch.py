"""Anchor: torchvision ResNet training/inference throughput on one GPU (synthetic data).

Usage: python benchmarks/anchors/anchor_torch.py [--depths 18,50] [--batch 256] [--steps 30]
Prints one JSON line per measurement.
"""

import argparse
import json
import time

import torch
import torchvision


def bench(model_fn, batch, res, steps, compile_, amp, train):
    torch.manual_seed(0)
    m = model_fn(num_classes=1000).cuda().to(memory_format=torch.channels_last)
    x = torch.randn(batch, 3, res, res, device="cuda").to(memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (batch,), device="cuda")
    opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    if train:
        m.train()
    else:
        m.eval()

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            if train:
                loss = torch.nn.functional.cross_entropy(m(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                return loss
            with torch.no_grad():
                return m(x)

    if compile_:
        step = torch.compile(step)
    t0 = time.perf_counter()
    for _ in range(5):
        step()
    torch.cuda.synchronize()
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    return batch * steps / dt, warm


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--depths", default="18,50")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--res", type=int, default=224)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--compile", default="0,1")
    p.add_argument("--bf16", default="1,0")
    p.add_argument("--modes", default="train,infer")
    a = p.parse_args()
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    for d in a.depths.split(","):
        fn = getattr(torchvision.models, f"resnet{d}")
        for compile_ in [c == "1" for c in a.compile.split(",")]:
            for amp in [b == "1" for b in a.bf16.split(",")]:
                for train in [m == "train" for m in a.modes.split(",")]:
                    ips, warm = bench(fn, a.batch, a.res, a.steps, compile_, amp, train)
                    print(
                        json.dumps(
                            dict(
                                fw="torch",
                                depth=int(d),
                                batch=a.batch,
                                res=a.res,
                                compile=compile_,
                                bf16=amp,
                                train=train,
                                img_s=round(ips, 1),
                                warmup_s=round(warm, 1),
                            )
                        ),
                        flush=True,
                    )


if __name__ == "__main__":
    main()
