"""`eqx-resnet train`, `eval`, `predict` and `plot` end to end, through typer's CliRunner."""

import json
import shutil
import sys
import typing
from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from eqx_resnet.cli import app
from eqx_resnet.data import Preprocessing, load_dataset
from eqx_resnet.models import list_models
from eqx_resnet.training import RunMetadata, read_metadata

DATA = str(Path(__file__).parents[1] / "data")
runner = CliRunner()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    cache = out.parent / "cache"
    args = [
        "train",
        "mnist",
        "--max-train-samples",
        "512",
        "--epochs",
        "1",
        "--batch-size",
        "64",
        "--data-dir",
        DATA,
        "--out",
        str(out),
        "--compilation-cache",
        str(cache),
        "--json",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    final = json.loads(result.stdout.strip().splitlines()[-1])
    assert final["epoch"] == 1 and 0.0 <= final["test_acc"] <= 1.0 and final["model"] == "preact_resnet"
    return out, final


def test_a_run_fills_the_compilation_cache_and_records_itself(run_dir):
    out, _ = run_dir
    assert any((out.parent / "cache").iterdir())  # the next run of the same command skips compiling
    meta = RunMetadata.from_dict(read_metadata(out / "last"))
    assert (meta.model, meta.model_options) == (
        "preact_resnet",
        {"num_classes": 10, "in_channels": 1, "widths": [16, 32, 64], "blocks_per_stage": 2, "stem_stride": 2},
    )
    assert meta.parameters == 174_746 and meta.dataset == "mnist" and meta.data_dir == str(Path(DATA).absolute())
    assert meta.class_names == [str(d) for d in range(10)] and meta.precision == "fp32"
    assert meta.preprocessing == Preprocessing(28, None, mean=(0.1307,), std=(0.3081,), source_size=28)
    assert (meta.epoch, meta.step) == (1, 512 // 64) and meta.metrics == meta.history[-1]
    assert meta.config["max_train_samples"] == 512 and meta.versions["eqx-resnet"] and meta.command


def test_explicit_model_trains_with_its_own_defaults(tmp_path):
    args = [
        "train",
        "mnist",
        "--model",
        "preact_resnet",
        "--max-train-samples",
        "64",
        "--epochs",
        "1",
        "--batch-size",
        "64",
        "--data-dir",
        DATA,
        "--out",
        str(tmp_path / "run"),
        "--no-compilation-cache",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "model preact_resnet(num_classes=10, in_channels=1): 271,962 parameters" in result.output
    assert RunMetadata.from_dict(read_metadata(tmp_path / "run" / "last")).parameters == 271_962


def test_eval_finds_the_data_from_another_directory(run_dir, tmp_path, monkeypatch):
    out, final = run_dir
    monkeypatch.chdir(tmp_path)  # no ./data here: the run's own data directory is used
    result = runner.invoke(app, ["eval", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["test_acc"] == pytest.approx(final["test_acc"])


def test_checkpoints_of_format_1_still_evaluate(run_dir, tmp_path):
    out, final = run_dir
    old = tmp_path / "old"
    shutil.copytree(out / "best", old)
    meta = json.loads((old / "metadata.json").read_text())
    v1_keys = ("model", "model_options", "epoch", "step", "metrics", "history", "config", "dataset", "sha256")
    (old / "metadata.json").write_text(json.dumps({**{k: meta[k] for k in v1_keys}, "format": 1, "image_size": 28}))
    result = runner.invoke(app, ["eval", str(old), "--data-dir", DATA, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["test_acc"] == pytest.approx(final["test_acc"])


def test_checkpoints_of_format_2_still_evaluate_and_predict(run_dir, tmp_path):
    out, final = run_dir
    old = tmp_path / "old"
    shutil.copytree(out / "best", old)
    meta = json.loads((old / "metadata.json").read_text())
    # Format 2 recorded a small dataset's preprocessing as this dict, not Preprocessing's fields.
    pre = {"image_size": 28, "source_size": 28, "channels": 1, "mean": [0.1307], "std": [0.3081]}
    (old / "metadata.json").write_text(json.dumps({**meta, "format": 2, "preprocessing": pre}))
    result = runner.invoke(app, ["eval", str(old), "--data-dir", DATA, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["test_acc"] == pytest.approx(final["test_acc"])
    Image.fromarray(load_dataset("mnist", "test", DATA).images[0, 0]).save(tmp_path / "digit.png")
    rows = []
    for checkpoint in (old, out / "best"):
        result = runner.invoke(app, ["predict", str(checkpoint), str(tmp_path / "digit.png"), "--json"])
        assert result.exit_code == 0, result.output
        rows.append(json.loads(result.stdout))
    assert rows[0] == rows[1]


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
    assert result.exit_code == 0, result.output
    image = np.asarray(Image.open(tmp_path / "curves.png"))
    assert image.ndim == 3 and image.shape[1] > image.shape[0] and image.std() > 0  # two panels side by side, drawn


def test_plot_without_matplotlib_says_how_to_install_it(run_dir, tmp_path, monkeypatch):
    out, _ = run_dir
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    result = runner.invoke(app, ["plot", str(out), "--out", str(tmp_path / "curves.png")])
    assert result.exit_code == 2 and "pip install 'eqx-resnet[plot]'" in result.output
    assert not (tmp_path / "curves.png").exists()


def test_resume_of_a_finished_run_adds_nothing(run_dir):
    out, final = run_dir
    result = runner.invoke(app, ["train", "mnist", "--data-dir", DATA, "--out", str(out), "--resume", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.strip().splitlines()[-1])["test_acc"] == final["test_acc"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "mnist", "--epochs", "0"], "--epochs"),
        (["train", "mnist", "--seed", str(2**64)], "--seed"),
        (["train", "mnist", "-o", "stem=cifar", "--data-dir", "/nonexistent-dir"], "cannot build preact_resnet"),
        (["train", "imagenet"], "imagenet"),
        (["train", "mnist", "--data-dir", "/nonexistent-dir", "--max-train-samples", "64"], "missing"),
        (["eval", "/nonexistent-run"], "neither a checkpoint"),
        (["plot", "/nonexistent-run"], "metrics.jsonl"),
    ],
)
def test_bad_input_is_one_clear_error(args, message, monkeypatch, tmp_path):
    import urllib.error
    import urllib.request

    monkeypatch.chdir(tmp_path)  # the default --out, runs/DATASET, must not be a run from the checkout

    def offline(*a, **k):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    result = runner.invoke(app, args)
    assert result.exit_code in (1, 2)
    assert message in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()  # the default --out: a run that never started leaves none


BAD_MODEL_OPTIONS = {
    "widths=abc": "-o widths=abc: widths takes Sequence[int] (read as JSON), such as -o widths=[16,32,64]",
    'widths=[16,"a",64]': "widths takes Sequence[int] (read as JSON), such as -o widths=[16,32,64]",
    "widths": "-o widths: expected KEY=VALUE, such as -o widths=[16,32,64] or -o stem=cifar",
    "=3": "-o =3: expected KEY=VALUE",
    "depth=9": "-o depth=9: no model takes depth; the options: aa, attn, attn_ratio, avg_down, axis_name,",
    "stem=cifar2": "-o stem=cifar2: stem takes one of imagenet, cifar",
    "zero_init_residual=maybe": "zero_init_residual takes bool (read as JSON), such as -o zero_init_residual=false",
}


@pytest.mark.parametrize("option", BAD_MODEL_OPTIONS)
def test_a_bad_model_option_is_one_line_naming_it_and_the_form_it_takes(option, tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "mnist", "-o", option, "--data-dir", DATA, "--out", str(out)])
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and BAD_MODEL_OPTIONS[option] in lines[0], result.stderr
    assert not out.exists()


def test_resume_refuses_another_model_naming_the_saved_one(run_dir):
    out, _ = run_dir
    result = runner.invoke(app, ["train", "mnist", "--out", str(out), "--resume", "--model", "resnet18"])
    assert result.exit_code == 2
    assert (
        "--model resnet18 differs from the resumed run's 'preact_resnet': a resumed run keeps its model; "
        "drop --model, or start a new run in another --out"
    ) in result.output
    assert len(result.output.strip().splitlines()) == 1
    result = runner.invoke(app, ["train", "mnist", "--out", str(out), "--resume", "-o", "widths=[4,8,8]"])
    assert result.exit_code == 2 and "--model-option widths=[4,8,8] differs from the resumed run's" in result.output
    assert "; drop --model-option, or" in result.output


def test_resume_refuses_another_dataset_naming_the_argument(run_dir):
    out, _ = run_dir
    result = runner.invoke(app, ["train", "fashion-mnist", "--out", str(out), "--resume"])
    assert result.exit_code == 2 and "--dataset" not in result.output
    assert (
        "the dataset 'fashion-mnist' differs from the resumed run's 'mnist': a resumed run keeps its dataset; "
        "give mnist as DATASET, or start a new run in another --out"
    ) in result.output
    assert len(result.output.strip().splitlines()) == 1


def files(directory: Path) -> dict[str, bytes | None]:
    """Every entry under `directory`, with a file's bytes."""
    return {str(p.relative_to(directory)): p.read_bytes() if p.is_file() else None for p in directory.rglob("*")}


def test_a_new_run_refuses_a_run_directory_without_last_and_changes_nothing(run_dir, tmp_path):
    out, _ = run_dir
    shutil.copytree(out / "best", tmp_path / "best")
    shutil.copy(out / "metrics.jsonl", tmp_path)
    before = files(tmp_path)
    result = runner.invoke(
        app, ["train", "mnist", "--data-dir", DATA, "--out", str(tmp_path), "--no-compilation-cache"]
    )
    assert result.exit_code == 1
    assert (
        f"{tmp_path} already holds a run (best/, metrics.jsonl); last/ holds no checkpoint: continue from best/ with "
        "--resume --resume-from best, or choose another --out"
    ) in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert files(tmp_path) == before


def corrupt(file: Path) -> None:
    data = bytearray(file.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 8] = bytes(b ^ 0xFF for b in data[len(data) // 2 : len(data) // 2 + 8])
    file.write_bytes(bytes(data))


def test_a_corrupt_last_names_best_which_resume_from_best_continues(run_dir, tmp_path):
    out, _ = run_dir
    run = tmp_path / "run"
    shutil.copytree(out, run)
    corrupt(run / "last" / "model.eqx")
    resume = ["train", "mnist", "--out", str(run), "--resume", "--no-compilation-cache"]
    result = runner.invoke(app, resume)
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    assert (
        f"cannot resume from {run}/last: {run}/last/model.eqx is corrupt: its SHA-256 does not match the one in "
        f"metadata.json; {run}/best is intact: continue from its weights with a fresh optimiser state, "
        "--resume --resume-from best, or start a new run in another --out"
    ) in result.output
    result = runner.invoke(app, ["eval", str(run / "last")])
    assert (
        result.exit_code == 1
        and f"is corrupt: its SHA-256 does not match the one in metadata.json; {run}/best is intact: use it instead"
        in result.output
    )

    result = runner.invoke(app, [*resume, "--resume-from", "best", "--epochs", "2"])
    assert result.exit_code == 0, result.output
    assert (
        "resuming after epoch 1, step 8 from best/'s weights with a fresh optimiser state (best/ holds none)"
        in result.output
    )
    meta = read_metadata(run / "last", verify=True)
    assert meta["epoch"] == 2 and meta["restarts"] == [{"epoch": 1, "step": 8, "from": "best"}]

    corrupt(run / "last" / "model.eqx")
    corrupt(run / "best" / "model.eqx")
    result = runner.invoke(app, resume)
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    assert (
        f"{run}/best is damaged too, so nothing in {run} can be resumed: start a new run in another --out"
        in result.output
    )
    result = runner.invoke(app, [*resume, "--resume-from", "best"])
    assert f"cannot resume from {run}/best: {run}/best/model.eqx is corrupt" in result.output
    assert f"{run}/last is damaged too, so nothing in {run} can be resumed" in result.output


@pytest.mark.parametrize("where", ["file", "under a file", "in /proc"])
def test_an_unusable_out_is_one_line(where, tmp_path):
    file = tmp_path / "file"
    file.write_text("not a directory")
    out = {"file": file, "under a file": file / "run", "in /proc": Path("/proc/eqx-resnet-run")}[where]
    result = runner.invoke(app, ["train", "mnist", "--out", str(out), "--data-dir", DATA, "--no-compilation-cache"])
    assert result.exit_code == 1 and str(out) in result.output and "--out" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_an_unexpected_error_is_reported_as_a_bug(run_dir, monkeypatch):
    out, _ = run_dir
    import eqx_resnet.cli.evaluate as evaluate

    def broken(*args, **kwargs):
        raise ValueError("something inside broke")

    monkeypatch.setattr(evaluate, "load_checkpoint", broken)
    result = runner.invoke(app, ["eval", str(out)])
    assert result.exit_code == 1 and "unexpected ValueError: something inside broke" in result.output
    assert "This is a bug in eqx-resnet" in result.output and "Traceback" not in result.output
    traceback_file = Path(result.output.split(" in ")[-1].split(" (or rerun")[0])
    assert "something inside broke" in traceback_file.read_text() and "Traceback" in traceback_file.read_text()
    monkeypatch.setenv("EQX_RESNET_TRACEBACK", "1")
    assert isinstance(runner.invoke(app, ["eval", str(out)]).exception, ValueError)


def test_predict_refuses_a_decompression_bomb(run_dir, tmp_path, monkeypatch):
    out, _ = run_dir
    path = tmp_path / "huge.png"
    Image.new("L", (40, 40)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 1,600 pixels is over twice the limit
    result = runner.invoke(app, ["predict", str(out), str(path)])
    assert result.exit_code == 2 and "decompression bomb" in result.output and "Shrink it first" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_second_train_on_a_running_run_fails_at_once(tmp_path):
    from eqx_resnet.training.lock import RunLock

    with RunLock(tmp_path / "run"):  # held by this process, as a running `train` would hold it
        result = runner.invoke(app, ["train", "mnist", "--out", str(tmp_path / "run"), "--data-dir", DATA])
    assert result.exit_code == 1 and "is in use by another run" in result.output and "--out" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


OPTIONS = Path(__file__).parent / "data" / "train_options.json"


def _described(param) -> dict:
    """What `train --help` offers of the click parameter `param`, and what it accepts: its help text aside."""
    kind, info = param.type_descriptor.annotation, param.type_descriptor.parameter_info
    choices = param.type_descriptor.choices
    values = [getattr(c, "value", c) for c in choices or ()]  # the zoo's models as such: it grows
    return {
        "kind": param.param_type_name,
        "opts": param.opts,
        "secondary_opts": param.secondary_opts,
        "type": "choice" if choices else str(kind) if typing.get_args(kind) else kind.__name__,
        "choices": "list_models()" if values == list_models() else values,
        "bounds": [param.min, param.max, *(getattr(info, b, None) for b in ("min_open", "max_open", "clamp"))],
        "default": json.loads(json.dumps(param.default, default=lambda v: getattr(v, "value", str(v)))),
        "required": param.required,
        "multiple": param.multiple,
        "is_flag": getattr(param, "is_flag", False),
        "metavar": param.metavar,
        "nargs": param.nargs,
        "hidden": param.hidden,
        "envvar": param.envvar,
    }


def _train_options() -> dict:
    return {p.name: _described(p) for p in typer.main.get_command(app).commands["train"].params}


def test_train_offers_the_options_it_offered():
    """The options are built from TrainConfig's fields: the same names, types, defaults, bounds and choices as
    the hand-written ones of `tests/data/train_options.json` (`python -m tests.test_cli_train` writes it anew)."""
    assert _train_options() == json.loads(OPTIONS.read_text())


def test_every_train_option_has_help():
    params = typer.main.get_command(app).commands["train"].params
    assert [p.name for p in params if not (p.help or "").strip()] == []


if __name__ == "__main__":
    OPTIONS.parent.mkdir(exist_ok=True)
    OPTIONS.write_text(json.dumps(_train_options(), indent=1) + "\n")
