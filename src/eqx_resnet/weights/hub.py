"""Named ImageNet weights: timm's and torchvision's ResNets on the Hugging Face Hub.

Every set is timm's `model.safetensors` in the Hub repository `timm/<model>.<tag>`, tagged
as timm tags it: `tv_in1k` (torchvision's original weights), `tv2_in1k` (torchvision's
second recipe), `a1_in1k` (timm's "ResNet strikes back" A1 recipe; `a1h_in1k` a variant),
`racm_in1k`, `ra4_e3600_r224_in1k` (other timm recipes). All are trained on
ImageNet-1k alone, under permissive licences (timm's sets Apache-2.0, torchvision's
BSD-3-Clause); `"imagenet"` is the set with the highest published top-1 for the
architecture. timm's state dicts use torchvision's names, so they load as they are.

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
import os
import re
import warnings
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import equinox as eqx
import numpy as np
from jaxtyping import PRNGKeyArray

from .._messages import first_line
from ..data.imagenet import IMAGENET_CLASSES, Preprocessing
from ..models.registry import create_model
from .state_dict import (
    SUFFIXES,
    StrPath,
    WeightsError,
    _load,
    head_name,
    read_state_dict,
)

# Published top-1 (%) on the ImageNet-1k validation set, each at the preprocessing beside it:
# timm's results/results-imagenet.csv, huggingface/pytorch-image-models @ 4e5207c7 (2025-10-30),
# https://github.com/huggingface/pytorch-image-models/blob/4e5207c7bb6592474ca56e28b2cf85be8f1a550f/results/results-imagenet.csv
# (the row at each set's test resolution). Licences, mean and std: timm/models/resnet.py's pretrained configs.
RESULTS_SOURCE = "timm results/results-imagenet.csv @ 4e5207c7"

_TV = Preprocessing(224, 0.875, "bilinear")
_TV2 = Preprocessing(224, 0.965, "bilinear")
_A1H_224 = Preprocessing(224, 1.0, "bicubic")
_TIMM_288 = Preprocessing(288, 1.0, "bicubic")
_RACM = Preprocessing(288, 0.95, "bicubic")
_RA4 = Preprocessing(288, 1.0, "bicubic", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
_BSD, _APACHE = "bsd-3-clause", "apache-2.0"


@dataclass(frozen=True)
class PretrainedWeights:
    """One published weight set: where it lives, what it scored, how to feed it.

    `top1` is the published ImageNet-1k validation top-1 (%) with `preprocessing`
    (`RESULTS_SOURCE`); `classes` are the 1000 ImageNet classes in index order.
    """

    model: str
    tag: str
    top1: float
    preprocessing: Preprocessing
    license: str
    file: str = "model.safetensors"
    num_classes: int = 1000

    @property
    def name(self) -> str:
        """timm's name, `resnet50.a1_in1k`."""
        return f"{self.model}.{self.tag}"

    @property
    def repo_id(self) -> str:
        """The Hugging Face Hub repository, `timm/resnet50.a1_in1k`."""
        return f"timm/{self.name}"

    @property
    def classes(self) -> tuple[str, ...]:
        return IMAGENET_CLASSES


_TABLE = [
    PretrainedWeights("resnet18", "tv_in1k", 69.752, _TV, _BSD),
    PretrainedWeights("resnet18", "a1_in1k", 73.164, _TIMM_288, _APACHE),
    PretrainedWeights("resnet34", "tv_in1k", 73.298, _TV, _BSD),
    PretrainedWeights("resnet34", "a1_in1k", 77.930, _TIMM_288, _APACHE),
    PretrainedWeights("resnet34", "ra4_e3600_r224_in1k", 78.972, _RA4, _APACHE),
    PretrainedWeights("resnet50", "tv_in1k", 76.156, _TV, _BSD),
    PretrainedWeights("resnet50", "tv2_in1k", 80.846, _TV2, _BSD),
    PretrainedWeights("resnet50", "a1_in1k", 81.240, _TIMM_288, _APACHE),
    PretrainedWeights("resnet50", "a1h_in1k", 80.654, _A1H_224, _APACHE),
    PretrainedWeights("resnet101", "tv_in1k", 77.404, _TV, _BSD),
    PretrainedWeights("resnet101", "tv2_in1k", 81.906, _TV2, _BSD),
    PretrainedWeights("resnet101", "a1_in1k", 82.326, _TIMM_288, _APACHE),
    PretrainedWeights("resnet101", "a1h_in1k", 82.796, _TIMM_288, _APACHE),
    PretrainedWeights("resnet152", "tv_in1k", 78.330, _TV, _BSD),
    PretrainedWeights("resnet152", "tv2_in1k", 82.294, _TV2, _BSD),
    PretrainedWeights("resnet152", "a1_in1k", 82.742, _TIMM_288, _APACHE),
    PretrainedWeights("resnet152", "a1h_in1k", 83.494, _TIMM_288, _APACHE),
    PretrainedWeights("resnext50_32x4d", "tv_in1k", 77.632, _TV, _BSD),
    PretrainedWeights("resnext50_32x4d", "tv2_in1k", 81.190, _TV2, _BSD),
    PretrainedWeights("resnext50_32x4d", "a1_in1k", 81.480, _TIMM_288, _APACHE),
    PretrainedWeights("resnext50_32x4d", "a1h_in1k", 82.016, _TIMM_288, _APACHE),
    PretrainedWeights("wide_resnet50_2", "tv_in1k", 78.486, _TV, _BSD),
    PretrainedWeights("wide_resnet50_2", "tv2_in1k", 81.612, _TV2, _BSD),
    PretrainedWeights("wide_resnet50_2", "racm_in1k", 82.260, _RACM, _APACHE),
]
PRETRAINED: dict[str, PretrainedWeights] = {w.name: w for w in _TABLE}
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
    """The published weight sets, of one architecture or of all, best first within each."""
    order = {m: i for i, m in enumerate(dict.fromkeys(w.model for w in _TABLE))}  # the zoo's order
    sets = [w for w in _TABLE if model is None or w.model == model]
    return sorted(sets, key=lambda w: (order[w.model], -w.top1))


def get_pretrained(model: str, weights: str = DEFAULT) -> PretrainedWeights:
    """The set `weights` of `model`: `"imagenet"` (the best), a tag (`"tv_in1k"`) or a full name (`"resnet50.tv_in1k"`)."""
    sets = list_pretrained(model)
    if not sets:
        known = sorted({w.model for w in _TABLE})
        raise WeightsError(f"no published weights for {model!r}; architectures with weights: {', '.join(known)}")
    if weights == DEFAULT:
        return sets[0]
    found = PRETRAINED.get(weights if "." in weights else f"{model}.{weights}")
    if found is None or found.model != model:
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
            chosen += _TABLE
        elif name in PRETRAINED:
            chosen.append(PRETRAINED[name])
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
    - `options`: the builder's other options, e.g. `in_channels=1` (the first convolution's
      RGB weights are summed, see `load_state_dict`); `stem="cifar"` does not fit ImageNet
      weights and fails: resize small images to the weights' size instead.

    `info` records the file, its SHA-256 and, for Hub sets, the resolved commit and the
    set's preprocessing (`info.pretrained.preprocessing`) and classes.
    """
    entries, path, info = read_weights(name, weights, revision=revision, cache_dir=cache_dir)
    label = str(path) if info.name is None else f"{info.name} ({path})"

    model, state = eqx.filter_eval_shape(create_model, name, key=key, **options)
    head = head_name(model)
    head_weight = entries.get(f"{head}.weight")
    weights_classes = None if head_weight is None else int(head_weight.shape[0])
    if num_classes is None:
        num_classes = weights_classes or getattr(model, head).out_features
    build = dict(options, num_classes=num_classes)
    if num_classes != getattr(model, head).out_features:  # built again only for another head
        model, state = eqx.filter_eval_shape(create_model, name, key=key, **build)
    exclude = ()
    if weights_classes is not None and num_classes != weights_classes:
        exclude = (head,)  # num_classes=0: headless, the model returns its pooled features
    if exclude and num_classes:
        warnings.warn(
            f"{label} has {weights_classes} classes and the model {num_classes}: its head '{head}' is freshly "
            "initialised and every other weight loaded (fine-tuning)",
            stacklevel=2,
        )
        # Only the head's share of the builder is compiled: XLA drops the unused random draws.
        fresh = eqx.filter_jit(lambda k: getattr(create_model(name, key=k, **build)[0], head))(key)
        model = eqx.tree_at(lambda m: getattr(m, head), model, fresh)
    model, state = _load(model, state, entries, label, strict=True, exclude=exclude)
    return model, state, info


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
    path, info = download_weights(get_pretrained(name, weights), revision=revision, cache_dir=cache_dir)
    return read_state_dict(path), path, info


def _by_name(name: str) -> PretrainedWeights:
    try:
        return PRETRAINED[name]
    except KeyError:
        raise WeightsError(f"unknown weight set {name!r}; known: {', '.join(PRETRAINED)}") from None


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
