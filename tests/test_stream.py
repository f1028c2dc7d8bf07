"""Image folders streamed through grain (data/stream.py) and trained on end to end: batches that
depend on the key and the position alone (any number of workers, resumed at any step), evaluation
that counts every image once, unreadable files skipped or refused, the CLI on a folder, and a run
with worker processes stopped by a signal to its whole process group."""

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import jax
import numpy as np
import pytest
from _folders import CLASSES, make_folder
from _runs import TINY_MODEL_ARGS
from _trees import arrays, untimed
from typer.testing import CliRunner

from eqx_resnet.cli import app
from eqx_resnet.data import DatasetError
from eqx_resnet.data.folder import folder_info, open_splits
from eqx_resnet.data.stream import BadImageWarning, DataWaitWarning, StreamingSource
from eqx_resnet.data.transforms import EvalTransform, TrainTransform
from eqx_resnet.training import Interrupted, TrainConfig, load_checkpoint, train

runner = CliRunner()
TINY = dict(
    model="preact_resnet",
    model_options={"widths": [4, 8, 8], "blocks_per_stage": 1},
    image_size=16,
    batch_size=8,
    epochs=2,
    lr=3e-3,
    schedule="constant",
    workers=0,
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """3 classes x 24 training and 6 validation images of mixed sizes, formats and modes."""
    return make_folder(tmp_path_factory.mktemp("images"))


def source(folder, *, workers=0, split=0, batch_size=8, **kwargs):
    splits = open_splits("imagefolder", folder)
    info = folder_info("imagefolder", splits[0].classes, 16)
    transform = TrainTransform(16) if split == 0 else EvalTransform(16)
    return StreamingSource(splits[split], info, batch_size, transform, workers=workers, shuffle=split == 0, **kwargs)


def epoch(src, key, start=0, steps=1):
    """`[(first step, images, labels)]` of an epoch from `start`, as numpy."""
    return [
        (first, np.asarray(images), np.asarray(labels)) for first, (images, labels) in src.chunks(key, start, steps)
    ]


def test_an_epoch_depends_on_its_key_alone_and_resumes_at_any_step(folder):
    src, key = source(folder), jax.random.key(0, impl="rbg")
    full = epoch(src, key)
    assert src.steps_per_epoch == 9 and [f for f, _, _ in full] == list(range(9))
    images, labels = np.concatenate([x for _, x, _ in full]), np.concatenate([y for _, _, y in full])
    assert images.shape == (9, 8, 3, 16, 16) and images.dtype == np.uint8 and labels.dtype == np.int32
    assert np.bincount(labels.ravel()).tolist() == [24, 24, 24]  # every image once, shuffled
    # The class's colour dominates its colour images (7 in 12, tests/_folders.py): the labels are the images'.
    dominant = images.reshape(72, 3, -1).astype(float).mean(-1).argmax(-1)
    assert (dominant == labels.ravel()).mean() > 0.6  # 7/12 + 5/12 x 1/3 = 0.72; 1/3 if they were not
    for (f, x, y), (g, u, v) in zip(full[4:], epoch(src, key, start=4), strict=True):
        assert f == g and np.array_equal(x, u) and np.array_equal(y, v)
    other = epoch(src, jax.random.key(1, impl="rbg"))
    assert not np.array_equal(labels, np.concatenate([y for _, _, y in other]))
    pairs = epoch(src, key, start=2, steps=2)  # chunks of two steps, the last one shorter
    assert [(f, x.shape[0]) for f, x, _ in pairs] == [(2, 2), (4, 2), (6, 2), (8, 1)]
    assert np.array_equal(np.concatenate([x for _, x, _ in pairs]), images[2:])
    assert src.throughput["loader_images_per_s"] > 0  # the step's figures come from the training loop
    batch = jax.jit(src.take)((images[3:5], labels[3:5]), 4, 1)
    assert np.array_equal(batch[0], images[4]) and np.array_equal(batch[1], labels[4])


def test_two_worker_processes_give_the_same_batches(folder):
    key = jax.random.key(5, impl="rbg")
    alone, workers = epoch(source(folder), key, start=3), epoch(source(folder, workers=2), key, start=3)
    for (f, x, y), (g, u, v) in zip(alone, workers, strict=True):
        assert f == g and np.array_equal(x, u) and np.array_equal(y, v)


def test_evaluation_reads_every_image_once_in_order(folder):
    src = source(folder, split=1, batch_size=4)
    assert src.steps_per_epoch == 5
    with pytest.raises(ValueError, match="evaluation source key=None"):
        next(src.chunks(jax.random.key(0), 0, 1))
    labels = np.concatenate([y.ravel() for _, _, y in epoch(src, None)])
    assert labels.tolist() == [0] * 6 + [1] * 6 + [2] * 6 + [-1, -1]  # the last batch padded


def test_an_unreadable_image_is_skipped_with_a_warning(tmp_path):
    root = make_folder(tmp_path, train=40, val=2)  # 120 training images
    bad = root / "train" / "dog" / "007.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    src, key = source(root), jax.random.key(0, impl="rbg")
    with pytest.warns(BadImageWarning, match=f"skipped unreadable image {bad}: .*(1 so far)"):
        labels = np.concatenate([y.ravel() for _, _, y in epoch(src, key)])
    assert len(labels) == 120 and labels.min() >= 0  # the next file in the epoch's order took its place
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a file is reported once, not every epoch
        epoch(src, jax.random.key(1, impl="rbg"))
    assert list(src.bad) == [int(np.flatnonzero([p.endswith(b"dog/007.png") for p in src.split.paths])[0])]
    # In evaluation, its row counts nowhere.
    (root / "val" / "cat" / "001.png").write_bytes(b"")
    with pytest.warns(BadImageWarning, match="val/cat/001.png"):
        labels = np.concatenate([y.ravel() for _, _, y in epoch(source(root, split=1, batch_size=6), None)])
    assert labels.tolist() == [0, -1, 1, 1, 2, 2]
    # More than 1% of a split unreadable stops the run.
    (root / "train" / "owl" / "000.jpg").write_bytes(b"junk")
    with (
        pytest.raises(
            DatasetError,
            match=r"2 of the 120 images in .*train are unreadable, more than 1% \(the last: .*: "
            r".*\): repair or remove them",
        ),
        pytest.warns(BadImageWarning),
    ):
        epoch(source(root), key)


def test_train_eval_and_predict_an_image_folder_from_the_cli(folder, tmp_path):
    out = tmp_path / "run"
    args = [
        "train",
        "imagefolder",
        "--data-dir",
        str(folder),
        *TINY_MODEL_ARGS,
        "--image-size",
        "16",
        "--batch-size",
        "8",
        "--epochs",
        "1",
        "--workers",
        "0",
        "--out",
        str(out),
        "--no-compilation-cache",
        "--json",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    final = json.loads(result.stdout.strip().splitlines()[-1])
    assert final["dataset"] == "imagefolder" and final["epoch"] == 1
    meta = json.loads((out / "best" / "metadata.json").read_text())
    assert meta["class_names"] == list(CLASSES) and meta["model_options"]["num_classes"] == 3
    assert meta["preprocessing"] == {
        "crop_size": 16,
        "crop_pct": 0.875,
        "interpolation": "bilinear",
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
        "source_size": None,
    }
    result = runner.invoke(app, ["eval", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["test_acc"] == pytest.approx(final["test_acc"])  # all 18 validation images
    images = [folder / "val" / name / "000.jpg" for name in CLASSES]
    result = runner.invoke(app, ["predict", str(out), *map(str, images), "--top", "3", "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["image"] for r in rows] == list(map(str, images))
    assert all(sorted(t["label"] for t in r["top"]) == sorted(CLASSES) for r in rows)
    result = runner.invoke(app, ["train", "imagefolder", "--data-dir", str(tmp_path), "--out", str(tmp_path / "x")])
    assert result.exit_code == 1 and f"{tmp_path} has no train/ folder" in " ".join(result.output.split())


def test_a_run_stopped_mid_epoch_resumes_to_the_same_bytes(folder, tmp_path):
    config = TrainConfig(dataset="imagefolder", **TINY)
    events = []
    straight = train(config, tmp_path / "straight", data_dir=folder, on_progress=events.append)
    steps = [e for e in events if e["event"] == "steps"]
    # Read points every 2 steps of 9 (engine.read_every), each with the loader's and the device's figures.
    assert [e["step"] for e in steps] == [2, 4, 6, 8, 9] * 2
    assert all({"loader_images_per_s", "step_images_per_s", "data_wait"} <= set(e) for e in steps)
    assert all(e["step_images_per_s"] > 0 and 0 <= e["data_wait"] < 1 for e in steps)

    def sigterm_at_step_4_of_epoch_2(event):
        if event["event"] == "steps" and (event["epoch"], event["step"]) == (2, 4):
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(Interrupted, match="epoch 2 after step 4"):
        train(config, tmp_path / "cut", data_dir=folder, on_progress=sigterm_at_step_4_of_epoch_2)
    resumed = train(TrainConfig(workers=2), tmp_path / "cut", resume=True)  # workers may change on resume
    assert [untimed(h) for h in resumed.history] == [untimed(h) for h in straight.history]
    for a, b in zip(
        *(arrays(load_checkpoint(d / "last")[:2]) for d in (tmp_path / "straight", tmp_path / "cut")), strict=True
    ):
        np.testing.assert_array_equal(a, b)


class SlowTransform:
    """The evaluation crop, 5 ms late: a loader slower than the step that reads it."""

    size = 16

    def __call__(self, path, rng):
        time.sleep(0.005)
        return EvalTransform(16)(path, rng)


def test_a_device_waiting_on_data_is_warned_about_once(folder):
    src = source(folder, batch_size=2)
    src.transform = SlowTransform()
    with pytest.warns(
        DataWaitWarning, match=r"the device waited on data \d+% of the time: .* raise `workers`"
    ) as caught:
        last = None
        for _ in src.chunks(jax.random.key(0), 0, 1):
            now = time.perf_counter()
            if last is not None:  # as the training loop reports a step of 1 ms, then a wait for the next batch
                src.device_time(1, 0.001, now - last)
            last = now
    assert len(caught) == 1 and src.throughput["data_wait"] > 0.5
    assert src.throughput["step_images_per_s"] == pytest.approx(2 / 0.001)


def test_a_device_that_keeps_busy_or_waits_on_a_fast_loader_is_not_warned_about(folder):
    src = source(folder, batch_size=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWaitWarning)
        for _ in src.chunks(jax.random.key(0), 0, 1):
            src.device_time(1, 10.0, 10.0)  # a step of 10 s: the loader keeps up
    assert src.throughput["data_wait"] == 0 and src.throughput["step_images_per_s"] == pytest.approx(0.2)
    src = source(folder, batch_size=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWaitWarning)
        for _ in src.chunks(jax.random.key(0), 0, 1):
            src.device_time(1, 10.0, 20.0)  # the device waits half the time, but not on the loader
    assert src.throughput["data_wait"] == pytest.approx(0.5)


def test_unreadable_images_are_named_ten_times_then_counted_and_recorded(tmp_path):
    """Through the CLI: a line for each of the first ten unreadable images, then one counting them all (not a
    two-line Python warning for every file), and the count in each epoch's row of metrics.jsonl and the run."""
    root = make_folder(tmp_path / "data", train=404, val=2)  # 1,212 training images: 12 are under 1%
    corrupt = sorted((root / "train").glob("*/*"))[::101][:12]
    for path in corrupt:
        path.write_bytes(b"not an image")
    args = ["train", "imagefolder", "--data-dir", str(root), *TINY_MODEL_ARGS, "--image-size", "8"]
    args += ["--batch-size", "64", "--epochs", "1", "--workers", "0", "--out", str(tmp_path / "run")]
    args += ["--no-compilation-cache"]
    result = subprocess.run(
        [sys.executable, "-c", "from eqx_resnet.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    about = [line for line in result.stderr.splitlines() if "unreadable" in line]
    named = [f"warning: skipped unreadable image {path}: cannot identify image file" for path in corrupt]
    assert len(about) == 11 and all(a.startswith(tuple(named)) for a in about[:10]), result.stderr
    assert about[10] == (
        f"warning: skipped 12 unreadable images of {root / 'train'} so far (the first 10 named above); "
        "repair or remove them"
    )
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [row["skipped_images"] for row in rows] == [12]
    meta = json.loads((tmp_path / "run" / "last" / "metadata.json").read_text())
    assert meta["metrics"]["skipped_images"] == 12


def worker_processes(pid: int) -> list[int]:
    """The loader's worker processes of process `pid` (its children that multiprocessing spawned, not its
    resource tracker), from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if parent == pid and b"multiprocessing.spawn" in command:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT"])
def test_a_signal_to_the_process_group_stops_a_run_and_its_workers_cleanly(folder, tmp_path, signal_name):
    """SIGTERM to the whole process group (as a scheduler sends it) or a Ctrl-C at a terminal reaches the
    workers too: they used to die under the run (a bug report, tracebacks, semaphores leaked); the run
    now stops at a step boundary with its one line and stops its workers itself."""
    args = ["train", "imagefolder", "--data-dir", str(folder), *TINY_MODEL_ARGS, "--image-size", "16"]
    args += ["--batch-size", "8", "--epochs", "20", "--workers", "2", "--out", str(tmp_path / "run")]
    args += ["--no-compilation-cache"]
    child = subprocess.Popen(
        [sys.executable, "-c", "from eqx_resnet.cli import main; main()", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    try:
        seen = []
        for line in child.stderr:  # the first epoch's line: from now on a Ctrl-C stops at a step boundary
            seen.append(line)
            if line.startswith("epoch   1"):
                break
        assert seen and seen[-1].startswith("epoch   1"), "".join(seen)
        while len(worker_processes(child.pid)) < 2 and child.poll() is None:  # the next epoch's workers
            time.sleep(0.05)
        os.killpg(child.pid, getattr(signal, signal_name))
        _, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    assert child.returncode == 128 + getattr(signal, signal_name), err
    *epochs, last = err.strip().splitlines()  # no worker's traceback, no semaphore leaked
    assert last.startswith(f"stopped by {signal_name} in epoch ") and all(e.startswith("epoch ") for e in epochs), err
