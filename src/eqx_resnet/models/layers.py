"""The channels-last layers every model is made of: a convolution, a BatchNorm and a max-pool.

Public as `eqx_resnet.layers`. Unlike `eqx.nn`'s layers of the same names, which are
channels-first, they act on one channels-last example, and BatchNorm's momentum follows
PyTorch's convention.

Channels-last, `(h, w, c)`, is the layout XLA's CPU convolutions
compute in, so the BatchNorm, ReLU and residual sums between them need no transposes
(the models take channels-first images and move the channels last once). On a CPU the
training steps ran faster than with channels-first layers (benchmarks/README.md;
`python benchmarks/experiments/cpu_channels_last.py`).
Batch them with `jax.vmap(..., axis_name="batch")`.
"""

import math
import warnings
from collections.abc import Hashable

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Float, PRNGKeyArray

from .._xla_cpu import channel_broadcast, channel_sum, materialize
from ._random import filled, normal


class Conv2d(eqx.Module):
    """2-D convolution, `(h, w, c_in) -> (h/s, w/s, c_out)`, with symmetric padding.

    The weight is `(c_out, c_in / groups, kh, kw)`, PyTorch's order, so weights port as
    they are. Initialised like torchvision's ResNet: He-normal, fan-out mode, drawn on
    the host from `key` (models/_random.py: nothing to compile, the same weights everywhere).
    """

    weight: Float[Array, "c_out c_in_per_group kh kw"]
    bias: Float[Array, " c_out"] | None
    stride: int = eqx.field(static=True)
    padding: int = eqx.field(static=True)
    groups: int = eqx.field(static=True)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        *,
        groups: int = 1,
        use_bias: bool = False,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `in_channels`, `out_channels`: channels of the input and of the output.
        - `kernel_size`: the side of the square kernel.
        - `stride`, `padding`: the same in both spatial dimensions; zeros pad both sides.
        - `groups`: grouped convolution (ResNeXt); must divide both channel counts.
        - `use_bias`: add a bias (initialised to zero).
        - `key`: the random key for the weight (any JAX key, typed or raw).
        """
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups={groups} must divide in_channels={in_channels} and out_channels={out_channels}")
        shape = (out_channels, in_channels // groups, kernel_size, kernel_size)
        self.weight = normal(key, shape, std=math.sqrt(2.0 / (out_channels * kernel_size * kernel_size)))
        self.bias = filled((out_channels,), 0.0) if use_bias else None
        self.stride = stride
        self.padding = padding
        self.groups = groups

    def __call__(self, x: Float[Array, "h w c_in"]) -> Float[Array, "h_out w_out c_out"]:
        """One channels-last example `(h, w, c_in)` -> `(h_out, w_out, c_out)`."""
        channels = self.weight.shape[1] * self.groups
        if x.ndim != 3 or x.shape[-1] != channels:
            raise ValueError(
                f"Conv2d takes one channels-last example (height, width, {channels}), got shape {tuple(x.shape)}; "
                "move the channels last with jnp.moveaxis(x, 0, -1)"
            )
        # Stored once for the weight gradient, which reads it transposed (_xla_cpu/materialize.py).
        x = materialize(x)
        y = lax.conv_general_dilated(
            x[None],
            self.weight,
            window_strides=(self.stride, self.stride),
            padding=((self.padding, self.padding),) * 2,
            dimension_numbers=("NHWC", "OIHW", "NHWC"),
            feature_group_count=self.groups,
        )[0]
        if self.bias is not None:
            y = y + self.bias.astype(y.dtype)
        return y


class BatchNorm(eqx.Module):
    """Batch normalisation with PyTorch's semantics, statistics in `eqx.nn.State`.

    Training: normalise with the batch's mean and biased variance, taken over the
    `vmap` axis `axis_name` and space; update the running mean and the *unbiased*
    running variance as `running = (1 - momentum) * running + momentum * batch`.
    Inference (`eqx.nn.inference_mode`): normalise with the running statistics.
    The variance takes two passes over the data, robust to a large mean in float32.
    Statistics are computed in float32 whatever the input dtype (bf16 compute).
    The state holds exactly `2 * channels` numbers: mean and variance.

    `momentum` is in PyTorch's convention, the weight of the new batch: PyTorch's
    default 0.1 is Flax's and Equinox's 0.9. A momentum above 0.5 would weight one
    batch above all the history, so it is refused as the other convention, with the
    conversion (`momentum=0.9` -> use `0.1`).

    `axis_name` names the `vmap` axis (or a tuple of axes, e.g. a `shard_map` device
    axis and a `vmap` axis) that the batch statistics are taken over.
    """

    weight: Float[Array, " c"]
    bias: Float[Array, " c"]
    statistics: eqx.nn.StateIndex
    axis_name: Hashable = eqx.field(static=True)
    momentum: float = eqx.field(static=True)
    eps: float = eqx.field(static=True)
    inference: bool

    def __init__(
        self,
        channels: int,
        *,
        axis_name: Hashable = "batch",
        momentum: float = 0.1,
        eps: float = 1e-5,
        zero_init: bool = False,
        inference: bool = False,
    ):
        """**Arguments:**

        - `channels`: the size of the last (channel) axis.
        - `axis_name`: the batch axis name(s) the statistics are taken over while training.
        - `momentum`: the weight of the new batch in the running statistics (PyTorch's convention).
        - `eps`: added to the variance before its square root.
        - `zero_init`: start the scale at zero (a residual block's last BatchNorm, `zero_init_residual`).
        - `inference`: normalise with the running statistics; `eqx.nn.inference_mode` sets it.
        """
        if 0.5 < momentum < 1.0:
            raise ValueError(
                f"momentum={momentum} looks like Flax's/Equinox's convention (the weight of the old statistics); "
                f"eqx-resnet's BatchNorm takes PyTorch's (the weight of the new batch): momentum={1 - momentum:.6g}"
            )
        if not 0.0 < momentum <= 0.5:
            raise ValueError(
                f"momentum={momentum} must be in (0, 0.5], the weight of the new batch; PyTorch's default is 0.1"
            )
        self.weight = filled((channels,), 0.0 if zero_init else 1.0)
        self.bias = filled((channels,), 0.0)
        self.statistics = eqx.nn.StateIndex((filled((channels,), 0.0), filled((channels,), 1.0)))
        self.axis_name = axis_name
        self.momentum = momentum
        self.eps = eps
        self.inference = inference

    def __call__(
        self, x: Float[Array, "*spatial c"], state: eqx.nn.State
    ) -> tuple[Float[Array, "*spatial c"], eqx.nn.State]:
        """One channels-last example `(..., c)` and the state -> the normalised example (same dtype) and the new state."""
        running_mean, running_var = state.get(self.statistics)
        if x.shape[-1:] != running_mean.shape:
            raise ValueError(
                f"BatchNorm({running_mean.shape[0]}) takes channels-last examples (..., {running_mean.shape[0]}), "
                f"got shape {tuple(x.shape)}; move the channels last with jnp.moveaxis(x, 0, -1)"
            )
        if self.inference:
            mean, var = running_mean, running_var
        else:
            try:
                batch = lax.psum(1, self.axis_name)
            except NameError:
                raise NameError(
                    f"BatchNorm in training mode takes its statistics over the batch axis {self.axis_name!r}: "
                    f"call the model as jax.vmap(model, axis_name={self.axis_name!r}, in_axes=(0, None), "
                    "out_axes=(0, None))(x, state), or switch to evaluation with eqx.nn.inference_mode(model)"
                ) from None
            # Two passes (mean, then the mean squared deviation): the one-pass E[x^2] - E[x]^2
            # cancels catastrophically in float32 when the mean dwarfs the spread.
            # Sums in the form XLA:CPU computes fast (_xla_cpu/channel_sums.py).
            pixels = math.prod(x.shape[:-1])
            xf = x.astype(jnp.float32)
            mean = lax.pmean(channel_sum(xf) / pixels, self.axis_name)
            centred = xf - channel_broadcast(mean, x.shape)
            var = lax.pmean(channel_sum(centred * centred) / pixels, self.axis_name)
            n = batch * pixels
            unbiased = var * (n / max(n - 1, 1))
            if jax.eval_shape(lambda: mean).sharding != jax.eval_shape(lambda: running_mean).sharding:
                raise ValueError(
                    "BatchNorm's running statistics are not on the mesh the batch is on: under a mesh with explicit "
                    "axes, build the model and its state under jax.set_mesh(mesh), or put their arrays on it: "
                    "jax.device_put(eqx.filter((model, state), eqx.is_array), NamedSharding(mesh, PartitionSpec())), "
                    "then eqx.combine"
                )
            m = self.momentum
            state = state.set(
                self.statistics,
                (
                    (1 - m) * running_mean + m * lax.stop_gradient(mean),
                    (1 - m) * running_var + m * lax.stop_gradient(unbiased),
                ),
            )
        scale = self.weight.astype(jnp.float32) * lax.rsqrt(var + self.eps)
        shift = self.bias.astype(jnp.float32) - mean * scale
        return x * channel_broadcast(scale.astype(x.dtype), x.shape) + channel_broadcast(
            shift.astype(x.dtype), x.shape
        ), state


class MaxPool2d(eqx.Module):
    """Max-pool, `(h, w, c) -> (h', w', c)`, padding with -inf as PyTorch's `MaxPool2d` does."""

    kernel_size: int = eqx.field(static=True)
    stride: int = eqx.field(static=True)
    padding: int = eqx.field(static=True)

    def __init__(self, kernel_size: int, stride: int, padding: int = 0):
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding

    def __call__(self, x: Float[Array, "h w c"]) -> Float[Array, "h_out w_out c"]:
        k, s, p = self.kernel_size, self.stride, self.padding
        return lax.reduce_window(x, -jnp.inf, lax.max, (k, k, 1), (s, s, 1), ((p, p), (p, p), (0, 0)))


MOVED = ("BatchNorm", "Conv2d", "MaxPool2d")  # once eqx_resnet.<name> and eqx_resnet.models.<name>


def moved_layer(old_module: str, name: str) -> type:
    """The layer `name` asked for at its old place, `old_module.name`, with a `DeprecationWarning`:
    the old names keep working until the next release (for a module's `__getattr__`)."""
    warnings.warn(
        f"{old_module}.{name} is deprecated and goes in the next release: use eqx_resnet.layers.{name} "
        f"(channels-last, unlike eqx.nn.{name})",
        DeprecationWarning,
        stacklevel=3,
    )
    return globals()[name]
