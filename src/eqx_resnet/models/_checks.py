"""Checks shared by the models: a wrong image or option fails at trace time with a fix."""

import jax.numpy as jnp
from jaxtyping import Array

_BATCH_HINT = " For a batch, use eqx_resnet.forward(model, state, images), or jax.vmap(model, axis_name=model.axis_name, in_axes=(0, None), out_axes=(0, None))."


def check_image(x: Array, in_channels: int, model: str) -> None:
    """Raise a clear error unless `x` is one float image `(in_channels, h, w)`.

    Any floating dtype passes: the models cast the image to their parameters' dtype.
    """
    shape = tuple(x.shape)
    channels_last = len(shape) >= 3 and shape[-1] == in_channels and shape[-3] != in_channels
    if x.ndim != 3:
        hint = _BATCH_HINT if x.ndim == 4 else ""
        if x.ndim == 4 and channels_last:
            hint += (
                " The images look channels-last (n, H, W, C): move the channels first with jnp.moveaxis(images, -1, 1)."
            )
        raise ValueError(
            f"{model} takes one image of shape (channels, height, width) = ({in_channels}, H, W), got an array of shape {shape}.{hint}"
        )
    if channels_last:
        raise ValueError(
            f"{model} takes channels-first images ({in_channels}, H, W), got shape {shape}, which looks channels-last "
            f"(H, W, {in_channels}): move the channels first with jnp.moveaxis(x, -1, 0)."
        )
    if shape[0] != in_channels:
        raise ValueError(
            f"{model} was built for {in_channels} input channel(s) but got an image of shape {shape} "
            f"with {shape[0]}; build it with in_channels={shape[0]}, or pass channels-first (C, H, W) images."
        )
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(
            f"{model} takes floating-point images, got dtype {x.dtype}; scale and normalise them first "
            "(eqx_resnet.data.normalize turns uint8 images into normalised float32)."
        )


def check_num_classes(num_classes: int) -> None:
    """Raise a clear error for a negative number of classes (0 is the headless model)."""
    if num_classes < 0:
        raise ValueError(
            f"num_classes={num_classes} must be a positive number of classes, or 0 for the headless model "
            "(pooled features instead of logits)"
        )


def check_example(x: Array, layer: str, channels: int | None = None) -> None:
    """Raise a clear error unless `x` is one channels-last example `(h, w, channels)` (any channels for None)."""
    if x.ndim != 3 or (channels is not None and x.shape[-1] != channels):
        raise ValueError(
            f"{layer} takes one channels-last example (height, width, {channels or 'channels'}), got shape "
            f"{tuple(x.shape)}; move the channels last with jnp.moveaxis(x, 0, -1), and vmap over a batch"
        )
