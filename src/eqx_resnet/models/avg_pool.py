"""Average pooling with PyTorch's `AvgPool2d` semantics, on one channels-last example.

The ResNet-D shortcut (`avg_down`) pools `AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False)`
before its 1x1 convolution, and the anti-aliased resnetaa* pool `AvgPool2d(2)`; PyTorch's output size
and divisors are kept exactly, odd maps included, so timm's weights give timm's outputs.
"""

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Float

from ._checks import check_example


class AvgPool2d(eqx.Module):
    """Average pool, `(h, w, c) -> (h', w', c)`, as PyTorch's `nn.AvgPool2d` computes it.

    With `ceil_mode`, a last window that starts inside the (left-padded) map but overhangs it is
    kept, and averages only what it covers. Zero padding counts in the divisor with
    `count_include_pad`, not without.
    """

    kernel_size: int = eqx.field(static=True)
    stride: int = eqx.field(static=True)
    padding: int = eqx.field(static=True)
    ceil_mode: bool = eqx.field(static=True)
    count_include_pad: bool = eqx.field(static=True)

    def __init__(
        self,
        kernel_size: int,
        stride: int | None = None,
        padding: int = 0,
        *,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
    ):
        """**Arguments:**

        - `kernel_size`: the side of the square window.
        - `stride`: the step between windows; PyTorch's default, `None`, is `kernel_size`.
        - `padding`: zeros on every side, at most half the window.
        - `ceil_mode`: round the output size up, not down.
        - `count_include_pad`: divide by the window's size, padding included, rather than by the pixels it covers.
        """
        if not 0 <= padding <= kernel_size // 2:
            raise ValueError(f"padding={padding} must be between 0 and half of kernel_size={kernel_size}")
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def _output_size(self, size: int) -> int:
        """PyTorch's output size along a side of `size` pixels."""
        k, s, p = self.kernel_size, self.stride, self.padding
        out = (size + 2 * p - k + (s - 1 if self.ceil_mode else 0)) // s + 1
        if self.ceil_mode and (out - 1) * s >= size + p:  # the last window would start in the right padding
            out -= 1
        return out

    def _divisors(self, size: int, right: int) -> np.ndarray:
        """The pixels each window along a side covers, padding included or not (a constant of the shape)."""
        p = self.padding
        covered = np.zeros(p + size + right)
        covered[0 if self.count_include_pad else p : size + (2 * p if self.count_include_pad else p)] = 1
        return np.lib.stride_tricks.sliding_window_view(covered, self.kernel_size)[:: self.stride].sum(axis=-1)

    def __call__(self, x: Float[Array, "h w c"]) -> Float[Array, "h_out w_out c"]:
        """One channels-last example `(h, w, c)` -> its averages `(h_out, w_out, c)`."""
        check_example(x, "AvgPool2d")
        k, s, p = self.kernel_size, self.stride, self.padding
        # Each side padded p on the left, and on the right p or the overhang of ceil mode's last window.
        h, w = ((n, max(p, (self._output_size(n) - 1) * s + k - n - p)) for n in x.shape[:2])
        total = lax.reduce_window(x, 0.0, lax.add, (k, k, 1), (s, s, 1), [(p, h[1]), (p, w[1]), (0, 0)])
        divisors = np.outer(self._divisors(*h), self._divisors(*w))
        return total / jnp.asarray(divisors[..., None], x.dtype)
