"""The model registry: names to architectures' descriptions and their builders, as in timm.

A builder is a function `builder(*, key, **options) -> (model, state)`. The zoo's
builders are made by `with_state` from a constructor that returns the model alone
(`ResNet.resnet18`, `PreActResNet`, `AlexNet`), so they take that constructor's
keyword arguments, with its types and defaults, and `help()` shows them. Each model file
registers its architectures' `Description`s (models/description.py) with `register_model`.
"""

import fnmatch
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import equinox as eqx

from .description import Description, PretrainedWeights

if TYPE_CHECKING:
    from ..data.preprocessing import Preprocessing

Builder = Callable[..., tuple[eqx.Module, eqx.nn.State]]
_MODELS: dict[str, Description] = {}

_P = ParamSpec("_P")
_M = TypeVar("_M")


def with_state(constructor: Callable[_P, _M], name: str | None = None) -> Callable[_P, tuple[_M, eqx.nn.State]]:
    """A builder: `constructor`'s arguments in, `eqx.nn.make_with_state(constructor)(...)` out.

    The builder has `constructor`'s signature (return type aside) and docstring, under
    `name` (default: the constructor's own name), so `help()` and `inspect.signature`
    show the real options.
    """
    make = eqx.nn.make_with_state(constructor)

    # ParamSpec annotations are for type checkers only: beartype cannot check them.
    if TYPE_CHECKING:

        def builder(*args: _P.args, **kwargs: _P.kwargs) -> tuple[_M, eqx.nn.State]: ...

    else:

        def builder(*args, **kwargs):
            return make(*args, **kwargs)

    signature = inspect.signature(constructor, eval_str=True)
    model_type = constructor if inspect.isclass(constructor) else signature.return_annotation
    builder.__name__ = builder.__qualname__ = name or constructor.__name__
    builder.__module__ = constructor.__module__
    builder.__signature__ = signature.replace(return_annotation=tuple[model_type, eqx.nn.State])
    # A class documents its arguments in `__init__`, a function in its own docstring.
    arguments = f"\n\n{inspect.getdoc(constructor.__init__)}" if inspect.isclass(constructor) else ""
    builder.__doc__ = (
        f"{inspect.getdoc(constructor)}{arguments}\n\n"
        f"Returns `(model, state)`: `eqx.nn.make_with_state({constructor.__qualname__})(...)`. Inside your own\n"
        f"module, call `{constructor.__qualname__}(...)` and build yours with `eqx.nn.make_with_state`."
    )
    return builder


def register_model(description: Description) -> Builder:
    """Register `description` under its name; returns its builder."""
    if description.name in _MODELS:
        raise ValueError(f"a model named {description.name!r} is registered already")
    _MODELS[description.name] = description
    return description.builder


def list_models(pattern: str = "*", *, pretrained: bool = False) -> list[str]:
    """The names `create_model` accepts that match `pattern` (`"resnet*"`, as `fnmatch`), sorted;
    with `pretrained=True` only those with published weights, as timm's `list_models`."""
    return sorted(n for n, d in _MODELS.items() if fnmatch.fnmatchcase(n, pattern) and (d.weights or not pretrained))


def describe(name: str) -> Description:
    """The description of the architecture registered as `name`, or a `ValueError` listing the known names."""
    try:
        return _MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(list_models())}") from None


def resolve_preprocessing(source) -> "Preprocessing":
    """How to prepare an image for `source`, timm's `resolve_data_config`: a `PretrainedWeights`'
    own; for a model (or a registered name) its best set's, or without sets its natural RGB input
    resized whole (crop 1.0) with ImageNet's mean and std. A model of other channels without sets
    has no preprocessing of its own: its training run's metadata records the one it was trained with."""
    from ..data.preprocessing import Preprocessing  # here: the data layer loads pooch and Pillow (0.35 s)

    if isinstance(source, PretrainedWeights):
        return source.preprocessing
    if isinstance(source, str):
        description = describe(source)
    else:
        description = getattr(source, "description", None)
        if description is None:
            raise ValueError(f"{type(source).__name__} has no description: give a weight set or a registered model")
    if description.weights:
        return description.weights[0].preprocessing
    channels, _, side = description.input_size
    if channels != 3:
        raise ValueError(
            f"{description.name} has no published weights and takes {channels}-channel images: its preprocessing is "
            "its training data's, which its run's metadata records (RunMetadata.preprocessing)"
        )
    return Preprocessing(side, 1.0, "bilinear")


def get_builder(name: str) -> Builder:
    """The builder registered as `name`, or a `ValueError` listing the known names.

    `inspect.signature(get_builder(name))` lists the model's options.
    """
    return describe(name).builder


def registered() -> list[Description]:
    """Every description, in the order the model files register them (the zoo's order)."""
    return list(_MODELS.values())
