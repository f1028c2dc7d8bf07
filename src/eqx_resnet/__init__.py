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
    PreActBlock,
    PreActResNet,
    ResNet,
    alexnet,
    create_model,
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
from .parameters import count_batch_stats, count_parameters
from .training.step import cross_entropy, eval_step, forward, make_train_step

__version__ = "0.1.0"

__all__ = [
    "AlexNet",
    "BasicBlock",
    "BatchNorm",
    "Bottleneck",
    "Conv2d",
    "PreActBlock",
    "PreActResNet",
    "ResNet",
    "alexnet",
    "count_batch_stats",
    "count_parameters",
    "create_model",
    "cross_entropy",
    "eval_step",
    "forward",
    "list_models",
    "make_train_step",
    "preact_resnet",
    "register_model",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnext50_32x4d",
    "wide_resnet50_2",
]
