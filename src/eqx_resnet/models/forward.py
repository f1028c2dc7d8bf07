"""The batched call of any model of the zoo, in a chosen compute precision.

Models are called on one example, like `eqx.nn`; `forward` maps one over a batch
under `jax.vmap(..., axis_name=model.axis_name)`, so BatchNorm sees the whole batch.
"""

from collections.abc import Hashable
from typing import Literal, get_args, no_type_check

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec
from jaxtyping import Array, Float, PRNGKeyArray, PyTree

from ._checks import check_batch, check_state

Precision = Literal["fp32", "bf16"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
COMPUTE_DTYPES = {"fp32": jnp.float32, "bf16": jnp.bfloat16}


def cast_floating(tree: PyTree, dtype) -> PyTree:
    """Cast every floating-point array in `tree` to `dtype` (for mixed precision)."""
    return jax.tree.map(lambda x: x.astype(dtype) if eqx.is_inexact_array(x) else x, tree)


def vmap_axis(model: eqx.Module) -> Hashable:
    """The `vmap` axis name of `model`'s BatchNorms: its `axis_name`, or the last of a tuple of
    them (the others name outer axes, such as `shard_map`'s device axis); `"batch"` by default."""
    axis_name = getattr(model, "axis_name", "batch")
    return axis_name[-1] if isinstance(axis_name, tuple) else axis_name


def _split_per_example(key: PRNGKeyArray, images: Float[Array, "n c h w"]) -> Array:
    """One key per example, sharded along the batch as `images` is.

    Under a mesh with explicit axes, `vmap` requires its mapped inputs to be sharded alike.
    """
    keys = jax.random.split(key, images.shape[0])
    spec = jax.typeof(images).sharding.spec
    if spec and spec[0] is not None:
        keys = jax.sharding.reshard(keys, PartitionSpec(spec[0]))
    return keys


# Not checked by jaxtyping's import hook: `forward` checks its own inputs, so its contract and one-line
# errors are the same with the hook as without, and a failed check does not print the whole model.
@no_type_check
def forward(
    model: eqx.Module,
    state: eqx.nn.State,
    images: Float[Array | np.ndarray, "n c h w"],
    *,
    key: PRNGKeyArray | None = None,
    precision: Precision = "fp32",
    axis_name: Hashable | None = None,
) -> tuple[Float[Array, "n out"] | list[Float[Array, "n _ _ _"]], eqx.nn.State]:
    """Batched forward pass: `(n, c, h, w)` images -> `(n, classes)` float32 logits and the new state
    (a `features_only` model's maps, `[(n, c, h, w), ...]`).

    **Arguments:**

    - `model`, `state`: a model of the zoo (or any module called as `model(x, state)` on one
      example, `model(x, state, key=...)` with a `key`) and its state: a state that lacks
      entries of the model, or holds entries of another model, is refused. In training mode
      BatchNorm takes the batch's statistics; pass `eqx.nn.inference_mode(model)` to evaluate.
    - `images`: a batch of channels-first images, sharded or not: a JAX or NumPy array of any
      floating dtype (integer pixels are refused: normalise them first).
    - `key`: split into one key per example (dropout) and passed as `key=`; `None` if the model
      needs none, and then no `key` is passed.
    - `precision`: `"bf16"` casts parameters and activations to bfloat16 inside the computation;
      parameters, gradients and BatchNorm statistics stay float32.
    - `axis_name`: the `vmap` axis name; by default the model's own (`vmap_axis(model)`).

    Under `shard_map`, build the model with `axis_name=(device_axis, "batch")` so that BatchNorm
    takes the statistics of the whole batch, and fold the device index into `key`.
    """
    if precision not in COMPUTE_DTYPES:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    check_batch(images)
    if isinstance(state, eqx.nn.State):
        check_state(model, state, "forward")
    dtype = COMPUTE_DTYPES[precision]
    if dtype != jnp.float32:
        model = cast_floating(model, dtype)
    axis = vmap_axis(model) if axis_name is None else axis_name
    batched = jax.vmap(model, axis_name=axis, in_axes=(0, None), out_axes=(0, None))
    if key is None:
        return batched(images.astype(dtype), state)
    return batched(images.astype(dtype), state, key=_split_per_example(key, images))
