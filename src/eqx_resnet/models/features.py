"""`FeatureExtractor`: a model's stage outputs instead of its logits, timm's `features_only=True`.

    backbone, state = eqx_resnet.create_model("resnet18", features_only=True, out_indices=(2, 3, 4), key=key)
    maps, state = eqx_resnet.forward(eqx.nn.inference_mode(backbone), state, images)  # [(n, 128, h/8, w/8), ...]

The indices count `model.feature_info`: 0 is the stem's activation (`act1`), 1 to 4 the stages.
"""

from collections.abc import Hashable, Sequence
from typing import ClassVar

import equinox as eqx
from jaxtyping import Array, Float, PRNGKeyArray

from .description import FeatureInfo


class FeatureExtractor(eqx.Module):
    """The maps `out_indices` of `model.feature_info`, channels first, as a list (detection and
    segmentation backbones). Batch it as the model: `eqx_resnet.forward` or `jax.vmap`."""

    state_dict_names: ClassVar[dict[str, str]] = {"model": ""}  # the model's own names, as timm's FeatureListNet
    model: eqx.Module
    out_indices: tuple[int, ...] = eqx.field(static=True)

    def __init__(self, model: eqx.Module, out_indices: Sequence[int] | None = None):
        """**Arguments:**

        - `model`: a model with `feature_info` and `forward_intermediates` (the zoo's ResNets).
        - `out_indices`: which of `model.feature_info` to return, in order (default: all).
        """
        available = len(model.feature_info)
        indices = tuple(range(available)) if out_indices is None else tuple(out_indices)
        if not indices or any(not -available <= i < available for i in indices):
            raise ValueError(
                f"out_indices={indices} must name maps of the model's feature_info, 0 to {available - 1} "
                f"({', '.join(f.module for f in model.feature_info)})"
            )
        self.model = model
        self.out_indices = tuple(i % available for i in indices)

    @property
    def feature_info(self) -> tuple[FeatureInfo, ...]:
        """The returned maps' channels, reduction and module, in order."""
        return tuple(self.model.feature_info[i] for i in self.out_indices)

    @property
    def axis_name(self) -> Hashable:
        return self.model.axis_name

    def __call__(
        self, x: Float[Array, "c h w"], state: eqx.nn.State, *, key: PRNGKeyArray | None = None
    ) -> tuple[list[Float[Array, "_ _ _"]], eqx.nn.State]:
        """One image `(c, h, w)` -> the chosen maps, channels first, and the new state."""
        maps, state = self.model.forward_intermediates(x, state, key=key)
        return [maps[i] for i in self.out_indices], state
