"""The CIFAR-10 batch parser and archive extraction on small files in the real format."""

import io
import os
import pickle
import re
import tarfile

import numpy as np
import pytest

from eqx_resnet.data import DatasetError, read_cifar_batch
from eqx_resnet.data.cifar import extract_cifar_archive


def make_batch(n: int = 6, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": b"testing batch 1 of 1",
        b"labels": [int(y) for y in rng.integers(0, 10, n)],
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"filenames": [b"img_%d.png" % i for i in range(n)],
    }


def write_batch(path, batch, *, python2_names: bool = False) -> None:
    data = pickle.dumps(batch, protocol=2)
    if python2_names:  # the official files name numpy 1's module
        data = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    path.write_bytes(data)


@pytest.mark.parametrize("python2_names", [False, True])
def test_reads_batch(tmp_path, python2_names):
    batch = make_batch()
    path = tmp_path / "data_batch_1"
    write_batch(path, batch, python2_names=python2_names)
    images, labels = read_cifar_batch(path)
    assert images.dtype == np.uint8 and images.shape == (6, 3, 32, 32)
    assert labels.dtype == np.int32 and labels.tolist() == batch[b"labels"]
    # Each row is 1024 red, then green, then blue values of a row-major 32x32 image.
    row = batch[b"data"][2]
    np.testing.assert_array_equal(images[2, 1], row[1024:2048].reshape(32, 32))
    assert images[2, 0, 0, 5] == row[5] and images[2, 2, 1, 0] == row[2048 + 32]


class _Evil:
    def __reduce__(self):
        return (os.getcwd, ())


def _corruptions():
    wrong_shape = make_batch() | {b"data": np.zeros((6, 3071), np.uint8)}
    wrong_dtype = make_batch() | {b"data": np.zeros((6, 3072), np.float32)}
    short_labels = make_batch() | {b"labels": [1, 2, 3]}
    bad_label = make_batch() | {b"labels": [0, 1, 2, 3, 4, 10]}
    str_labels = make_batch() | {b"labels": ["cat"] * 6}
    no_labels = {k: v for k, v in make_batch().items() if k != b"labels"}
    good = pickle.dumps(make_batch(), protocol=2)
    return {
        "missing key": (pickle.dumps(no_labels), "missing key b'labels'"),
        "wrong shape": (pickle.dumps(wrong_shape), "uint8 (n, 3072)"),
        "wrong dtype": (pickle.dumps(wrong_dtype), "uint8 (n, 3072)"),
        "label count": (pickle.dumps(short_labels), "6 images but 3 labels"),
        "label range": (pickle.dumps(bad_label), "labels must lie in [0, 10)"),
        "label type": (pickle.dumps(str_labels), "list of ints"),
        "not a dict": (pickle.dumps([1, 2, 3]), "expected a pickled dict"),
        "not a pickle": (b"this is not a pickle at all", "not a valid CIFAR-10 pickle"),
        "truncated": (good[: len(good) // 2], "not a valid CIFAR-10 pickle"),
        "code in pickle": (pickle.dumps({b"data": _Evil()}), "refusing to load the global"),
    }


@pytest.mark.parametrize("case", list(_corruptions()))
def test_corrupt_batches_raise_naming_the_file(tmp_path, case):
    content, message = _corruptions()[case]
    path = tmp_path / "data_batch_3"
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=re.escape(message)) as info:
        read_cifar_batch(path)
    assert str(path) in str(info.value)


def _tar(path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            entry = tarfile.TarInfo(name)
            entry.size = len(data)
            tar.addfile(entry, io.BytesIO(data))


def test_extracts_archive_atomically(tmp_path):
    batch = pickle.dumps(make_batch(), protocol=2)
    archive = tmp_path / "cifar-10-python.tar.gz"
    _tar(archive, {"cifar-10-batches-py/test_batch": batch, "cifar-10-batches-py/readme.html": b""})
    root = extract_cifar_archive(archive, tmp_path)
    assert root == tmp_path / "cifar-10-batches-py"
    assert (root / "test_batch").read_bytes() == batch
    # Only the archive and the extracted folder remain: no temporary folder left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cifar-10-batches-py", archive.name]


@pytest.mark.parametrize(
    "members, message",
    [
        ({"../escape": b"x"}, "cannot extract"),  # refused by the "data" filter
        ({"other/test_batch": b"x"}, "has no cifar-10-batches-py/"),
    ],
)
def test_bad_archives_raise(tmp_path, members, message):
    archive = tmp_path / "sub" / "cifar-10-python.tar.gz"
    archive.parent.mkdir()
    _tar(archive, members)
    with pytest.raises(DatasetError, match=re.escape(message)) as info:
        extract_cifar_archive(archive, archive.parent)
    assert str(archive) in str(info.value)
    assert not (tmp_path / "escape").exists()
    assert not (archive.parent / "cifar-10-batches-py").exists()


def test_truncated_archive_raises(tmp_path):
    archive = tmp_path / "cifar-10-python.tar.gz"
    _tar(archive, {"cifar-10-batches-py/test_batch": os.urandom(50_000)})
    archive.write_bytes(archive.read_bytes()[:20_000])
    with pytest.raises(DatasetError, match=re.escape(str(archive))):
        extract_cifar_archive(archive, tmp_path)
    assert not (tmp_path / "cifar-10-batches-py").exists()
