"""Parser for the CIFAR-10 python batches and extraction of their archive.

``cifar-10-python.tar.gz`` holds ``cifar-10-batches-py/data_batch_1..5`` and
``test_batch``: pickles (written by Python 2) of a dict whose ``b"data"`` is a
uint8 ``(n, 3072)`` array, each row the 1024 red, green then blue pixels of a
32x32 image in row-major order, and whose ``b"labels"`` is a list of n ints.
"""

import os
import pickle
import tarfile
import tempfile
import zlib
from pathlib import Path

import numpy as np
from jaxtyping import Int32, UInt8

from .idx import DatasetError

BATCHES_DIR = "cifar-10-batches-py"
NUM_CLASSES = 10
_ROW = 3 * 32 * 32

# What a CIFAR batch may reference: the numpy array reconstructor (under its
# numpy 1 and numpy 2 module names) and the bytes decoder of protocol 2.
# Refusing everything else means a tampered file cannot run code when loaded.
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("_codecs", "encode"),
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load the global {module}.{name}")
        return super().find_class(module, name)


def read_cifar_batch(
    path: str | os.PathLike,
) -> tuple[UInt8[np.ndarray, "n 3 32 32"], Int32[np.ndarray, " n"]]:
    """Read one CIFAR-10 python batch: uint8 images ``(n, 3, 32, 32)``, int32 labels ``(n,)``."""
    path = Path(path)
    fix = "Delete the cifar-10-batches-py folder (and a corrupt archive) and load again."
    try:
        with path.open("rb") as f:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the file ({exc}). {fix}") from exc
    except Exception as exc:  # unpickling raises many types on malformed input
        raise DatasetError(f"{path}: not a valid CIFAR-10 pickle ({exc!r}). {fix}") from exc

    if not isinstance(batch, dict):
        raise DatasetError(f"{path}: expected a pickled dict, got {type(batch).__name__}. {fix}")
    for key in (b"data", b"labels"):
        if key not in batch:
            raise DatasetError(f"{path}: missing key {key!r} (found {sorted(batch)}). {fix}")
    data, labels = batch[b"data"], batch[b"labels"]
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == _ROW):
        desc = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DatasetError(f"{path}: b'data' must be a uint8 (n, {_ROW}) array, got {desc}. {fix}")
    if not (isinstance(labels, list) and all(isinstance(y, (int, np.integer)) for y in labels)):
        raise DatasetError(f"{path}: b'labels' must be a list of ints. {fix}")
    if len(labels) != len(data):
        raise DatasetError(f"{path}: {len(data)} images but {len(labels)} labels. {fix}")
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) and not (0 <= labels.min() and labels.max() < NUM_CLASSES):
        raise DatasetError(
            f"{path}: labels must lie in [0, {NUM_CLASSES}), found [{labels.min()}, {labels.max()}]. {fix}"
        )
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int32)


def extract_cifar_archive(archive: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Extract ``cifar-10-batches-py/`` from ``archive`` into ``dest``; return its path.

    Members are extracted with tarfile's ``"data"`` filter (no absolute paths,
    no ``..``, no links out of the tree) into a temporary folder inside
    ``dest`` that is renamed into place, so an interrupted extraction never
    leaves a half-filled ``cifar-10-batches-py``.
    """
    archive, dest = Path(archive), Path(dest)
    target = dest / BATCHES_DIR
    fix = f"Delete {archive} and download it again."
    with tempfile.TemporaryDirectory(dir=dest, prefix=".extract-") as tmp:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                tar.extractall(tmp, filter="data")
        except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
            raise DatasetError(f"{archive}: cannot extract the archive ({exc}). {fix}") from exc
        extracted = Path(tmp) / BATCHES_DIR
        if not extracted.is_dir():
            raise DatasetError(f"{archive}: the archive has no {BATCHES_DIR}/ folder. {fix}")
        try:
            extracted.rename(target)
        except OSError:
            # Another process extracted it first; its copy is just as good.
            if not target.is_dir():
                raise
    return target
