"""Training-time augmentation on the accelerator, in pure jax.numpy.

Each augmentation takes a PRNG key and a batch ``(n, c, h, w)``, draws its
parameters independently for every image, is jit-able, deterministic for a
given key, and keeps shape and dtype. Apply it to pixels on the 0..255 scale,
before `normalize`, so that the zero fill is black, as in torchvision, where
these transforms act on the image before ``Normalize``.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.scipy.ndimage import map_coordinates
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray, Real

MAX_ANGLE = 10.0  # degrees, RandomRotation(10)
MAX_SHIFT = 0.1  # fraction of width / height, RandomAffine(0, translate=(0.1, 0.1))
CROP_PADDING = 4  # RandomCrop(32, padding=4)


def affine_warp(
    image: Float[Array, "c h w"], angle: Real[ArrayLike, ""], shift: Real[ArrayLike, "2"]
) -> Float[Array, "c h w"]:
    """Rotate ``image`` by ``angle`` degrees counter-clockwise about its centre, then
    move it by ``shift = (dx, dy)`` pixels (right, down); bilinear, zero fill.

    Both steps are one affine map, so the image is resampled only once.
    """
    _, h, w = image.shape
    theta = jnp.deg2rad(angle)
    cos, sin = jnp.cos(theta), jnp.sin(theta)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    ys, xs = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing="ij")
    # Sample backwards: each output pixel reads the input point mapped onto it.
    # With y pointing down, the forward counter-clockwise rotation is
    # (x, y) -> (x cos + y sin, -x sin + y cos); its inverse is the transpose.
    u, v = xs - shift[0] - cx, ys - shift[1] - cy
    src_x = u * cos - v * sin + cx
    src_y = u * sin + v * cos + cy

    def warp(channel: Float[Array, "h w"]) -> Float[Array, "h w"]:
        return map_coordinates(channel, [src_y, src_x], order=1, mode="constant", cval=0.0)

    return jax.vmap(warp)(image).astype(image.dtype)


def augment_mnist(key: PRNGKeyArray, images: Float[Array, "n c h w"]) -> Float[Array, "n c h w"]:
    """Random rotation in [-10, 10] degrees and translation up to 10% per image.

    Matches torchvision ``RandomRotation(10)`` + ``RandomAffine(0, translate=(0.1, 0.1))``,
    including its whole-pixel shifts, with bilinear sampling and zero fill.
    """
    n, _, h, w = images.shape
    angle_key, shift_key = jax.random.split(key)
    angles = jax.random.uniform(angle_key, (n,), minval=-MAX_ANGLE, maxval=MAX_ANGLE)
    max_shift = MAX_SHIFT * jnp.array([w, h], jnp.float32)
    shifts = jnp.round(jax.random.uniform(shift_key, (n, 2), minval=-max_shift, maxval=max_shift))
    return jax.vmap(affine_warp)(images, angles, shifts)


def augment_cifar(key: PRNGKeyArray, images: Real[Array, "n c h w"]) -> Real[Array, "n c h w"]:
    """Random crop from the image zero-padded by 4 pixels, then a horizontal flip with p=0.5.

    Matches torchvision ``RandomCrop(32, padding=4)`` + ``RandomHorizontalFlip()``.
    Exact for any dtype: pixels are only moved, never interpolated.
    """
    n, c, h, w = images.shape
    p = CROP_PADDING
    crop_key, flip_key = jax.random.split(key)
    offsets = jax.random.randint(crop_key, (n, 2), 0, 2 * p + 1)  # top, left
    flips = jax.random.bernoulli(flip_key, 0.5, (n,))
    padded = jnp.pad(images, ((0, 0), (0, 0), (p, p), (p, p)))

    def crop_flip(image, offset, flip):
        window = jax.lax.dynamic_slice(image, (0, offset[0], offset[1]), (c, h, w))
        return jnp.where(flip, window[..., ::-1], window)

    return jax.vmap(crop_flip)(padded, offsets, flips)


def resize(images: Float[Array, "n c h w"], size: int) -> Float[Array, "n c {size} {size}"]:
    """Bilinear resize to ``size x size`` (e.g. 28 -> 96 for AlexNet)."""
    n, c = images.shape[:2]
    return jax.image.resize(images, (n, c, size, size), method="bilinear")


AUGMENTATIONS: dict[str, Callable[[PRNGKeyArray, Array], Array]] = {
    "mnist": augment_mnist,
    "fashion-mnist": augment_mnist,
    "cifar10": augment_cifar,
}
