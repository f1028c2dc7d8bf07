"""The convolution used by every model, with a faster weight gradient on CPU.

XLA's CPU backend computes the forward convolution and the input gradient at
60-150 GFLOP/s on a 2-core AVX2 machine, but the *weight* gradient (a
convolution contracting over the batch) at about 5 GFLOP/s: it dominates a
training step. Here the weight gradient is rewritten as one matrix product per
kernel tap, which XLA runs as an ordinary dot. The function is unchanged (same
values, same gradients to float32 rounding); only the CPU lowering differs, and
other platforms keep XLA's own convolution gradient (cuDNN on GPU).
"""

import functools

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Float

_DIMENSIONS = ("NCHW", "OIHW", "NCHW")


def _conv(x, w, stride: int, padding: int, groups: int):
    y = lax.conv_general_dilated(
        x[None],
        w,
        window_strides=(stride, stride),
        padding=((padding, padding), (padding, padding)),
        dimension_numbers=_DIMENSIONS,
        feature_group_count=groups,
    )
    return y[0]


def _conv_by_taps(x, w, stride: int, padding: int, groups: int):
    """The same convolution as a sum of one product per kernel tap: linear in `w`.

    Under `vmap` each product becomes a single dot over the batch, and its
    transpose (the weight gradient) a single dot contracting batch and space.
    """
    c_out, c_in_g, kh, kw = w.shape
    xp = jnp.pad(x, ((0, 0), (padding, padding), (padding, padding)))
    h_out = (xp.shape[1] - kh) // stride + 1
    w_out = (xp.shape[2] - kw) // stride + 1
    xg = xp.reshape(groups, c_in_g, *xp.shape[1:])
    wg = w.reshape(groups, c_out // groups, c_in_g, kh, kw)
    out = 0
    for i in range(kh):
        for j in range(kw):
            tap = xg[:, :, i : i + stride * (h_out - 1) + 1 : stride, j : j + stride * (w_out - 1) + 1 : stride]
            out = out + jnp.einsum("gchw,goc->gohw", tap, wg[..., i, j])
    return out.reshape(c_out, h_out, w_out)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4))
def conv2d(
    x: Float[Array, "c_in h w"], w: Float[Array, "c_out c_in_per_group kh kw"], stride: int, padding: int, groups: int
) -> Float[Array, "c_out h_out w_out"]:
    """2-D cross-correlation of one example with symmetric zero padding.

    `(c_in, h, w) -> (c_out, (h + 2p - kh) // s + 1, (w + 2p - kw) // s + 1)`.
    """
    return _conv(x, w, stride, padding, groups)


def _conv2d_jvp(stride, padding, groups, primals, tangents):
    x, w = primals
    x_dot, w_dot = tangents
    y = _conv(x, w, stride, padding, groups)
    # Symbolic zeros: the stem's input (data) and frozen weights cost nothing.
    dy = jnp.zeros_like(y)
    if not isinstance(x_dot, jax.custom_derivatives.SymbolicZero):
        dy = dy + _conv(x_dot, w, stride, padding, groups)
    if not isinstance(w_dot, jax.custom_derivatives.SymbolicZero):
        dy = dy + lax.platform_dependent(
            x,
            w_dot,
            cpu=functools.partial(_conv_by_taps, stride=stride, padding=padding, groups=groups),
            default=functools.partial(_conv, stride=stride, padding=padding, groups=groups),
        )
    return y, dy


conv2d.defjvp(_conv2d_jvp, symbolic_zeros=True)
