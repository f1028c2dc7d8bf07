"""`eqx-resnet eval` and `predict` (cli/evaluate.py) through the CLI: `eval` reads the data where it is and
refuses, in one line, a data directory that is gone or that cannot hold the run's dataset, creating
nothing; `predict`'s text output escapes the control characters of class and file names."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from _runs import TINY_TRAIN_ARGS
from PIL import Image
from typer.testing import CliRunner

from eqx_resnet.cli import app
from eqx_resnet.data import load_dataset

DATA = Path(__file__).parents[1] / "data"
runner = CliRunner()


@pytest.fixture(scope="module")
def moved(tmp_path_factory):
    """`(run directory, where its data is now)`: a tiny MNIST run trained on a copy of data/mnist/ in
    `data/`, since renamed `moved/`."""
    root = tmp_path_factory.mktemp("eval")
    shutil.copytree(DATA / "mnist", root / "data" / "mnist")
    out = root / "run"
    args = ["train", "mnist", *TINY_TRAIN_ARGS, "--max-train-samples", "64", "--epochs", "1"]
    result = runner.invoke(app, [*args, "--data-dir", str(root / "data"), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    (root / "data").rename(root / "moved")
    return out, root / "moved"


def one_line(result) -> str:
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1, result.output
    return result.output


def test_eval_refuses_a_moved_data_directory_naming_it_and_creates_nothing(moved, tmp_path, monkeypatch):
    out, data = moved
    recorded = data.parent / "data"
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["eval", str(out)])
    assert result.exit_code == 2
    assert f"the run's recorded data directory {recorded} is missing: pass --data-dir with the folder" in one_line(
        result
    )
    assert not recorded.exists() and not any(tmp_path.iterdir())
    result = runner.invoke(app, ["eval", str(out), "--data-dir", str(data), "--json"])  # the fix
    assert result.exit_code == 0, result.output
    assert 0.0 <= json.loads(result.stdout)["test_acc"] <= 1.0


@pytest.mark.parametrize(
    "data_dir, message",
    [
        ("hf:some/name", "hf:some/name is a Hugging Face Hub dataset, which only imagefolder and imagenet read"),
        ("nowhere", "--data-dir nowhere is missing: pass --data-dir with the folder that holds mnist/ now"),
        ("empty", "--data-dir empty has no mnist/ folder: pass --data-dir with the folder that holds mnist/ now"),
    ],
)
def test_eval_refuses_a_data_dir_without_the_runs_dataset_and_creates_nothing(
    moved, data_dir, message, tmp_path, monkeypatch
):
    out, _ = moved
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["eval", str(out), "--data-dir", data_dir])
    assert result.exit_code == 2 and message in one_line(result)
    assert [p.name for p in tmp_path.rglob("*")] == ["empty"]


def test_predict_escapes_control_characters_of_class_and_file_names(moved, tmp_path):
    out, data = moved
    checkpoint = tmp_path / "checkpoint"
    shutil.copytree(out / "best", checkpoint)
    names = ["\x1b[31mRED", "new\nline", "[bold]b", "tab\there", "\u202eevil", *map(str, range(5, 10))]
    meta = json.loads((checkpoint / "metadata.json").read_text())
    (checkpoint / "metadata.json").write_text(json.dumps({**meta, "class_names": names}))
    image = tmp_path / "digit\x1b[2J\n.png"
    Image.fromarray(load_dataset("mnist", "test", data).images[0, 0]).save(image)

    result = runner.invoke(app, ["predict", str(checkpoint), str(image), "--top", "10"])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout and "\t" not in result.stdout and "\u202e" not in result.stdout
    assert result.stdout.count("\n") == 1 and result.stdout.startswith(str(tmp_path / "digit\\x1b[2J\\n.png: "))
    for shown in ("\\x1b[31mRED (", "new\\nline (", "[bold]b (", "tab\\there (", "\\u202eevil ("):
        assert shown in result.stdout
    # --json holds the names themselves, escaped by JSON.
    rows = json.loads(runner.invoke(app, ["predict", str(checkpoint), str(image), "--top", "10", "--json"]).stdout)
    assert sorted(r["label"] for r in rows["top"]) == sorted(names) and rows["image"] == str(image)
    assert np.isclose(sum(r["probability"] for r in rows["top"]), 1.0, atol=1e-5)


def test_eval_and_predict_use_the_moving_average_the_run_evaluated_unless_told_raw(tmp_path):
    out, image = tmp_path / "run", tmp_path / "digit.png"
    args = [
        *TINY_TRAIN_ARGS,
        "--max-train-samples",
        "256",
        "--epochs",
        "1",
        "--ema-decay",
        "0.9",
        "--val-fraction",
        "0.01",
    ]
    trained = runner.invoke(app, ["train", "mnist", *args, "--data-dir", str(DATA), "--out", str(out)])
    assert trained.exit_code == 0, trained.output
    final = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert trained.stdout.splitlines()[-1] == f"held-out accuracy: {final['test_acc']:.2%}"  # not "test accuracy"
    ema = json.loads(runner.invoke(app, ["eval", str(out), "--json"]).stdout)
    assert ema["weights"] == "ema" and (ema["test_loss"], ema["test_acc"]) == (final["test_loss"], final["test_acc"])
    raw = runner.invoke(app, ["eval", str(out), "--raw"]).stdout
    assert f"on mnist held-out ({out}/best, trained weights): loss " in raw and "held-out accuracy: " in raw
    assert f"loss {ema['test_loss']:.4f}" not in raw
    Image.fromarray(load_dataset("mnist", "test", DATA).images[0, 0]).save(image)
    predicted = runner.invoke(app, ["predict", str(out), str(image), "--raw", "--json"])
    assert json.loads(predicted.stdout)["weights"] == "raw" and f"{out}: the trained weights" in predicted.stderr


def test_eval_refuses_ema_for_a_run_that_kept_none(moved):
    out, _ = moved
    result = runner.invoke(app, ["eval", str(out), "--ema"])
    assert result.exit_code == 2
    assert f"{out}/best holds no moving average of the weights (its run had no --ema-decay): drop --ema" in one_line(
        result
    )
