"""The training step with channels-last layers (as shipped) and channels-first ones, in one process.

The layers work channels-last, `(h, w, c)` (models/layers.py). This script rebuilds
`preact_resnet` and `resnet18_cifar` with the channels-first layers eqx-resnet had
before, `(c, h, w)` like `eqx.nn`, compiles both training steps (batch 128, fp32,
Adam) and times them in turns. The channels-first build is as it was: its BatchNorm
sums plainly over the minor axes, and it keeps the compiler hints it needed (the
convolutions' inputs, output gradients and the blocks' input gradients stored once,
moved channels-last for the convolutions; eqx_resnet/_xla_cpu/materialize.py). Prints
the median milliseconds of each and the ratio to channels-first (below 1: channels-last
is faster).

    python benchmarks/experiments/cpu_channels_last.py [--rounds 9] [--batch 128]
"""

import importlib
import math

import jax.numpy as jnp
from _builds import compare_builds
from jax import lax

from eqx_resnet.models import layers, preact, resnet

# The module: `eqx_resnet._xla_cpu.materialize` as an attribute is the function it exports.
_materialize = importlib.import_module("eqx_resnet._xla_cpu.materialize")


def materialize_gradient(x):
    """The hint the channels-first build also needed: the identity, whose gradient XLA:CPU stores once."""
    return lax.custom_linear_solve(lambda v: v, x, solve=lambda _, v: v, transpose_solve=lambda _, v: _materialize._stored(v))


def conv_channels_first(self, x):
    """`Conv2d` as it was, without the bias (no convolution of the two models has one)."""
    y = lax.conv_general_dilated(
        _materialize.materialize(x)[None], self.weight, (self.stride,) * 2, ((self.padding, self.padding),) * 2,
        dimension_numbers=("NCHW", "OIHW", "NCHW"), feature_group_count=self.groups,
    )[0]
    return materialize_gradient(y)


def block_with_gradient_hint(call):
    """A residual block as it was: its input's gradient stored once."""
    return lambda self, x, state: call(self, materialize_gradient(x), state)


def batch_norm_channels_first(self, x, state):
    """`BatchNorm` as it was, training mode and float32 only."""
    running_mean, running_var = state.get(self.statistics)
    expand = (slice(None),) + (None,) * (x.ndim - 1)
    axes = tuple(range(1, x.ndim))
    mean = lax.pmean(jnp.mean(x, axes), self.axis_name)
    centred = x - mean[expand]
    var = lax.pmean(jnp.mean(centred * centred, axes), self.axis_name)
    n = lax.psum(1, self.axis_name) * math.prod(x.shape[1:])
    m = self.momentum
    state = state.set(self.statistics, ((1 - m) * running_mean + m * lax.stop_gradient(mean),
                                        (1 - m) * running_var + m * lax.stop_gradient(var * n / (n - 1))))
    scale = self.weight * lax.rsqrt(var + self.eps)
    return x * scale[expand] + (self.bias - mean * scale)[expand], state


def stored_channels_last(x):
    """The hints' store as it was for channels-first layers: moved channels-last for the convolutions."""

    def on_cpu(x):
        last = jnp.moveaxis(x, 0, -1)
        return jnp.moveaxis(last / (1 + 0 * last), -1, 0)

    return lax.platform_dependent(x, cpu=on_cpu, default=lambda x: x)


def stages_channels_first(stem, stages):
    """The models' `_stages` on channels-first tensors (no moving of the input's channels)."""

    def run(self, x, state):
        x, state = stem(self, x, state)
        for name in stages:
            for block in getattr(self, name):
                x, state = block(x, state)
        # The model pools over the first two axes: hand it the last stage channels-last.
        return {stages[-1]: jnp.moveaxis(x, 0, -1)}, state

    return run


def resnet_stem(self, x, state):
    x, state = self.bn1(self.conv1(x), state)
    return jnp.maximum(x, 0), state


PATCHES = [
    (layers.Conv2d, "__call__", conv_channels_first),
    (layers.BatchNorm, "__call__", batch_norm_channels_first),
    (_materialize, "_stored", stored_channels_last),
    (preact.PreActResNet, "_stages", stages_channels_first(lambda self, x, state: (self.conv(x), state), ("layer1", "layer2", "layer3"))),
    (resnet.ResNet, "_stages", stages_channels_first(resnet_stem, ("layer1", "layer2", "layer3", "layer4"))),
    (preact.PreActBlock, "__call__", block_with_gradient_hint(preact.PreActBlock.__call__)),
    (resnet.BasicBlock, "__call__", block_with_gradient_hint(resnet.BasicBlock.__call__)),
]


BUILDS = {"channels-last": [], "channels-first": PATCHES}

if __name__ == "__main__":
    compare_builds(__doc__, BUILDS, rounds=9)
