"""Counting a model's numbers, and choosing which of them train."""

import dataclasses
import math
from collections.abc import Sequence

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


def trainable_filter(model: eqx.Module, frozen: Sequence[str]) -> PyTree[bool]:
    """A filter spec: `False` for every array under the top-level fields named in `frozen`,
    `True` for the model's other floating-point arrays (and `False` for everything else).

    `model` may be abstract; one name may be given as a string. Unknown names raise a `ValueError` listing the model's fields.
    The spec has the model's structure, so it works with `eqx.partition` and, as a mask or
    label tree, with optax. Transfer learning, training all but the stem and first stage:

        spec = trainable_filter(model, ("conv1", "bn1", "layer1"))
        trainable, fixed = eqx.partition(model, spec)
        optimizer = optax.adam(1e-3)
        opt_state = optimizer.init(trainable)               # no optimizer state for frozen arrays

        @eqx.filter_jit
        def step(trainable, fixed, state, opt_state, images, labels):
            def loss_fn(trainable):
                logits, state_out = forward(eqx.combine(trainable, fixed), state, images)
                return cross_entropy(logits, labels), state_out

            # Gradients of the trainable half only: the frozen layers cost no weight gradient.
            (loss, state), grads = eqx.filter_value_and_grad(loss_fn, has_aux=True)(trainable)
            updates, opt_state = optimizer.update(grads, opt_state, trainable)
            return eqx.apply_updates(trainable, updates), state, opt_state, loss

    Or keep `make_train_step` and give it an optimizer that zeroes the frozen updates:

        optax.multi_transform({True: optax.adam(1e-3), False: optax.set_to_zero()}, lambda _: spec)

    (`lambda _: spec`, because the spec is a model and optax would call it. Not
    `optax.masked(optax.adam(1e-3), ...)`: it passes the masked-out gradients through
    as updates.) Frozen BatchNorm layers still update their running statistics in
    training mode: those live in the state, not in the model.
    """
    frozen = (frozen,) if isinstance(frozen, str) else tuple(frozen)
    names = [f.name for f in dataclasses.fields(model) if not f.metadata.get("static", False)]
    unknown = sorted(set(frozen) - set(names))
    if unknown:
        raise ValueError(f"cannot freeze {unknown}: {type(model).__name__}'s top-level fields are {names}")

    def trainable(path, leaf) -> bool:
        return is_float_leaf(leaf) and path[0].name not in frozen

    return jax.tree_util.tree_map_with_path(trainable, model)
