"""AlexNet with BatchNorm after each convolution, for MNIST resized to 96x96x1.

Five conv-BN-ReLU layers (11x11/4 valid 96, 5x5 256, 3x3 384, 3x3 384,
3x3 256; a 3x3/2 max-pool after the 1st, 2nd and 5th) take `(1, 96, 96)` to
`(256, 1, 1)`; then Dense 4096 - Dropout - Dense 4096 - Dropout - Dense 10.
Convs and denses have biases. 21,601,674 parameters, 2,752 BatchNorm statistics.

    model, state = alexnet(key=jax.random.key(0))                       # the model and its state
    model = AlexNet(in_channels=3, key=key)                             # the model alone
"""

from collections.abc import Hashable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from ._checks import check_image, check_num_classes
from ._random import linear, split
from .description import Description
from .layers import BatchNorm, Conv2d, MaxPool2d
from .registry import describe, register_model, with_state

# (out_channels, kernel, stride, padding, max-pool after)
_FEATURES = (
    (96, 11, 4, 0, True),
    (256, 5, 1, 2, True),
    (384, 3, 1, 1, False),
    (384, 3, 1, 1, False),
    (256, 3, 1, 1, True),
)


def _feature_size(size: int) -> int:
    """The side of the map the five layers turn a `size` x `size` image into; 0 if it vanishes."""
    for _, kernel, stride, padding, pool in _FEATURES:
        size = (size + 2 * padding - kernel) // stride + 1
        if pool and size >= 1:
            size = (size - 3) // 2 + 1
        if size < 1:
            return 0
    return size


# The image sides fc1 can take: those the features reduce to 1x1 (67 to 98).
_SIDES = [side for side in range(1, 128) if _feature_size(side) == 1]


class ConvBNReLU(eqx.Module):
    """Conv (with bias), BatchNorm, ReLU, then an optional 3x3/2 max-pool. `(h, w, c_in) -> (h', w', c_out)`, channels-last."""

    conv: Conv2d
    bn: BatchNorm
    pool: MaxPool2d | None

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int,
        stride: int,
        padding: int,
        pool: bool,
        *,
        axis_name: Hashable = "batch",
        key: PRNGKeyArray,
    ):
        self.conv = Conv2d(in_channels, out_channels, kernel, stride, padding, use_bias=True, key=key)
        self.bn = BatchNorm(out_channels, axis_name=axis_name)
        self.pool = MaxPool2d(3, 2) if pool else None

    def __call__(
        self, x: Float[Array, "h w c_in"], state: eqx.nn.State
    ) -> tuple[Float[Array, "h_out w_out c_out"], eqx.nn.State]:
        x, state = self.bn(self.conv(x), state)
        x = jax.nn.relu(x)
        return (x if self.pool is None else self.pool(x)), state


class AlexNet(eqx.Module):
    """AlexNet with BatchNorm, for MNIST: 96x96x1 inputs, 10 classes, dropout 0.5.

    Call it with `key` while training (dropout); `eqx.nn.inference_mode` turns dropout off.
    It takes images of 96x96 (any side from 67 to 98, which its features reduce to 1x1).
    """

    features: tuple[ConvBNReLU, ...]
    fc1: eqx.nn.Linear
    fc2: eqx.nn.Linear
    fc3: eqx.nn.Linear | eqx.nn.Identity
    dropout: eqx.nn.Dropout
    in_channels: int = eqx.field(static=True)
    axis_name: Hashable = eqx.field(static=True)

    def __init__(
        self,
        *,
        num_classes: int = 10,
        in_channels: int = 1,
        dropout: float = 0.5,
        axis_name: Hashable = "batch",
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `num_classes`: the size of the logits; `0` builds the model headless (`fc3` is the
          identity, and the model returns the 4096 features of `fc2`).
        - `in_channels`: the image's channels.
        - `dropout`: the dropout rate after `fc1` and `fc2`.
        - `axis_name`: the batch axis name(s) every BatchNorm takes its statistics over while training.
        - `key`: the random key for the weights.
        """
        check_num_classes(num_classes)
        keys = split(key, len(_FEATURES) + 3)
        layers, channels = [], in_channels
        for (out, kernel, stride, padding, pool), k in zip(_FEATURES, keys):
            layers.append(ConvBNReLU(channels, out, kernel, stride, padding, pool, axis_name=axis_name, key=k))
            channels = out
        self.features = tuple(layers)
        self.fc1 = linear(channels, 4096, key=keys[-3])
        self.fc2 = linear(4096, 4096, key=keys[-2])
        self.fc3 = linear(4096, num_classes, key=keys[-1]) if num_classes else eqx.nn.Identity()
        self.dropout = eqx.nn.Dropout(dropout)
        self.in_channels = in_channels
        self.axis_name = axis_name

    @property
    def description(self) -> Description:
        """The registered architecture (`models/description.py`)."""
        return describe("alexnet")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """The natural input `(c, h, w)`: 96x96."""
        return (self.in_channels, 96, 96)

    def __call__(
        self, x: Float[Array, "c h w"], state: eqx.nn.State, *, key: PRNGKeyArray | None = None
    ) -> tuple[Float[Array, " out"], eqx.nn.State]:
        """One image `(c, 96, 96)` -> `(num_classes,)` float32 logits (headless: `fc2`'s
        features), and the new state.

        Any floating dtype is taken and cast to the parameters' dtype. Training needs `key`
        for dropout and a batch: call it under `eqx_resnet.forward(..., key=key)`.
        """
        check_image(x, self.in_channels, type(self).__name__)
        height, width = x.shape[1:]
        if height not in _SIDES or width not in _SIDES:
            side_h, side_w = _feature_size(height), _feature_size(width)
            raise ValueError(
                f"AlexNet takes images of 96x96 (sides from {_SIDES[0]} to {_SIDES[-1]}, which its features reduce to 1x1 "
                f"for fc1), got {height}x{width}, which they reduce to {side_h}x{side_w}; resize the images to 96x96"
            )
        if key is None and not self.dropout.inference:
            raise ValueError(
                "AlexNet uses dropout while training: pass key=... (eqx_resnet.forward(model, state, images, key=key) "
                "gives each example its own), or evaluate with eqx.nn.inference_mode(model)"
            )
        x = jnp.moveaxis(x, 0, -1).astype(self.fc1.weight.dtype)
        for layer in self.features:
            x, state = layer(x, state)
        x = jnp.ravel(jnp.moveaxis(x, -1, 0))  # flattened channels first, PyTorch's order
        k1, k2 = (None, None) if key is None else jax.random.split(key)
        x = self.dropout(jax.nn.relu(self.fc1(x)), key=k1)
        x = self.dropout(jax.nn.relu(self.fc2(x)), key=k2)
        return self.fc3(x).astype(jnp.float32), state


# No feature maps: its five convolutions shrink a 96x96 image by no whole factor per stage.
alexnet = register_model(
    Description(
        "alexnet",
        with_state(AlexNet, "alexnet"),
        "fc3",
        "features.0.conv",
        (1, 96, 96),
        features=(),
        fixed_input_size=True,  # its five layers reduce 67 to 98 pixels exactly to 1x1
    )
)
