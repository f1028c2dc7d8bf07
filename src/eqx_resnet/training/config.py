"""Everything a training run is made of, with defaults that fit the device it runs on."""

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

import jax

Optimizer = Literal["adam", "adamw", "sgd"]
Schedule = Literal["constant", "cosine", "step", "onecycle"]
Monitor = Literal["test_acc", "test_loss"]


@dataclass(frozen=True)
class TrainConfig:
    """A training run. `None` fields are filled by `with_defaults` for the dataset and device."""

    dataset: str = "mnist"
    model: str | None = None
    model_options: dict = field(default_factory=dict)
    epochs: int | None = None
    batch_size: int = 128
    lr: float | None = None
    optimizer: Optimizer = "adam"
    momentum: float = 0.9
    nesterov: bool = False
    schedule: Schedule | None = None
    warmup_epochs: float = 0.0
    step_size: int = 7
    gamma: float = 0.1
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    clip_norm: float | None = None
    precision: Literal["fp32", "bf16"] = "fp32"
    augment: bool | None = None
    image_size: int | None = None
    max_train_samples: int | None = None
    patience: int | None = None
    monitor: Monitor = "test_acc"
    seed: int = 0
    eval_batch_size: int = 1000

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        return cls(**d)


# Defaults measured to reach the README's accuracy within its time on each kind of device.
_DEFAULTS = {
    ("mnist", "cpu"): dict(
        model="preact_resnet", model_options={"widths": [8, 16, 32]}, epochs=2, lr=3e-3, schedule="onecycle", augment=False
    ),
    ("mnist", "gpu"): dict(model="preact_resnet", epochs=10, lr=3e-3, schedule="onecycle", augment=True),
    ("fashion-mnist", None): dict(model="preact_resnet", epochs=15, lr=3e-3, schedule="onecycle", augment=False),
    ("cifar10", None): dict(
        model="resnet18", model_options={"stem": "cifar"}, epochs=30, lr=1e-3, optimizer="adamw",
        weight_decay=5e-4, schedule="cosine", augment=True,
    ),
}
_FALLBACK = dict(model="preact_resnet", epochs=10, lr=1e-3, schedule="cosine", augment=True)


def device_kind() -> str:
    """`"gpu"` when JAX's default device is an accelerator, else `"cpu"`."""
    return "cpu" if jax.default_backend() == "cpu" else "gpu"


def with_defaults(config: TrainConfig, device: str | None = None) -> TrainConfig:
    """Fill every `None` field of `config` with the default for its dataset and device.

    The model's options are the default ones only when the model is the default model.
    """
    device = device or device_kind()
    defaults = _DEFAULTS.get((config.dataset, device)) or _DEFAULTS.get((config.dataset, None)) or _FALLBACK
    filled = {}
    for name, value in defaults.items():
        if name == "model_options":
            continue
        if getattr(config, name) is None:
            filled[name] = value
    model = filled.get("model", config.model)
    if model == defaults["model"] and not config.model_options:
        filled["model_options"] = dict(defaults.get("model_options", {}))
    if config.image_size is None and model == "alexnet":
        filled["image_size"] = 96  # AlexNet's five layers reduce exactly 96x96 to 1x1
    return dataclasses.replace(config, **filled)
