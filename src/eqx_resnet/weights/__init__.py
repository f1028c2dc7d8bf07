"""Pretrained weights: torchvision-named state dicts in and out of the zoo, and timm's ImageNet sets.

`load_state_dict` / `to_state_dict` / `save_safetensors` convert (state_dict.py);
`create_pretrained` builds a model with a published set or a local file, `list_pretrained`
lists the sets, `prefetch_weights` fills the Hugging Face cache for offline use (hub.py).
Depends on `models` and `data`, never the reverse; `import eqx_resnet` does not import it.
"""

from .hub import (
    DEFAULT,
    PRETRAINED,
    RESULTS_SOURCE,
    PretrainedWeights,
    WeightsInfo,
    create_pretrained,
    download_weights,
    get_pretrained,
    list_pretrained,
    load_pretrained,
    prefetch_weights,
    read_weights,
)
from .state_dict import (
    SUFFIXES,
    WeightsError,
    head_name,
    load_state_dict,
    read_state_dict,
    save_safetensors,
    state_dict_shapes,
    to_state_dict,
)

__all__ = [
    "DEFAULT",
    "PRETRAINED",
    "RESULTS_SOURCE",
    "SUFFIXES",
    "PretrainedWeights",
    "WeightsError",
    "WeightsInfo",
    "create_pretrained",
    "download_weights",
    "get_pretrained",
    "head_name",
    "list_pretrained",
    "load_pretrained",
    "load_state_dict",
    "prefetch_weights",
    "read_state_dict",
    "read_weights",
    "save_safetensors",
    "state_dict_shapes",
    "to_state_dict",
]
