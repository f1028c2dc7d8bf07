"""A run of several processes (hosts) joined by `jax.distributed`: joining, leaving, and the
collectives between processes that the training loop needs (a stop, a barrier).

Many processes join with `initialize_distributed` before anything else uses JAX; each
process then sees its own devices, and the mesh (`sharding.data_mesh`) spans all of them.
Collectives between CPU processes go through gloo (`jax_cpu_collectives_implementation`,
JAX's default on CPU). A process that fails leaves at once (`leave_now`), and a collective
whose peer is gone says so (`lost_peers_as_errors`).
"""

import contextlib
import os
import socket
import sys
import threading
from collections.abc import Iterator

import jax
import numpy as np
from jax._src import xla_bridge  # JAX's own test of whether a backend has started (there is no public one)
from jax.experimental import multihost_utils

from .._messages import first_line
from .config import ConfigError
from .errors import TrainingError

# JAX's own defaults: processes have 300 s to join; one silent for 100 s is taken for dead.
JOIN_TIMEOUT_S = 300
HEARTBEAT_TIMEOUT_S = 100
_JAX_GRACE_S = 60  # JAX's own join timeout runs this much longer, so that ours, with its message, comes first
# Words of the runtime errors a collective raises when a peer process is gone (gloo, NCCL, the coordinator).
_LOST_PEER_WORDS = (
    "gloo",
    "nccl",
    "connection reset",
    "connection refused",
    "unavailable",
    "heartbeat",
    "coordination service",
)


def initialize_distributed(
    coordinator: str | None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    join_timeout: float = JOIN_TIMEOUT_S,
    heartbeat_timeout: float = HEARTBEAT_TIMEOUT_S,
) -> None:
    """Join this process to a run of several processes (`jax.distributed.initialize`).

    Call it before anything else uses JAX (a computation, `jax.devices()`): the devices of
    every process then form one platform, which `data_mesh` spans.

    **Arguments:**

    - `coordinator`: `"HOST:PORT"` of process 0, where it serves JAX's coordination service,
      with `num_processes` and this process's `process_id` (0 to `num_processes - 1`); or
      `"auto"`: JAX's detection of the cluster (SLURM, Open MPI, Cloud TPU slices).
    - `join_timeout`: seconds for every process to join. A process still waiting after it
      prints one line on stderr (`error: ...`: the coordinator unreachable, or processes
      missing) and exits with status 1: JAX itself would abort the process.
    - `heartbeat_timeout`: seconds after which a silent process is taken for dead; JAX's
      coordination service then ends the run in every process.
    """
    _check_arguments(coordinator, num_processes, process_id, join_timeout, heartbeat_timeout)
    if xla_bridge.backends_are_initialized():
        raise ConfigError(
            "initialize_distributed must come before anything uses JAX (a computation, jax.devices()): call it first"
        )
    given = dict(num_processes=num_processes, process_id=process_id)  # with "auto", JAX detects what is not given
    given = {k: v for k, v in given.items() if v is not None} | (
        {} if coordinator == "auto" else {"coordinator_address": coordinator}
    )
    watchdog = threading.Timer(join_timeout, _not_joined, (coordinator, num_processes, process_id, join_timeout))
    watchdog.daemon = True
    watchdog.start()
    try:
        # A process done with its run waits for the others at exit, as long as for a heartbeat.
        jax.distributed.initialize(
            **given,
            initialization_timeout=int(join_timeout) + _JAX_GRACE_S,
            heartbeat_timeout_seconds=int(heartbeat_timeout),
            shutdown_timeout_seconds=int(heartbeat_timeout),
        )
    except ValueError as e:  # `auto` outside any cluster JAX knows
        raise ConfigError(
            f'`coordinator="auto"` found no cluster ({e}): give `coordinator="HOST:PORT"`, `num_processes` and `process_id`'
        ) from None
    finally:
        watchdog.cancel()


def _check_arguments(
    coordinator: str | None, num_processes: int | None, process_id: int | None, *timeouts: int | float
) -> None:
    """`initialize_distributed`'s arguments, refused in its words before JAX aborts on them."""
    if coordinator is None:
        raise ConfigError('`num_processes` and `process_id` go with `coordinator="HOST:PORT"` (process 0\'s address)')
    if coordinator != "auto":
        host, _, port = coordinator.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"`coordinator` takes HOST:PORT (e.g. 10.0.0.1:1234) or auto, got {coordinator!r}")
        if num_processes is None or process_id is None:
            raise ConfigError(
                '`coordinator="HOST:PORT"` needs `num_processes` and `process_id` (0 for the coordinator\'s host)'
            )
        if num_processes < 1 or not 0 <= process_id < num_processes:
            raise ConfigError(
                f"`process_id` must be 0 to {num_processes - 1} (`num_processes={num_processes}`), got {process_id}"
            )
        if process_id == 0:
            _check_port_free(int(port))
    for name, value in zip(("join timeout", "heartbeat timeout"), timeouts):
        if not value >= 1:
            raise ConfigError(f"the {name} must be at least 1 second, got {value}")


def _check_port_free(port: int) -> None:
    """Process 0 serves on `port`: refuse a port in use before JAX aborts on it."""
    with socket.socket(socket.AF_INET6 if socket.has_ipv6 else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("::" if socket.has_ipv6 else "", port))
        except OSError as e:
            raise TrainingError(
                f"process 0 cannot serve on port {port} ({e.strerror}): choose another port for `coordinator`"
            ) from None


def _not_joined(coordinator: str, num_processes: int | None, process_id: int | None, timeout: float) -> None:
    """The join watchdog: one line on stderr and exit, while JAX still waits (it would abort). Printed from the
    watchdog's thread, where no command can put it in its options: in plain words, for a caller and a command alike."""
    if coordinator != "auto" and process_id != 0 and not _reachable(coordinator):
        message = (
            f"cannot reach the coordinator at {coordinator} within {timeout:g} s: start process 0 "
            "with the same coordinator, or check the host, the port and the firewall"
        )
    else:
        where = "" if coordinator == "auto" else f" at {coordinator}"
        ids = f", each its own process id 0 to {num_processes - 1}" if num_processes else ""
        message = (
            f"the processes of the run did not all join the coordinator{where} within {timeout:g} s "
            f"(the join timeout): start every process with the same coordinator and number of processes{ids}"
        )
    print(f"error: {message}", file=sys.stderr, flush=True)
    leave_now(1)


def _reachable(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=1).close()
        return True
    except OSError:
        return False


def is_process_zero() -> bool:
    """Whether this is process 0 of the run (the one that writes and reports), or the only one."""
    return not jax.distributed.is_initialized() or jax.process_index() == 0


@contextlib.contextmanager
def exit_at_once_on_error() -> Iterator[None]:
    """In a run of several processes, a process that fails (its error already reported, as a
    `SystemExit` or an exception with an `exit_code`) exits at once: see `leave_now`."""
    try:
        yield
    except BaseException as e:
        if jax.distributed.is_initialized():
            status = getattr(e, "exit_code", getattr(e, "code", 1))
            leave_now(status if isinstance(status, int) else 1)
        raise


def leave_now(status: int) -> None:
    """Exit with `status` at once, skipping JAX's shutdown, which waits on the other processes
    (for `heartbeat_timeout`) and then aborts when one of them is gone."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


@contextlib.contextmanager
def lost_peers_as_errors() -> Iterator[None]:
    """In a run of several processes, turn the runtime error of a collective whose peer is gone
    into a `TrainingError` that says what happened and what to do."""
    try:
        yield
    except (jax.errors.JaxRuntimeError, ValueError) as e:  # gloo's failures come as ValueError
        text = str(e)
        if jax.process_count() == 1 or not any(w in text.lower() for w in _LOST_PEER_WORDS):
            raise
        first = first_line(e)
        raise TrainingError(
            f"process {jax.process_index()} of {jax.process_count()} lost contact with the others ({first}); "
            "another process has stopped (its own output says why): start every process again with `resume=True`"
        ) from None


def stop_anywhere(requested: str | None) -> str | None:
    """A stop requested in any process (its signal's name, e.g. `"SIGTERM"`), the same in every
    process, so that all stop at the same step; a collective: every process calls it."""
    if jax.process_count() == 1:
        return requested
    names = ("", "SIGTERM", "SIGINT")
    codes = multihost_utils.process_allgather(np.int32(names.index(requested or "")))
    return names[int(np.max(codes))] or None


def sync_processes(name: str) -> None:
    """Wait until every process gets here (nothing to do in one process)."""
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(name)
