"""The model zoo. Importing this package registers every model."""

from . import layers
from .alexnet import AlexNet, alexnet
from .description import Description, FeatureInfo, PretrainedWeights
from .forward import forward
from .preact import PreActBlock, PreActResNet, preact_resnet
from .registry import describe, get_builder, list_models, register_model, with_state
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
    "Description",
    "FeatureInfo",
    "PreActBlock",
    "PreActResNet",
    "PretrainedWeights",
    "ResNet",
    "alexnet",
    "describe",
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
    if name in layers.MOVED:
        return layers.moved_layer(__name__, name)
    raise AttributeError(f"module 'eqx_resnet.models' has no attribute {name!r}")
