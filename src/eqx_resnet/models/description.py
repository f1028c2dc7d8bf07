"""What an architecture is, stated once, beside its builder: timm's `default_cfgs` and `feature_info`.

Each model file registers one `Description` per architecture (`registry.register_model`):
its builder and name, the names of its classifier and first convolution, its natural input,
what each stage gives (`FeatureInfo`), and its published weight sets (`PretrainedWeights`).
Everything else reads them: the state-dict converters (`weights/`), the pretrained sets, the
CLI's `models`, `summary` and freezing, the docs' tables. A model built by a registered
builder carries its description (`model.description`, timm's `pretrained_cfg`).

How a state dict names a module's fields, where that is not the field's own name, is
declared on the module's class: `state_dict_names = {"conv": "0", "bn": "1"}` (a
torchvision `nn.Sequential`).
"""

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..data.preprocessing import Preprocessing

# Published top-1 (%) on the ImageNet-1k validation set, each at its set's preprocessing:
# timm's results/results-imagenet.csv, huggingface/pytorch-image-models @ 4e5207c7 (2025-10-30),
# https://github.com/huggingface/pytorch-image-models/blob/4e5207c7bb6592474ca56e28b2cf85be8f1a550f/results/results-imagenet.csv
# (the row at each set's test resolution). Licences, mean and std: timm/models/resnet.py's pretrained configs.
TIMM_RESULTS = "timm results/results-imagenet.csv @ 4e5207c7"


@dataclass(frozen=True)
class FeatureInfo:
    """What one stage gives: `channels`, its `reduction` of the input's side, and the `module` (a field
    of the model, as `feature_maps` and freezing name it). timm's `feature_info` entries."""

    channels: int
    reduction: int
    module: str


@dataclass(frozen=True)
class PretrainedWeights:
    """One published weight set: where it lives, what it scored, how to feed it.

    `top1` is the published ImageNet-1k validation top-1 (%) with `preprocessing`, from
    `top1_source`, or None where none is published; `num_classes` is 1000 (ImageNet-1k), 11821
    (ImageNet-12k) or 0 (no classifier); `classes` are ImageNet-1k's names in index order, for a
    set of 1000 classes. `license` is timm's (None where it states none); `non_commercial` sets
    (CC-BY-NC) warn when loaded. `transform` holds `preprocessing`'s arguments, as `eval_transform` makes
    them: the data layer (and Pillow) is imported only when a set's preprocessing is read.
    `model` is filled in by the architecture's `Description`.
    """

    tag: str
    top1: float | None
    transform: tuple[tuple[str, Any], ...]
    license: str | None
    top1_source: str | None = TIMM_RESULTS
    file: str = "model.safetensors"
    num_classes: int = 1000
    model: str = ""

    @property
    def name(self) -> str:
        """timm's name, `resnet50.a1_in1k`."""
        return f"{self.model}.{self.tag}"

    @property
    def repo_id(self) -> str:
        """The Hugging Face Hub repository, `timm/resnet50.a1_in1k`."""
        return f"timm/{self.name}"

    @property
    def preprocessing(self) -> "Preprocessing":
        """How to prepare an image for these weights (`data.Preprocessing`)."""
        from ..data.preprocessing import Preprocessing  # here: the data layer loads pooch and Pillow (0.35 s)

        return Preprocessing(**dict(self.transform))

    @property
    def classes(self) -> tuple[str, ...] | None:
        """ImageNet-1k's class names for a set of its 1000 classes; None for another (ImageNet-12k, none)."""
        from ..data.imagenet import IMAGENET_CLASSES  # here: the data layer loads pooch and Pillow (0.35 s)

        return IMAGENET_CLASSES if self.num_classes == 1000 else None

    @property
    def non_commercial(self) -> bool:
        """Whether the licence forbids commercial use (CC-BY-NC)."""
        return (self.license or "").startswith("cc-by-nc")


def eval_transform(
    crop_size: int, crop_pct: float, interpolation: str, *, mean: tuple | None = None, std: tuple | None = None
) -> tuple[tuple[str, Any], ...]:
    """A weight set's evaluation transform, `PretrainedWeights.transform`: `Preprocessing`'s arguments
    (ImageNet's mean and std unless given)."""
    stats = {k: v for k, v in (("mean", mean), ("std", std)) if v is not None}
    return tuple(dict(crop_size=crop_size, crop_pct=crop_pct, interpolation=interpolation, **stats).items())


@dataclass(frozen=True)
class Description:
    """One architecture: everything the rest of eqx-resnet knows of it.

    **Arguments:**

    - `name`: the registry name, `"resnet50"`.
    - `builder`: `builder(*, key, **options) -> (model, state)`.
    - `classifier`: the field of the head (`"fc"`), dropped or replaced for another `num_classes`.
    - `first_conv`: the dotted path of the first convolution, whose RGB weights are adapted
      to other `in_channels`.
    - `input_size`: the natural input `(c, h, w)` of the default options.
    - `pool`: the global pooling before the head (`"avg"`).
    - `features`: each stage's output with the default options, in order.
    - `weights`: the published weight sets (none for a model trained only here): first those for
      ImageNet-1k under a licence that allows commercial use, best top-1 first (the first is what
      `weights="imagenet"` loads), then the non-commercial ones, then the others.
    """

    name: str
    builder: Callable = field(repr=False)
    classifier: str
    first_conv: str
    input_size: tuple[int, int, int]
    features: tuple[FeatureInfo, ...]
    pool: str = "avg"
    weights: tuple[PretrainedWeights, ...] = ()
    fixed_input_size: bool = False
    macs: float | None = None

    def __post_init__(self):
        weights = tuple(replace(w, model=self.name) for w in self.weights)
        order = lambda w: (w.num_classes != 1000, w.non_commercial, -(w.top1 or 0.0))
        object.__setattr__(self, "weights", tuple(sorted(weights, key=order)))


def describe_model(model) -> str:
    """Its architecture and the options that differ from the builder's defaults:
    `resnet18(num_classes=10, in_channels=1)`; a model without a description is named by its type."""
    description = getattr(model, "description", None)
    if description is None:
        return f"{type(model).__name__}()"
    options = {}
    head = getattr(model, description.classifier, None)
    if head is not None:
        options["num_classes"] = getattr(head, "out_features", 0)
    static = {n for n, f in getattr(model, "__dataclass_fields__", {}).items() if f.metadata.get("static")}
    for name, parameter in inspect.signature(description.builder).parameters.items():
        if name in static and parameter.default is not parameter.empty and getattr(model, name) != parameter.default:
            options[name] = getattr(model, name)
    return f"{description.name}({', '.join(f'{k}={v!r}' for k, v in options.items())})"
