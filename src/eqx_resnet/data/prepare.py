"""Preparing images for a model: a batch inside the jitted step (augment, resize, normalise), an image file
on the host (`load_image`)."""

import os
from collections.abc import Callable

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray, Real

from .._extras import needs_extra
from ..errors import BadImage, DatasetError
from .augment import resize
from .datasets import DatasetInfo, normalize
from .preprocessing import Preprocessing


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


def load_image(path: str | os.PathLike, preprocessing: Preprocessing) -> Float[np.ndarray, "c s s"]:
    """An image file as a model input, `(channels, size, size)` float32, prepared by `preprocessing`:
    a run's (`RunMetadata.preprocessing`, as in training: `DatasetInfo.preprocessing`) or a
    pretrained weight set's. A missing, unreadable or oversized file raises `DatasetError` naming it.
    """
    with needs_extra("reading image files"):
        from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            return preprocessing(image)
    except Image.DecompressionBombError as e:
        raise DatasetError(
            f"cannot read image {path}: {e} Shrink it first, or raise PIL.Image.MAX_IMAGE_PIXELS in your own code "
            "if you trust it"
        ) from None
    except (UnidentifiedImageError, OSError, BadImage) as e:
        raise DatasetError(f"cannot read image {path}: {e}") from None
