"""Crashes at every step of a save: whenever the writer dies, `load_checkpoint` finds one whole
checkpoint (the old or the new, never a mix) and `recover` puts that one in place.

This file is also the driver (run as a script) that makes the crashes, without sleep-and-kill
races: for k = 1, 2, ... a forked child saves with its k-th file-system call (`os.mkdir`,
`os.rename`, `os.fsync`, `os.unlink`, `os.rmdir`, or a file write, which it tears in half) replaced
by `os._exit`, until a save completes. The checkpoints hold NumPy arrays, so the driver never
starts a JAX backend, which is what makes forking it safe and each child cheap.
"""

import itertools
import json
import os
import resource
import signal
import subprocess
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

import equinox as eqx
import numpy as np
import pytest

from eqx_resnet.training import checkpoint
from eqx_resnet.training.checkpoint import (
    CheckpointError,
    checkpoint_exists,
    load_into,
    read_metadata,
    recover,
    save_checkpoint,
)

VALUES = {"A": 1.0, "B": 2.0}
CRASHED = 3  # the exit status of a child that crashed where it was told
UMASK = 0o022


class Tiny(eqx.Module):
    weight: np.ndarray
    bias: np.ndarray


def tiny(value: float) -> Tiny:
    return Tiny(np.full((64, 16), value, np.float32), np.full(64, value, np.float32))


def save(path: Path, which: str) -> None:
    """Checkpoint `which` ("A" or "B") with its optimiser state, so a mix of two would show."""
    save_checkpoint(path, tiny(VALUES[which]), None, tiny(-VALUES[which]), metadata={"which": which})


def between_renames(run: Path) -> None:
    """What a save of B over A leaves when it dies between its two renames, made by hand."""
    save(run / "last", "A")
    save(run / "b", "B")
    os.rename(run / "last", run / ".tmp-last-old-0123456789ab")
    os.rename(run / "b", run / ".tmp-last-new-ba9876543210")


# scenario: (what the run directory holds first, what the child does)
SCENARIOS: dict[str, tuple[Callable[[Path], None], Callable[[Path], None]]] = {
    "replace": (lambda run: save(run / "last", "A"), lambda run: save(run / "last", "B")),
    "first": (lambda run: None, lambda run: save(run / "last", "B")),
    "recover": (between_renames, lambda run: recover(run / "last")),
}


def crash_at(k: int, record: Path) -> None:
    """Make the k-th file-system call of this process write its name to `record` and exit."""
    calls = 0

    def crashing(name: str, call: Callable, torn: bool = False) -> Callable:
        def wrapper(*args, **kwargs):
            nonlocal calls
            calls += 1
            if calls == k:
                record.write_text(name)
                if torn:  # checkpoint._write(file, data): half the data reaches the file
                    file, data = args
                    file.write_bytes(data[: len(data) // 2])
                os._exit(CRASHED)
            return call(*args, **kwargs)

        return wrapper

    for name in ("mkdir", "rename", "fsync", "unlink", "rmdir"):
        setattr(os, name, crashing(f"os.{name}", getattr(os, name)))
    checkpoint._write = crashing("write", checkpoint._write, torn=True)


def run_child(action: Callable[..., None], *args: object) -> int:
    """Run `action(*args)` in a forked child: its exit status (0 when it returned)."""
    pid = os.fork()
    if pid == 0:
        status = 0
        try:
            action(*args)
        except BaseException:
            traceback.print_exc()
            status = 2
        os._exit(status)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def drive(out: Path) -> None:
    """Write `out/<scenario>/<k>/` (the run directory after a crash at step k) and
    `out/<scenario>/steps.json` (`[k, exit status, call crashed at]` each), `out/ref/A|B`
    (the checkpoints saved whole) and `out/full-disk/` (a save past RLIMIT_FSIZE)."""
    os.umask(UMASK)
    for which in VALUES:
        save(out / "ref" / which, which)
    record = out / "crashed-at"
    for scenario, (setup, action) in SCENARIOS.items():
        steps = []
        for k in itertools.count(1):
            run = out / scenario / str(k)
            run.mkdir(parents=True)
            setup(run)
            status = run_child(lambda *args: (crash_at(k, record), action(*args)), run)  # noqa: B023 (runs at once)
            steps.append([k, status, record.read_text() if status == CRASHED else None])
            record.unlink(missing_ok=True)
            if status != CRASHED:
                break
        (out / scenario / "steps.json").write_text(json.dumps(steps))

    def full_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, resource.RLIM_INFINITY))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, not a signal
        try:
            save(out / "full-disk" / "last", "B")
        except CheckpointError as e:
            resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            (out / "full-disk-error.txt").write_text(str(e))

    save(out / "full-disk" / "last", "A")
    assert run_child(full_disk) == 0


@pytest.fixture(scope="module")
def crashes(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("crashes")
    subprocess.run([sys.executable, __file__, str(out)], check=True, timeout=300)
    return out


def files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def check(run: Path, reference: Path) -> str | None:
    """Which checkpoint readers find in the run directory `run` ("A", "B" or None), after
    asserting it is whole and that `recover` puts exactly that one in place, with nothing left over."""
    last = run / "last"
    missing = not last.exists()
    if not checkpoint_exists(last):
        with pytest.raises(CheckpointError, match=f"no checkpoint at {last}"):
            load_into(last, tiny(0.0))
        recover(last)
        assert sorted(p.name for p in run.iterdir()) == []
        return None
    model, _, metadata = load_into(last, tiny(0.0))
    which = metadata["which"]
    assert read_metadata(last) == metadata
    for leaf in (model.weight, model.bias):
        np.testing.assert_array_equal(leaf, VALUES[which])
    assert recover(last) == missing
    assert [p.name for p in run.iterdir()] == ["last"]  # no temporary folder left
    assert files(last) == files(reference / which)  # model, optimiser state and metadata of one save
    assert last.stat().st_mode & 0o777 == 0o777 & ~UMASK
    return which


def steps_and_results(crashes: Path, scenario: str) -> tuple[list[str], list[bool], list[str | None]]:
    """The call each crash happened at, whether `last/` was missing after it, and what readers found."""
    steps = json.loads((crashes / scenario / "steps.json").read_text())
    assert [status for _, status, _ in steps] == [CRASHED] * (len(steps) - 1) + [0]
    runs = [crashes / scenario / str(k) for k, _, _ in steps]
    missing = [not (run / "last").exists() for run in runs]
    return [call for _, _, call in steps[:-1]], missing, [check(run, crashes / "ref") for run in runs]


def test_a_crash_at_any_step_of_a_save_leaves_the_old_or_the_new_checkpoint(crashes):
    calls, missing, found = steps_and_results(crashes, "replace")
    assert {"os.mkdir", "write", "os.fsync", "os.rename", "os.unlink", "os.rmdir"} <= set(calls)
    switch = found.index("B")
    assert found == ["A"] * switch + ["B"] * (len(found) - switch)  # never back to the old one
    # Killed at the second rename, the save leaves `last/` missing: readers use the new checkpoint.
    second_rename = [i for i, call in enumerate(calls) if call == "os.rename"][1]
    assert [i for i, m in enumerate(missing) if m] == [second_rename] == [switch]


def test_a_crash_during_a_first_save_leaves_nothing_or_the_checkpoint(crashes):
    calls, missing, found = steps_and_results(crashes, "first")
    assert "write" in calls and calls.count("os.rename") == 1
    switch = found.index("B")
    assert found == [None] * switch + ["B"] * (len(found) - switch)
    # Complete once its metadata is written (all of it: a torn metadata.json is not yet a checkpoint).
    assert calls[switch - 1] == "write" and "write" not in calls[switch:]
    assert missing[: calls.index("os.rename") + 1] == [True] * (calls.index("os.rename") + 1)


def test_a_crash_during_recover_still_gives_the_newest_checkpoint(crashes):
    calls, missing, found = steps_and_results(crashes, "recover")
    assert {"os.rename", "os.unlink", "os.rmdir"} <= set(calls) and missing[0]
    assert found == ["B"] * len(found)


def test_a_full_disk_is_one_line_and_keeps_the_previous_checkpoint(crashes):
    last = crashes / "full-disk" / "last"
    assert (crashes / "full-disk-error.txt").read_text() == (
        f"cannot save checkpoint {last}: File too large; the previous checkpoint there is unchanged; "
        "free disk space or save to another path"
    )
    assert check(crashes / "full-disk", crashes / "ref") == "A"


if __name__ == "__main__":
    drive(Path(sys.argv[1]))
