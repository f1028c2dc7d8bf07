"""eqx-resnet: residual networks for Equinox.

    import jax, eqx_resnet
    model, state = eqx_resnet.create_model("resnet18", num_classes=10, key=jax.random.key(0))
"""

from .models import (
    AlexNet,
    BasicBlock,
    BatchNorm,
    Bottleneck,
    Conv2d,
    MaxPool2d,
    PreActBlock,
    PreActResNet,
    ResNet,
    alexnet,
    create_model,
    forward,
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
from .data import DATASETS, Dataset, DatasetError, DatasetInfo, load_dataset, normalize
from .parameters import count_batch_stats, count_parameters, trainable_filter
from .summary import format_summary, summarize
from ._xla_cpu import compiler_options
from .training import (
    CheckpointError,
    TrainConfig,
    TrainingError,
    cross_entropy,
    eval_step,
    load_checkpoint,
    load_into,
    make_evaluator,
    make_train_step,
    save_checkpoint,
    train,
)

__version__ = "0.1.0"

__all__ = [
    "DATASETS",
    "AlexNet",
    "BasicBlock",
    "BatchNorm",
    "Bottleneck",
    "CheckpointError",
    "Conv2d",
    "Dataset",
    "DatasetError",
    "DatasetInfo",
    "MaxPool2d",
    "PreActBlock",
    "PreActResNet",
    "ResNet",
    "alexnet",
    "compiler_options",
    "count_batch_stats",
    "count_parameters",
    "create_model",
    "cross_entropy",
    "eval_step",
    "format_summary",
    "forward",
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
    "save_checkpoint",
    "summarize",
    "train",
    "TrainConfig",
    "TrainingError",
    "trainable_filter",
    "wide_resnet50_2",
]
