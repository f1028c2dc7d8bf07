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

A zoo model inside your own module is named from itself: `where=lambda m: m.backbone` (as in
`eqx.tree_at`) loads and writes `conv1.weight` for your module's `backbone.conv1.weight`.
"""

import os
import pickle
import warnings
import zipfile
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._messages import few
from ..errors import WeightsError
from ..models._checks import check_state
from ..models.description import describe_model
from ..models.layers import BatchNorm
from .finite import first_non_finite, is_state_index

StrPath = str | os.PathLike
Source = StrPath | Mapping[str, Any]
Where = Callable[[Any], Any]

SUFFIXES = (".safetensors", ".pth", ".pt", ".npz")
_IGNORED = "num_batches_tracked"
_STATISTICS = ("running_mean", "running_var")


def load_state_dict(
    model: eqx.Module,
    state: eqx.nn.State,
    source: Source,
    *,
    where: Where | None = None,
    strict: bool = True,
    exclude: Collection[str] = (),
) -> tuple[eqx.Module, eqx.nn.State]:
    """Fill `model` and its BatchNorm `state` from a torchvision-named state dict.

    **Arguments:**

    - `model`, `state`: a zoo model and its state, e.g. from `create_model`; or their shapes
        only, from `eqx.filter_eval_shape(create_model, ...)`, which skips the random
        initialisation (every leaf must then be filled). Or your own module and its state,
        with `where`.
    - `where`: the part of `model` the state dict is for, as in `eqx.tree_at`:
        `lambda m: m.backbone` loads a ResNet's weights into your module's `backbone` and its
        BatchNorm statistics into your module's state; everything else is kept. Names are
        then the part's own (`conv1.weight`, not `backbone.conv1.weight`), as are `exclude`'s.
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
    part = _part(model, state, where, "load_state_dict")
    part, state = load_entries(part, state, read_state_dict(source), _label(source), strict=strict, exclude=exclude)
    return (part if where is None else eqx.tree_at(where, model, part)), state


def _part(model: eqx.Module, state: eqx.nn.State, where: Where | None, caller: str) -> eqx.Module:
    """The part of `model` a state dict is for, `where(model)` (the whole model by default), checked against `state`."""
    part = model if where is None else where(model)
    check_state(part, state, caller)
    return part


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
            f"{few(unfilled, 3)} unfilled; load strictly, or build the model with create_model so those leaves have values"
        )

    leaves, treedef = jax.tree_util.tree_flatten(model, is_leaf=is_state_index)
    # The model's own entries, copied (State.set invalidates the State it is called on), with zeros where they
    # were abstract: all are set below. A larger module's other entries are kept as they are.
    own = jax.tree.map(_concrete, state.substate(model))
    statistics: dict[int, list] = {}
    for slot in slots:
        if slot.name not in entries:
            continue
        value = jnp.asarray(np.asarray(entries[slot.name], slot.dtype))
        if slot.statistic is None:
            leaves[slot.leaf] = value
        else:
            if slot.leaf not in statistics:
                statistics[slot.leaf] = list(own.get(leaves[slot.leaf]))
            statistics[slot.leaf][slot.statistic] = value
    for leaf, values in statistics.items():
        own = own.set(leaves[leaf], tuple(values))
    return jax.tree_util.tree_unflatten(treedef, leaves), jax.tree.map(lambda x: x, state).update(own)


def to_state_dict(model: eqx.Module, state: eqx.nn.State, *, where: Where | None = None) -> dict[str, np.ndarray]:
    """The model's weights and BatchNorm statistics as numpy arrays, torchvision's names in its order.

    For a ResNet, `torchvision.models.resnet50().load_state_dict(to_state_dict(...), strict=True)`
    loads it (PyTorch fills in the `num_batches_tracked` counters a plain dict lacks). With
    `where=lambda m: m.backbone`, the state dict of your module's `backbone`, under its own names.
    """
    part = _part(model, state, where, "to_state_dict")
    out = {}
    for slot in _slots(part, state):
        if slot.abstract:
            raise WeightsError(f"{slot.name} has no value: the model was built as shapes only (eqx.filter_eval_shape)")
        out[slot.name] = np.array(slot.value)
    return out


def state_dict_shapes(
    model: eqx.Module, state: eqx.nn.State, *, where: Where | None = None
) -> dict[str, tuple[int, ...]]:
    """The names and shapes of the model's state dict (of its part `where`), in its order, without reading
    a value: a model built as shapes only (`eqx.filter_eval_shape`) describes what its weights files must hold."""
    return {slot.name: slot.shape for slot in _slots(_part(model, state, where, "state_dict_shapes"), state)}


def save_safetensors(
    model: eqx.Module,
    state: eqx.nn.State,
    path: StrPath,
    *,
    where: Where | None = None,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Write `to_state_dict(model, state, where=where)` to a `.safetensors` file, atomically; returns its path.

    The file carries `{"format": "pt"}` (what Hugging Face's tools expect of PyTorch weights)
    and `metadata`. `safetensors.torch.load_file(path)` gives a state dict for torchvision.
    """
    from safetensors.numpy import save_file

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(to_state_dict(model, state, where=where), tmp, metadata={"format": "pt", **(metadata or {})})
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
            what += f" with non-tensor entries {few([repr(k) for k in nested], 3)}"
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
                part = _zoo_part(model)
                hint = f"; for the zoo model inside your module, pass where=lambda m: m{part}" if part else ""
                raise WeightsError(
                    f"{name}: {type(owner).__module__.split('.')[0]}'s {type(owner).__name__} keeps state that has "
                    f"no state-dict name (only eqx_resnet's BatchNorm's has one){hint}"
                )
            prefix = name.rsplit(".", 1)[0]
            for j, (suffix, value) in enumerate(zip(_STATISTICS, state.get(leaf))):
                slots.append(_Slot(f"{prefix}.{suffix}", i, j, value))
        elif eqx.is_array(leaf) or isinstance(leaf, jax.ShapeDtypeStruct):
            slots.append(_Slot(name, i, None, leaf))
    return slots


def _zoo_part(model: eqx.Module) -> str | None:
    """The path of the first zoo model inside `model`, `".backbone"`; None where there is none."""

    def is_zoo(x):
        return isinstance(x, eqx.Module) and getattr(x, "description", None) is not None

    paths = (path for path, leaf in jax.tree_util.tree_flatten_with_path(model, is_leaf=is_zoo)[0] if is_zoo(leaf))
    return next((jax.tree_util.keystr(path) for path in paths if path), None)


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


def _mismatch_message(model, label, missing, unexpected, mismatched) -> str:
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing key(s): {few(missing, 3)}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected key(s): {few(unexpected, 3)}")
    if mismatched:
        shapes = [f"{k} {list(a)} in the weights vs {list(b)} in the model" for k, a, b in mismatched]
        parts.append(f"{len(mismatched)} shape mismatch(es): {few(shapes, 3)}")
    fix = _fix(model, missing, unexpected, mismatched)
    return f"{label} does not fit {describe_model(model)}: {'; '.join(parts)}. {fix}"


def _fix(model, missing, unexpected, mismatched) -> str:
    if fix := _prefix_fix(missing, unexpected):
        return fix
    head = head_name(model)
    names = missing + unexpected + [k for k, _, _ in mismatched]
    if head is not None and names and all(n.startswith(head + ".") for n in names):
        return (
            f"Only the head '{head}' differs: build the model with the weights' number of classes, "
            f"or keep its own head with exclude=({head!r},)"
        )
    return "These weights are for another architecture or other options (depth, stem, groups, width, channels)"


def _prefix_fix(missing: list[str], unexpected: list[str]) -> str | None:
    """The fix where the keys match once a prefix is added or removed: the weights are those of a part
    of the model (`conv1.weight` for `backbone.conv1.weight`), or of a module that holds the model."""
    if not missing or not unexpected:
        return None
    extra, first = set(unexpected), missing[0]
    for prefix in (first[: i + 1] for i, c in enumerate(first) if c == "."):  # the largest part first
        if all(m[len(prefix) :] in extra for m in missing if m.startswith(prefix)):
            path = "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in prefix[:-1].split("."))
            return (
                f"Its keys are those of the model's part '{prefix[:-1]}' without the prefix '{prefix}': "
                f"load them into that part with where=lambda m: m{path}"
            )
    for prefix in (k[: -len(first)] for k in unexpected if k.endswith("." + first)):
        if all(prefix + m in extra for m in missing):
            return (
                f"Its keys are the model's with the prefix '{prefix}', those of a module that holds it as "
                f"'{prefix[:-1]}': load them into that module, or keep those keys without the prefix, {{k.removeprefix("
                f"{prefix!r}): v for k, v in read_state_dict(source).items() if k.startswith({prefix!r})}}"
            )
    return None


def _label(source: Source) -> str:
    return "the state dict" if isinstance(source, Mapping) else str(source)
