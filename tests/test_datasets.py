"""`load_dataset` on the shipped MNIST and on small files in the real formats; all offline."""

import gzip
import hashlib
import io
import pickle
import re
import shutil
import struct
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import TypeCheckError

from eqx_resnet.data import (
    DATASETS,
    DatasetError,
    dataset_info,
    datasets,
    load_dataset,
    normalize,
)

REPO_DATA = Path(__file__).parents[1] / "data"
IDX_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_split(directory: Path, split: str, images, labels, *, compress=True) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, array in zip(IDX_NAMES[split], (images, labels)):
        path = directory / (f"{name}.gz" if compress else name)
        path.write_bytes(gzip.compress(idx_bytes(array)) if compress else idx_bytes(array))
        paths.append(path)
    return paths


def random_split(n: int, seed: int = 0, shape=(28, 28)):
    """Random images; labels shuffled and, where 10 divides n, exactly balanced."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, *shape), dtype=np.uint8)
    return images, rng.permutation(np.arange(n) % 10).astype(np.uint8)


@pytest.fixture
def small_sizes(monkeypatch):
    """Let tiny test files stand for full splits (2 and 1 examples of each class)."""
    sizes = {"train": 20, "test": 10}
    for name in DATASETS:
        monkeypatch.setitem(datasets.SPLIT_SIZES, name, sizes)
    return sizes


@pytest.fixture
def no_network(monkeypatch):
    """Every download fails as it does offline; the URLs asked for are recorded."""
    calls = []

    def urlopen(url, **kwargs):
        calls.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return calls


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """`serve(name, {file: content})`: a `file://` mirror of dataset `name` serving those files, whose
    expected SHA-256 are their content's unless given; returns the URLs asked for."""
    calls = []
    opened = urllib.request.urlopen

    def urlopen(url, **kwargs):
        calls.append(url)
        return opened(url, **kwargs)

    def serve(name: str, files: dict[str, bytes], sha256: dict[str, str] | None = None) -> list[str]:
        folder = tmp_path / "mirror"
        folder.mkdir(exist_ok=True)
        for fname, content in files.items():
            (folder / fname).write_bytes(content)
            digest = (sha256 or {}).get(fname, hashlib.sha256(content).hexdigest())
            monkeypatch.setitem(datasets._DOWNLOAD_SHA256[name], fname, digest)
        monkeypatch.setitem(datasets._MIRRORS, name, folder.as_uri() + "/")
        return calls

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return serve


# --- the shipped MNIST -------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist():
    return {split: load_dataset("mnist", split, REPO_DATA, download=False) for split in ("train", "test")}


def test_real_mnist(mnist):
    for split, n in (("train", 60_000), ("test", 10_000)):
        ds = mnist[split]
        assert ds.images.shape == (n, 1, 28, 28) and ds.images.dtype == np.uint8
        assert ds.labels.shape == (n,) and ds.labels.dtype == np.int32
        assert ds.info is DATASETS["mnist"]
        counts = np.bincount(ds.labels, minlength=10)
        assert len(counts) == 10 and counts.min() > 0.08 * n and counts.max() < 0.12 * n
        assert ds.images.min() == 0 and ds.images.max() == 255
    # Canonical first labels of MNIST train and test.
    assert mnist["train"].labels[:5].tolist() == [5, 0, 4, 1, 9]
    assert mnist["test"].labels[:5].tolist() == [7, 2, 1, 0, 4]


def test_normalize_standardises_mnist(mnist):
    x = normalize(mnist["train"].images, mnist["train"].info)
    assert x.dtype == jnp.float32 and x.shape == (60_000, 1, 28, 28)
    assert abs(float(x.mean())) < 0.01 and abs(float(x.std()) - 1) < 0.01


def test_normalize_per_channel_and_under_jit():
    info = dataset_info("cifar10")
    images = np.stack([np.full((32, 32), v, np.uint8) for v in (0, 128, 255)])[None]
    expected = [(v / 255 - m) / s for v, m, s in zip((0, 128, 255), info.mean, info.std)]
    jitted = jax.jit(normalize, static_argnums=1)(jnp.asarray(images), info)
    for out in (normalize(images, info), jitted):
        np.testing.assert_allclose(out[0, :, 5, 7], expected, rtol=1e-5)
    with pytest.raises(DatasetError, match="3 channel"):
        normalize(np.zeros((2, 1, 32, 32), np.uint8), info)


def test_registry():
    assert set(DATASETS) == {"mnist", "fashion-mnist", "cifar10", "imagefolder", "imagenet"}
    for name, info in DATASETS.items():
        # imagefolder's classes are its folder's (tests/test_folder.py)
        assert info.name == name and info.num_classes == len(info.classes) == {"imagefolder": 0, "imagenet": 1000}.get(
            name, 10
        )
        assert len(info.mean) == len(info.std) == info.image_shape[0]
    with pytest.raises(DatasetError, match="known datasets: mnist, fashion-mnist, cifar10, imagefolder, imagenet"):
        dataset_info("svhn")
    with pytest.raises(DatasetError, match="imagenet is read from its image files as it trains"):
        load_dataset("imagenet", "train", REPO_DATA)
    with pytest.raises(DatasetError, match="'validation'"):
        load_dataset("mnist", "validation", REPO_DATA)


def test_dataset_checks_its_arrays():
    info = DATASETS["mnist"]
    # With the jaxtyping import hook on (conftest), the annotation catches the dtype first.
    with pytest.raises((DatasetError, TypeCheckError), match="uint8|UInt8"):
        datasets.Dataset(np.zeros((2, 1, 28, 28), np.float32), np.zeros(2, np.int32), info)
    with pytest.raises((DatasetError, TypeCheckError), match="int32|Int32"):
        datasets.Dataset(np.zeros((2, 1, 28, 28), np.uint8), np.zeros(3, np.int32), info)


# --- small files in the real formats ------------------------------------------------


def test_fashion_mnist_from_local_files(tmp_path, small_sizes, no_network):
    train = random_split(20, seed=1)
    test = random_split(10, seed=2)
    write_idx_split(tmp_path / "fashion-mnist", "train", *train)
    write_idx_split(tmp_path / "fashion-mnist", "test", *test, compress=False)
    for split, (images, labels) in (("train", train), ("test", test)):
        ds = load_dataset("fashion-mnist", split, tmp_path, download=False)
        np.testing.assert_array_equal(ds.images[:, 0], images)
        np.testing.assert_array_equal(ds.labels, labels)
        assert ds.images.shape == (len(labels), 1, 28, 28) and ds.labels.dtype == np.int32
        assert ds.info.classes[0] == "T-shirt/top"
    assert no_network == []


def cifar_batch(n: int, seed: int, labels=None) -> dict:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n) if labels is None else labels
    return {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": [int(y) for y in labels]}


def cifar_members(train_per_batch: int = 4, test: int = 10) -> dict[str, dict]:
    """Batches whose splits are balanced, as CIFAR-10's are, when 10 divides their sizes."""
    rng = np.random.default_rng(0)
    train = rng.permutation(np.arange(5 * train_per_batch) % 10).reshape(5, -1)
    members = {f"data_batch_{i}": cifar_batch(train_per_batch, i, train[i - 1]) for i in range(1, 6)}
    return members | {"test_batch": cifar_batch(test, 9, rng.permutation(np.arange(test) % 10))}


def write_cifar_tar(path: Path, members: dict[str, dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, batch in members.items():
            data = pickle.dumps(batch, protocol=2)
            entry = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            entry.size = len(data)
            tar.addfile(entry, io.BytesIO(data))


@pytest.fixture
def official(monkeypatch):
    """Take the archive at a path for the official one: its hash becomes the known hash."""

    def register(archive: Path) -> None:
        sha = hashlib.sha256(archive.read_bytes()).hexdigest()
        monkeypatch.setitem(datasets._DOWNLOAD_SHA256, "cifar10", {archive.name: sha})

    return register


def check_cifar(ds, members, split):
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    data = np.concatenate([members[n][b"data"] for n in names])
    labels = [y for n in names for y in members[n][b"labels"]]
    assert ds.images.shape == (len(labels), 3, 32, 32) and ds.images.dtype == np.uint8
    np.testing.assert_array_equal(ds.images.reshape(len(labels), -1), data)
    assert ds.labels.tolist() == labels and ds.labels.dtype == np.int32


def test_cifar10_from_archive_then_folder(tmp_path, small_sizes, no_network, official):
    members = cifar_members()
    archive = tmp_path / "cifar10" / "cifar-10-python.tar.gz"
    write_cifar_tar(archive, members)
    official(archive)
    check_cifar(load_dataset("cifar10", "train", tmp_path, download=False), members, "train")
    assert (tmp_path / "cifar10" / "cifar-10-batches-py" / "test_batch").is_file()
    archive.unlink()  # the test split now comes from the extracted folder alone
    check_cifar(load_dataset("cifar10", "test", tmp_path, download=False), members, "test")
    assert no_network == []


def test_cifar10_incomplete_folder(tmp_path, small_sizes):
    root = tmp_path / "cifar10" / "cifar-10-batches-py"
    root.mkdir(parents=True)
    (root / "test_batch").write_bytes(pickle.dumps(cifar_batch(4, 0)))
    with pytest.raises(DatasetError, match=r"missing data_batch_1, .*data_batch_5") as info:
        load_dataset("cifar10", "train", tmp_path, download=False)
    assert str(root) in str(info.value)


def test_cifar10_wrong_split_size(tmp_path, small_sizes, official):
    archive = tmp_path / "cifar10" / "cifar-10-python.tar.gz"
    write_cifar_tar(archive, cifar_members(test=3))
    official(archive)
    with pytest.raises(DatasetError, match="hold 3 examples, but the cifar10 test split has 10"):
        load_dataset("cifar10", "test", tmp_path, download=False)


# --- corrupt local files --------------------------------------------------------------


def test_label_out_of_range(tmp_path, small_sizes):
    images, labels = random_split(10)
    labels[2] = 10
    _, label_path = write_idx_split(tmp_path / "fashion-mnist", "test", images, labels)
    with pytest.raises(DatasetError, match=re.escape(f"{label_path}: label 10 out of range")):
        load_dataset("fashion-mnist", "test", tmp_path, download=False)


def test_image_label_count_mismatch(tmp_path, small_sizes):
    images, labels = random_split(10)
    image_path, label_path = write_idx_split(tmp_path / "fashion-mnist", "test", images, labels[:3])
    with pytest.raises(DatasetError, match="10 images but .* 3 labels") as info:
        load_dataset("fashion-mnist", "test", tmp_path, download=False)
    assert str(image_path) in str(info.value) and str(label_path) in str(info.value)


def test_short_split_is_an_error(tmp_path, small_sizes):
    image_path, _ = write_idx_split(tmp_path / "fashion-mnist", "test", *random_split(3))
    message = "3 examples, but the fashion-mnist test split has 10"
    with pytest.raises(DatasetError, match=message) as info:
        load_dataset("fashion-mnist", "test", tmp_path, download=False)
    assert str(image_path) in str(info.value)


def test_swapped_files(tmp_path, small_sizes):
    _, labels = random_split(10)
    image_path, _ = write_idx_split(tmp_path / "fashion-mnist", "test", labels, labels)
    with pytest.raises(DatasetError, match=re.escape(f"{image_path}: expected 28x28 images")):
        load_dataset("fashion-mnist", "test", tmp_path, download=False)


def test_mnist_content_hash_is_checked(tmp_path, small_sizes):
    # Structurally valid, but not the canonical MNIST bytes.
    image_path, label_path = write_idx_split(tmp_path / "mnist", "test", *random_split(10))
    with pytest.raises(DatasetError) as info:
        load_dataset("mnist", "test", tmp_path, download=False)
    message = str(info.value)
    assert f"{image_path}: decompressed content has SHA-256" in message
    assert f"{label_path}: decompressed content has SHA-256" in message
    assert f"Delete {tmp_path / 'mnist'} and run again" in message and "\n" not in message


# --- another dataset's files --------------------------------------------------------


def test_mnist_files_under_fashion_mnist(tmp_path):
    directory = tmp_path / "fashion-mnist"
    directory.mkdir()
    for name in IDX_NAMES["test"]:
        shutil.copy(REPO_DATA / "mnist" / f"{name}.gz", directory)
    with pytest.raises(DatasetError) as info:
        load_dataset("fashion-mnist", "test", tmp_path, download=False)
    # MNIST's test split has 980 zeros; Fashion-MNIST's has 1,000 of each class.
    assert str(info.value) == (
        f"{directory / 't10k-labels-idx1-ubyte.gz'} has 980 examples of class 0 (T-shirt/top), "
        "but the fashion-mnist test split has exactly 1,000 of each class: these are not "
        f"fashion-mnist's files (they are mnist's). Delete {directory} and run again to download them."
    )


def test_fashion_mnist_files_under_mnist(tmp_path):
    # Full-size test split with Fashion-MNIST's exact balance, uncompressed to stay fast.
    paths = write_idx_split(tmp_path / "mnist", "test", *random_split(10_000), compress=False)
    with pytest.raises(DatasetError) as info:
        load_dataset("mnist", "test", tmp_path, download=False)
    message = str(info.value)
    assert all(f"{p}: decompressed content has SHA-256" in message for p in paths)
    assert "not the canonical mnist files (perhaps fashion-mnist's" in message
    assert "\n" not in message


def test_cifar10_unbalanced_folder(tmp_path, small_sizes):
    members = cifar_members()
    members["test_batch"][b"labels"][:2] = [3, 3]  # the test split's 10 labels: a second 3
    root = tmp_path / "cifar10" / "cifar-10-batches-py"
    root.mkdir(parents=True)
    for name, batch in members.items():
        (root / name).write_bytes(pickle.dumps(batch, protocol=2))
    load_dataset("cifar10", "train", tmp_path, download=False)  # the train split is intact
    with pytest.raises(DatasetError) as info:
        load_dataset("cifar10", "test", tmp_path, download=False)
    message = str(info.value)
    assert message.startswith(f"{root}: test_batch hold ") and "\n" not in message
    assert "but the cifar10 test split has exactly 1 of each class" in message
    assert "not cifar10's files" in message


def test_cifar10_local_archive_hash(tmp_path, small_sizes, no_network):
    archive = tmp_path / "cifar10" / "cifar-10-python.tar.gz"
    write_cifar_tar(archive, cifar_members())
    with pytest.raises(DatasetError) as info:
        load_dataset("cifar10", "test", tmp_path)
    message = str(info.value)
    expected = datasets._DOWNLOAD_SHA256["cifar10"]["cifar-10-python.tar.gz"]
    actual = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert message.startswith(f"{archive}: SHA-256 {actual}, expected {expected}")
    assert "\n" not in message and "Delete it" in message
    assert not (archive.parent / "cifar-10-batches-py").exists() and no_network == []


# --- missing files and downloads -------------------------------------------------------


def test_missing_files_without_download(tmp_path, no_network):
    with pytest.raises(DatasetError) as info:
        load_dataset("mnist", "train", tmp_path, download=False)
    message = str(info.value)
    # Every file of the dataset, both splits, with its URL and the folder to put it in.
    for name in IDX_NAMES["train"] + IDX_NAMES["test"]:
        assert f"https://ossci-datasets.s3.amazonaws.com/mnist/{name}.gz" in message
    where = (tmp_path / "mnist").resolve()
    assert f"{where} is missing " in message and f"into {where} (gzipped or not)" in message
    assert "pass a `data_dir`" in message and "downloading is disabled" in message
    assert "\n" not in message and no_network == []


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_a_hub_id_is_refused_not_made_a_folder(tmp_path, monkeypatch, no_network, name):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        DatasetError,
        match=rf"hf:some/name is a Hugging Face Hub dataset, which only imagefolder "
        rf"and imagenet read; {name} is read from DATA_DIR/{name}/: give the data directory",
    ):
        load_dataset(name, "test", "hf:some/name")
    assert no_network == [] and not any(tmp_path.iterdir())


def test_missing_files_names_only_those_absent(tmp_path, small_sizes, no_network):
    write_idx_split(tmp_path / "mnist", "train", *random_split(20))
    with pytest.raises(DatasetError) as info:
        load_dataset("mnist", "test", tmp_path)
    message = str(info.value)
    assert "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz." in message
    assert "train-" not in message


@pytest.mark.parametrize("name", ["fashion-mnist", "cifar10"])
def test_missing_files_and_no_network(tmp_path, no_network, name):
    with pytest.raises(DatasetError) as info:
        load_dataset(name, "test", tmp_path)
    message = str(info.value)
    assert len(no_network) == 1 and f"the download of {no_network[0]} failed" in message
    files = (
        ["cifar-10-python.tar.gz"] if name == "cifar10" else [f"{n}.gz" for n in IDX_NAMES["train"] + IDX_NAMES["test"]]
    )
    assert all(datasets._MIRRORS[name] + f in message for f in files)
    assert f"into {(tmp_path / name).resolve()}" in message
    assert "URLError" in message and "check the network" in message
    assert "pass a `data_dir`" in message and "\n" not in message


def test_partial_download_names_the_rest(tmp_path, mirror, small_sizes):
    """The first file arrives, the second is not on the mirror: the message lists what is still missing."""
    images, _ = random_split(10)
    mirror("fashion-mnist", {"t10k-images-idx3-ubyte.gz": gzip.compress(idx_bytes(images))})
    with pytest.raises(DatasetError) as info:
        load_dataset("fashion-mnist", "test", tmp_path)
    message = str(info.value)
    assert "(URLError: <urlopen error [Errno 2] No such file or directory" in message and "\n" not in message
    assert "t10k-labels-idx1-ubyte.gz" in message and "t10k-images" not in message
    assert sorted(p.name for p in (tmp_path / "fashion-mnist").iterdir()) == ["t10k-images-idx3-ubyte.gz"]


def test_hash_mismatch_leaves_nothing(tmp_path, mirror):
    fname = "t10k-images-idx3-ubyte.gz"
    expected = datasets._DOWNLOAD_SHA256["fashion-mnist"][fname]
    served = b"not the official file"
    mirror("fashion-mnist", {fname: served}, sha256={fname: expected})
    with pytest.raises(DatasetError) as info:
        load_dataset("fashion-mnist", "test", tmp_path)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'fashion-mnist' / fname}: the file downloaded from ")
    assert f"corrupt: SHA-256 {hashlib.sha256(served).hexdigest()}, expected {expected}." in message
    assert "Load again" in message and "\n" not in message
    assert list((tmp_path / "fashion-mnist").iterdir()) == []  # neither the file nor a partial one


def test_download_fetches_only_missing_files(tmp_path, mirror, small_sizes):
    images, labels = random_split(10)
    directory = tmp_path / "fashion-mnist"
    write_idx_split(directory, "test", images, labels)
    (directory / "t10k-labels-idx1-ubyte.gz").unlink()
    calls = mirror("fashion-mnist", {"t10k-labels-idx1-ubyte.gz": gzip.compress(idx_bytes(labels))})
    ds = load_dataset("fashion-mnist", "test", tmp_path)
    np.testing.assert_array_equal(ds.labels, labels)
    assert calls == [datasets._MIRRORS["fashion-mnist"] + "t10k-labels-idx1-ubyte.gz"]
    assert sorted(p.name for p in directory.iterdir()) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


def test_download_and_extract_cifar(tmp_path, mirror, small_sizes):
    members = cifar_members()
    write_cifar_tar(tmp_path / "served.tar.gz", members)
    calls = mirror("cifar10", {"cifar-10-python.tar.gz": (tmp_path / "served.tar.gz").read_bytes()})
    check_cifar(load_dataset("cifar10", "train", tmp_path), members, "train")
    assert calls == [datasets._MIRRORS["cifar10"] + "cifar-10-python.tar.gz"]
