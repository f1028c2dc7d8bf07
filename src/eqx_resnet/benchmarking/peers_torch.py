"""The PyTorch peers: the zoo's networks written as torchvision writes them, and their steps.

The ResNets are torchvision's (v1.5, stride on the 3x3 conv), with its module names, so
their `state_dict()` keys are torchvision's (`layer1.0.downsample.1.running_var`, ...), and
the zoo's options (input channels, classes, CIFAR stem, groups and width per group for
ResNeXt and Wide ResNet); `resnet(name)` builds one by its zoo name. `PreActResNet` and
`AlexNet` mirror the zoo's `preact_resnet` and `alexnet`. Steps run channels-last, autocast
to bf16 for bf16; on a GPU `torch.compile`d, on a CPU eager with one thread per core.
Imported only when a benchmark asks for torch.
"""

import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.flop_counter import FlopCounterMode

from .timing import Runner, cpu_cores


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_channels: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = _projection(in_channels, planes, stride)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int, groups: int = 1, width_per_group: int = 64):
        super().__init__()
        width = int(planes * (width_per_group / 64.0)) * groups
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.downsample = _projection(in_channels, out, stride)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


def _projection(in_channels: int, out_channels: int, stride: int) -> nn.Module | None:
    if stride == 1 and in_channels == out_channels:
        return None
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels))


class ResNet(nn.Module):
    """torchvision's ResNet, with its names; `stem="cifar"` is a 3x3/1 conv without max-pool."""

    def __init__(
        self,
        block,
        layers,
        *,
        num_classes: int,
        in_channels: int,
        stem: str,
        groups: int = 1,
        width_per_group: int = 64,
    ):
        super().__init__()
        imagenet = stem == "imagenet"
        self.conv1 = nn.Conv2d(
            in_channels, 64, 7 if imagenet else 3, 2 if imagenet else 1, 3 if imagenet else 1, bias=False
        )
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1) if imagenet else nn.Identity()
        extra = dict(groups=groups, width_per_group=width_per_group) if block is Bottleneck else {}
        channels = 64
        for i, n in enumerate(layers):
            blocks = []
            for j in range(n):
                blocks.append(block(channels, 64 * 2**i, 2 if i > 0 and j == 0 else 1, **extra))
                channels = 64 * 2**i * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(x.mean((2, 3)))


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


# The zoo's ResNets by name: block, blocks per stage, and groups / width per group.
_RESNETS = {
    "resnet18": (BasicBlock, (2, 2, 2, 2), {}),
    "resnet34": (BasicBlock, (3, 4, 6, 3), {}),
    "resnet50": (Bottleneck, (3, 4, 6, 3), {}),
    "resnet101": (Bottleneck, (3, 4, 23, 3), {}),
    "resnet152": (Bottleneck, (3, 8, 36, 3), {}),
    "resnext50_32x4d": (Bottleneck, (3, 4, 6, 3), dict(groups=32, width_per_group=4)),
    "wide_resnet50_2": (Bottleneck, (3, 4, 6, 3), dict(width_per_group=128)),
}


def resnet(name: str, *, num_classes: int = 1000, in_channels: int = 3, stem: str = "imagenet") -> ResNet:
    """The torchvision-architecture ResNet of the zoo's `name` (`"resnet50"`, `"resnext50_32x4d"`, ...)."""
    block, layers, extra = _RESNETS[name]
    return ResNet(block, layers, num_classes=num_classes, in_channels=in_channels, stem=stem, **extra)


def build_module(spec) -> nn.Module:
    """The torch network of a `ModelSpec`."""
    if spec.depth is not None:
        return resnet(f"resnet{spec.depth}", num_classes=spec.num_classes, in_channels=spec.in_channels, stem=spec.stem)
    if spec.zoo == "preact_resnet":
        return PreActResNet(num_classes=spec.num_classes, in_channels=spec.in_channels)
    if spec.zoo == "alexnet":
        return AlexNet(num_classes=spec.num_classes, in_channels=spec.in_channels)
    raise ValueError(f"no torch peer for model {spec.name!r}")


def count_parameters(module: nn.Module) -> int:
    """Trainable numbers, BatchNorm's scale and shift included (running statistics are buffers)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _optimizer(name: str, params, learning_rate: float) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=learning_rate, momentum=0.9)
    if name == "adam":
        return torch.optim.Adam(params, lr=learning_rate)
    raise ValueError(f"unknown optimizer {name!r}: choose sgd or adam")


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
    bf16 = settings.precision == "bf16"

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)

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
