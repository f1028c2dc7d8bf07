"""The training step with BatchNorm's sums as shipped and as plain sums, in one process.

`BatchNorm` sums and broadcasts its channels through `eqx_resnet/_xla_cpu/channel_sums.py`,
which views each example as wide rows so that XLA:CPU's sums are wide and contiguous. This
script compiles the training steps of `preact_resnet` and `resnet18_cifar` (batch 128,
fp32, Adam) twice: as shipped, and with plain `jnp.sum` and `jnp.broadcast_to` in their
place. The two take turns round by round. Prints the median milliseconds of each and the
ratio to the plain sums (below 1: the shipped sums are faster).

    python benchmarks/experiments/cpu_batchnorm_sums.py [--rounds 9] [--batch 128]
"""

import jax.numpy as jnp
from _builds import compare_builds

from eqx_resnet.models import layers


def plain_sum(x):
    return jnp.sum(x, axis=tuple(range(x.ndim - 1)))


BUILDS = {"shipped": [], "plain sums": [(layers, "channel_sum", plain_sum), (layers, "channel_broadcast", jnp.broadcast_to)]}

if __name__ == "__main__":
    compare_builds(__doc__, BUILDS, rounds=9)
