"""Trace-time input checks shared by the models: a wrong image fails with a fix."""

import jax.numpy as jnp
from jaxtyping import Array


def check_image(x: Array, in_channels: int, model: str) -> None:
    """Raise a clear error unless `x` is one float image `(in_channels, h, w)`."""
    if x.ndim != 3:
        hint = (
            " For a batch, use jax.vmap(model, axis_name='batch', in_axes=(0, None), out_axes=(0, None))(x, state)."
            if x.ndim == 4
            else ""
        )
        raise ValueError(
            f"{model} takes one image of shape (channels, height, width) = ({in_channels}, H, W), "
            f"got an array of shape {tuple(x.shape)}.{hint}"
        )
    if x.shape[0] != in_channels:
        raise ValueError(
            f"{model} was built for {in_channels} input channel(s) but got an image of shape {tuple(x.shape)} "
            f"with {x.shape[0]}; build it with in_channels={x.shape[0]}, or pass channels-first (C, H, W) images."
        )
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(
            f"{model} takes floating-point images, got dtype {x.dtype}; scale and normalise them first "
            "(eqx_resnet.data.normalize turns uint8 images into normalised float32)."
        )
