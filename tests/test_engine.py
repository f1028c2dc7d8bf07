"""The engine on real MNIST subsets: it learns, resumes exactly, stops on NaN, stops early."""

import dataclasses
import hashlib
import json
import os
import re
import shutil
import signal

import equinox as eqx
import jax
import jax._src.array as jax_array
import numpy as np
import optax
import pytest
from _trees import arrays, untimed

from eqx_resnet.training import (
    CheckpointError,
    ConfigError,
    Interrupted,
    TrainConfig,
    TrainingError,
    engine,
    load_checkpoint,
    train,
)
from eqx_resnet.training.checkpoint import read_metadata
from eqx_resnet.training.engine import read_every, steps_per_call
from eqx_resnet.training.evaluate import run_evaluator
from eqx_resnet.training.lock import RunLock
from eqx_resnet.training.metadata import RunMetadata
from eqx_resnet.training.optim import build_optimizer, learning_rate_schedule

TINY = dict(model="preact_resnet", model_options={"widths": [8, 16, 16], "blocks_per_stage": 1})


def tiny(**overrides) -> TrainConfig:
    base = dict(TINY, epochs=2, batch_size=64, max_train_samples=2048, lr=3e-3, schedule="constant", augment=False)
    return TrainConfig(**{**base, **overrides})


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    return train(tiny(), run_dir), run_dir


def test_short_run_learns(finished):
    result, run_dir = finished
    first, last = result.history
    assert last["train_loss"] < 0.85 * first["train_loss"] < 0.85 * 2.3  # below chance (ln 10), and falling
    assert last["test_acc"] > 0.3  # chance is 0.1 (64 steps of a 3k-parameter net); all 10,000 test images
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2]
    assert {"train_loss", "train_acc", "test_loss", "test_acc", "images_per_s", "epoch_time_s", "lr"} <= set(lines[0])


def test_checkpoints_hold_what_was_trained(finished):
    result, run_dir = finished
    meta = load_checkpoint(run_dir / "last")[2]
    assert meta["epoch"] == 2 and meta["model"] == "preact_resnet"
    assert meta["metrics"]["test_acc"] == result.final["test_acc"]
    best = load_checkpoint(run_dir / "best")[2]
    assert best["metrics"]["test_acc"] == max(h["test_acc"] for h in result.history)


def test_interrupted_run_resumes_to_the_same_end(finished, tmp_path):
    result, run_dir = finished

    def kill_mid_epoch_2(event):
        if event["event"] == "steps" and event["epoch"] == 2 and event["step"] >= 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(tiny(), tmp_path, on_progress=kill_mid_epoch_2)
    assert load_checkpoint(tmp_path / "last")[2]["epoch"] == 1
    resumed = train(TrainConfig(), tmp_path, resume=True)  # the saved config wins
    # Bitwise the same as the uninterrupted run: metrics (but timings) and every array.
    assert [untimed(h) for h in resumed.history] == [untimed(h) for h in result.history]
    for a, b in zip(arrays(load_checkpoint(run_dir / "last")[:2]), arrays(load_checkpoint(tmp_path / "last")[:2])):
        np.testing.assert_array_equal(a, b)
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 2


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    # Epoch 1 at a sane rate, then the step schedule multiplies it by 1e12.
    config = tiny(epochs=2, lr=1e-3, schedule="step", step_size=1, gamma=1e12, max_train_samples=512)
    with pytest.raises(
        TrainingError,
        match=r"diverged.* in epoch 2 .*last \(epoch 1, step 8\) is the last good checkpoint; "
        r"resume from it with a lower learning rate: `resume=True, lr=0.0001`",
    ):
        train(config, tmp_path)
    assert load_checkpoint(tmp_path / "last")[2]["epoch"] == 1
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 1


def test_an_exploding_loss_stops_the_run_before_any_checkpoint(tmp_path):
    with pytest.raises(
        TrainingError,
        match=r"diverged: its mean loss (became nan|reached .* over 100x that of chance).*"
        r"no checkpoint was written; start again with .*`lr=100000` .*`clip_norm=1.0`",
    ):
        train(tiny(epochs=1, lr=1e6, max_train_samples=512), tmp_path)
    assert not (tmp_path / "last").exists()


def test_a_nan_test_loss_writes_no_checkpoint_for_its_epoch(tmp_path, monkeypatch):
    real = engine.make_source_evaluator

    def nan_after_epoch_1(*args, **kwargs):
        evaluate, calls = real(*args, **kwargs), []

        def wrapped(model, state):
            calls.append(1)
            return evaluate(model, state) if len(calls) == 1 else {"test_loss": float("nan"), "test_acc": 0.1}

        return wrapped

    monkeypatch.setattr(engine, "make_source_evaluator", nan_after_epoch_1)
    with pytest.raises(TrainingError, match=r"test loss became nan after epoch 2; .*last \(epoch 1"):
        train(tiny(max_train_samples=256), tmp_path)
    assert load_checkpoint(tmp_path / "last")[2]["epoch"] == load_checkpoint(tmp_path / "best")[2]["epoch"] == 1
    assert [json.loads(x)["epoch"] for x in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [1]


def test_a_failed_save_leaves_no_metrics_row(tmp_path, monkeypatch):
    real = engine.save_checkpoint

    def full_disk_in_epoch_2(path, *args, metadata, **kwargs):
        if metadata.epoch == 2:
            raise CheckpointError(f"cannot write {path}: No space left on device")
        return real(path, *args, metadata=metadata, **kwargs)

    monkeypatch.setattr(engine, "save_checkpoint", full_disk_in_epoch_2)
    with pytest.raises(CheckpointError, match="No space left"):
        train(tiny(max_train_samples=256), tmp_path)
    assert [json.loads(x)["epoch"] for x in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [1]


def test_resume_refuses_settings_that_define_the_run(finished):
    _, run_dir = finished
    for change, saved in [
        (dict(model="alexnet"), "'preact_resnet'"),
        (dict(batch_size=32), "64"),
        (dict(seed=1), "0"),
        (dict(optimizer="sgd"), "'adam'"),
    ]:
        [(name, value)] = change.items()
        refused = rf"`{name}={value!r}` differs from the resumed run's {saved}: .*; drop `{name}`, .*another `run_dir`$"
        with pytest.raises(ConfigError, match=refused):
            train(TrainConfig(**change), run_dir, resume=True)
    with pytest.raises(ConfigError, match="the dataset 'cifar10' differs .*'mnist'.*; give `dataset='mnist'`, or"):
        train(TrainConfig(dataset="cifar10"), run_dir, resume=True)
    with pytest.raises(ConfigError, match="below the 2 epochs"):
        train(TrainConfig(epochs=1), run_dir, resume=True)


def test_epochs_extend_a_finished_run_on_a_recomputed_schedule(tmp_path):
    first = train(tiny(epochs=1, schedule="cosine", max_train_samples=256), tmp_path)
    extended = train(TrainConfig(epochs=2), tmp_path, resume=True)
    assert [untimed(h) for h in extended.history[:1]] == [untimed(h) for h in first.history]
    assert len(extended.history) == 2 and extended.config.epochs == 2
    steps, two_epochs = 256 // 64, dataclasses.replace(first.config, epochs=2)
    # The cosine now spans two epochs: epoch 2 ends where the longer schedule ends, epoch 1's rate was not its end.
    assert extended.history[1]["lr"] == pytest.approx(float(learning_rate_schedule(two_epochs, steps)(2 * steps - 1)))
    assert first.history[0]["lr"] != pytest.approx(float(learning_rate_schedule(two_epochs, steps)(steps - 1)))


def test_a_run_stopped_within_an_epoch_resumes_to_the_same_bytes(finished, tmp_path, monkeypatch):
    result, run_dir = finished
    real, calls = engine.make_run_steps, []

    def sigterm_as_step_10_of_epoch_2_is_queued(*args, **kwargs):
        run_steps = real(*args, **kwargs)

        def queue(*args):
            calls.append(1)
            if len(calls) == 32 + 10:  # one step a call on the CPU, 32 an epoch
                os.kill(os.getpid(), signal.SIGTERM)
            return run_steps(*args)

        return queue

    monkeypatch.setattr(engine, "make_run_steps", sigterm_as_step_10_of_epoch_2_is_queued)
    # The loop reads the loss every 4 steps of 32 (read_every): the stop waits for the read after step 12.
    with pytest.raises(Interrupted, match=r"stopped by SIGTERM in epoch 2 after step 12"):
        train(tiny(), tmp_path)
    meta = load_checkpoint(tmp_path / "last")[2]
    assert (meta["epoch"], meta["step"], meta["partial_epoch"]["steps"]) == (1, 32 + 12, 12)
    monkeypatch.undo()
    resumed = train(TrainConfig(), tmp_path, resume=True)
    assert [untimed(h) for h in resumed.history] == [untimed(h) for h in result.history]
    for a, b in zip(arrays(load_checkpoint(run_dir / "last")[:2]), arrays(load_checkpoint(tmp_path / "last")[:2])):
        np.testing.assert_array_equal(a, b)


def test_a_moving_average_is_evaluated_saved_and_resumed_to_the_same_bytes(tmp_path):
    # 600 images held out of the training split; last/ written at step 40, within epoch 2 (32 steps an epoch).
    config = tiny(ema_decay=0.9, val_fraction=0.01, checkpoint_every=40)
    whole = train(config, tmp_path / "whole")

    def stop_hard_in_epoch_2(event):
        if event["event"] == "steps" and event["epoch"] == 2 and event["step"] >= 12:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "cut", on_progress=stop_hard_in_epoch_2)
    assert read_metadata(tmp_path / "cut" / "last")["partial_epoch"]["steps"] == 8
    resumed = train(TrainConfig(), tmp_path / "cut", resume=True)
    assert [untimed(h) for h in resumed.history] == [untimed(h) for h in whole.history]
    for name in ("best", "last"):  # the weights, their average and the optimiser state holding it, bitwise
        hashes = [read_metadata(tmp_path / run / name)["sha256"] for run in ("whole", "cut")]
        assert hashes[0] == hashes[1] and {"model.eqx", "ema.eqx"} <= set(hashes[0])
    meta = RunMetadata.from_dict(read_metadata(tmp_path / "whole" / "last"))
    evaluate = run_evaluator(meta, meta.data_dir)  # the held-out images, as in training
    averaged = load_checkpoint(tmp_path / "whole" / "last", ema=True)
    average = evaluate(*averaged[:2])
    assert average == {k: whole.final[k] for k in ("test_loss", "test_acc")}
    assert evaluate(*load_checkpoint(tmp_path / "whole" / "last")[:2])["test_loss"] != average["test_loss"]
    # Another run started from this checkpoint starts from the weights it evaluated: the average.
    init = tiny(epochs=1, max_train_samples=256, init=str(tmp_path / "whole" / "last"), freeze_backbone=True)
    train(init, tmp_path / "init")
    backbone = lambda m: eqx.tree_at(lambda m: m.fc, m, None)
    started, _, meta = load_checkpoint(tmp_path / "init" / "last")
    assert meta["weights"]["sha256"] == hashes[0]["ema.eqx"]
    for a, b in zip(arrays(backbone(averaged[0])), arrays(backbone(started))):
        np.testing.assert_array_equal(a, b)


def test_checkpoints_every_n_steps(tmp_path):
    def stop_hard_at_step_12(event):
        if event["event"] == "steps" and event["step"] == 12:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(tiny(epochs=1, checkpoint_every=5, max_train_samples=1024), tmp_path, on_progress=stop_hard_at_step_12)
    meta = load_checkpoint(tmp_path / "last")[2]
    assert (meta["step"], meta["partial_epoch"]["steps"]) == (10, 10)


def test_a_second_writer_is_refused(tmp_path):
    with RunLock(tmp_path), pytest.raises(TrainingError, match="choose another `run_dir`"):
        train(tiny(), tmp_path)


def test_refuses_to_overwrite_or_resume_nothing(finished, tmp_path):
    _, run_dir = finished
    with pytest.raises(TrainingError, match="continue it with `resume=True`"):
        train(tiny(), run_dir)
    with pytest.raises(TrainingError, match="nothing to resume: .* holds no checkpoint; start the run without `resume"):
        train(tiny(), tmp_path / "empty", resume=True)
    assert not (tmp_path / "empty").exists()
    with pytest.raises(ConfigError, match="`resume_from='best'` applies to a resumed run: add `resume=True`"):
        train(tiny(), tmp_path / "new", resume_from="best")
    with pytest.raises(ConfigError, match="`resume_from` must be one of last, best, got 'first'"):
        train(tiny(), run_dir, resume=True, resume_from="first")


def files(directory) -> dict[str, bytes | None]:
    """Every entry under `directory`, with a file's bytes."""
    return {str(p.relative_to(directory)): p.read_bytes() if p.is_file() else None for p in directory.rglob("*")}


LEFTOVER = ".tmp-last-new-0123456789ab"  # the folder a save writes in before renaming it to last/


@pytest.mark.parametrize(
    "made, way",
    [
        (
            ["best", "metrics.jsonl"],
            r"last/ holds no checkpoint: continue from best/ with `resume=True, resume_from=\"best\"`",
        ),
        ([LEFTOVER], "continue it with `resume=True`"),  # a complete checkpoint, cut short before its rename
        ([LEFTOVER + "/model.eqx"], "none is a checkpoint to continue from: choose another `run_dir`, or move them"),
        (["metrics.jsonl"], "none is a checkpoint to continue from"),
    ],
    ids=["best-and-metrics", "complete-leftover", "incomplete-leftover", "metrics-only"],
)
def test_a_new_run_refuses_a_directory_holding_a_run_and_changes_nothing(finished, tmp_path, made, way):
    _, done = finished
    for name in made:
        if name.endswith(("model.eqx", "metrics.jsonl")):
            (tmp_path / name).parent.mkdir(exist_ok=True)
            shutil.copy(done / ("last/model.eqx" if name.endswith("model.eqx") else name), tmp_path / name)
        else:
            shutil.copytree(done / ("last" if name == LEFTOVER else name), tmp_path / name)
    before = files(tmp_path)
    listed = ", ".join(sorted(name.split("/")[0] + "/" * (name != "metrics.jsonl") for name in made))
    with pytest.raises(
        TrainingError, match=rf"{re.escape(str(tmp_path))} already holds a run \({re.escape(listed)}\); {way}"
    ):
        train(tiny(), tmp_path)
    assert files(tmp_path) == before  # no .lock either


def test_a_run_that_fails_before_it_starts_leaves_nothing(tmp_path):
    bad = tiny(model_options={"depth": 9})  # refused when the model is built, after the run directory is locked
    with pytest.raises(ConfigError, match="cannot build preact_resnet"):
        train(bad, tmp_path / "runs" / "a")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / ".lock").write_text("")  # a lock file of an earlier run stays too
    with pytest.raises(ConfigError, match="cannot build preact_resnet"):
        train(bad, tmp_path / "mine")
    assert files(tmp_path) == {"mine": None, "mine/.lock": b""}


def test_resume_from_best_starts_from_its_weights_with_a_fresh_optimiser(tmp_path):
    run, kept = tmp_path / "run", tmp_path / "best-of-epoch-1"
    train(tiny(epochs=1, max_train_samples=256), run)
    shutil.copytree(run / "best", kept)
    train(TrainConfig(epochs=2), run, resume=True)
    shutil.rmtree(run / "best")
    shutil.copytree(kept, run / "best")  # best/ at epoch 1, last/ at epoch 2
    data = bytearray((run / "last" / "opt_state.eqx").read_bytes())
    data[-8:] = bytes(b ^ 0xFF for b in data[-8:])
    (run / "last" / "opt_state.eqx").write_bytes(bytes(data))
    with pytest.raises(
        TrainingError,
        match=r"cannot resume from .*last: .*opt_state\.eqx is corrupt: its SHA-256 .*; .*best is intact: continue from "
        r'its weights with a fresh optimiser state, `resume=True, resume_from="best"`, or start a new run in another',
    ):
        train(TrainConfig(), run, resume=True)
    events = []
    # A zero learning rate leaves the weights where they started: best's, not last's.
    result = train(TrainConfig(epochs=2, lr=0.0), run, resume=True, resume_from="best", on_progress=events.append)
    assert (events[0]["epoch"], events[0]["step"], events[0]["resumed_from"]) == (1, 4, "best")
    model, _, meta = load_checkpoint(kept)
    assert [untimed(h) for h in result.history[:1]] == [untimed(h) for h in meta["history"]] and len(
        result.history
    ) == 2
    like = build_optimizer(result.config, 4).init(eqx.filter(model, eqx.is_inexact_array))
    resumed, _, meta, opt_state = load_checkpoint(run / "last", opt_state_like=like)
    for a, b in zip(arrays(eqx.filter(model, eqx.is_inexact_array)), arrays(eqx.filter(resumed, eqx.is_inexact_array))):
        np.testing.assert_array_equal(a, b)
    counted = (optax.ScaleByAdamState, optax.ScaleByScheduleState)
    leaves = jax.tree.leaves(opt_state, is_leaf=lambda s: isinstance(s, counted))
    counts = {type(s).__name__: int(s.count) for s in leaves if isinstance(s, counted)}
    # Adam's moments started afresh 4 steps ago; the learning-rate schedule stands at step 8.
    assert counts == {"ScaleByAdamState": 4, "ScaleByScheduleState": 8}
    assert meta["restarts"] == [{"epoch": 1, "step": 4, "from": "best"}]
    assert [json.loads(x)["epoch"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2]


def test_early_stopping(tmp_path):
    # A zero learning rate never improves test accuracy after the first epoch.
    result = train(tiny(epochs=5, lr=0.0, schedule="constant", patience=1, max_train_samples=256), tmp_path)
    assert len(result.history) == 2


def test_steps_per_call():
    assert steps_per_call(468, "cpu") == 1
    assert steps_per_call(468, "accelerator") == 18  # the largest divisor of 468 up to 468 // 20 = 23
    assert steps_per_call(7, "accelerator") == 1


def test_read_every():
    assert [read_every(n) for n in (1, 8, 9, 64, 200, 5004)] == [1, 1, 2, 8, 25, 25]  # an eighth, at most 25 steps


def test_an_epoch_of_64_steps_reads_the_device_as_often_as_one_of_8(tmp_path, monkeypatch):
    """The loop leaves each step's loss and accuracy on the device until its read points (8 an epoch here).
    It runs under a transfer guard that disallows implicit device-to-host reads, which catches them on an
    accelerator; XLA:CPU's reads are zero-copy and pass the guard (jax-ml/jax#16602), so the test also
    counts every fetch of an array's value (`float()`, `int()`, `jax.device_get`, ...)."""
    reads, real_value, real_epoch = [], jax_array.ArrayImpl._value, engine._epoch_steps

    def counted(self):
        reads[-1] += 1
        return real_value.fget(self)

    def guarded(*args, **kwargs):
        reads.append(0)
        with jax.transfer_guard_device_to_host("disallow"), monkeypatch.context() as patch:
            patch.setattr(jax_array.ArrayImpl, "_value", property(counted))
            return real_epoch(*args, **kwargs)

    monkeypatch.setattr(engine, "_epoch_steps", guarded)
    steps = {}
    for n in (8, 64):
        events = []
        # A checkpoint at half the epoch, a read point anyway: written under the guard, at no extra read.
        config = tiny(epochs=1, batch_size=16, max_train_samples=16 * n, checkpoint_every=n // 2)
        train(config, tmp_path / str(n), on_progress=events.append)
        steps[n] = [e["step"] for e in events if e["event"] == "steps"]
    assert steps == {8: list(range(1, 9)), 64: list(range(8, 65, 8))}
    assert reads == [1 + 8, 1 + 8]  # the epoch's order (InMemorySource), then one read a read point


def test_init_from_another_run_with_a_frozen_backbone(finished, tmp_path):
    _, run_dir = finished
    source = load_checkpoint(run_dir / "last")
    result = train(tiny(epochs=1, max_train_samples=256, init=str(run_dir / "last"), freeze_backbone=True), tmp_path)
    model, _, meta = load_checkpoint(tmp_path / "last")
    assert meta["weights"]["path"] == str((run_dir / "last").absolute()) and len(meta["weights"]["sha256"]) == 64
    frozen = lambda m: eqx.tree_at(lambda m: m.fc, m, None)
    for a, b in zip(arrays(frozen(source[0])), arrays(frozen(model))):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(np.asarray(source[0].fc.weight), np.asarray(model.fc.weight))
    assert result.history[0]["test_acc"] > 0.3  # the loaded backbone, not a random one


def test_pretrained_weights_get_a_new_head_for_other_classes(tmp_path):
    import eqx_resnet
    from eqx_resnet.weights import to_state_dict

    imagenet = eqx_resnet.create_model("resnet18", key=jax.random.key(1))
    path = tmp_path / "resnet18.npz"
    np.savez(path, **to_state_dict(*imagenet))
    config = engine.with_defaults(TrainConfig(init=str(path)), "cpu")
    assert (config.model, config.model_options, config.image_size) == ("resnet18", {}, 224)
    model, state = eqx_resnet.create_model("resnet18", key=jax.random.key(2), num_classes=10, in_channels=1)
    notices = []
    model, state, info = engine._pretrained(config, model, state, notices.append)
    assert "a new head 'fc' is trained" in notices[0]["message"] and model.fc.out_features == 10
    assert info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    np.testing.assert_allclose(
        model.conv1.weight[:, 0], imagenet[0].conv1.weight.sum(1), rtol=1e-6
    )  # RGB summed for grey
    np.testing.assert_array_equal(model.layer4[1].conv2.weight, imagenet[0].layer4[1].conv2.weight)
