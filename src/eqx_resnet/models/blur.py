"""Anti-aliased downsampling ("Making Convolutional Networks Shift-Invariant Again"): a blur before
the stride, timm's `BlurPool2d` (resnetblur*), and `create_aa`, the layer a block strides with when it
is anti-aliased (a blur, or resnetaa*'s average pool).
"""

from math import comb

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Float

from ._checks import check_example
from .avg_pool import AvgPool2d

AA_LAYERS = ("avg", "blur", "blurpc")  # timm's shorthands: AvgPool2d, BlurPool2d, BlurPool2d(pad_mode="constant")


class BlurPool2d(eqx.Module):
    """A binomial blur of each channel, then a stride: `(h, w, c) -> (h/s, w/s, c)`, timm's `BlurPool2d`.

    The filter is the outer product of binomial coefficients, normalised to sum to 1, a constant
    of `filt_size` (timm's non-persistent buffer): no parameters, nothing in the state dict.
    """

    filt_size: int = eqx.field(static=True)
    stride: int = eqx.field(static=True)
    pad_mode: str = eqx.field(static=True)

    def __init__(self, filt_size: int = 3, stride: int = 2, pad_mode: str = "reflect"):
        """**Arguments:**

        - `filt_size`: the side of the binomial filter (timm: 3, or 5), at least 2.
        - `stride`: the step of the blurred samples.
        - `pad_mode`: how the borders are padded: `"reflect"` (timm's default) or `"constant"` (zeros).
        """
        if filt_size < 2:
            raise ValueError(f"filt_size={filt_size} must be at least 2: a blur of one pixel is no blur")
        if pad_mode not in ("reflect", "constant"):
            raise ValueError(f"pad_mode={pad_mode!r} must be 'reflect' or 'constant'")
        self.filt_size = filt_size
        self.stride = stride
        self.pad_mode = pad_mode

    def __call__(self, x: Float[Array, "h w c"]) -> Float[Array, "h_out w_out c"]:
        """One channels-last example `(h, w, c)` -> the blurred, strided example."""
        check_example(x, "BlurPool2d")
        k, channels = self.filt_size, x.shape[-1]
        p = (self.stride - 1 + k - 1) // 2  # timm's get_padding(filt_size, stride)
        coefficients = np.array([comb(k - 1, i) for i in range(k)]) / 2 ** (k - 1)
        blur = np.broadcast_to(np.outer(coefficients, coefficients)[:, :, None, None], (k, k, 1, channels))
        padded = jnp.pad(x, ((p, p), (p, p), (0, 0)), mode=self.pad_mode)
        return lax.conv_general_dilated(
            padded[None],
            jnp.asarray(blur, x.dtype),
            window_strides=(self.stride, self.stride),
            padding="VALID",
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
            feature_group_count=channels,
        )[0]


def create_aa(aa_layer: str | None, stride: int = 2, enable: bool = True) -> AvgPool2d | BlurPool2d | eqx.nn.Identity:
    """The anti-aliasing layer a block strides with, timm's `create_aa(aa_layer, channels, stride, enable)`:

    - `"avg"` (timm's `nn.AvgPool2d`, resnetaa*): `AvgPool2d(stride)`, a `stride`-wide window at stride `stride`;
    - `"blur"` (timm's `BlurPool2d`, resnetblur*): `BlurPool2d(stride=stride)`, a 3x3 blur with reflected borders;
    - `"blurpc"`: the blur with zero-padded borders;
    - `None`, or `enable=False`: the identity.
    """
    if aa_layer is not None and aa_layer not in AA_LAYERS:
        raise ValueError(f"aa_layer={aa_layer!r} is not an anti-aliasing layer: use one of {AA_LAYERS}, or None")
    if aa_layer is None or not enable:
        return eqx.nn.Identity()
    if aa_layer == "avg":
        return AvgPool2d(stride)
    return BlurPool2d(stride=stride, pad_mode="reflect" if aa_layer == "blur" else "constant")
