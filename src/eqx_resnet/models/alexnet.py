"""The AlexNet with BatchNorm of seed 002, for MNIST resized to 96x96x1.

Five conv-BN-ReLU layers (11x11/4 valid 96, 5x5 256, 3x3 384, 3x3 384,
3x3 256; a 3x3/2 max-pool after the 1st, 2nd and 5th) take `(1, 96, 96)` to
`(256, 1, 1)`; then Dense 4096 - Dropout - Dense 4096 - Dropout - Dense 10.
Convs and denses have biases. 21,601,674 parameters, 2,752 BatchNorm statistics.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from ._checks import check_image
from .layers import BatchNorm, Conv2d, MaxPool2d
from .registry import register_model

# (out_channels, kernel, stride, padding, max-pool after)
_FEATURES = ((96, 11, 4, 0, True), (256, 5, 1, 2, True), (384, 3, 1, 1, False), (384, 3, 1, 1, False), (256, 3, 1, 1, True))


class ConvBNReLU(eqx.Module):
    """Conv (with bias), BatchNorm, ReLU, then an optional 3x3/2 max-pool. `(h, w, c_in) -> (h', w', c_out)`."""

    conv: Conv2d
    bn: BatchNorm
    pool: MaxPool2d | None

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, padding: int, pool: bool, *, key: PRNGKeyArray):
        self.conv = Conv2d(in_channels, out_channels, kernel, stride, padding, use_bias=True, key=key)
        self.bn = BatchNorm(out_channels)
        self.pool = MaxPool2d(3, 2) if pool else None

    def __call__(self, x: Float[Array, "h w c_in"], state: eqx.nn.State) -> tuple[Float[Array, "h_out w_out c_out"], eqx.nn.State]:
        x, state = self.bn(self.conv(x), state)
        x = jax.nn.relu(x)
        return (x if self.pool is None else self.pool(x)), state


class AlexNet(eqx.Module):
    """AlexNet-BN. Call with `key` while training (dropout); `eqx.nn.inference_mode` turns dropout off."""

    features: tuple[ConvBNReLU, ...]
    fc1: eqx.nn.Linear
    fc2: eqx.nn.Linear
    fc3: eqx.nn.Linear
    dropout: eqx.nn.Dropout
    in_channels: int = eqx.field(static=True)

    def __init__(self, *, num_classes: int = 10, in_channels: int = 1, dropout: float = 0.5, key: PRNGKeyArray):
        keys = jax.random.split(key, len(_FEATURES) + 3)
        layers, channels = [], in_channels
        for (out, kernel, stride, padding, pool), k in zip(_FEATURES, keys):
            layers.append(ConvBNReLU(channels, out, kernel, stride, padding, pool, key=k))
            channels = out
        self.features = tuple(layers)
        self.fc1 = eqx.nn.Linear(channels, 4096, key=keys[-3])
        self.fc2 = eqx.nn.Linear(4096, 4096, key=keys[-2])
        self.fc3 = eqx.nn.Linear(4096, num_classes, key=keys[-1])
        self.dropout = eqx.nn.Dropout(dropout)
        self.in_channels = in_channels

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """The natural input `(c, h, w)`: 96x96, the smallest size the five layers reduce to 1x1."""
        return (self.in_channels, 96, 96)

    def __call__(
        self, x: Float[Array, "c h w"], state: eqx.nn.State, *, key: PRNGKeyArray | None = None
    ) -> tuple[Float[Array, " num_classes"], eqx.nn.State]:
        """`(c, 96, 96) -> (num_classes,)` logits. Training needs `key` for dropout."""
        check_image(x, self.in_channels, type(self).__name__)
        if key is None and not self.dropout.inference:
            raise ValueError(
                "AlexNet uses dropout while training: pass key=... (under vmap, one key per example: "
                "key=jax.random.split(key, batch_size)), or evaluate with eqx.nn.inference_mode(model)"
            )
        x = jnp.moveaxis(x, 0, -1)
        for layer in self.features:
            x, state = layer(x, state)
        x = jnp.ravel(jnp.moveaxis(x, -1, 0))  # flattened channels first, PyTorch's order
        k1, k2 = (None, None) if key is None else jax.random.split(key)
        x = self.dropout(jax.nn.relu(self.fc1(x)), key=k1)
        x = self.dropout(jax.nn.relu(self.fc2(x)), key=k2)
        return self.fc3(x).astype(jnp.float32), state


@register_model
def alexnet(*, key: PRNGKeyArray, **kwargs) -> tuple[AlexNet, eqx.nn.State]:
    """Seed 002's AlexNet with BatchNorm: 96x96x1 inputs, 10 classes, dropout 0.5."""
    return eqx.nn.make_with_state(AlexNet)(key=key, **kwargs)
