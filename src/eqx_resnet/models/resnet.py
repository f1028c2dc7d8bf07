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
from dataclasses import replace
from typing import ClassVar, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from ._checks import check_image, check_num_classes
from ._random import linear, split
from .avg_pool import AvgPool2d
from .description import TIMM_RESULTS, Description, FeatureInfo, PretrainedWeights, eval_transform
from .layers import Conv2d, MaxPool2d
from .pruned import ECARESNET50D, ECARESNET101D, Table
from .registry import describe, register_model, with_state
from .resnet_blocks import (
    AntiAlias,
    Attention,
    BasicBlock,
    BlurMaxPool,
    Bottleneck,
    ConvPool,
    DeepStem,
    Norm,
    NormLayer,
    norm_layer,
    stem_pool,
)

Stem = Literal["imagenet", "cifar"]
StemType = Literal["", "deep", "deep_tiered"]
GlobalPool = Literal["avg", "max", "avgmax", "catavgmax"]
_POOLS = {
    "avg": lambda x: jnp.mean(x, axis=(1, 2)),
    "max": lambda x: jnp.max(x, axis=(1, 2)),
    "avgmax": lambda x: 0.5 * (jnp.mean(x, axis=(1, 2)) + jnp.max(x, axis=(1, 2))),
    "catavgmax": lambda x: jnp.concatenate([jnp.mean(x, axis=(1, 2)), jnp.max(x, axis=(1, 2))]),
}


Block = BasicBlock | Bottleneck


class ResNet(eqx.Module):
    """A residual network: stem, four stages (`layer1`..`layer4`), global mean, linear head `fc`.

    Stems: `"imagenet"` is a 7x7/2 conv and a 3x3/2 max-pool with PyTorch's symmetric
    padding (`(c, 224, 224) -> (64, 56, 56)`); `"cifar"` is a 3x3/1 conv and no pool,
    for 32x32 inputs (`(c, 32, 32) -> (64, 32, 32)`). `"stem"` also names the stem's
    layers (`conv1`, `bn1`, `maxpool`) in `trainable_filter`; so does `"act1"`, timm's name of
    the stem's map in `feature_info` and `feature_maps`.

    Build one with a named constructor, `ResNet.resnet18(...)` .. `ResNet.wide_resnet50_2(...)`
    (the model alone, for your own module or `eqx.nn.make_with_state`), or with the builders
    `eqx_resnet.resnet18(...)` .. that return `(model, state)`.
    """

    stem_layers: ClassVar[tuple[str, ...]] = ("conv1", "bn1", "maxpool")
    stem_feature: ClassVar[str] = "act1"  # timm's name of the stem's map, in feature_info and freezing
    conv1: Conv2d | DeepStem
    bn1: NormLayer
    maxpool: MaxPool2d | AvgPool2d | BlurMaxPool | ConvPool | None
    layer1: tuple[Block, ...]
    layer2: tuple[Block, ...]
    layer3: tuple[Block, ...]
    layer4: tuple[Block, ...]
    fc: eqx.nn.Linear | eqx.nn.Identity
    in_channels: int = eqx.field(static=True)
    stem: Stem = eqx.field(static=True)
    axis_name: Hashable = eqx.field(static=True)
    architecture: tuple = eqx.field(static=True)  # what makes it one registered architecture (`description`)
    global_pool: GlobalPool = eqx.field(static=True)
    head_drop: eqx.nn.Dropout | None
    grad_checkpointing: bool = eqx.field(static=True)  # static: a checkpoint's leaves stay those of every build

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
        avg_down: bool = False,
        channels: tuple[int, int, int, int] = (64, 128, 256, 512),
        block_widths: Table | None = None,
        attn: Attention | None = None,
        attn_ratio: float = 1 / 16,
        aa: AntiAlias | None = None,
        norm: Norm = "batch",
        drop_path_rate: float = 0.0,
        drop_rate: float = 0.0,
        global_pool: GlobalPool = "avg",
        grad_checkpointing: bool = False,
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
        - `avg_down`: average-pooled 1x1 shortcuts (timm's -d ResNets).
        - `channels`: the four stages' `planes` (a block's output is `planes * block.expansion`).
        - `block_widths`: a pruned network's channels: stage by stage, each bottleneck's three convs'
          output channels (timm's `ecaresnet50d_pruned`, models/pruned.py).
        - `attn`, `attn_ratio`: channel attention in every block, `"se"` (Squeeze-and-Excitation, reducing
          the channels by `attn_ratio`) or `"eca"` (efficient channel attention).
        - `aa`: anti-aliased strides (timm's `aa_layer`): `"avg"` (resnetaa) or `"blur"` (resnetblur).
        - `norm`: `"batch"`, or `"group"` (timm's GroupNorm of 32 groups, resnet50_gn).
        - `drop_path_rate`: stochastic depth, rising linearly from 0 at the first block to this rate at
          the last; training then needs a key (`forward(..., key=key)`).
        - `drop_rate`: dropout of the pooled features before `fc` while training (needs a key).
        - `global_pool`: timm's: `"avg"`, `"max"`, `"avgmax"` (their mean) or `"catavgmax"` (both, twice
          the features).
        - `grad_checkpointing`: recompute each stage in the backward pass instead of storing its
          activations (`eqx.filter_checkpoint`; timm's `set_grad_checkpointing`): less memory, more time.
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
        if replace_stem_pool and aa is not None:
            raise ValueError("replace_stem_pool takes no aa (no timm ResNet has both): choose one")
        _check_block_widths(block_widths, block, layers)
        k_stem, k_fc, *k_stages, k_pool = split(key, 7)
        inplanes = 2 * stem_width if stem_type else 64
        stems = dict(norm=norm, axis_name=axis_name)
        if stem_type:
            first = 3 * (stem_width // 4) if stem_type == "deep_tiered" else stem_width
            self.conv1 = DeepStem(in_channels, (first, stem_width, inplanes), **stems, key=k_stem)
        elif stem == "imagenet":
            self.conv1 = Conv2d(in_channels, 64, 7, 2, 3, key=k_stem)
        else:
            self.conv1 = Conv2d(in_channels, 64, 3, 1, 1, key=k_stem)
        self.bn1 = norm_layer(norm, inplanes, axis_name=axis_name)
        if stem == "cifar":
            self.maxpool = None
        elif replace_stem_pool:
            self.maxpool = ConvPool(inplanes, **stems, key=k_pool)
        else:
            self.maxpool = stem_pool(aa)
        extra = dict(groups=groups, width_per_group=width_per_group) if block is Bottleneck else {}
        extra |= dict(reduce_first=block_reduce_first, down_kernel_size=down_kernel_size, avg_down=avg_down)
        extra |= dict(attn=attn, attn_ratio=attn_ratio, aa=aa, norm=norm)
        total, index = sum(layers), 0
        stages, width = [], inplanes
        for i, (n_blocks, planes, k) in enumerate(zip(layers, channels, k_stages)):
            stride = 1 if i == 0 else 2
            blocks = []
            for j, kb in enumerate(split(k, n_blocks)):
                rate = drop_path_rate * index / max(total - 1, 1)  # timm's linear decay
                pruned = {} if block_widths is None else {"widths": block_widths[i][j]}
                blocks.append(
                    block(
                        width,
                        planes,
                        stride if j == 0 else 1,
                        drop_path=rate,
                        zero_init_residual=zero_init_residual,
                        axis_name=axis_name,
                        key=kb,
                        **extra,
                        **pruned,
                    )
                )
                width, index = pruned.get("widths", (planes * block.expansion,))[-1], index + 1
            stages.append(tuple(blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        if global_pool not in _POOLS:
            raise ValueError(f"global_pool must be one of {', '.join(map(repr, _POOLS))} (timm's), got {global_pool!r}")
        features = width * (2 if global_pool == "catavgmax" else 1)
        self.fc = linear(features, num_classes, key=k_fc) if num_classes else eqx.nn.Identity()
        self.global_pool = global_pool
        self.head_drop = eqx.nn.Dropout(drop_rate) if drop_rate else None
        self.grad_checkpointing = grad_checkpointing
        self.in_channels = in_channels
        self.stem = stem
        self.axis_name = axis_name
        shape = dict(groups=groups, width_per_group=width_per_group, stem_type=stem_type, stem_width=stem_width)
        shape |= dict(replace_stem_pool=replace_stem_pool, block_reduce_first=block_reduce_first, avg_down=avg_down)
        shape |= dict(attn=attn, attn_ratio=attn_ratio, aa=aa, norm=norm, block_widths=block_widths)
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
        """The maps of `feature_info` by its names: `{"act1", "layer1", ..., "layer4"}`, channels first.

        The keys name parts of the model as `trainable_filter` does: `"act1"` (timm's name of the
        stem's activation, before its pool) is the stem, `conv1`, `bn1` and `maxpool`; `"layer1"` the field `layer1`.
        """
        maps, state = self.forward_intermediates(x, state)
        return {f.module: m for f, m in zip(self.feature_info, maps)}, state

    @property
    def feature_info(self) -> tuple[FeatureInfo, ...]:
        """timm's `feature_info`: the stem's activation `act1` (before its pool), then each stage, with
        its channels and reduction of the input's side; what `features_only` models return."""
        reduction = 1 if self.stem == "cifar" else 2
        info = [FeatureInfo(self.bn1.weight.shape[0], reduction, "act1")]
        reduction *= 1 if self.maxpool is None else 2
        for i, name in enumerate(("layer1", "layer2", "layer3", "layer4")):
            reduction *= 1 if i == 0 else 2
            info.append(FeatureInfo(self._width(getattr(self, name)[-1]), reduction, name))
        return tuple(info)

    def forward_intermediates(
        self, x: Float[Array, "c h w"], state: eqx.nn.State, *, key: PRNGKeyArray | None = None
    ) -> tuple[list[Array], eqx.nn.State]:
        """The maps of `feature_info`, channels first, in its order (timm's `forward_intermediates`)."""
        features, state = self._stages(x, state, key)
        return [jnp.moveaxis(features[f.module], -1, 0) for f in self.feature_info], state

    def forward_features(
        self, x: Float[Array, "c h w"], state: eqx.nn.State, *, key: PRNGKeyArray | None = None
    ) -> tuple[Float[Array, "c_out h_out w_out"], eqx.nn.State]:
        """The last stage's map, channels first, before pooling (timm's `forward_features`)."""
        features, state = self._stages(x, state, key)
        return jnp.moveaxis(features["layer4"], -1, 0), state

    def forward_head(
        self, x: Float[Array, "c h w"], *, pre_logits: bool = False, key: PRNGKeyArray | None = None
    ) -> Float[Array, " out"]:
        """`global_pool` of `forward_features`' map, dropout (`drop_rate`, with `key` while training),
        then `fc` (timm's `forward_head`): float32 logits, or with `pre_logits=True` the pooled features."""
        pooled = _POOLS[self.global_pool](x)
        if self.head_drop is not None:
            pooled = self.head_drop(pooled, key=key)
        return (pooled if pre_logits else self.fc(pooled)).astype(jnp.float32)

    def set_grad_checkpointing(self, enable: bool = True) -> "ResNet":
        """This model recomputing each stage in the backward pass (timm's `set_grad_checkpointing`)."""
        model = jax.tree.map(lambda x: x, self)  # a new module of the same leaves
        object.__setattr__(model, "grad_checkpointing", enable)  # a static field, which tree_at cannot set
        return model

    def reset_classifier(self, num_classes: int, *, key: PRNGKeyArray) -> "ResNet":
        """This model with a new head `fc` of `num_classes` (0: none, the pooled features), drawn from
        `key` as a build draws it; timm's `reset_classifier`, returning the new model."""
        check_num_classes(num_classes)
        width = self._width(self.layer4[-1]) * (2 if self.global_pool == "catavgmax" else 1)
        fc = linear(width, num_classes, key=key) if num_classes else eqx.nn.Identity()
        return eqx.tree_at(lambda m: m.fc, self, fc)

    @staticmethod
    def _width(block: BasicBlock | Bottleneck) -> int:
        """A block's output channels."""
        return (block.bn3 if isinstance(block, Bottleneck) else block.bn2).weight.shape[0]

    def _stages(
        self, x: Float[Array, "c h w"], state: eqx.nn.State, key: PRNGKeyArray | None = None
    ) -> tuple[dict[str, Array], eqx.nn.State]:
        """Each stage's output, channels-last as the layers compute it; `key` for drop-path."""
        check_image(x, self.in_channels, type(self).__name__)
        x = jnp.moveaxis(x, 0, -1).astype(self.bn1.weight.dtype)
        x, state = self.conv1(x, state) if isinstance(self.conv1, DeepStem) else (self.conv1(x), state)
        x, state = self.bn1(x, state)
        x = act1 = jax.nn.relu(x)
        if isinstance(self.maxpool, ConvPool):
            x, state = self.maxpool(x, state)
        elif self.maxpool is not None:
            x = self.maxpool(x)
        features = {"act1": act1}
        blocks = [b for name in ("layer1", "layer2", "layer3", "layer4") for b in getattr(self, name)]
        keys = iter([None] * len(blocks) if key is None else jax.random.split(key, len(blocks)))
        for name in ("layer1", "layer2", "layer3", "layer4"):
            stage = getattr(self, name)
            run = eqx.filter_checkpoint(_run_stage) if self.grad_checkpointing else _run_stage
            x, state = run(stage, x, state, [next(keys) for _ in stage])
            features[name] = x
        return features, state

    def __call__(
        self, x: Float[Array, "c h w"], state: eqx.nn.State, *, key: PRNGKeyArray | None = None
    ) -> tuple[Float[Array, " out"], eqx.nn.State]:
        """One image `(c, h, w)` -> `(num_classes,)` float32 logits (headless: the pooled
        features), and the new state.

        Any floating dtype is taken and cast to the parameters' dtype. Training mode needs a
        batch: call it under `eqx_resnet.forward` or `jax.vmap(..., axis_name=model.axis_name)`.
        `key`: needed while training with `drop_path_rate` (one key per example under `vmap`).
        """
        stages_key, head_key = (None, None) if key is None else jax.random.split(key)
        if self.head_drop is None:
            stages_key = key  # as before dropout existed: the same drop-path draws for the same key
        features, state = self.forward_features(x, state, key=stages_key)
        return self.forward_head(features, key=head_key), state


_APACHE, _BSD, _NC = "apache-2.0", "bsd-3-clause", "cc-by-nc-4.0"


def _set(
    top1: float | None, size: int, crop_pct: float, interpolation: str, license: str | None, *, half=False, classes=1000
) -> PretrainedWeights:
    """A published set (its tag comes from its name in `_SETS`); `half`: mean and std 0.5, not ImageNet's."""
    stats = dict(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)) if half else {}
    transform = eval_transform(size, crop_pct, interpolation, **stats)
    source = None if top1 is None else TIMM_RESULTS
    return PretrainedWeights("", top1, transform, license, top1_source=source, num_classes=classes)


# Every published set of timm 1.0.31 for these architectures (its default_cfgs), by timm's name:
# top-1 (None: not published), then its test-time preprocessing (crop side, crop fraction,
# interpolation; mean and std 0.5 where not ImageNet's), licence and classes (11821: ImageNet-12k,
# 0: no classifier).
_SETS = {
    "ecaresnet26t.ra2_in1k": _set(79.900, 320, 0.95, "bicubic", _APACHE),
    "ecaresnet50d.miil_in1k": _set(81.648, 288, 0.95, "bicubic", _APACHE),
    "ecaresnet50d_pruned.miil_in1k": _set(80.808, 288, 0.95, "bicubic", _APACHE),
    "ecaresnet50t.a1_in1k": _set(82.110, 288, 1.0, "bicubic", _APACHE),
    "ecaresnet50t.a2_in1k": _set(81.682, 288, 1.0, "bicubic", _APACHE),
    "ecaresnet50t.a3_in1k": _set(79.548, 224, 0.95, "bicubic", _APACHE),
    "ecaresnet50t.ra2_in1k": _set(82.370, 320, 0.95, "bicubic", _APACHE),
    "ecaresnet101d.miil_in1k": _set(83.006, 288, 0.95, "bicubic", _APACHE),
    "ecaresnet101d_pruned.miil_in1k": _set(82.016, 288, 0.95, "bicubic", _APACHE),
    "ecaresnet269d.ra2_in1k": _set(84.968, 352, 1.0, "bicubic", _APACHE),
    "ecaresnetlight.miil_in1k": _set(81.430, 288, 0.95, "bicubic", _APACHE),
    "resnet10t.c3_in1k": _set(68.354, 224, 0.95, "bicubic", _APACHE),
    "resnet14t.c3_in1k": _set(72.242, 224, 0.95, "bicubic", _APACHE),
    "resnet18.a1_in1k": _set(73.164, 288, 1.0, "bicubic", _APACHE),
    "resnet18.a2_in1k": _set(72.364, 288, 1.0, "bicubic", _APACHE),
    "resnet18.a3_in1k": _set(68.250, 224, 0.95, "bicubic", _APACHE),
    "resnet18.fb_ssl_yfcc100m_ft_in1k": _set(72.636, 224, 0.875, "bilinear", _NC),
    "resnet18.fb_swsl_ig1b_ft_in1k": _set(73.286, 224, 0.875, "bilinear", _NC),
    "resnet18.gluon_in1k": _set(70.844, 224, 0.875, "bicubic", _APACHE),
    "resnet18.tv_in1k": _set(69.752, 224, 0.875, "bilinear", _BSD),
    "resnet18d.ra2_in1k": _set(73.790, 288, 0.95, "bicubic", _APACHE),
    "resnet18d.ra4_e3600_r224_in1k": _set(76.012, 288, 1.0, "bicubic", _APACHE, half=True),
    "resnet26.bt_in1k": _set(76.384, 288, 0.95, "bicubic", _APACHE),
    "resnet26d.bt_in1k": _set(77.422, 288, 0.95, "bicubic", _APACHE),
    "resnet26t.ra2_in1k": _set(78.330, 320, 1.0, "bicubic", _APACHE),
    "resnet34.a1_in1k": _set(77.930, 288, 1.0, "bicubic", _APACHE),
    "resnet34.a2_in1k": _set(77.150, 288, 1.0, "bicubic", _APACHE),
    "resnet34.a3_in1k": _set(72.996, 224, 0.95, "bicubic", _APACHE),
    "resnet34.bt_in1k": _set(76.506, 288, 0.95, "bicubic", _APACHE),
    "resnet34.gluon_in1k": _set(74.574, 224, 0.875, "bicubic", _APACHE),
    "resnet34.ra4_e3600_r224_in1k": _set(78.972, 288, 1.0, "bicubic", _APACHE, half=True),
    "resnet34.tv_in1k": _set(73.298, 224, 0.875, "bilinear", _BSD),
    "resnet34d.ra2_in1k": _set(78.440, 288, 0.95, "bicubic", _APACHE),
    "resnet50.a1_in1k": _set(81.240, 288, 1.0, "bicubic", _APACHE),
    "resnet50.a1h_in1k": _set(80.654, 224, 1.0, "bicubic", _APACHE),
    "resnet50.a2_in1k": _set(80.774, 288, 1.0, "bicubic", _APACHE),
    "resnet50.a3_in1k": _set(78.052, 224, 0.95, "bicubic", _APACHE),
    "resnet50.am_in1k": _set(79.004, 224, 0.875, "bicubic", _APACHE),
    "resnet50.b1k_in1k": _set(80.708, 288, 1.0, "bicubic", _APACHE),
    "resnet50.b2k_in1k": _set(80.466, 288, 1.0, "bicubic", _APACHE),
    "resnet50.bamboo": _set(None, 224, 1.0, "bicubic", None, classes=0),
    "resnet50.bt_in1k": _set(79.652, 288, 0.95, "bicubic", _APACHE),
    "resnet50.c1_in1k": _set(80.928, 288, 1.0, "bicubic", _APACHE),
    "resnet50.c2_in1k": _set(80.862, 288, 1.0, "bicubic", _APACHE),
    "resnet50.d_in1k": _set(81.012, 288, 1.0, "bicubic", _APACHE),
    "resnet50.fb_ssl_yfcc100m_ft_in1k": _set(79.252, 224, 0.875, "bilinear", _NC),
    "resnet50.fb_swsl_ig1b_ft_in1k": _set(81.146, 224, 0.875, "bilinear", _NC),
    "resnet50.gluon_in1k": _set(77.580, 224, 0.875, "bicubic", _APACHE),
    "resnet50.ra_in1k": _set(79.864, 288, 0.95, "bicubic", _APACHE),
    "resnet50.ram_in1k": _set(79.982, 288, 0.95, "bicubic", _APACHE),
    "resnet50.tv2_in1k": _set(80.846, 224, 0.965, "bilinear", _BSD),
    "resnet50.tv_in1k": _set(76.156, 224, 0.875, "bilinear", _BSD),
    "resnet50_gn.a1h_in1k": _set(81.216, 288, 0.95, "bicubic", _APACHE),
    "resnet50c.gluon_in1k": _set(78.016, 224, 0.875, "bicubic", _APACHE),
    "resnet50d.a1_in1k": _set(81.466, 288, 1.0, "bicubic", _APACHE),
    "resnet50d.a2_in1k": _set(81.164, 288, 1.0, "bicubic", _APACHE),
    "resnet50d.a3_in1k": _set(78.742, 224, 0.95, "bicubic", _APACHE),
    "resnet50d.gluon_in1k": _set(79.080, 224, 0.875, "bicubic", _APACHE),
    "resnet50d.ra2_in1k": _set(81.354, 288, 0.95, "bicubic", _APACHE),
    "resnet50d.ra4_e3600_r224_in1k": _set(81.840, 288, 1.0, "bicubic", _APACHE, half=True),
    "resnet50s.gluon_in1k": _set(78.710, 224, 0.875, "bicubic", _APACHE),
    "resnet101.a1_in1k": _set(82.326, 288, 1.0, "bicubic", _APACHE),
    "resnet101.a1h_in1k": _set(82.796, 288, 1.0, "bicubic", _APACHE),
    "resnet101.a2_in1k": _set(82.218, 288, 1.0, "bicubic", _APACHE),
    "resnet101.a3_in1k": _set(79.836, 224, 0.95, "bicubic", _APACHE),
    "resnet101.gluon_in1k": _set(79.306, 224, 0.875, "bicubic", _APACHE),
    "resnet101.tv2_in1k": _set(81.906, 224, 0.965, "bilinear", _BSD),
    "resnet101.tv_in1k": _set(77.404, 224, 0.875, "bilinear", _BSD),
    "resnet101c.gluon_in1k": _set(79.542, 224, 0.875, "bicubic", _APACHE),
    "resnet101d.gluon_in1k": _set(80.466, 224, 0.875, "bicubic", _APACHE),
    "resnet101d.ra2_in1k": _set(83.020, 320, 1.0, "bicubic", _APACHE),
    "resnet101s.gluon_in1k": _set(80.278, 224, 0.875, "bicubic", _APACHE),
    "resnet152.a1_in1k": _set(82.742, 288, 1.0, "bicubic", _APACHE),
    "resnet152.a1h_in1k": _set(83.494, 288, 1.0, "bicubic", _APACHE),
    "resnet152.a2_in1k": _set(82.614, 288, 1.0, "bicubic", _APACHE),
    "resnet152.a3_in1k": _set(80.548, 224, 0.95, "bicubic", _APACHE),
    "resnet152.gluon_in1k": _set(79.712, 224, 0.875, "bicubic", _APACHE),
    "resnet152.tv2_in1k": _set(82.294, 224, 0.965, "bilinear", _BSD),
    "resnet152.tv_in1k": _set(78.330, 224, 0.875, "bilinear", _BSD),
    "resnet152c.gluon_in1k": _set(79.904, 224, 0.875, "bicubic", _APACHE),
    "resnet152d.gluon_in1k": _set(80.476, 224, 0.875, "bicubic", _APACHE),
    "resnet152d.ra2_in1k": _set(83.684, 320, 1.0, "bicubic", _APACHE),
    "resnet152s.gluon_in1k": _set(81.048, 224, 0.875, "bicubic", _APACHE),
    "resnet200d.ra2_in1k": _set(83.976, 320, 1.0, "bicubic", _APACHE),
    "resnetaa50.a1h_in1k": _set(81.618, 288, 1.0, "bicubic", _APACHE),
    "resnetaa50d.d_in12k": _set(None, 288, 1.0, "bicubic", _APACHE, classes=11821),
    "resnetaa50d.sw_in12k": _set(None, 288, 1.0, "bicubic", _APACHE, classes=11821),
    "resnetaa50d.sw_in12k_ft_in1k": _set(82.656, 288, 1.0, "bicubic", _APACHE),
    "resnetaa101d.sw_in12k": _set(None, 288, 1.0, "bicubic", _APACHE, classes=11821),
    "resnetaa101d.sw_in12k_ft_in1k": _set(84.114, 288, 1.0, "bicubic", _APACHE),
    "resnetblur50.bt_in1k": _set(80.248, 288, 0.95, "bicubic", _APACHE),
    "resnetrs50.tf_in1k": _set(79.934, 224, 0.91, "bicubic", _APACHE),
    "resnetrs101.tf_in1k": _set(82.288, 288, 0.94, "bicubic", _APACHE),
    "resnetrs152.tf_in1k": _set(83.710, 320, 1.0, "bicubic", _APACHE),
    "resnetrs200.tf_in1k": _set(84.448, 320, 1.0, "bicubic", _APACHE),
    "resnetrs270.tf_in1k": _set(84.438, 352, 1.0, "bicubic", _APACHE),
    "resnetrs350.tf_in1k": _set(84.710, 384, 1.0, "bicubic", _APACHE),
    "resnetrs420.tf_in1k": _set(85.010, 416, 1.0, "bicubic", _APACHE),
    "resnext50_32x4d.a1_in1k": _set(81.480, 288, 1.0, "bicubic", _APACHE),
    "resnext50_32x4d.a1h_in1k": _set(82.016, 288, 1.0, "bicubic", _APACHE),
    "resnext50_32x4d.a2_in1k": _set(81.304, 288, 1.0, "bicubic", _APACHE),
    "resnext50_32x4d.a3_in1k": _set(79.258, 224, 0.95, "bicubic", _APACHE),
    "resnext50_32x4d.fb_ssl_yfcc100m_ft_in1k": _set(80.316, 224, 0.875, "bilinear", _NC),
    "resnext50_32x4d.fb_swsl_ig1b_ft_in1k": _set(82.162, 224, 0.875, "bilinear", _NC),
    "resnext50_32x4d.gluon_in1k": _set(79.354, 224, 0.875, "bicubic", _APACHE),
    "resnext50_32x4d.ra_in1k": _set(80.720, 288, 0.95, "bicubic", _APACHE),
    "resnext50_32x4d.tv2_in1k": _set(81.190, 224, 0.965, "bilinear", _BSD),
    "resnext50_32x4d.tv_in1k": _set(77.632, 224, 0.875, "bilinear", _BSD),
    "resnext50d_32x4d.bt_in1k": _set(80.676, 288, 0.95, "bicubic", _APACHE),
    "resnext101_32x4d.fb_ssl_yfcc100m_ft_in1k": _set(80.936, 224, 0.875, "bilinear", _NC),
    "resnext101_32x4d.fb_swsl_ig1b_ft_in1k": _set(83.268, 224, 0.875, "bilinear", _NC),
    "resnext101_32x4d.gluon_in1k": _set(80.336, 224, 0.875, "bicubic", _APACHE),
    "resnext101_32x8d.fb_ssl_yfcc100m_ft_in1k": _set(81.620, 224, 0.875, "bilinear", _NC),
    "resnext101_32x8d.fb_swsl_ig1b_ft_in1k": _set(84.276, 224, 0.875, "bilinear", _NC),
    "resnext101_32x8d.fb_wsl_ig1b_ft_in1k": _set(82.720, 224, 0.875, "bilinear", _NC),
    "resnext101_32x8d.tv2_in1k": _set(82.832, 224, 0.965, "bilinear", _BSD),
    "resnext101_32x8d.tv_in1k": _set(79.308, 224, 0.875, "bilinear", _BSD),
    "resnext101_32x16d.fb_ssl_yfcc100m_ft_in1k": _set(81.856, 224, 0.875, "bilinear", _NC),
    "resnext101_32x16d.fb_swsl_ig1b_ft_in1k": _set(83.340, 224, 0.875, "bilinear", _NC),
    "resnext101_32x16d.fb_wsl_ig1b_ft_in1k": _set(84.166, 224, 0.875, "bilinear", _NC),
    "resnext101_32x32d.fb_wsl_ig1b_ft_in1k": _set(85.090, 224, 0.875, "bilinear", _NC),
    "resnext101_64x4d.c1_in1k": _set(83.158, 288, 1.0, "bicubic", _APACHE),
    "resnext101_64x4d.gluon_in1k": _set(80.640, 224, 0.875, "bicubic", _APACHE),
    "resnext101_64x4d.tv_in1k": _set(82.978, 224, 0.875, "bilinear", _BSD),
    "senet154.gluon_in1k": _set(81.258, 224, 0.875, "bicubic", _APACHE),
    "seresnet50.a1_in1k": _set(81.114, 288, 1.0, "bicubic", _APACHE),
    "seresnet50.a2_in1k": _set(81.094, 288, 1.0, "bicubic", _APACHE),
    "seresnet50.a3_in1k": _set(77.036, 224, 0.95, "bicubic", _APACHE),
    "seresnet50.ra2_in1k": _set(81.288, 288, 0.95, "bicubic", _APACHE),
    "seresnet152d.ra2_in1k": _set(84.344, 320, 1.0, "bicubic", _APACHE),
    "seresnext26d_32x4d.bt_in1k": _set(78.816, 288, 0.95, "bicubic", _APACHE),
    "seresnext26t_32x4d.bt_in1k": _set(78.736, 288, 0.95, "bicubic", _APACHE),
    "seresnext50_32x4d.gluon_in1k": _set(79.916, 224, 0.875, "bicubic", _APACHE),
    "seresnext50_32x4d.racm_in1k": _set(82.186, 288, 0.95, "bicubic", _APACHE),
    "seresnext101_32x4d.gluon_in1k": _set(80.886, 224, 0.875, "bicubic", _APACHE),
    "seresnext101_32x8d.ah_in1k": _set(84.192, 288, 1.0, "bicubic", _APACHE),
    "seresnext101_64x4d.gluon_in1k": _set(80.884, 224, 0.875, "bicubic", _APACHE),
    "seresnext101d_32x8d.ah_in1k": _set(84.380, 288, 1.0, "bicubic", _APACHE),
    "seresnextaa101d_32x8d.ah_in1k": _set(84.580, 288, 1.0, "bicubic", _APACHE),
    "seresnextaa101d_32x8d.sw_in12k": _set(None, 288, 1.0, "bicubic", _APACHE, classes=11821),
    "seresnextaa101d_32x8d.sw_in12k_ft_in1k": _set(86.524, 288, 1.0, "bicubic", _APACHE),
    "seresnextaa101d_32x8d.sw_in12k_ft_in1k_288": _set(86.722, 320, 1.0, "bicubic", _APACHE),
    "seresnextaa201d_32x8d.sw_in12k": _set(None, 384, 1.0, "bicubic", _APACHE, classes=11821),
    "seresnextaa201d_32x8d.sw_in12k_ft_in1k_384": _set(87.304, 384, 1.0, "bicubic", _APACHE),
    "wide_resnet50_2.racm_in1k": _set(82.260, 288, 0.95, "bicubic", _APACHE),
    "wide_resnet50_2.tv2_in1k": _set(81.612, 224, 0.965, "bilinear", _BSD),
    "wide_resnet50_2.tv_in1k": _set(78.486, 224, 0.875, "bilinear", _BSD),
    "wide_resnet101_2.tv2_in1k": _set(82.514, 224, 0.965, "bilinear", _BSD),
    "wide_resnet101_2.tv_in1k": _set(78.862, 224, 0.875, "bilinear", _BSD),
}


def _run_stage(stage, x, state, keys):
    """A stage's blocks in turn (one function, so that `eqx.filter_checkpoint` can wrap a stage)."""
    for block, key in zip(stage, keys):
        x, state = block(x, state, key=key)
    return x, state


def _check_block_widths(block_widths: Table | None, block, layers: tuple[int, ...]) -> None:
    """A pruned channel table fits the stages: three widths a bottleneck, a stage's outputs equal."""
    if block_widths is None:
        return
    if block is not Bottleneck:
        raise ValueError("block_widths gives bottlenecks' three widths: use block=Bottleneck, or leave it None")
    if tuple(len(stage) for stage in block_widths) != tuple(layers) or any(
        len(w) != 3 or w[2] != stage[0][2] for stage in block_widths for w in stage
    ):
        raise ValueError(
            f"block_widths must hold, for each of the {len(layers)} stages of layers={tuple(layers)}, one (conv1, "
            "conv2, conv3) width per block, the conv3 widths equal within a stage (see models/pruned.py)"
        )


# The options that make a ResNet one architecture, besides its block and stages.
_SHAPE = (
    "groups",
    "width_per_group",
    "stem_type",
    "stem_width",
    "replace_stem_pool",
    "block_reduce_first",
    "down_kernel_size",
    "avg_down",
    "channels",
    "block_widths",
    "attn",
    "attn_ratio",
    "aa",
    "norm",
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
    *,
    macs: float | None = None,
    **model_args,
) -> Description:
    """The description of a ResNet built by `constructor` (`ResNet(block, layers, **model_args)`):
    the head `fc`, 224x224 inputs."""
    name = constructor.__name__
    _ARCHITECTURES[_architecture(block, layers, **model_args)] = name
    weights = tuple(replace(w, tag=k.split(".", 1)[1]) for k, w in _SETS.items() if k.split(".")[0] == name)
    deep = bool(model_args.get("stem_type"))
    stem = 2 * model_args.get("stem_width", 64) if deep else 64
    outputs = [c * block.expansion for c in model_args.get("channels", (64, 128, 256, 512))]
    if model_args.get("block_widths"):
        outputs = [stage[-1][2] for stage in model_args["block_widths"]]
    stages = (FeatureInfo(c, 4 * 2**i, f"layer{i + 1}") for i, c in enumerate(outputs))
    features = (FeatureInfo(stem, 2, "act1"), *stages)
    first_conv = "conv1.0" if deep else "conv1"
    return Description(
        name, with_state(constructor), "fc", first_conv, (3, 224, 224), features, weights=weights, macs=macs
    )


def _summary(constructor) -> str:
    """The first line of a named constructor's docstring."""
    return inspect.getdoc(constructor).splitlines()[0]


def _timm(name: str, summary: str, block, layers: tuple[int, int, int, int], *, macs=None, **model_args):
    """The description of timm's ResNet `name`: `ResNet(block, layers, **model_args)` (timm's `model_args`)."""
    constructor = _constructor(name, summary, block, layers, **model_args)
    return _resnet(constructor, block, layers, macs=macs, **model_args)


# torchvision's seven and timm's resnet26: builders with every option of `ResNet` (as timm's), beside the
# named constructors `ResNet.resnet18` .. of torchvision's options, for a model inside your own module.
resnet18 = register_model(_timm("resnet18", _summary(ResNet.resnet18), BasicBlock, (2, 2, 2, 2), macs=1.814e9))
resnet34 = register_model(_timm("resnet34", _summary(ResNet.resnet34), BasicBlock, (3, 4, 6, 3), macs=3.664e9))
resnet26 = register_model(_timm("resnet26", _summary(ResNet.resnet26), Bottleneck, (2, 2, 2, 2)))
resnet50 = register_model(_timm("resnet50", _summary(ResNet.resnet50), Bottleneck, (3, 4, 6, 3), macs=4.089e9))
resnet101 = register_model(_timm("resnet101", _summary(ResNet.resnet101), Bottleneck, (3, 4, 23, 3), macs=7.801e9))
resnet152 = register_model(_timm("resnet152", _summary(ResNet.resnet152), Bottleneck, (3, 8, 36, 3), macs=11.514e9))
resnext50_32x4d = register_model(
    _timm(
        "resnext50_32x4d",
        _summary(ResNet.resnext50_32x4d),
        Bottleneck,
        (3, 4, 6, 3),
        groups=32,
        width_per_group=4,
        macs=4.23e9,
    )
)
wide_resnet50_2 = register_model(
    _timm(
        "wide_resnet50_2",
        _summary(ResNet.wide_resnet50_2),
        Bottleneck,
        (3, 4, 6, 3),
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

# The rest of timm's resnet.py (timm 1.0.31's model_args).
ecaresnet26t = register_model(
    _timm(
        "ecaresnet26t",
        "timm's ecaresnet26t: bottlenecks (2, 2, 2, 2), a tiered deep stem, average-pooled shortcuts, efficient channel attention.",
        Bottleneck,
        (2, 2, 2, 2),
        stem_type="deep_tiered",
        stem_width=32,
        avg_down=True,
        attn="eca",
    )
)
# The -d ECA ResNets: a deep stem of width 32, average-pooled shortcuts, efficient channel attention.
_ECA_D = dict(stem_type="deep", stem_width=32, avg_down=True, attn="eca")
ecaresnet50d = register_model(
    _timm(
        "ecaresnet50d",
        "timm's ecaresnet50d: bottlenecks (3, 4, 6, 3), a deep stem of width 32, average-pooled shortcuts, efficient channel attention.",
        Bottleneck,
        (3, 4, 6, 3),
        **_ECA_D,
    )
)
ecaresnet50d_pruned = register_model(
    _timm(
        "ecaresnet50d_pruned",
        "timm's ecaresnet50d_pruned: ecaresnet50d with pruned channels (timm's table, models/pruned.py).",
        Bottleneck,
        (3, 4, 6, 3),
        **_ECA_D,
        block_widths=ECARESNET50D,
    )
)
ecaresnet50t = register_model(
    _timm(
        "ecaresnet50t",
        "timm's ecaresnet50t: bottlenecks (3, 4, 6, 3), a tiered deep stem, average-pooled shortcuts, efficient channel attention.",
        Bottleneck,
        (3, 4, 6, 3),
        stem_type="deep_tiered",
        stem_width=32,
        avg_down=True,
        attn="eca",
    )
)
ecaresnet101d = register_model(
    _timm(
        "ecaresnet101d",
        "timm's ecaresnet101d: bottlenecks (3, 4, 23, 3), a deep stem of width 32, average-pooled shortcuts, efficient channel attention.",
        Bottleneck,
        (3, 4, 23, 3),
        **_ECA_D,
    )
)
ecaresnet101d_pruned = register_model(
    _timm(
        "ecaresnet101d_pruned",
        "timm's ecaresnet101d_pruned: ecaresnet101d with pruned channels (timm's table, models/pruned.py).",
        Bottleneck,
        (3, 4, 23, 3),
        **_ECA_D,
        block_widths=ECARESNET101D,
    )
)
ecaresnet200d = register_model(
    _timm(
        "ecaresnet200d",
        "timm's ecaresnet200d: bottlenecks (3, 24, 36, 3), a deep stem of width 32, average-pooled shortcuts, efficient channel attention.",
        Bottleneck,
        (3, 24, 36, 3),
        stem_type="deep",
        stem_width=32,
        avg_down=True,
        attn="eca",
    )
)
ecaresnet269d = register_model(
    _timm(
        "ecaresnet269d",
        "timm's ecaresnet269d: bottlenecks (3, 30, 48, 8), a deep stem of width 32, average-pooled shortcuts, efficient channel attention.",
        Bottleneck,
        (3, 30, 48, 8),
        stem_type="deep",
        stem_width=32,
        avg_down=True,
        attn="eca",
    )
)
ecaresnetlight = register_model(
    _timm(
        "ecaresnetlight",
        "timm's ecaresnetlight: bottlenecks (1, 1, 11, 3), average-pooled shortcuts, efficient channel attention.",
        Bottleneck,
        (1, 1, 11, 3),
        stem_width=32,
        avg_down=True,
        attn="eca",
    )
)
ecaresnext26t_32x4d = register_model(
    _timm(
        "ecaresnext26t_32x4d",
        "timm's ecaresnext26t_32x4d: bottlenecks (2, 2, 2, 2), a tiered deep stem, average-pooled shortcuts, efficient channel attention, 32 groups of width 4.",
        Bottleneck,
        (2, 2, 2, 2),
        groups=32,
        width_per_group=4,
        stem_type="deep_tiered",
        stem_width=32,
        avg_down=True,
        attn="eca",
    )
)
ecaresnext50t_32x4d = register_model(
    _timm(
        "ecaresnext50t_32x4d",
        "timm's ecaresnext50t_32x4d: bottlenecks (3, 4, 6, 3), a tiered deep stem, average-pooled shortcuts, efficient channel attention, 32 groups of width 4.",
        Bottleneck,
        (3, 4, 6, 3),
        groups=32,
        width_per_group=4,
        stem_type="deep_tiered",
        stem_width=32,
        avg_down=True,
        attn="eca",
    )
)
resnet10t = register_model(
    _timm(
        "resnet10t",
        "timm's resnet10t: basic blocks (1, 1, 1, 1), a tiered deep stem, average-pooled shortcuts.",
        BasicBlock,
        (1, 1, 1, 1),
        stem_type="deep_tiered",
        stem_width=32,
        avg_down=True,
    )
)
resnet14t = register_model(
    _timm(
        "resnet14t",
        "timm's resnet14t: bottlenecks (1, 1, 1, 1), a tiered deep stem, average-pooled shortcuts.",
        Bottleneck,
        (1, 1, 1, 1),
        stem_type="deep_tiered",
        stem_width=32,
        avg_down=True,
    )
)
resnet18d = register_model(
    _timm(
        "resnet18d",
        "timm's resnet18d: basic blocks (2, 2, 2, 2), a deep stem of width 32, average-pooled shortcuts.",
        BasicBlock,
        (2, 2, 2, 2),
        stem_type="deep",
        stem_width=32,
        avg_down=True,
    )
)
resnet26d = register_model(
    _timm(
        "resnet26d",
        "timm's resnet26d: bottlenecks (2, 2, 2, 2), a deep stem of width 32, average-pooled shortcuts.",
        Bottleneck,
        (2, 2, 2, 2),
        stem_type="deep",
        stem_width=32,
        avg_down=True,
    )
)
resnet26t = register_model(
    _timm(
        "resnet26t",
        "timm's resnet26t: bottlenecks (2, 2, 2, 2), a tiered deep stem, average-pooled shortcuts.",
        Bottleneck,
        (2, 2, 2, 2),
        stem_type="deep_tiered",
        stem_width=32,
        avg_down=True,
    )
)
resnet34d = register_model(
    _timm(
        "resnet34d",
        "timm's resnet34d: basic blocks (3, 4, 6, 3), a deep stem of width 32, average-pooled shortcuts.",
        BasicBlock,
        (3, 4, 6, 3),
        stem_type="deep",
        stem_width=32,
        avg_down=True,
    )
)
resnet50_gn = register_model(
    _timm(
        "resnet50_gn",
        "timm's resnet50_gn: bottlenecks (3, 4, 6, 3), GroupNorm.",
        Bottleneck,
        (3, 4, 6, 3),
        norm="group",
    )
)
resnet50d = register_model(
    _timm(
        "resnet50d",
        "timm's resnet50d: bottlenecks (3, 4, 6, 3), a deep stem of width 32, average-pooled shortcuts.",
        Bottleneck,
        (3, 4, 6, 3),
        stem_type="deep",
        stem_width=32,
        avg_down=True,
    )
)
resnet50t = register_model(
    _timm(
        "resnet50t",
        "timm's resnet50t: bottlenecks (3, 4, 6, 3), a tiered deep stem, average-pooled shortcuts.",
        Bottleneck,
        (3, 4, 6, 3),
        stem_type="deep_tiered",
        stem_width=32,
        avg_down=True,
    )
)
resnet101d = register_model(
    _timm(
        "resnet101d",
        "timm's resnet101d: bottlenecks (3, 4, 23, 3), a deep stem of width 32, average-pooled shortcuts.",
        Bottleneck,
        (3, 4, 23, 3),
        stem_type="deep",
        stem_width=32,
        avg_down=True,
    )
)
resnet152d = register_model(
    _timm(
        "resnet152d",
        "timm's resnet152d: bottlenecks (3, 8, 36, 3), a deep stem of width 32, average-pooled shortcuts.",
        Bottleneck,
        (3, 8, 36, 3),
        stem_type="deep",
        stem_width=32,
        avg_down=True,
    )
)
resnet200d = register_model(
    _timm(
        "resnet200d",
        "timm's resnet200d: bottlenecks (3, 24, 36, 3), a deep stem of width 32, average-pooled shortcuts.",
        Bottleneck,
        (3, 24, 36, 3),
        stem_type="deep",
        stem_width=32,
        avg_down=True,
    )
)
resnetaa34d = register_model(
    _timm(
        "resnetaa34d",
        "timm's resnetaa34d: basic blocks (3, 4, 6, 3), a deep stem of width 32, average-pooled shortcuts, average-pool anti-aliasing.",
        BasicBlock,
        (3, 4, 6, 3),
        stem_type="deep",
        stem_width=32,
        avg_down=True,
        aa="avg",
    )
)
resnetaa50 = register_model(
    _timm(
        "resnetaa50",
        "timm's resnetaa50: bottlenecks (3, 4, 6, 3), average-pool anti-aliasing.",
        Bottleneck,
        (3, 4, 6, 3),
        aa="avg",
    )
)
resnetaa50d = register_model(
    _timm(
        "resnetaa50d",
        "timm's resnetaa50d: bottlenecks (3, 4, 6, 3), a deep stem of width 32, average-pooled shortcuts, average-pool anti-aliasing.",
        Bottleneck,
        (3, 4, 6, 3),
        stem_type="deep",
        stem_width=32,
        avg_down=True,
        aa="avg",
    )
)
resnetaa101d = register_model(
    _timm(
        "resnetaa101d",
        "timm's resnetaa101d: bottlenecks (3, 4, 23, 3), a deep stem of width 32, average-pooled shortcuts, average-pool anti-aliasing.",
        Bottleneck,
        (3, 4, 23, 3),
        stem_type="deep",
        stem_width=32,
        avg_down=True,
        aa="avg",
    )
)
resnetblur18 = register_model(
    _timm(
        "resnetblur18",
        "timm's resnetblur18: basic blocks (2, 2, 2, 2), blur-pool anti-aliasing.",
        BasicBlock,
        (2, 2, 2, 2),
        aa="blur",
    )
)
resnetblur50 = register_model(
    _timm(
        "resnetblur50",
        "timm's resnetblur50: bottlenecks (3, 4, 6, 3), blur-pool anti-aliasing.",
        Bottleneck,
        (3, 4, 6, 3),
        aa="blur",
    )
)
resnetblur50d = register_model(
    _timm(
        "resnetblur50d",
        "timm's resnetblur50d: bottlenecks (3, 4, 6, 3), a deep stem of width 32, average-pooled shortcuts, blur-pool anti-aliasing.",
        Bottleneck,
        (3, 4, 6, 3),
        stem_type="deep",
        stem_width=32,
        avg_down=True,
        aa="blur",
    )
)
resnetblur101d = register_model(
    _timm(
        "resnetblur101d",
        "timm's resnetblur101d: bottlenecks (3, 4, 23, 3), a deep stem of width 32, average-pooled shortcuts, blur-pool anti-aliasing.",
        Bottleneck,
        (3, 4, 23, 3),
        stem_type="deep",
        stem_width=32,
        avg_down=True,
        aa="blur",
    )
)
resnetrs50 = register_model(
    _timm(
        "resnetrs50",
        "timm's resnetrs50: bottlenecks (3, 4, 6, 3), a deep stem of width 32, average-pooled shortcuts, Squeeze-and-Excitation at ratio 0.25, a convolution for the stem's pool.",
        Bottleneck,
        (3, 4, 6, 3),
        stem_type="deep",
        stem_width=32,
        replace_stem_pool=True,
        avg_down=True,
        attn="se",
        attn_ratio=0.25,
    )
)
resnetrs101 = register_model(
    _timm(
        "resnetrs101",
        "timm's resnetrs101: bottlenecks (3, 4, 23, 3), a deep stem of width 32, average-pooled shortcuts, Squeeze-and-Excitation at ratio 0.25, a convolution for the stem's pool.",
        Bottleneck,
        (3, 4, 23, 3),
        stem_type="deep",
        stem_width=32,
        replace_stem_pool=True,
        avg_down=True,
        attn="se",
        attn_ratio=0.25,
    )
)
resnetrs152 = register_model(
    _timm(
        "resnetrs152",
        "timm's resnetrs152: bottlenecks (3, 8, 36, 3), a deep stem of width 32, average-pooled shortcuts, Squeeze-and-Excitation at ratio 0.25, a convolution for the stem's pool.",
        Bottleneck,
        (3, 8, 36, 3),
        stem_type="deep",
        stem_width=32,
        replace_stem_pool=True,
        avg_down=True,
        attn="se",
        attn_ratio=0.25,
    )
)
resnetrs200 = register_model(
    _timm(
        "resnetrs200",
        "timm's resnetrs200: bottlenecks (3, 24, 36, 3), a deep stem of width 32, average-pooled shortcuts, Squeeze-and-Excitation at ratio 0.25, a convolution for the stem's pool.",
        Bottleneck,
        (3, 24, 36, 3),
        stem_type="deep",
        stem_width=32,
        replace_stem_pool=True,
        avg_down=True,
        attn="se",
        attn_ratio=0.25,
    )
)
resnetrs270 = register_model(
    _timm(
        "resnetrs270",
        "timm's resnetrs270: bottlenecks (4, 29, 53, 4), a deep stem of width 32, average-pooled shortcuts, Squeeze-and-Excitation at ratio 0.25, a convolution for the stem's pool.",
        Bottleneck,
        (4, 29, 53, 4),
        stem_type="deep",
        stem_width=32,
        replace_stem_pool=True,
        avg_down=True,
        attn="se",
        attn_ratio=0.25,
    )
)
resnetrs350 = register_model(
    _timm(
        "resnetrs350",
        "timm's resnetrs350: bottlenecks (4, 36, 72, 4), a deep stem of width 32, average-pooled shortcuts, Squeeze-and-Excitation at ratio 0.25, a convolution for the stem's pool.",
        Bottleneck,
        (4, 36, 72, 4),
        stem_type="deep",
        stem_width=32,
        replace_stem_pool=True,
        avg_down=True,
        attn="se",
        attn_ratio=0.25,
    )
)
resnetrs420 = register_model(
    _timm(
        "resnetrs420",
        "timm's resnetrs420: bottlenecks (4, 44, 87, 4), a deep stem of width 32, average-pooled shortcuts, Squeeze-and-Excitation at ratio 0.25, a convolution for the stem's pool.",
        Bottleneck,
        (4, 44, 87, 4),
        stem_type="deep",
        stem_width=32,
        replace_stem_pool=True,
        avg_down=True,
        attn="se",
        attn_ratio=0.25,
    )
)
resnext50d_32x4d = register_model(
    _timm(
        "resnext50d_32x4d",
        "timm's resnext50d_32x4d: bottlenecks (3, 4, 6, 3), a deep stem of width 32, average-pooled shortcuts, 32 groups of width 4.",
        Bottleneck,
        (3, 4, 6, 3),
        groups=32,
        width_per_group=4,
        stem_type="deep",
        stem_width=32,
        avg_down=True,
    )
)
senet154 = register_model(
    _timm(
        "senet154",
        "timm's senet154: bottlenecks (3, 8, 36, 3), a deep stem of width 64, Squeeze-and-Excitation, 64 groups of width 4, halved first convs and 3x3 shortcuts.",
        Bottleneck,
        (3, 8, 36, 3),
        groups=64,
        width_per_group=4,
        stem_type="deep",
        block_reduce_first=2,
        down_kernel_size=3,
        attn="se",
    )
)
seresnet18 = register_model(
    _timm(
        "seresnet18",
        "timm's seresnet18: basic blocks (2, 2, 2, 2), Squeeze-and-Excitation.",
        BasicBlock,
        (2, 2, 2, 2),
        attn="se",
    )
)
seresnet34 = register_model(
    _timm(
        "seresnet34",
        "timm's seresnet34: basic blocks (3, 4, 6, 3), Squeeze-and-Excitation.",
        BasicBlock,
        (3, 4, 6, 3),
        attn="se",
    )
)
seresnet50 = register_model(
    _timm(
        "seresnet50",
        "timm's seresnet50: bottlenecks (3, 4, 6, 3), Squeeze-and-Excitation.",
        Bottleneck,
        (3, 4, 6, 3),
        attn="se",
    )
)
seresnet50t = register_model(
    _timm(
        "seresnet50t",
        "timm's seresnet50t: bottlenecks (3, 4, 6, 3), a tiered deep stem, average-pooled shortcuts, Squeeze-and-Excitation.",
        Bottleneck,
        (3, 4, 6, 3),
        stem_type="deep_tiered",
        stem_width=32,
        avg_down=True,
        attn="se",
    )
)
seresnet101 = register_model(
    _timm(
        "seresnet101",
        "timm's seresnet101: bottlenecks (3, 4, 23, 3), Squeeze-and-Excitation.",
        Bottleneck,
        (3, 4, 23, 3),
        attn="se",
    )
)
seresnet152 = register_model(
    _timm(
        "seresnet152",
        "timm's seresnet152: bottlenecks (3, 8, 36, 3), Squeeze-and-Excitation.",
        Bottleneck,
        (3, 8, 36, 3),
        attn="se",
    )
)
seresnet152d = register_model(
    _timm(
        "seresnet152d",
        "timm's seresnet152d: bottlenecks (3, 8, 36, 3), a deep stem of width 32, average-pooled shortcuts, Squeeze-and-Excitation.",
        Bottleneck,
        (3, 8, 36, 3),
        stem_type="deep",
        stem_width=32,
        avg_down=True,
        attn="se",
    )
)
seresnet200d = register_model(
    _timm(
        "seresnet200d",
        "timm's seresnet200d: bottlenecks (3, 24, 36, 3), a deep stem of width 32, average-pooled shortcuts, Squeeze-and-Excitation.",
        Bottleneck,
        (3, 24, 36, 3),
        stem_type="deep",
        stem_width=32,
        avg_down=True,
        attn="se",
    )
)
seresnet269d = register_model(
    _timm(
        "seresnet269d",
        "timm's seresnet269d: bottlenecks (3, 30, 48, 8), a deep stem of width 32, average-pooled shortcuts, Squeeze-and-Excitation.",
        Bottleneck,
        (3, 30, 48, 8),
        stem_type="deep",
        stem_width=32,
        avg_down=True,
        attn="se",
    )
)
seresnetaa50d = register_model(
    _timm(
        "seresnetaa50d",
        "timm's seresnetaa50d: bottlenecks (3, 4, 6, 3), a deep stem of width 32, average-pooled shortcuts, Squeeze-and-Excitation, average-pool anti-aliasing.",
        Bottleneck,
        (3, 4, 6, 3),
        stem_type="deep",
        stem_width=32,
        avg_down=True,
        attn="se",
        aa="avg",
    )
)
seresnext26d_32x4d = register_model(
    _timm(
        "seresnext26d_32x4d",
        "timm's seresnext26d_32x4d: bottlenecks (2, 2, 2, 2), a deep stem of width 32, average-pooled shortcuts, Squeeze-and-Excitation, 32 groups of width 4.",
        Bottleneck,
        (2, 2, 2, 2),
        groups=32,
        width_per_group=4,
        stem_type="deep",
        stem_width=32,
        avg_down=True,
        attn="se",
    )
)
seresnext26t_32x4d = register_model(
    _timm(
        "seresnext26t_32x4d",
        "timm's seresnext26t_32x4d: bottlenecks (2, 2, 2, 2), a tiered deep stem, average-pooled shortcuts, Squeeze-and-Excitation, 32 groups of width 4.",
        Bottleneck,
        (2, 2, 2, 2),
        groups=32,
        width_per_group=4,
        stem_type="deep_tiered",
        stem_width=32,
        avg_down=True,
        attn="se",
    )
)
seresnext50_32x4d = register_model(
    _timm(
        "seresnext50_32x4d",
        "timm's seresnext50_32x4d: bottlenecks (3, 4, 6, 3), Squeeze-and-Excitation, 32 groups of width 4.",
        Bottleneck,
        (3, 4, 6, 3),
        groups=32,
        width_per_group=4,
        attn="se",
    )
)
seresnext101_32x4d = register_model(
    _timm(
        "seresnext101_32x4d",
        "timm's seresnext101_32x4d: bottlenecks (3, 4, 23, 3), Squeeze-and-Excitation, 32 groups of width 4.",
        Bottleneck,
        (3, 4, 23, 3),
        groups=32,
        width_per_group=4,
        attn="se",
    )
)
seresnext101_32x8d = register_model(
    _timm(
        "seresnext101_32x8d",
        "timm's seresnext101_32x8d: bottlenecks (3, 4, 23, 3), Squeeze-and-Excitation, 32 groups of width 8.",
        Bottleneck,
        (3, 4, 23, 3),
        groups=32,
        width_per_group=8,
        attn="se",
    )
)
seresnext101_64x4d = register_model(
    _timm(
        "seresnext101_64x4d",
        "timm's seresnext101_64x4d: bottlenecks (3, 4, 23, 3), Squeeze-and-Excitation, 64 groups of width 4.",
        Bottleneck,
        (3, 4, 23, 3),
        groups=64,
        width_per_group=4,
        attn="se",
    )
)
seresnext101d_32x8d = register_model(
    _timm(
        "seresnext101d_32x8d",
        "timm's seresnext101d_32x8d: bottlenecks (3, 4, 23, 3), a deep stem of width 32, average-pooled shortcuts, Squeeze-and-Excitation, 32 groups of width 8.",
        Bottleneck,
        (3, 4, 23, 3),
        groups=32,
        width_per_group=8,
        stem_type="deep",
        stem_width=32,
        avg_down=True,
        attn="se",
    )
)
seresnextaa101d_32x8d = register_model(
    _timm(
        "seresnextaa101d_32x8d",
        "timm's seresnextaa101d_32x8d: bottlenecks (3, 4, 23, 3), a deep stem of width 32, average-pooled shortcuts, Squeeze-and-Excitation, average-pool anti-aliasing, 32 groups of width 8.",
        Bottleneck,
        (3, 4, 23, 3),
        groups=32,
        width_per_group=8,
        stem_type="deep",
        stem_width=32,
        avg_down=True,
        attn="se",
        aa="avg",
    )
)
seresnextaa201d_32x8d = register_model(
    _timm(
        "seresnextaa201d_32x8d",
        "timm's seresnextaa201d_32x8d: bottlenecks (3, 24, 36, 4), a deep stem of width 64, average-pooled shortcuts, Squeeze-and-Excitation, average-pool anti-aliasing, 32 groups of width 8.",
        Bottleneck,
        (3, 24, 36, 4),
        groups=32,
        width_per_group=8,
        stem_type="deep",
        stem_width=64,
        avg_down=True,
        attn="se",
        aa="avg",
    )
)
