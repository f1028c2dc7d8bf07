"""`Preprocessing`: how an image becomes a model input, a float32 `(channels, size, size)` array.

One type for both kinds of image a model meets, told apart by `crop_pct`:

- photographs of any size (image folders, ImageNet, the pretrained weight sets): `crop_pct` is
  set, and the image is prepared as timm's and torchvision's evaluation transform does: the
  shorter side resized to `resize_size = floor(crop_size / crop_pct)`, the centre
  `crop_size x crop_size` kept (`data.transforms.centre_crop`);
- a fixed-size dataset's images (MNIST, CIFAR-10): `crop_pct` is None and `source_size` the
  dataset's side; the image is resized to `source_size x source_size`, as the dataset's own
  images are, then to `crop_size` by the training step's own resize (`data.augment.resize`).

Either way the pixels are scaled to [0, 1] and standardised per channel, `(x - mean) / std`;
`len(mean)` is the number of channels (1: grayscale, 3: RGB). A training run records its
`Preprocessing` (`DatasetInfo.preprocessing`) in its metadata (`to_dict`, `from_dict`), a
pretrained weight set carries its own (`eqx_resnet.weights`). The defaults are ImageNet's
classic evaluation: resize 256, crop 224, bilinear, ImageNet's mean and std.
"""

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from jaxtyping import Float

if TYPE_CHECKING:  # Pillow is the [data] extra: imported where an image is prepared (`data.transforms`)
    import PIL.Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_INTERPOLATIONS = ("bilinear", "bicubic")  # Pillow's Image.Resampling, by their lower-case names


@dataclass(frozen=True)
class Preprocessing:
    """How an image is prepared for a network (see the module's docstring for the two kinds).

    **Arguments:**

    - `crop_size`: the side of the square the network sees, e.g. 224.
    - `crop_pct`: for photographs, the fraction of the resized shorter side the crop keeps,
      e.g. 0.875 (256 -> 224); None for a fixed-size dataset's images (then give `source_size`).
    - `interpolation`: `"bilinear"` or `"bicubic"`, Pillow's filters (antialiased, as torchvision's).
    - `mean`, `std`: per-channel statistics of the [0, 1]-scaled training images, one value per
      channel: 3 (RGB) for photographs, 1 (grayscale) or 3 for a fixed-size dataset.
    - `source_size`: a fixed-size dataset's side (28 for MNIST), with `crop_pct=None`.
    """

    crop_size: int = 224
    crop_pct: float | None = 0.875
    interpolation: Literal["bilinear", "bicubic"] = "bilinear"
    mean: Sequence[float] = IMAGENET_MEAN  # stored as tuples: a JSON round trip gives lists back
    std: Sequence[float] = IMAGENET_STD
    source_size: int | None = None

    def __post_init__(self):
        if self.interpolation not in _INTERPOLATIONS:
            raise ValueError(f"interpolation must be 'bilinear' or 'bicubic', got {self.interpolation!r}")
        if (self.crop_pct is None) == (self.source_size is None):
            raise ValueError(
                f"got crop_pct={self.crop_pct} and source_size={self.source_size}: give crop_pct for photographs "
                "of any size (resize, centre crop), or source_size with crop_pct=None for a fixed-size dataset"
            )
        if self.crop_pct is not None and not 0.0 < self.crop_pct <= 1.0:
            raise ValueError(f"crop_pct must be in (0, 1], got {self.crop_pct}")
        for name in ("crop_size", "source_size"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive number of pixels, got {getattr(self, name)}")
        channels = (3,) if self.crop_pct is not None else (1, 3)
        for name in ("mean", "std"):
            values = tuple(float(v) for v in getattr(self, name))
            if len(values) not in channels:
                what = "RGB channel" if channels == (3,) else "channel (1 for grayscale, 3 for RGB)"
                raise ValueError(f"{name} must have one value per {what}, got {values}")
            object.__setattr__(self, name, values)
        if len(self.mean) != len(self.std):
            raise ValueError(f"mean and std must have one value per channel each, got {self.mean} and {self.std}")

    @property
    def resize_size(self) -> int:
        """The side an image is resized to first: its shorter side before the centre crop (256 for
        224 / 0.875), or a fixed-size dataset's `source_size`."""
        return self.source_size if self.crop_pct is None else math.floor(self.crop_size / self.crop_pct)

    def __call__(self, image: "PIL.Image.Image") -> Float[np.ndarray, "c {self.crop_size} {self.crop_size}"]:
        """One Pillow image (any size) -> a float32 `(channels, crop_size, crop_size)` array, channels
        first. A photograph's must be of a mode `data.transforms.to_rgb` converts (else `BadImage`)."""
        from .transforms import preprocess  # Pillow's work: the [data] extra

        return preprocess(self, image)

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready (as a run's metadata records it)."""
        return {**dataclasses.asdict(self), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Preprocessing":
        """The `Preprocessing` that `to_dict` gave `d`; an unknown key raises `ValueError` naming it."""
        unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown preprocessing keys {unknown}; the keys are Preprocessing's fields")
        return cls(**d)


IMAGENET_PREPROCESSING = Preprocessing()
