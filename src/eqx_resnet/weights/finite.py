"""Non-finite weights: the first array holding a NaN or an infinity, for every reader of weights and checkpoints.

The weights and BatchNorm statistics of a usable network are finite; a NaN or an infinity
there (a diverged run saved anyway, a damaged or edited file) makes every prediction NaN or
constant, so readers refuse them: `read_state_dict` (state dicts) and `load_checkpoint`.
"""

from collections.abc import Iterable, Iterator
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np


def first_non_finite(arrays: Iterable[tuple[str, Any]]) -> tuple[str, str] | None:
    """`(name, "NaN" or "an infinity")` of the first floating-point array of `(name, array)` pairs
    that holds a non-finite value; `None` when all are finite. Integer arrays are skipped."""
    for name, value in arrays:
        if not eqx.is_array(value) or not jnp.issubdtype(value.dtype, jnp.inexact):  # bfloat16 included
            continue
        array = np.asarray(value)
        if not np.isfinite(array).all():
            return name, "NaN" if np.isnan(array).any() else "an infinity"
    return None


def is_state_index(x: Any) -> bool:
    """Whether `x` is an `eqx.nn.StateIndex`: a leaf of a model whose value lives in its `eqx.nn.State`."""
    return isinstance(x, eqx.nn.StateIndex)


def model_arrays(model: eqx.Module, state: eqx.nn.State | None) -> Iterator[tuple[str, Any]]:
    """Every array of `model` and its `state`, named by its path in the model: `fc.weight`, and
    `layer1[0].bn1.statistics[1]` for a BatchNorm's running variance."""
    for keys, leaf in jax.tree_util.tree_flatten_with_path(model, is_leaf=is_state_index)[0]:
        name = jax.tree_util.keystr(keys).lstrip(".")
        if not is_state_index(leaf):
            yield name, leaf
        elif state is not None:
            for inner, value in jax.tree_util.tree_flatten_with_path(state.get(leaf))[0]:
                yield name + jax.tree_util.keystr(inner), value
