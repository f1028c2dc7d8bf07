"""The dataset registry and `load_dataset`: local files first, else a verified download.

Files live in ``data_dir/<name>/``. MNIST and Fashion-MNIST are the four IDX
files (gzipped or not); CIFAR-10 is the ``cifar-10-batches-py/`` folder, or the
``cifar-10-python.tar.gz`` archive it is extracted from. Whatever is missing
is downloaded and verified against the SHA-256 of the official file (``data.download``).
Local files are checked too, so that another dataset's files never load under
this one's name: MNIST's by the SHA-256 of their decompressed content, a local
CIFAR-10 archive by its SHA-256, and Fashion-MNIST's files and the CIFAR-10
folder, whose hashes are not known offline or that a recompression would
change, by their class counts (both datasets are exactly balanced).
``imagefolder`` and ``imagenet`` are registered here too, but their image files (in
``data_dir`` or ``data_dir/<name>/``) are read as a run trains (``data.folder``,
``data.stream``), never by ``load_dataset``.
"""

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int32, Real, UInt8

from .cifar import BATCHES_DIR, extract_cifar_archive, read_cifar_batch
from .download import HashMismatch, retrieve
from .hf import HUB
from .idx import DatasetError, parse_idx, read_idx_bytes
from .imagenet import IMAGENET_CLASSES, IMAGENET_MEAN, IMAGENET_STD
from .preprocessing import Preprocessing


@dataclass(frozen=True)
class DatasetInfo:
    """Static facts about a dataset; hashable, so it can be a static jit argument.

    ``mean`` and ``std`` are per channel, over the [0, 1]-scaled training images
    (ImageNet's for ``imagefolder``, whose images are not known in advance).
    ``crop_pct``, for photographs of any size: evaluation resizes the shorter side to
    ``image_shape[-1] / crop_pct`` and takes the centre crop (``data.transforms``); None for
    a dataset of fixed-size images. ``preprocessing(image_size)`` says how an image file
    becomes a model input, as the dataset's own images do in training.
    """

    name: str
    num_classes: int
    image_shape: tuple[int, int, int]  # (c, h, w)
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: tuple[str, ...]
    crop_pct: float | None = None

    def preprocessing(self, image_size: int | None = None) -> Preprocessing:
        """How an image file is prepared as this dataset's images are for a model of input side
        `image_size` (default: the dataset's): a photograph resized and centre-cropped as in
        evaluation (`crop_pct`), or a fixed-size dataset's image resized to the dataset's side,
        then to `image_size` as the training step does; scaled and standardised either way."""
        size = image_size or self.image_shape[-1]
        if self.crop_pct is not None:
            return Preprocessing(size, self.crop_pct, "bilinear", self.mean, self.std)
        return Preprocessing(size, None, "bilinear", self.mean, self.std, source_size=self.image_shape[-1])


@dataclass(frozen=True, eq=False)  # eq=False: arrays have no truth value to compare
class Dataset:
    """One split held on the host; images stay uint8 until normalised on the device."""

    images: UInt8[np.ndarray, "n c h w"]
    labels: Int32[np.ndarray, " n"]
    info: DatasetInfo

    def __post_init__(self):
        images, labels = self.images, self.labels
        if images.dtype != np.uint8 or images.shape[1:] != self.info.image_shape:
            raise DatasetError(
                f"{self.info.name}: images must be uint8 (n, *{self.info.image_shape}), "
                f"got {images.dtype} {images.shape}."
            )
        if labels.dtype != np.int32 or labels.shape != (len(images),):
            raise DatasetError(
                f"{self.info.name}: labels must be int32 ({len(images)},), got {labels.dtype} {labels.shape}."
            )


DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo("mnist", 10, (1, 28, 28), (0.1307,), (0.3081,), tuple(str(d) for d in range(10))),
    "fashion-mnist": DatasetInfo(
        "fashion-mnist",
        10,
        (1, 28, 28),
        (0.2860,),
        (0.3530,),
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    ),
    "cifar10": DatasetInfo(
        "cifar10",
        10,
        (3, 32, 32),
        (0.4914, 0.4822, 0.4465),
        (0.2470, 0.2435, 0.2616),
        ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    ),
    # Image files read as the run trains (data/folder.py, data/stream.py): the classes are the
    # folder's (imagefolder's template has none), image_shape the default crop.
    "imagefolder": DatasetInfo("imagefolder", 0, (3, 224, 224), IMAGENET_MEAN, IMAGENET_STD, (), crop_pct=0.875),
    "imagenet": DatasetInfo(
        "imagenet", 1000, (3, 224, 224), IMAGENET_MEAN, IMAGENET_STD, IMAGENET_CLASSES, crop_pct=0.875
    ),
}

# Examples per split; a loaded split of any other size is an error, never a
# silently short dataset.
SPLIT_SIZES: dict[str, dict[str, int]] = {
    "mnist": {"train": 60_000, "test": 10_000},
    "fashion-mnist": {"train": 60_000, "test": 10_000},
    "cifar10": {"train": 50_000, "test": 10_000},
}

_MIRRORS = {
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",  # torchvision's mirror
    "fashion-mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "cifar10": "https://www.cs.toronto.edu/~kriz/",
}

# SHA-256 of each file as served, from tensorflow/datasets url_checksums/
# (mnist.txt, fashion_mnist.txt, cifar10.csv); the MNIST and CIFAR values also
# match torchvision's prototype datasets and keras, the Fashion-MNIST ones the
# official MD5s of zalandoresearch/fashion-mnist.
_DOWNLOAD_SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
    "cifar10": {
        "cifar-10-python.tar.gz": "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
    },
}

# SHA-256 of the decompressed MNIST files (raw MD5s are the canonical ones).
# Local files are checked on this, not on the gz hash, because a gzip file can
# be recompressed (the repository's data/mnist/ is) without changing its content.
# Fashion-MNIST publishes only its .gz MD5s, so its local files are checked by
# class counts instead (`_BALANCED`).
_RAW_SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
}

# Datasets whose every split holds exactly SPLIT_SIZES / num_classes examples of
# each class. Where no hash of the content is known offline, local files are
# checked on this: a bincount of the labels costs microseconds and tells another
# dataset's files (MNIST's under fashion-mnist/) from the right ones.
_BALANCED = frozenset({"fashion-mnist", "cifar10"})

_IDX_FILES = {  # split -> (images, labels), without the ".gz"
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_DATASETS = frozenset({"mnist", "fashion-mnist"})
_CIFAR_ARCHIVE = "cifar-10-python.tar.gz"
_CIFAR_BATCHES = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}


def dataset_info(name: str) -> DatasetInfo:
    """Look up a dataset by name."""
    if name not in DATASETS:
        raise DatasetError(f"Unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}.")
    return DATASETS[name]


def dataset_dir(name: str, data_dir: str | os.PathLike) -> Path:
    """Where `load_dataset` reads dataset `name` (MNIST, Fashion-MNIST, CIFAR-10): `data_dir/<name>/`.
    Refuses a Hub id (`hf:ORG/NAME`), which would otherwise become a folder of that name."""
    if str(data_dir).startswith(HUB):
        files = [n for n in DATASETS if n not in SPLIT_SIZES]  # read from image files: data/folder.py
        raise DatasetError(
            f"{data_dir} is a Hugging Face Hub dataset, which only {' and '.join(files)} read; {name} is read "
            f"from DATA_DIR/{name}/: give the data directory that holds {name}/"
        )
    return Path(data_dir) / name


def load_dataset(name: str, split: str, data_dir: str | os.PathLike = "data", *, download: bool = True) -> Dataset:
    """Load ``split`` ("train" or "test") of dataset ``name`` from ``data_dir/<name>/``.

    Missing files are downloaded when ``download`` is true. Every problem
    (missing, corrupt, wrong size, failed download) raises `DatasetError`.
    """
    info = dataset_info(name)
    if name not in SPLIT_SIZES:
        raise DatasetError(
            f"{name} is read from its image files as it trains, not loaded whole: see eqx_resnet.data.folder"
        )
    if split not in SPLIT_SIZES[name]:
        raise DatasetError(f"Unknown split {split!r} for {name}; use 'train' or 'test'.")
    directory = dataset_dir(name, data_dir)
    load = _load_cifar if name == "cifar10" else _load_idx
    images, labels = load(info, split, directory, download)
    return Dataset(images, labels, info)


def normalize(images: Real[Array | np.ndarray, "*batch c h w"], info: DatasetInfo) -> Float[Array, "*batch c h w"]:
    """Scale 0..255 pixels to [0, 1], then standardise each channel: ``(x/255 - mean) / std``."""
    channels = len(info.mean)
    if images.shape[-3] != channels:
        raise DatasetError(
            f"normalize: {info.name} images have {channels} channel(s) on axis -3, got shape {images.shape}."
        )
    mean = jnp.asarray(info.mean, jnp.float32)[:, None, None]
    std = jnp.asarray(info.std, jnp.float32)[:, None, None]
    return (jnp.asarray(images, jnp.float32) / 255.0 - mean) / std


def _load_idx(info: DatasetInfo, split: str, directory: Path, download: bool):
    names = _IDX_FILES[split]
    # Either the mirror's .gz or a decompressed copy will do.
    candidates = {n: (directory / f"{n}.gz", directory / n) for n in names}
    found = {n: next((p for p in c if p.is_file()), None) for n, c in candidates.items()}
    missing = [f"{n}.gz" for n, p in found.items() if p is None]
    fetched = _download(info.name, directory, missing, download)
    image_path = found[names[0]] or fetched[f"{names[0]}.gz"]
    label_path = found[names[1]] or fetched[f"{names[1]}.gz"]
    contents = {names[0]: read_idx_bytes(image_path), names[1]: read_idx_bytes(label_path)}
    images = parse_idx(contents[names[0]], image_path)
    labels = parse_idx(contents[names[1]], label_path)

    fix = "Delete the file and download it again."
    h, w = info.image_shape[1:]
    if images.shape[1:] != (h, w):
        raise DatasetError(f"{image_path}: expected {h}x{w} images, got shape {images.shape}. {fix}")
    if labels.ndim != 1:
        raise DatasetError(f"{label_path}: expected a 1-d labels file, got shape {labels.shape}. {fix}")
    if len(images) != len(labels):
        raise DatasetError(
            f"{image_path} has {len(images)} images but {label_path} has {len(labels)} labels; "
            f"the two files do not belong together. {fix}"
        )
    expected = SPLIT_SIZES[info.name][split]
    if len(labels) != expected:
        raise DatasetError(
            f"{image_path}, {label_path}: {len(labels)} examples, but the {info.name} "
            f"{split} split has {expected}. {fix}"
        )
    if labels.max() >= info.num_classes:
        raise DatasetError(f"{label_path}: label {labels.max()} out of range [0, {info.num_classes}). {fix}")

    # Right shapes and sizes, but are they this dataset's? By hash where it is
    # known, else by class counts.
    redo = f"Delete {directory} and run again to download them."
    paths = {names[0]: image_path, names[1]: label_path}
    hashes = _RAW_SHA256.get(info.name)
    if hashes is not None:
        wrong = []
        for base, content in contents.items():
            actual = hashlib.sha256(content).hexdigest()
            if actual != hashes[base]:
                wrong.append(f"{paths[base]}: decompressed content has SHA-256 {actual}, expected {hashes[base]}")
        if wrong:
            raise DatasetError(
                f"{'; '.join(wrong)}: these are corrupt or not the canonical {info.name} files"
                f"{_whose(info.name, split, contents, labels)}. {redo}"
            )
    elif (problem := _unbalanced(info, split, labels)) is not None:
        raise DatasetError(
            f"{label_path} has {problem}: these are not {info.name}'s files"
            f"{_whose(info.name, split, contents, labels)}. {redo}"
        )
    return images[:, None], labels.astype(np.int32)


def _unbalanced(info: DatasetInfo, split: str, labels: np.ndarray) -> str | None:
    """How ``labels`` (all in range) break the split's exact class balance; None if they
    keep it, or if ``info`` is not one of the `_BALANCED` datasets."""
    if info.name not in _BALANCED:
        return None
    per_class = SPLIT_SIZES[info.name][split] // info.num_classes
    counts = np.bincount(labels, minlength=info.num_classes)
    off = np.flatnonzero(counts != per_class)
    if off.size == 0:
        return None
    c = off[0]
    return (
        f"{counts[c]:,} examples of class {c} ({info.classes[c]}), but the {info.name} "
        f"{split} split has exactly {per_class:,} of each class"
    )


def _whose(name: str, split: str, contents: dict[str, bytes], labels: np.ndarray) -> str:
    """A hint at the other IDX dataset whose files these seem to be, for an error message."""
    for other in _IDX_DATASETS - {name}:
        hashes = _RAW_SHA256.get(other)
        if hashes is not None:
            if all(hashlib.sha256(c).hexdigest() == hashes[b] for b, c in contents.items()):
                return f" (they are {other}'s)"
        elif other in _BALANCED and _unbalanced(DATASETS[other], split, labels) is None:
            return f" (perhaps {other}'s: their classes are exactly balanced, as {other}'s are)"
    return ""


def _load_cifar(info: DatasetInfo, split: str, directory: Path, download: bool):
    root = directory / BATCHES_DIR
    if not root.is_dir():
        archive = directory / _CIFAR_ARCHIVE
        if archive.is_file():
            _check_cifar_archive(archive)  # a download is checked as it arrives
        else:
            archive = _download(info.name, directory, [_CIFAR_ARCHIVE], download)[_CIFAR_ARCHIVE]
        extract_cifar_archive(archive, directory)
    paths = [root / batch for batch in _CIFAR_BATCHES[split]]
    absent = [p.name for p in paths if not p.is_file()]
    redo = f"Delete the folder so that it is extracted again from {_CIFAR_ARCHIVE} (downloaded if needed)."
    if absent:
        raise DatasetError(f"{root}: incomplete, missing {', '.join(absent)}. {redo}")
    parts = [read_cifar_batch(p) for p in paths]
    images = np.concatenate([images for images, _ in parts])
    labels = np.concatenate([labels for _, labels in parts])
    expected = SPLIT_SIZES[info.name][split]
    batches = ", ".join(p.name for p in paths)
    if len(labels) != expected:
        raise DatasetError(
            f"{root}: {batches} hold {len(labels)} examples, but the {info.name} {split} split has {expected}. {redo}"
        )
    if (problem := _unbalanced(info, split, labels)) is not None:
        raise DatasetError(f"{root}: {batches} hold {problem}: these are not {info.name}'s files. {redo}")
    return images, labels


def _check_cifar_archive(archive: Path) -> None:
    """Compare a local archive with the SHA-256 of the official one (170 MB: a fraction of
    the time its extraction takes, and done once, before it)."""
    expected = _DOWNLOAD_SHA256["cifar10"][_CIFAR_ARCHIVE]
    try:
        with archive.open("rb") as f:
            actual = hashlib.file_digest(f, "sha256").hexdigest()
    except OSError as exc:
        raise DatasetError(f"{archive}: cannot read the file ({exc}).") from exc
    if actual != expected:
        raise DatasetError(
            f"{archive}: SHA-256 {actual}, expected {expected} (the official archive, "
            f"{_MIRRORS['cifar10']}{_CIFAR_ARCHIVE}): it is corrupt or another file. Delete it "
            "and run again to download it, or extract it yourself into "
            f"{archive.parent / BATCHES_DIR} to have its content checked instead."
        )


def _absent_files(name: str, directory: Path) -> list[str]:
    """Every file of dataset ``name``, as named on its mirror, that ``directory`` lacks."""
    if name == "cifar10":
        present = (directory / BATCHES_DIR).is_dir() or (directory / _CIFAR_ARCHIVE).is_file()
        return [] if present else [_CIFAR_ARCHIVE]
    return [
        f"{n}.gz"
        for pair in _IDX_FILES.values()
        for n in pair
        if not ((directory / f"{n}.gz").is_file() or (directory / n).is_file())
    ]


def _how_to_fetch(name: str, directory: Path) -> str:
    """One line: what ``directory`` lacks of dataset ``name`` and how to put it there."""
    absent = _absent_files(name, directory)
    where = directory.resolve()
    urls = " ".join(_MIRRORS[name] + fname for fname in absent)
    either = "" if name == "cifar10" else " (gzipped or not)"
    return (
        f"{where} is missing {', '.join(absent)}. To fix: download {urls} into {where}{either}, "
        f"or pass a `data_dir` that contains {name}/, or check the network "
        "connection and run again with downloading enabled."
    )


def _download(name: str, directory: Path, missing: list[str], download: bool) -> dict[str, Path]:
    """Fetch the ``missing`` files into ``directory``; return their paths by file name."""
    if not missing:
        return {}
    if not download:
        raise DatasetError(f"{name}: downloading is disabled. {_how_to_fetch(name, directory)}")
    paths = {}
    for fname in missing:
        url = _MIRRORS[name] + fname
        expected = _DOWNLOAD_SHA256[name][fname]
        try:
            paths[fname] = retrieve(url, directory / fname, expected)
        except HashMismatch as exc:
            raise DatasetError(
                f"{directory / fname}: the file downloaded from {url} is corrupt: SHA-256 {exc.actual}, "
                f"expected {expected}. Load again to download it again; if this persists the mirror is "
                "serving a different file."
            ) from exc
        except OSError as exc:  # urllib's URLError and HTTPError among them
            cause = " ".join(f"{type(exc).__name__}: {exc}".split())  # one line
            raise DatasetError(
                f"{name}: the download of {url} failed ({cause}). {_how_to_fetch(name, directory)}"
            ) from exc
    return paths
