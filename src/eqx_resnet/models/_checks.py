"""Checks shared by the models: a wrong image, option or state fails at trace time with a fix."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._messages import few

_NORMALISE = "scale and normalise them first (eqx_resnet.data.normalize turns uint8 images into normalised float32)"
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
        raise TypeError(f"{model} takes floating-point images, got dtype {x.dtype}; {_NORMALISE}.")


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


def check_batch(images) -> None:
    """Raise a clear error unless `images` is a JAX or NumPy batch `(n, c, h, w)` of any floating dtype."""
    if not isinstance(images, jax.Array | np.ndarray):
        raise TypeError(f"forward takes images as a JAX or NumPy array (n, c, h, w), got a {type(images).__name__}")
    if images.ndim != 4:
        raise ValueError(
            f"forward takes a batch of images (n, channels, height, width), got an array of shape "
            f"{tuple(images.shape)}; for one image (c, h, w) add the batch axis, image[None]; for one-channel images (n, h, w), images[:, None]"
        )
    if not jnp.issubdtype(images.dtype, jnp.floating):
        raise TypeError(f"forward takes floating-point images, got dtype {images.dtype}; {_NORMALISE}")


def check_state(model: eqx.Module, state: eqx.nn.State, caller: str) -> None:
    """Raise a clear error unless `state` holds every entry of `model`'s state and no other entry of
    the same model: the state of a module that holds `model` (a backbone's) passes.

    `eqx.nn.make_with_state` names each entry by its path from the outer module's class,
    `"ResNet.layer1[0].bn1.statistics"`: two models of the same architecture share names, so a
    state can be checked against its model's layout only, not against the model it came from.
    """
    indices = jax.tree_util.tree_flatten_with_path(model, is_leaf=lambda x: isinstance(x, eqx.nn.StateIndex))[0]
    markers = {leaf.marker: path for path, leaf in indices if isinstance(leaf, eqx.nn.StateIndex)}
    held = state.tree_flatten()[1]  # its entries' markers, as eqx.nn.State flattens
    missing = [str(m) for m in markers if m not in held]
    # The model's own names start with its root ("ResNet", "Net.backbone"); another model's under it are not its.
    roots = {
        m[: len(m) - len(k)]
        for m, p in markers.items()
        if isinstance(m, str) and m.endswith(k := jax.tree_util.keystr(p))
    }
    under_roots = tuple(root + sep for root in roots for sep in ".[")
    extra = [m for m in held if m not in markers and isinstance(m, str) and m.startswith(under_roots)]
    fix = "pass the state made with this model (its builder, or eqx.nn.make_with_state, returns the two together)"
    if missing:
        raise ValueError(
            f"{caller}: the state does not belong to this model: it lacks {len(missing)} of the model's state entries "
            f"({few(missing, 3)}); {fix}"
        )
    if extra:
        raise ValueError(
            f"{caller}: the state belongs to another model: it holds {len(extra)} entries this model lacks "
            f"({few(extra, 3)}); {fix}"
        )
