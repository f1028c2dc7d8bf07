"""Image folders for the tests of data/folder.py, data/transforms.py, data/stream.py and data/hf.py,
and for test_distributed.py's reads of a folder by two processes.

`make_folder` writes torchvision's ImageFolder layout with small images of mixed sizes,
formats and modes: every mode the loader converts to RGB appears in every class.
"""

from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("cat", "dog", "owl")
# (mode, suffix): what the loader meets in users' folders.
KINDS = (
    ("RGB", ".jpg"),
    ("RGB", ".png"),
    ("RGB", ".webp"),
    ("L", ".png"),
    ("RGBA", ".png"),
    ("P", ".png"),
    ("CMYK", ".jpg"),
    ("I;16", ".png"),
    ("LA", ".png"),
    ("1", ".bmp"),
    ("RGB", ".JPEG"),
    ("L", ".jpg"),
)


def write_image(path: Path, mode: str, rgb: np.ndarray) -> Path:
    """`rgb` (h, w, 3) uint8 saved at `path` in `mode`."""
    image = Image.fromarray(rgb)
    if mode == "I;16":
        image = Image.fromarray((rgb.mean(-1) * 257).astype(np.uint16))
        assert image.mode == "I;16"
    elif mode == "P":
        image.convert("P", palette=Image.Palette.ADAPTIVE).save(path, transparency=0)  # with a transparent index
        return path
    elif mode != "RGB":
        image = image.convert(mode)
    image.save(path)
    return path


def photo(rng: np.random.Generator, label: int, size: tuple[int, int]) -> np.ndarray:
    """A noisy image whose dominant channel is its class's: (h, w, 3) uint8."""
    w, h = size
    x = rng.integers(0, 120, (h, w, 3))
    x[..., label % 3] += 120
    return x.astype(np.uint8)


def make_folder(root: Path, *, train: int = 24, val: int = 6, classes=CLASSES, seed: int = 0) -> Path:
    """`root/train/<class>/` with `train` images per class and `root/val/<class>/` with `val`, each
    20-64 pixels a side, cycling through `KINDS`."""
    rng = np.random.default_rng(seed)
    for split, count in (("train", train), ("val", val)):
        for label, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                mode, suffix = KINDS[i % len(KINDS)]
                write_image(folder / f"{i:03d}{suffix}", mode, photo(rng, label, tuple(rng.integers(20, 65, 2))))
    return root
