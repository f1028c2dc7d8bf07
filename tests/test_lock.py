"""RunLock: one writer per run directory, across processes, and never blocked by a dead one."""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from eqx_resnet.training.errors import TrainingError
from eqx_resnet.training.lock import RunLock

# A second process taking the lock of the run directory argv[1]: it reports the error and how
# long acquiring took, or says "locked" and holds the lock until its stdin closes.
CHILD = """
import sys, time
from eqx_resnet.training.errors import TrainingError
from eqx_resnet.training.lock import RunLock

lock, start = RunLock(sys.argv[1]), time.perf_counter()
try:
    lock.acquire()
except TrainingError as e:
    print(f"{time.perf_counter() - start:.3f} {e}", flush=True)
    sys.exit(1)
print("locked", flush=True)
sys.stdin.read()
"""


def child(run_dir: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(run_dir)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )


def in_use(run_dir: Path, pid: int) -> str:
    holder = f"PID {pid} on {socket.gethostname()}"
    return f"{run_dir} is in use by another run ({holder}); wait for it to finish, or choose another `run_dir`"


def test_a_second_process_fails_at_once_naming_the_holder(tmp_path):
    run_dir = tmp_path / "runs" / "mnist"
    with RunLock(run_dir):
        second = child(run_dir)
        out, _ = second.communicate(timeout=120)
    assert second.returncode == 1
    seconds, message = out.strip().split(" ", 1)
    assert message == in_use(run_dir, os.getpid())
    assert float(seconds) < 1.0  # not waiting for the lock
    with RunLock(run_dir):  # released on leaving the block
        pass


def test_a_lock_left_by_a_killed_process_does_not_block(tmp_path):
    run_dir = tmp_path / "run"
    holder = child(run_dir)
    try:
        assert holder.stdout.readline() == "locked\n"
        with pytest.raises(TrainingError) as error:
            RunLock(run_dir).acquire()
        assert str(error.value) == in_use(run_dir, holder.pid)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=60)
    assert holder.returncode == -signal.SIGKILL
    assert (run_dir / ".lock").read_text().startswith(f'{{"pid": {holder.pid}')  # left behind, but unlocked
    with RunLock(run_dir) as lock:
        assert (run_dir / ".lock").read_text().startswith(f'{{"pid": {os.getpid()}')
    assert lock.file.read_text() == ""


def test_one_writer_within_a_process_too(tmp_path):
    with RunLock(tmp_path), pytest.raises(TrainingError, match=f"in use by another run \\(PID {os.getpid()} "):
        RunLock(tmp_path).acquire()
    with pytest.raises(RuntimeError, match="crashed"), RunLock(tmp_path):
        raise RuntimeError("crashed")
    with RunLock(tmp_path):  # the failed block released it
        pass


def test_run_directories_that_cannot_be_made(tmp_path):
    file = tmp_path / "notes.txt"
    file.write_text("")
    expected = {
        file: f"cannot use {file} as the run directory: it is a file; choose another `run_dir`",
        file / "run": f"cannot use {file / 'run'} as the run directory: {file} is a file, not a directory; "
        "choose another `run_dir`",
        # CI runs as root, which may write anywhere but /proc.
        Path("/proc/eqx-resnet/run"): "cannot use /proc/eqx-resnet/run as the run directory: No such file or directory "
        "(/proc/eqx-resnet); choose another `run_dir`",
    }
    for run_dir, message in expected.items():
        with pytest.raises(TrainingError) as error:
            RunLock(run_dir).acquire()
        assert str(error.value) == message
