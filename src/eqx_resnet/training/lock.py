"""One writer per run directory: `RunLock`, an exclusive lock on `run_dir/.lock`.

    with RunLock("runs/mnist"):
        recover_run_dir("runs/mnist")  # finish what a crashed run's saves left (training/checkpoint.py)
        ...  # the only process writing checkpoints and metrics.jsonl in runs/mnist

The lock is `fcntl.flock` on `run_dir/.lock`, taken without waiting: a second writer
fails at once with a `TrainingError` naming the holder's PID and host, which the holder
writes into the file. The OS drops a flock when its process dies (even by `kill -9`), so a
lock left by a crashed run never blocks the next one. The file stays after a run, except when
the run fails (an exception leaves the `with` block): then the lock removes what it made, the
lock file and the folders it created that hold nothing else, so a run refused or failed before
writing anything leaves no trace. A process that locks a file its holder has just removed
sees it gone and locks the new one in its place. flock is POSIX; on network file systems it is
only as exclusive as their locking.
"""

import fcntl
import json
import os
import socket
from pathlib import Path

from .._messages import os_error_cause
from .errors import TrainingError

LOCK_FILE = ".lock"


class RunLock:
    """The exclusive lock of the run directory `run_dir`, which it creates; a context manager.

    **Arguments**

    - `run_dir`: the run directory (`--out`); created with its parents if missing.

    `acquire()` (or entering the `with` block) raises `TrainingError` in one line when
    another process holds the lock, or when `run_dir` cannot be created or locked (it is a
    file, lies under a file, or is not writable). `release()` (or leaving the block) unlocks;
    `release(remove=True)` (or leaving it by an exception) also removes the lock file and the
    folders that `acquire` created, if they hold nothing else.
    """

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.run_dir = Path(run_dir)
        self.file = self.run_dir / LOCK_FILE
        self._fd: int | None = None
        self._made: list[Path] = []  # what acquire created: the lock file, then the folders, deepest first

    def acquire(self) -> None:
        if os.path.lexists(self.run_dir) and not self.run_dir.is_dir():
            raise TrainingError(
                f"cannot use {self.run_dir} as the run directory: it is a file; choose another `run_dir`"
            )
        folders = [p for p in (self.run_dir, *self.run_dir.parents) if not os.path.lexists(p)]
        made = [self.file] * (not os.path.lexists(self.file)) + folders
        while True:
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(fd)
                os.close(fd)
                raise TrainingError(
                    f"{self.run_dir} is in use by another run ({holder}); wait for it to finish, or choose another `run_dir`"
                ) from None
            if _same_file(fd, self.file):
                break
            os.close(fd)  # its holder removed it on failing: lock the one there now
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode() + b"\n", 0)
        self._fd, self._made = fd, made

    def _open(self) -> int:
        """A descriptor of the lock file, made with its folders if missing."""
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            return os.open(self.file, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise TrainingError(
                f"cannot use {self.run_dir} as the run directory: {os_error_cause(e)}; choose another `run_dir`"
            ) from None

    def release(self, remove: bool = False) -> None:
        if self._fd is None:
            return
        if remove:  # while still locked: whoever locks next finds the file gone, and makes another
            for path in self._made:
                try:
                    os.unlink(path) if path == self.file else os.rmdir(path)
                except OSError:  # a folder that holds something else: it and those above it stay
                    break
        os.ftruncate(self._fd, 0)  # no stale PID for the next reader
        os.close(self._fd)  # closing the last descriptor drops the flock
        self._fd, self._made = None, []

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        self.release(remove=exc_type is not None)


def _same_file(fd: int, path: Path) -> bool:
    """Whether the open `fd` is the file at `path` (not one removed from there)."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (found.st_dev, found.st_ino) == (opened.st_dev, opened.st_ino)


def _holder(fd: int) -> str:
    """Who holds the lock on `fd`, as the holder wrote it: `"PID 123 on host"`."""
    try:
        holder = json.loads(os.pread(fd, 4096, 0))
        return f"PID {int(holder['pid'])} on {holder['host']}"
    except (ValueError, KeyError, TypeError):  # the holder has locked but not yet written
        return "a process that is starting"
