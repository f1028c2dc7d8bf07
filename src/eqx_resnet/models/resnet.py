"""ResNet, ResNeXt and Wide ResNet, as in torchvision (stride on the 3x3 conv: "v1.5").

The model is an `eqx.Module` that takes one image `(c, h, w)` and the BatchNorm
state, and returns `(logits, state)`. Inside, the blocks work channels-last,
`(h, w, c)`, like every layer (models/layers.py).

    model, state = resnet50(num_classes=10, key=jax.random.key(0))      # the model and its state
    logits, state = eqx_resnet.forward(model, state, images)            # images: (n, 3, 224, 224)

    backbone = ResNet.resnet50(num_classes=0, key=key)                  # the model alone, headless,
                                                                        # inside your own module
"""

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


class Downsample(eqx.Module):
    """Projection shortcut: 1x1 conv with stride, then BatchNorm. `(h, w, c_in) -> (h/s, w/s, c_out)`."""

    state_dict_names: ClassVar[dict[str, str]] = {"conv": "0", "bn": "1"}  # torchvision's nn.Sequential
    conv: Conv2d
    bn: BatchNorm

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, *, axis_name: Hashable = "batch", key: PRNGKeyArray
    ):
        self.conv = Conv2d(in_channels, out_channels, 1, stride, key=key)
        self.bn = BatchNorm(out_channels, axis_name=axis_name)

    def __call__(
        self, x: Float[Array, "h w c_in"], state: eqx.nn.State
    ) -> tuple[Float[Array, "h_out w_out c_out"], eqx.nn.State]:
        return self.bn(self.conv(x), state)


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
        zero_init_residual: bool = False,
        axis_name: Hashable = "batch",
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `in_channels`: the input's channels.
        - `planes`: the output's channels.
        - `stride`: of the first conv and the shortcut (2 halves the size).
        - `zero_init_residual`: start the last BatchNorm's scale at zero (the block starts as the identity).
        - `axis_name`: the batch axis name(s) of the BatchNorms.
        - `key`: the random key for the weights.
        """
        k1, k2, k3 = split(key, 3)
        self.conv1 = Conv2d(in_channels, planes, 3, stride, 1, key=k1)
        self.bn1 = BatchNorm(planes, axis_name=axis_name)
        self.conv2 = Conv2d(planes, planes, 3, 1, 1, key=k2)
        self.bn2 = BatchNorm(planes, zero_init=zero_init_residual, axis_name=axis_name)
        needs_projection = stride != 1 or in_channels != planes
        self.downsample = (
            Downsample(in_channels, planes, stride, axis_name=axis_name, key=k3) if needs_projection else None
        )

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
        zero_init_residual: bool = False,
        axis_name: Hashable = "batch",
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `in_channels`: the input's channels.
        - `planes`: a quarter of the output's channels.
        - `stride`: of the 3x3 conv and the shortcut (2 halves the size).
        - `groups`, `width_per_group`: the 3x3 conv's groups and their width at `planes=64` (ResNeXt, Wide ResNet).
        - `zero_init_residual`: start the last BatchNorm's scale at zero (the block starts as the identity).
        - `axis_name`: the batch axis name(s) of the BatchNorms.
        - `key`: the random key for the weights.
        """
        k1, k2, k3, k4 = split(key, 4)
        width = int(planes * (width_per_group / 64.0)) * groups
        out_channels = planes * self.expansion
        self.conv1 = Conv2d(in_channels, width, 1, key=k1)
        self.bn1 = BatchNorm(width, axis_name=axis_name)
        self.conv2 = Conv2d(width, width, 3, stride, 1, groups=groups, key=k2)
        self.bn2 = BatchNorm(width, axis_name=axis_name)
        self.conv3 = Conv2d(width, out_channels, 1, key=k3)
        self.bn3 = BatchNorm(out_channels, zero_init=zero_init_residual, axis_name=axis_name)
        needs_projection = stride != 1 or in_channels != out_channels
        self.downsample = (
            Downsample(in_channels, out_channels, stride, axis_name=axis_name, key=k4) if needs_projection else None
        )

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
    conv1: Conv2d
    bn1: BatchNorm
    maxpool: MaxPool2d | None
    layer1: tuple[Block, ...]
    layer2: tuple[Block, ...]
    layer3: tuple[Block, ...]
    layer4: tuple[Block, ...]
    fc: eqx.nn.Linear | eqx.nn.Identity
    in_channels: int = eqx.field(static=True)
    stem: Stem = eqx.field(static=True)
    axis_name: Hashable = eqx.field(static=True)

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
        axis_name: Hashable = "batch",
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `block`: `BasicBlock` (ResNet-18/34) or `Bottleneck` (ResNet-50 and deeper).
        - `layers`: the number of blocks in each of the four stages.
        - `num_classes`: the size of the logits; `0` builds the model headless (`fc` is the
          identity, and the model returns its pooled features, 512 or 2048 of them), as timm.
        - `in_channels`: the image's channels (1 for MNIST).
        - `stem`: `"imagenet"` (7x7/2 conv and max-pool) or `"cifar"` (3x3/1 conv, for 32x32 images).
        - `zero_init_residual`: start each block's last BatchNorm scale at zero.
        - `groups`, `width_per_group`: the bottlenecks' 3x3 groups (ResNeXt) and width (Wide ResNet).
        - `axis_name`: the batch axis name(s) every BatchNorm takes its statistics over while
          training: the `vmap` axis, or a tuple such as `("data", "batch")` under `shard_map`.
        - `key`: the random key for the weights.
        """
        if stem not in ("imagenet", "cifar"):
            raise ValueError(f"stem must be 'imagenet' (7x7/2 conv + max-pool) or 'cifar' (3x3/1 conv), got {stem!r}")
        if block is BasicBlock and (groups != 1 or width_per_group != 64):
            raise ValueError("BasicBlock supports only groups=1 and width_per_group=64 (as in torchvision)")
        check_num_classes(num_classes)
        k_stem, k_fc, *k_stages = split(key, 6)
        if stem == "imagenet":
            self.conv1 = Conv2d(in_channels, 64, 7, 2, 3, key=k_stem)
            self.maxpool = MaxPool2d(3, 2, padding=1)
        else:
            self.conv1 = Conv2d(in_channels, 64, 3, 1, 1, key=k_stem)
            self.maxpool = None
        self.bn1 = BatchNorm(64, axis_name=axis_name)
        extra = dict(groups=groups, width_per_group=width_per_group) if block is Bottleneck else {}
        stages, channels = [], 64
        for i, (n_blocks, k) in enumerate(zip(layers, k_stages)):
            planes, stride = 64 * 2**i, 1 if i == 0 else 2
            blocks = []
            for j, kb in enumerate(split(k, n_blocks)):
                first_stride = stride if j == 0 else 1
                blocks.append(
                    block(
                        channels,
                        planes,
                        first_stride,
                        zero_init_residual=zero_init_residual,
                        axis_name=axis_name,
                        key=kb,
                        **extra,
                    )
                )
                channels = planes * block.expansion
            stages.append(tuple(blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.fc = linear(channels, num_classes, key=k_fc) if num_classes else eqx.nn.Identity()
        self.in_channels = in_channels
        self.stem = stem
        self.axis_name = axis_name

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
        """The registered architecture this ResNet is (`models/description.py`), by its blocks,
        stages, groups and width; None for one of your own shape."""
        block = self.layer1[0]
        groups = block.conv2.groups
        width = block.conv1.weight.shape[0] // groups if isinstance(block, Bottleneck) else 64
        layers = tuple(len(getattr(self, f"layer{i}")) for i in range(1, 5))
        name = _ARCHITECTURES.get((type(block), layers, groups, width))
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
        x = jnp.moveaxis(x, 0, -1).astype(self.conv1.weight.dtype)
        x, state = self.bn1(self.conv1(x), state)
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


# Each registered ResNet by (block, blocks per stage, groups, width per group): `ResNet.description`.
_ARCHITECTURES: dict[tuple, str] = {}


# macs: torchvision's published multiply-adds ("GFLOPS" of its weights' meta) of one 224x224 image.
def _resnet(
    builder,
    block: type[BasicBlock] | type[Bottleneck],
    layers: tuple[int, int, int, int],
    *weights: PretrainedWeights,
    groups: int = 1,
    width: int = 64,
    macs: float | None = None,
) -> Description:
    """The description of a ResNet with the ImageNet stem: `conv1`, the head `fc`, 224x224 inputs."""
    _ARCHITECTURES[(block, layers, groups, width)] = builder.__name__
    out = 64 * block.expansion
    features = (FeatureInfo(64, 4, "stem"), *(FeatureInfo(out * 2**i, 4 * 2**i, f"layer{i + 1}") for i in range(4)))
    name = builder.__name__
    return Description(name, with_state(builder), "fc", "conv1", (3, 224, 224), features, weights=weights, macs=macs)


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
        width=4,
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
        width=128,
        macs=11.398e9,
    )
)
