"""`retrieve`: one file downloaded and checked against its SHA-256, with the standard library alone.

The file appears whole and verified, or not at all: it is written to a temporary file beside its
destination, hashed as it arrives, and renamed into place only if the hash matches.
"""

import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path

_CHUNK = 1 << 20
_TIMEOUT_S = 60  # per network operation (connect, each read), not for the whole file


class HashMismatch(ValueError):
    """The downloaded bytes are not the expected file; `actual` is their SHA-256."""

    def __init__(self, actual: str):
        super().__init__(f"SHA-256 {actual}")
        self.actual = actual


def retrieve(url: str, path: Path, sha256: str) -> Path:
    """Download `url` to `path` (its folder made if needed) and return `path`.

    **Arguments:**

    - `url`: what to download (`https://`, `http://` or `file://`).
    - `path`: where the file goes; it is replaced only by a file whose content matches `sha256`.
    - `sha256`: the expected SHA-256, as hex.

    Raises `HashMismatch` when the content differs, and `OSError` (urllib's `URLError` among them)
    when the download fails; either way nothing is left at `path` or beside it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, partial = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response:
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != sha256:
            raise HashMismatch(digest.hexdigest())
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return path
