"""`TrainConfig`: every choice of a training run, validated, with defaults per dataset and device.

A field left `None` is filled by `with_defaults` from `DEFAULTS` for the run's dataset
and device. The command line builds its options from these fields (cli/options.py), and
`tests/test_config.py` checks that the two agree.
"""

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import jax

from ..errors import ConfigError
from ..models.forward import Precision
from ..models.registry import describe, list_models

Optimizer = Literal["adam", "adamw", "sgd"]
Schedule = Literal["constant", "cosine", "step", "onecycle"]
Monitor = Literal["test_acc", "test_loss"]
BatchStats = Literal["global", "per_device"]
ResumeFrom = Literal["last", "best"]  # train(resume_from=...): the checkpoint a resumed run continues from
Device = Literal["cpu", "accelerator"]
OPTIMIZERS: tuple[str, ...] = get_args(Optimizer)
SCHEDULES: tuple[str, ...] = get_args(Schedule)
MONITORS: tuple[str, ...] = get_args(Monitor)
BATCH_STATS: tuple[str, ...] = get_args(BatchStats)
RESUME_FROM: tuple[str, ...] = get_args(ResumeFrom)
MAX_SEED = 2**32 - 1  # jax.random.key and numpy's generators both take any 32-bit unsigned seed


def _setting(default, help: str, *, low=None, high=None, open_low=False, open_high=False, choices=None, metavar=None):
    """A field of `TrainConfig` with what `__post_init__` checks and what its command-line option shows.

    **Arguments:**

    - `default`: the field's default; `None` for one that `with_defaults` fills per dataset and device.
    - `help`: what the setting does, for the option's help; other settings named in backticks (`image_size`,
        `decay_norm_and_bias=False`), which the command line shows as their options.
    - `low`, `high`: its bounds, excluded where `open_low`, `open_high`.
    - `choices`: a function giving its values, for a field whose type does not state them (a `Literal` does).
    - `metavar`: the option's placeholder for the value, where its help names it (STEPS, N).
    """
    metadata = dict(help=help, choices=choices, metavar=metavar)
    if low is not None or high is not None:
        metadata["bounds"] = dict(low=low, high=high, open_low=open_low, open_high=open_high)
    return dataclasses.field(default=default, metadata=metadata)


def field_type(field: dataclasses.Field):
    """The type of `field`'s values but `None`: `int` of `int | None`, the `Literal` of `Optimizer | None`."""
    if get_origin(field.type) not in (typing.Union, types.UnionType):
        return field.type
    return next(t for t in get_args(field.type) if t is not type(None))


# `__post_init__` checks every field with a message that names the fix; jaxtyping's import
# hook, when a user turns it on, would otherwise answer first with a generic type error.
@typing.no_type_check
@dataclass(frozen=True)
class TrainConfig:
    """A training run. `None` fields are filled by `with_defaults` for the dataset and device.

    Every field is checked when the config is made: a bad value raises `ConfigError`
    naming the field, the value and what it accepts. `checkpoint_every` writes `last/`
    every that many steps as well as after every epoch. `init` starts from pretrained
    weights (`"imagenet"`, a tag such as `"tv_in1k"`, a weights file, or a checkpoint
    directory) instead of a random initialisation; `freeze_backbone` then trains the head only.
    `ema_decay` keeps an exponential moving average of the weights (`optim.with_ema`; 0: none),
    which is evaluated and saved beside the trained weights (`ema.eqx`). `decay_norm_and_bias=False`
    exempts BatchNorm scales and shifts and every bias (the parameters of one dimension) from weight
    decay. For the image-folder datasets, `workers`
    decoding processes (`None`: all CPUs but one; 0: a thread of the training process; the
    batches are the same for any value). `val_fraction`: the share of each class of the training
    split held out for evaluation (the same images whatever the seed) instead of the test split
    or a val/ folder, to compare recipes without reading the test split.

    Data parallelism (`training/sharding.py`): `batch_size` is the global batch, split over
    `devices` local devices of each process (`None`: all of them) and, within each step,
    into `accumulate` micro-batches whose gradients are averaged. `batch_stats`: BatchNorm's
    statistics over the `"global"` batch (N devices compute what one does) or `"per_device"`.
    """

    dataset: str = "mnist"
    model: str | None = _setting(
        None, "Model from `eqx-resnet models`, with its own default options.", choices=list_models
    )
    model_options: dict[str, Any] | None = None
    epochs: int | None = _setting(None, "Epochs. On `resume`, a larger value extends a finished run.", low=1)
    batch_size: int = _setting(128, "Images per training step.", low=1)
    lr: float | None = _setting(None, "Peak learning rate.", low=0.0)
    optimizer: Optimizer | None = _setting(
        None, "adam (L2 weight decay, like torch), adamw (decoupled) or sgd (momentum)."
    )
    momentum: float = _setting(0.9, "SGD momentum.", low=0.0, high=1.0, open_high=True)
    nesterov: bool = _setting(False, "Nesterov momentum for SGD.")
    schedule: Schedule | None = _setting(None, "constant, cosine, step (x GAMMA every STEP_SIZE epochs) or onecycle.")
    warmup_epochs: float | None = _setting(
        None, "Epochs of linear warm-up before the schedule (not with onecycle, which warms up itself).", low=0.0
    )
    step_size: int = _setting(7, "Epochs between learning-rate drops of the step schedule.", low=1)
    gamma: float = _setting(0.1, "Factor of each drop of the step schedule.", low=0.0, open_low=True)
    weight_decay: float | None = _setting(None, "Weight decay.", low=0.0)
    decay_norm_and_bias: bool | None = _setting(
        None,
        "Weight decay on BatchNorm and biases too (`decay_norm_and_bias=False`: on weight matrices and kernels only).",
    )
    label_smoothing: float | None = _setting(
        None, "Label smoothing of the cross-entropy.", low=0.0, high=1.0, open_high=True
    )
    ema_decay: float | None = _setting(
        None,
        "Evaluate and save an exponential moving average of the weights with this decay, beside the trained "
        "weights (0: none).",
        low=0.0,
        high=1.0,
        open_high=True,
    )
    clip_norm: float | None = _setting(None, "Clip gradients to this global norm.", low=0.0, open_low=True)
    precision: Precision | None = _setting(None, "fp32, or bf16 compute with fp32 parameters and statistics.")
    augment: bool | None = _setting(None, "On-device augmentation (MNIST rotation/translation, CIFAR crop/flip).")
    image_size: int | None = _setting(None, "Resize images to this size (AlexNet: 96 by default).", low=8)
    max_train_samples: int | None = _setting(None, "Train on a random subset of this many images (quick runs).", low=1)
    patience: int | None = _setting(None, "Stop early after this many epochs without improving `monitor`.", low=1)
    monitor: Monitor = _setting("test_acc", "Metric for the best checkpoint and early stopping.")
    seed: int = _setting(0, "Seed of everything random: runs are repeatable (bitwise on CPU).", low=0, high=MAX_SEED)
    eval_batch_size: int = _setting(1000, "Images per evaluation step.", low=1)
    checkpoint_every: int | None = _setting(
        None,
        "Also write last/ every STEPS steps, so a preempted run loses minutes, not an epoch (SIGTERM always "
        "writes one, and so does Ctrl-C once the first step has run).",
        low=1,
        metavar="STEPS",
    )
    init: str | None = _setting(
        None,
        "Start from pretrained weights: imagenet (the best set of `model`, default resnet18), a tag (tv_in1k), a "
        ".safetensors/.pth/.npz file, or a checkpoint directory. The ImageNet stem is kept and images are resized "
        "to `image_size` (default 224); a head of another size is trained anew.",
        metavar="WEIGHTS",
    )
    freeze_backbone: bool = _setting(False, "With `init`: train the head only; the backbone keeps its weights.")
    workers: int | None = _setting(
        None,
        "imagefolder, imagenet: processes decoding images (0: a thread of this one). The batches are the same for "
        "any value. Default: the CPUs but one.",
        low=0,
    )
    val_fraction: float | None = _setting(
        None,
        "Evaluate on this share of each class of the training split, held out of training (the same images for "
        "every seed), instead of the test split or val/.",
        low=0.0,
        high=1.0,
        open_low=True,
        open_high=True,
    )
    devices: int | None = _setting(
        None,
        "Local devices to train on, in each process: `batch_size` is split over them. Default: all (every GPU or "
        "TPU core; on a CPU, one).",
        low=1,
    )
    accumulate: int = _setting(
        1,
        "Split each step's batch into N micro-batches run in turn, their gradients averaged: a `batch_size` "
        "larger than the devices hold.",
        low=1,
        metavar="N",
    )
    batch_stats: BatchStats = _setting(
        "global",
        "BatchNorm statistics over the global batch (N devices compute what one does) or per_device (no "
        "collective inside the network: cheaper across hosts).",
    )

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value, kind = getattr(self, field.name), field_type(field)
            if get_origin(kind) is Literal:
                _choice(field.name, value, get_args(kind))
            elif kind in (int, float):
                _number(field.name, value, integer=kind is int, **field.metadata.get("bounds", {}))
        if self.model_options is not None and not isinstance(self.model_options, dict):
            raise ConfigError(
                f"`model_options` must be a dict of builder keyword arguments, got {self.model_options!r}"
            )
        if self.freeze_backbone and self.init is None:
            raise ConfigError(
                '`freeze_backbone=True` needs pretrained weights to keep: add `init="imagenet"` (or a checkpoint)'
            )
        if self.batch_size % self.accumulate:
            raise ConfigError(
                f"`batch_size={self.batch_size}` does not split into {self.accumulate} micro-batches (`accumulate={self.accumulate}`): "
                f"give a multiple of {self.accumulate}"
            )
        if self.schedule == "onecycle" and self.warmup_epochs:
            raise ConfigError(
                '`warmup_epochs` does not apply to `schedule="onecycle"`, which warms up itself; drop one of them'
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(
                f"unknown settings {sorted(unknown)}; TrainConfig has {[f.name for f in dataclasses.fields(cls)]}"
            )
        return cls(**d)


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value is not None and value not in choices:
        raise ConfigError(f"`{name}` must be one of {', '.join(choices)}, got {value!r}")


def _number(name, value, *, integer=False, low=None, high=None, open_low=False, open_high=False) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        raise ConfigError(f"`{name}` must be {'an integer' if integer else 'a number'}, got {value!r}")
    if not integer and not math.isfinite(value):
        raise ConfigError(f"`{name}` must be finite, got {value!r}")
    too_low = low is not None and (value <= low if open_low else value < low)
    too_high = high is not None and (value >= high if open_high else value > high)
    if too_low or too_high:
        lo = "" if low is None else f"{'>' if open_low else '>='} {low}"
        hi = "" if high is None else f"{'<' if open_high else '<='} {high}"
        raise ConfigError(f"`{name}` must be {' and '.join(x for x in (lo, hi) if x)}, got {value!r}")


# The defaults of each dataset: measured to reach the accuracy docs/cli.md states within its time on
# each kind of device (`"cpu"`, or `"accelerator"` for GPUs and TPUs); a key without a device
# applies to both. `model_options` apply only when the model is the default one; `lr_per_256`
# is the learning rate per 256 images of batch (the linear scaling rule), for an `lr` not given.
_IMAGENET = dict(
    model="resnet50",
    epochs=90,
    optimizer="sgd",
    lr_per_256=0.1,
    weight_decay=1e-4,
    decay_norm_and_bias=False,
    label_smoothing=0.1,
    schedule="cosine",
    warmup_epochs=5.0,
    augment=True,
    image_size=224,
)
DEFAULTS: dict[tuple[str, Device | None], dict[str, Any]] = {
    # Searched on 5,000 images held out of the training split (benchmarks/README.md, "The MNIST CPU recipe"):
    # stages at 14x14 (a stride-2 stem) run twice as fast, which buys the epochs augmentation needs.
    ("mnist", "cpu"): dict(
        model="preact_resnet",
        model_options={"widths": [16, 32, 64], "blocks_per_stage": 2, "stem_stride": 2},
        epochs=5,
        lr=3e-3,
        schedule="onecycle",
        augment=True,
    ),
    ("mnist", "accelerator"): dict(model="preact_resnet", epochs=10, lr=3e-3, schedule="onecycle", augment=True),
    ("fashion-mnist", None): dict(model="preact_resnet", epochs=15, lr=3e-3, schedule="onecycle", augment=False),
    ("cifar10", None): dict(
        model="resnet18",
        model_options={"stem": "cifar"},
        epochs=30,
        lr=1e-3,
        optimizer="adamw",
        weight_decay=5e-4,
        schedule="cosine",
        augment=True,
    ),
    # Image files (data/folder.py), speeds in docs/data.md: from scratch, a small folder
    # on a CPU (the seed's PreActResNet on 64x64 crops), ResNet-18 at 224x224 on an accelerator.
    ("imagefolder", "cpu"): dict(
        model="preact_resnet",
        epochs=30,
        lr=2e-3,
        optimizer="adamw",
        weight_decay=5e-2,
        schedule="cosine",
        warmup_epochs=1.0,
        label_smoothing=0.1,
        augment=True,
        image_size=64,
    ),
    ("imagefolder", "accelerator"): dict(
        model="resnet18",
        epochs=30,
        lr=1e-3,
        optimizer="adamw",
        weight_decay=5e-2,
        schedule="cosine",
        warmup_epochs=2.0,
        label_smoothing=0.1,
        augment=True,
        image_size=224,
        precision="bf16",
    ),
    # ImageNet's standard recipe (Goyal et al. 2017; torchvision's and timm's references): SGD
    # with momentum 0.9, 0.1 per 256 images of batch, no decay on BatchNorm and biases.
    ("imagenet", "cpu"): _IMAGENET,
    ("imagenet", "accelerator"): {**_IMAGENET, "precision": "bf16"},
}
# Fine-tuning from ImageNet weights (`init`): the architecture and input size they were trained at.
PRETRAINED_MODEL = "resnet18"
PRETRAINED_IMAGE_SIZE = 224
# Settings no dataset overrides: the value a `None` field takes when its dataset's table lacks it.
BASE = dict(
    model="preact_resnet",
    epochs=10,
    lr=1e-3,
    optimizer="adam",
    weight_decay=0.0,
    decay_norm_and_bias=True,
    schedule="cosine",
    warmup_epochs=0.0,
    label_smoothing=0.0,
    ema_decay=0.0,
    precision="fp32",
    augment=True,
)


def device_kind() -> Device:
    """`"accelerator"` when JAX's default backend is a GPU or TPU, else `"cpu"`."""
    return "cpu" if jax.default_backend() == "cpu" else "accelerator"


def dataset_defaults(dataset: str, device: Device) -> dict[str, Any]:
    """The defaults of `dataset` on `device`, over `BASE`."""
    return {**BASE, **(DEFAULTS.get((dataset, device)) or DEFAULTS.get((dataset, None)) or {})}


def with_defaults(config: TrainConfig, device: Device | None = None) -> TrainConfig:
    """Fill every `None` field of `config` with the default for its dataset and device.

    The default model's options apply only when no model was named: an explicit
    `model` gets that model's own defaults (and the given `model_options`). Pretrained
    weights (`init`) need the architecture they were trained as: by default ResNet-18 with
    its ImageNet stem, fed images resized to `PRETRAINED_IMAGE_SIZE`.
    """
    defaults = dataset_defaults(config.dataset, device or device_kind())
    if config.init is not None:
        defaults = {**defaults, "model": PRETRAINED_MODEL, "model_options": {}}
        if config.image_size is None and not Path(config.init).is_dir():  # a checkpoint keeps its data's size
            defaults["image_size"] = PRETRAINED_IMAGE_SIZE
    if "lr_per_256" in defaults:
        defaults["lr"] = defaults.pop("lr_per_256") * config.batch_size / 256
    filled = {
        name: value for name, value in defaults.items() if name != "model_options" and getattr(config, name) is None
    }
    if config.model_options is None:
        filled["model_options"] = dict(defaults.get("model_options", {})) if config.model is None else {}
    model = filled.get("model", config.model)  # an unknown name is refused where the model is built
    if config.image_size is None and model in list_models() and describe(model).fixed_input_size:
        filled["image_size"] = describe(model).input_size[-1]  # AlexNet: 96x96, whatever the dataset's size
    return dataclasses.replace(config, **filled)


# What each setting does on --resume. These define the run, its data order and the structure
# of its optimiser state: a different value is refused. Every other setting applies from the
# resumed step on (`epochs` extends the run; a learning-rate schedule is recomputed for the new
# settings and continues at the resumed step).
FIXED_ON_RESUME = (
    "dataset",
    "model",
    "model_options",
    "optimizer",
    "batch_size",
    "seed",
    "max_train_samples",
    "image_size",
    "clip_norm",
    "augment",
    "init",
    "freeze_backbone",
    "decay_norm_and_bias",
    "val_fraction",
    "ema_decay",
)


def resume_config(saved: TrainConfig, given: dict[str, Any], epochs_done: int) -> TrainConfig:
    """The config of a resumed run: `saved` with the settings in `given` applied.

    Raises `ConfigError` for a setting of `FIXED_ON_RESUME` that differs from the saved one,
    naming both values, and for `epochs` below the epochs already done.
    """
    changes = {name: value for name, value in given.items() if value != getattr(saved, name)}
    for name, value in changes.items():
        if name in FIXED_ON_RESUME:
            kept = getattr(saved, name)
            # The command line takes the dataset as its argument, which cannot be left out.
            what, fix = (
                (f"the dataset {value!r}", f"give `dataset={kept!r}`")
                if name == "dataset"
                else (f"`{name}={value!r}`", f"drop `{name}`")
            )
            raise ConfigError(
                f"{what} differs from the resumed run's {kept!r}: a resumed run keeps its {name.replace('_', ' ')}; "
                f"{fix}, or start a new run in another `run_dir`"
            )
    if changes.get("epochs", saved.epochs) < epochs_done:
        raise ConfigError(
            f"`epochs={changes['epochs']}` is below the {epochs_done} epochs the run has done; give at least {epochs_done}"
        )
    return dataclasses.replace(saved, **changes)
