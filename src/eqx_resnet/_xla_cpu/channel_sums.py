"""Per-channel sums and broadcasts for BatchNorm, in a form XLA:CPU computes fast.

BatchNorm sums each channel of a channels-last example over space, and then over the
batch. Written plainly, XLA merges the two into one sum over `(batch, h, w)` that keeps
only the channels, and XLA:CPU splits that (its tree-reduction rewrite, for any summed
dimension over 32) into a `reduce-window` with a handful of long, strided windows per
channel: slow, and it does not fuse with what it sums.

`channel_sum` views each example as rows of `g` pixels, `(h * w / g, g * c)`, sums the
rows and then the `g` pixels of the one row left. The reshape in between keeps XLA from
merging the sums, so the large one is wide and contiguous. `channel_broadcast` is its
transpose, so the backward pass's sums, which reverse-mode differentiation makes from the
forward pass's broadcasts, take the same form. `tests/test_xla_cpu_channel_sums.py` checks
the compiled sums and `python benchmarks/experiments/cpu_batchnorm_sums.py` times the
training steps with and without them (benchmarks/README.md).

Both are plain `jax.numpy` (every transformation works through them); other platforms
get the plain sum and broadcast.
"""

import math

import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Float

_ROW = 1024  # the widest row, in numbers: faster than 512 in a one-off test (benchmarks/README.md)


def _pixels_per_row(spatial: tuple[int, ...], channels: int) -> int:
    """`g`: the most pixels a row of at most `_ROW` numbers holds, or 1 (the plain sum).

    Rows of exactly one image row (or one whole example) reshape back to the example's own
    dimensions, and XLA merges the sums again, so those are left out.
    """
    pixels = math.prod(spatial)
    width = spatial[-1] if spatial else 1
    fits = (g for g in range(2, min(pixels, _ROW // channels + 1)) if pixels % g == 0 and g != width)
    return max(fits, default=1)


def channel_sum(x: Float[Array, "*spatial c"]) -> Float[Array, " c"]:
    """The sum of each channel over all leading axes."""
    *spatial, c = x.shape
    g = _pixels_per_row(tuple(spatial), c)

    def rows(x):
        # Flat first: explicit-sharding meshes refuse a reshape that regroups dimensions.
        return x.reshape(-1).reshape(-1, g * c).sum(0).reshape(g, c).sum(0)

    def plain(x):
        return x.reshape(-1, c).sum(0)

    return plain(x) if g == 1 else lax.platform_dependent(x, cpu=rows, default=plain)


def channel_broadcast(v: Float[Array, " c"], shape: tuple[int, ...]) -> Float[Array, "*spatial c"]:
    """`v` broadcast to channels-last `shape`; its transpose is `channel_sum`."""
    *spatial, c = shape
    g = _pixels_per_row(tuple(spatial), c)

    def rows(v):
        return jnp.broadcast_to(jnp.tile(v, g), (math.prod(spatial) // g, g * c)).reshape(-1).reshape(shape)

    def plain(v):
        return jnp.broadcast_to(v, shape)

    return plain(v) if g == 1 else lax.platform_dependent(v, cpu=rows, default=plain)
