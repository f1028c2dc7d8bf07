"""Decoding and augmenting image files on the host, in the loader's worker processes (numpy and Pillow).

Each transform maps an image file (a path, or a binary file object such as a Hugging Face
dataset's encoded bytes) and a numpy random generator to a uint8 `(3, size, size)` array;
normalisation happens later, on the device. The training transform is torchvision's
`RandomResizedCrop(size, scale=(0.08, 1), ratio=(3/4, 4/3))` and `RandomHorizontalFlip()`;
the evaluation transform resizes the shorter side to `floor(size / crop_pct)` and takes the
centre `size x size` (256 -> 224 for ImageNet, `centre_crop`), as `data.preprocessing.Preprocessing` does.

A JPEG is decoded at a reduced scale (Pillow's draft mode: 1/2, 1/4 or 1/8, done in the
DCT) whenever the region that becomes the output is still at least `size` pixels on each
side at that scale: the final resize then still shrinks (antialiased), never enlarges,
so the output is as sharp as from the full decode, at a fraction of the cost.

Every image becomes RGB: grayscale, bilevel, palette (transparency included), CMYK, YCbCr,
grayscale with alpha and RGBA (alpha dropped, as torchvision's loader does) are converted;
16-bit grayscale is scaled to 8 bits; any other mode (32-bit float, LAB, HSV, ...) is
refused with `BadImage`, as is a file Pillow cannot read.
"""

import io
import math
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from jaxtyping import Float, UInt8

from .._extras import needs_extra
from .augment import resize
from .preprocessing import Preprocessing

with needs_extra("reading image files"):
    from PIL import Image

from ..errors import BadImage

_CONVERTIBLE = {"L", "1", "P", "CMYK", "YCbCr", "LA", "La", "RGBA", "RGBa", "RGBX", "PA"}
_SIXTEEN_BIT = {"I;16", "I;16B", "I;16L", "I;16N", "I"}
ImageFile = Path | io.BufferedIOBase  # a path, or an open binary file (io.BytesIO, open(..., "rb"))
# Pillow's errors for files it cannot read: not an image, truncated, corrupt, or too large to be safe.
DECODE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError, EOFError)


def to_rgb(image: Image.Image) -> Image.Image:
    """`image` in mode RGB (see the module's docstring for what is converted and what refused)."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode == "P" and "transparency" in image.info:
        return image.convert("RGBA").convert("RGB")
    if mode in _CONVERTIBLE:
        return image.convert("RGB")
    if mode in _SIXTEEN_BIT:
        high = np.asarray(image).astype(np.uint32) >> 8  # 0..65535 -> 0..255
        return Image.fromarray(np.minimum(high, 255).astype(np.uint8)).convert("RGB")
    raise BadImage(f"its mode {mode} has no RGB conversion; save it as 8-bit RGB")


def _open(path: ImageFile) -> Image.Image:
    try:
        return Image.open(path)
    except DECODE_ERRORS as e:
        raise BadImage(str(e) or type(e).__name__) from None


def _decode(
    image: Image.Image, reduce_to: tuple[float, float] | tuple[int, int] | None
) -> tuple[Image.Image, float, float]:
    """Decode `image` (a JPEG at the smallest scale that keeps at least `reduce_to` pixels a side) to RGB;
    the decoded image and its scale from the original, per axis."""
    width, height = image.size
    if reduce_to is not None and image.format == "JPEG":
        # libjpeg decodes 1/a of each side (rounded up) for a in 8, 4, 2; Pillow picks a from
        # the requested size by floor division, so ask for exactly (width // a, height // a).
        scale = next((a for a in (8, 4, 2) if -(-width // a) >= reduce_to[0] and -(-height // a) >= reduce_to[1]), 1)
        if scale > 1:
            image.draft("RGB", (width // scale, height // scale))
    try:
        image.load()
        rgb = to_rgb(image)
    except DECODE_ERRORS as e:
        raise BadImage(str(e) or type(e).__name__) from None
    return rgb, rgb.width / width, rgb.height / height


def _chw(image: Image.Image) -> UInt8[np.ndarray, "3 h w"]:
    return np.ascontiguousarray(np.asarray(image, np.uint8).transpose(2, 0, 1))


def random_resized_crop(
    width: int,
    height: int,
    rng: np.random.Generator,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> tuple[int, int, int, int]:
    """torchvision's `RandomResizedCrop.get_params`: `(left, top, crop width, crop height)` of a region
    covering `scale` of the area with aspect ratio in `ratio` (log-uniform); after 10 misses, the centre
    crop of the aspect ratio nearest the image's."""
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1)), w, h
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        w, h = round(height * ratio[1]), height
    else:
        w, h = width, height
    return (width - w) // 2, (height - h) // 2, w, h


def centre_crop(
    width: int, height: int, size: int, crop_pct: float
) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
    """timm's and torchvision's evaluation geometry for a `width x height` image: the size to resize it
    to (torchvision's `Resize(int)`: the shorter side to `floor(size / crop_pct)`, the longer one
    truncated) and the box `(left, top, right, bottom)` of the centre `size x size` in it."""
    resize = math.floor(size / crop_pct)
    new = (resize, int(resize * height / width)) if width <= height else (int(resize * width / height), resize)
    left, top = round((new[0] - size) / 2.0), round((new[1] - size) / 2.0)
    return new, (left, top, left + size, top + size)


def preprocess(
    preprocessing: Preprocessing, image: Image.Image
) -> Float[np.ndarray, "c {preprocessing.crop_size} {preprocessing.crop_size}"]:
    """`preprocessing(image)`: one Pillow image (any size) as a float32 `(channels, crop_size, crop_size)`
    array, channels first (see `data.preprocessing` for the two kinds of image)."""
    p = preprocessing
    resample = Image.Resampling[p.interpolation.upper()]
    if p.crop_pct is None:  # a fixed-size dataset's: its size, then as the training step resizes
        gray = len(p.mean) == 1
        image = image.convert("L" if gray else "RGB").resize((p.source_size, p.source_size), resample)
        x = np.asarray(image, np.uint8)
        x = (x[None] if gray else x.transpose(2, 0, 1)).astype(np.float32)
        if p.crop_size != p.source_size:
            x = np.asarray(resize(jnp.asarray(x[None]), p.crop_size)[0])
    else:
        image = to_rgb(image)  # as the loader converts: 16-bit grayscale scaled, not clipped
        new, box = centre_crop(*image.size, p.crop_size, p.crop_pct)
        x = np.asarray(image.resize(new, resample).crop(box), np.float32).transpose(2, 0, 1)
    mean = np.asarray(p.mean, np.float32)[:, None, None]
    std = np.asarray(p.std, np.float32)[:, None, None]
    return np.ascontiguousarray((x / np.float32(255.0) - mean) / std)


class TrainTransform:
    """Random resized crop to `size x size` and a horizontal flip with p=0.5 (`augment`), else the
    evaluation transform. `__call__(path, rng) -> uint8 (3, size, size)`; raises `BadImage`."""

    def __init__(self, size: int, *, augment: bool = True, crop_pct: float = 0.875, draft: bool = True):
        self.size, self.augment, self.draft = size, augment, draft
        self.eval = EvalTransform(size, crop_pct=crop_pct, draft=draft)

    def __call__(self, path: ImageFile, rng: np.random.Generator) -> UInt8[np.ndarray, "3 s s"]:
        if not self.augment:
            return self.eval(path, rng)
        with _open(path) as file:
            left, top, w, h = random_resized_crop(*file.size, rng)
            flip = rng.random() < 0.5
            # Reduced decoding keeps the crop at least `size` on each side.
            factor = self.size / min(w, h)
            reduce_to = (file.width * factor, file.height * factor) if self.draft and factor < 1 else None
            image, sx, sy = _decode(file, reduce_to)
            box = (left * sx, top * sy, (left + w) * sx, (top + h) * sy)
            out = image.resize((self.size, self.size), Image.Resampling.BILINEAR, box=box)
        if flip:
            out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return _chw(out)


class EvalTransform:
    """Resize the shorter side to `floor(size / crop_pct)`, centre-crop `size x size`, as
    `data.preprocessing.Preprocessing` (without its normalisation). `__call__(path, rng=None) -> uint8 (3, size, size)`."""

    def __init__(self, size: int, *, crop_pct: float = 0.875, draft: bool = True):
        self.size, self.crop_pct, self.draft = size, crop_pct, draft

    def __call__(self, path: ImageFile, rng: np.random.Generator | None = None) -> UInt8[np.ndarray, "3 s s"]:
        with _open(path) as file:
            new, box = centre_crop(*file.size, self.size, self.crop_pct)
            reduce_to = new if self.draft and min(new) < min(file.size) else None
            image, _, _ = _decode(file, reduce_to)
            out = image.resize(new, Image.Resampling.BILINEAR)
        return _chw(out.crop(box))
