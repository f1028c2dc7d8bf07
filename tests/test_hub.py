"""Named weights without a network: a loopback server plays the Hugging Face Hub for huggingface_hub.

The Hub tests run `create_pretrained` in fresh interpreters, as a user would, because
huggingface_hub reads HF_ENDPOINT, HF_HOME and HF_HUB_OFFLINE when it is imported.
"""

import dataclasses
import hashlib
import http.server
import json
import math
import os
import re
import shutil
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import equinox as eqx
import jax
import numpy as np
import pytest
from PIL import Image

import eqx_resnet
from eqx_resnet.data.imagenet import (
    IMAGENET_CLASSES,
    IMAGENET_MEAN,
    IMAGENET_PREPROCESSING,
    IMAGENET_STD,
    Preprocessing,
)
from eqx_resnet.weights import (
    PRETRAINED,
    WeightsError,
    create_pretrained,
    download_weights,
    get_pretrained,
    list_pretrained,
    prefetch_weights,
    read_state_dict,
)

COMMIT = "0123456789abcdef0123456789abcdef01234567"
REPO, FILE = "timm/resnet18.a1_in1k", "model.safetensors"


def weights_file(path: Path, num_classes: int = 1000) -> Path:
    """A resnet18 state dict as timm publishes one (torchvision's names), initialised as torchvision initialises it."""
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    from eqx_resnet.benchmarking import peers_torch

    torch.manual_seed(num_classes)
    module = peers_torch.resnet("resnet18", num_classes=num_classes)
    for m in module.modules():
        if isinstance(m, torch.nn.Conv2d):  # torchvision's init keeps the activations' scale through the stages
            torch.nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    save_file(module.state_dict(), path, metadata={"format": "pt"})
    return path


class FakeHub:
    """HEAD and GET of `/{repo}/resolve/{revision}/{file}` with the headers hf_hub_download reads:
    `X-Repo-Commit` (the resolved commit), `ETag` (an LFS file's SHA-256) and `Content-Length`."""

    def __init__(self, files: dict[str, bytes]):
        self.files, self.requests = files, []
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_HEAD(self):
                self.answer(body=False)

            def do_GET(self):
                self.answer(body=True)

            def answer(self, body):
                hub.requests.append((self.command, self.path))
                data = hub.files.get(self.path)
                if data is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


SCRIPT = """
import json, sys, time
import jax
from eqx_resnet.weights import WeightsError, create_pretrained
start = time.perf_counter()
try:
    model, state, info = create_pretrained("resnet18", "a1_in1k", key=jax.random.key(0))
except WeightsError as e:
    print(json.dumps({"error": str(e), "seconds": time.perf_counter() - start}))
else:
    print(json.dumps({"info": info.to_dict(), "fc_bias": model.fc.bias.tolist(), "seconds": time.perf_counter() - start}))
"""


def run_script(hub: FakeHub, hf_home: Path, offline: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(
        HF_ENDPOINT=hub.url,
        HF_HOME=str(hf_home),
        HF_HUB_OFFLINE="1" if offline else "0",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        JAX_PLATFORMS="cpu",
    )
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=240, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    path = weights_file(tmp_path_factory.mktemp("served") / FILE)
    hub = FakeHub({f"/{REPO}/resolve/main/{FILE}": path.read_bytes()})
    hub.file = path
    yield hub
    hub.server.shutdown()


@pytest.fixture(scope="module")
def downloaded(hub, tmp_path_factory):
    """An HF_HOME that create_pretrained filled from the fake Hub, and what it reported."""
    hf_home = tmp_path_factory.mktemp("hf_home")
    return hf_home, run_script(hub, hf_home, offline=False)


def test_weights_download_into_the_hub_cache_then_load_offline(hub, downloaded, tmp_path):
    hf_home, online = downloaded
    served = hub.file.read_bytes()
    info = online["info"]
    assert info["revision"] == COMMIT
    assert info["sha256"] == hashlib.sha256(served).hexdigest()
    assert (info["name"], info["repo_id"]) == ("resnet18.a1_in1k", REPO)
    assert info["preprocessing"] == {
        "crop_size": 288,
        "crop_pct": 1.0,
        "interpolation": "bicubic",
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
        "source_size": None,
    }
    assert Path(info["path"]).is_relative_to(hf_home) and Path(info["path"]).parent.name == COMMIT
    np.testing.assert_array_equal(online["fc_bias"], read_state_dict(hub.file)["fc.bias"])
    assert ("GET", f"/{REPO}/resolve/main/{FILE}") in hub.requests

    # Offline, the cache answers and the server hears nothing.
    seen = len(hub.requests)
    offline = run_script(hub, hf_home, offline=True)
    assert offline["info"] == info
    assert len(hub.requests) == seen

    # Offline with an empty cache: one line naming the file, the repository and the command that fills the cache.
    empty = run_script(hub, tmp_path / "empty", offline=True)
    message = empty["error"]
    assert "\n" not in message
    assert f"{FILE} of the Hugging Face repository {REPO} is not in the cache" in message
    assert "HF_HUB_OFFLINE=1" in message and f"`hf download {REPO} {FILE}`" in message and "weights=PATH" in message
    assert empty["seconds"] < 5
    assert len(hub.requests) == seen


def test_a_damaged_cached_file_is_caught_by_its_sha256(downloaded, tmp_path):
    hub_cache = tmp_path / "hub"
    shutil.copytree(downloaded[0] / "hub", hub_cache, symlinks=True)
    # A commit revision that is cached is served from the cache without any request.
    path, info = download_weights("resnet18.a1_in1k", revision=COMMIT, cache_dir=hub_cache)
    assert info.sha256 == downloaded[1]["info"]["sha256"]
    assert prefetch_weights(["resnet18", "resnet18.a1_in1k"], revision=COMMIT, cache_dir=hub_cache) == [
        info
    ]  # "resnet18": its best set
    blob = Path(os.path.realpath(path))
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="it is damaged; delete .* and load again"):
        download_weights("resnet18.a1_in1k", revision=COMMIT, cache_dir=hub_cache)


def test_another_number_of_classes_gets_a_fresh_head_and_the_rest_loaded(tmp_path):
    path = weights_file(tmp_path / "w.safetensors")
    entries = read_state_dict(path)
    with pytest.warns(UserWarning, match=r"has 1000 classes and the model 10: its head 'fc' is freshly initialised"):
        model, state, info = create_pretrained("resnet18", path, num_classes=10, key=jax.random.key(1))
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() and info.revision is None
    np.testing.assert_array_equal(model.conv1.weight, entries["conv1.weight"])
    np.testing.assert_array_equal(state.get(model.layer4[1].bn2.statistics)[1], entries["layer4.1.bn2.running_var"])
    assert model.fc.weight.shape == (10, 512)
    bound = 1 / math.sqrt(512)  # eqx.nn.Linear's uniform initialisation, as create_model's
    assert 0 < np.abs(model.fc.weight).max() <= bound and np.std(model.fc.weight) > bound / 4
    with pytest.warns(UserWarning):
        again, _, _ = create_pretrained("resnet18", path, num_classes=10, key=jax.random.key(1))
    with pytest.warns(UserWarning):
        other, _, _ = create_pretrained("resnet18", path, num_classes=10, key=jax.random.key(2))
    np.testing.assert_array_equal(again.fc.weight, model.fc.weight)
    assert not np.array_equal(other.fc.weight, model.fc.weight)


def test_num_classes_0_loads_a_headless_backbone_without_a_warning(tmp_path):
    path = weights_file(tmp_path / "w.safetensors")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model, _, _ = create_pretrained("resnet18", path, num_classes=0, key=jax.random.key(0))
    assert isinstance(model.fc, eqx.nn.Identity)
    np.testing.assert_array_equal(model.layer4[1].conv2.weight, read_state_dict(path)["layer4.1.conv2.weight"])


def test_a_local_file_sets_the_number_of_classes_and_adapts_the_first_conv(tmp_path):
    path = weights_file(tmp_path / "ten.safetensors", num_classes=10)
    model, _, info = create_pretrained("resnet18", str(path), in_channels=1, key=jax.random.key(0))
    assert model.fc.weight.shape == (10, 512) and info.name is None
    np.testing.assert_allclose(
        model.conv1.weight, read_state_dict(path)["conv1.weight"].sum(1, keepdims=True), rtol=1e-6
    )


def test_the_table_names_timm_sets_and_imagenet_is_the_best_of_each():
    assert {w.model for w in PRETRAINED.values()} <= set(eqx_resnet.list_models())
    for model in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d", "wide_resnet50_2"):
        sets = list_pretrained(model)
        assert {"tv_in1k"} <= {w.tag for w in sets}
        best = get_pretrained(model)
        usable = [w for w in sets if w.num_classes == 1000 and not w.non_commercial]  # NC sets are never the default
        assert best.top1 == max(w.top1 for w in usable) and best.license in ("apache-2.0", "bsd-3-clause")
        assert best.repo_id == f"timm/{model}.{best.tag}" and best.file == "model.safetensors"
    assert get_pretrained("resnet50").name == "resnet50.a1_in1k"
    assert get_pretrained("resnet50", "tv_in1k") is get_pretrained("resnet50", "resnet50.tv_in1k")
    assert get_pretrained("resnet50", "tv_in1k").preprocessing == IMAGENET_PREPROCESSING
    assert get_pretrained("resnet50", "tv2_in1k").preprocessing.resize_size == 232  # torchvision's V2 evaluation
    assert get_pretrained("resnet50").classes == IMAGENET_CLASSES
    # Preprocessing survives a JSON round trip (run metadata): lists come back as tuples.
    ra4 = get_pretrained("resnet34").preprocessing
    assert Preprocessing(**json.loads(json.dumps(dataclasses.asdict(ra4)))) == ra4 and ra4.mean == (0.5, 0.5, 0.5)
    with pytest.raises(
        WeightsError,
        match=r"unknown weights 'b9_in1k' for resnet50: choose 'imagenet' or a tag \(a1_in1k, .*tv_in1k, .*\), or give a path",
    ):
        get_pretrained("resnet50", "b9_in1k")
    with pytest.raises(WeightsError, match="no published weights for 'preact_resnet'"):
        create_pretrained("preact_resnet", key=jax.random.key(0))
    with pytest.raises(WeightsError, match="not found"):
        create_pretrained("resnet18", "missing.safetensors", key=jax.random.key(0))


@pytest.mark.parametrize("size", [(300, 400), (400, 300), (224, 224)])
def test_preprocessing_resizes_the_short_side_crops_the_centre_and_standardises(size):
    width, height = size
    x = np.asarray(IMAGENET_PREPROCESSING(Image.new("RGB", size, (200, 100, 50))))
    assert x.shape == (3, 224, 224) and x.dtype == np.float32
    np.testing.assert_allclose(x[:, 7, 9], (np.array([200, 100, 50]) / 255 - IMAGENET_MEAN) / IMAGENET_STD, rtol=1e-5)
    # A horizontal ramp keeps its centre value through resize and centre crop.
    ramp = np.broadcast_to(np.linspace(0, 255, width, dtype=np.float32), (height, width)).astype(np.uint8)
    centre = Preprocessing(crop_size=64, crop_pct=0.5, mean=[0.0, 0.0, 0.0], std=[1.0, 1.0, 1.0])(Image.fromarray(ramp))
    assert centre.shape == (3, 64, 64)
    assert abs(centre[0, 32, 31:33].mean() - 0.5) < 0.02
    # The shorter side is resized to 64 / 0.5 = 128: the crop spans 64 / (128 * width / shorter) of the ramp.
    span = centre[0, 32, -1] - centre[0, 32, 0]
    assert abs(span - 0.5 * min(size) / width) < 0.03, span


def test_finetune_example_runs_offline_on_a_local_file(tmp_path):
    # Random weights with torchvision's initialisation: their features are not ImageNet's,
    # but a linear probe on them still beats chance by far.
    path = weights_file(tmp_path / "resnet18.safetensors")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    example = Path(__file__).resolve().parents[1] / "examples" / "finetune.py"
    result = subprocess.run(
        [sys.executable, str(example), "--weights", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "its head 'fc' is freshly initialised" in result.stderr
    losses = [float(v) for v in re.findall(r"^step \d+: loss ([\d.]+)$", result.stdout, re.MULTILINE)]
    assert len(losses) == 11 and losses[-1] < 0.7 * losses[0], result.stdout
    accuracy = float(re.search(r"test accuracy on 512 images: ([\d.]+)%", result.stdout).group(1))
    assert accuracy > 50, result.stdout  # chance is 10%


def with_nan_head(path: Path) -> Path:
    """The weights file `path` with a NaN in fc.weight, written in its place."""
    from safetensors.numpy import save_file

    entries = read_state_dict(path)
    entries["fc.weight"][3, 5] = np.nan
    save_file(entries, path)
    return path


def test_a_published_set_with_a_nan_is_refused_by_name(tmp_path):
    served = with_nan_head(weights_file(tmp_path / FILE))
    hub = FakeHub({f"/{REPO}/resolve/main/{FILE}": served.read_bytes()})
    try:
        error = run_script(hub, tmp_path / "hf_home", offline=False)["error"]
    finally:
        hub.server.shutdown()
    assert re.fullmatch(
        r"\S+/model\.safetensors: entry 'fc\.weight' holds NaN, which usable weights never do .*", error
    )


def test_a_local_file_with_a_nan_is_refused_by_name(tmp_path):
    path = with_nan_head(weights_file(tmp_path / "w.safetensors"))
    with pytest.raises(WeightsError, match=rf"^{re.escape(str(path))}: entry 'fc.weight' holds NaN"):
        create_pretrained("resnet18", path, num_classes=10, key=jax.random.key(0))


def _served_locally(monkeypatch, path: Path) -> None:
    """Every published set is downloaded as the file at `path` (no Hub)."""
    from eqx_resnet.weights import WeightsInfo, hub

    def local(w, **kwargs):
        return path, WeightsInfo(str(path), "0" * 64, w.name, w.repo_id, None, w)

    monkeypatch.setattr(hub, "download_weights", local)


def test_a_non_commercial_set_warns_when_loaded(monkeypatch, tmp_path):
    _served_locally(monkeypatch, weights_file(tmp_path / "r18.safetensors"))
    with pytest.warns(UserWarning, match=r"resnet18.fb_swsl_ig1b_ft_in1k is licensed cc-by-nc-4.0: for non-commercial"):
        model, _, info = create_pretrained("resnet18", "fb_swsl_ig1b_ft_in1k", key=jax.random.key(0))
    assert info.pretrained.non_commercial and model.fc.out_features == 1000
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a permissive set loads silently
        create_pretrained("resnet18", "tv_in1k", key=jax.random.key(0))


def test_a_set_without_a_classifier_builds_the_headless_model(monkeypatch, tmp_path):
    from eqx_resnet.weights import save_safetensors

    path = save_safetensors(
        *eqx_resnet.create_model("resnet50", num_classes=0, key=jax.random.key(1)), tmp_path / "b.safetensors"
    )
    _served_locally(monkeypatch, path)
    model, _, info = create_pretrained("resnet50", "bamboo", key=jax.random.key(0))  # timm's resnet50.bamboo
    assert (
        isinstance(model.fc, eqx.nn.Identity) and info.pretrained.num_classes == 0 and info.pretrained.classes is None
    )
