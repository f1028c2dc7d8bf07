"""ResNet, ResNeXt and Wide ResNet, as in torchvision (stride on the 3x3 conv: "v1.5").

The model is an `eqx.Module` that takes one image `(c, h, w)` and the BatchNorm
state, and returns `(logits, state)`. Inside, the blocks work channels-last,
`(h, w, c)`, like every layer (models/layers.py).

    model, state = resnet50(num_classes=10, key=jax.random.key(0))      # the model and its state
    logits, state = eqx_resnet.forward(model, state, images)            # images: (n, 3, 224, 224)

    backbone = ResNet.resnet50(num_classes=0, key=key)                  # the model alone, headless,
                                                                        # inside your own module
"""

import inspect
from collections.abc import Hashable
from typing import ClassVar, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from ._checks import check_image, check_num_classes
from ._random import linear, split
from .description import Description, FeatureInfo, PretrainedWeights, eval_transform
from .layers import BatchNorm, Conv2d, MaxPool2d
from .registry import describe, register_model, with_state

Stem = Literal["imagenet", "cifar"]
StemType = Literal["", "deep", "deep_tiered"]


class Downsample(eqx.Module):
    """Projection shortcut: a strided conv (1x1; 3x3 in SENet-154), then BatchNorm.
    `(h, w, c_in) -> (h/s, w/s, c_out)`."""

    state_dict_names: ClassVar[dict[str, str]] = {"conv": "0", "bn": "1"}  # torchvision's nn.Sequential
    conv: Conv2d
    bn: BatchNorm

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        *,
        kernel_size: int = 1,
        axis_name: Hashable = "batch",
        key: PRNGKeyArray,
    ):
        kernel_size = 1 if stride == 1 else kernel_size  # as timm's downsample_conv
        padding = ((stride - 1) + (kernel_size - 1)) // 2
        self.conv = Conv2d(in_channels, out_channels, kernel_size, stride, padding, key=key)
        self.bn = BatchNorm(out_channels, axis_name=axis_name)

    def __call__(
        self, x: Float[Array, "h w c_in"], state: eqx.nn.State
    ) -> tuple[Float[Array, "h_out w_out c_out"], eqx.nn.State]:
        return self.bn(self.conv(x), state)


class DeepStem(eqx.Module):
    """timm's deep stem, the `conv1` of its -c, -d, -s and -t ResNets: three 3x3 convs, the first of
    stride 2, with BatchNorm and ReLU between them. `(h, w, c_in) -> (h/2, w/2, out_channels)`."""

    state_dict_names: ClassVar[dict[str, str]] = {"conv_a": "0", "bn_a": "1", "conv_b": "3", "bn_b": "4", "conv_c": "6"}
    conv_a: Conv2d
    bn_a: BatchNorm
    conv_b: Conv2d
    bn_b: BatchNorm
    conv_c: Conv2d

    def __init__(
        self, in_channels: int, widths: tuple[int, int, int], *, axis_name: Hashable = "batch", key: PRNGKeyArray
    ):
        """`widths`: the three convs' output channels, e.g. `(32, 32, 64)` (stem_width 32, "deep")."""
        ka, kb, kc = split(key, 3)
        self.conv_a = Conv2d(in_channels, widths[0], 3, 2, 1, key=ka)
        self.bn_a = BatchNorm(widths[0], axis_name=axis_name)
        self.conv_b = Conv2d(widths[0], widths[1], 3, 1, 1, key=kb)
        self.bn_b = BatchNorm(widths[1], axis_name=axis_name)
        self.conv_c = Conv2d(widths[1], widths[2], 3, 1, 1, key=kc)

    def __call__(
        self, x: Float[Array, "h w c_in"], state: eqx.nn.State
    ) -> tuple[Float[Array, "h_out w_out c_out"], eqx.nn.State]:
        x, state = self.bn_a(self.conv_a(x), state)
        x, state = self.bn_b(self.conv_b(jax.nn.relu(x)), state)
        return self.conv_c(jax.nn.relu(x)), state


class ConvPool(eqx.Module):
    """ResNet-RS's stem pooling, a strided 3x3 conv and BatchNorm in place of the max-pool (then ReLU)."""

    state_dict_names: ClassVar[dict[str, str]] = {"conv": "0", "bn": "1"}  # timm's nn.Sequential
    conv: Conv2d
    bn: BatchNorm

    def __init__(self, channels: int, *, axis_name: Hashable = "batch", key: PRNGKeyArray):
        self.conv = Conv2d(channels, channels, 3, 2, 1, key=key)
        self.bn = BatchNorm(channels, axis_name=axis_name)

    def __call__(
        self, x: Float[Array, "h w c"], state: eqx.nn.State
    ) -> tuple[Float[Array, "h_out w_out c"], eqx.nn.State]:
        x, state = self.bn(self.conv(x), state)
        return jax.nn.relu(x), state


class BasicBlock(eqx.Module):
    """Two 3x3 convs and a shortcut (ResNet-18/34). `(h, w, c_in) -> (h/s, w/s, planes)`, channels-last."""

    expansion: ClassVar[int] = 1
    conv1: Conv2d
    bn1: BatchNorm
    conv2: Conv2d
    bn2: BatchNorm
    downsample: Downsample | None

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int = 1,
        *,
        reduce_first: int = 1,
        down_kernel_size: int = 1,
        zero_init_residual: bool = False,
        axis_name: Hashable = "batch",
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `in_channels`: the input's channels.
        - `planes`: the output's channels.
        - `stride`: of the first conv and the shortcut (2 halves the size).
        - `reduce_first`: the first conv has `planes / reduce_first` channels (timm's `block_reduce_first`).
        - `down_kernel_size`: the strided shortcut conv's kernel (1; 3 in SENet-154).
        - `zero_init_residual`: start the last BatchNorm's scale at zero (the block starts as the identity).
        - `axis_name`: the batch axis name(s) of the BatchNorms.
        - `key`: the random key for the weights.
        """
        k1, k2, k3 = split(key, 3)
        first = planes // reduce_first
        self.conv1 = Conv2d(in_channels, first, 3, stride, 1, key=k1)
        self.bn1 = BatchNorm(first, axis_name=axis_name)
        self.conv2 = Conv2d(first, planes, 3, 1, 1, key=k2)
        self.bn2 = BatchNorm(planes, zero_init=zero_init_residual, axis_name=axis_name)
        needs_projection = stride != 1 or in_channels != planes
        shortcut = dict(kernel_size=down_kernel_size, axis_name=axis_name, key=k3)
        self.downsample = Downsample(in_channels, planes, stride, **shortcut) if needs_projection else None

    def __call__(
        self, x: Float[Array, "h w c_in"], state: eqx.nn.State
    ) -> tuple[Float[Array, "h_out w_out c_out"], eqx.nn.State]:
        y, state = self.bn1(self.conv1(x), state)
        y, state = self.bn2(self.conv2(jax.nn.relu(y)), state)
        if self.downsample is not None:
            x, state = self.downsample(x, state)
        return jax.nn.relu(y + x), state


class Bottleneck(eqx.Module):
    """1x1 reduce, 3x3 (grouped, strided), 1x1 expand x4 (ResNet-50+, ResNeXt, Wide ResNet).

    `(h, w, c_in) -> (h/s, w/s, 4 * planes)`, channels-last; the 3x3 conv has
    `width = planes * width_per_group / 64 * groups` channels.
    """

    expansion: ClassVar[int] = 4
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
        reduce_first: int = 1,
        down_kernel_size: int = 1,
        zero_init_residual: bool = False,
        axis_name: Hashable = "batch",
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `in_channels`: the input's channels.
        - `planes`: a quarter of the output's channels.
        - `stride`: of the 3x3 conv and the shortcut (2 halves the size).
        - `groups`, `width_per_group`: the 3x3 conv's groups and their width at `planes=64` (ResNeXt, Wide ResNet).
        - `reduce_first`: the first 1x1 conv has `width / reduce_first` channels (timm's `block_reduce_first`).
        - `down_kernel_size`: the strided shortcut conv's kernel (1; 3 in SENet-154).
        - `zero_init_residual`: start the last BatchNorm's scale at zero (the block starts as the identity).
        - `axis_name`: the batch axis name(s) of the BatchNorms.
        - `key`: the random key for the weights.
        """
        k1, k2, k3, k4 = split(key, 4)
        width = int(planes * (width_per_group / 64.0)) * groups
        first = width // reduce_first
        out_channels = planes * self.expansion
        self.conv1 = Conv2d(in_channels, first, 1, key=k1)
        self.bn1 = BatchNorm(first, axis_name=axis_name)
        self.conv2 = Conv2d(first, width, 3, stride, 1, groups=groups, key=k2)
        self.bn2 = BatchNorm(width, axis_name=axis_name)
        self.conv3 = Conv2d(width, out_channels, 1, key=k3)
        self.bn3 = BatchNorm(out_channels, zero_init=zero_init_residual, axis_name=axis_name)
        needs_projection = stride != 1 or in_channels != out_channels
        shortcut = dict(kernel_size=down_kernel_size, axis_name=axis_name, key=k4)
        self.downsample = Downsample(in_channels, out_channels, stride, **shortcut) if needs_projection else None

    def __call__(
        self, x: Float[Array, "h w c_in"], state: eqx.nn.State
    ) -> tuple[Float[Array, "h_out w_out c_out"], eqx.nn.State]:
        y, state = self.bn1(self.conv1(x), state)
        y, state = self.bn2(self.conv2(jax.nn.relu(y)), state)
        y, state = self.bn3(self.conv3(jax.nn.relu(y)), state)
        if self.downsample is not None:
            x, state = self.downsample(x, state)
        return jax.nn.relu(y + x), state


Block = BasicBlock | Bottleneck


class ResNet(eqx.Module):
    """A residual network: stem, four stages (`layer1`..`layer4`), global mean, linear head `fc`.

    Stems: `"imagenet"` is a 7x7/2 conv and a 3x3/2 max-pool with PyTorch's symmetric
    padding (`(c, 224, 224) -> (64, 56, 56)`); `"cifar"` is a 3x3/1 conv and no pool,
    for 32x32 inputs (`(c, 32, 32) -> (64, 32, 32)`). `"stem"` also names the stem's
    layers (`conv1`, `bn1`, `maxpool`) in `feature_maps` and `trainable_filter`.

    Build one with a named constructor, `ResNet.resnet18(...)` .. `ResNet.wide_resnet50_2(...)`
    (the model alone, for your own module or `eqx.nn.make_with_state`), or with the builders
    `eqx_resnet.resnet18(...)` .. that return `(model, state)`.
    """

    stem_layers: ClassVar[tuple[str, ...]] = ("conv1", "bn1", "maxpool")
    conv1: Conv2d | DeepStem
    bn1: BatchNorm
    maxpool: MaxPool2d | ConvPool | None
    layer1: tuple[Block, ...]
    layer2: tuple[Block, ...]
    layer3: tuple[Block, ...]
    layer4: tuple[Block, ...]
    fc: eqx.nn.Linear | eqx.nn.Identity
    in_channels: int = eqx.field(static=True)
    stem: Stem = eqx.field(static=True)
    axis_name: Hashable = eqx.field(static=True)
    architecture: tuple = eqx.field(static=True)  # what makes it one registered architecture (`description`)

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
        stem_type: StemType = "",
        stem_width: int = 64,
        replace_stem_pool: bool = False,
        block_reduce_first: int = 1,
        down_kernel_size: int = 1,
        channels: tuple[int, int, int, int] = (64, 128, 256, 512),
        axis_name: Hashable = "batch",
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `block`: `BasicBlock` (ResNet-18/34) or `Bottleneck` (ResNet-50 and deeper).
        - `layers`: the number of blocks in each of the four stages.
        - `num_classes`: the size of the logits; `0` builds the model headless (`fc` is the
          identity, and the model returns its pooled features, 512 or 2048 of them), as timm.
        - `in_channels`: the image's channels (1 for MNIST).
        - `stem`: `"imagenet"` (a strided stem and max-pool) or `"cifar"` (3x3/1 conv, for 32x32 images).
        - `zero_init_residual`: start each block's last BatchNorm scale at zero.
        - `groups`, `width_per_group`: the bottlenecks' 3x3 groups (ResNeXt) and width (Wide ResNet).
        - `stem_type`: timm's: `""` a 7x7/2 conv of 64 channels; `"deep"` three 3x3 convs of
          `stem_width`, `stem_width` and `2 * stem_width` channels; `"deep_tiered"` of
          `3 * stem_width // 4`, `stem_width`, `2 * stem_width`.
        - `stem_width`: the deep stem's width (32 in the -c, -d and -t ResNets, 64 in -s).
        - `replace_stem_pool`: a strided 3x3 conv and BatchNorm in place of the max-pool (ResNet-RS).
        - `block_reduce_first`: each block's first conv is this many times narrower (2 in SENet-154).
        - `down_kernel_size`: the kernel of the strided shortcut convs (3 in SENet-154).
        - `channels`: the four stages' `planes` (a block's output is `planes * block.expansion`).
        - `axis_name`: the batch axis name(s) every BatchNorm takes its statistics over while
          training: the `vmap` axis, or a tuple such as `("data", "batch")` under `shard_map`.
        - `key`: the random key for the weights.
        """
        if stem not in ("imagenet", "cifar"):
            raise ValueError(f"stem must be 'imagenet' (strided stem + max-pool) or 'cifar' (3x3/1 conv), got {stem!r}")
        if stem_type not in ("", "deep", "deep_tiered"):
            raise ValueError(f"stem_type must be '', 'deep' or 'deep_tiered' (timm's), got {stem_type!r}")
        if stem == "cifar" and (stem_type or replace_stem_pool):
            raise ValueError("stem='cifar' is a single 3x3/1 conv: leave stem_type='' and replace_stem_pool=False")
        if block is BasicBlock and (groups != 1 or width_per_group != 64):
            raise ValueError("BasicBlock supports only groups=1 and width_per_group=64 (as in torchvision)")
        check_num_classes(num_classes)
        k_stem, k_fc, *k_stages, k_pool = split(key, 7)
        inplanes = 2 * stem_width if stem_type else 64
        if stem_type:
            first = 3 * (stem_width // 4) if stem_type == "deep_tiered" else stem_width
            self.conv1 = DeepStem(in_channels, (first, stem_width, inplanes), axis_name=axis_name, key=k_stem)
        elif stem == "imagenet":
            self.conv1 = Conv2d(in_channels, 64, 7, 2, 3, key=k_stem)
        else:
            self.conv1 = Conv2d(in_channels, 64, 3, 1, 1, key=k_stem)
        self.bn1 = BatchNorm(inplanes, axis_name=axis_name)
        if stem == "cifar":
            self.maxpool = None
        elif replace_stem_pool:
            self.maxpool = ConvPool(inplanes, axis_name=axis_name, key=k_pool)
        else:
            self.maxpool = MaxPool2d(3, 2, padding=1)
        extra = dict(groups=groups, width_per_group=width_per_group) if block is Bottleneck else {}
        extra |= dict(reduce_first=block_reduce_first, down_kernel_size=down_kernel_size)
        stages, width = [], inplanes
        for i, (n_blocks, planes, k) in enumerate(zip(layers, channels, k_stages)):
            stride = 1 if i == 0 else 2
            blocks = []
            for j, kb in enumerate(split(k, n_blocks)):
                first_stride = stride if j == 0 else 1
                blocks.append(
                    block(
                        width,
                        planes,
                        first_stride,
                        zero_init_residual=zero_init_residual,
                        axis_name=axis_name,
                        key=kb,
                        **extra,
                    )
                )
                width = planes * block.expansion
            stages.append(tuple(blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.fc = linear(width, num_classes, key=k_fc) if num_classes else eqx.nn.Identity()
        self.in_channels = in_channels
        self.stem = stem
        self.axis_name = axis_name
        shape = dict(groups=groups, width_per_group=width_per_group, stem_type=stem_type, stem_width=stem_width)
        shape |= dict(replace_stem_pool=replace_stem_pool, block_reduce_first=block_reduce_first)
        self.architecture = _architecture(block, layers, down_kernel_size=down_kernel_size, channels=channels, **shape)

    @classmethod
    def resnet18(
        cls,
        *,
        num_classes: int = 1000,
        in_channels: int = 3,
        stem: Stem = "imagenet",
        zero_init_residual: bool = False,
        axis_name: Hashable = "batch",
        key: PRNGKeyArray,
    ) -> "ResNet":
        """ResNet-18: basic blocks (2, 2, 2, 2). 11,689,512 parameters at 1000 classes.

        The arguments are `ResNet`'s: `num_classes` (0: headless), `in_channels`,
        `stem` ("imagenet" | "cifar"), `zero_init_residual`, `axis_name`, `key`.
        """
        options = dict(
            num_classes=num_classes, in_channels=in_channels, stem=stem, zero_init_residual=zero_init_residual
        )
        return cls(BasicBlock, (2, 2, 2, 2), **options, axis_name=axis_name, key=key)

    @classmethod
    def resnet34(
        cls,
        *,
        num_classes: int = 1000,
        in_channels: int = 3,
        stem: Stem = "imagenet",
        zero_init_residual: bool = False,
        axis_name: Hashable = "batch",
        key: PRNGKeyArray,
    ) -> "ResNet":
        """ResNet-34: basic blocks (3, 4, 6, 3). 21,797,672 parameters at 1000 classes.

        The arguments are `ResNet`'s: `num_classes` (0: headless), `in_channels`,
        `stem` ("imagenet" | "cifar"), `zero_init_residual`, `axis_name`, `key`.
        """
        options = dict(
            num_classes=num_classes, in_channels=in_channels, stem=stem, zero_init_residual=zero_init_residual
        )
        return cls(BasicBlock, (3, 4, 6, 3), **options, axis_name=axis_name, key=key)

    @classmethod
    def resnet26(
        cls,
        *,
        num_classes: int = 1000,
        in_channels: int = 3,
        stem: Stem = "imagenet",
        zero_init_residual: bool = False,
        groups: int = 1,
        width_per_group: int = 64,
        axis_name: Hashable = "batch",
        key: PRNGKeyArray,
    ) -> "ResNet":
        """ResNet-26: bottlenecks (2, 2, 2, 2), as timm's `resnet26`. 15,995,176 parameters at 1000 classes.

        The arguments are `ResNet`'s: `num_classes` (0: headless), `in_channels`,
        `stem` ("imagenet" | "cifar"), `zero_init_residual`, `groups`, `width_per_group`,
        `axis_name`, `key`.
        """
        options = dict(
            num_classes=num_classes, in_channels=in_channels, stem=stem, zero_init_residual=zero_init_residual
        )
        return cls(
            Bottleneck,
            (2, 2, 2, 2),
            **options,
            groups=groups,
            width_per_group=width_per_group,
            axis_name=axis_name,
            key=key,
        )

    @classmethod
    def resnet50(
        cls,
        *,
        num_classes: int = 1000,
        in_channels: int = 3,
        stem: Stem = "imagenet",
        zero_init_residual: bool = False,
        groups: int = 1,
        width_per_group: int = 64,
        axis_name: Hashable = "batch",
        key: PRNGKeyArray,
    ) -> "ResNet":
        """ResNet-50: bottlenecks (3, 4, 6, 3). 25,557,032 parameters at 1000 classes.

        The arguments are `ResNet`'s: `num_classes` (0: headless), `in_channels`,
        `stem` ("imagenet" | "cifar"), `zero_init_residual`, `groups`, `width_per_group`,
        `axis_name`, `key`.
        """
        options = dict(
            num_classes=num_classes, in_channels=in_channels, stem=stem, zero_init_residual=zero_init_residual
        )
        return cls(
            Bottleneck,
            (3, 4, 6, 3),
            **options,
            groups=groups,
            width_per_group=width_per_group,
            axis_name=axis_name,
            key=key,
        )

    @classmethod
    def resnet101(
        cls,
        *,
        num_classes: int = 1000,
        in_channels: int = 3,
        stem: Stem = "imagenet",
        zero_init_residual: bool = False,
        groups: int = 1,
        width_per_group: int = 64,
        axis_name: Hashable = "batch",
        key: PRNGKeyArray,
    ) -> "ResNet":
        """ResNet-101: bottlenecks (3, 4, 23, 3). 44,549,160 parameters at 1000 classes.

        The arguments are `ResNet`'s: `num_classes` (0: headless), `in_channels`,
        `stem` ("imagenet" | "cifar"), `zero_init_residual`, `groups`, `width_per_group`,
        `axis_name`, `key`.
        """
        options = dict(
            num_classes=num_classes, in_channels=in_channels, stem=stem, zero_init_residual=zero_init_residual
        )
        return cls(
            Bottleneck,
            (3, 4, 23, 3),
            **options,
            groups=groups,
            width_per_group=width_per_group,
            axis_name=axis_name,
            key=key,
        )

    @classmethod
    def resnet152(
        cls,
        *,
        num_classes: int = 1000,
        in_channels: int = 3,
        stem: Stem = "imagenet",
        zero_init_residual: bool = False,
        groups: int = 1,
        width_per_group: int = 64,
        axis_name: Hashable = "batch",
        key: PRNGKeyArray,
    ) -> "ResNet":
        """ResNet-152: bottlenecks (3, 8, 36, 3). 60,192,808 parameters at 1000 classes.

        The arguments are `ResNet`'s: `num_classes` (0: headless), `in_channels`,
        `stem` ("imagenet" | "cifar"), `zero_init_residual`, `groups`, `width_per_group`,
        `axis_name`, `key`.
        """
        options = dict(
            num_classes=num_classes, in_channels=in_channels, stem=stem, zero_init_residual=zero_init_residual
        )
        return cls(
            Bottleneck,
            (3, 8, 36, 3),
            **options,
            groups=groups,
            width_per_group=width_per_group,
            axis_name=axis_name,
            key=key,
        )

    @classmethod
    def resnext50_32x4d(
        cls,
        *,
        num_classes: int = 1000,
        in_channels: int = 3,
        stem: Stem = "imagenet",
        zero_init_residual: bool = False,
        axis_name: Hashable = "batch",
        key: PRNGKeyArray,
    ) -> "ResNet":
        """ResNeXt-50 32x4d: ResNet-50 with 32 groups of width 4. 25,028,904 parameters at 1000 classes.

        The arguments are `ResNet`'s: `num_classes` (0: headless), `in_channels`,
        `stem` ("imagenet" | "cifar"), `zero_init_residual`, `axis_name`, `key`.
        """
        options = dict(
            num_classes=num_classes, in_channels=in_channels, stem=stem, zero_init_residual=zero_init_residual
        )
        return cls(
            Bottleneck,
            (3, 4, 6, 3),
            **options,
            groups=32,
            width_per_group=4,
            axis_name=axis_name,
            key=key,
        )

    @classmethod
    def wide_resnet50_2(
        cls,
        *,
        num_classes: int = 1000,
        in_channels: int = 3,
        stem: Stem = "imagenet",
        zero_init_residual: bool = False,
        axis_name: Hashable = "batch",
        key: PRNGKeyArray,
    ) -> "ResNet":
        """Wide ResNet-50-2: ResNet-50 with bottlenecks twice as wide. 68,883,240 parameters at 1000 classes.

        The arguments are `ResNet`'s: `num_classes` (0: headless), `in_channels`,
        `stem` ("imagenet" | "cifar"), `zero_init_residual`, `axis_name`, `key`.
        """
        options = dict(
            num_classes=num_classes, in_channels=in_channels, stem=stem, zero_init_residual=zero_init_residual
        )
        return cls(
            Bottleneck,
            (3, 4, 6, 3),
            **options,
            width_per_group=128,
            axis_name=axis_name,
            key=key,
        )

    @property
    def description(self) -> Description | None:
        """The registered architecture this ResNet is (`models/description.py`), by its blocks, stages
        and the options that shape them; None for one of your own."""
        name = _ARCHITECTURES.get(self.architecture)
        return None if name is None else describe(name)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """The natural input `(c, h, w)`: 224x224 for the ImageNet stem, 32x32 for the CIFAR one."""
        size = 224 if self.stem == "imagenet" else 32
        return (self.in_channels, size, size)

    def feature_maps(self, x: Float[Array, "c h w"], state: eqx.nn.State) -> tuple[dict[str, Array], eqx.nn.State]:
        """Each stage's output: `{"stem", "layer1", ..., "layer4"}`, channels first like the input.

        The keys name parts of the model as `trainable_filter` does: `"stem"` is
        `conv1`, `bn1` and `maxpool`; `"layer1"` is the field `layer1`.
        """
        features, state = self._stages(x, state)
        return {name: jnp.moveaxis(f, -1, 0) for name, f in features.items()}, state

    def _stages(self, x: Float[Array, "c h w"], state: eqx.nn.State) -> tuple[dict[str, Array], eqx.nn.State]:
        """Each stage's output, channels-last as the layers compute it."""
        check_image(x, self.in_channels, type(self).__name__)
        x = jnp.moveaxis(x, 0, -1).astype(self.bn1.weight.dtype)
        x, state = self.conv1(x, state) if isinstance(self.conv1, DeepStem) else (self.conv1(x), state)
        x, state = self.bn1(x, state)
        x = jax.nn.relu(x)
        if isinstance(self.maxpool, ConvPool):
            x, state = self.maxpool(x, state)
        elif self.maxpool is not None:
            x = self.maxpool(x)
        features = {"stem": x}
        for name in ("layer1", "layer2", "layer3", "layer4"):
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
        pooled = jnp.mean(features["layer4"], axis=(0, 1))
        return self.fc(pooled).astype(jnp.float32), state


# timm's and torchvision's evaluation transforms of the published sets.
_TV = eval_transform(224, 0.875, "bilinear")
_TV2 = eval_transform(224, 0.965, "bilinear")
_A1H_224 = eval_transform(224, 1.0, "bicubic")
_TIMM_288 = eval_transform(288, 1.0, "bicubic")
_RACM = eval_transform(288, 0.95, "bicubic")
_RA4 = eval_transform(288, 1.0, "bicubic", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
_BSD, _APACHE = "bsd-3-clause", "apache-2.0"


# The options that make a ResNet one architecture, besides its block and stages.
_SHAPE = (
    "groups",
    "width_per_group",
    "stem_type",
    "stem_width",
    "replace_stem_pool",
    "block_reduce_first",
    "down_kernel_size",
    "channels",
)
# Each registered ResNet by its `_architecture`: `ResNet.description`.
_ARCHITECTURES: dict[tuple, str] = {}


def _architecture(block: type[BasicBlock] | type[Bottleneck], layers: tuple[int, ...], **options) -> tuple:
    """A ResNet's block, stages and shaping options (`_SHAPE`, ResNet's defaults filled in), hashable."""
    defaults = inspect.signature(ResNet.__init__).parameters
    values = (options.get(name, defaults[name].default) for name in _SHAPE)
    return (block.__name__, tuple(layers), *(tuple(v) if isinstance(v, list | tuple) else v for v in values))


def _constructor(name: str, summary: str, block, layers: tuple[int, int, int, int], **model_args):
    """A constructor of the model alone, `name(**options) -> ResNet`: `ResNet(block, layers, **model_args)`
    with the other options of `ResNet` as its keyword arguments (so `help()` shows them)."""

    def constructor(**options) -> ResNet:
        return ResNet(block, layers, **model_args, **options)

    fixed = {"self", "block", "layers", *model_args}
    parameters = [p for n, p in inspect.signature(ResNet.__init__).parameters.items() if n not in fixed]
    constructor.__signature__ = inspect.Signature(parameters, return_annotation=ResNet)
    constructor.__name__ = constructor.__qualname__ = name
    given = ", ".join(f"{k}={v!r}" for k, v in model_args.items())
    constructor.__doc__ = (
        f"{summary}\n\n`ResNet({block.__name__}, {layers}{', ' if given else ''}{given}, **options)`: "
        + ("the options are `ResNet`'s (`help(eqx_resnet.ResNet)`).")
    )
    return constructor


# macs: torchvision's published multiply-adds ("GFLOPS" of its weights' meta) of one 224x224 image.
def _resnet(
    constructor,
    block: type[BasicBlock] | type[Bottleneck],
    layers: tuple[int, int, int, int],
    *weights: PretrainedWeights,
    macs: float | None = None,
    **model_args,
) -> Description:
    """The description of a ResNet built by `constructor` (`ResNet(block, layers, **model_args)`):
    the head `fc`, 224x224 inputs."""
    name = constructor.__name__
    _ARCHITECTURES[_architecture(block, layers, **model_args)] = name
    deep = bool(model_args.get("stem_type"))
    stem = 2 * model_args.get("stem_width", 64) if deep else 64
    channels = model_args.get("channels", (64, 128, 256, 512))
    stages = (FeatureInfo(c * block.expansion, 4 * 2**i, f"layer{i + 1}") for i, c in enumerate(channels))
    features = (FeatureInfo(stem, 4, "stem"), *stages)
    first_conv = "conv1.0" if deep else "conv1"
    return Description(
        name, with_state(constructor), "fc", first_conv, (3, 224, 224), features, weights=weights, macs=macs
    )


def _timm(name: str, summary: str, block, layers: tuple[int, int, int, int], *weights, macs=None, **model_args):
    """The description of timm's ResNet `name`: `ResNet(block, layers, **model_args)` (timm's `model_args`)."""
    constructor = _constructor(name, summary, block, layers, **model_args)
    return _resnet(constructor, block, layers, *weights, macs=macs, **model_args)


resnet18 = register_model(
    _resnet(
        ResNet.resnet18,
        BasicBlock,
        (2, 2, 2, 2),
        PretrainedWeights("tv_in1k", 69.752, _TV, _BSD),
        PretrainedWeights("a1_in1k", 73.164, _TIMM_288, _APACHE),
        macs=1.814e9,
    )
)
resnet34 = register_model(
    _resnet(
        ResNet.resnet34,
        BasicBlock,
        (3, 4, 6, 3),
        PretrainedWeights("tv_in1k", 73.298, _TV, _BSD),
        PretrainedWeights("a1_in1k", 77.930, _TIMM_288, _APACHE),
        PretrainedWeights("ra4_e3600_r224_in1k", 78.972, _RA4, _APACHE),
        macs=3.664e9,
    )
)
# timm publishes resnet26.bt_in1k; its top-1 is not in the results this project has pinned yet.
resnet26 = register_model(_resnet(ResNet.resnet26, Bottleneck, (2, 2, 2, 2)))
resnet50 = register_model(
    _resnet(
        ResNet.resnet50,
        Bottleneck,
        (3, 4, 6, 3),
        PretrainedWeights("tv_in1k", 76.156, _TV, _BSD),
        PretrainedWeights("tv2_in1k", 80.846, _TV2, _BSD),
        PretrainedWeights("a1_in1k", 81.240, _TIMM_288, _APACHE),
        PretrainedWeights("a1h_in1k", 80.654, _A1H_224, _APACHE),
        macs=4.089e9,
    )
)
resnet101 = register_model(
    _resnet(
        ResNet.resnet101,
        Bottleneck,
        (3, 4, 23, 3),
        PretrainedWeights("tv_in1k", 77.404, _TV, _BSD),
        PretrainedWeights("tv2_in1k", 81.906, _TV2, _BSD),
        PretrainedWeights("a1_in1k", 82.326, _TIMM_288, _APACHE),
        PretrainedWeights("a1h_in1k", 82.796, _TIMM_288, _APACHE),
        macs=7.801e9,
    )
)
resnet152 = register_model(
    _resnet(
        ResNet.resnet152,
        Bottleneck,
        (3, 8, 36, 3),
        PretrainedWeights("tv_in1k", 78.330, _TV, _BSD),
        PretrainedWeights("tv2_in1k", 82.294, _TV2, _BSD),
        PretrainedWeights("a1_in1k", 82.742, _TIMM_288, _APACHE),
        PretrainedWeights("a1h_in1k", 83.494, _TIMM_288, _APACHE),
        macs=11.514e9,
    )
)
resnext50_32x4d = register_model(
    _resnet(
        ResNet.resnext50_32x4d,
        Bottleneck,
        (3, 4, 6, 3),
        PretrainedWeights("tv_in1k", 77.632, _TV, _BSD),
        PretrainedWeights("tv2_in1k", 81.190, _TV2, _BSD),
        PretrainedWeights("a1_in1k", 81.480, _TIMM_288, _APACHE),
        PretrainedWeights("a1h_in1k", 82.016, _TIMM_288, _APACHE),
        groups=32,
        width_per_group=4,
        macs=4.23e9,
    )
)
wide_resnet50_2 = register_model(
    _resnet(
        ResNet.wide_resnet50_2,
        Bottleneck,
        (3, 4, 6, 3),
        PretrainedWeights("tv_in1k", 78.486, _TV, _BSD),
        PretrainedWeights("tv2_in1k", 81.612, _TV2, _BSD),
        PretrainedWeights("racm_in1k", 82.260, _RACM, _APACHE),
        width_per_group=128,
        macs=11.398e9,
    )
)

# timm's variants (timm/models/resnet.py, its `model_args`): "c" a deep stem of width 32, "s" of width 64.
resnet50c = register_model(
    _timm(
        "resnet50c",
        "ResNet-50-C: ResNet-50 with a deep stem of width 32.",
        Bottleneck,
        (3, 4, 6, 3),
        stem_type="deep",
        stem_width=32,
    )
)
resnet101c = register_model(
    _timm(
        "resnet101c",
        "ResNet-101-C: ResNet-101 with a deep stem of width 32.",
        Bottleneck,
        (3, 4, 23, 3),
        stem_type="deep",
        stem_width=32,
    )
)
resnet152c = register_model(
    _timm(
        "resnet152c",
        "ResNet-152-C: ResNet-152 with a deep stem of width 32.",
        Bottleneck,
        (3, 8, 36, 3),
        stem_type="deep",
        stem_width=32,
    )
)
resnet50s = register_model(
    _timm(
        "resnet50s",
        "ResNet-50-S: ResNet-50 with a deep stem of width 64.",
        Bottleneck,
        (3, 4, 6, 3),
        stem_type="deep",
        stem_width=64,
    )
)
resnet101s = register_model(
    _timm(
        "resnet101s",
        "ResNet-101-S: ResNet-101 with a deep stem of width 64.",
        Bottleneck,
        (3, 4, 23, 3),
        stem_type="deep",
        stem_width=64,
    )
)
resnet152s = register_model(
    _timm(
        "resnet152s",
        "ResNet-152-S: ResNet-152 with a deep stem of width 64.",
        Bottleneck,
        (3, 8, 36, 3),
        stem_type="deep",
        stem_width=64,
    )
)
resnet200 = register_model(_timm("resnet200", "ResNet-200: bottlenecks (3, 24, 36, 3).", Bottleneck, (3, 24, 36, 3)))
resnext101_32x4d = register_model(
    _timm(
        "resnext101_32x4d",
        "ResNeXt-101 32x4d: ResNet-101 with 32 groups of width 4.",
        Bottleneck,
        (3, 4, 23, 3),
        groups=32,
        width_per_group=4,
    )
)
resnext101_32x8d = register_model(
    _timm(
        "resnext101_32x8d",
        "ResNeXt-101 32x8d: ResNet-101 with 32 groups of width 8.",
        Bottleneck,
        (3, 4, 23, 3),
        groups=32,
        width_per_group=8,
    )
)
resnext101_32x16d = register_model(
    _timm(
        "resnext101_32x16d",
        "ResNeXt-101 32x16d: ResNet-101 with 32 groups of width 16.",
        Bottleneck,
        (3, 4, 23, 3),
        groups=32,
        width_per_group=16,
    )
)
resnext101_32x32d = register_model(
    _timm(
        "resnext101_32x32d",
        "ResNeXt-101 32x32d: ResNet-101 with 32 groups of width 32.",
        Bottleneck,
        (3, 4, 23, 3),
        groups=32,
        width_per_group=32,
    )
)
resnext101_64x4d = register_model(
    _timm(
        "resnext101_64x4d",
        "ResNeXt-101 64x4d: ResNet-101 with 64 groups of width 4.",
        Bottleneck,
        (3, 4, 23, 3),
        groups=64,
        width_per_group=4,
    )
)
wide_resnet101_2 = register_model(
    _timm(
        "wide_resnet101_2",
        "Wide ResNet-101-2: ResNet-101 with bottlenecks twice as wide.",
        Bottleneck,
        (3, 4, 23, 3),
        width_per_group=128,
    )
)
