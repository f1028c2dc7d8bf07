"""Without its extras eqx-resnet is the light install: `import eqx_resnet`, the models, weights files and
`eqx-resnet train mnist` work, and each feature behind an extra fails with one line naming it."""

import json
import subprocess
import sys
from pathlib import Path

import jax
import pytest
from _folders import make_folder
from _runs import TINY_TRAIN_ARGS

from eqx_resnet._extras import EXTRAS, MissingExtra, needs_extra

DATA = str(Path(__file__).resolve().parents[1] / "data")
BLOCKED = [*EXTRAS, "matplotlib", "torch", "flax"]  # every optional package's top-level module
PILLOW = "reading image files needs Pillow: pip install 'eqx-resnet[data]'"
HUB = "downloading a published weight set needs huggingface_hub: pip install 'eqx-resnet[hub]'"
HF = "reading a Hugging Face dataset needs datasets: pip install 'eqx-resnet[hf]'"

LIGHT = """
import json, sys
for name in {blocked!r}:
    sys.modules[name] = None  # `import name` fails as where the package is not installed
from typer.testing import CliRunner
import eqx_resnet, eqx_resnet.data, eqx_resnet.layers, eqx_resnet.models, eqx_resnet.training, eqx_resnet.weights
from eqx_resnet.cli import app

runs = {{
    "train mnist": ["train", "mnist", *{tiny!r}, "--epochs", "1", "--max-train-samples", "64", "--data-dir", {data!r},
                    "--out", {out!r} + "/mnist"],
    "imagefolder": ["train", "imagefolder", *{tiny!r}, "--data-dir", {folder!r}, "--out", {out!r} + "/folder"],
    "hf": ["train", "imagefolder", *{tiny!r}, "--data-dir", {out!r} + "/parquet", "--out", {out!r} + "/hf"],
    "fetch-weights": ["fetch-weights", "resnet18"],
    "plot": ["plot", {out!r} + "/mnist"],
}}
results = {{}}
for name, args in runs.items():
    result = CliRunner().invoke(app, args)
    results[name] = [result.exit_code, result.output.strip().splitlines()[-1]]
print(json.dumps(results))
"""


def test_the_light_install_trains_mnist_and_names_the_extra_of_each_feature(tmp_path):
    folder = make_folder(tmp_path / "images")
    (tmp_path / "parquet" / "data").mkdir(parents=True)
    (tmp_path / "parquet" / "data" / "train-0.parquet").write_bytes(b"")
    code = LIGHT.format(blocked=BLOCKED, tiny=TINY_TRAIN_ARGS, data=DATA, folder=str(folder), out=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(result.stdout.splitlines()[-1])
    status, last = results.pop("train mnist")
    assert status == 0 and last.startswith("test accuracy: "), results
    assert results == {
        "imagefolder": [1, f"error: {PILLOW}"],
        "hf": [1, f"error: {HF}"],
        "fetch-weights": [1, f"error: {HUB}"],
        "plot": [2, "error: plotting needs matplotlib: pip install 'eqx-resnet[plot]'"],
    }


def test_the_streaming_pipeline_names_the_data_extra(tmp_path, monkeypatch):
    from eqx_resnet.data.folder import folder_info, open_splits
    from eqx_resnet.data.stream import StreamingSource
    from eqx_resnet.data.transforms import TrainTransform

    splits = open_splits("imagefolder", make_folder(tmp_path))
    source = StreamingSource(splits[0], folder_info("imagefolder", splits[0].classes, 16), 8, TrainTransform(16))
    monkeypatch.setitem(sys.modules, "grain", None)
    with pytest.raises(MissingExtra, match=r"^training on image files needs grain: pip install 'eqx-resnet\[data\]'$"):
        next(source.chunks(jax.random.key(0, impl="rbg"), 0, 1))


def test_load_image_and_the_weights_name_their_extras(tmp_path, monkeypatch):
    from eqx_resnet.data import Preprocessing, load_image
    from eqx_resnet.weights import download_weights

    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(MissingExtra) as image:
        load_image(tmp_path / "cat.jpg", Preprocessing())
    with pytest.raises(MissingExtra) as weights:
        download_weights("resnet18.a1_in1k")
    assert str(image.value) == PILLOW and image.value.name == "PIL"
    assert str(weights.value) == HUB and weights.value.name == "huggingface_hub"


def test_only_a_missing_optional_package_is_a_missing_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "not_an_extra", None)
    with pytest.raises(ModuleNotFoundError) as info, needs_extra("anything"):
        import not_an_extra  # noqa: F401
    assert not isinstance(info.value, MissingExtra)
