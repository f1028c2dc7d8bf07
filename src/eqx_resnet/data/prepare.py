"""Preparing a batch of images for a model, inside the jitted step: augment, resize, normalise."""

import os
from collections.abc import Callable

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray, Real

from .augment import resize
from .datasets import DatasetInfo, normalize
from .idx import DatasetError
from .transforms import BadImage


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
    """How `prepare` turns a dataset's image into a model input, as recorded in a run's metadata:
    the dataset's own `source_size`, then resized to `image_size`, scaled and standardised. Photographs
    of any size (`info.crop_pct`) record `data.imagenet.Preprocessing`'s fields, as their evaluation
    prepares them (`data.transforms.EvalTransform`)."""
    if info.crop_pct is not None:
        return {
            "crop_size": image_size or info.image_shape[-1],
            "crop_pct": info.crop_pct,
            "interpolation": "bilinear",
            "mean": list(info.mean),
            "std": list(info.std),
        }
    return {
        "image_size": image_size or info.image_shape[-1],
        "source_size": info.image_shape[-1],
        "channels": info.image_shape[0],
        "mean": list(info.mean),
        "std": list(info.std),
    }


def load_image(path: str | os.PathLike, preprocessing: dict) -> Float[np.ndarray, "c s s"]:
    """An image file as a model input, `(channels, size, size)` float32, prepared as in training.

    `preprocessing` is a run's (`preprocessing()`: converted to its channels, resized to the
    dataset's size, then to the model's, standardised) or a pretrained weight set's
    (`data.imagenet.Preprocessing` fields: shorter side resized, centre-cropped, standardised).
    A missing, unreadable or oversized file raises `DatasetError` naming it.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            if "crop_pct" in preprocessing:
                from .imagenet import Preprocessing

                return Preprocessing(**preprocessing)(image)
            gray = preprocessing["channels"] == 1
            source, size = preprocessing["source_size"], preprocessing["image_size"]
            image = image.convert("L" if gray else "RGB").resize((source, source), Image.Resampling.BILINEAR)
    except Image.DecompressionBombError as e:
        raise DatasetError(
            f"cannot read image {path}: {e} Shrink it first, or raise PIL.Image.MAX_IMAGE_PIXELS in your own code "
            "if you trust it"
        ) from None
    except (UnidentifiedImageError, OSError, BadImage) as e:
        raise DatasetError(f"cannot read image {path}: {e}") from None
    x = np.asarray(image, np.uint8)
    x = x[None] if gray else x.transpose(2, 0, 1)
    # The same resize and normalisation as the training step's (`prepare`), on the host.
    mean = np.asarray(preprocessing["mean"], np.float32)[:, None, None]
    std = np.asarray(preprocessing["std"], np.float32)[:, None, None]
    x = np.asarray(resize(jnp.asarray(x[None], jnp.float32), size)[0]) if size != source else x.astype(np.float32)
    return (x / 255.0 - mean) / std
