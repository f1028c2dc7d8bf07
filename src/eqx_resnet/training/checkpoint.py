"""Checkpoints that rebuild themselves: a directory of arrays plus `metadata.json`.

    save_checkpoint("runs/mnist/last", model, state, opt_state,
                    metadata={"model": "preact_resnet", "model_options": {"num_classes": 10}, "epoch": 3})
    model, state, metadata = load_checkpoint("runs/mnist/last")

A checkpoint directory holds `model.eqx` (`eqx.tree_serialise_leaves` of `(model, state)`),
optionally `opt_state.eqx`, and `metadata.json`: the caller's metadata (the engine writes a
`RunMetadata`) plus `"format"`, `"eqx_resnet_version"` and a `"sha256"` of each array file.
When the metadata names a registry `"model"` and its `"model_options"`, `load_checkpoint`
rebuilds the model's skeleton from them with `eqx.filter_eval_shape(create_model, ...)` (no
arrays are allocated) and fills it from disk. Any other Equinox module saves the same way and
loads with `load_into(path, model, state)` into a module of the same structure.

Saving is crash-safe: everything is written and fsynced in a sibling `.tmp-<name>-new-*`
directory first. POSIX cannot atomically swap two directories, so an existing checkpoint is
renamed aside to `.tmp-<name>-old-*`, the new directory renamed into place, and the old one
deleted. A crash therefore leaves either the old or the new checkpoint complete at `path`,
except in the instant between the two renames, when `path` is missing and the old checkpoint
is whole in `.tmp-<name>-old-*` (`load_checkpoint` then says how to restore it). One writer
per path at a time.

Formats: 1 (eqx-resnet 0.1.0) required `"model"` and `"model_options"`; 2 makes them
optional and adds the run's description (`RunMetadata`). Both load.
"""

import hashlib
import importlib.metadata
import io
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import numpy as np

from ..models.registry import create_model, list_models
from .errors import CheckpointError
from .metadata import RunMetadata

FORMAT = 2
READABLE_FORMATS = (1, 2)
MODEL_FILE, OPT_STATE_FILE, METADATA_FILE = "model.eqx", "opt_state.eqx", "metadata.json"

StrPath = str | os.PathLike[str]


def save_checkpoint(
    path: StrPath,
    model: eqx.Module,
    state: eqx.nn.State | None = None,
    opt_state: Any = None,
    *,
    metadata: "dict[str, Any] | RunMetadata | None" = None,
) -> Path:
    """Write `(model, state)`, optionally `opt_state`, and `metadata` to the directory `path`.

    `model` is any Equinox module (`state` may be `None` for one without state). With
    `"model"` (a registry name) and `"model_options"` (keyword arguments of `create_model`)
    in `metadata`, they must rebuild a model of the same structure, and `load_checkpoint`
    can rebuild it; anything in `metadata` must be JSON-serialisable. An existing checkpoint
    at `path` is replaced as a whole; any other existing directory is refused. Returns `path`.
    """
    path = Path(path)
    metadata = metadata.to_dict() if isinstance(metadata, RunMetadata) else dict(metadata or {})
    if ("model" in metadata) != ("model_options" in metadata):
        raise CheckpointError(
            f"cannot save {path}: metadata names 'model' or 'model_options' but not both; give both (a registry "
            "name and its create_model keyword arguments) or neither (then load it with load_into)"
        )
    if "model" in metadata:
        fix = "Make metadata's 'model' and 'model_options' describe the model being saved"
        _check_matches(metadata, model, state, f"the metadata for {path}", fix)
    if path.exists() and not (path / METADATA_FILE).is_file() and (not path.is_dir() or any(path.iterdir())):
        raise CheckpointError(f"refusing to overwrite {path}: it exists and is not a checkpoint; choose another path")
    arrays = {MODEL_FILE: (model, state)} | ({} if opt_state is None else {OPT_STATE_FILE: opt_state})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".tmp-{path.name}-new-"))
    try:
        hashes = {name: _write(tmp / name, _serialise(tree)) for name, tree in arrays.items()}
        version = importlib.metadata.version("eqx-resnet")
        info = {**metadata, "format": FORMAT, "eqx_resnet_version": version, "sha256": hashes}
        try:
            text = json.dumps(info, indent=2)
        except (TypeError, ValueError) as e:
            raise CheckpointError(
                f"cannot save {path}: metadata is not JSON-serialisable ({e}); convert arrays with "
                "float(x) or x.tolist() and keys with jax.random.key_data(key).tolist()"
            ) from None
        _write(tmp / METADATA_FILE, text.encode())
        _fsync_dir(tmp)
        _replace_dir(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def read_metadata(path: StrPath) -> dict[str, Any]:
    """The validated contents of `path/metadata.json`."""
    path = _checkpoint_dir(path)
    file = path / METADATA_FILE
    if not file.is_file():
        raise CheckpointError(f"{file} is missing: {path} is not a complete checkpoint; re-save it or use another one")
    try:
        metadata = json.loads(file.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{file} is not valid JSON ({e}); restore it or re-save the checkpoint") from None
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{file} must hold a JSON object, not {type(metadata).__name__}; re-save the checkpoint")
    if "format" not in metadata:
        raise CheckpointError(f"{file} lacks the key 'format'; write checkpoints with save_checkpoint")
    if metadata["format"] not in READABLE_FORMATS:
        raise CheckpointError(
            f"{file} has format {metadata['format']!r}, this eqx-resnet reads formats {list(READABLE_FORMATS)}; "
            f"it was written by eqx-resnet {metadata.get('eqx_resnet_version', '(unknown version)')}: install that "
            "version or a newer one (pip install -U eqx-resnet)"
        )
    required = ("model", "model_options") if metadata["format"] == 1 else ()
    missing = [key for key in required if key not in metadata]
    if missing:
        raise CheckpointError(f"{file} lacks the keys {missing}; write checkpoints with save_checkpoint")
    if not isinstance(metadata.get("model_options", {}), dict) or not isinstance(metadata.get("sha256", {}), dict):
        raise CheckpointError(f"{file}: 'model_options' and 'sha256' must be JSON objects; re-save the checkpoint")
    return metadata


def load_checkpoint(
    path: StrPath, *, opt_state_like: Any = None
) -> tuple[eqx.Module, eqx.nn.State, dict[str, Any]] | tuple[eqx.Module, eqx.nn.State, dict[str, Any], Any]:
    """`(model, state, metadata)` from the checkpoint at `path`, rebuilt from its metadata alone.

    With `opt_state_like`, also the optimiser state: `(model, state, metadata, opt_state)`.
    `opt_state_like` is `optimizer.init(eqx.filter(model, eqx.is_inexact_array))` of a freshly
    built model, or the same under `eqx.filter_eval_shape` (not on a skeleton of
    `jax.ShapeDtypeStruct`s: `eqx.is_inexact_array` would filter all its parameters out).
    """
    metadata = read_metadata(path)
    path = Path(path)
    if "model" not in metadata:
        raise CheckpointError(
            f"{path} holds a module saved without a registry 'model' name, so it cannot rebuild itself; "
            "load it into a module of the same structure with load_into(path, model, state)"
        )
    model, state = _deserialise(path, MODEL_FILE, _skeleton(metadata, str(path / METADATA_FILE)), metadata)
    if opt_state_like is None:
        return model, state, metadata
    return model, state, metadata, _deserialise(path, OPT_STATE_FILE, opt_state_like, metadata)


def load_into(
    path: StrPath, model: eqx.Module, state: eqx.nn.State | None = None
) -> tuple[eqx.Module, eqx.nn.State | None, dict[str, Any]]:
    """Load the checkpoint at `path` into the caller's `(model, state)`: `(model, state, metadata)`.

    This loads checkpoints of any Equinox module, registry model or not. Raises
    `CheckpointError` naming the first differing leaf when the checkpoint holds a
    registry model of another structure, shape or dtype.
    """
    metadata = read_metadata(path)
    path = Path(path)
    if "model" in metadata:
        name, options = metadata["model"], metadata["model_options"]
        fix = f"Build the model with create_model({name!r}, **{options}), or load it with load_checkpoint"
        _check_matches(metadata, model, state, f"checkpoint {path}", fix)
    model, state = _deserialise(path, MODEL_FILE, (model, state), metadata)
    return model, state, metadata


def _checkpoint_dir(path: StrPath) -> Path:
    """`path` as a `Path`, or a `CheckpointError` describing what is there instead."""
    path = Path(path)
    if path.is_dir():
        return path
    if path.exists():
        raise CheckpointError(f"{path} is not a directory: a checkpoint is a directory holding {METADATA_FILE}; pass that")
    message = f"no checkpoint at {path}: it does not exist"
    parent = path.parent
    aside = sorted(parent.glob(f".tmp-{path.name}-old-*")) if parent.is_dir() else []
    if aside:
        message += f"; an interrupted save left the previous checkpoint in {aside[-1]}: rename it to {path}"
    elif parent.is_dir():
        entries = sorted(p.name + "/" * p.is_dir() for p in parent.iterdir() if not p.name.startswith("."))
        message += f"; {parent} holds: {', '.join(entries) or 'nothing'}; check the path"
    else:
        message += f", nor does {parent}; check the path"
    raise CheckpointError(message)


def _skeleton(metadata: dict[str, Any], where: str) -> tuple[eqx.Module, eqx.nn.State]:
    """`(model, state)` of `jax.ShapeDtypeStruct`s as `metadata` describes them."""
    name, options = metadata["model"], metadata["model_options"]
    if name not in list_models():
        raise CheckpointError(
            f"{where} names the unknown model {name!r}; known models: {', '.join(list_models())}. "
            "Import the module that registers it, or fix 'model'"
        )
    try:
        return eqx.filter_eval_shape(create_model, name, key=jax.random.key(0), **options)
    except Exception as e:
        raise CheckpointError(
            f"{where}: create_model({name!r}, **{options}) fails ({type(e).__name__}: {e}); fix 'model_options'"
        ) from e


def _leaves(model: eqx.Module, state: eqx.nn.State | None) -> list[tuple[str, tuple[int, ...], str]]:
    """`(path, shape, dtype)` of every serialised leaf of `(model, state)`, in file order."""
    out = []
    for label, tree in (("model", model), ("state", state)):
        for keys, x in jax.tree_util.tree_flatten_with_path(tree)[0]:
            if isinstance(x, jax.ShapeDtypeStruct) or eqx.is_array_like(x):
                dtype = str(getattr(x, "dtype", type(x).__name__))
                out.append((label + jax.tree_util.keystr(keys), tuple(np.shape(x)), dtype))
    return out


def _check_matches(metadata: dict[str, Any], model: eqx.Module, state: eqx.nn.State | None, where: str, fix: str) -> None:
    """Raise if `(model, state)` differs in structure, shapes or dtypes from the model `metadata` describes."""
    want, got = _leaves(*_skeleton(metadata, where)), _leaves(model, state)
    if want == got:
        return
    i = next((i for i, (a, b) in enumerate(zip(want, got)) if a != b), min(len(want), len(got)))
    want_i, got_i = (f"{v[i][0]} {v[i][2]}{list(v[i][1])}" if i < len(v) else "nothing" for v in (want, got))
    raise CheckpointError(
        f"{where} describes model {metadata['model']!r} with options {metadata['model_options']} ({len(want)} leaves), "
        f"but the given model is {type(model).__name__} ({len(got)} leaves); first difference at leaf {i}: "
        f"{want_i} (described) vs {got_i} (given). {fix}"
    )


def _serialise(tree: Any) -> bytes:
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, tree)
    return buffer.getvalue()


def _deserialise(path: Path, name: str, like: Any, metadata: dict[str, Any]) -> Any:
    """Read `path/name` into the structure of `like`, verifying its SHA-256 and length."""
    file = path / name
    if not file.is_file():
        fix = "load without opt_state_like, or start the optimiser afresh" if name == OPT_STATE_FILE else "re-save it"
        raise CheckpointError(f"{file} is missing from the checkpoint; {fix}")
    data = file.read_bytes()
    expected = metadata.get("sha256", {}).get(name)
    if expected is not None and hashlib.sha256(data).hexdigest() != expected:
        raise CheckpointError(
            f"{file} is corrupt: its SHA-256 does not match the one in {METADATA_FILE}; re-run from `best/` or retrain"
        )
    buffer = io.BytesIO(data)
    try:
        tree = eqx.tree_deserialise_leaves(buffer, like)
    except Exception as e:
        raise CheckpointError(
            f"{file} cannot be read into {type(like).__name__} ({e}): the file is truncated or corrupt, or written from "
            "another structure; re-run from `best/` or retrain"
        ) from e
    if buffer.tell() != len(data):
        raise CheckpointError(
            f"{file} has {len(data) - buffer.tell()} bytes left over after reading {type(like).__name__}: it was "
            "written from a larger structure (another model or optimiser, or opt_state_like built on a skeleton "
            "whose parameters eqx.is_inexact_array filtered out); load it with a matching one"
        )
    return tree


def _write(file: Path, data: bytes) -> str:
    """Write and fsync `data` to `file`; its SHA-256 in hex."""
    with open(file, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return hashlib.sha256(data).hexdigest()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace_dir(new: Path, path: Path) -> None:
    """Move the complete directory `new` to `path`, replacing any checkpoint there (see module docs)."""
    old = path.with_name(f".tmp-{path.name}-old-{uuid.uuid4().hex[:8]}") if path.exists() else None
    if old is not None:
        os.rename(path, old)
    try:
        os.rename(new, path)
    except BaseException:
        if old is not None:
            os.rename(old, path)
        raise
    _fsync_dir(path.parent)
    if old is not None:
        shutil.rmtree(old)
