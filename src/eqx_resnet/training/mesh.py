"""Data parallelism on JAX's own machinery: a mesh of devices, and processes joined by `jax.distributed`.

    mesh = data_mesh()                                    # every local device of every process: one "data" axis
    step = eqx.filter_jit(shard_train_step(make_train_step(optimizer), mesh))
    model, state, opt_state = replicate((model, state, opt_state), mesh)
    for images, labels in batches:                        # this process's rows of each global batch
        images, labels = shard_batch((images, labels), mesh)
        model, state, opt_state, metrics = step(model, state, opt_state, images, labels, key)

The global batch is split over the mesh's `"data"` axis; parameters, BatchNorm state and
optimiser state are replicated. Under `jit`, GSPMD inserts every collective: the gradients'
all-reduce and, as the model is vmapped over the whole global batch, BatchNorm's statistics
over the global batch (synchronised). So N devices compute what one device computes on the
same global batch, within float rounding. `batch_stats="per_device"` takes each device's own
statistics instead (no collective inside the network: cheaper across hosts, torchvision's
recipe) by running the step per device under `jax.shard_map`.

Many processes (hosts) join with `initialize_distributed` before anything else uses JAX; each
process then sees its own devices, and the mesh spans all of them. Collectives between CPU
processes go through gloo (`jax_cpu_collectives_implementation`, JAX's default on CPU).
"""

import contextlib
import os
import socket
import sys
import threading
from collections.abc import Callable, Hashable, Iterator

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.experimental import multihost_utils
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from jaxtyping import PyTree

from .._messages import first_line
from .config import BATCH_STATS, BatchStats, ConfigError
from .errors import TrainingError

DATA_AXIS = "data"
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
    if coordinator is None:
        raise ConfigError("--num-processes and --process-id go with --coordinator HOST:PORT (process 0's address)")
    if coordinator != "auto":
        host, _, port = coordinator.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"--coordinator takes HOST:PORT (e.g. 10.0.0.1:1234) or auto, got {coordinator!r}")
        if num_processes is None or process_id is None:
            raise ConfigError(
                "--coordinator HOST:PORT needs --num-processes N and --process-id I (0 for the coordinator's host)"
            )
        if num_processes < 1 or not 0 <= process_id < num_processes:
            raise ConfigError(
                f"--process-id must be 0 to {num_processes - 1} (--num-processes {num_processes}), got {process_id}"
            )
        if process_id == 0:
            _check_port_free(int(port))
    for name, value in (("join timeout", join_timeout), ("heartbeat timeout", heartbeat_timeout)):
        if not value >= 1:
            raise ConfigError(f"the {name} must be at least 1 second, got {value}")
    from jax._src import xla_bridge  # JAX's own test of whether a backend has started (there is no public one)

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
            f"--coordinator auto found no cluster ({e}): give --coordinator HOST:PORT --num-processes N --process-id I"
        ) from None
    finally:
        watchdog.cancel()


def _check_port_free(port: int) -> None:
    """Process 0 serves on `port`: refuse a port in use before JAX aborts on it."""
    with socket.socket(socket.AF_INET6 if socket.has_ipv6 else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("::" if socket.has_ipv6 else "", port))
        except OSError as e:
            raise TrainingError(
                f"process 0 cannot serve on port {port} ({e.strerror}): choose another --coordinator port"
            ) from None


def _not_joined(coordinator: str, num_processes: int | None, process_id: int | None, timeout: float) -> None:
    """The join watchdog: one line on stderr and exit, while JAX still waits (it would abort)."""
    if coordinator != "auto" and process_id != 0 and not _reachable(coordinator):
        message = (
            f"cannot reach the coordinator at {coordinator} within {timeout:g} s: start process 0 "
            f"(--process-id 0) with the same --coordinator, or check the host, the port and the firewall"
        )
    else:
        where = "" if coordinator == "auto" else f" at {coordinator}"
        ids = f" and its own --process-id 0 to {num_processes - 1}" if num_processes else ""
        message = (
            f"the processes of the run did not all join the coordinator{where} within {timeout:g} s "
            f"(--join-timeout): start every process with the same --coordinator and --num-processes{ids}"
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
            "another process has stopped (its own output says why): start every process again with --resume"
        ) from None


def data_mesh(devices: int | None = None) -> Mesh:
    """A mesh of one axis, `"data"`, over the first `devices` local devices of every process (default: all).

    Every process of a run must pass the same `devices`. Raises `ConfigError` when this
    process has fewer devices.
    """
    local = jax.local_devices()
    if devices is not None and not 1 <= devices <= len(local):
        raise ConfigError(
            f"--devices {devices}: this process has {len(local)} {local[0].platform.upper()} device(s); "
            f"give 1 to {len(local)}"
        )
    count = devices or len(local)
    chosen = [
        d
        for p in range(jax.process_count())
        for d in sorted((d for d in jax.devices() if d.process_index == p), key=lambda d: d.id)[:count]
    ]
    return jax.make_mesh((len(chosen),), (DATA_AXIS,), axis_types=(AxisType.Auto,), devices=chosen)


def run_mesh(devices: int | None, batch_size: int, accumulate: int = 1) -> Mesh | None:
    """The mesh of a training run, or `None` for one device in one process (nothing on the hot path).

    Raises `ConfigError` when the batch does not split over the devices (and micro-batches).
    """
    if jax.process_count() == 1 and (devices == 1 or (devices is None and jax.local_device_count() == 1)):
        return None
    mesh = data_mesh(devices)
    if batch_size % (mesh.size * accumulate):
        per = f"{mesh.size} devices" + (f" x {accumulate} micro-batches (--accumulate)" if accumulate > 1 else "")
        raise ConfigError(
            f"--batch-size {batch_size} does not split over {per}: give a multiple of {mesh.size * accumulate}"
            + (" or fewer --devices" if jax.process_count() == 1 else "")
        )
    return mesh


def _is_placed(x: jax.Array, sharding: NamedSharding) -> bool:
    # Equal, not merely equivalent: a step's outputs carry the mesh, and inputs placed otherwise
    # (one device's arrays on a mesh of one) would make a second call compile again.
    return isinstance(x, jax.Array) and x.sharding == sharding


def _put(x, sharding: NamedSharding, whole: bool = True):
    """`x` onto `sharding`. Across processes, `x` is the whole array in every process (`whole`),
    or this process's part of it, the parts in process order."""
    if _is_placed(x, sharding):
        return x
    if jax.process_count() == 1:
        return jax.device_put(x, sharding)
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):  # typed keys: their data travels
        data = _put(jax.random.key_data(x), sharding, whole)
        return jax.random.wrap_key_data(data, impl=jax.random.key_impl(x))
    return jax.make_array_from_process_local_data(sharding, np.asarray(x), x.shape if whole else None)


def replicate(tree: PyTree, mesh: Mesh) -> PyTree:
    """`tree` with each array on every device of `mesh` (parameters, BatchNorm and optimiser state);
    other leaves kept. Across processes, every process passes the same values."""
    sharding = NamedSharding(mesh, P())
    arrays, rest = eqx.partition(tree, eqx.is_array)
    return eqx.combine(jax.tree.map(lambda x: _put(x, sharding), arrays), rest)


def batch_sharding(mesh: Mesh, axis: int = 0) -> NamedSharding:
    """The sharding of arrays split along `axis` over the mesh's `"data"` devices (a batch), the rest replicated."""
    return NamedSharding(mesh, P(*([None] * axis), DATA_AXIS))


def shard_batch(tree: PyTree, mesh: Mesh, axis: int = 0) -> PyTree:
    """`tree`'s arrays split along `axis` over the mesh's `"data"` devices (a batch).

    Across processes, each process passes its own rows, in process order: the global batch
    is their concatenation along `axis`.
    """
    sharding = batch_sharding(mesh, axis)
    return jax.tree.map(lambda x: _put(x, sharding, whole=False), tree)


def shard_train_step(train_step: Callable, mesh: Mesh, *, batch_stats: BatchStats = "global") -> Callable:
    """`train_step` made data-parallel over `mesh`: a function of the same signature, to jit.

    **Arguments:**

    - `train_step`: `(model, state, opt_state, images, labels, key) -> (model, state, opt_state,
      metrics)`, such as `make_train_step(optimizer)`'s.
    - `mesh`: a mesh with a `"data"` axis (`data_mesh`).
    - `batch_stats`: `"global"` (any `train_step`): BatchNorm takes the statistics of the global
      batch, and the step computes what it computes on one device. `"per_device"`: each device's
      own statistics; `train_step` must be `make_train_step(..., axis_name="data")`, which averages
      the gradients, the loss and the BatchNorm state over the devices.

    The model, state and optimiser state go in replicated (`replicate`) and come out so; the
    images `(n, c, h, w)` and labels `(n,)` are split over the devices (`shard_batch`; any
    other layout is resharded), `n` a multiple of the number of devices.
    """
    if batch_stats not in BATCH_STATS:
        raise ValueError(f"batch_stats must be one of {', '.join(BATCH_STATS)}, got {batch_stats!r}")
    batch, replicated = NamedSharding(mesh, P(DATA_AXIS)), NamedSharding(mesh, P())
    if batch_stats == "global":

        def step(model, state, opt_state, images, labels, key):
            images, labels = lax.with_sharding_constraint((images, labels), batch)
            model, state, opt_state, metrics = train_step(model, state, opt_state, images, labels, key)
            arrays, rest = eqx.partition((model, state, opt_state), eqx.is_array)
            model, state, opt_state = eqx.combine(lax.with_sharding_constraint(arrays, replicated), rest)
            return model, state, opt_state, metrics

        return step
    if getattr(train_step, "axis_name", None) != DATA_AXIS:
        raise ValueError(
            f"per-device statistics need a step that averages its gradients over the devices: "
            f"make_train_step(optimizer, axis_name={DATA_AXIS!r})"
        )

    def per_device_step(model, state, opt_state, images, labels, key):
        params, static = eqx.partition(model, eqx.is_array)

        def local(params, state, opt_state, images, labels, key):
            model, state, opt_state, metrics = train_step(
                eqx.combine(params, static), state, opt_state, images, labels, key
            )
            return eqx.filter(model, eqx.is_array), state, opt_state, metrics

        # check_vma=False: JAX 0.10's varying-axes check rejects BatchNorm's collective over the
        # vmap axis inside shard_map; the step averages over "data" itself, so every output is replicated.
        mapped = jax.shard_map(
            local, mesh=mesh, in_specs=(P(), P(), P(), P(DATA_AXIS), P(DATA_AXIS), P()), out_specs=P(), check_vma=False
        )
        params, state, opt_state, metrics = mapped(params, state, opt_state, images, labels, key)
        return eqx.combine(params, static), state, opt_state, metrics

    return per_device_step


def device_mean(tree: PyTree, axis_name: Hashable) -> PyTree:
    """The mean over the devices of `axis_name` of `tree`'s floating-point arrays (under `shard_map`)."""
    return jax.tree.map(lambda x: lax.pmean(x, axis_name) if eqx.is_inexact_array(x) else x, tree)


def accumulate_gradients(grad_fn: Callable, micro_batches: int) -> Callable:
    """`grad_fn` over a batch as `micro_batches` micro-batches in sequence, their gradients averaged.

    `grad_fn(model, state, images, labels, key) -> ((loss, (state, correct)), grads)`, as
    `eqx.filter_value_and_grad(loss_fn, has_aux=True)` gives it; the result has the same
    signature. Micro-batch `k` is rows `k, k + micro_batches, ...` of the batch (on a mesh each
    device keeps its own rows); the state threads through them in order (each updates BatchNorm's
    running statistics), `loss` is their mean and `correct` their sum. Equal to one `grad_fn`
    over the batch when the loss is a mean over independent examples (BatchNorm in inference mode).
    """

    def accumulated(model, state, images, labels, key):
        n = images.shape[0]
        if n % micro_batches:
            raise ValueError(f"a batch of {n} does not split into {micro_batches} micro-batches")
        split = lambda x: jnp.moveaxis(x.reshape(n // micro_batches, micro_batches, *x.shape[1:]), 1, 0)

        def body(carry, inputs):
            grad_sum, loss_sum, correct_sum, state = carry
            (loss, (state, correct)), grads = grad_fn(model, state, *inputs)
            return (jax.tree.map(jnp.add, grad_sum, grads), loss_sum + loss, correct_sum + correct, state), None

        zeros = jax.tree.map(jnp.zeros_like, eqx.filter(model, eqx.is_inexact_array))
        init = (zeros, jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32), state)
        inputs = (split(images), split(labels), jax.random.split(key, micro_batches))
        (grads, loss, correct, state), _ = lax.scan(body, init, inputs)
        return (loss / micro_batches, (state, correct)), jax.tree.map(lambda g: g / micro_batches, grads)

    return accumulated


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
