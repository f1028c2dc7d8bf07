"""Checkpoints: bit-identical round trips, crash-safe replacement, and clear errors."""

import hashlib
import json
import os
import stat
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import eqx_resnet
from eqx_resnet.training import checkpoint
from eqx_resnet.training.checkpoint import (
    CheckpointError,
    checkpoint_exists,
    checkpoint_intact,
    load_checkpoint,
    load_into,
    read_metadata,
    recover,
    recover_run_dir,
    save_checkpoint,
)

METADATA = {
    "model": "preact_resnet",
    "model_options": {"num_classes": 10, "in_channels": 1},
    "dataset": "mnist",
    "epoch": 3,
    "step": 1407,
    "metrics": {"test_accuracy": 0.9912, "loss": [0.31, 0.12, 0.07]},
    "rng": jax.random.key_data(jax.random.key(7)).tolist(),
    "optimizer": {"name": "adam", "lr": 1e-3},
}
OPTIMIZER = optax.adam(1e-3)


@eqx.filter_jit
def logits(model, state, images):
    batched = jax.vmap(eqx.nn.inference_mode(model), axis_name="batch", in_axes=(0, None), out_axes=(0, None))
    return batched(images, state)[0]


@eqx.filter_jit
def adam_step(model, grads):
    params = eqx.filter(model, eqx.is_inexact_array)
    updates, opt_state = OPTIMIZER.update(grads, OPTIMIZER.init(params), params)
    return eqx.apply_updates(model, updates), opt_state


def build(name, seed=0, **options):
    """`create_model(name, **options)` with random arrays from NumPy: eager `jax.random` init
    compiles once per distinct shape, about a second each on a busy CPU."""
    rng = np.random.default_rng(seed)

    def fill(x):
        if not isinstance(x, jax.ShapeDtypeStruct):
            return x
        if len(x.shape) > 1:  # weights, fan-in scaled
            return jnp.asarray(rng.standard_normal(x.shape) / np.sqrt(np.prod(x.shape[1:])), x.dtype)
        return jnp.asarray(rng.uniform(0.5, 1.5, x.shape), x.dtype)  # biases, BatchNorm affine and statistics

    return jax.tree.map(fill, eqx.filter_eval_shape(eqx_resnet.create_model, name, key=jax.random.key(0), **options))


@pytest.fixture(scope="module")
def trained():
    """A preact_resnet after one Adam update: `(model, state, opt_state)`."""
    model, state = build("preact_resnet", seed=1, **METADATA["model_options"])
    grads = build("preact_resnet", seed=2, **METADATA["model_options"])[0]
    model, opt_state = adam_step(model, eqx.filter(grads, eqx.is_inexact_array))
    return model, state, opt_state


def opt_state_like():
    """The optimiser state's structure, as a fresh run would get it: `jax.ShapeDtypeStruct`s."""

    def init():
        model, _ = eqx_resnet.create_model("preact_resnet", key=jax.random.key(0), **METADATA["model_options"])
        return OPTIMIZER.init(eqx.filter(model, eqx.is_inexact_array))

    return eqx.filter_eval_shape(init)


def assert_trees_equal(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(leaves_a) == len(leaves_b) > 0
    for x, y in zip(leaves_a, leaves_b):
        assert np.asarray(x).dtype == np.asarray(y).dtype
        assert np.array_equal(x, y)


def temp_dirs(directory):
    return [p.name for p in directory.iterdir() if p.name.startswith(".tmp-")]


def test_round_trip_is_bit_identical(tmp_path, trained):
    model, state, opt_state = trained
    path = save_checkpoint(tmp_path / "run" / "last", model, state, opt_state, metadata=METADATA)
    assert path == tmp_path / "run" / "last"
    assert sorted(p.name for p in path.iterdir()) == ["metadata.json", "model.eqx", "opt_state.eqx"]

    loaded, loaded_state, metadata, loaded_opt = load_checkpoint(path, opt_state_like=opt_state_like())
    assert_trees_equal(loaded, model)
    assert_trees_equal(loaded_state, state)
    assert_trees_equal(loaded_opt, opt_state)
    assert int(loaded_opt[0].count) == 1 and float(jnp.abs(loaded_opt[0].mu.fc.weight).sum()) > 0

    hashes = {name: hashlib.sha256((path / name).read_bytes()).hexdigest() for name in ("model.eqx", "opt_state.eqx")}
    assert metadata == {**METADATA, "format": 3, "eqx_resnet_version": eqx_resnet.__version__, "sha256": hashes}
    assert read_metadata(path) == metadata
    assert len(load_checkpoint(path)) == 3


def test_loaded_model_gives_the_same_logits(tmp_path, trained):
    model, state, _ = trained
    save_checkpoint(tmp_path / "last", model, state, metadata=METADATA)
    loaded, loaded_state, _ = load_checkpoint(tmp_path / "last")
    images = jax.random.normal(jax.random.key(4), (4, 1, 28, 28))
    expected = logits(model, state, images)
    assert expected.shape == (4, 10) and np.isfinite(expected).all() and np.ptp(expected) > 0
    np.testing.assert_array_equal(logits(loaded, loaded_state, images), expected)


def test_load_into_a_matching_model(tmp_path, trained):
    model, state, _ = trained
    save_checkpoint(tmp_path / "last", model, state, metadata=METADATA)
    fresh, fresh_state = build("preact_resnet", seed=9, **METADATA["model_options"])
    loaded, loaded_state, metadata = load_into(tmp_path / "last", fresh, fresh_state)
    assert_trees_equal((loaded, loaded_state), (model, state))
    assert metadata["epoch"] == 3


def test_saving_again_replaces_the_checkpoint(tmp_path, trained):
    model, state, opt_state = trained
    path = tmp_path / "last"
    save_checkpoint(path, model, state, opt_state, metadata=METADATA)
    newer = eqx.tree_at(lambda m: m.fc.bias, model, model.fc.bias + 1.0)
    save_checkpoint(path, newer, state, metadata={**METADATA, "epoch": 4})
    loaded, _, metadata = load_checkpoint(path)
    np.testing.assert_array_equal(loaded.fc.bias, model.fc.bias + 1.0)
    assert metadata["epoch"] == 4 and set(metadata["sha256"]) == {"model.eqx"}
    assert sorted(p.name for p in path.iterdir()) == ["metadata.json", "model.eqx"]
    assert [p.name for p in tmp_path.iterdir()] == ["last"]


@pytest.mark.parametrize("failing_call", [1, 2])
def test_failed_write_keeps_the_previous_checkpoint(tmp_path, trained, monkeypatch, failing_call):
    model, state, opt_state = trained
    path = tmp_path / "last"
    save_checkpoint(path, model, state, opt_state, metadata=METADATA)
    before = {p.name: p.read_bytes() for p in path.iterdir()}
    calls, serialise = [], eqx.tree_serialise_leaves

    def crash_midway(file, tree):
        calls.append(1)
        if len(calls) == failing_call:
            file.write(b"\x93NUMPY half an array")
            raise RuntimeError("disk full")
        serialise(file, tree)

    monkeypatch.setattr(eqx, "tree_serialise_leaves", crash_midway)
    newer = eqx.tree_at(lambda m: m.fc.bias, model, model.fc.bias + 1.0)
    with pytest.raises(RuntimeError, match="disk full"):
        save_checkpoint(path, newer, state, opt_state, metadata={**METADATA, "epoch": 4})
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before
    assert temp_dirs(tmp_path) == []
    loaded, _, metadata = load_checkpoint(path)
    assert metadata["epoch"] == 3
    assert_trees_equal(loaded, model)


def test_unserialisable_metadata_writes_nothing(tmp_path, trained):
    model, state, _ = trained
    save_checkpoint(tmp_path / "last", model, state, metadata=METADATA)
    with pytest.raises(CheckpointError, match="not JSON-serialisable.*float"):
        save_checkpoint(tmp_path / "last", model, state, metadata={**METADATA, "epoch": 4, "loss": jnp.float32(0.5)})
    assert read_metadata(tmp_path / "last")["epoch"] == 3
    assert temp_dirs(tmp_path) == []


def test_failed_rename_restores_the_previous_checkpoint(tmp_path, trained, monkeypatch):
    model, state, _ = trained
    path = tmp_path / "last"
    save_checkpoint(path, model, state, metadata=METADATA)
    renames, rename = [], os.rename

    def second_rename_fails(src, dst):
        renames.append((src, dst))
        if len(renames) == 2:
            raise OSError("I/O error")
        rename(src, dst)

    monkeypatch.setattr(checkpoint.os, "rename", second_rename_fails)
    message = (
        f"^cannot save checkpoint {path}: I/O error; the previous checkpoint there is unchanged; save to another path$"
    )
    with pytest.raises(CheckpointError, match=message):
        save_checkpoint(path, model, state, metadata={**METADATA, "epoch": 4})
    monkeypatch.undo()
    assert read_metadata(path)["epoch"] == 3
    assert temp_dirs(tmp_path) == []


def test_checkpoint_left_beside_its_path_is_used_and_recovered(tmp_path, trained, monkeypatch):
    """A save whose second rename and the rename back both fail leaves `path` missing and the
    previous checkpoint whole in `.tmp-last-old-*`: readers use it there, `recover` moves it back."""
    model, state, _ = trained
    path = tmp_path / "last"
    save_checkpoint(path, model, state, metadata=METADATA)
    renames, rename = [], os.rename

    def power_cut_after_first_rename(src, dst):
        renames.append((src, dst))
        if len(renames) > 1:
            raise OSError("power cut")
        rename(src, dst)

    monkeypatch.setattr(checkpoint.os, "rename", power_cut_after_first_rename)
    with pytest.raises(CheckpointError, match="power cut; the previous checkpoint is whole beside it"):
        save_checkpoint(path, model, state, metadata={**METADATA, "epoch": 4})
    monkeypatch.undo()
    assert not path.exists()
    [aside] = temp_dirs(tmp_path)
    assert aside.startswith(".tmp-last-old-")
    assert checkpoint_exists(path) and not checkpoint_exists(tmp_path / "best")
    loaded, _, metadata = load_checkpoint(path)
    assert metadata["epoch"] == 3 and read_metadata(path) == metadata
    assert_trees_equal(loaded, model)
    assert recover_run_dir(tmp_path) == [path]
    assert temp_dirs(tmp_path) == [] and read_metadata(path) == metadata
    assert recover(path) is False


def test_refuses_to_overwrite_a_directory_that_is_not_a_checkpoint(tmp_path, trained):
    model, state, _ = trained
    (tmp_path / "log.csv").write_text("epoch,loss\n")
    with pytest.raises(CheckpointError, match="refusing to overwrite"):
        save_checkpoint(tmp_path, model, state, metadata=METADATA)
    assert [p.name for p in tmp_path.iterdir()] == ["log.csv"]


def test_metadata_must_describe_the_saved_model(tmp_path, trained):
    model, state, _ = trained
    with pytest.raises(CheckpointError, match="names 'model' or 'model_options' but not both"):
        save_checkpoint(tmp_path / "last", model, state, metadata={"model": "preact_resnet"})
    wrong = {**METADATA, "model_options": {"num_classes": 5, "in_channels": 1}}
    difference = r"model\.fc\.weight float32\[5, 64\] \(described\) vs model\.fc\.weight float32\[10, 64\] \(given\)"
    with pytest.raises(CheckpointError, match=difference):
        save_checkpoint(tmp_path / "last", model, state, metadata=wrong)
    assert list(tmp_path.iterdir()) == []


def test_load_into_another_model_names_both(tmp_path, trained):
    model, state, _ = trained
    save_checkpoint(tmp_path / "last", model, state, metadata=METADATA)
    resnet, resnet_state = build("resnet18", stem="cifar", num_classes=10)
    with pytest.raises(CheckpointError) as error:
        load_into(tmp_path / "last", resnet, resnet_state)
    message = str(error.value)
    assert "'preact_resnet'" in message and "{'num_classes': 10, 'in_channels': 1}" in message
    assert "given model is ResNet" in message and "first difference at leaf 0" in message


def test_load_into_other_num_classes_names_the_leaf(tmp_path, trained):
    model, state, _ = trained
    save_checkpoint(tmp_path / "last", model, state, metadata=METADATA)
    other, other_state = build("preact_resnet", num_classes=5, in_channels=1)
    difference = r"model\.fc\.weight float32\[10, 64\] \(described\) vs model\.fc\.weight float32\[5, 64\] \(given\)"
    with pytest.raises(CheckpointError, match=difference):
        load_into(tmp_path / "last", other, other_state)


def corrupt(file: Path) -> None:
    """Flip 8 bytes in the middle of `file`."""
    data = bytearray(file.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 8] = bytes(b ^ 0xFF for b in data[len(data) // 2 : len(data) // 2 + 8])
    file.write_bytes(bytes(data))


def test_corrupt_array_file_fails_the_hash_naming_what_is_left(tmp_path, trained):
    model, state, _ = trained
    path = save_checkpoint(tmp_path / "last", model, state, metadata=METADATA)
    corrupt(path / "model.eqx")
    hash_fails = r"last/model\.eqx is corrupt: its SHA-256 does not match the one in metadata\.json; "
    with pytest.raises(CheckpointError, match=hash_fails + "restore it from a copy, or write it again$"):
        load_checkpoint(path)
    # In a run directory, the other checkpoint of the run, if intact.
    best = save_checkpoint(tmp_path / "best", model, state, metadata=METADATA)
    assert checkpoint_intact(best) and not checkpoint_intact(path)
    with pytest.raises(CheckpointError, match=hash_fails + f"{best} is intact: use it instead$"):
        load_checkpoint(path)
    corrupt(best / "model.eqx")
    with pytest.raises(CheckpointError, match=f"{best} is damaged too, so no checkpoint of {tmp_path} is usable"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match=f"best/model\\.eqx is corrupt.*; {path} is damaged too"):
        read_metadata(best, verify=True)
    assert read_metadata(best)["epoch"] == 3  # the metadata alone is whole


def test_truncated_array_file_without_hash(tmp_path, trained):
    model, state, _ = trained
    path = save_checkpoint(tmp_path / "last", model, state, metadata=METADATA)
    (path / "model.eqx").write_bytes((path / "model.eqx").read_bytes()[:-1000])
    metadata = json.loads((path / "metadata.json").read_text())
    del metadata["sha256"]["model.eqx"]
    (path / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(CheckpointError, match=r"model\.eqx cannot be read .* truncated or corrupt"):
        load_checkpoint(path)


def test_optimiser_state_errors(tmp_path, trained):
    model, state, _ = trained
    path = save_checkpoint(tmp_path / "last", model, state, metadata=METADATA)
    with pytest.raises(CheckpointError, match=r"opt_state\.eqx is missing.*load without opt_state_like"):
        load_checkpoint(path, opt_state_like=opt_state_like())
    save_checkpoint(path, model, state, trained[2], metadata=METADATA)
    sgd_state = optax.sgd(0.1).init(eqx.filter(model, eqx.is_inexact_array))
    with pytest.raises(CheckpointError, match=r"opt_state\.eqx has \d+ bytes left over"):
        load_checkpoint(path, opt_state_like=sgd_state)


def test_missing_checkpoint_lists_the_run_directory(tmp_path, trained):
    model, state, _ = trained
    save_checkpoint(tmp_path / "best", model, state, metadata=METADATA)
    (tmp_path / "log.csv").write_text("")
    with pytest.raises(CheckpointError, match=r"no checkpoint at .*lst: it does not exist; .* holds: best/, log\.csv"):
        load_checkpoint(tmp_path / "lst")
    with pytest.raises(CheckpointError, match="nor does"):
        read_metadata(tmp_path / "nowhere" / "last")
    with pytest.raises(CheckpointError, match="is not a directory"):
        load_checkpoint(tmp_path / "log.csv")


def test_missing_files(tmp_path, trained):
    model, state, _ = trained
    path = save_checkpoint(tmp_path / "last", model, state, metadata=METADATA)
    (path / "model.eqx").unlink()
    with pytest.raises(CheckpointError, match=r"model\.eqx is missing"):
        load_checkpoint(path)
    (path / "metadata.json").unlink()
    with pytest.raises(CheckpointError, match=r"metadata\.json is missing"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    "text, match",
    [
        ('{"model": "preact_resnet",', r"metadata\.json is not valid JSON"),
        ("[1, 2]", "must hold a JSON object"),
        ('{"model": "preact_resnet", "format": 1}', r"lacks the keys \['model_options'\]"),
        ('{"model": "preact_resnet", "model_options": {}, "format": 4}', r"has format 4.*pip install -U eqx-resnet"),
        ('{"model_options": {}}', "lacks the key 'format'"),
        (
            '{"model": "resnet9000", "model_options": {}, "format": 1}',
            r"unknown model 'resnet9000'; known .*preact_resnet.*resnet18",
        ),
        (
            '{"model": "preact_resnet", "model_options": {"depth": 9}, "format": 1}',
            r"fails \(TypeError.*fix 'model_options'",
        ),
    ],
)
def test_bad_metadata(tmp_path, trained, text, match):
    model, state, _ = trained
    path = save_checkpoint(tmp_path / "last", model, state, metadata=METADATA)
    (path / "metadata.json").write_text(text)
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(path)


class Head(eqx.Module):
    """A user's own module, not in the registry, with a BatchNorm of its own."""

    bn: eqx.nn.BatchNorm
    linear: eqx.nn.Linear

    def __init__(self, key):
        self.bn = eqx.nn.BatchNorm(10, "batch")
        self.linear = eqx.nn.Linear(10, 3, key=key)


def test_any_equinox_module_saves_and_loads_into_its_structure(tmp_path):
    user, state = eqx.nn.make_with_state(Head)(jax.random.key(1))
    path = save_checkpoint(tmp_path / "mine", user, state, metadata={"note": "my own module"})
    like, like_state = eqx.nn.make_with_state(Head)(jax.random.key(2))
    loaded, loaded_state, metadata = load_into(path, like, like_state)
    assert_trees_equal(loaded, user)
    assert_trees_equal(loaded_state, state)
    assert metadata["note"] == "my own module"
    with pytest.raises(CheckpointError, match=r"cannot rebuild itself; .*load_into\(path, model, state\)"):
        load_checkpoint(path)
    no_state = save_checkpoint(tmp_path / "linear", user.linear)
    assert_trees_equal(load_into(no_state, eqx.nn.Linear(10, 3, key=jax.random.key(3)), None)[0], user.linear)


def test_format_1_checkpoints_still_load(tmp_path, trained):
    model, state, _ = trained
    path = save_checkpoint(tmp_path / "old", model, state, metadata=METADATA)
    info = json.loads((path / "metadata.json").read_text())
    (path / "metadata.json").write_text(json.dumps({**info, "format": 1}))
    loaded, _, metadata = load_checkpoint(path)
    assert_trees_equal(loaded, model)
    assert metadata["format"] == 1


def test_a_save_between_reading_metadata_and_arrays_gives_the_new_checkpoint_whole(tmp_path, trained, monkeypatch):
    """Another process's save replaces (renames aside, then deletes) the folder being read:
    the reader notices the folder changed and reads the new checkpoint, never a mix."""
    model, state, opt_state = trained
    path = save_checkpoint(tmp_path / "last", model, state, opt_state, metadata=METADATA)
    newer = eqx.tree_at(lambda m: m.fc.bias, model, model.fc.bias + 1.0)
    read_at, saves = checkpoint._read_at, []

    def save_before_reading_arrays(fd, directory, name):
        if name == "model.eqx" and not saves:
            saves.append(save_checkpoint(path, newer, state, opt_state, metadata={**METADATA, "epoch": 4}))
        return read_at(fd, directory, name)

    monkeypatch.setattr(checkpoint, "_read_at", save_before_reading_arrays)
    loaded, _, metadata, loaded_opt = load_checkpoint(path, opt_state_like=opt_state_like())
    assert saves and metadata["epoch"] == 4
    assert_trees_equal(loaded, newer)
    assert_trees_equal(loaded_opt, opt_state)


def test_a_checkpoint_replaced_at_every_read_is_an_error(tmp_path, trained, monkeypatch):
    model, state, _ = trained
    path = save_checkpoint(tmp_path / "last", model, state, metadata=METADATA)
    read_at, epochs = checkpoint._read_at, iter(range(4, 100))

    def save_before_reading_arrays(fd, directory, name):
        if name == "model.eqx":
            save_checkpoint(path, model, state, metadata={**METADATA, "epoch": next(epochs)})
        return read_at(fd, directory, name)

    monkeypatch.setattr(checkpoint, "_read_at", save_before_reading_arrays)
    with pytest.raises(CheckpointError, match=f"{path} was replaced 5 times while being read: a process keeps saving"):
        load_into(path, model, state)


def test_folders_and_files_get_the_umask_permissions(tmp_path, trained):
    model, state, _ = trained
    umask = os.umask(0o027)
    try:
        path = save_checkpoint(tmp_path / "run" / "last", model, state, metadata=METADATA)
        path = save_checkpoint(path, model, state, metadata=METADATA)  # through the replace
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o750
    assert {stat.S_IMODE(p.stat().st_mode) for p in path.iterdir()} == {0o640}


def test_non_finite_metadata_is_refused_by_key(tmp_path, trained):
    model, state, _ = trained
    path = save_checkpoint(tmp_path / "last", model, state, metadata=METADATA)
    diverged = {**METADATA, "epoch": 4, "metrics": {"loss": float("nan")}, "history": [{"loss": 1.0}, {"loss": np.inf}]}
    with pytest.raises(CheckpointError, match=r"non-finite numbers at metrics\.loss, history\[1\]\.loss, which JSON"):
        save_checkpoint(path, model, state, metadata=diverged)
    assert read_metadata(path)["epoch"] == 3
    assert "NaN" not in (path / "metadata.json").read_text() and temp_dirs(tmp_path) == []


@pytest.mark.parametrize("under", ["a file", "/proc"])
def test_unwritable_path_is_one_line(tmp_path, trained, under):
    model, state, _ = trained
    if under == "a file":
        (tmp_path / "notes.txt").write_text("")
        path, cause = tmp_path / "notes.txt" / "run" / "last", f"{tmp_path / 'notes.txt'} is a file, not a directory"
    else:  # CI runs as root: /proc refuses new folders even then
        path, cause = Path("/proc/eqx-resnet-run/last"), "No such file or directory (/proc/eqx-resnet-run)"
    with pytest.raises(CheckpointError) as error:
        save_checkpoint(path, model, state, metadata=METADATA)
    assert str(error.value) == f"cannot save checkpoint {path}: {cause}; nothing was saved; save to another path"


def test_incomplete_temporary_folders_are_not_used(tmp_path, trained):
    model, state, _ = trained
    old = save_checkpoint(tmp_path / "old", model, state, metadata=METADATA)
    new = save_checkpoint(tmp_path / "new", model, state, metadata={**METADATA, "epoch": 4})
    (new / "model.eqx").write_bytes((new / "model.eqx").read_bytes()[:-8])  # newer, but damaged
    os.rename(old, tmp_path / ".tmp-last-old-000000000000")
    os.rename(new, tmp_path / ".tmp-last-new-111111111111")
    (tmp_path / ".tmp-last-new-222222222222").mkdir()  # a save that died before writing anything
    last = tmp_path / "last"
    assert read_metadata(last)["epoch"] == 3
    assert recover(last) and temp_dirs(tmp_path) == [] and read_metadata(last)["epoch"] == 3
    (tmp_path / ".tmp-best-new-333333333333").mkdir()
    assert not checkpoint_exists(tmp_path / "best")
    with pytest.raises(CheckpointError, match=r"no checkpoint at \S+best: it does not exist; \S+ holds: last/;"):
        load_checkpoint(tmp_path / "best")


def with_nan_weight(model, state):
    return eqx.tree_at(lambda m: m.fc.weight, model, model.fc.weight.at[2, 3].set(jnp.nan)), state


def with_inf_running_var(model, state):
    index = model.layer2[0].bn1.statistics
    mean, var = state.get(index)
    return model, jax.tree.map(lambda x: x, state).set(index, (mean, var.at[1].set(jnp.inf)))  # a copy: set invalidates


@pytest.mark.parametrize("loader", ["load_checkpoint", "load_into"])
@pytest.mark.parametrize(
    "damage, what",
    [(with_nan_weight, "fc.weight holds NaN"), (with_inf_running_var, "layer2[0].bn1.statistics[1] holds an infinity")],
)
def test_a_non_finite_weight_or_statistic_is_refused_by_its_path(tmp_path, trained, damage, what, loader):
    model, state, _ = trained
    path = save_checkpoint(tmp_path / "best", *damage(model, state), metadata=METADATA)
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path) if loader == "load_checkpoint" else load_into(path, model, state)
    assert str(error.value) == (
        f"{path / 'model.eqx'}: {what}, which a usable model never does; use another checkpoint or retrain"
    )


def test_an_infinity_in_the_optimiser_state_loads(tmp_path, trained):
    """optax states may hold infinities by design: reduce_on_plateau's best value starts at inf."""
    model, state, _ = trained
    opt_state = optax.contrib.reduce_on_plateau().init(eqx.filter(model, eqx.is_inexact_array))
    assert np.isinf(opt_state.best_value)
    path = save_checkpoint(tmp_path / "last", model, state, opt_state, metadata=METADATA)
    *_, loaded = load_checkpoint(path, opt_state_like=opt_state)
    assert_trees_equal(loaded, opt_state)


def test_eval_of_a_checkpoint_with_a_nan_is_one_line(tmp_path, trained):
    from typer.testing import CliRunner

    from eqx_resnet.cli import app

    model, state, _ = trained
    best = save_checkpoint(tmp_path / "run" / "best", *with_nan_weight(model, state), metadata=METADATA)
    result = CliRunner().invoke(app, ["eval", str(tmp_path / "run")])
    assert result.exit_code == 1 and result.stderr.strip().splitlines() == [
        f"error: {best / 'model.eqx'}: fc.weight holds NaN, which a usable model never does; use another checkpoint "
        "or retrain"
    ], result.output
