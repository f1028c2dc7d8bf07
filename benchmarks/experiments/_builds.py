"""The shared main of the scripts that time eqx-resnet's training step built two or more ways.

Each build is a list of patches `(owner, attribute, replacement)` applied while the step
is traced and compiled; the empty list is the package as shipped. The builds take turns
round by round, and each is printed as its median milliseconds and its ratio to the last
build (below 1: faster than it). The scripts run from the repository root,
`python benchmarks/experiments/NAME.py`; Python puts their folder first on `sys.path`,
so they import this module as `_builds`.
"""

import argparse
import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from eqx_resnet.benchmarking import Settings, build_workload, describe_device, measure, median

MODELS = ("preact_resnet", "resnet18_cifar")
Patch = tuple[Any, str, Callable]


@contextlib.contextmanager
def patched(patches: Sequence[Patch]):
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    try:
        for owner, name, replacement in patches:
            setattr(owner, name, replacement)
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def compare_builds(doc: str, builds: dict[str, Sequence[Patch]], *, rounds: int) -> None:
    """Parse `--rounds` and `--batch`, then time each build's training step on `MODELS` (batch 128, fp32, Adam)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=rounds, help="timed steps per build, after one warm-up step")
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args()
    settings = Settings(platform="cpu", batch=args.batch, resolution=32, precision="fp32", models=MODELS,
                        rounds=args.rounds, warmup=1, optimizer="adam", learning_rate=1e-3)
    baseline = list(builds)[-1]
    print(f"{describe_device('cpu')}; training step, batch {settings.batch}, fp32, Adam; "
          f"median of {settings.rounds} steps after 1 warm-up; ms (ratio to {baseline})", flush=True)
    print(f"{'model':<16}" + "".join(f"{label:>22}" for label in builds), flush=True)
    for model in MODELS:
        runners = {}
        for label, patches in builds.items():
            with patched(patches):
                runners[label] = build_workload("eqx-resnet", model, "train", settings).runner  # traced and compiled here
        ms = {label: 1e3 * median(t) for label, t in measure(runners, rounds=settings.rounds, warmup=1).items()}
        cells = (f"{ms[label]:.1f} ({ms[label] / ms[baseline]:.2f})" for label in builds)
        print(f"{model:<16}" + "".join(f"{cell:>22}" for cell in cells), flush=True)
        del runners
