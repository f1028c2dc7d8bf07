"""Data parallelism on JAX's own machinery: a mesh of devices and the shardings of a training step.

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

Across processes (`distributed.initialize_distributed`), the mesh spans the devices of all of them.
"""

from collections.abc import Callable

import equinox as eqx
import jax
import numpy as np
from jax import lax
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from jaxtyping import PyTree

from .config import BATCH_STATS, BatchStats, ConfigError

DATA_AXIS = "data"


def data_mesh(devices: int | None = None) -> Mesh:
    """A mesh of one axis, `"data"`, over the first `devices` local devices of every process (default: all).

    Every process of a run must pass the same `devices`. Raises `ConfigError` when this
    process has fewer devices.
    """
    local = jax.local_devices()
    if devices is not None and not 1 <= devices <= len(local):
        raise ConfigError(
            f"`devices={devices}`: this process has {len(local)} {local[0].platform.upper()} device(s); "
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
        per = f"{mesh.size} devices" + (
            f" x {accumulate} micro-batches (`accumulate={accumulate}`)" if accumulate > 1 else ""
        )
        raise ConfigError(
            f"`batch_size={batch_size}` does not split over {per}: give a multiple of {mesh.size * accumulate}"
            + (" or fewer `devices`" if jax.process_count() == 1 else "")
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
