"""Torchvision-named state dicts to and from a zoo model and its BatchNorm state.

A leaf's name is its attribute path in the model, which for the ResNets is exactly
torchvision's (and timm's): `conv1.weight`, `bn1.running_var`, `layer2.0.conv2.weight`,
`layer1.0.downsample.1.bias`, `fc.weight`. A module's class renames its fields where a
state dict names them otherwise (`state_dict_names`: the zoo's `Downsample(conv, bn)` is
torchvision's `nn.Sequential`, `downsample.0`, `downsample.1`); the architecture's
description (`models/description.py`) names its head and first convolution. A BatchNorm's `running_mean` and `running_var` (unbiased, as in PyTorch)
live in `eqx.nn.State`; its `num_batches_tracked` is accepted and ignored (the zoo's
BatchNorm has a fixed momentum and never needs the count). The weights keep PyTorch's
layout, `(c_out, c_in, kh, kw)` and a Linear's `(out, in)`, so no array is transposed.

The PreActResNet and AlexNet have no torchvision counterpart; they load state dicts with
their own names (`conv.weight`, `layer2.0.shortcut.bn.running_mean`, `features.0.conv.bias`,
`fc3.weight`), which is also what `to_state_dict` writes for them.

    model, state = eqx.filter_eval_shape(create_model, "resnet50", key=jax.random.key(0))
    model, state = load_state_dict(model, state, "resnet50.safetensors")
    save_safetensors(model, state, "mine.safetensors")   # torchvision's resnet50 loads it strictly
"""

import os
import pickle
import warnings
import zipfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..errors import WeightsError
from ..models.description import describe_model
from ..models.layers import BatchNorm
from .finite import first_non_finite, is_state_index

StrPath = str | os.PathLike
Source = StrPath | Mapping[str, Any]

SUFFIXES = (".safetensors", ".pth", ".pt", ".npz")
_IGNORED = "num_batches_tracked"
_STATISTICS = ("running_mean", "running_var")


def load_state_dict(
    model: eqx.Module,
    state: eqx.nn.State,
    source: Source,
    *,
    strict: bool = True,
    exclude: Collection[str] = (),
) -> tuple[eqx.Module, eqx.nn.State]:
    """Fill `model` and its BatchNorm `state` from a torchvision-named state dict.

    **Arguments:**

    - `model`, `state`: a zoo model and its state, e.g. from `create_model`; or their shapes
        only, from `eqx.filter_eval_shape(create_model, ...)`, which skips the random
        initialisation (every leaf must then be filled).
    - `source`: a `.safetensors` file (read without torch), a `.pth`/`.pt` file (read with
        `torch.load(weights_only=True)`: plain tensors only, nothing else is unpickled), an
        `.npz` file, or a mapping of names to arrays (numpy, JAX or torch).
    - `strict`: every entry must land in exactly one leaf and every leaf be filled; with
        `strict=False` the entries that match a leaf are loaded and the rest is left as is.
        Shapes must match either way.
    - `exclude`: module names (`"fc"`) whose entries are dropped and whose leaves keep the
        model's values: a new head for fine-tuning.

    For a model with `in_channels` other than 3, 3-channel weights of the first convolution
    are adapted as timm's `adapt_input_conv` does: summed over the RGB channels for one
    channel (a grey image then gives the logits the RGB weights give for that image in all
    three channels); for `c` channels, the RGB filters repeated to `c` and scaled by `3 / c`.

    **Returns:** the new `(model, state)`; the arguments are left unchanged. Raises
    `WeightsError` naming the model, the source and the first mismatching keys.
    """
    return load_entries(model, state, read_state_dict(source), _label(source), strict=strict, exclude=exclude)


def load_entries(
    model: eqx.Module,
    state: eqx.nn.State,
    entries: dict[str, np.ndarray],
    label: str,
    *,
    strict: bool,
    exclude: Collection[str],
) -> tuple[eqx.Module, eqx.nn.State]:
    """`load_state_dict` of entries already read; `label` names their source in errors."""
    every = _slots(model, state)
    excluded = _excluded(exclude)
    entries = {k: v for k, v in entries.items() if not excluded(k)}  # a copy: the first conv's adaptation replaces one
    slots = [s for s in every if not excluded(s.name)]
    by_name = {s.name: s for s in slots}

    description = getattr(model, "description", None)
    _adapt_first_conv(entries, slots, None if description is None else f"{description.first_conv}.weight")
    missing = [s.name for s in slots if s.name not in entries]
    unexpected = [k for k in entries if k not in by_name]
    mismatched = [
        (k, tuple(v.shape), by_name[k].shape)
        for k, v in entries.items()
        if k in by_name and tuple(v.shape) != by_name[k].shape
    ]
    if mismatched or (strict and (missing or unexpected)):
        raise WeightsError(
            _mismatch_message(model, label, missing if strict else [], unexpected if strict else [], mismatched)
        )
    unfilled = [s.name for s in every if s.abstract and s.name not in entries]
    if unfilled:
        raise WeightsError(
            f"{describe_model(model)} was built as shapes only (eqx.filter_eval_shape) and {label} leaves "
            f"{_first(unfilled)} unfilled; load strictly, or build the model with create_model so those leaves have values"
        )

    leaves, treedef = jax.tree_util.tree_flatten(model, is_leaf=is_state_index)
    # A copy (State.set invalidates the State it is called on), with zeros where it was abstract: all are set below.
    state = jax.tree.map(_concrete, state)
    statistics: dict[int, list] = {}
    for slot in slots:
        if slot.name not in entries:
            continue
        value = jnp.asarray(np.asarray(entries[slot.name], slot.dtype))
        if slot.statistic is None:
            leaves[slot.leaf] = value
        else:
            if slot.leaf not in statistics:
                statistics[slot.leaf] = list(state.get(leaves[slot.leaf]))
            statistics[slot.leaf][slot.statistic] = value
    for leaf, values in statistics.items():
        state = state.set(leaves[leaf], tuple(values))
    return jax.tree_util.tree_unflatten(treedef, leaves), state


def to_state_dict(model: eqx.Module, state: eqx.nn.State) -> dict[str, np.ndarray]:
    """The model's weights and BatchNorm statistics as numpy arrays, torchvision's names in its order.

    For a ResNet, `torchvision.models.resnet50().load_state_dict(to_state_dict(...), strict=True)`
    loads it (PyTorch fills in the `num_batches_tracked` counters a plain dict lacks).
    """
    out = {}
    for slot in _slots(model, state):
        if slot.abstract:
            raise WeightsError(f"{slot.name} has no value: the model was built as shapes only (eqx.filter_eval_shape)")
        out[slot.name] = np.array(slot.value)
    return out


def state_dict_shapes(model: eqx.Module, state: eqx.nn.State) -> dict[str, tuple[int, ...]]:
    """The names and shapes of the model's state dict, in its order, without reading a value: a model
    built as shapes only (`eqx.filter_eval_shape`) describes what its weights files must hold."""
    return {slot.name: slot.shape for slot in _slots(model, state)}


def save_safetensors(
    model: eqx.Module, state: eqx.nn.State, path: StrPath, *, metadata: Mapping[str, str] | None = None
) -> Path:
    """Write `to_state_dict(model, state)` to a `.safetensors` file, atomically; returns its path.

    The file carries `{"format": "pt"}` (what Hugging Face's tools expect of PyTorch weights)
    and `metadata`. `safetensors.torch.load_file(path)` gives a state dict for torchvision.
    """
    from safetensors.numpy import save_file

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(to_state_dict(model, state), tmp, metadata={"format": "pt", **(metadata or {})})
    os.replace(tmp, path)
    return path


def read_state_dict(source: Source) -> dict[str, np.ndarray]:
    """Names to numpy arrays from a `.safetensors`, `.pth`/`.pt` or `.npz` file or a mapping.

    `num_batches_tracked` entries are dropped. Raises `WeightsError` for a missing, truncated
    or foreign file, for a `.pth` that holds anything but a flat name-to-tensor mapping, and for
    a NaN or an infinity in any entry (naming the first), which no usable weights hold.
    """
    if isinstance(source, Mapping):
        entries = {}
        for name, value in source.items():
            if not isinstance(name, str):
                raise WeightsError(f"state dict keys must be names (str), got {name!r}")
            entries[name] = _numpy(value, name)
    else:
        entries = _read_file(Path(source))
    if bad := first_non_finite(entries.items()):
        raise WeightsError(
            f"{_label(source)}: entry {bad[0]!r} holds {bad[1]}, which usable weights never do (a diverged "
            "training or a damaged file); use other weights, or export them again from a model that works"
        )
    return {k: v for k, v in entries.items() if k.rsplit(".", 1)[-1] != _IGNORED}


def _read_file(path: Path) -> dict[str, np.ndarray]:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise WeightsError(
            f"{path}: unknown weights format {suffix or '(no suffix)'!r}; use one of {', '.join(SUFFIXES)}"
        )
    if not path.is_file():
        raise WeightsError(f"weights file {path} not found")
    if suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        try:
            return load_file(path)
        except SafetensorError as e:
            raise WeightsError(
                f"{path} is not a readable safetensors file ({e}); it may be truncated: download or write it again"
            ) from None
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as f:
                return {k: _numpy(f[k], k) for k in f.files}
        except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
            raise WeightsError(f"{path} is not a readable .npz of arrays ({e}); write it with numpy.savez") from None
    return _read_torch(path)


def _read_torch(path: Path) -> dict[str, np.ndarray]:
    try:
        import torch
    except ImportError:
        raise WeightsError(
            f"{path} is a PyTorch file and reading it needs torch (pip install torch); "
            "or convert it to .safetensors where torch is installed"
        ) from None
    try:
        # weights_only: a restricted unpickler that builds tensors and plain containers and refuses any other object.
        # torch warns of any pickle protocol but its own 2 (3 loads; 4 and 5 fail below): our error says it.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Detected pickle protocol", UserWarning)
            obj = torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as e:
        reason = next(
            (line.strip() for line in str(e).splitlines() if "Unsupported" in line), "objects other than tensors"
        )
        if reason.startswith("Unsupported operand"):  # an opcode of pickle protocol 4 or 5, which it cannot read
            raise WeightsError(
                f"{path} was refused, not unpickled: its pickle protocol is one torch.load(weights_only=True) "
                f"cannot read ({reason}); save it again with torch.save(module.state_dict(), path), without "
                "pickle_protocol"
            ) from None
        raise WeightsError(
            f"{path} was refused, not unpickled: it holds more than tensors ({reason}); "
            "only plain state dicts load: save one with torch.save(module.state_dict(), path)"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise WeightsError(
            f"{path} is not a readable PyTorch file ({str(e).splitlines()[0]}); it may be truncated"
        ) from None
    if not isinstance(obj, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        what = f"a {type(obj).__name__}"
        if isinstance(obj, Mapping):
            nested = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
            what += f" with non-tensor entries {_first([repr(k) for k in nested])}"
        raise WeightsError(
            f"{path} holds {what}, not a flat mapping of names to tensors; if it is a training checkpoint, "
            "save its state dict alone: torch.save(checkpoint['state_dict'], 'weights.pth')"
        )
    return {k: _numpy(v, k) for k, v in obj.items()}


def _numpy(value: Any, name: str) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor: numpy has no bfloat16 for torch to hand over
        value = value.detach().cpu()
        value = value.float() if str(value.dtype) == "torch.bfloat16" else value
        value = value.numpy()
    array = np.asarray(value)
    if array.dtype.kind not in "biuf" and array.dtype.name != "bfloat16":
        raise WeightsError(f"state dict entry {name!r} is not an array of numbers (dtype {array.dtype})")
    return array


@dataclass(frozen=True)
class _Slot:
    """One named array of a model: a leaf of the model, or a BatchNorm statistic in the state."""

    name: str
    leaf: int  # index among the model's leaves (a StateIndex for statistics)
    statistic: int | None  # 0: running mean, 1: running variance
    value: Any  # the array, or its ShapeDtypeStruct

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.value.shape)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.value.dtype)

    @property
    def abstract(self) -> bool:
        return isinstance(self.value, jax.ShapeDtypeStruct)


def _slots(model: eqx.Module, state: eqx.nn.State) -> list[_Slot]:
    """Every named array of `(model, state)`, in the model's order."""
    slots = []
    for i, (path, leaf) in enumerate(jax.tree_util.tree_flatten_with_path(model, is_leaf=is_state_index)[0]):
        name, owner = _name(model, path)
        if is_state_index(leaf):
            if not isinstance(owner, BatchNorm):
                raise WeightsError(
                    f"{name}: state of a {type(owner).__name__} has no state-dict name; only BatchNorm's is known"
                )
            prefix = name.rsplit(".", 1)[0]
            for j, (suffix, value) in enumerate(zip(_STATISTICS, state.get(leaf))):
                slots.append(_Slot(f"{prefix}.{suffix}", i, j, value))
        elif eqx.is_array(leaf) or isinstance(leaf, jax.ShapeDtypeStruct):
            slots.append(_Slot(name, i, None, leaf))
    return slots


def _name(model: eqx.Module, path: tuple) -> tuple[str, Any]:
    """The torchvision name of the leaf at `path`, and the module that owns it."""
    parts, node, owner = [], model, model
    for key in path:
        owner = node
        if isinstance(key, jax.tree_util.GetAttrKey):
            part = getattr(type(node), "state_dict_names", {}).get(key.name, key.name)
            parts += [part] if part else []  # renamed to "": a wrapper that adds no name (timm's features_only)
            node = getattr(node, key.name)
        elif isinstance(key, jax.tree_util.SequenceKey):
            parts.append(str(key.idx))
            node = node[key.idx]
        else:
            raise WeightsError(f"cannot name a leaf at {jax.tree_util.keystr(path)} of {type(model).__name__}")
    return ".".join(parts), owner


def _concrete(x: Any) -> Any:
    """Zeros for an abstract array, so `State.set` can replace it; concrete values pass through."""
    return np.zeros(x.shape, x.dtype) if isinstance(x, jax.ShapeDtypeStruct) else x


def _excluded(prefixes: Collection[str]):
    if isinstance(prefixes, str):
        prefixes = (prefixes,)
    return lambda name: any(name == p or name.startswith(p + ".") for p in prefixes)


def _adapt_first_conv(entries: dict[str, np.ndarray], slots: list[_Slot], name: str | None) -> None:
    """timm's `adapt_input_conv`: RGB weights of the first convolution (the slot `name`, by default
    the first with four dimensions) for a model with other input channels."""
    first = next((s for s in slots if (s.name == name if name else len(s.shape) == 4)), None)
    if first is None or first.name not in entries:
        return
    weight = entries[first.name]
    out, channels, kh, kw = first.shape
    if weight.ndim != 4 or weight.shape[1] != 3 or channels == 3 or weight.shape != (out, 3, kh, kw):
        return
    w = weight.astype(np.float32)
    if channels == 1:
        w = w.sum(axis=1, keepdims=True)
    else:
        w = np.tile(w, (1, -(-channels // 3), 1, 1))[:, :channels] * (3.0 / channels)
    entries[first.name] = w.astype(weight.dtype)


def head_name(model: eqx.Module) -> str | None:
    """The field of the model's classifier, as its architecture's description names it (`fc`,
    `fc3` for AlexNet); None for a model without a description."""
    description = getattr(model, "description", None)
    return None if description is None else description.classifier


def _first(items: list[str], n: int = 3) -> str:
    shown = ", ".join(items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")


def _mismatch_message(model, label, missing, unexpected, mismatched) -> str:
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing key(s): {_first(missing)}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected key(s): {_first(unexpected)}")
    if mismatched:
        shapes = [f"{k} {list(a)} in the weights vs {list(b)} in the model" for k, a, b in mismatched]
        parts.append(f"{len(mismatched)} shape mismatch(es): {_first(shapes)}")
    head = head_name(model)
    names = missing + unexpected + [k for k, _, _ in mismatched]
    if head is not None and names and all(n.startswith(head + ".") for n in names):
        fix = (
            f"Only the head '{head}' differs: build the model with the weights' number of classes, "
            f"or keep its own head with exclude=({head!r},)"
        )
    else:
        fix = "These weights are for another architecture or other options (depth, stem, groups, width, channels)"
    return f"{label} does not fit {describe_model(model)}: {'; '.join(parts)}. {fix}"


def _label(source: Source) -> str:
    return "the state dict" if isinstance(source, Mapping) else str(source)
