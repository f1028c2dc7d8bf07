"""eqx-resnet against PyTorch on this CPU, in one process, with the same threads.

For `preact_resnet` (1x28x28) and `resnet18_cifar` (ResNet-18 with the CIFAR stem,
3x32x32), batch 128, fp32: the training step (forward, backward, Adam 1e-3) and
inference, built, compiled and timed by the benchmark suite's own workload code. Three
sides per row: eqx-resnet in a plain jit ("plain"), eqx-resnet with
`eqx_resnet.compiler_options()` ("option", what its own steps use) and PyTorch. Prints
per row each side's median ms, plain / torch and option / torch (below 1: eqx-resnet is
faster), and the option's compile seconds. The sides take turns round by round, so a
busy spell on the host slows all three.

    python benchmarks/experiments/cpu_vs_torch.py [--rounds 7] [--batch 128]

Run it on a quiet machine: a busy CPU slows torch's OpenMP threads far more than XLA's.
"""

import argparse
import dataclasses
import os
import time

from eqx_resnet.benchmarking import STEPS, Settings, build_workload, describe_device, measure, median, peer_missing

MODELS = ("preact_resnet", "resnet18_cifar")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="timed steps per side, after one warm-up step")
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args()
    if reason := peer_missing("torch", "cpu"):
        raise SystemExit(f"cpu_vs_torch needs torch: {reason}")
    option = Settings(platform="cpu", batch=args.batch, resolution=32, precision="fp32", models=MODELS,
                      rounds=args.rounds, warmup=1, optimizer="adam", learning_rate=1e-3)
    plain = dataclasses.replace(option, xla_options=False)
    print(f"{describe_device('cpu')}; batch {option.batch}, fp32, Adam; median of {option.rounds} steps per side "
          f"after 1 warm-up; load average {os.getloadavg()[0]:.2f} at start", flush=True)
    print(f"{'model':<16}{'step':<11}{'plain ms':>10}{'option ms':>11}{'torch ms':>10}{'plain/torch':>13}"
          f"{'option/torch':>14}{'compile s':>11}", flush=True)
    start = time.perf_counter()
    for model in MODELS:
        for step in reversed(STEPS):  # training first: it is the figure that matters most
            sides = {
                "plain": build_workload("eqx-resnet", model, step, plain),
                "option": build_workload("eqx-resnet", model, step, option),
                "torch": build_workload("torch", model, step, option),
            }
            times = measure({label: w.runner for label, w in sides.items()}, rounds=option.rounds, warmup=option.warmup)
            ms = {label: 1e3 * median(t) for label, t in times.items()}
            print(f"{model:<16}{step:<11}{ms['plain']:>10.1f}{ms['option']:>11.1f}{ms['torch']:>10.1f}"
                  f"{ms['plain'] / ms['torch']:>13.2f}{ms['option'] / ms['torch']:>14.2f}"
                  f"{sides['option'].runner.compile_s:>11.1f}", flush=True)
            del sides  # free the models before the next row
    print(f"total {time.perf_counter() - start:.0f} s; load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
