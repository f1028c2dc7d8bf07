"""The parts a ResNet is made of, as timm's resnet.py builds them: stems, shortcuts and the two blocks.

Every part works on one channels-last example `(h, w, c)` and passes the BatchNorm state along,
like the layers (models/layers.py). A part's state-dict names are timm's (and torchvision's):
where a field cannot carry the torch name, its class declares `state_dict_names`.

The blocks take timm's options: `attn` (`"se"`: Squeeze-and-Excitation, `"eca"`: efficient
channel attention, after the last BatchNorm, named `se`), `aa` (anti-aliasing: the strided
conv runs at stride 1 and `"avg"` or `"blur"` pools after it), `avg_down` (an average-pooled
1x1 shortcut), `norm` (`"batch"` or `"group"`: timm's GroupNorm of 32 groups) and `drop_path`
(stochastic depth: a key per example while training).
"""

from collections.abc import Hashable
from typing import ClassVar, Literal

import equinox as eqx
import jax
from jaxtyping import Array, Float, PRNGKeyArray

from ._random import split
from .attention import EfficientChannelAttention, SqueezeExcite
from .avg_pool import AvgPool2d
from .blur import BlurPool2d, create_aa
from .drop_path import DropPath
from .group_norm import GroupNorm
from .layers import BatchNorm, Conv2d, MaxPool2d

Attention = Literal["se", "eca"]
AntiAlias = Literal["avg", "blur"]
Norm = Literal["batch", "group"]
NormLayer = BatchNorm | GroupNorm


def norm_layer(kind: Norm, channels: int, *, axis_name: Hashable, zero_init: bool = False) -> NormLayer:
    """BatchNorm, or for `kind="group"` timm's GroupNorm of 32 groups (resnet50_gn)."""
    if kind == "batch":
        return BatchNorm(channels, axis_name=axis_name, zero_init=zero_init)
    if kind == "group":
        return GroupNorm(channels, 32, zero_init=zero_init)
    raise ValueError(f"norm must be 'batch' or 'group' (timm's GroupNorm of 32 groups), got {kind!r}")


def attention(kind: Attention | None, channels: int, ratio: float, *, unpruned: int, key: PRNGKeyArray):
    """The block's channel attention `se`: None, Squeeze-and-Excitation or ECA (its kernel sized by the
    `unpruned` channels, as timm sizes a pruned network's)."""
    if kind is None:
        return None
    if kind == "se":
        return SqueezeExcite(channels, ratio, key=key)
    if kind == "eca":
        return EfficientChannelAttention(channels, kernel_channels=unpruned, key=key)
    raise ValueError(
        f"attn must be None, 'se' (Squeeze-and-Excitation) or 'eca' (efficient channel attention), got {kind!r}"
    )


class Downsample(eqx.Module):
    """Projection shortcut: a strided conv (1x1; 3x3 in SENet-154), then its norm.
    `(h, w, c_in) -> (h/s, w/s, c_out)`."""

    state_dict_names: ClassVar[dict[str, str]] = {"conv": "0", "bn": "1"}  # torchvision's nn.Sequential
    conv: Conv2d
    bn: NormLayer

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        *,
        kernel_size: int = 1,
        norm: Norm = "batch",
        axis_name: Hashable = "batch",
        key: PRNGKeyArray,
    ):
        kernel_size = 1 if stride == 1 else kernel_size  # as timm's downsample_conv
        padding = ((stride - 1) + (kernel_size - 1)) // 2
        self.conv = Conv2d(in_channels, out_channels, kernel_size, stride, padding, key=key)
        self.bn = norm_layer(norm, out_channels, axis_name=axis_name)

    def __call__(
        self, x: Float[Array, "h w c_in"], state: eqx.nn.State
    ) -> tuple[Float[Array, "h_out w_out c_out"], eqx.nn.State]:
        return self.bn(self.conv(x), state)


class AvgDownsample(eqx.Module):
    """timm's average-pooled shortcut (`avg_down`, the -d ResNets): a 2x2 average pool of the stride
    (ceil mode, padding not counted), a 1x1 conv, its norm. `(h, w, c_in) -> (h/s, w/s, c_out)`."""

    state_dict_names: ClassVar[dict[str, str]] = {"conv": "1", "bn": "2"}  # nn.Sequential(pool, conv, norm)
    pool: AvgPool2d | None
    conv: Conv2d
    bn: NormLayer

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        *,
        norm: Norm = "batch",
        axis_name: Hashable = "batch",
        key: PRNGKeyArray,
    ):
        self.pool = None if stride == 1 else AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False)
        self.conv = Conv2d(in_channels, out_channels, 1, key=key)
        self.bn = norm_layer(norm, out_channels, axis_name=axis_name)

    def __call__(
        self, x: Float[Array, "h w c_in"], state: eqx.nn.State
    ) -> tuple[Float[Array, "h_out w_out c_out"], eqx.nn.State]:
        if self.pool is not None:
            x = self.pool(x)
        return self.bn(self.conv(x), state)


Shortcut = Downsample | AvgDownsample


def shortcut(in_channels, out_channels, stride, *, avg_down, kernel_size, norm, axis_name, key) -> Shortcut | None:
    """The projection a block needs when its stride or channels change, else None (the identity)."""
    if stride == 1 and in_channels == out_channels:
        return None
    if avg_down:
        return AvgDownsample(in_channels, out_channels, stride, norm=norm, axis_name=axis_name, key=key)
    options = dict(kernel_size=kernel_size, norm=norm, axis_name=axis_name, key=key)
    return Downsample(in_channels, out_channels, stride, **options)


class DeepStem(eqx.Module):
    """timm's deep stem, the `conv1` of its -c, -d, -s and -t ResNets: three 3x3 convs, the first of
    stride 2, with norm and ReLU between them. `(h, w, c_in) -> (h/2, w/2, out_channels)`."""

    state_dict_names: ClassVar[dict[str, str]] = {"conv_a": "0", "bn_a": "1", "conv_b": "3", "bn_b": "4", "conv_c": "6"}
    conv_a: Conv2d
    bn_a: NormLayer
    conv_b: Conv2d
    bn_b: NormLayer
    conv_c: Conv2d

    def __init__(
        self,
        in_channels: int,
        widths: tuple[int, int, int],
        *,
        norm: Norm = "batch",
        axis_name: Hashable = "batch",
        key: PRNGKeyArray,
    ):
        """`widths`: the three convs' output channels, e.g. `(32, 32, 64)` (stem_width 32, "deep")."""
        ka, kb, kc = split(key, 3)
        self.conv_a = Conv2d(in_channels, widths[0], 3, 2, 1, key=ka)
        self.bn_a = norm_layer(norm, widths[0], axis_name=axis_name)
        self.conv_b = Conv2d(widths[0], widths[1], 3, 1, 1, key=kb)
        self.bn_b = norm_layer(norm, widths[1], axis_name=axis_name)
        self.conv_c = Conv2d(widths[1], widths[2], 3, 1, 1, key=kc)

    def __call__(
        self, x: Float[Array, "h w c_in"], state: eqx.nn.State
    ) -> tuple[Float[Array, "h_out w_out c_out"], eqx.nn.State]:
        x, state = self.bn_a(self.conv_a(x), state)
        x, state = self.bn_b(self.conv_b(jax.nn.relu(x)), state)
        return self.conv_c(jax.nn.relu(x)), state


class ConvPool(eqx.Module):
    """ResNet-RS's stem pooling, a strided 3x3 conv and its norm in place of the max-pool (then ReLU)."""

    state_dict_names: ClassVar[dict[str, str]] = {"conv": "0", "bn": "1"}  # timm's nn.Sequential
    conv: Conv2d
    bn: NormLayer

    def __init__(self, channels: int, *, norm: Norm = "batch", axis_name: Hashable = "batch", key: PRNGKeyArray):
        self.conv = Conv2d(channels, channels, 3, 2, 1, key=key)
        self.bn = norm_layer(norm, channels, axis_name=axis_name)

    def __call__(
        self, x: Float[Array, "h w c"], state: eqx.nn.State
    ) -> tuple[Float[Array, "h_out w_out c"], eqx.nn.State]:
        x, state = self.bn(self.conv(x), state)
        return jax.nn.relu(x), state


class BlurMaxPool(eqx.Module):
    """The stem pooling of timm's resnetblur: a 3x3 max-pool at stride 1, then a stride-2 blur."""

    max: MaxPool2d
    blur: BlurPool2d

    def __init__(self):
        self.max = MaxPool2d(3, 1, padding=1)
        self.blur = BlurPool2d(stride=2)

    def __call__(self, x: Float[Array, "h w c"]) -> Float[Array, "h_out w_out c"]:
        return self.blur(self.max(x))


def stem_pool(aa: AntiAlias | None) -> MaxPool2d | AvgPool2d | BlurMaxPool:
    """The stem's pooling: a 3x3/2 max-pool; anti-aliased, a 2x2 average pool or a max-pool then a blur."""
    if aa is None:
        return MaxPool2d(3, 2, padding=1)
    return AvgPool2d(2) if aa == "avg" else BlurMaxPool()


class BasicBlock(eqx.Module):
    """Two 3x3 convs and a shortcut (ResNet-18/34). `(h, w, c_in) -> (h/s, w/s, planes)`, channels-last."""

    expansion: ClassVar[int] = 1
    conv1: Conv2d
    bn1: NormLayer
    aa: AvgPool2d | BlurPool2d | eqx.nn.Identity | None
    conv2: Conv2d
    bn2: NormLayer
    se: SqueezeExcite | EfficientChannelAttention | None
    downsample: Shortcut | None
    drop_path: DropPath | None

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int = 1,
        *,
        reduce_first: int = 1,
        down_kernel_size: int = 1,
        avg_down: bool = False,
        attn: Attention | None = None,
        attn_ratio: float = 1 / 16,
        aa: AntiAlias | None = None,
        norm: Norm = "batch",
        drop_path: float = 0.0,
        zero_init_residual: bool = False,
        axis_name: Hashable = "batch",
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `in_channels`: the input's channels.
        - `planes`: the output's channels.
        - `stride`: of the first conv and the shortcut (2 halves the size).
        - `reduce_first`: the first conv has `planes / reduce_first` channels (timm's `block_reduce_first`).
        - `down_kernel_size`, `avg_down`: the shortcut's strided conv kernel, or an average-pooled 1x1 conv.
        - `attn`, `attn_ratio`: channel attention after the last norm (`"se"`, `"eca"`), SE's reduction.
        - `aa`: anti-aliased stride: the conv at stride 1, then an `"avg"` or `"blur"` pool of the stride.
        - `norm`: `"batch"` or `"group"`.
        - `drop_path`: the probability of dropping the residual branch of an example while training.
        - `zero_init_residual`: start the last norm's scale at zero (the block starts as the identity).
        - `axis_name`: the batch axis name(s) of the BatchNorms.
        - `key`: the random key for the weights.
        """
        k1, k2, k3, k4 = split(key, 4)
        first = planes // reduce_first
        use_aa = aa is not None and stride == 2
        self.conv1 = Conv2d(in_channels, first, 3, 1 if use_aa else stride, 1, key=k1)
        self.bn1 = norm_layer(norm, first, axis_name=axis_name)
        self.aa = create_aa(aa, stride) if use_aa else None
        self.conv2 = Conv2d(first, planes, 3, 1, 1, key=k2)
        self.bn2 = norm_layer(norm, planes, axis_name=axis_name, zero_init=zero_init_residual)
        self.se = attention(attn, planes, attn_ratio, unpruned=planes, key=k4)
        projection = dict(avg_down=avg_down, kernel_size=down_kernel_size, norm=norm, axis_name=axis_name, key=k3)
        self.downsample = shortcut(in_channels, planes, stride, **projection)
        self.drop_path = DropPath(drop_path) if drop_path else None

    def __call__(
        self, x: Float[Array, "h w c_in"], state: eqx.nn.State, *, key: PRNGKeyArray | None = None
    ) -> tuple[Float[Array, "h_out w_out c_out"], eqx.nn.State]:
        y, state = self.bn1(self.conv1(x), state)
        y = jax.nn.relu(y)
        if self.aa is not None:
            y = self.aa(y)
        y, state = self.bn2(self.conv2(y), state)
        return _residual(self, x, y, state, key)


class Bottleneck(eqx.Module):
    """1x1 reduce, 3x3 (grouped, strided), 1x1 expand x4 (ResNet-50+, ResNeXt, Wide ResNet).

    `(h, w, c_in) -> (h/s, w/s, 4 * planes)`, channels-last; the 3x3 conv has
    `width = planes * width_per_group / 64 * groups` channels.
    """

    expansion: ClassVar[int] = 4
    conv1: Conv2d
    bn1: NormLayer
    conv2: Conv2d
    bn2: NormLayer
    aa: AvgPool2d | BlurPool2d | eqx.nn.Identity | None
    conv3: Conv2d
    bn3: NormLayer
    se: SqueezeExcite | EfficientChannelAttention | None
    downsample: Shortcut | None
    drop_path: DropPath | None

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
        avg_down: bool = False,
        attn: Attention | None = None,
        attn_ratio: float = 1 / 16,
        aa: AntiAlias | None = None,
        norm: Norm = "batch",
        drop_path: float = 0.0,
        zero_init_residual: bool = False,
        widths: tuple[int, int, int] | None = None,
        axis_name: Hashable = "batch",
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `in_channels`: the input's channels.
        - `planes`: a quarter of the output's channels.
        - `stride`: of the 3x3 conv and the shortcut (2 halves the size).
        - `groups`, `width_per_group`: the 3x3 conv's groups and their width at `planes=64` (ResNeXt, Wide ResNet).
        - `reduce_first`: the first 1x1 conv has `width / reduce_first` channels (timm's `block_reduce_first`).
        - `widths`: the three convs' output channels, in place of those the options above give: a
          pruned network's (models/pruned.py).
        - The others as `BasicBlock`'s.
        """
        k1, k2, k3, k4, k5 = split(key, 5)
        width = int(planes * (width_per_group / 64.0)) * groups
        first = width // reduce_first
        out_channels = planes * self.expansion
        if widths is not None:
            first, width, out_channels = widths
        use_aa = aa is not None and stride == 2
        self.conv1 = Conv2d(in_channels, first, 1, key=k1)
        self.bn1 = norm_layer(norm, first, axis_name=axis_name)
        self.conv2 = Conv2d(first, width, 3, 1 if use_aa else stride, 1, groups=groups, key=k2)
        self.bn2 = norm_layer(norm, width, axis_name=axis_name)
        self.aa = create_aa(aa, stride) if use_aa else None
        self.conv3 = Conv2d(width, out_channels, 1, key=k3)
        self.bn3 = norm_layer(norm, out_channels, axis_name=axis_name, zero_init=zero_init_residual)
        self.se = attention(attn, out_channels, attn_ratio, unpruned=planes * self.expansion, key=k5)
        projection = dict(avg_down=avg_down, kernel_size=down_kernel_size, norm=norm, axis_name=axis_name, key=k4)
        self.downsample = shortcut(in_channels, out_channels, stride, **projection)
        self.drop_path = DropPath(drop_path) if drop_path else None

    def __call__(
        self, x: Float[Array, "h w c_in"], state: eqx.nn.State, *, key: PRNGKeyArray | None = None
    ) -> tuple[Float[Array, "h_out w_out c_out"], eqx.nn.State]:
        y, state = self.bn1(self.conv1(x), state)
        y, state = self.bn2(self.conv2(jax.nn.relu(y)), state)
        y = jax.nn.relu(y)
        if self.aa is not None:
            y = self.aa(y)
        y, state = self.bn3(self.conv3(y), state)
        return _residual(self, x, y, state, key)


def _residual(block: BasicBlock | Bottleneck, x, y, state: eqx.nn.State, key) -> tuple[Array, eqx.nn.State]:
    """A block's end: attention on the branch `y`, drop-path, the shortcut of `x`, their sum, ReLU."""
    if block.se is not None:
        y = block.se(y)
    if block.drop_path is not None:
        y = block.drop_path(y, key=key)
    if block.downsample is not None:
        x, state = block.downsample(x, state)
    return jax.nn.relu(y + x), state
