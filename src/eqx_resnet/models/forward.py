"""The batched call of any model of the zoo, in a chosen compute precision.

Models are called on one example, like `eqx.nn`; `forward` maps one over a batch
under `jax.vmap(..., axis_name="batch")`, so BatchNorm sees the whole batch.
"""

from typing import Literal, get_args

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray, PyTree

Precision = Literal["fp32", "bf16"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
COMPUTE_DTYPES = {"fp32": jnp.float32, "bf16": jnp.bfloat16}


def cast_floating(tree: PyTree, dtype) -> PyTree:
    """Cast every floating-point array in `tree` to `dtype` (for mixed precision)."""
    return jax.tree.map(lambda x: x.astype(dtype) if eqx.is_inexact_array(x) else x, tree)


def forward(
    model: eqx.Module,
    state: eqx.nn.State,
    images: Float[Array, "n c h w"],
    *,
    key: PRNGKeyArray | None = None,
    precision: Precision = "fp32",
) -> tuple[Float[Array, "n classes"], eqx.nn.State]:
    """Batched forward pass: `(n, c, h, w)` images -> `(n, classes)` float32 logits and the new state.

    With `"bf16"`, parameters and activations are cast to bfloat16 inside the computation;
    parameters, gradients and BatchNorm statistics stay float32.
    """
    if precision not in COMPUTE_DTYPES:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    dtype = COMPUTE_DTYPES[precision]
    if dtype != jnp.float32:
        model = cast_floating(model, dtype)
    keys = None if key is None else jax.random.split(key, images.shape[0])
    batched = jax.vmap(model, axis_name="batch", in_axes=(0, None), out_axes=(0, None))
    return batched(images.astype(dtype), state, key=keys)
