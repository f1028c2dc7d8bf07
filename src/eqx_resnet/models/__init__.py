"""The model zoo. Importing this package registers every model."""

import warnings

from .alexnet import AlexNet, alexnet
from .forward import forward
from .preact import PreActBlock, PreActResNet, preact_resnet
from .registry import create_model, get_builder, list_models, register_model, with_state
from .resnet import (
    BasicBlock,
    Bottleneck,
    ResNet,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
    resnext50_32x4d,
    wide_resnet50_2,
)

__all__ = [
    "AlexNet",
    "BasicBlock",
    "Bottleneck",
    "PreActBlock",
    "PreActResNet",
    "ResNet",
    "alexnet",
    "create_model",
    "forward",
    "get_builder",
    "list_models",
    "preact_resnet",
    "register_model",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnext50_32x4d",
    "wide_resnet50_2",
    "with_state",
]


def __getattr__(name: str):
    # The layers moved to eqx_resnet.layers; the old names keep working, with a warning, until the next release.
    if name in ("BatchNorm", "Conv2d", "MaxPool2d"):
        warnings.warn(
            f"eqx_resnet.models.{name} is deprecated and goes in the next release: use eqx_resnet.layers.{name} "
            f"(channels-last, unlike eqx.nn.{name})",
            DeprecationWarning,
            stacklevel=2,
        )
        from . import layers

        return getattr(layers, name)
    raise AttributeError(f"module 'eqx_resnet.models' has no attribute {name!r}")
