"""The model registry: names to builders, as in timm.

A builder is a function `builder(*, key, **options) -> (model, state)`.
"""

from collections.abc import Callable

import equinox as eqx
from jaxtyping import PRNGKeyArray

Builder = Callable[..., tuple[eqx.Module, eqx.nn.State]]
_MODELS: dict[str, Builder] = {}


def register_model(builder: Builder) -> Builder:
    """Register `builder` under its function name."""
    _MODELS[builder.__name__] = builder
    return builder


def list_models() -> list[str]:
    """The names `create_model` accepts, sorted."""
    return sorted(_MODELS)


def get_builder(name: str) -> Builder:
    """The builder registered as `name`, or a `ValueError` listing the known names."""
    try:
        return _MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(list_models())}") from None


def create_model(name: str, *, key: PRNGKeyArray, **options) -> tuple[eqx.Module, eqx.nn.State]:
    """Build the model registered as `name`: `(model, state)`.

    `options` go to the builder: `num_classes`, `in_channels`, and for ResNets
    `stem` ("imagenet" | "cifar"), `zero_init_residual`, `groups`, `width_per_group`.
    """
    return get_builder(name)(key=key, **options)
