"""The training step with and without the compiler hint of `models/_materialize.py`, in one process.

Each model's training step (batch 128, fp32, Adam) is compiled twice: as shipped, and
with `materialize` in `Conv2d` replaced by the identity. The two take turns round by
round. Prints the median milliseconds of each and their ratio to the build without the
hint (below 1: the hint helps).

    python benchmarks/cpu_materialize_hints.py [--rounds 7] [--batch 128]
"""

import argparse

from eqx_resnet.benchmarking import Settings, build_workload, describe_device, measure, median
from eqx_resnet.models import layers

MODELS = ("preact_resnet", "resnet18_cifar")
BUILDS = {"shipped": [], "no hint": [(layers, "materialize")]}


def build(model: str, removed: list, settings: Settings):
    """The training step compiled with the hints in `removed` replaced by the identity."""
    saved = [(module, name, getattr(module, name)) for module, name in removed]
    try:
        for module, name, _ in saved:
            setattr(module, name, lambda x: x)
        return build_workload("eqx-resnet", model, "train", settings)  # traced and compiled here
    finally:
        for module, name, hint in saved:
            setattr(module, name, hint)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="timed steps per build, after one warm-up step")
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args()
    settings = Settings(platform="cpu", batch=args.batch, resolution=32, precision="fp32", models=MODELS,
                        rounds=args.rounds, warmup=1, optimizer="adam", learning_rate=1e-3)
    print(f"{describe_device('cpu')}; training step, batch {settings.batch}, fp32, Adam; "
          f"median of {settings.rounds} steps after 1 warm-up; ms (ratio to no hint)", flush=True)
    print(f"{'model':<16}" + "".join(f"{label:>22}" for label in BUILDS), flush=True)
    for model in MODELS:
        runners = {label: build(model, removed, settings).runner for label, removed in BUILDS.items()}
        ms = {label: 1e3 * median(t) for label, t in measure(runners, rounds=settings.rounds, warmup=1).items()}
        cells = (f"{ms[label]:.1f} ({ms[label] / ms['no hint']:.2f})" for label in BUILDS)
        print(f"{model:<16}" + "".join(f"{cell:>22}" for cell in cells), flush=True)
        del runners


if __name__ == "__main__":
    main()
