"""A training step in a plain `eqx.filter_jit`, and with `eqx_resnet.compiler_options()`, taking turns.

Whether models need the user's jit change to run at their speed on a CPU (docs/benchmarks.md):
the ResNet-18 (CIFAR stem) and the PreActResNet, one Adam step each, the two builds alternating
round by round so that a busy spell slows both alike. Prints each build's median and every round:

    python benchmarks/experiments/cpu_compiler_option.py [--batch 64] [--rounds 5]
"""

import argparse
import statistics
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import eqx_resnet

MODELS = {
    "resnet18_cifar": ("resnet18", {"stem": "cifar", "num_classes": 10}, (3, 32, 32)),
    "preact_resnet": ("preact_resnet", {}, (1, 28, 28)),
}


def run(step, inputs) -> float:
    start = time.perf_counter()
    jax.block_until_ready(step(*inputs))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    for label, (name, options, shape) in MODELS.items():
        model, state = eqx.filter_jit(eqx_resnet.create_model)(name, key=jax.random.key(0, impl="rbg"), **options)
        optimizer = optax.adam(1e-3)
        opt_state = optimizer.init(eqx.filter(model, eqx.is_inexact_array))
        images = jnp.asarray(rng.standard_normal((args.batch, *shape), np.float32))
        labels = jnp.asarray(rng.integers(0, 10, args.batch))
        train_step = eqx_resnet.make_train_step(optimizer)
        builds = {
            "plain": eqx.filter_jit(train_step),
            "option": eqx.filter_jit(train_step, compiler_options=eqx_resnet.compiler_options()),
        }

        inputs = (model, state, opt_state, images, labels, jax.random.key(1))
        for step in builds.values():
            run(step, inputs)  # compile and warm up
        times = {build: [] for build in builds}
        for _ in range(args.rounds):
            for build, step in builds.items():
                times[build].append(run(step, inputs))
        plain, option = (statistics.median(times[build]) for build in builds)
        rounds = {build: [round(t * 1e3) for t in ts] for build, ts in times.items()}
        print(
            f"{label} batch {args.batch}: plain {plain * 1e3:.0f} ms, option {option * 1e3:.0f} ms, "
            f"plain/option {plain / option:.2f}; rounds (ms) {rounds}",
            flush=True,
        )


if __name__ == "__main__":
    main()
