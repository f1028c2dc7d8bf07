"""The training step with and without the compiler hint of `eqx_resnet/_xla_cpu/materialize.py`, in one process.

Each model's training step (batch 128, fp32, Adam) is compiled twice: as shipped, and
with `materialize` in `Conv2d` replaced by the identity. The two take turns round by
round. Prints the median milliseconds of each and their ratio to the build without the
hint (below 1: the hint helps).

    python benchmarks/experiments/cpu_materialize_hints.py [--rounds 7] [--batch 128]
"""

from _builds import compare_builds

from eqx_resnet.models import layers

BUILDS = {"shipped": [], "no hint": [(layers, "materialize", lambda x: x)]}

if __name__ == "__main__":
    compare_builds(__doc__, BUILDS, rounds=7)
