"""Counting a model's numbers, and choosing which of them train.

Parts of a model are named by their dotted path, as PyTorch names modules: `"layer1"`,
`"layer4.1.conv2"`, `"backbone.fc"` for a model inside your own module. `"stem"` names
a zoo model's stem layers (`conv1`, `bn1`, `maxpool` in a ResNet), as `feature_maps`
does; `summarize` prints the same paths.
"""

import fnmatch
import math
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.tree_util import DictKey, GetAttrKey, SequenceKey
from jaxtyping import PyTree

from .models.layers import BatchNorm

Part = str | type
"""A part of a model: a dotted path, a pattern over paths (`"layer*.0.bn*"`: `fnmatch`'s `*`,
`?` and `[...]` within each step of the path), or a module type (`eqx_resnet.layers.BatchNorm`:
every BatchNorm)."""

__all__ = ["Part", "count_batch_stats", "count_parameters", "freeze_batch_stats", "trainable_filter"]


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


def key_name(key) -> str:
    """One step of a key path as it reads in a dotted path: a field name, or an index."""
    if isinstance(key, GetAttrKey):
        return key.name
    if isinstance(key, SequenceKey):
        return str(key.idx)
    if isinstance(key, DictKey):
        return str(key.key)
    return str(key)


def module_path(key_path) -> str:
    """A `jax.tree_util` key path as a dotted path: `layer1.0.conv1`."""
    return ".".join(key_name(key) for key in key_path)


def _child(node, key):
    """The node one key below `node`, or `None` where the key path leaves modules, tuples and dicts."""
    if isinstance(key, GetAttrKey):
        return getattr(node, key.name, None)
    if isinstance(key, (SequenceKey, DictKey)):
        return node[key.idx if isinstance(key, SequenceKey) else key.key]
    return None


def _owners(model: PyTree, key_path) -> tuple[list[str], list[type]]:
    """The names a node at `key_path` is under (its path and every prefix, with `"stem"` and the
    model's `stem_feature` for a stem layer), and the types of the modules it is in (itself included)."""
    names, types = [], []
    node, prefix = model, ""
    for key in key_path:
        if isinstance(key, GetAttrKey) and key.name in getattr(type(node), "stem_layers", ()):
            names.append(f"{prefix}stem")
            if feature := getattr(type(node), "stem_feature", None):  # timm's name of the stem's map: act1
                names.append(f"{prefix}{feature}")
        node = None if node is None else _child(node, key)
        prefix += key_name(key)
        names.append(prefix)
        prefix += "."
        if isinstance(node, eqx.Module):
            types.append(type(node))
    return names, types


def _normalise(frozen: Part | Sequence[Part]) -> tuple[Part, ...]:
    return (frozen,) if isinstance(frozen, (str, type)) else tuple(frozen)


def _matches(part: Part, names: list[str], types: list[type]) -> bool:
    if isinstance(part, type):
        return any(issubclass(t, part) for t in types)
    steps = part.split(".")

    def matches(name: str) -> bool:
        name_steps = name.split(".")
        return len(name_steps) == len(steps) and all(map(fnmatch.fnmatchcase, name_steps, steps))

    return any(map(matches, names))


def _check_known(model: PyTree, parts: tuple[Part, ...]) -> None:
    """Raise a `ValueError` naming every part in `parts` that matches nothing in `model`."""
    empty_module = lambda x: isinstance(x, eqx.Module) and not jax.tree.leaves(x)  # a max-pool: a part, no arrays
    owners = [_owners(model, kp) for kp, _ in jax.tree_util.tree_flatten_with_path(model, is_leaf=empty_module)[0]]
    unknown = [part for part in parts if not any(_matches(part, names, types) for names, types in owners)]
    if unknown:
        stems = {"stem", getattr(type(model), "stem_feature", "stem")}
        top = list(dict.fromkeys(next(n for n in names if n not in stems) for names, _ in owners if names))
        if hasattr(type(model), "stem_layers"):
            top[:0] = sorted(stems, reverse=True)
        raise ValueError(
            f"cannot freeze {unknown}: no part of {type(model).__name__} matches; its parts are {top}, and paths go "
            "down with dots ('layer4.1.conv2'), patterns match each step as fnmatch does ('layer*.*.bn1'), "
            "and a module type (eqx_resnet.layers.BatchNorm) freezes every such module"
        )


def trainable_filter(model: PyTree, frozen: Part | Sequence[Part]) -> PyTree[bool]:
    """A filter spec: `False` for every array under a part named in `frozen`, `True` for the
    model's other floating-point arrays (and `False` for everything else).

    **Arguments:**

    - `model`: a model of the zoo, or your own module holding one; it may be abstract.
    - `frozen`: one part or several. A part is a dotted path (`"layer1"`, `"layer4.1.conv2"`,
      `"backbone.layer1"`), `"stem"` (the stem's layers; a ResNet's are also `"act1"`, as its
      `feature_maps` and `feature_info` name the stem's map, after timm), a pattern
      (`"layer*.*.bn*"`: `fnmatch` within each step of the path), or a module type (`eqx_resnet.layers.BatchNorm`: every
      BatchNorm). A part that matches nothing raises a `ValueError` listing the model's parts.

    The spec has the model's structure, so it works with `eqx.partition` and, as a mask or
    label tree, with optax. Transfer learning, training all but the stem and first stage:

        spec = trainable_filter(model, ("stem", "layer1"))
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
    training mode, which live in the state: `freeze_batch_stats` freezes those too.
    """
    parts = _normalise(frozen)
    _check_known(model, parts)

    def trainable(key_path, leaf) -> bool:
        if not is_float_leaf(leaf):
            return False
        names, types = _owners(model, key_path)
        return not any(_matches(part, names, types) for part in parts)

    return jax.tree_util.tree_map_with_path(trainable, model)


def freeze_batch_stats(model: PyTree, frozen: Part | Sequence[Part]) -> PyTree:
    """`model` with the BatchNorms under `frozen` in inference mode: they normalise with their
    running statistics and leave them unchanged, while the rest of the model trains.

    `frozen` names parts as in `trainable_filter`, and the BatchNorms under them, this
    package's and `eqx.nn.BatchNorm`s alike, are frozen: pass the frozen parts of
    `trainable_filter` to freeze their statistics too, or `eqx_resnet.layers.BatchNorm` to
    freeze every BatchNorm of a zoo model, as fine-tuning with small batches often wants.
    Evaluate with `eqx.nn.inference_mode(model)` as usual; `eqx.nn.inference_mode(model, False)`
    would put them back in training mode.
    """
    parts = _normalise(frozen)
    _check_known(model, parts)
    is_norm = lambda x: isinstance(x, (BatchNorm, eqx.nn.BatchNorm))
    paths = [
        key_path
        for key_path, node in jax.tree_util.tree_flatten_with_path(model, is_leaf=is_norm)[0]
        if is_norm(node) and any(_matches(part, *_owners(model, key_path)) for part in parts)
    ]

    def norms(m):
        found = []
        for key_path in paths:
            node = m
            for key in key_path:
                node = _child(node, key)
            found.append(node)
        return found

    return eqx.tree_at(norms, model, replace_fn=lambda norm: eqx.tree_at(lambda n: n.inference, norm, True))
