"""`eqx-resnet train`, `eval`, `predict` and `plot` end to end, through typer's CliRunner."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from eqx_resnet.cli import app
from eqx_resnet.data import load_dataset

DATA = str(Path(__file__).parents[1] / "data")
runner = CliRunner()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    args = ["train", "mnist", "--max-train-samples", "512", "--epochs", "1", "--batch-size", "64",
            "--data-dir", DATA, "--out", str(out), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    final = json.loads(result.stdout.strip().splitlines()[-1])
    assert final["epoch"] == 1 and 0.0 <= final["test_acc"] <= 1.0 and final["model"] == "preact_resnet"
    return out, final


def test_train_then_eval_agree(run_dir):
    out, final = run_dir
    result = runner.invoke(app, ["eval", str(out), "--data-dir", DATA, "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["test_acc"] == pytest.approx(final["test_acc"])
    text = runner.invoke(app, ["eval", str(out), "--data-dir", DATA])
    assert text.stdout.strip().splitlines()[-1].startswith("test accuracy:")


def test_predict_reads_images(run_dir, tmp_path):
    out, _ = run_dir
    test = load_dataset("mnist", "test", DATA)
    paths = []
    for i in range(2):
        path = tmp_path / f"digit{i}.png"
        Image.fromarray(test.images[i, 0]).save(path)
        paths.append(str(path))
    result = runner.invoke(app, ["predict", str(out / "best"), *paths, "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [r["image"] for r in rows] == paths
    assert all(0 <= r["class"] < 10 and 0.0 < r["probability"] <= 1.0 for r in rows)
    bad = runner.invoke(app, ["predict", str(out / "best"), str(tmp_path / "missing.png")])
    assert bad.exit_code == 2 and "cannot read image" in bad.output and "Traceback" not in bad.output


def test_plot(run_dir, tmp_path):
    out, _ = run_dir
    result = runner.invoke(app, ["plot", str(out), "--out", str(tmp_path / "curves.png")])
    if importlib.util.find_spec("matplotlib") is None:
        assert result.exit_code == 1 and "pip install 'eqx-resnet[plot]'" in result.output
    else:
        assert result.exit_code == 0, result.output
        assert np.asarray(Image.open(tmp_path / "curves.png")).ndim == 3


def test_resume_of_a_finished_run_adds_nothing(run_dir):
    out, final = run_dir
    result = runner.invoke(app, ["train", "mnist", "--data-dir", DATA, "--out", str(out), "--resume", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.strip().splitlines()[-1])["test_acc"] == final["test_acc"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "mnist", "--epochs", "0"], "--epochs"),
        (["train", "imagenet"], "imagenet"),
        (["train", "mnist", "--data-dir", "/nonexistent-dir", "--max-train-samples", "64"], "missing"),
        (["eval", "/nonexistent-run"], "neither a checkpoint"),
        (["plot", "/nonexistent-run"], "metrics.jsonl"),
    ],
)
def test_bad_input_is_one_clear_error(args, message, monkeypatch, tmp_path):
    import pooch
    import requests

    monkeypatch.chdir(tmp_path)  # the default --out, runs/DATASET, must not be a run from the checkout

    def offline(*a, **k):
        raise requests.exceptions.ConnectionError("no network")

    monkeypatch.setattr(pooch, "retrieve", offline)
    result = runner.invoke(app, args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
