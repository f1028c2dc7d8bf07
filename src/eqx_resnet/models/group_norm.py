"""Group normalisation in a BatchNorm's place (resnet50_gn), on one channels-last example."""

import equinox as eqx
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Float

from ._checks import check_example
from ._random import filled


class GroupNorm(eqx.Module):
    """Group normalisation, timm's `GroupNorm(channels, groups)` (PyTorch's `nn.GroupNorm(groups, channels)`):
    each group of `channels / groups` consecutive channels normalised by its own mean and biased
    variance over the example, then scaled and shifted per channel.

    It takes and returns the state as `BatchNorm` does, `(x, state) -> (y, state)`, so a block holds
    either; it keeps nothing in the state, and works the same in training and inference.
    Statistics are computed in float32 whatever the input dtype. State-dict names: `weight`, `bias`.
    """

    weight: Float[Array, " c"]
    bias: Float[Array, " c"]
    groups: int = eqx.field(static=True)
    eps: float = eqx.field(static=True)

    def __init__(self, channels: int, groups: int = 32, *, eps: float = 1e-5, zero_init: bool = False):
        """**Arguments:**

        - `channels`: the size of the last (channel) axis.
        - `groups`: the number of groups (timm's resnet50_gn: 32); must divide `channels`.
        - `eps`: added to the variance before its square root.
        - `zero_init`: start the scale at zero (a residual block's last norm, `zero_init_residual`).
        """
        if channels % groups:
            raise ValueError(f"groups={groups} must divide channels={channels}")
        self.weight = filled((channels,), 0.0 if zero_init else 1.0)
        self.bias = filled((channels,), 0.0)
        self.groups = groups
        self.eps = eps

    def __call__(self, x: Float[Array, "h w c"], state: eqx.nn.State) -> tuple[Float[Array, "h w c"], eqx.nn.State]:
        """One channels-last example `(h, w, c)` and the state -> the normalised example (same dtype), the state as is."""
        channels = self.weight.shape[0]
        check_example(x, f"GroupNorm({channels}, groups={self.groups})", channels)
        grouped = x.astype(jnp.float32).reshape(*x.shape[:-1], self.groups, channels // self.groups)
        axes = (0, 1, 3)
        mean = jnp.mean(grouped, axis=axes, keepdims=True)
        centred = grouped - mean  # two passes, robust to a large mean in float32, as BatchNorm
        var = jnp.mean(centred * centred, axis=axes, keepdims=True)
        normalised = (centred * lax.rsqrt(var + self.eps)).reshape(x.shape)
        y = normalised * self.weight.astype(jnp.float32) + self.bias.astype(jnp.float32)
        return y.astype(x.dtype), state
