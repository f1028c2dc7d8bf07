"""The engine on real MNIST subsets: it learns, resumes exactly, stops on NaN, stops early."""

import json

import equinox as eqx
import jax
import numpy as np
import pytest

from eqx_resnet.training import TrainConfig, TrainingError, load_checkpoint, train
from eqx_resnet.training.engine import steps_per_call

TINY = dict(model="preact_resnet", model_options={"widths": [8, 16, 16], "blocks_per_stage": 1})


def tiny(**overrides) -> TrainConfig:
    base = dict(TINY, epochs=2, batch_size=64, max_train_samples=2048, lr=3e-3, schedule="constant", augment=False)
    return TrainConfig(**{**base, **overrides})


def untimed(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in ("images_per_s", "epoch_time_s")}


def arrays(tree):
    return [np.asarray(x) for x in jax.tree.leaves(eqx.filter(tree, eqx.is_array))]


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
    model, state, meta = load_checkpoint(run_dir / "last")
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
    with pytest.raises(TrainingError, match=r"loss became nan.*last good checkpoint.*epoch 1"):
        train(config, tmp_path)
    assert load_checkpoint(tmp_path / "last")[2]["epoch"] == 1


def test_refuses_to_overwrite_or_resume_nothing(finished, tmp_path):
    _, run_dir = finished
    with pytest.raises(TrainingError, match="--resume"):
        train(tiny(), run_dir)
    with pytest.raises(TrainingError, match="nothing to resume"):
        train(tiny(), tmp_path / "empty", resume=True)


def test_early_stopping(tmp_path):
    # A zero learning rate never improves test accuracy after the first epoch.
    result = train(tiny(epochs=5, lr=0.0, schedule="constant", patience=1, max_train_samples=256), tmp_path)
    assert len(result.history) == 2


def test_steps_per_call():
    assert steps_per_call(468, "cpu") == 1
    assert steps_per_call(468, "accelerator") == 18  # the largest divisor of 468 up to 468 // 20 = 23
    assert steps_per_call(7, "accelerator") == 1
