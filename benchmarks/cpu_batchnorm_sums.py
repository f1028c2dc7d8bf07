"""The training step with BatchNorm's sums as shipped and as plain sums, in one process.

`BatchNorm` sums and broadcasts its channels through `models/_channel_sums.py`, which
views each example as wide rows so that XLA:CPU's sums are wide and contiguous. This
script compiles the training steps of `preact_resnet` and `resnet18_cifar` (batch 128,
fp32, Adam) twice: as shipped, and with plain `jnp.sum` and `jnp.broadcast_to` in their
place. The two take turns round by round. Prints the median milliseconds of each and the
ratio (below 1: the shipped sums are faster).

    python benchmarks/cpu_batchnorm_sums.py [--rounds 9] [--batch 128]
"""

import argparse

import jax.numpy as jnp

from eqx_resnet.benchmarking import Settings, build_workload, describe_device, measure, median
from eqx_resnet.models import layers

MODELS = ("preact_resnet", "resnet18_cifar")


def build_plain(model: str, settings: Settings):
    """The training step compiled with plain per-channel sums and broadcasts."""
    saved = layers.channel_sum, layers.channel_broadcast
    try:
        layers.channel_sum = lambda x: jnp.sum(x, axis=tuple(range(x.ndim - 1)))
        layers.channel_broadcast = jnp.broadcast_to
        return build_workload("eqx-resnet", model, "train", settings)  # traced and compiled here
    finally:
        layers.channel_sum, layers.channel_broadcast = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9, help="timed steps per build, after one warm-up step")
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args()
    settings = Settings(platform="cpu", batch=args.batch, resolution=32, precision="fp32", models=MODELS,
                        rounds=args.rounds, warmup=1, optimizer="adam", learning_rate=1e-3)
    print(f"{describe_device('cpu')}; training step, batch {settings.batch}, fp32, Adam; "
          f"median of {settings.rounds} steps after 1 warm-up", flush=True)
    print(f"{'model':<16}{'shipped ms':>12}{'plain sums ms':>15}{'shipped/plain':>15}", flush=True)
    for model in MODELS:
        runners = {"shipped": build_workload("eqx-resnet", model, "train", settings).runner,
                   "plain": build_plain(model, settings).runner}
        ms = {label: 1e3 * median(t) for label, t in measure(runners, rounds=settings.rounds, warmup=1).items()}
        print(f"{model:<16}{ms['shipped']:>12.1f}{ms['plain']:>15.1f}{ms['shipped'] / ms['plain']:>15.2f}", flush=True)
        del runners


if __name__ == "__main__":
    main()
