"""`eqx_resnet.create_model`: a model of the registry, from scratch or with pretrained weights.

The one `create_model`: the Python API, `train --init`, `predict` and `convert` all start a
model here or in `weights.create_pretrained`, which it calls for `weights=` and which also
says where the weights came from.
"""

import os
from collections.abc import Sequence

import equinox as eqx
from jaxtyping import PRNGKeyArray

from .models import registry
from .models.features import FeatureExtractor
from .weights import create_pretrained


def create_model(
    name: str,
    *,
    key: PRNGKeyArray,
    weights: str | os.PathLike | None = None,
    features_only: bool = False,
    out_indices: Sequence[int] | None = None,
    **options,
) -> tuple[eqx.Module, eqx.nn.State]:
    """Build the model registered as `name`: `(model, state)`.

    **Arguments:**

    - `name`: a name of `list_models()`, e.g. `"resnet50"`; the model carries its architecture's
      description (`model.description`: head, first convolution, stages, weight sets).
    - `key`: the random initialisation (with `weights`, of a new head only).
    - `weights`: `None` for a random initialisation; `"imagenet"` (the best published set for
      the architecture), a tag such as `"tv_in1k"`, or a `.safetensors`/`.pth`/`.npz` file of a
      torchvision-named state dict. Fetched from the Hugging Face Hub into its cache
      (`HF_HUB_OFFLINE=1` reads the cache alone); see `eqx_resnet.weights.create_pretrained`,
      which also returns where the weights came from.
    - `features_only`, `out_indices`: timm's: the model without its head, returning the maps
      `out_indices` of its `feature_info` (`models.FeatureExtractor`; default: all of them).
    - `options`: the builder's keyword arguments (`num_classes`, `in_channels`, `stem`, ...,
      see `help(eqx_resnet.resnet50)`). A `num_classes` other than the weights' gives a new head.
      timm's `in_chans` is taken for `in_channels`.
    """
    if "in_chans" in options:
        if "in_channels" in options:
            raise ValueError("in_chans is timm's name for in_channels: give one of them, not both")
        options["in_channels"] = options.pop("in_chans")
    if out_indices is not None and not features_only:
        raise ValueError("out_indices chooses the maps of a features_only model: add features_only=True")
    if features_only:
        options = {**options, "num_classes": 0}
    if weights is None:
        model, state = registry.get_builder(name)(key=key, **options)
    else:
        model, state, _ = create_pretrained(name, weights, key=key, **options)
    if features_only:
        if not hasattr(model, "forward_intermediates"):
            raise ValueError(f"{name} has no feature maps for features_only (it has no stages' feature_info)")
        model = FeatureExtractor(model, out_indices)
    return model, state
