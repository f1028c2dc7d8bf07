"""eqx-resnet against PyTorch on this CPU, in one process, with the same threads.

For `preact_resnet` (1x28x28) and `resnet18_cifar` (ResNet-18 with the CIFAR stem,
3x32x32), batch 128, fp32: the training step (forward, backward, Adam 1e-3) and
inference, built, compiled and timed by the benchmark suite's own workload code.
Prints per row: eqx ms and torch ms (medians), eqx / torch (below 1: eqx-resnet is
faster), eqx-resnet's compile seconds, and the ratio of the fastest rounds. The two
frameworks take turns round by round, so a busy spell on the host slows both.

    python benchmarks/experiments/cpu_vs_torch.py [--rounds 5] [--batch 128]

Run it on a quiet machine: a busy CPU slows torch's OpenMP threads far more than XLA's.
"""

import argparse
import os
import time

from eqx_resnet.benchmarking import STEPS, Settings, build_workload, describe_device, measure, median, peer_missing

MODELS = ("preact_resnet", "resnet18_cifar")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed steps per measurement, after one warm-up step")
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args()
    if reason := peer_missing("torch", "cpu"):
        raise SystemExit(f"cpu_vs_torch needs torch: {reason}")
    settings = Settings(platform="cpu", batch=args.batch, resolution=32, precision="fp32", models=MODELS,
                        rounds=args.rounds, warmup=1, optimizer="adam", learning_rate=1e-3)
    print(f"{describe_device('cpu')}; batch {settings.batch}, fp32, Adam; median of {settings.rounds} steps after 1 warm-up; "
          f"load average {os.getloadavg()[0]:.2f} at start", flush=True)
    print(f"{'model':<16}{'step':<11}{'eqx ms':>10}{'torch ms':>10}{'eqx/torch':>11}{'eqx compile s':>15}"
          f"{'eqx/torch (min)':>19}", flush=True)
    start = time.perf_counter()
    for model in MODELS:
        for step in reversed(STEPS):  # training first: it is the figure that matters most
            eqx, torch = (build_workload(framework, model, step, settings) for framework in ("eqx-resnet", "torch"))
            times = measure({"eqx": eqx.runner, "torch": torch.runner}, rounds=settings.rounds, warmup=settings.warmup)
            ms = {label: 1e3 * median(t) for label, t in times.items()}
            best = {label: 1e3 * min(t) for label, t in times.items()}
            print(f"{model:<16}{step:<11}{ms['eqx']:>10.1f}{ms['torch']:>10.1f}{ms['eqx'] / ms['torch']:>11.2f}"
                  f"{eqx.runner.compile_s:>15.1f}{best['eqx'] / best['torch']:>19.2f}", flush=True)
            del eqx, torch  # free both models before the next row
    print(f"total {time.perf_counter() - start:.0f} s; load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
