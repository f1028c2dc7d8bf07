"""`eqx-resnet convert`, `predict --weights` and `models --weights`, offline, on a generated weights file."""

import hashlib
import json
import os
import subprocess
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import eqx_resnet
from eqx_resnet.cli import app
from eqx_resnet.data.imagenet import IMAGENET_CLASSES, IMAGENET_PREPROCESSING
from eqx_resnet.training import RunMetadata, read_metadata, save_checkpoint
from eqx_resnet.training.lock import RunLock
from eqx_resnet.weights import to_state_dict

runner = CliRunner()


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    """A resnet18 state dict with random weights and BatchNorm statistics, as torchvision names them."""
    rng = np.random.default_rng(0)

    def fill(x):
        if not isinstance(x, jax.ShapeDtypeStruct):
            return x
        scale = 1 / np.sqrt(np.prod(x.shape[1:])) if len(x.shape) > 1 else 1.0
        return jnp.asarray(rng.uniform(0.5, 1.5, x.shape) * scale, x.dtype)

    model, state = jax.tree.map(fill, eqx.filter_eval_shape(eqx_resnet.create_model, "resnet18", key=jax.random.key(0)))
    path = tmp_path_factory.mktemp("weights") / "resnet18.npz"
    np.savez(path, **to_state_dict(model, state))
    return path


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    path = tmp_path_factory.mktemp("images") / "photo.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (90, 120, 3), np.uint8)).save(path)
    return path


def test_convert_then_predict_agree_with_predict_from_the_weights(weights_file, image, tmp_path):
    result = runner.invoke(app, ["convert", str(weights_file), "--model", "resnet18", "--out", str(tmp_path / "ckpt")])
    assert result.exit_code == 0, result.output
    meta = RunMetadata.from_dict(read_metadata(tmp_path / "ckpt"))
    assert meta.model == "resnet18" and meta.class_names == list(IMAGENET_CLASSES) and meta.parameters == 11_689_512
    assert meta.weights["sha256"] == hashlib.sha256(weights_file.read_bytes()).hexdigest()
    assert meta.preprocessing == IMAGENET_PREPROCESSING  # the file names no weight set: ImageNet's classic

    from_checkpoint = runner.invoke(app, ["predict", str(tmp_path / "ckpt"), str(image), "--top", "3", "--json"])
    from_weights = runner.invoke(
        app, ["predict", "--model", "resnet18", "--weights", str(weights_file), str(image), "--json"]
    )
    assert from_checkpoint.exit_code == from_weights.exit_code == 0, from_checkpoint.output + from_weights.output
    a, b = json.loads(from_checkpoint.stdout), json.loads(from_weights.stdout)
    assert len(a["top"]) == 3 and len(b["top"]) == 5
    assert [r["label"] for r in a["top"]] == [r["label"] for r in b["top"][:3]]
    assert a["label"] == IMAGENET_CLASSES[a["class"]] and 0 < a["probability"] <= 1
    assert [r["probability"] for r in a["top"]] == sorted((r["probability"] for r in a["top"]), reverse=True)


@pytest.mark.parametrize(
    "args, message",
    [
        (["predict", "--weights", "imagenet", "x.png"], "add --model"),
        (["predict", "--weights", "imagenet", "--model", "resnet9", "x.png"], "unknown model 'resnet9'"),
        (["predict", "--weights", "tv_in1k", "--model", "resnet18", "."], "every argument is an image"),
        (["predict", "--model", "resnet18", "runs/x", "x.png"], "--model goes with --weights"),
        (["convert", "imagenet", "--model", "preact_resnet", "--out", "x"], "no published weights for 'preact_resnet'"),
    ],
)
def test_confusions_are_one_line(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, args)
    assert result.exit_code in (1, 2) and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1


def test_models_lists_the_weight_sets():
    result = runner.invoke(app, ["models", "--weights"])
    assert result.exit_code == 0
    assert "resnet50.tv_in1k" in result.output and "76.156" in result.output and "bsd-3-clause" in result.output


def convert(weights_file, out, *options):
    return runner.invoke(app, ["convert", str(weights_file), "--model", "resnet18", "--out", str(out), *options])


def one_line_error(result, *parts):
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1 and lines[0].startswith("error: "), result.output
    for part in parts:
        assert part in lines[0], lines[0]


@pytest.fixture(scope="module")
def nan_weights(weights_file, tmp_path_factory):
    """The resnet18 state dict of `weights_file` with an all-NaN fc.weight, as .safetensors."""
    from safetensors.numpy import save_file

    with np.load(weights_file) as f:
        entries = dict(f)
    entries["fc.weight"] = np.full_like(entries["fc.weight"], np.nan)
    path = tmp_path_factory.mktemp("nan") / "resnet18.safetensors"
    save_file(entries, path)
    return path


def test_non_finite_weights_are_refused_by_convert_and_predict(nan_weights, image, tmp_path):
    message = f"{nan_weights}: entry 'fc.weight' holds NaN"
    one_line_error(convert(nan_weights, tmp_path / "ckpt"), message)
    assert not (tmp_path / "ckpt").exists()
    result = runner.invoke(app, ["predict", "--model", "resnet18", "--weights", str(nan_weights), str(image)])
    one_line_error(result, message)


def test_a_pth_in_pickle_protocol_4_is_one_line_of_the_projects(weights_file, tmp_path):
    """In a fresh interpreter: torch's warnings would print there, unlike under pytest's warning capture."""
    import torch

    with np.load(weights_file) as f:
        torch.save({k: torch.from_numpy(v) for k, v in f.items()}, tmp_path / "w.pth", pickle_protocol=4)
    cli = "from eqx_resnet.cli import main; main()"
    args = ["convert", str(tmp_path / "w.pth"), "--model", "resnet18", "--out", str(tmp_path / "ckpt")]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", cli, *args], capture_output=True, text=True, timeout=240, env=env)
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "was refused, not unpickled" in result.stderr and "without pickle_protocol" in result.stderr


def tiny_checkpoint(path):
    """A trained run's checkpoint, as far as convert can tell: a small preact_resnet's (random arrays from
    NumPy: create_model's eager initialisation compiles for seconds)."""
    options = {"widths": [4, 8, 8], "blocks_per_stage": 1}
    shapes = eqx.filter_eval_shape(eqx_resnet.create_model, "preact_resnet", key=jax.random.key(0), **options)
    rng = np.random.default_rng(0)
    model, state = jax.tree.map(
        lambda x: jnp.asarray(rng.uniform(0.5, 1.5, x.shape), x.dtype) if isinstance(x, jax.ShapeDtypeStruct) else x,
        shapes,
    )
    return save_checkpoint(path, model, state, metadata={"model": "preact_resnet", "model_options": options})


def contents(directory):
    """Every file under `directory` and its bytes."""
    return {p.relative_to(directory): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_convert_refuses_a_checkpoint_at_out_without_force(weights_file, tmp_path):
    best = tiny_checkpoint(tmp_path / "run" / "best")
    before = contents(tmp_path / "run")
    one_line_error(convert(weights_file, best), f"{best} already holds a checkpoint", "--force")
    assert contents(tmp_path / "run") == before


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_convert_never_replaces_what_is_not_a_checkpoint(weights_file, tmp_path, force):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.jsonl").write_text("{}\n")
    (tmp_path / "notes.txt").write_text("mine")
    before = contents(tmp_path)
    for out in (tmp_path / "run", tmp_path / "notes.txt"):
        one_line_error(convert(weights_file, out, *force), f"{out} exists and is not a checkpoint", "--force")
    assert contents(tmp_path) == before


def test_convert_force_replaces_a_checkpoint_no_run_holds(weights_file, tmp_path):
    best = tiny_checkpoint(tmp_path / "run" / "best")
    with RunLock(tmp_path / "run"):  # a run that has finished: its lock file stays
        pass
    result = convert(weights_file, best, "--force")
    assert result.exit_code == 0, result.output
    assert read_metadata(best)["model"] == "resnet18"
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [".lock", "best"]


def test_convert_force_is_refused_while_a_run_holds_the_directory(weights_file, tmp_path):
    best = tiny_checkpoint(tmp_path / "run" / "best")
    with RunLock(tmp_path / "run"):
        before = contents(best)
        one_line_error(convert(weights_file, best, "--force"), f"{tmp_path / 'run'} is in use by another run")
        assert contents(best) == before
        one_line_error(convert(weights_file, tmp_path / "run" / "new"), "is in use by another run")
    assert not (tmp_path / "run" / "new").exists()
