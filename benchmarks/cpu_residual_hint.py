"""The training step with and without the residual-gradient hint, in one process.

The measurement behind `src/eqx_resnet/models/_materialize.py`: each model's training
step (batch 128, fp32, Adam) is compiled twice, once as shipped and once with
`materialize_gradient` replaced by the identity, and the two take turns round by round.
Prints the median milliseconds of each and their ratio (below 1: the hint helps).

    python benchmarks/cpu_residual_hint.py [--rounds 7] [--batch 128]
"""

import argparse

from eqx_resnet.benchmarking import Settings, build_workload, describe_device, measure, median
from eqx_resnet.models import preact, resnet

MODELS = ("preact_resnet", "resnet18_cifar")
BLOCK_MODULES = (preact, resnet)  # the modules whose blocks call materialize_gradient


def build_without_hint(model: str, settings: Settings):
    hints = [module.materialize_gradient for module in BLOCK_MODULES]
    try:
        for module in BLOCK_MODULES:
            module.materialize_gradient = lambda x: x
        return build_workload("eqx-resnet", model, "train", settings)  # traced and compiled here
    finally:
        for module, hint in zip(BLOCK_MODULES, hints):
            module.materialize_gradient = hint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="timed steps per variant, after one warm-up step")
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args()
    settings = Settings(platform="cpu", batch=args.batch, resolution=32, precision="fp32", models=MODELS,
                        rounds=args.rounds, warmup=1, optimizer="adam", learning_rate=1e-3)
    print(f"{describe_device('cpu')}; training step, batch {settings.batch}, fp32, Adam; "
          f"median of {settings.rounds} steps after 1 warm-up", flush=True)
    print(f"{'model':<16}{'with hint ms':>14}{'without ms':>12}{'with / without':>16}", flush=True)
    for model in MODELS:
        runners = {"with": build_workload("eqx-resnet", model, "train", settings).runner,
                   "without": build_without_hint(model, settings).runner}
        ms = {label: 1e3 * median(t) for label, t in measure(runners, rounds=settings.rounds, warmup=1).items()}
        print(f"{model:<16}{ms['with']:>14.1f}{ms['without']:>12.1f}{ms['with'] / ms['without']:>16.2f}", flush=True)
        del runners


if __name__ == "__main__":
    main()
