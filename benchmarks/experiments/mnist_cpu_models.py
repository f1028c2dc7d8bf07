"""The MNIST PreActResNet's training step at the shapes the CPU recipe was chosen from.

Each variant of `preact_resnet` (widths, blocks a stage, stem stride) takes one training
step on a batch of 28x28x1 images (batch 128, fp32, Adam, `eqx_resnet.compiler_options()`),
the engine's `make_train_step`. The variants take turns round by round. Prints each one's
parameters, median milliseconds a step, images a second, XLA's FLOPs a step and the
GFLOP/s they make (benchmarks/README.md, "The MNIST CPU recipe").

    python benchmarks/experiments/mnist_cpu_models.py [--rounds 20] [--batch 128]
"""

import argparse

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import eqx_resnet
from eqx_resnet.benchmarking import describe_device, measure, median
from eqx_resnet.benchmarking.timing import jax_runner

# (widths, blocks a stage, stem stride): the defaults before and after, and their neighbours.
VARIANTS = [
    ((8, 16, 32), 2, 1),
    ((8, 16, 32), 1, 1),
    ((16, 32, 64), 1, 1),
    ((16, 32, 64), 2, 2),
    ((16, 32, 64), 3, 2),
    ((24, 48, 96), 2, 2),
]


def runner(widths, blocks, stride, batch):
    model, state = eqx_resnet.preact_resnet(
        widths=widths, blocks_per_stage=blocks, stem_stride=stride, key=jax.random.key(0)
    )
    optimizer = optax.adam(1e-3)
    params, static = eqx.partition(model, eqx.is_array)
    train_step = eqx_resnet.make_train_step(optimizer)
    rng = np.random.default_rng(0)
    images = jnp.asarray(rng.random((batch, 1, 28, 28), np.float32))
    labels = jnp.asarray(rng.integers(0, 10, batch))

    def step(carry, images, labels):
        params, state, opt_state = carry
        model, state, opt_state, metrics = train_step(
            eqx.combine(params, static), state, opt_state, images, labels, jax.random.key(1)
        )
        return (eqx.filter(model, eqx.is_array), state, opt_state), metrics["loss"]

    carry = (params, state, optimizer.init(eqx.filter(model, eqx.is_inexact_array)))
    parameters = eqx_resnet.count_parameters(model)
    return jax_runner(
        step, carry, (images, labels), train=True, parameters=parameters, compiler_options=eqx_resnet.compiler_options()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20, help="timed steps per variant, after two warm-up steps")
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args()
    runners = {v: runner(*v, args.batch) for v in VARIANTS}
    seconds = {v: median(t) for v, t in measure(runners, rounds=args.rounds, warmup=2).items()}
    print(f"{describe_device('cpu')}; training step, batch {args.batch}, fp32, Adam; median of {args.rounds} steps")
    print(
        f"{'widths':<14}{'blocks':>7}{'stem stride':>12}{'parameters':>12}{'ms':>9}{'images/s':>10}{'GFLOP':>8}{'GFLOP/s':>9}"
    )
    for (widths, blocks, stride), s in seconds.items():
        r = runners[(widths, blocks, stride)]
        print(
            f"{'/'.join(map(str, widths)):<14}{blocks:>7}{stride:>12}{r.parameters:>12,}{1e3 * s:>9.1f}"
            f"{args.batch / s:>10.0f}{r.flops / 1e9:>8.2f}{r.flops / 1e9 / s:>9.0f}"
        )


if __name__ == "__main__":
    main()
