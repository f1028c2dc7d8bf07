"""The IDX parser on small files written in the real format."""

import gzip
import re
import struct

import numpy as np
import pytest

from eqx_resnet.data import DatasetError, read_idx


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array as IDX: magic 0x00000800 + ndim, big-endian sizes, data."""
    header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)


@pytest.mark.parametrize("compress", [True, False])
def test_reads_images_gzipped_or_raw(tmp_path, images, compress):
    payload = idx_bytes(images)
    path = tmp_path / ("images.gz" if compress else "images")
    path.write_bytes(gzip.compress(payload) if compress else payload)
    out = read_idx(path)
    assert out.dtype == np.uint8 and out.shape == (5, 28, 28)
    np.testing.assert_array_equal(out, images)
    out[0, 0, 0] = 1  # writable, not a view of the file's bytes


def test_reads_labels(tmp_path):
    labels = np.array([3, 1, 4, 1, 5, 9], np.uint8)
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(idx_bytes(labels)))
    np.testing.assert_array_equal(read_idx(path), labels)


GOOD = idx_bytes(np.random.default_rng(1).integers(0, 256, (3, 28, 28), dtype=np.uint8))
CORRUPTIONS = {
    "bad magic": (struct.pack(">I", 0x00000D03) + GOOD[4:], "bad IDX magic"),  # float32 type
    "not IDX": (b"<html>not found</html>", "bad IDX magic"),
    "empty": (b"", "too short"),
    "truncated header": (GOOD[:8], "header truncated"),
    "truncated payload": (GOOD[:-1], "truncated"),
    "trailing bytes": (GOOD + b"\0", "trailing bytes"),
    "zero dimension": (idx_bytes(np.zeros((0, 28, 28), np.uint8)), "must all be positive"),
    "truncated gzip": (gzip.compress(GOOD)[:-100], "gzip"),
    "corrupt gzip": (b"\x1f\x8b\x08\x00" + b"garbage" * 10, "gzip"),
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_corrupt_files_raise_naming_the_file(tmp_path, case):
    content, message = CORRUPTIONS[case]
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=re.escape(message)) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_missing_file_raises(tmp_path):
    path = tmp_path / "absent.gz"
    with pytest.raises(DatasetError, match=re.escape(str(path))):
        read_idx(path)
