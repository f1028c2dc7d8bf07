"""Hugging Face datasets as image-folder splits (data/hf.py), offline: a save_to_disk folder and a
parquet folder read as the same images as an image folder, trained on from the CLI, the Hub's
wiring with `load_dataset` replaced, a Hub that does not answer (a local port), and every unusable
dataset refused naming the fix."""

import contextlib
import io
import json
import os
import pickle
import shutil
import socket
import subprocess
import sys
import threading
import time

import datasets
import huggingface_hub.constants
import jax
import numpy as np
import pytest
from _folders import CLASSES, make_folder
from _runs import TINY_MODEL_ARGS
from datasets import ClassLabel, Dataset, DatasetDict, Features, Image, Value
from PIL import Image as PILImage
from typer.testing import CliRunner

from eqx_resnet._extras import MissingExtra
from eqx_resnet.cli import app
from eqx_resnet.data import DatasetError
from eqx_resnet.data.datasets import dataset_info
from eqx_resnet.data.folder import folder_info, info_for, open_splits
from eqx_resnet.data.hf import is_hf
from eqx_resnet.data.imagenet import IMAGENET_CLASSES
from eqx_resnet.data.stream import StreamingSource
from eqx_resnet.data.transforms import EvalTransform, TrainTransform

runner = CliRunner()
FEATURES = Features({"image": Image(), "label": ClassLabel(names=list(CLASSES))})


@contextlib.contextmanager
def refusing_port():
    """A local port that refuses connections: bound, never listening, so that nothing else takes it."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield bound.getsockname()[1]


@contextlib.contextmanager
def silent_port(limit_s: float = 120):
    """A local port that accepts connections and never answers, for at most `limit_s` seconds."""
    stop, held = threading.Event(), []
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(0.1)

        def accept():
            deadline = time.monotonic() + limit_s
            while not stop.is_set() and time.monotonic() < deadline:
                with contextlib.suppress(TimeoutError):
                    held.append(server.accept()[0])

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        try:
            yield server.getsockname()[1]
        finally:
            stop.set()
            thread.join()
            for connection in held:
                connection.close()


@pytest.fixture(autouse=True)
def hf_cache(tmp_path, monkeypatch):
    """Hugging Face's caches in a temporary folder: nothing written to the user's; and a Hub that refuses
    connections: nothing asked of the real one. `datasets` and the Hub client read the variables when
    first imported, so their settings are replaced too."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf" / "datasets"))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf" / "datasets")
    with refusing_port() as port:
        endpoint = f"http://127.0.0.1:{port}"
        monkeypatch.setenv("HF_ENDPOINT", endpoint)
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", endpoint)
        monkeypatch.setattr(datasets.config, "HF_ENDPOINT", endpoint)
        yield


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """3 classes x 4 training and 2 validation images of mixed sizes, formats and modes."""
    return make_folder(tmp_path_factory.mktemp("images"), train=4, val=2)


def png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    PILImage.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def as_dataset(split) -> Dataset:
    """An image folder's split as a Dataset: each file's bytes, its name and its class."""
    files = [split.path(i) for i in range(len(split))]
    return Dataset.from_dict(
        {"image": [{"bytes": f.read_bytes(), "path": f.name} for f in files], "label": split.labels.tolist()},
        features=FEATURES,
    )


def save(folder, out, layout):
    """The image folder `folder` written as a Hugging Face dataset in `out`: `save_to_disk`'s
    DatasetDict, or the Hub's parquet layout (data/train-*.parquet, data/validation-*.parquet)."""
    train, val = open_splits("imagefolder", folder)
    splits = DatasetDict(train=as_dataset(train), validation=as_dataset(val))
    if layout == "save_to_disk":
        splits.save_to_disk(out)
    else:
        (out / "data").mkdir(parents=True)
        for name, split in splits.items():
            split.to_parquet(out / "data" / f"{name}-00000-of-00001.parquet")
    return out


def epoch(split, key, shuffle):
    """An epoch of `split` through the loader (training crops when `shuffle`) as numpy."""
    transform = TrainTransform(16) if shuffle else EvalTransform(16)
    src = StreamingSource(split, folder_info("imagefolder", CLASSES, 16), 4, transform, workers=0, shuffle=shuffle)
    images, labels = zip(*(map(np.asarray, chunk) for _, chunk in src.chunks(key, 0, 1)), strict=True)
    return np.concatenate(images), np.concatenate(labels)


@pytest.mark.parametrize("layout", ["save_to_disk", "parquet"])
def test_a_saved_or_parquet_dataset_reads_as_the_same_images_as_the_folder(folder, tmp_path, layout):
    root = save(folder, tmp_path / "hf-data", layout)
    assert is_hf(root) and not is_hf(folder)  # a save_to_disk DatasetDict has a train/ folder too
    assert info_for("imagefolder", root, 16) == info_for("imagefolder", folder, 16)
    files, rows = open_splits("imagefolder", folder), open_splits("imagefolder", root)
    for f, r, name in zip(files, rows, ("train", "validation"), strict=True):
        assert r.classes == CLASSES and r.labels.dtype == np.int32 and np.array_equal(r.labels, f.labels)
        assert r.root == f"{root}[{name}]" and r.path(1) == f"{root}[{name}][1] ({f.path(1).name})"
        key = jax.random.key(3, impl="rbg") if name == "train" else None
        images, labels = epoch(r, key, shuffle=name == "train")
        expected = epoch(f, key, shuffle=name == "train")
        assert np.array_equal(images, expected[0]) and np.array_equal(labels, expected[1])
    # A worker process receives the memory-mapped split as its file's path, not its images.
    train = rows[0]
    encoded = sum(len(train.open(i).getvalue()) for i in range(len(train)))
    copy = pickle.loads(pickle.dumps(train))
    assert len(pickle.dumps(train)) < encoded / 4 and copy.open(5).getvalue() == train.open(5).getvalue()


def test_a_saved_dataset_with_integer_labels_holds_out_part_of_train(folder, tmp_path):
    train = as_dataset(open_splits("imagefolder", folder)[0])
    train = train.cast_column("label", Value("int64")).map(lambda row: {"label": [7, 30, 100][row["label"]]})
    train.save_to_disk(tmp_path / "one")  # a single Dataset: state.json
    assert info_for("imagefolder", tmp_path / "one", None).classes == ("7", "30", "100")
    kept, held = open_splits("imagefolder", tmp_path / "one", val_fraction=0.25)
    assert (len(kept), len(held)) == (9, 3) and np.bincount(held.labels).tolist() == [1, 1, 1]
    assert kept.classes == ("7", "30", "100") and kept.labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_train_eval_and_predict_a_parquet_folder_from_the_cli(folder, tmp_path, monkeypatch):
    root, out = save(folder, tmp_path / "pq", "parquet"), tmp_path / "run"
    model = [*TINY_MODEL_ARGS, "--image-size", "16"]
    args = ["train", "imagefolder", "--data-dir", str(root), *model, "--batch-size", "4", "--epochs", "1"]
    result = runner.invoke(app, [*args, "--workers", "0", "--out", str(out), "--no-compilation-cache", "--json"])
    assert result.exit_code == 0, result.output
    final = json.loads(result.stdout.strip().splitlines()[-1])
    meta = json.loads((out / "best" / "metadata.json").read_text())
    assert meta["class_names"] == list(CLASSES) and meta["data_dir"] == str(root)
    result = runner.invoke(app, ["eval", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["test_acc"] == pytest.approx(final["test_acc"])
    image = tmp_path / "owl.png"
    image.write_bytes(open_splits("imagefolder", root)[1].open(5).getvalue())
    # The same dataset named by a Hub id: the id reaches the loader as it is, not as a path.
    splits, calls = datasets.load_dataset(str(root)), []
    monkeypatch.setattr(datasets, "load_dataset", lambda *args: calls.append(args) or splits)
    result = runner.invoke(app, ["eval", str(out), "--data-dir", "hf:ORG/NAME", "--json"])
    assert result.exit_code == 0, result.output
    assert calls == [("ORG/NAME", None)]
    assert json.loads(result.stdout)["test_acc"] == pytest.approx(final["test_acc"])
    result = runner.invoke(app, ["predict", str(out), str(image), "--top", "3", "--json"])
    assert result.exit_code == 0, result.output
    assert sorted(t["label"] for t in json.loads(result.stdout)["top"]) == sorted(CLASSES)


def test_a_hub_id_is_loaded_by_name_and_config_and_read_by_the_loader(monkeypatch):
    names = IMAGENET_CLASSES[:2]
    rng = np.random.default_rng(0)
    images = [{"bytes": png(rng.integers(0, 255, (24, 20, 3), dtype=np.uint8)), "path": None} for _ in range(4)]
    hub = DatasetDict(
        train=Dataset.from_dict(
            {"image": images, "label": [0, 1, 1, 0]},
            features=Features({"image": Image(), "label": ClassLabel(names=list(names))}),
        ),
        test=Dataset.from_dict({"image": images[:1], "label": [-1]}, features=FEATURES),  # unlabelled, unread
    )
    hub["validation"] = hub["train"].select([1, 2])
    calls = []
    monkeypatch.setattr(datasets, "load_dataset", lambda *args: calls.append(args) or hub)
    info = info_for("imagenet", "hf:ILSVRC/imagenet-1k@default", 16)
    assert info.classes == names and calls == [("ILSVRC/imagenet-1k", "default")]
    template = dataset_info("imagenet")
    assert (info.crop_pct, info.mean, info.std) == (template.crop_pct, template.mean, template.std)
    train, val = open_splits("imagenet", "hf:ILSVRC/imagenet-1k")
    assert calls[1] == ("ILSVRC/imagenet-1k", None) and val.root == "hf:ILSVRC/imagenet-1k[validation]"
    assert train.path(0) == "hf:ILSVRC/imagenet-1k[train][0]" and val.labels.tolist() == [1, 1]
    batch, labels = epoch(train, jax.random.key(0, impl="rbg"), shuffle=True)
    assert batch.shape == (1, 4, 3, 16, 16) and sorted(labels.ravel().tolist()) == [0, 0, 1, 1]


def refused(tmp_path, monkeypatch, case):
    """A saved dataset with one thing wrong (an empty split, which `datasets` cannot save, from the Hub)."""
    rng = np.random.default_rng(0)
    image = {"bytes": png(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)), "path": None}
    rows = {"image": [image, image], "label": [0, 2]}
    train = Dataset.from_dict(rows, features=FEATURES)
    splits = {"train": train, "validation": train}
    if case == "no image column":
        splits = {k: Dataset.from_dict({"pixels": [b"x", b"y"], "label": [0, 2]}) for k in splits}
    elif case == "no label column":
        splits = {k: s.remove_columns("label") for k, s in splits.items()}
    elif case == "no validation split":
        del splits["validation"]
    elif case == "unlabelled validation":
        splits["validation"] = Dataset.from_dict({**rows, "label": [-1, -1]}, features=FEATURES)
    elif case == "integer labels train lacks":
        splits = {k: s.cast_column("label", Value("int64")) for k, s in splits.items()}
        splits["validation"] = Dataset.from_dict({**rows, "label": [0, 5]}, features=splits["train"].features)
    elif case == "other validation classes":
        splits["validation"] = train.cast_column("label", ClassLabel(names=["cat", "dog", "bird"]))
    elif case == "empty training split":
        monkeypatch.setattr(datasets, "load_dataset", lambda *args: DatasetDict(splits, train=train.select([])))
        return "hf:ORG/NAME"
    DatasetDict(splits).save_to_disk(tmp_path / "data")
    return tmp_path / "data"


@pytest.mark.parametrize(
    "case, message",
    [
        (
            "no image column",
            r"has no image column among pixels, label: keep one column of encoded images with the datasets.Image "
            r"feature \(dataset.cast_column\(name, datasets.Image\(\)\), then save_to_disk\)",
        ),
        ("no label column", "has no label column among image: add a ClassLabel column, or an integer column label"),
        (
            "no validation split",
            r"has no evaluation split \(validation, val, test; it has train\): hold out part of train "
            "with `val_fraction=0.1`",
        ),
        ("unlabelled validation", r"2 rows of its split validation have no label \(-1\): hold out part of train"),
        (
            "integer labels train lacks",
            "its split validation has labels train lacks: 5; give train examples of every class, or drop those rows",
        ),
        (
            "other validation classes",
            "its split validation differs from train in its image or label column, or its classes: give both splits",
        ),
        ("empty training split", "hf:ORG/NAME: its split train is empty: add images to it"),
    ],
)
def test_unusable_datasets_are_refused_naming_the_fix(tmp_path, monkeypatch, case, message):
    with pytest.raises(DatasetError, match=message):
        open_splits("imagefolder", refused(tmp_path, monkeypatch, case))


def test_without_the_datasets_library_the_message_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # `import datasets` raises ImportError
    with pytest.raises(
        MissingExtra, match=r"^reading a Hugging Face dataset needs datasets: pip install 'eqx-resnet\[hf\]'$"
    ):
        info_for("imagefolder", "hf:ORG/NAME", None)


def test_a_hub_id_offline_and_not_cached_is_refused_naming_the_cache(tmp_path, monkeypatch):
    for variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.setenv(variable, "1")
    # Both libraries read the variable when imported, before this test.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    with pytest.raises(
        DatasetError,
        match=rf"hf:someone/nothing: Couldn't reach 'someone/nothing' on the Hub .*, and it is not in the cache "
        rf"\({tmp_path / 'hf' / 'datasets'}\): download it once with a network connection",
    ):
        open_splits("imagefolder", "hf:someone/nothing")


def test_a_hub_id_not_found_or_gated_is_refused_naming_the_login(monkeypatch):
    def gated(*args):
        raise datasets.exceptions.DatasetNotFoundError(f"Dataset '{args[0]}' is a gated dataset on the Hub.")

    monkeypatch.setattr(datasets, "load_dataset", gated)
    with pytest.raises(
        DatasetError,
        match=r"hf:ILSVRC/imagenet-1k: Dataset 'ILSVRC/imagenet-1k' is a gated dataset on the Hub.: check the id "
        r".*accept its terms on its Hub page and log in \(HF_TOKEN, or `hf auth login`\)",
    ):
        open_splits("imagenet", "hf:ILSVRC/imagenet-1k")


def in_the_hub_cache(splits: DatasetDict, repo_id: str) -> None:
    """`splits` in the Hub cache as `datasets.load_dataset(repo_id)` leaves a download there: the parquet
    builder's Arrow files in HF_DATASETS_CACHE/ORG___NAME/default/."""
    from datasets.packaged_modules.parquet.parquet import Parquet

    org, name = repo_id.split("/")
    files = {}
    for split, rows in splits.items():
        files[split] = str(datasets.config.HF_DATASETS_CACHE / f"{split}.parquet")
        rows.to_parquet(files[split])
    builder = Parquet(dataset_name=name, data_files=files, hash="0123abcd")
    builder.download_and_prepare()
    config = datasets.config.HF_DATASETS_CACHE / name / builder.config_id
    shutil.move(config, datasets.config.HF_DATASETS_CACHE / f"{org}___{name}" / "default")


def test_a_hub_id_in_the_cache_loads_when_the_hub_does_not_answer(folder):
    """The Hub (the fixture's) refuses connections: the cached copy is read, as under HF_HUB_OFFLINE."""
    train, val = open_splits("imagefolder", folder)
    in_the_hub_cache(DatasetDict(train=as_dataset(train), validation=as_dataset(val)), "someone/cached")
    hub_train, hub_val = open_splits("imagefolder", "hf:someone/cached")
    assert hub_train.classes == CLASSES and hub_train.labels.tolist() == train.labels.tolist()
    assert hub_val.labels.tolist() == val.labels.tolist()
    assert hub_val.open(0).getvalue() == val.path(0).read_bytes()


def test_a_hub_id_the_hub_does_not_answer_is_one_line_as_soon_as_offline(tmp_path):
    """`train` on a Hub id not in the cache, in a fresh interpreter (where the Hub client's messages would
    print), with HF_HUB_OFFLINE=1, a Hub that refuses connections and a Hub that never answers: each ends
    in one line naming the cache, the network cases within 3 s of the offline one (the probe waits 1.5 s
    at most), where the Hub client retried for half a minute."""
    cli = "from eqx_resnet.cli import main; main()"
    args = ["train", "imagefolder", "--data-dir", "hf:someone/nothing", "--out", str(tmp_path / "run")]
    hub_settings = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HUB_ETAG_TIMEOUT", "HF_ENDPOINT")
    env = {k: v for k, v in os.environ.items() if k not in hub_settings} | {"JAX_PLATFORMS": "cpu"}

    def train(**hub) -> tuple[subprocess.CompletedProcess, float]:
        start = time.monotonic()
        command = [sys.executable, "-c", cli, *args, "--no-compilation-cache", "--json"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env | hub)
        return result, time.monotonic() - start

    with refusing_port() as refusing, silent_port() as silent:
        runs = {
            "offline": train(HF_HUB_OFFLINE="1"),
            "refusing": train(HF_ENDPOINT=f"http://127.0.0.1:{refusing}"),
            "silent": train(HF_ENDPOINT=f"http://127.0.0.1:{silent}"),
            "offline again": train(HF_HUB_OFFLINE="1"),  # the machine's load may change between runs
        }
    for case, (result, _) in runs.items():
        assert result.returncode == 1 and len(result.stderr.splitlines()) == 1, (case, result.stderr)
        assert result.stderr.startswith("error: hf:someone/nothing: ") and "it is not in the cache" in result.stderr
    seconds = {case: round(elapsed, 1) for case, (_, elapsed) in runs.items()}
    for case in ("refusing", "silent"):
        message = runs[case][0].stderr
        assert "gives no answer" in message and "check the network connection and HF_ENDPOINT" in message
        assert seconds[case] < max(seconds["offline"], seconds["offline again"]) + 3, seconds
