"""Channels-last layers: the convolution, BatchNorm and max-pool the models are made of.

Each acts on one example, channels-last, `(height, width, channels)`, unlike `eqx.nn`'s
channels-first layers of the same names; batch them with `jax.vmap`. The convolution
keeps PyTorch's weight layout `(c_out, c_in / groups, kh, kw)`, and BatchNorm follows
PyTorch: batch statistics over the `vmap` axis `axis_name` while training, running
statistics in `eqx.nn.State`, `momentum` as the weight of the new batch (0.1, which is
Flax's and Equinox's 0.9).

    norm, state = eqx.nn.make_with_state(eqx_resnet.layers.BatchNorm)(64)
    y, state = jax.vmap(norm, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(x, state)   # x: (n, h, w, 64)
"""

from .models.layers import BatchNorm, Conv2d, MaxPool2d

__all__ = ["BatchNorm", "Conv2d", "MaxPool2d"]
