"""Image folders on disk as lists of files and labels: torchvision's `ImageFolder` layout and ImageNet's.

    DIR/train/<class>/**/*.jpg     the training images, one folder per class (any depth below it)
    DIR/val/<class>/**/*.jpg       the validation images, the same class folders (or validation/, test/)

A class's index is its folder's place among the sorted folder names, as in torchvision. For
`imagenet` the folders are WordNet ids (`n01440764`, ...), named for display by their lemmas
(`data/imagenet.py`), and the validation split may also be ILSVRC-2012's own flat folder of
`ILSVRC2012_val_*.JPEG` with either the devkit (`ILSVRC2012_devkit_t12/` or its `.tar.gz`:
`meta.mat` and the ground-truth file) or Kaggle's `LOC_val_solution.csv` beside it.
`val_fraction` holds out that fraction of each class of train/ instead of using a val/ folder (`data/holdout.py`).

Listing reads directory entries only; an image is opened when it is first decoded
(`data/transforms.py`), where an unreadable one is skipped and counted.

Links: a file link counts wherever it points (a dataset of links to files on another disk). A
directory link is followed only to a folder not listed yet, not holding its own class folder or
the split (a loop), and not inside another class folder of the split (images under the wrong
label); the links not followed are named in one `FolderLinkWarning`. A file counts once per
class, however many links lead to it. A class folder that links to a folder holding its split,
or into another class folder, is refused.
"""

import csv
import dataclasses
import io
import os
import re
import tarfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from jaxtyping import Int32

from .._messages import few
from ..errors import FolderLinkWarning
from .datasets import DatasetInfo, dataset_info
from .hf import HFSplit, hf_classes, hf_splits, is_hf
from .holdout import held_out
from .idx import DatasetError
from .imagenet import IMAGENET_CLASSES, IMAGENET_SYNSETS

# torchvision's IMG_EXTENSIONS, and WebP: the suffixes (any case) of the files a class folder holds.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
VAL_FOLDERS = ("val", "validation", "test")
STREAMING_DATASETS = ("imagefolder", "imagenet")
_DEVKIT = "ILSVRC2012_devkit_t12"
_KAGGLE_SOLUTION = "LOC_val_solution.csv"
_FLAT_VAL = re.compile(r"ILSVRC2012_val_(\d{8})\.JPEG$", re.IGNORECASE)
_LAYOUT = "DIR/train/<class>/*.jpg and DIR/val/<class>/*.jpg"


@dataclass(frozen=True, eq=False)  # eq=False: arrays have no truth value to compare
class FileSplit:
    """One split as image files under `root` and their labels.

    - `root`: the folder the paths are relative to.
    - `paths`: `(n,)` file paths relative to `root`, as bytes (`os.fsencode`): a compact
      array to hand to worker processes.
    - `labels`: `(n,)` int32 class indices into `classes`.
    - `classes`: the class folder names, sorted.
    """

    root: Path
    paths: np.ndarray
    labels: Int32[np.ndarray, " n"]
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)

    def path(self, i: int) -> Path:
        """The full path of file `i`."""
        return self.root / os.fsdecode(self.paths[i])

    def open(self, i: int) -> Path:
        """What the transforms read for image `i`: its path."""
        return self.path(i)

    def subset(self, keep: np.ndarray) -> "FileSplit":
        return dataclasses.replace(self, paths=self.paths[keep], labels=self.labels[keep])


Split = FileSplit | HFSplit  # what the loader reads (data/stream.py): image files, or a Hugging Face dataset's rows


def dataset_root(dataset: str, data_dir: str | os.PathLike) -> Path:
    """The folder holding train/: `data_dir` itself, else `data_dir/<dataset>` (the default ./data/imagenet)."""
    data_dir = Path(data_dir)
    for root in (data_dir, data_dir / dataset):
        if (root / "train").is_dir():
            return root
    if not data_dir.is_dir():
        raise DatasetError(f"{dataset}: {data_dir} does not exist: pass a `data_dir` laid out as {_LAYOUT}")
    raise DatasetError(
        f"{data_dir} has no train/ folder (nor has {data_dir / dataset}): {dataset} reads {_LAYOUT}, "
        "one folder per class; pass a `data_dir` laid out so"
    )


def list_classes(folder: Path) -> tuple[str, ...]:
    """The sorted names of the class folders in `folder`; refuses a folder without any."""
    try:
        classes = tuple(sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith(".")))
    except OSError as e:
        raise DatasetError(f"cannot list {folder}: {e.strerror}; check the path and its permissions") from None
    if not classes:
        stray = any(e.is_file() and e.name.lower().endswith(IMAGE_EXTENSIONS) for e in os.scandir(folder))
        hint = ": its images lie directly in it; move them into one folder per class" if stray else ""
        raise DatasetError(f"{folder} holds no class folders{hint} ({_LAYOUT})")
    return classes


def scan_classes(folder: Path, classes: tuple[str, ...]) -> tuple[FileSplit, list[str]]:
    """Every image file below `folder/<class>/` (in `os.walk`'s order: top-down, sorted), labelled by its
    class's index, and the directory links not followed, as `"train/cat/loop -> . (a loop)"` (the
    module's docstring has the rule).

    Refuses class folders without images, naming them.
    """
    reals = {name: os.path.realpath(folder / name) for name in classes}
    paths, labels, empty, skipped = [], [], [], []
    for label, name in enumerate(classes):
        found = _class_files(folder, name, reals, skipped)
        if not found:
            empty.append(name)
        paths += found
        labels += [label] * len(found)
    if empty:
        shown = few([f"{folder / e}/" for e in empty])
        raise DatasetError(
            f"{shown} hold{'s' if len(empty) == 1 else ''} no images ({', '.join(IMAGE_EXTENSIONS)}): "
            "add images or remove the empty class folder"
        )
    split = FileSplit(folder, np.array([os.fsencode(p) for p in paths]), np.array(labels, np.int32), classes)
    return split, skipped


def _class_files(folder: Path, name: str, reals: dict[str, str], skipped: list[str]) -> list[str]:
    """The image files below `folder/name`, relative to `folder`; appends the directory links it does not
    follow to `skipped`. `reals`: every class folder's real path."""
    split, top = os.path.realpath(folder), reals[name]
    others = {other: real for other, real in reals.items() if other != name}
    _check_class_link(folder / name, split, top, others)

    def not_followed(real: str) -> str | None:
        if _within(top, real) or _within(split, real):
            return "a loop"
        return next((f"into class {other}" for other, r in others.items() if _within(real, r)), None)

    listed: set[tuple[int, int]] = set()  # (st_dev, st_ino) of the folders listed
    found: list[tuple[str, os.DirEntry]] = []
    stack = [(name, False)]  # (a folder relative to `folder`, whether it is a link), the next one last
    while stack:
        relative, link = stack.pop()
        try:
            stat = os.stat(folder / relative)
            with os.scandir(folder / relative) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError:  # unreadable: left out, as os.walk does
            continue
        why = not_followed(os.path.realpath(folder / relative)) if link else None
        why = why or ("listed already" if (stat.st_dev, stat.st_ino) in listed else None)
        if why:
            if link:
                skipped.append(f"{Path(folder.name, relative)} -> {os.readlink(folder / relative)} ({why})")
            continue
        listed.add((stat.st_dev, stat.st_ino))
        subdirs = []
        for entry in entries:
            if _is_dir(entry):
                subdirs.append(entry)
            elif entry.name.lower().endswith(IMAGE_EXTENSIONS):
                found.append((os.path.join(relative, entry.name), entry))
        stack += [(os.path.join(relative, e.name), e.is_symlink()) for e in reversed(subdirs)]
    if any(entry.is_symlink() for _, entry in found):  # a file link may lead to a file listed already
        found = _once(found)
    return [path for path, _ in found]


def _check_class_link(path: Path, split: str, top: str, others: dict[str, str]) -> None:
    """Refuse a class folder `path` (real path `top`) that links to a folder holding its `split` or into
    another class folder (`others`: their real paths)."""
    if os.path.islink(path) and (_within(split, top) or any(_within(top, r) for r in others.values())):
        where = f"a folder that holds {path.parent}" if _within(split, top) else "another class folder"
        raise DatasetError(
            f"{path} is a link to {os.readlink(path)}, {where}: a class folder holds (or links to) its own "
            "class's images; point the link at them"
        )


def _within(path: str, folder: str) -> bool:
    """Whether the real path `path` is `folder` or lies below it."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()  # follows links
    except OSError:
        return False


def _once(files: list[tuple[str, os.DirEntry]]) -> list[tuple[str, os.DirEntry]]:
    """`files` without those that lead to a file met before (by a link, or a hard link)."""
    seen, kept = set(), []
    for path, entry in files:
        try:
            stat = entry.stat()  # of the file a link leads to
            key = (stat.st_dev, stat.st_ino)
        except OSError:  # a broken link: listed, to be reported as unreadable when decoded
            key = path
        if key not in seen:
            seen.add(key)
            kept.append((path, entry))
    return kept


def open_splits(dataset: str, data_dir: str | os.PathLike, *, val_fraction: float | None = None) -> tuple[Split, Split]:
    """The training and validation splits of `dataset` ("imagefolder" or "imagenet") in `data_dir`,
    or in the Hugging Face dataset it names (`data/hf.py`: an `hf:` Hub id, parquet, `save_to_disk`).

    The validation split is val/ (or validation/, test/) with the same class folders as
    train/, ILSVRC-2012's flat validation folder for `imagenet`, or, with `val_fraction`,
    that fraction of each class of train/ (at least one image of a class with two or more),
    chosen the same way whatever the run's seed, so runs compare on the same images.
    Raises `DatasetError` naming the problem: no train/, no class folders, an empty class
    folder, a class folder linked to a folder holding its split or into another class folder,
    validation classes that differ from train/'s, no validation split. Warns once
    (`FolderLinkWarning`) naming the directory links it did not follow (the module's docstring).
    """
    if dataset not in STREAMING_DATASETS:
        raise DatasetError(f"{dataset} is not read from image folders; those are {', '.join(STREAMING_DATASETS)}")
    if is_hf(data_dir):
        train, val = hf_splits(data_dir, with_validation=val_fraction is None)
        return _hold_out(train, val_fraction) if val is None else (train, val)
    root = dataset_root(dataset, data_dir)
    train, val, skipped = _folder_splits(dataset, root, val_fraction)
    _warn_links(root, skipped)
    return train, val


def _folder_splits(dataset: str, root: Path, val_fraction: float | None) -> tuple[FileSplit, FileSplit, list[str]]:
    """`open_splits` of the folder `root`, and the directory links it did not follow."""
    classes = list_classes(root / "train")
    if dataset == "imagenet":
        _check_synsets(root / "train", classes)
    train, skipped = scan_classes(root / "train", classes)
    if val_fraction is not None:
        return *_hold_out(train, val_fraction), skipped
    val_dir = next((root / v for v in VAL_FOLDERS if (root / v).is_dir()), None)
    if val_dir is None:
        raise DatasetError(
            f"{root} has no validation folder ({'/, '.join(VAL_FOLDERS)}/): add val/ with the class folders of train/, "
            "or hold out part of train/ with `val_fraction=0.1`"
        )
    if dataset == "imagenet" and (flat := _flat_val_files(val_dir)):
        return train, _ilsvrc_val(root, val_dir, flat, classes), skipped
    val_classes = list_classes(val_dir)
    if val_classes != classes:
        extra, missing = sorted(set(val_classes) - set(classes)), sorted(set(classes) - set(val_classes))
        what = "; ".join(
            x
            for x in (
                f"{val_dir} has classes train/ lacks: {few(extra)}" if extra else "",
                f"{val_dir} lacks classes of train/: {few(missing)}" if missing else "",
            )
            if x
        )
        raise DatasetError(
            f"{what}: the validation split needs the class folders of the training split, no more, no fewer"
        )
    val, more = scan_classes(val_dir, classes)
    return train, val, skipped + more


def _warn_links(root: Path, skipped: list[str]) -> None:
    """One warning naming the directory links of `root`'s splits that were not followed."""
    if skipped:
        warnings.warn(
            f"{root}: not following {len(skipped)} directory link{'s' * (len(skipped) > 1)}: "
            f"{few(skipped, 3)}; each image is listed once, under the class folder it lies in",
            FolderLinkWarning,
            stacklevel=3,
        )


def info_for(dataset: str, data_dir: str | os.PathLike, image_size: int | None) -> DatasetInfo:
    """`dataset_info(dataset)`, or for a folder dataset its `folder_info` from the class folders of
    train/ alone (a directory listing: the files are counted by `open_splits`), or from a Hugging
    Face dataset's label feature."""
    if dataset not in STREAMING_DATASETS:
        return dataset_info(dataset)
    if is_hf(data_dir):
        return folder_info(dataset, hf_classes(data_dir), image_size)
    train = dataset_root(dataset, data_dir) / "train"
    classes = list_classes(train)
    if dataset == "imagenet":
        _check_synsets(train, classes)
    return folder_info(dataset, classes, image_size)


def folder_info(dataset: str, classes: tuple[str, ...], image_size: int | None) -> DatasetInfo:
    """The `DatasetInfo` of a folder dataset: its classes (ImageNet's by their lemmas) and crop size."""
    template = dataset_info(dataset)
    size = image_size or template.image_shape[-1]
    if dataset == "imagenet":
        index = {s: i for i, s in enumerate(IMAGENET_SYNSETS)}
        # Folders are synsets; a Hugging Face dataset's ClassLabel names are already the lemmas.
        classes = tuple(IMAGENET_CLASSES[index[s]] if s in index else s for s in classes)
    return dataclasses.replace(template, num_classes=len(classes), classes=classes, image_shape=(3, size, size))


def _check_synsets(folder: Path, classes: tuple[str, ...]) -> None:
    unknown = sorted(set(classes) - set(IMAGENET_SYNSETS))
    if unknown:
        raise DatasetError(
            f"{folder} has class folders that are not ImageNet synset ids (n01440764, ...): {few(unknown)}; "
            "train on other classes as imagefolder"
        )


def _hold_out(train: Split, fraction: float) -> tuple[Split, Split]:
    """`train` split by class into what it keeps and `fraction` of it held out (seed-independent)."""
    held = held_out(train.labels, len(train.classes), fraction)
    return train.subset(~held), train.subset(held)


def _flat_val_files(val_dir: Path) -> list[str]:
    return sorted(e.name for e in os.scandir(val_dir) if e.is_file() and _FLAT_VAL.match(e.name))


def _ilsvrc_val(root: Path, val_dir: Path, files: list[str], classes: tuple[str, ...]) -> FileSplit:
    """ILSVRC-2012's flat validation folder `val_dir` (its image `files`, sorted), labelled by
    Kaggle's CSV or the devkit's ground truth in `root`."""
    if (root / _KAGGLE_SOLUTION).is_file():
        synset_of = _kaggle_labels(root / _KAGGLE_SOLUTION)
    else:
        synset_of = _devkit_labels(root, val_dir, files)
    index = {name: i for i, name in enumerate(classes)}
    missing = [f for f in files if Path(f).stem not in synset_of]
    if missing:
        raise DatasetError(
            f"{val_dir}: no ground truth for {len(missing)} images ({few(missing, 2)}); "
            "the ground-truth file is not this folder's"
        )
    # Images of synsets train/ lacks (a class subset of ImageNet) are not evaluated.
    keep = [f for f in files if synset_of[Path(f).stem] in index]
    if not keep:
        raise DatasetError(f"{val_dir}: none of its images is of a class in train/")
    labels = np.array([index[synset_of[Path(f).stem]] for f in keep], np.int32)
    return FileSplit(val_dir, np.array([os.fsencode(f) for f in keep]), labels, classes)


def _kaggle_labels(path: Path) -> dict[str, str]:
    """`{"ILSVRC2012_val_00000001": "n01751748", ...}` from Kaggle's `LOC_val_solution.csv`."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    try:
        return {row["ImageId"]: row["PredictionString"].split()[0] for row in rows}
    except (KeyError, IndexError):
        raise DatasetError(
            f"{path}: expected the columns ImageId,PredictionString of Kaggle's ImageNet validation solution"
        ) from None


def _devkit_labels(root: Path, val_dir: Path, files: list[str]) -> dict[str, str]:
    """Each validation image's synset from the devkit: `data/meta.mat` (ILSVRC2012_ID -> WordNet id)
    and `data/ILSVRC2012_validation_ground_truth.txt` (one ID per image, in file-name order)."""
    members = ("data/meta.mat", "data/ILSVRC2012_validation_ground_truth.txt")
    if (root / _DEVKIT).is_dir():
        contents = [(root / _DEVKIT / m).read_bytes() if (root / _DEVKIT / m).is_file() else None for m in members]
    elif (root / f"{_DEVKIT}.tar.gz").is_file():
        with tarfile.open(root / f"{_DEVKIT}.tar.gz") as tar:
            names = {Path(n).as_posix().split("/", 1)[-1]: n for n in tar.getnames()}
            contents = [tar.extractfile(names[m]).read() if m in names else None for m in members]
    else:
        raise DatasetError(
            f"{val_dir} is ILSVRC-2012's flat validation folder, without its labels: put {_DEVKIT}/ (or "
            f"{_DEVKIT}.tar.gz) or Kaggle's {_KAGGLE_SOLUTION} in {root}, or sort the images into class folders"
        )
    if None in contents:
        raise DatasetError(
            f"{root / _DEVKIT}: incomplete, missing {members[contents.index(None)]}; extract the devkit again"
        )
    from scipy.io import loadmat  # here: scipy.io takes 0.25 s to import, for the devkit alone (scipy comes with jax)

    synsets = loadmat(io.BytesIO(contents[0]), squeeze_me=True)["synsets"]
    wnid = {int(s["ILSVRC2012_ID"]): str(s["WNID"]) for s in synsets if int(s["num_children"]) == 0}
    truth = [int(line) for line in contents[1].decode().split()]
    if len(truth) < len(files):
        raise DatasetError(
            f"{root / _DEVKIT}: the ground truth lists {len(truth)} images, the folder holds {len(files)}"
        )
    # Line k is the image numbered k (ILSVRC2012_val_0000000k.JPEG).
    return {Path(f).stem: wnid[truth[int(_FLAT_VAL.match(f)[1]) - 1]] for f in files}
