"""The PyTorch peers: the zoo's networks as torchvision and timm build them, and their steps.

A ResNet is torchvision's own module where torchvision has the architecture (`resnet50`,
`wide_resnet50_2`, ...) and timm's (`timm.create_model`) for the rest of the family, so a
benchmark runs the library a PyTorch user runs. Neither has the zoo's `preact_resnet` and
`alexnet`: `PreActResNet` and `AlexNet` write them out. Steps run channels-last, autocast
to bf16 for bf16; on a GPU `torch.compile`d, on a CPU eager with one thread per core.
Imported only when a benchmark asks for torch.
"""

import functools
import sys
import time
from collections.abc import Callable
from types import ModuleType

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.flop_counter import FlopCounterMode

from .timing import Runner, cpu_cores


class PreActBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, subsample: bool):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, 2 if subsample else 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.shortcut = (
            nn.Sequential(
                nn.BatchNorm2d(in_channels), nn.ReLU(), nn.Conv2d(in_channels, out_channels, 1, 2, bias=False)
            )
            if subsample
            else None
        )

    def forward(self, x):
        z = self.conv1(F.relu(self.bn1(x)))
        z = self.conv2(F.relu(self.bn2(z)))
        return z + (x if self.shortcut is None else self.shortcut(x))


class PreActResNet(nn.Module):
    """The pre-activation ResNet of He et al. 2016: 16/32/64 channels, three blocks a stage, no final BatchNorm."""

    def __init__(self, *, num_classes: int, in_channels: int, widths=(16, 32, 64), blocks_per_stage: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        blocks, channels = [], widths[0]
        for i, width in enumerate(widths):
            for j in range(blocks_per_stage):
                blocks.append(PreActBlock(channels, width, i > 0 and j == 0))
                channels = width
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x):
        return self.fc(self.blocks(self.conv(x)).mean((2, 3)))


class AlexNet(nn.Module):
    """AlexNet with BatchNorm for 96x96 inputs."""

    def __init__(self, *, num_classes: int, in_channels: int, dropout: float = 0.5):
        super().__init__()
        layers, channels = [], in_channels
        for out, kernel, stride, padding, pool in (
            (96, 11, 4, 0, True),
            (256, 5, 1, 2, True),
            (384, 3, 1, 1, False),
            (384, 3, 1, 1, False),
            (256, 3, 1, 1, True),
        ):
            layers += [nn.Conv2d(channels, out, kernel, stride, padding), nn.BatchNorm2d(out), nn.ReLU()]
            layers += [nn.MaxPool2d(3, 2)] if pool else []
            channels = out
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Linear(channels, 4096),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


# The zoo's networks that neither library has (torchvision's AlexNet has no BatchNorm), written out above.
WRITTEN_OUT = {"preact_resnet": PreActResNet, "alexnet": AlexNet}


def build_module(spec) -> nn.Module:
    """The torch network of a `ModelSpec`: torchvision's own where torchvision has the architecture,
    timm's for the rest of the ResNet family, and `WRITTEN_OUT`'s for the zoo's own."""
    if spec.zoo in WRITTEN_OUT:
        return WRITTEN_OUT[spec.zoo](num_classes=spec.num_classes, in_channels=spec.in_channels)
    timm, torchvision = timm_and_torchvision()
    if spec.zoo in torchvision.models.list_models(module=torchvision.models):
        return resnet(spec.zoo, num_classes=spec.num_classes, in_channels=spec.in_channels, stem=spec.stem)
    return timm.create_model(spec.zoo, pretrained=False, num_classes=spec.num_classes, in_chans=spec.in_channels)


def resnet(name: str, *, num_classes: int = 1000, in_channels: int = 3, stem: str = "imagenet") -> nn.Module:
    """torchvision's ResNet `name` (`"resnet50"`, `"resnext50_32x4d"`, ...) with the zoo's options. torchvision
    has no `in_channels` or CIFAR stem (`stem="cifar"`: a 3x3/1 first conv, no max-pool): its first conv is
    then replaced by the zoo's, under the same name."""
    _, torchvision = timm_and_torchvision()
    module = torchvision.models.get_model(name, num_classes=num_classes)
    if stem == "cifar":
        module.conv1 = nn.Conv2d(in_channels, module.conv1.out_channels, 3, 1, 1, bias=False)
        module.maxpool = nn.Identity()
    elif in_channels != 3:
        module.conv1 = nn.Conv2d(in_channels, module.conv1.out_channels, 7, 2, 3, bias=False)
    return module


@functools.cache
def timm_and_torchvision() -> tuple[ModuleType, ModuleType]:
    """timm and torchvision, imported beside this torch: `timm, torchvision = timm_and_torchvision()`.

    A torchvision wheel built for CUDA beside PyTorch's CPU build fails to import on the two
    compiled operators it cannot load (`torchvision::nms`, `qnms`); they are then defined as
    placeholders, which no model builder calls, and torchvision imported again.
    """
    try:
        import torchvision
    except RuntimeError as error:  # a CUDA wheel beside a CPU torch: its compiled operators are missing
        if "torchvision::" not in str(error):
            raise
        for name in [m for m in sys.modules if m.split(".")[0] == "torchvision"]:
            del sys.modules[name]
        for op in ("nms", "qnms"):
            torch.library.define(f"torchvision::{op}", "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        import torchvision
    import timm

    return timm, torchvision


def count_parameters(module: nn.Module) -> int:
    """Trainable numbers, BatchNorm's scale and shift included (running statistics are buffers)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _optimizer(name: str, params, learning_rate: float) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=learning_rate, momentum=0.9)
    if name == "adam":
        return torch.optim.Adam(params, lr=learning_rate)
    raise ValueError(f"unknown optimizer {name!r}: choose sgd or adam")


def _step(module: nn.Module, step: str, settings, x: torch.Tensor, y: torch.Tensor) -> Callable[[], torch.Tensor]:
    """One eager step of `module` on `x` (and `y` to train): its logits, or its loss after an update."""
    bf16 = settings.precision == "bf16"

    def autocast():
        return torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16)

    if step == "inference":
        module.eval()

        @torch.no_grad()
        def run():
            with autocast():
                return module(x)
    else:
        module.train()
        opt = _optimizer(settings.optimizer, module.parameters(), settings.learning_rate)

        def run():
            with autocast():
                loss = F.cross_entropy(module(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return loss.detach()

    return run


def build(spec, step: str, settings, images: np.ndarray, labels: np.ndarray) -> Runner:
    """The torch step of `spec` on `images` (NCHW) and `labels`, ready to time."""
    torch.manual_seed(0)
    gpu = settings.platform == "gpu"
    device = torch.device("cuda" if gpu else "cpu")
    if gpu:
        torch.backends.cudnn.benchmark = True
        # fp32 convs and matmuls in JAX default to TF32 on GPUs: let torch use it too.
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    else:
        torch.set_num_threads(cpu_cores())  # XLA's CPU backend uses every core too
    module = build_module(spec).to(device, memory_format=torch.channels_last)
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device, memory_format=torch.channels_last)
    y = torch.from_numpy(np.asarray(labels, np.int64)).to(device)
    run = _step(module, step, settings, x, y)
    with FlopCounterMode(display=False) as counter:  # one eager step, also a warm-up
        run()
    flops = counter.get_total_flops()
    compile_s = 0.0
    if gpu:
        run = torch.compile(run)
        start = time.perf_counter()
        run()  # torch.compile compiles on the first call: time it on its own
        torch.cuda.synchronize()
        compile_s = time.perf_counter() - start

    last = {}

    def call() -> None:
        last["out"] = run()
        if gpu:
            torch.cuda.synchronize()

    def output() -> np.ndarray:
        return last["out"].float().cpu().numpy()

    return Runner(
        call, output, count_parameters(module), compile_s, float(flops), "torch FlopCounterMode (convs, matmuls)"
    )
