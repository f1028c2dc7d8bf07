"""Named ImageNet weights: timm's and torchvision's ResNets on the Hugging Face Hub.

Every set is timm's `model.safetensors` in the Hub repository `timm/<model>.<tag>`, tagged
as timm tags it (`tv_in1k`: torchvision's original weights, `a1_in1k`: timm's "ResNet strikes
back" A1 recipe, ...). The sets are declared with their architectures (the model files'
descriptions); `"imagenet"` is an architecture's best published ImageNet-1k set whose licence
allows commercial use, and a non-commercial set (CC-BY-NC) warns when it is loaded. timm's
state dicts use torchvision's names, so they load as they are.

Files are fetched with `huggingface_hub` into its cache (`HF_HOME`, default
`~/.cache/huggingface`), which checks sizes and keeps each file under the commit it was
resolved to; `HF_HUB_OFFLINE=1` reads the cache only. For a cluster without network, fill
the cache where there is one (`prefetch_weights(["resnet50"])`, or
`hf download timm/resnet50.a1_in1k model.safetensors`) and share or copy `HF_HOME`.

    model, state, info = create_pretrained("resnet50", key=jax.random.key(0))          # "imagenet": resnet50.a1_in1k
    model, state, info = create_pretrained("resnet50", "tv_in1k", num_classes=10, key=key)  # new head, rest loaded
    info.revision, info.sha256                                                          # for the run's metadata
"""

import hashlib
import inspect
import os
import re
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import equinox as eqx
import numpy as np
from jaxtyping import PRNGKeyArray

from .._extras import needs_extra
from .._messages import first_line
from ..models.description import TIMM_RESULTS, PretrainedWeights
from ..models.registry import describe, registered
from .state_dict import (
    SUFFIXES,
    StrPath,
    WeightsError,
    head_name,
    load_entries,
    read_state_dict,
)

RESULTS_SOURCE = TIMM_RESULTS  # where the published top-1 of timm's sets comes from
DEFAULT = "imagenet"


@dataclass(frozen=True)
class WeightsInfo:
    """Where a model's weights came from, for a run's metadata (`to_dict` is JSON-ready).

    `name`, `repo_id` and `revision` (the commit the Hub resolved the file to) are None
    for a local file; `sha256` is the file's digest either way.
    """

    path: str
    sha256: str
    name: str | None = None
    repo_id: str | None = None
    revision: str | None = None
    pretrained: PretrainedWeights | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["pretrained"] = (
            None if self.pretrained is None else {"top1": self.pretrained.top1, "license": self.pretrained.license}
        )
        out["preprocessing"] = None if self.pretrained is None else asdict(self.pretrained.preprocessing)
        return out


def list_pretrained(model: str | None = None) -> list[PretrainedWeights]:
    """The published weight sets, of one architecture or of all (in the zoo's order), best first within each."""
    return [w for d in registered() if model is None or d.name == model for w in d.weights]


PRETRAINED: dict[str, PretrainedWeights] = {w.name: w for w in list_pretrained()}  # the zoo's sets by full name


def get_pretrained(model: str, weights: str = DEFAULT) -> PretrainedWeights:
    """The set `weights` of `model`: `"imagenet"` (the best), a tag (`"tv_in1k"`) or a full name (`"resnet50.tv_in1k"`)."""
    sets = list_pretrained(model)
    if not sets:
        known = sorted({w.model for w in list_pretrained()})
        raise WeightsError(f"no published weights for {model!r}; architectures with weights: {', '.join(known)}")
    if weights == DEFAULT:
        return sets[0]
    full = weights if "." in weights else f"{model}.{weights}"
    found = next((w for w in sets if w.name == full), None)
    if found is None:
        tags = ", ".join(w.tag for w in sets)
        raise WeightsError(
            f"unknown weights {weights!r} for {model}: choose {DEFAULT!r} or a tag ({tags}), or give a path to a "
            f"{'/'.join(SUFFIXES)} file"
        )
    return found


def download_weights(
    weights: str | PretrainedWeights, *, revision: str | None = None, cache_dir: StrPath | None = None
) -> tuple[Path, WeightsInfo]:
    """The local path of a set's file, downloaded into the Hugging Face cache unless already there.

    **Arguments:**

    - `weights`: a `PretrainedWeights` or its full name, `"resnet50.a1_in1k"`.
    - `revision`: a branch, tag or commit of the Hub repository (default `"main"`); a commit
      hash pins the file and, once cached, needs no network.
    - `cache_dir`: the Hub cache (default: `huggingface_hub`'s, from `HF_HOME`/`HF_HUB_CACHE`).

    With `HF_HUB_OFFLINE=1` only the cache is read. Raises `WeightsError` with the
    command that fills the cache when the file is neither cached nor reachable.
    """
    with needs_extra("downloading a published weight set"):
        from huggingface_hub import constants, hf_hub_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    w = weights if isinstance(weights, PretrainedWeights) else _by_name(weights)
    try:
        path = Path(
            hf_hub_download(w.repo_id, w.file, revision=revision, cache_dir=cache_dir, library_name="eqx-resnet")
        )
    except LocalEntryNotFoundError as e:
        cache = cache_dir or constants.HF_HUB_CACHE
        cause = e.__cause__ or e
        why = (
            "HF_HUB_OFFLINE=1 forbids downloading"
            if constants.HF_HUB_OFFLINE
            else f"the Hub could not be reached ({type(cause).__name__}: {first_line(cause)})"
        )
        raise WeightsError(
            f"{w.name}: {w.file} of the Hugging Face repository {w.repo_id} is not in the cache {cache} and {why}; "
            f"fetch it where there is network with `hf download {w.repo_id} {w.file}` (or "
            f"eqx_resnet.weights.prefetch_weights([{w.name!r}])) into the same HF_HOME and copy it here, "
            "or pass weights=PATH to a local copy"
        ) from None
    except HfHubHTTPError as e:
        raise WeightsError(f"{w.name}: downloading {w.file} from {w.repo_id} failed: {first_line(e)}") from None
    # The Hub cache keeps each file as snapshots/<commit>/<file>, a link to blobs/<etag>;
    # an LFS file's etag is its SHA-256, which catches a blob damaged after download.
    commit = path.parent.name if re.fullmatch(r"[0-9a-f]{40}", path.parent.name) else None
    sha256 = _sha256(path)
    blob = Path(os.path.realpath(path)).name
    if re.fullmatch(r"[0-9a-f]{64}", blob) and blob != sha256:
        raise WeightsError(
            f"{w.name}: the cached {path} has SHA-256 {sha256}, not the Hub's {blob}: it is damaged; "
            f"delete {os.path.realpath(path)} and load again to download it anew"
        )
    return path, WeightsInfo(str(path), sha256, w.name, w.repo_id, commit, w)


def prefetch_weights(
    names: Iterable[str], *, revision: str | None = None, cache_dir: StrPath | None = None
) -> list[WeightsInfo]:
    """Download weight sets into the Hub cache for later offline use (`HF_HUB_OFFLINE=1`).

    `names`: architectures (`"resnet50"`, for its `"imagenet"` set), full names
    (`"resnet50.tv_in1k"`), or `"all"` for every set (917 million parameters in all).
    """
    chosen = []
    for name in names:
        if name == "all":
            chosen += list_pretrained()
        elif "." in name:
            chosen.append(_by_name(name))
        else:
            chosen.append(get_pretrained(name))
    return [download_weights(w, revision=revision, cache_dir=cache_dir)[1] for w in dict.fromkeys(chosen)]


def create_pretrained(
    name: str,
    weights: str | os.PathLike = DEFAULT,
    *,
    key: PRNGKeyArray,
    num_classes: int | None = None,
    revision: str | None = None,
    cache_dir: StrPath | None = None,
    on_new_head: Callable[[int, int, str], None] | None = None,
    **options,
) -> tuple[eqx.Module, eqx.nn.State, WeightsInfo]:
    """A zoo model with pretrained weights: `(model, state, info)`.

    **Arguments:**

    - `name`: the architecture, as for `create_model` (`"resnet50"`).
    - `weights`: `"imagenet"` (the best published set), a tag (`"tv_in1k"`, `"resnet50.a1_in1k"`),
      or a path to a `.safetensors`, `.pth`/`.pt` or `.npz` state dict.
    - `key`: initialises the head when it is new; nothing else is drawn at random.
    - `num_classes`: by default the weights' (1000 for ImageNet). Another number keeps
      every other weight and initialises a new head as `create_model` would, with a warning:
      fine-tuning, as timm does it. `0` drops the head: the model returns its pooled features.
    - `revision`, `cache_dir`: see `download_weights`.
    - `on_new_head`: called when the head is new (default: a warning), see `load_pretrained`.
    - `options`: the builder's other options, e.g. `in_channels=1` (the first convolution's
      RGB weights are summed, see `load_state_dict`); `stem="cifar"` does not fit ImageNet
      weights and fails: resize small images to the weights' size instead.

    `info` records the file, its SHA-256 and, for Hub sets, the resolved commit and the
    set's preprocessing (`info.pretrained.preprocessing`) and classes.
    """
    entries, path, info = read_weights(name, weights, revision=revision, cache_dir=cache_dir)
    label = str(path) if info.name is None else f"{info.name} ({path})"
    description = describe(name)
    builder, head = description.builder, description.classifier
    weights_classes = _classes(entries, head)
    if num_classes is None and info.pretrained is not None:
        num_classes = info.pretrained.num_classes  # 0 for a set without a classifier
    if num_classes is None:
        num_classes = weights_classes or inspect.signature(builder).parameters["num_classes"].default
    build = dict(options, num_classes=num_classes)
    model, state = eqx.filter_eval_shape(builder, key=key, **build)
    if weights_classes is not None and num_classes not in (0, weights_classes):
        # Only the head's share of the builder is compiled: XLA drops the unused random draws.
        fresh = eqx.filter_jit(lambda k: getattr(builder(key=k, **build)[0], head))(key)
        model = eqx.tree_at(lambda m: getattr(m, head), model, fresh)
    model, state = load_pretrained(model, state, entries, label=label, on_new_head=on_new_head)
    return model, state, info


def load_pretrained(
    model: eqx.Module,
    state: eqx.nn.State,
    entries: Mapping[str, np.ndarray],
    *,
    label: str = "the state dict",
    on_new_head: Callable[[int, int, str], None] | None = None,
) -> tuple[eqx.Module, eqx.nn.State]:
    """Fill `model` and `state` from pretrained `entries` (`read_state_dict`), as timm's `load_pretrained`:
    every weight strictly, but the head (the classifier its description names) only where the weights
    have the model's number of classes; otherwise the model keeps its own head, and `on_new_head(
    weights' classes, model's classes, head)` is called (default: a warning). A headless model
    (`num_classes=0`) drops the weights' head silently."""
    head = head_name(model)
    weights_classes = _classes(entries, head)
    model_classes = getattr(getattr(model, head), "out_features", 0) if head else None
    exclude = ()
    if weights_classes is not None and weights_classes != model_classes:
        exclude = (head,)
        if model_classes and on_new_head is not None:
            on_new_head(weights_classes, model_classes, head)
        elif model_classes:
            warnings.warn(
                f"{label} has {weights_classes} classes and the model {model_classes}: its head '{head}' is freshly "
                "initialised and every other weight loaded (fine-tuning)",
                stacklevel=3,
            )
    return load_entries(model, state, dict(entries), label, strict=True, exclude=exclude)


def _classes(entries: Mapping[str, np.ndarray], head: str | None) -> int | None:
    """The number of classes of the weights' head `head`, None where they have none."""
    weight = entries.get(f"{head}.weight") if head else None
    return None if weight is None else int(weight.shape[0])


def read_weights(
    name: str, weights: str | os.PathLike, *, revision: str | None = None, cache_dir: StrPath | None = None
) -> tuple[dict[str, np.ndarray], Path, WeightsInfo]:
    """The state dict that `weights` names for the architecture `name` (`read_state_dict`), its file,
    and where it came from: a local file (a known suffix, or a path with a folder in it), else a
    published set (`get_pretrained`), downloaded unless cached (`download_weights`)."""
    if (
        isinstance(weights, os.PathLike)
        or Path(weights).suffix.lower() in SUFFIXES
        or "/" in weights
        or os.sep in weights
    ):
        path = Path(weights)
        entries = read_state_dict(path)  # first: its errors name a missing or unreadable file
        return entries, path, WeightsInfo(str(path), _sha256(path))
    chosen = get_pretrained(name, weights)
    if chosen.non_commercial:
        warnings.warn(f"{chosen.name} is licensed {chosen.license}: for non-commercial use only", stacklevel=3)
    path, info = download_weights(chosen, revision=revision, cache_dir=cache_dir)
    return read_state_dict(path), path, info


def _by_name(name: str) -> PretrainedWeights:
    found = next((w for w in list_pretrained() if w.name == name), None)
    if found is None:
        raise WeightsError(f"unknown weight set {name!r}; known: {', '.join(w.name for w in list_pretrained())}")
    return found


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
