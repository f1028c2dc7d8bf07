"""The pre-activation ResNet of He et al. 2016 ("Identity Mappings in Deep Residual Networks"), for MNIST.

A 3x3 stem conv to 16 channels, three stages of three pre-activation blocks
(16, 32, 64 channels; the first block of stages 2 and 3 halves the size), a
global mean and a linear head; no final BatchNorm. 271,962 parameters and
1,344 BatchNorm statistics at the default sizes. The model takes a channels-first
image; its blocks work channels-last, like every layer (models/layers.py).

    model, state = preact_resnet(key=jax.random.key(0))                 # the model and its state
    model = PreActResNet(widths=(8, 16, 32), key=key)                   # the model alone
"""

from collections.abc import Hashable, Sequence
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from ._checks import check_image, check_num_classes
from ._random import linear, split
from .description import Description, FeatureInfo
from .layers import BatchNorm, Conv2d
from .registry import describe, register_model, with_state


class PreActShortcut(eqx.Module):
    """BN-ReLU-1x1/2 conv: the projection of a downsampling block. `(h, w, c_in) -> (h/2, w/2, c_out)`."""

    bn: BatchNorm
    conv: Conv2d

    def __init__(self, in_channels: int, out_channels: int, *, axis_name: Hashable = "batch", key: PRNGKeyArray):
        self.bn = BatchNorm(in_channels, axis_name=axis_name)
        self.conv = Conv2d(in_channels, out_channels, 1, 2, key=key)

    def __call__(
        self, x: Float[Array, "h w c_in"], state: eqx.nn.State
    ) -> tuple[Float[Array, "h_out w_out c_out"], eqx.nn.State]:
        x, state = self.bn(x, state)
        return self.conv(jax.nn.relu(x)), state


class PreActBlock(eqx.Module):
    """BN-ReLU-conv3x3, BN-ReLU-conv3x3, plus the (projected) input. `(h, w, c_in) -> (h/s, w/s, c_out)`, channels-last."""

    bn1: BatchNorm
    conv1: Conv2d
    bn2: BatchNorm
    conv2: Conv2d
    shortcut: PreActShortcut | None

    def __init__(
        self, in_channels: int, out_channels: int, subsample: bool, *, axis_name: Hashable = "batch", key: PRNGKeyArray
    ):
        """**Arguments:**

        - `in_channels`, `out_channels`: the input's and the output's channels.
        - `subsample`: halve the size (stride 2) and project the shortcut.
        - `axis_name`: the batch axis name(s) of the BatchNorms.
        - `key`: the random key for the weights.
        """
        k1, k2, k3 = split(key, 3)
        self.bn1 = BatchNorm(in_channels, axis_name=axis_name)
        self.conv1 = Conv2d(in_channels, out_channels, 3, 2 if subsample else 1, 1, key=k1)
        self.bn2 = BatchNorm(out_channels, axis_name=axis_name)
        self.conv2 = Conv2d(out_channels, out_channels, 3, 1, 1, key=k2)
        self.shortcut = PreActShortcut(in_channels, out_channels, axis_name=axis_name, key=k3) if subsample else None

    def __call__(
        self, x: Float[Array, "h w c_in"], state: eqx.nn.State
    ) -> tuple[Float[Array, "h_out w_out c_out"], eqx.nn.State]:
        z, state = self.bn1(x, state)
        z = self.conv1(jax.nn.relu(z))
        z, state = self.bn2(z, state)
        z = self.conv2(jax.nn.relu(z))
        if self.shortcut is not None:
            x, state = self.shortcut(x, state)
        return z + x, state


class PreActResNet(eqx.Module):
    """The pre-activation ResNet (He et al. 2016): 16/32/64 channels, 3 blocks a stage, 28x28x1 inputs, 10 classes.

    A stem conv, stages `layer1`..`layer3` of pre-activation blocks, a global mean and a
    linear head `fc`. `"stem"` names the stem conv (`conv`) in `feature_maps` and `trainable_filter`.
    """

    stem_layers: ClassVar[tuple[str, ...]] = ("conv",)
    conv: Conv2d
    layer1: tuple[PreActBlock, ...]
    layer2: tuple[PreActBlock, ...]
    layer3: tuple[PreActBlock, ...]
    fc: eqx.nn.Linear | eqx.nn.Identity
    in_channels: int = eqx.field(static=True)
    image_size: int = eqx.field(static=True)
    axis_name: Hashable = eqx.field(static=True)

    def __init__(
        self,
        *,
        num_classes: int = 10,
        in_channels: int = 1,
        widths: Sequence[int] = (16, 32, 64),
        blocks_per_stage: int = 3,
        stem_stride: int = 1,
        image_size: int = 28,
        axis_name: Hashable = "batch",
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `num_classes`: the size of the logits; `0` builds the model headless (`fc` is the
          identity, and the model returns its `widths[-1]` pooled features).
        - `in_channels`: the image's channels.
        - `widths`: the channels of the three stages.
        - `blocks_per_stage`: pre-activation blocks in each stage.
        - `stem_stride`: the stem conv's stride; `2` runs the stages at half the image's side,
          a quarter of the work per channel.
        - `image_size`: the natural image side, for `input_shape` (any size runs).
        - `axis_name`: the batch axis name(s) every BatchNorm takes its statistics over while training.
        - `key`: the random key for the weights.
        """
        check_num_classes(num_classes)
        if len(widths) != 3:
            raise ValueError(f"widths gives the channels of the three stages, e.g. (16, 32, 64); got {tuple(widths)}")
        if stem_stride < 1:
            raise ValueError(
                f"stem_stride={stem_stride} must be 1 (the stages at the image's side) or more (2: at half)"
            )
        k_stem, k_fc, *k_stages = split(key, 5)
        self.conv = Conv2d(in_channels, widths[0], 3, stem_stride, 1, key=k_stem)
        stages, channels = [], widths[0]
        for i, (width, k) in enumerate(zip(widths, k_stages)):
            blocks = []
            for j, kb in enumerate(split(k, blocks_per_stage)):
                blocks.append(PreActBlock(channels, width, subsample=(i > 0 and j == 0), axis_name=axis_name, key=kb))
                channels = width
            stages.append(tuple(blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.fc = linear(channels, num_classes, key=k_fc) if num_classes else eqx.nn.Identity()
        self.in_channels = in_channels
        self.image_size = image_size
        self.axis_name = axis_name

    @property
    def description(self) -> Description:
        """The registered architecture (`models/description.py`)."""
        return describe("preact_resnet")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """The natural input `(c, h, w)`: MNIST's 28x28 by default."""
        return (self.in_channels, self.image_size, self.image_size)

    def feature_maps(self, x: Float[Array, "c h w"], state: eqx.nn.State) -> tuple[dict[str, Array], eqx.nn.State]:
        """Each stage's output: `{"stem", "layer1", "layer2", "layer3"}`, channels first like the input.

        The keys name parts of the model as `trainable_filter` does: `"stem"` is `conv`.
        """
        features, state = self._stages(x, state)
        return {name: jnp.moveaxis(f, -1, 0) for name, f in features.items()}, state

    def _stages(self, x: Float[Array, "c h w"], state: eqx.nn.State) -> tuple[dict[str, Array], eqx.nn.State]:
        """Each stage's output, channels-last as the layers compute it."""
        check_image(x, self.in_channels, type(self).__name__)
        x = self.conv(jnp.moveaxis(x, 0, -1).astype(self.conv.weight.dtype))
        features = {"stem": x}
        for name in ("layer1", "layer2", "layer3"):
            for block in getattr(self, name):
                x, state = block(x, state)
            features[name] = x
        return features, state

    def __call__(
        self, x: Float[Array, "c h w"], state: eqx.nn.State, *, key: PRNGKeyArray | None = None
    ) -> tuple[Float[Array, " out"], eqx.nn.State]:
        """One image `(c, h, w)` -> `(num_classes,)` float32 logits (headless: the pooled
        features), and the new state.

        Any floating dtype is taken and cast to the parameters' dtype. Training mode needs a
        batch: call it under `eqx_resnet.forward` or `jax.vmap(..., axis_name=model.axis_name)`.
        `key` is unused (no dropout), kept for a uniform call.
        """
        features, state = self._stages(x, state)
        return self.fc(jnp.mean(features["layer3"], axis=(0, 1))).astype(jnp.float32), state


preact_resnet = register_model(
    Description(
        "preact_resnet",
        with_state(PreActResNet, "preact_resnet"),
        classifier="fc",
        first_conv="conv",
        input_size=(1, 28, 28),
        features=(
            FeatureInfo(16, 1, "stem"),
            FeatureInfo(16, 1, "layer1"),
            FeatureInfo(32, 2, "layer2"),
            FeatureInfo(64, 4, "layer3"),
        ),
    )
)
