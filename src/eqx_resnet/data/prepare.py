"""Preparing a batch of images for a model, inside the jitted step: augment, resize, normalise."""

from collections.abc import Callable

import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray, Real

from .augment import resize
from .datasets import DatasetInfo, normalize


def prepare(
    images: Real[Array, "n c h w"],
    info: DatasetInfo,
    image_size: int | None,
    *,
    key: PRNGKeyArray | None = None,
    augment: Callable[[PRNGKeyArray, Array], Array] | None = None,
) -> Float[Array, "n c s s"]:
    """uint8 `(n, c, h, w)` -> augmented (on the 0..255 scale), resized to `image_size`, normalised float32."""
    x = images.astype(jnp.float32)
    if augment is not None:
        x = augment(key, x)
    if image_size is not None and image_size != x.shape[-1]:
        x = resize(x, image_size)
    return normalize(x, info)


def preprocessing(info: DatasetInfo, image_size: int | None) -> dict:
    """How `prepare` turns an image into a model input, as recorded in a run's metadata."""
    return {"image_size": image_size or info.image_shape[-1], "channels": info.image_shape[0],
            "mean": list(info.mean), "std": list(info.std)}


