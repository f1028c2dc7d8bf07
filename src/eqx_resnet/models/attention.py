"""Channel attention after a residual block's last convolution: squeeze-and-excitation and ECA.

Each gates the channels of one channels-last example `(h, w, c)` by a sigmoid of its pooled
channels, as timm's `SEModule` (seresnet*, seresnext*, resnetrs*) and `EcaModule` (ecaresnet*)
do; their weights have timm's names and PyTorch's layout, so timm's state dicts load as they are.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from ._checks import check_example
from ._random import split, uniform
from .layers import Conv2d


def _reduced(channels: int, rd_ratio: float, divisor: int) -> int:
    """`channels * rd_ratio` rounded to the nearest multiple of `divisor`, at least `divisor`: timm's
    `make_divisible(channels * rd_ratio, divisor, round_limit=0.)`, as its `SEModule` reduces channels."""
    return max(divisor, int(channels * rd_ratio + divisor / 2) // divisor * divisor)


class SqueezeExcite(eqx.Module):
    """Squeeze-and-excitation, timm's `SEModule`: the channels' means through a 1x1 convolution down to
    `rd_channels`, ReLU, a 1x1 convolution back up, and a sigmoid that scales each channel.

    `(h, w, c) -> (h, w, c)`. State-dict names: `fc1.weight`, `fc1.bias`, `fc2.weight`, `fc2.bias`.
    """

    fc1: Conv2d
    fc2: Conv2d

    def __init__(
        self,
        channels: int,
        rd_ratio: float = 1 / 16,
        *,
        rd_channels: int | None = None,
        rd_divisor: int = 8,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `channels`: the channels of the example.
        - `rd_ratio`: the reduced channels' share of `channels` (timm's default 1/16; resnetrs* use 0.25),
            rounded to a multiple of `rd_divisor` (at least `rd_divisor`), as timm rounds them.
        - `rd_channels`: the reduced channels, given directly instead of `rd_ratio`.
        - `key`: the random key for the two convolutions' weights (biases start at zero).
        """
        if rd_channels is None:
            rd_channels = _reduced(channels, rd_ratio, rd_divisor)
        down, up = split(key, 2)
        self.fc1 = Conv2d(channels, rd_channels, 1, use_bias=True, key=down)
        self.fc2 = Conv2d(rd_channels, channels, 1, use_bias=True, key=up)

    def __call__(self, x: Float[Array, "h w c"]) -> Float[Array, "h w c"]:
        """One channels-last example `(h, w, c)` -> the example with its channels scaled by the gate."""
        check_example(x, f"SqueezeExcite({self.fc1.weight.shape[1]})", self.fc1.weight.shape[1])
        squeezed = jnp.mean(x, axis=(0, 1), keepdims=True)
        return x * jax.nn.sigmoid(self.fc2(jax.nn.relu(self.fc1(squeezed))))


class EfficientChannelAttention(eqx.Module):
    """Efficient channel attention (ECA-Net), timm's `EcaModule`: the channels' means through a 1-D
    convolution across neighbouring channels, without bias, and a sigmoid that scales each channel.
    The kernel size grows with `log2(channels)`: odd, at least 3.

    `(h, w, c) -> (h, w, c)`. State-dict name: `conv.weight`, `(1, 1, kernel_size)`.
    """

    conv: eqx.nn.Conv1d
    channels: int = eqx.field(static=True)

    def __init__(
        self,
        channels: int,
        *,
        gamma: float = 2,
        beta: float = 1,
        kernel_channels: int | None = None,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `channels`: the channels of the example.
        - `gamma`, `beta`: the kernel size is the odd number nearest above `(log2(channels) + beta) / gamma`, at least 3.
        - `kernel_channels`: the channels that size the kernel instead of `channels`: a pruned network's
            unpruned width, as timm sizes it before pruning (`ecaresnet50d_pruned`).
        - `key`: the random key for the weight, drawn as PyTorch's `Conv1d` draws it (timm leaves it so).
        """
        size = int(abs(math.log(kernel_channels or channels, 2) + beta) / gamma)
        size = max(size if size % 2 else size + 1, 3)
        conv = eqx.filter_eval_shape(eqx.nn.Conv1d, 1, 1, size, padding=(size - 1) // 2, use_bias=False, key=key)
        self.conv = eqx.tree_at(lambda c: c.weight, conv, uniform(key, [(1, 1, size)], 1 / math.sqrt(size))[0])
        self.channels = channels

    def __call__(self, x: Float[Array, "h w c"]) -> Float[Array, "h w c"]:
        """One channels-last example `(h, w, c)` -> the example with its channels scaled by the gate."""
        check_example(x, f"EfficientChannelAttention({self.channels})", self.channels)
        squeezed = jnp.mean(x, axis=(0, 1))
        return x * jax.nn.sigmoid(self.conv(squeezed[None])[0])
