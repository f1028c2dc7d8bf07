"""Parser for the IDX format of MNIST and Fashion-MNIST, gzipped or not.

An IDX file is a big-endian header followed by a raw array:
``00 00 <type> <ndim>``, then ``ndim`` uint32 sizes, then ``prod(sizes)`` items.
Only the two layouts these datasets use are accepted: uint8 labels (1 dim,
magic ``0x00000801``) and uint8 images (3 dims, magic ``0x00000803``).
"""

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from jaxtyping import UInt8

from ..errors import DatasetError

_GZIP_MAGIC = b"\x1f\x8b"
_MAGIC_NDIM = {0x00000801: 1, 0x00000803: 3}


def read_idx_bytes(path: str | os.PathLike) -> bytes:
    """Return the decompressed content of an IDX file (gzip is detected by its magic)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the file ({exc}).") from exc
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DatasetError(
            f"{path}: truncated or corrupt gzip stream ({exc}). Delete the file and download it again."
        ) from exc


def parse_idx(content: bytes, path: str | os.PathLike) -> UInt8[np.ndarray, "..."]:
    """Parse decompressed IDX ``content``; ``path`` only names the file in errors.

    Returns a writable uint8 array of shape ``(n,)`` (labels) or ``(n, h, w)`` (images).
    """
    fix = "Delete the file and download it again."
    if len(content) < 4:
        raise DatasetError(f"{path}: {len(content)} bytes is too short for an IDX header. {fix}")
    (magic,) = struct.unpack(">I", content[:4])
    if magic not in _MAGIC_NDIM:
        raise DatasetError(
            f"{path}: bad IDX magic number 0x{magic:08x}; expected 0x00000801 (uint8 labels) "
            f"or 0x00000803 (uint8 images). This is not an MNIST-format file. {fix}"
        )
    ndim = _MAGIC_NDIM[magic]
    header = 4 + 4 * ndim
    if len(content) < header:
        raise DatasetError(f"{path}: IDX header truncated ({len(content)} bytes). {fix}")
    dims = struct.unpack(f">{ndim}I", content[4:header])
    if min(dims) == 0:
        raise DatasetError(f"{path}: IDX dimensions {dims} must all be positive. {fix}")
    expected = header + int(np.prod(dims))
    if len(content) != expected:
        problem = "truncated" if len(content) < expected else "has trailing bytes"
        raise DatasetError(f"{path}: {problem}: header says {dims} needs {expected} bytes, found {len(content)}. {fix}")
    # Copy so the array is writable and does not pin the whole byte string.
    return np.frombuffer(content, np.uint8, offset=header).reshape(dims).copy()


def read_idx(path: str | os.PathLike) -> UInt8[np.ndarray, "..."]:
    """Read an IDX file (``.gz`` or raw): uint8 ``(n,)`` labels or ``(n, h, w)`` images."""
    return parse_idx(read_idx_bytes(path), path)
