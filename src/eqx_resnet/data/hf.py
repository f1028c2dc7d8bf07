"""Image datasets in Hugging Face's `datasets` format as splits of encoded images and labels.

    --data-dir hf:ORG/NAME          a dataset on the Hugging Face Hub (hf:ILSVRC/imagenet-1k, ...);
    --data-dir hf:ORG/NAME@CONFIG   one of its configurations
    --data-dir DIR                  a dataset saved by `save_to_disk` (DIR/dataset_dict.json, or a
                                    single split's DIR/state.json), or parquet or arrow files:
                                    DIR/data/train-*.parquet and validation-*.parquet, or
                                    DIR/train/ and DIR/validation/ folders of them

The images are the column with the `datasets.Image` feature, read still encoded (JPEG, PNG,
...) and decoded by the loader's workers with `data/transforms.py`, as image files are: the
same reduced JPEG decoding and conversions to RGB. The labels are the column with the
`ClassLabel` feature, whose names are the classes, else an integer column `label` or
`labels`, whose distinct values, sorted, are. Training reads the split `train`, evaluation
`validation` (or `val`, `test`), or `val_fraction` of train (`data/folder.py`).

The dataset is opened for random access, not with `streaming=True`: a Hub dataset is
downloaded once into Hugging Face's cache (`HF_HOME`; with `HF_HUB_OFFLINE=1`, or when the Hub
(`HF_ENDPOINT`) gives no answer in time, `_probe_hub`, only the cache is read), parquet files are converted there once, and the loader's workers read any row by its
index from the memory-mapped Arrow files. Drawing examples by index is what makes the batches
the same for any number of workers, a run resume at the exact step it stopped, and each process
read its own shard; an `IterableDataset`, read in order, can do none of these.
"""

import contextlib
import dataclasses
import http.client
import io
import os
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from jaxtyping import Int32, Int64

from .._extras import needs_extra
from ..errors import BadImage, DatasetError

HUB = "hf:"
EVAL_SPLITS = ("validation", "val", "test")
_SAVED = ("dataset_dict.json", "state.json")  # what save_to_disk writes: load_from_disk reads it
_FILES = ("*.parquet", "*/*.parquet", "*.arrow", "*/*.arrow")  # what load_dataset(DIR) reads as a dataset
_FEATURE = "reading a Hugging Face dataset"
_LOGIN = "accept its terms on its Hub page and log in (HF_TOKEN, or `hf auth login`)"
# How long the Hub may take to answer before a Hub id is read from the cache alone: the Hub client
# itself retries an unreachable Hub for half a minute. HF_HUB_ETAG_TIMEOUT, if set, replaces it.
_PROBE_S = 1.5


@dataclass(frozen=True, eq=False)  # eq=False: arrays have no truth value to compare
class HFSplit:
    """One split of a Hugging Face dataset as rows of encoded images and their labels.

    - `root`: the split's name in messages, `hf:ORG/NAME[train]` or `DIR[train]`.
    - `images`: the `datasets.Dataset` of the image column alone, undecoded (`Image(decode=False)`):
      memory-mapped Arrow files, pickled to worker processes as their paths.
    - `column`: the image column's name.
    - `rows`: `(n,)` the split's rows in `images`.
    - `labels`: `(n,)` int32 class indices into `classes`.
    - `classes`: the class names.
    """

    root: str
    images: Any  # a datasets.Dataset; `datasets` is imported only when a dataset is read
    column: str
    rows: Int64[np.ndarray, " n"]
    labels: Int32[np.ndarray, " n"]
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)

    def _image(self, i: int) -> dict:
        return self.images[int(self.rows[i])][self.column]

    def path(self, i: int) -> str:
        """Image `i` named in messages: `root[row]`, and the file name the row keeps, if any."""
        name = self._image(i)["path"]
        return f"{self.root}[{self.rows[i]}]" + (f" ({name})" if name else "")

    def open(self, i: int) -> io.BytesIO | Path:
        """What the transforms read for image `i`: its encoded bytes, or the file a row only names."""
        image = self._image(i)
        if image["bytes"] is not None:
            return io.BytesIO(image["bytes"])
        if image["path"]:
            return Path(image["path"])
        raise BadImage("the row holds no image")

    def subset(self, keep: np.ndarray) -> "HFSplit":
        return dataclasses.replace(self, rows=self.rows[keep], labels=self.labels[keep])


def is_hf(data_dir: str | Path) -> bool:
    """Whether `data_dir` is a Hugging Face dataset: an `hf:` Hub id, or a folder of `save_to_disk`'s
    files or of parquet or arrow files (checked before an image folder's train/, which a saved
    `DatasetDict` also has)."""
    if str(data_dir).startswith(HUB):
        return True
    folder = Path(data_dir)
    return any((folder / m).is_file() for m in _SAVED) or any(next(folder.glob(p), None) for p in _FILES)


def hf_splits(data_dir: str | Path, *, with_validation: bool = True) -> tuple[HFSplit, HFSplit | None]:
    """The training split of the dataset `data_dir` names and, `with_validation`, its evaluation split
    (the first of `EVAL_SPLITS` it has); raises `DatasetError` naming the problem and the fix."""
    splits = _load(data_dir)
    train = _train(data_dir, splits)
    image, label, classes = _columns(data_dir, train)
    train_split = _labelled(data_dir, train, "train", image, label, classes)
    if not with_validation:
        return train_split, None
    name = next((s for s in EVAL_SPLITS if s in splits), None)
    if name is None:
        raise DatasetError(
            f"{data_dir} has no evaluation split ({', '.join(EVAL_SPLITS)}; it has {', '.join(splits)}): "
            "hold out part of train with `val_fraction=0.1`"
        )
    val = _nonempty(data_dir, splits, name)
    if _columns(data_dir, val) != (image, label, classes):
        raise DatasetError(
            f"{data_dir}: its split {name} differs from train in its image or label column, or its classes: "
            "give both splits the same features"
        )
    return train_split, _labelled(data_dir, val, name, image, label, train_split.classes)


def hf_classes(data_dir: str | Path) -> tuple[str, ...]:
    """The class names of the dataset `data_dir` names: its ClassLabel's names (the features alone),
    else the distinct values of its integer label column in train."""
    train = _train(data_dir, _load(data_dir))
    _, label, classes = _columns(data_dir, train)
    return classes or _int_classes(_label_values(data_dir, train, "train", label))


def _datasets():
    with needs_extra(_FEATURE):
        import datasets
    return datasets


def _load(data_dir: str | Path) -> dict[str, Any]:
    """The splits, by name, of the dataset `data_dir` names, opened for random access. A Hub id is read
    from the cache alone (`_offline`) when HF_HUB_OFFLINE is set or the Hub does not answer in time."""
    source = str(data_dir)
    hub = source.startswith(HUB)
    no_answer = _probe_hub() if hub else None  # the probe runs while `datasets` is imported
    datasets = _datasets()
    unanswered = no_answer is not None and not datasets.config.HF_HUB_OFFLINE and no_answer()
    try:
        with _offline(datasets) if unanswered else contextlib.nullcontext():
            if hub:
                name, _, config = source.removeprefix(HUB).partition("@")
                loaded = datasets.load_dataset(name, config or None)
            elif any((Path(source) / m).is_file() for m in _SAVED):
                loaded = datasets.load_from_disk(source)
            else:
                loaded = datasets.load_dataset(source)
    except datasets.exceptions.DatasetNotFoundError as e:
        raise DatasetError(
            f"{source}: {e}: check the id (ORG/NAME, as on huggingface.co/datasets); for a gated dataset, {_LOGIN}"
        ) from None
    except ConnectionError as e:
        why, fix = (
            (unanswered, "check the network connection and HF_ENDPOINT") if unanswered else (e, "unset HF_HUB_OFFLINE")
        )
        raise DatasetError(
            f"{source}: {why}, and it is not in the cache ({datasets.config.HF_DATASETS_CACHE}): "
            f"download it once with a network connection ({fix}), or pass a local copy as `data_dir`"
        ) from None
    except (FileNotFoundError, ValueError, datasets.exceptions.DatasetsError) as e:
        fix = "name a configuration as hf:ORG/NAME@CONFIG" if source.startswith(HUB) else "check its files"
        raise DatasetError(f"{source}: cannot be read as a Hugging Face dataset: {e}; {fix}") from None
    # A single saved Dataset is a training split.
    return {"train": loaded} if isinstance(loaded, datasets.Dataset) else dict(loaded)


def _probe_hub() -> Callable[[], str | None] | None:
    """Start a HEAD request to the Hub (HF_ENDPOINT) in a daemon thread; None under HF_HUB_OFFLINE.

    Returns `no_answer()`: why the Hub gave no answer within `_PROBE_S` seconds of the start (refused, no
    such host, silent), or None if it answered, with any HTTP status or a TLS error (the Hub client
    checks certificates its own way). A daemon thread bounds the wait even where a name lookup hangs.
    """
    with needs_extra(_FEATURE, extra="hf"):  # the Hub client comes with `datasets`
        import huggingface_hub.constants as hub  # light: `huggingface_hub` imports its modules when used

    if hub.HF_HUB_OFFLINE:
        return None
    timeout = hub.HF_HUB_ETAG_TIMEOUT if "HF_HUB_ETAG_TIMEOUT" in os.environ else _PROBE_S
    silent = f"the Hub ({hub.ENDPOINT}) gives no answer"
    outcome: list[str | None] = []

    def probe():
        try:
            urllib.request.urlopen(urllib.request.Request(hub.ENDPOINT, method="HEAD"), timeout=timeout).close()
        except urllib.error.HTTPError as e:
            e.close()
        except urllib.error.URLError as e:  # refused, no such host
            if not isinstance(e.reason, ssl.SSLError):
                outcome.append(f"{silent} ({e.reason})")
        except (OSError, http.client.HTTPException, ValueError) as e:  # reset, timed out, not a URL
            outcome.append(f"{silent} ({type(e).__name__}: {e})")
        outcome.append(None)

    thread = threading.Thread(target=probe, name="hub-probe", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout

    def no_answer() -> str | None:
        thread.join(max(0.0, deadline - time.monotonic()))
        return outcome[0] if outcome else f"{silent} within {timeout:g} s (HF_HUB_ETAG_TIMEOUT)"

    return no_answer


@contextlib.contextmanager
def _offline(datasets):
    """`datasets` and the Hub client read the Hub's cache alone, as under HF_HUB_OFFLINE=1 (which both read
    when imported): a dataset in the cache loads, one that is not fails at once, with no retries."""
    import huggingface_hub.constants

    saved = datasets.config.HF_HUB_OFFLINE, huggingface_hub.constants.HF_HUB_OFFLINE
    datasets.config.HF_HUB_OFFLINE = huggingface_hub.constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, huggingface_hub.constants.HF_HUB_OFFLINE = saved


def _train(data_dir: str | Path, splits: dict[str, Any]) -> Any:
    if "train" not in splits:
        raise DatasetError(
            f"{data_dir} has no split train, which training reads (it has {', '.join(splits) or 'none'}): "
            "name the training split train"
        )
    return _nonempty(data_dir, splits, "train")


def _nonempty(data_dir: str | Path, splits: dict[str, Any], name: str) -> Any:
    if len(splits[name]) == 0:
        raise DatasetError(f"{data_dir}: its split {name} is empty: add images to it")
    return splits[name]


def _columns(data_dir: str | Path, split: Any) -> tuple[str, str, tuple[str, ...] | None]:
    """The image column, the label column and the ClassLabel's names (None for an integer column)."""
    datasets = _datasets()
    features = split.features
    columns = ", ".join(features)
    images = [k for k, f in features.items() if isinstance(f, datasets.Image)]
    if len(images) != 1:
        what = f"{len(images)} image columns ({', '.join(images)})" if images else "no image column"
        raise DatasetError(
            f"{data_dir} has {what} among {columns}: keep one column of encoded images with the datasets.Image "
            "feature (dataset.cast_column(name, datasets.Image()), then save_to_disk)"
        )
    labelled = [k for k, f in features.items() if isinstance(f, datasets.ClassLabel)]
    if len(labelled) > 1:
        raise DatasetError(
            f"{data_dir} has several ClassLabel columns ({', '.join(labelled)}): keep the one to train on "
            "(dataset.remove_columns([...]), then save_to_disk)"
        )
    if labelled:
        return images[0], labelled[0], tuple(features[labelled[0]].names)
    integer = [
        k
        for k in ("label", "labels")
        if isinstance(features.get(k), datasets.Value) and features[k].dtype.startswith(("int", "uint"))
    ]
    if not integer:
        raise DatasetError(
            f"{data_dir} has no label column among {columns}: add a ClassLabel column, or an integer column label"
        )
    return images[0], integer[0], None


def _label_values(data_dir: str | Path, split: Any, name: str, label: str) -> np.ndarray:
    column = split.select_columns([label]).with_format("arrow")[:][label]  # one Arrow column, no row decoding
    if column.null_count:
        raise DatasetError(f"{data_dir}: {column.null_count} rows of its split {name} have no label: label them")
    return column.to_numpy()


def _int_classes(values: np.ndarray) -> tuple[str, ...]:
    return tuple(str(v) for v in np.unique(values))


def _labelled(
    data_dir: str | Path, split: Any, name: str, image: str, label: str, classes: tuple[str, ...] | None
) -> HFSplit:
    """`split` as an `HFSplit`: labels checked against `classes` (of the ClassLabel, or for an integer
    column, those of train: None when `split` is train)."""
    datasets = _datasets()
    values = _label_values(data_dir, split, name, label)
    if isinstance(split.features[label], datasets.ClassLabel):
        unlabelled = int((values < 0).sum())  # ClassLabel's -1: no label (ImageNet's test split)
        if unlabelled:
            fix = "drop them (dataset.filter)" if name == "train" else "hold out part of train with `val_fraction=0.1`"
            raise DatasetError(f"{data_dir}: {unlabelled} rows of its split {name} have no label (-1): {fix}")
        labels = values
    else:
        classes = classes or _int_classes(values)
        known = np.array([int(c) for c in classes])
        labels = np.searchsorted(known, values)
        unknown = np.setdiff1d(values, known)  # sorted, distinct
        if unknown.size:
            raise DatasetError(
                f"{data_dir}: its split {name} has labels train lacks: {', '.join(map(str, unknown[:5]))}; "
                "give train examples of every class, or drop those rows"
            )
    images = split.select_columns([image]).cast_column(image, datasets.Image(decode=False))
    return HFSplit(
        f"{data_dir}[{name}]", images, image, np.arange(len(split), dtype=np.int64), labels.astype(np.int32), classes
    )
