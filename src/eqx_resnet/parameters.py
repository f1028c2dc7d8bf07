"""Counting a model's numbers, and choosing which of them train."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import PyTree


def is_float_leaf(x) -> bool:
    """A floating-point array, or its abstract shape (from `eqx.filter_eval_shape`)."""
    return isinstance(x, (jax.Array, jax.ShapeDtypeStruct)) and jnp.issubdtype(x.dtype, jnp.inexact)


def count_parameters(model: PyTree) -> int:
    """The number of floating-point numbers in `model`'s arrays (BatchNorm's scale and shift included).

    Works on abstract models from `eqx.filter_eval_shape`, which allocate nothing.
    """
    return sum(math.prod(x.shape) for x in jax.tree.leaves(model) if is_float_leaf(x))


def count_batch_stats(state: eqx.nn.State) -> int:
    """The number of BatchNorm running statistics (means and variances) in `state`."""
    return count_parameters(state)
