"""`RunMetadata`: what a training run records about itself in every checkpoint it writes.

`eval`, `predict`, `--resume` and the examples read it back, so a checkpoint is enough
to rebuild the model, find its data, prepare an image as in training and name the classes.
"""

import dataclasses
import importlib.metadata
import platform
import sys
from dataclasses import dataclass, field
from typing import Any

from ..data import Preprocessing, dataset_info
from .errors import CheckpointError


def versions() -> dict[str, str]:
    """The versions that produced a checkpoint: Python, jax, jaxlib, equinox, optax and eqx-resnet."""
    found = {"python": platform.python_version()}
    for package in ("jax", "jaxlib", "equinox", "optax", "eqx-resnet"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


@dataclass
class RunMetadata:
    """A run's description, saved as `metadata.json` beside the arrays of each checkpoint.

    - `model`, `model_options`: the registry name and `create_model` keyword arguments
      that rebuild the model's structure; `parameters` its count of trainable numbers.
    - `dataset`, `data_dir` (absolute), `class_names`.
    - `preprocessing`: how an image is prepared for the model (`data.Preprocessing`, which
      `data.load_image` applies): for the small datasets resized to the dataset's size, then the
      model's; for image folders and pretrained weights resized and centre-cropped; scaled to
      [0, 1] and standardised. Saved as `Preprocessing.to_dict()`.
    - `precision`: the compute precision (`"fp32"` or `"bf16"`).
    - `epoch`, `step`: completed epochs and optimiser steps; `metrics`: the last epoch's
      row of `metrics.jsonl`; `history`: every epoch's row.
    - `partial_epoch`: for a checkpoint written within an epoch (`checkpoint_every`, or on
      SIGTERM or Ctrl-C), the steps done of epoch `epoch + 1` and their summed loss and
      correct predictions, from which `--resume` continues; `None` at an epoch's end.
    - `restarts`: each resume from `best/` (`train(..., resume_from="best")`), which started a
      fresh optimiser state: `{"epoch", "step", "from": "best"}`, the point it continued from.
    - `weights`: where pretrained weights came from (`eqx_resnet.weights.WeightsInfo`: file,
      SHA-256, Hub repository and resolved revision), or `None` for a model trained from scratch.
    - `config`: the `TrainConfig` as a dict; `versions`; `command`: the command line.
    """

    model: str
    model_options: dict[str, Any]
    dataset: str
    data_dir: str
    class_names: list[str]
    preprocessing: Preprocessing
    precision: str
    config: dict[str, Any]
    parameters: int = 0
    epoch: int = 0
    step: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    partial_epoch: dict[str, Any] | None = None
    weights: dict[str, Any] | None = None
    restarts: list[dict[str, Any]] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=versions)
    command: list[str] = field(default_factory=lambda: list(sys.argv))

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "preprocessing": self.preprocessing.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunMetadata":
        """The metadata in a checkpoint's `metadata.json` (`read_metadata`), formats 1 and 2 included.

        Keys that are not fields (`format`, `sha256`, ...) are ignored. Format 1 (eqx-resnet
        0.1.0) did not record the data directory (then `""`: the caller's default applies),
        class names, preprocessing or precision: they are derived from its dataset and config.
        Format 2 recorded the preprocessing in one of two layouts (`_format_2_preprocessing`).
        """
        if d.get("format") == 1 and "dataset" in d:
            info = dataset_info(d["dataset"])
            config = d.get("config", {})
            d = {
                "data_dir": "",
                "class_names": list(info.classes),
                "precision": config.get("precision", "fp32"),
                "preprocessing": info.preprocessing(d.get("image_size")),
                "config": config,
                **d,
            }
        if isinstance(d.get("preprocessing"), dict):
            pre = d["preprocessing"]
            d = {**d, "preprocessing": _format_2_preprocessing(pre) if d.get("format") == 2 else _preprocessing(pre)}
        names = {f.name for f in dataclasses.fields(cls)}
        missing = [
            f.name
            for f in dataclasses.fields(cls)
            if f.name not in d and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        if missing:
            raise CheckpointError(
                f"the checkpoint's metadata lacks {missing}: it was not written by an eqx-resnet training run; "
                "load its arrays with load_checkpoint or load_into"
            )
        return cls(**{k: v for k, v in d.items() if k in names})


def _preprocessing(d: dict[str, Any]) -> Preprocessing:
    try:
        return Preprocessing.from_dict(d)
    except (TypeError, ValueError) as e:
        raise CheckpointError(
            f"the checkpoint's metadata has a bad 'preprocessing' ({e}); re-save the checkpoint"
        ) from None


def _format_2_preprocessing(d: dict[str, Any]) -> Preprocessing:
    """Format 2's preprocessing: `Preprocessing`'s fields but `source_size` for photographs, else a small
    dataset's `{"image_size", "source_size", "channels", "mean", "std"}` (channels: `len(mean)`)."""
    if "crop_pct" in d:
        return _preprocessing(d)
    return _preprocessing(
        {"crop_size": d.get("image_size"), "crop_pct": None, **{k: d.get(k) for k in ("source_size", "mean", "std")}}
    )
