"""Helpers for the one-line messages errors are reported in."""

import errno
import os
from collections.abc import Sequence
from pathlib import Path


def first_line(error: BaseException) -> str:
    """The first line of `error`'s message, or its type's name when it has none."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def few(names: Sequence[str], shown: int = 5) -> str:
    """`names` joined by commas, the first `shown` of them and a count of the rest."""
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def os_error_cause(error: OSError) -> str:
    """`error`'s cause in words: `"No space left on device"`, or `"runs/x is a file, not a directory"`."""
    if error.errno in (errno.ENOTDIR, errno.EEXIST) and error.filename:
        blocking = next((p for p in (Path(error.filename), *Path(error.filename).parents) if os.path.lexists(p)), None)
        if blocking is not None and not blocking.is_dir():
            return f"{blocking} is a file, not a directory"
    where = f" ({error.filename})" if error.filename else ""
    return f"{error.strerror or error}{where}"
