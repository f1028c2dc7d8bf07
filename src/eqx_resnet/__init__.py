"""eqx-resnet: residual networks for Equinox.

    import jax, eqx_resnet
    model, state = eqx_resnet.resnet18(num_classes=10, key=jax.random.key(0))      # the model and its state
    backbone = eqx_resnet.ResNet.resnet18(num_classes=0, key=jax.random.key(0))   # the model alone, headless

`import eqx_resnet` needs only jax, equinox and jaxtyping: the training, data and summary
helpers exported here are imported on first use, with their dependencies (optax, rich). The
channels-last layers live in `eqx_resnet.layers`.
"""

import importlib

from . import layers
from ._create import create_model
from ._xla_cpu import compiler_options
from .models import (
    AlexNet,
    BasicBlock,
    Bottleneck,
    Description,
    FeatureInfo,
    PreActBlock,
    PreActResNet,
    ResNet,
    alexnet,
    describe,
    forward,
    get_builder,
    list_models,
    preact_resnet,
    register_model,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
    resnext50_32x4d,
    wide_resnet50_2,
)
from .models.layers import MOVED, moved_layer
from .models.registry import resolve_preprocessing
from .parameters import count_batch_stats, count_parameters, freeze_batch_stats, trainable_filter

__version__ = "0.1.0"

# Imported on first use: they need optax or rich.
_LAZY = {
    **dict.fromkeys(["DATASETS", "Dataset", "DatasetError", "DatasetInfo", "load_dataset", "normalize"], "data"),
    **dict.fromkeys(["format_summary", "summarize"], "summary"),
    **dict.fromkeys(
        [
            "CheckpointError",
            "ConfigError",
            "Interrupted",
            "RunMetadata",
            "TrainConfig",
            "TrainingError",
            "cross_entropy",
            "eval_step",
            "load_checkpoint",
            "load_into",
            "make_evaluator",
            "make_train_step",
            "save_checkpoint",
            "train",
        ],
        "training",
    ),
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    if name in MOVED:
        return moved_layer(__name__, name)
    if name in list_models():  # every registered architecture's builder, as those imported above
        return get_builder(name)
    raise AttributeError(f"module 'eqx_resnet' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(list_models()))


__all__ = [
    "DATASETS",
    "AlexNet",
    "BasicBlock",
    "Bottleneck",
    "CheckpointError",
    "ConfigError",
    "Dataset",
    "DatasetError",
    "DatasetInfo",
    "Description",
    "FeatureInfo",
    "Interrupted",
    "PreActBlock",
    "PreActResNet",
    "ResNet",
    "RunMetadata",
    "TrainConfig",
    "TrainingError",
    "alexnet",
    "compiler_options",
    "count_batch_stats",
    "count_parameters",
    "create_model",
    "cross_entropy",
    "describe",
    "eval_step",
    "format_summary",
    "forward",
    "freeze_batch_stats",
    "get_builder",
    "layers",
    "list_models",
    "load_checkpoint",
    "load_dataset",
    "load_into",
    "make_evaluator",
    "make_train_step",
    "normalize",
    "preact_resnet",
    "register_model",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnext50_32x4d",
    "resolve_preprocessing",
    "save_checkpoint",
    "summarize",
    "train",
    "trainable_filter",
    "wide_resnet50_2",
]
