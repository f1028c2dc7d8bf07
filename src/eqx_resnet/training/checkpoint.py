"""Checkpoints that rebuild themselves: a directory of arrays plus `metadata.json`.

    save_checkpoint("runs/mnist/last", model, state, opt_state,
                    metadata={"model": "preact_resnet", "model_options": {"num_classes": 10}, "epoch": 3})
    model, state, metadata = load_checkpoint("runs/mnist/last")

A checkpoint directory holds `model.eqx` (`eqx.tree_serialise_leaves` of `(model, state)`),
optionally `opt_state.eqx` and `ema.eqx` (the moving average of the weights, with the same state), and `metadata.json`: the caller's metadata (the engine writes a
`RunMetadata`) plus `"format"`, `"eqx_resnet_version"` and a `"sha256"` of each array file.
When the metadata names a registry `"model"` and its `"model_options"`, `load_checkpoint`
rebuilds the model's skeleton from them with `eqx.filter_eval_shape(create_model, ...)` (no
arrays are allocated) and fills it from disk. Any other Equinox module saves the same way and
loads with `load_into(path, model, state)` into a module of the same structure.

Saving: everything is written and fsynced in a sibling folder `.tmp-<name>-new-<hex>`,
`metadata.json` last, so a folder whose metadata parses and whose array files match its
hashes is *complete*. POSIX cannot swap two directories atomically, so an existing checkpoint
is renamed aside to `.tmp-<name>-old-<hex>`, the new folder renamed to `path`, and the old
one deleted. A crash (or a failed write: `CheckpointError` naming the cause) at any instant
leaves `path` whole (old or new), or, between the two renames, `path` missing and both
checkpoints complete in their temporary folders. Readers then use the newest complete one
(by its metadata's mtime) where it lies, without moving it: they may run beside the writer.
The writer calls `recover(path)` (or `recover_run_dir`) at the start of a run, under its
`RunLock`, to move that checkpoint into place and delete stale temporary folders.
One writer per path at a time.

Reading is one consistent snapshot: the metadata and the array files are read through one
open handle of the checkpoint's folder, so they come from the same folder even if a save
renames it aside meanwhile, and each array is checked against the metadata's SHA-256. Should
a file be missing or mismatch (a save deleted the folder being read), the reader looks again:
if `path` now holds another folder or metadata file, it reads that one (a few times at most);
if nothing changed, the checkpoint is corrupt and the error says so, and whether the other
checkpoint of its run (`best/` for `last/`, and the reverse) is intact to use instead.

Formats: 1 (eqx-resnet 0.1.0) required `"model"` and `"model_options"`; 2 makes them
optional and adds the run's description (`RunMetadata`); 3 records its preprocessing as
`data.Preprocessing`'s fields. All three load.
"""

import errno
import hashlib
import importlib.metadata
import io
import json
import math
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any, NamedTuple

import equinox as eqx
import jax
import numpy as np

from .._create import create_model
from .._messages import os_error_cause
from ..errors import CorruptCheckpointError
from ..models.registry import list_models
from ..weights.finite import first_non_finite, model_arrays
from .errors import CheckpointError
from .metadata import RunMetadata

FORMAT = 3
READABLE_FORMATS = (1, 2, 3)
MODEL_FILE, OPT_STATE_FILE, METADATA_FILE = "model.eqx", "opt_state.eqx", "metadata.json"
EMA_FILE = "ema.eqx"
READ_ATTEMPTS = 5  # a reader gives up after this many folders replaced under it
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)

StrPath = str | os.PathLike[str]


def save_checkpoint(
    path: StrPath,
    model: eqx.Module,
    state: eqx.nn.State | None = None,
    opt_state: Any = None,
    *,
    ema: eqx.Module | None = None,
    metadata: "dict[str, Any] | RunMetadata | None" = None,
) -> Path:
    """Write `(model, state)`, optionally `opt_state` and `ema` (the model with the moving average of
    its weights, saved with the same `state`), and `metadata` to the directory `path`.

    `model` is any Equinox module (`state` may be `None` for one without state). With
    `"model"` (a registry name) and `"model_options"` (keyword arguments of `create_model`)
    in `metadata`, they must rebuild a model of the same structure, and `load_checkpoint`
    can rebuild it; anything in `metadata` must be JSON-serialisable, with finite numbers.
    An existing checkpoint at `path` is replaced as a whole; any other existing directory is
    refused. A write that fails (full disk, no permission, `path` under a file) raises
    `CheckpointError` naming the cause and leaves the previous checkpoint as it was.
    Returns `path`. New folders and files get the umask's permissions (e.g. 0755 and 0644).
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
    arrays = {MODEL_FILE: (model, state)} | ({} if opt_state is None else {OPT_STATE_FILE: opt_state})
    arrays |= {} if ema is None else {EMA_FILE: (ema, state)}
    files = {name: _serialise(tree) for name, tree in arrays.items()}
    hashes = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    version = importlib.metadata.version("eqx-resnet")
    info = {**metadata, "format": FORMAT, "eqx_resnet_version": version, "sha256": hashes}
    files[METADATA_FILE] = _to_json(path, info)
    _write_checkpoint(path, files)
    return path


def _write_checkpoint(path: Path, files: dict[str, bytes]) -> None:
    """Write `files` into a new folder beside `path` and swap it in whole (`save_checkpoint`'s errors)."""
    existed, swapped = False, False
    try:
        if path.exists() and not (path / METADATA_FILE).is_file() and (not path.is_dir() or any(path.iterdir())):
            raise CheckpointError(
                f"refusing to overwrite {path}: it exists and is not a checkpoint; choose another path"
            )
        existed = path.exists()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".tmp-{path.name}-new-{uuid.uuid4().hex[:12]}")
        os.mkdir(tmp)  # unlike tempfile.mkdtemp's 0700, the umask's permissions
        try:
            for name, data in files.items():  # metadata last: it completes the folder
                _write(tmp / name, data)
            _fsync_dir(tmp)
            old = _replace_dir(tmp, path)
            swapped = True
            _fsync_dir(path.parent)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)  # if this fails, `recover` deletes it later
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError as e:
        if swapped:
            outcome = "the new checkpoint is in place but may not survive a power cut"
        elif not existed:
            outcome = "nothing was saved"
        elif path.is_dir():
            outcome = "the previous checkpoint there is unchanged"
        else:  # the rename back failed too
            outcome = "the previous checkpoint is whole beside it, where load_checkpoint and recover find it"
        fix = "free disk space or save to another path" if e.errno in _DISK_FULL else "save to another path"
        raise CheckpointError(f"cannot save checkpoint {path}: {os_error_cause(e)}; {outcome}; {fix}") from None


def read_metadata(path: StrPath, *, verify: bool = False) -> dict[str, Any]:
    """The validated contents of the checkpoint's `metadata.json`; with `verify`, having read
    every array file it lists and checked its SHA-256 (`CorruptCheckpointError` if one fails)."""
    return _snapshot(path, None if verify else ()).metadata


def keeps_average(path: StrPath) -> bool:
    """Whether the checkpoint's run kept a moving average of its weights (`ema_decay`): the weights it
    evaluated, and those `eval`, `predict` and `train --init` load by default."""
    return bool(read_metadata(path).get("config", {}).get("ema_decay"))


def load_checkpoint(
    path: StrPath, *, opt_state_like: Any = None, ema: bool = False
) -> tuple[eqx.Module, eqx.nn.State, dict[str, Any]] | tuple[eqx.Module, eqx.nn.State, dict[str, Any], Any]:
    """`(model, state, metadata)` from the checkpoint at `path`, rebuilt from its metadata alone.

    With `ema`, the model holds the moving average of the weights (`ema.eqx`) instead of the trained ones.

    With `opt_state_like`, also the optimiser state: `(model, state, metadata, opt_state)`.
    `opt_state_like` is `optimizer.init(eqx.filter(model, eqx.is_inexact_array))` of a freshly
    built model, or the same under `eqx.filter_eval_shape` (not on a skeleton of
    `jax.ShapeDtypeStruct`s: `eqx.is_inexact_array` would filter all its parameters out).
    """
    weights = EMA_FILE if ema else MODEL_FILE
    names = (weights,) if opt_state_like is None else (weights, OPT_STATE_FILE)
    directory, metadata, files = _snapshot(path, names)
    if "model" not in metadata:
        raise CheckpointError(
            f"{path} holds a module saved without a registry 'model' name, so it cannot rebuild itself; "
            "load it into a module of the same structure with load_into(path, model, state)"
        )
    skeleton = _skeleton(metadata, str(directory / METADATA_FILE))
    model, state = _deserialise(path, directory / weights, files.get(weights), skeleton)
    _check_finite(model, state, directory / weights)
    if opt_state_like is None:
        return model, state, metadata
    opt_state = _deserialise(path, directory / OPT_STATE_FILE, files.get(OPT_STATE_FILE), opt_state_like)
    return model, state, metadata, opt_state


def load_into(
    path: StrPath, model: eqx.Module, state: eqx.nn.State | None = None
) -> tuple[eqx.Module, eqx.nn.State | None, dict[str, Any]]:
    """Load the checkpoint at `path` into the caller's `(model, state)`: `(model, state, metadata)`.

    This loads checkpoints of any Equinox module, registry model or not. Raises
    `CheckpointError` naming the first differing leaf when the checkpoint holds a
    registry model of another structure, shape or dtype.
    """
    directory, metadata, files = _snapshot(path, (MODEL_FILE,))
    if "model" in metadata:
        name, options = metadata["model"], metadata["model_options"]
        fix = f"Build the model with create_model({name!r}, **{options}), or load it with load_checkpoint"
        _check_matches(metadata, model, state, f"checkpoint {path}", fix)
    model, state = _deserialise(path, directory / MODEL_FILE, files.get(MODEL_FILE), (model, state))
    if "model" in metadata:  # a module of the caller's own may hold infinities on purpose
        _check_finite(model, state, directory / MODEL_FILE)
    return model, state, metadata


def checkpoint_exists(path: StrPath) -> bool:
    """Whether `load_checkpoint(path)` finds a checkpoint: at `path`, or after a save was
    interrupted between its two renames, complete in a temporary folder beside it."""
    try:
        return (_resolve(Path(path)) / METADATA_FILE).is_file()
    except CheckpointError:
        return False


def checkpoint_intact(path: StrPath) -> bool:
    """Whether the checkpoint at `path` is complete and each of its array files matches its SHA-256."""
    try:
        _snapshot(path, None, advise=False)
    except CheckpointError:
        return False
    return True


def checkpoint_paths(path: StrPath) -> list[Path]:
    """What the checkpoint `path` occupies on disk: `path` if it exists, and the temporary folders of its saves."""
    path = Path(path)
    return [path] * os.path.lexists(path) + sorted(_temporaries(path))


def recover(path: StrPath) -> bool:
    """Finish an interrupted save of `path`: whether it moved a checkpoint into place.

    When `path` is missing, the newest complete temporary folder of `path` (what readers
    use meanwhile) is renamed to `path`; then every `.tmp-<name>-*` folder of `path` is
    deleted. Call it only as the one writer of `path` (under the run's `RunLock`): another
    writer's save in progress would lose its temporary folder.
    """
    path = Path(path)
    try:
        restored = False
        if not os.path.lexists(path):
            found = _candidates(path)
            if found:
                os.rename(found[0], path)
                _fsync_dir(path.parent)
                restored = True
        for folder in _temporaries(path):
            shutil.rmtree(folder)
    except OSError as e:
        raise CheckpointError(
            f"cannot recover the checkpoint {path}: {os_error_cause(e)}; check the folder's permissions"
        ) from None
    return restored


def recover_run_dir(run_dir: StrPath) -> list[Path]:
    """`recover` every checkpoint of `run_dir` that has temporary folders; those moved into place."""
    run_dir = Path(run_dir)
    names = {m["name"] for p in run_dir.iterdir() if (m := _TEMPORARY.fullmatch(p.name))}
    return [run_dir / name for name in sorted(names) if recover(run_dir / name)]


# `.tmp-<name>-new-<hex>` while a save writes, `.tmp-<name>-old-<hex>` for the checkpoint it replaces
# (eqx-resnet 0.1.0 used `tempfile.mkdtemp` suffixes: letters, digits and `_`).
_TEMPORARY = re.compile(r"\.tmp-(?P<name>.+)-(?P<kind>new|old)-\w+")


class _Snapshot(NamedTuple):
    directory: Path  # the folder read: `path`, or a complete temporary folder beside it
    metadata: dict[str, Any]
    files: dict[str, bytes]  # the array files asked for that the checkpoint has


def _snapshot(path: StrPath, names: tuple[str, ...] | None, advise: bool = True) -> _Snapshot:
    """The metadata and the array files `names` (`None`: all that its hashes list) of the checkpoint at
    `path`, from one folder (see module docs). `advise`: a corrupt file's error says what to use instead."""
    path = Path(path)
    for _ in range(READ_ATTEMPTS):
        directory = _resolve(path)
        try:
            snapshot, problem, identity = _read_dir(directory, names)
        except FileNotFoundError:  # the folder was deleted between finding and opening it
            continue
        if problem is None:
            return snapshot
        try:
            unchanged = _identity(_resolve(path)) == identity
        except FileNotFoundError:  # replaced again while we looked
            unchanged = False
        if unchanged:
            if advise and isinstance(problem, CorruptCheckpointError):
                raise CorruptCheckpointError(problem.problem, _instead(path))
            raise problem
    raise CheckpointError(
        f"{path} was replaced {READ_ATTEMPTS} times while being read: a process keeps saving it; "
        "read it when that process has finished"
    )


def _read_dir(
    directory: Path, names: tuple[str, ...] | None
) -> tuple[_Snapshot | None, CheckpointError | None, tuple[int, ...]]:
    """Read `directory`'s metadata and array files `names` (`None`: all that its hashes list)
    through one handle of the folder: `(snapshot, None, identity)`, or `(None, problem, identity)`
    when a file is missing or fails its hash. Raises `FileNotFoundError` if the folder is gone."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        file = directory / METADATA_FILE
        text, identity = _read_at(fd, directory, METADATA_FILE)
        if text is None:
            problem = f"{file} is missing: {directory} is not a complete checkpoint; re-save it or use another one"
            return None, CheckpointError(problem), identity
        metadata = _parse_metadata(text, file)
        hashes = metadata.get("sha256", {})
        files = {}
        for name in hashes if names is None else names:
            data, _ = _read_at(fd, directory, name)
            if data is None:
                if name not in hashes:
                    continue  # saved without it: `_deserialise` says so if it is needed
                return None, _missing(directory / name), identity
            if name in hashes and hashlib.sha256(data).hexdigest() != hashes[name]:
                problem = f"{directory / name} is corrupt: its SHA-256 does not match the one in {METADATA_FILE}"
                return None, CorruptCheckpointError(problem), identity
            files[name] = data
        return _Snapshot(directory, metadata, files), None, identity
    finally:
        os.close(fd)


def _read_at(fd: int, directory: Path, name: str) -> tuple[bytes | None, tuple[int, ...]]:
    """The bytes of `name` in the open folder `fd` (`None` if missing), and the identity of
    folder and file: a save writes new files in a new folder, never over old ones."""
    folder = os.fstat(fd)
    try:
        with open(name, "rb", opener=lambda file, flags: os.open(file, flags, dir_fd=fd)) as f:
            stat = os.fstat(f.fileno())
            return f.read(), (folder.st_dev, folder.st_ino, stat.st_ino, stat.st_mtime_ns)
    except FileNotFoundError:
        return None, (folder.st_dev, folder.st_ino)
    except OSError as e:
        raise CheckpointError(f"cannot read {directory / name}: {os_error_cause(e)}") from None


def _identity(directory: Path) -> tuple[int, ...]:
    """What `_read_at` gives as the identity of `directory`'s metadata, from `stat` alone."""
    folder = os.stat(directory)
    try:
        stat = os.stat(directory / METADATA_FILE)
    except FileNotFoundError:
        return folder.st_dev, folder.st_ino
    return folder.st_dev, folder.st_ino, stat.st_ino, stat.st_mtime_ns


def _parse_metadata(text: bytes, file: Path) -> dict[str, Any]:
    """The validated metadata in the bytes `text` of `file`."""
    try:
        metadata = json.loads(text)
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


def _resolve(path: Path) -> Path:
    """The folder holding the checkpoint `path`: `path`, or while an interrupted save left it
    missing, its newest complete temporary folder; else a `CheckpointError` saying what is there."""
    if path.is_dir():
        return path
    if not os.path.lexists(path):
        found = _candidates(path)
        if found:
            return found[0]
        if path.is_dir():  # a save moved its folder into place while we looked
            return path
    if os.path.lexists(path):
        raise CheckpointError(
            f"{path} is not a directory: a checkpoint is a directory holding {METADATA_FILE}; pass that"
        )
    message = f"no checkpoint at {path}: it does not exist"
    parent = path.parent
    if parent.is_dir():
        entries = sorted(p.name + "/" * p.is_dir() for p in parent.iterdir() if not p.name.startswith("."))
        message += f"; {parent} holds: {', '.join(entries) or 'nothing'}; check the path"
    else:
        message += f", nor does {parent}; check the path"
    raise CheckpointError(message)


def _temporaries(path: Path) -> list[Path]:
    """The temporary folders of saves of `path`."""
    try:
        entries = list(path.parent.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [p for p in entries if (m := _TEMPORARY.fullmatch(p.name)) and m["name"] == path.name]


def _candidates(path: Path) -> list[Path]:
    """The complete temporary folders of `path`, newest first (by their metadata's mtime; on a
    tie, a new folder before an old one)."""
    found = []
    for folder in _temporaries(path):
        try:
            _, problem, identity = _read_dir(folder, None)
        except (OSError, CheckpointError):  # gone, or metadata half written
            continue
        if problem is None:
            found.append(((identity[-1], _TEMPORARY.fullmatch(folder.name)["kind"] == "new"), folder))
    return [folder for _, folder in sorted(found, reverse=True)]


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


def _check_matches(
    metadata: dict[str, Any], model: eqx.Module, state: eqx.nn.State | None, where: str, fix: str
) -> None:
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


# A training run keeps two checkpoints side by side: the one to use when the other is damaged.
_OTHER = {"best": "last", "last": "best"}


def _instead(path: Path) -> str:
    """What to use instead of the damaged checkpoint `path`: the other checkpoint of its run, if it is intact."""
    other = path.with_name(_OTHER[path.name]) if path.name in _OTHER else None
    if other is not None and checkpoint_intact(other):
        return f"{other} is intact: use it instead"
    if other is not None and checkpoint_exists(other):
        return f"{other} is damaged too, so no checkpoint of {path.parent} is usable: retrain"
    return "restore it from a copy, or write it again"


def _missing(file: Path) -> CheckpointError:
    """A checkpoint's array `file` is missing: the fix for the optimiser state differs."""
    fixes = {
        OPT_STATE_FILE: "load without opt_state_like, or start the optimiser afresh",
        EMA_FILE: "its run kept no moving average of the weights (ema_decay): load without ema=True",
    }
    fix = fixes.get(file.name, "re-save it")
    return CheckpointError(f"{file} is missing from the checkpoint; {fix}")


def _check_finite(model: eqx.Module, state: eqx.nn.State | None, file: Path) -> None:
    """Refuse a NaN or an infinity in a registry model's weights or BatchNorm statistics. Not in the
    optimiser state: optax's may hold infinities by design (reduce_on_plateau starts at inf)."""
    if bad := first_non_finite(model_arrays(model, state)):
        raise CheckpointError(
            f"{file}: {bad[0]} holds {bad[1]}, which a usable model never does; use another checkpoint or retrain"
        )


def _serialise(tree: Any) -> bytes:
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, tree)
    return buffer.getvalue()


def _deserialise(path: StrPath, file: Path, data: bytes | None, like: Any) -> Any:
    """The bytes `data` of the checkpoint `path`'s `file` (already checked against its SHA-256) read into the
    structure of `like`."""
    if data is None:
        raise _missing(file)
    buffer = io.BytesIO(data)
    try:
        tree = eqx.tree_deserialise_leaves(buffer, like)
    except Exception as e:
        problem = (
            f"{file} cannot be read into {type(like).__name__} ({e}): the file is truncated or corrupt, or written "
            "from another structure"
        )
        raise CorruptCheckpointError(problem, _instead(Path(path))) from e
    if buffer.tell() != len(data):
        raise CheckpointError(
            f"{file} has {len(data) - buffer.tell()} bytes left over after reading {type(like).__name__}: it was "
            "written from a larger structure (another model or optimiser, or opt_state_like built on a skeleton "
            "whose parameters eqx.is_inexact_array filtered out); load it with a matching one"
        )
    return tree


def _to_json(path: Path, info: dict[str, Any]) -> bytes:
    """`info` as JSON, or a `CheckpointError`: JSON has no NaN or Infinity (`json.dumps` would write bare `NaN`)."""
    try:
        return json.dumps(info, indent=2, allow_nan=False).encode()
    except (TypeError, ValueError) as e:
        if bad := _non_finite(info):
            raise CheckpointError(
                f"cannot save {path}: metadata holds non-finite numbers at {', '.join(bad)}, which JSON cannot store; "
                "stop a diverged run before saving, or record such values as strings"
            ) from None
        raise CheckpointError(
            f"cannot save {path}: metadata is not JSON-serialisable ({e}); convert arrays with "
            "float(x) or x.tolist() and keys with jax.random.key_data(key).tolist()"
        ) from None


def _non_finite(value: Any, where: str = "") -> list[str]:
    """The keys (`metrics.loss`, `history[2].loss`) of the non-finite floats in `value`."""
    if isinstance(value, float):
        return [] if math.isfinite(value) else [where]
    if isinstance(value, dict):
        return [bad for k, v in value.items() for bad in _non_finite(v, f"{where}.{k}" if where else str(k))]
    if isinstance(value, (list, tuple)):
        return [bad for i, v in enumerate(value) for bad in _non_finite(v, f"{where}[{i}]")]
    return []


def _write(file: Path, data: bytes) -> None:
    """Write and fsync `data` to the new file `file`."""
    with open(file, "xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace_dir(new: Path, path: Path) -> Path | None:
    """Move the complete folder `new` to `path`, renaming any checkpoint there aside (see module docs); that folder."""
    old = path.with_name(f".tmp-{path.name}-old-{uuid.uuid4().hex[:12]}") if path.exists() else None
    if old is not None:
        os.rename(path, old)
    try:
        os.rename(new, path)
    except BaseException:
        if old is not None:
            os.rename(old, path)
        raise
    return old
