"""ResNet, ResNeXt and Wide ResNet, as in torchvision (stride on the 3x3 conv: "v1.5").

Each builder returns `(model, state)`: the model is an `eqx.Module` that takes
one image `(c, h, w)` and `state`, and returns `(logits, state)`. Inside, the blocks
work channels-last, `(h, w, c)`, like every layer (models/layers.py).

    model, state = resnet50(num_classes=10, key=jax.random.key(0))
    batched = jax.vmap(model, axis_name="batch", in_axes=(0, None), out_axes=(0, None))
    logits, state = batched(images, state)          # images: (n, 3, 224, 224)
"""

from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from ._checks import check_image
from .layers import BatchNorm, Conv2d, MaxPool2d
from .registry import register_model

Stem = Literal["imagenet", "cifar"]


class Downsample(eqx.Module):
    """Projection shortcut: 1x1 conv with stride, then BatchNorm. `(h, w, c_in) -> (h/s, w/s, c_out)`."""

    conv: Conv2d
    bn: BatchNorm

    def __init__(self, in_channels: int, out_channels: int, stride: int, *, key: PRNGKeyArray):
        self.conv = Conv2d(in_channels, out_channels, 1, stride, key=key)
        self.bn = BatchNorm(out_channels)

    def __call__(self, x: Float[Array, "h w c_in"], state: eqx.nn.State) -> tuple[Float[Array, "h_out w_out c_out"], eqx.nn.State]:
        return self.bn(self.conv(x), state)


class BasicBlock(eqx.Module):
    """Two 3x3 convs and a shortcut (ResNet-18/34). `(h, w, c_in) -> (h/s, w/s, planes)`."""

    expansion = 1
    conv1: Conv2d
    bn1: BatchNorm
    conv2: Conv2d
    bn2: BatchNorm
    downsample: Downsample | None

    def __init__(self, in_channels: int, planes: int, stride: int = 1, *, zero_init_residual: bool = False, key: PRNGKeyArray):
        k1, k2, k3 = jax.random.split(key, 3)
        self.conv1 = Conv2d(in_channels, planes, 3, stride, 1, key=k1)
        self.bn1 = BatchNorm(planes)
        self.conv2 = Conv2d(planes, planes, 3, 1, 1, key=k2)
        self.bn2 = BatchNorm(planes, zero_init=zero_init_residual)
        self.downsample = Downsample(in_channels, planes, stride, key=k3) if stride != 1 or in_channels != planes else None

    def __call__(self, x: Float[Array, "h w c_in"], state: eqx.nn.State) -> tuple[Float[Array, "h_out w_out c_out"], eqx.nn.State]:
        y, state = self.bn1(self.conv1(x), state)
        y, state = self.bn2(self.conv2(jax.nn.relu(y)), state)
        if self.downsample is not None:
            x, state = self.downsample(x, state)
        return jax.nn.relu(y + x), state


class Bottleneck(eqx.Module):
    """1x1 reduce, 3x3 (grouped, strided), 1x1 expand x4 (ResNet-50+, ResNeXt, Wide ResNet).

    `(h, w, c_in) -> (h/s, w/s, 4 * planes)`; the 3x3 conv has
    `width = planes * width_per_group / 64 * groups` channels.
    """

    expansion = 4
    conv1: Conv2d
    bn1: BatchNorm
    conv2: Conv2d
    bn2: BatchNorm
    conv3: Conv2d
    bn3: BatchNorm
    downsample: Downsample | None

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int = 1,
        *,
        groups: int = 1,
        width_per_group: int = 64,
        zero_init_residual: bool = False,
        key: PRNGKeyArray,
    ):
        k1, k2, k3, k4 = jax.random.split(key, 4)
        width = int(planes * (width_per_group / 64.0)) * groups
        out_channels = planes * self.expansion
        self.conv1 = Conv2d(in_channels, width, 1, key=k1)
        self.bn1 = BatchNorm(width)
        self.conv2 = Conv2d(width, width, 3, stride, 1, groups=groups, key=k2)
        self.bn2 = BatchNorm(width)
        self.conv3 = Conv2d(width, out_channels, 1, key=k3)
        self.bn3 = BatchNorm(out_channels, zero_init=zero_init_residual)
        needs_projection = stride != 1 or in_channels != out_channels
        self.downsample = Downsample(in_channels, out_channels, stride, key=k4) if needs_projection else None

    def __call__(self, x: Float[Array, "h w c_in"], state: eqx.nn.State) -> tuple[Float[Array, "h_out w_out c_out"], eqx.nn.State]:
        y, state = self.bn1(self.conv1(x), state)
        y, state = self.bn2(self.conv2(jax.nn.relu(y)), state)
        y, state = self.bn3(self.conv3(jax.nn.relu(y)), state)
        if self.downsample is not None:
            x, state = self.downsample(x, state)
        return jax.nn.relu(y + x), state


Block = BasicBlock | Bottleneck


class ResNet(eqx.Module):
    """A residual network: stem, four stages (`layer1`..`layer4`), global mean, linear head.

    Stems: `"imagenet"` is a 7x7/2 conv and a 3x3/2 max-pool with PyTorch's symmetric
    padding (`(c, 224, 224) -> (64, 56, 56)`); `"cifar"` is a 3x3/1 conv and no pool,
    for 32x32 inputs (`(c, 32, 32) -> (64, 32, 32)`).
    """

    conv1: Conv2d
    bn1: BatchNorm
    maxpool: MaxPool2d | None
    layer1: tuple[Block, ...]
    layer2: tuple[Block, ...]
    layer3: tuple[Block, ...]
    layer4: tuple[Block, ...]
    fc: eqx.nn.Linear
    in_channels: int = eqx.field(static=True)
    stem: Stem = eqx.field(static=True)

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: tuple[int, int, int, int],
        *,
        num_classes: int = 1000,
        in_channels: int = 3,
        stem: Stem = "imagenet",
        zero_init_residual: bool = False,
        groups: int = 1,
        width_per_group: int = 64,
        key: PRNGKeyArray,
    ):
        if stem not in ("imagenet", "cifar"):
            raise ValueError(f"stem must be 'imagenet' (7x7/2 conv + max-pool) or 'cifar' (3x3/1 conv), got {stem!r}")
        if block is BasicBlock and (groups != 1 or width_per_group != 64):
            raise ValueError("BasicBlock supports only groups=1 and width_per_group=64 (as in torchvision)")
        k_stem, k_fc, *k_stages = jax.random.split(key, 6)
        if stem == "imagenet":
            self.conv1 = Conv2d(in_channels, 64, 7, 2, 3, key=k_stem)
            self.maxpool = MaxPool2d(3, 2, padding=1)
        else:
            self.conv1 = Conv2d(in_channels, 64, 3, 1, 1, key=k_stem)
            self.maxpool = None
        self.bn1 = BatchNorm(64)
        extra = dict(groups=groups, width_per_group=width_per_group) if block is Bottleneck else {}
        stages, channels = [], 64
        for i, (n_blocks, k) in enumerate(zip(layers, k_stages)):
            planes, stride = 64 * 2**i, 1 if i == 0 else 2
            blocks = []
            for j, kb in enumerate(jax.random.split(k, n_blocks)):
                blocks.append(
                    block(channels, planes, stride if j == 0 else 1, zero_init_residual=zero_init_residual, key=kb, **extra)
                )
                channels = planes * block.expansion
            stages.append(tuple(blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.fc = eqx.nn.Linear(channels, num_classes, key=k_fc)
        self.in_channels = in_channels
        self.stem = stem

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """The natural input `(c, h, w)`: 224x224 for the ImageNet stem, 32x32 for the CIFAR one."""
        size = 224 if self.stem == "imagenet" else 32
        return (self.in_channels, size, size)

    def feature_maps(self, x: Float[Array, "c h w"], state: eqx.nn.State) -> tuple[dict[str, Array], eqx.nn.State]:
        """Each stage's output: `{"stem", "layer1", ..., "layer4"}`, channels first like the input."""
        features, state = self._stages(x, state)
        return {name: jnp.moveaxis(f, -1, 0) for name, f in features.items()}, state

    def _stages(self, x: Float[Array, "c h w"], state: eqx.nn.State) -> tuple[dict[str, Array], eqx.nn.State]:
        """Each stage's output, channels-last as the layers compute it."""
        check_image(x, self.in_channels, type(self).__name__)
        x, state = self.bn1(self.conv1(jnp.moveaxis(x, 0, -1)), state)
        x = jax.nn.relu(x)
        if self.maxpool is not None:
            x = self.maxpool(x)
        features = {"stem": x}
        for name in ("layer1", "layer2", "layer3", "layer4"):
            for block in getattr(self, name):
                x, state = block(x, state)
            features[name] = x
        return features, state

    def __call__(
        self, x: Float[Array, "c h w"], state: eqx.nn.State, *, key: PRNGKeyArray | None = None
    ) -> tuple[Float[Array, " num_classes"], eqx.nn.State]:
        """`(c, h, w) -> (num_classes,)` logits. `key` is unused (no dropout), kept for a uniform call."""
        features, state = self._stages(x, state)
        pooled = jnp.mean(features["layer4"], axis=(0, 1))
        return self.fc(pooled).astype(jnp.float32), state


def _build(block, layers, *, key, **kwargs) -> tuple[ResNet, eqx.nn.State]:
    return eqx.nn.make_with_state(ResNet)(block, layers, key=key, **kwargs)


@register_model
def resnet18(*, key: PRNGKeyArray, **kwargs) -> tuple[ResNet, eqx.nn.State]:
    """ResNet-18: basic blocks (2, 2, 2, 2). 11,689,512 parameters at 1000 classes."""
    return _build(BasicBlock, (2, 2, 2, 2), key=key, **kwargs)


@register_model
def resnet34(*, key: PRNGKeyArray, **kwargs) -> tuple[ResNet, eqx.nn.State]:
    """ResNet-34: basic blocks (3, 4, 6, 3). 21,797,672 parameters at 1000 classes."""
    return _build(BasicBlock, (3, 4, 6, 3), key=key, **kwargs)


@register_model
def resnet50(*, key: PRNGKeyArray, **kwargs) -> tuple[ResNet, eqx.nn.State]:
    """ResNet-50: bottlenecks (3, 4, 6, 3). 25,557,032 parameters at 1000 classes."""
    return _build(Bottleneck, (3, 4, 6, 3), key=key, **kwargs)


@register_model
def resnet101(*, key: PRNGKeyArray, **kwargs) -> tuple[ResNet, eqx.nn.State]:
    """ResNet-101: bottlenecks (3, 4, 23, 3). 44,549,160 parameters at 1000 classes."""
    return _build(Bottleneck, (3, 4, 23, 3), key=key, **kwargs)


@register_model
def resnet152(*, key: PRNGKeyArray, **kwargs) -> tuple[ResNet, eqx.nn.State]:
    """ResNet-152: bottlenecks (3, 8, 36, 3). 60,192,808 parameters at 1000 classes."""
    return _build(Bottleneck, (3, 8, 36, 3), key=key, **kwargs)


@register_model
def resnext50_32x4d(*, key: PRNGKeyArray, **kwargs) -> tuple[ResNet, eqx.nn.State]:
    """ResNeXt-50 32x4d: ResNet-50 with 32 groups of width 4. 25,028,904 parameters."""
    return _build(Bottleneck, (3, 4, 6, 3), key=key, groups=32, width_per_group=4, **kwargs)


@register_model
def wide_resnet50_2(*, key: PRNGKeyArray, **kwargs) -> tuple[ResNet, eqx.nn.State]:
    """Wide ResNet-50-2: ResNet-50 with bottlenecks twice as wide. 68,883,240 parameters."""
    return _build(Bottleneck, (3, 4, 6, 3), key=key, width_per_group=128, **kwargs)
