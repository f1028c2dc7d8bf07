"""The benchmark suite: a smoke run end to end, and the guards that keep its numbers honest."""

import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest
from _runs import separate_pytest_env
from typer.testing import CliRunner

from eqx_resnet.benchmarking import (
    FRAMEWORKS,
    MODELS,
    BenchmarkError,
    build_workload,
    check_flops,
    check_parameters,
    default_settings,
    jax_platform,
    markdown,
    measure,
    model_parameters,
    model_spec,
    peer_missing,
    rows,
)
from eqx_resnet.benchmarking.timing import jax_runner
from eqx_resnet.cli import app

REPO = Path(__file__).resolve().parents[1]
SMOKE_GROUPS = {f"{m}/{s}/fp32" for m in ("resnet18", "preact_resnet") for s in ("inference", "train")}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """`pytest benchmarks/ --benchmark-only --eqx-smoke`, run once: (its JSON, its output)."""
    out = tmp_path_factory.mktemp("bench") / "smoke.json"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "benchmarks/",
        "--benchmark-only",
        "--eqx-smoke",
        f"--benchmark-json={out}",
        "-q",
        "-rs",
        "-p",
        "no:cacheprovider",
    ]
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900, env=separate_pytest_env())
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-3000:]
    return json.loads(out.read_text()), proc.stdout


def _numbers(tree):
    if isinstance(tree, dict):
        tree = list(tree.values())
    if isinstance(tree, list):
        for item in tree:
            yield from _numbers(item)
    elif isinstance(tree, float):
        yield tree


def test_smoke_reports_each_model_and_step_side_by_side(smoke):
    report, _ = smoke
    groups = {b["group"] for b in report["benchmarks"]}
    assert groups == SMOKE_GROUPS
    for group in groups:
        assert "eqx-resnet" in {b["extra_info"]["framework"] for b in report["benchmarks"] if b["group"] == group}


def test_smoke_records_speed_flops_and_compile_time(smoke):
    report, _ = smoke
    for bench in report["benchmarks"]:
        info = bench["extra_info"]
        assert info["images_per_s"] > 0 and info["flops_per_image"] > 0 and info["tflops_per_s"] > 0, info
        assert info["compile_s"] >= 0 and info["batch"] == 2 and info["precision"] == "fp32" and info["device"]
        if info["framework"] != "torch":  # XLA compiles ahead of time; eager torch does not compile
            assert info["compile_s"] > 0
        assert math.isclose(info["images_per_s"], 2 / bench["stats"]["median"], rel_tol=1e-6)
    assert all(math.isfinite(x) for x in _numbers(report["benchmarks"])), "a NaN or inf was reported"


def test_smoke_runs_installed_peers_and_skips_others_with_a_reason(smoke):
    report, output = smoke
    for framework in FRAMEWORKS[1:]:
        ran = {b["group"] for b in report["benchmarks"] if b["extra_info"]["framework"] == framework}
        for group in SMOKE_GROUPS:  # torch's resnet18 needs torchvision and timm, its preact_resnet torch alone
            reason = peer_missing(framework, jax_platform(), group.split("/")[0])
            assert (group in ran) if reason is None else (group not in ran and reason in output)


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_inference_flops_at_224_match_published_multiply_adds(name):
    assert abs(check_flops(name) - 1) <= 0.10  # lowered on abstract inputs: nothing runs


def test_flops_far_from_published_raise(monkeypatch):
    monkeypatch.setitem(MODELS, "resnet18", replace(MODELS["resnet18"], macs_224=1.0e9))
    with pytest.raises(BenchmarkError, match="published"):
        check_flops("resnet18")


def test_nan_loss_raises_instead_of_reporting_a_time():
    def train(carry, x):
        return carry + 1, jnp.log(x - carry).mean()  # finite for one step, then log(0) and log(<0)

    runner = jax_runner(train, jnp.zeros(()), (jnp.ones(4),), train=True, parameters=1)
    with pytest.raises(BenchmarkError, match="NaN"):
        measure({"test": runner}, rounds=3, warmup=1)


def test_parameter_counts_must_match_across_frameworks():
    expected = model_parameters("preact_resnet")
    assert expected == 271_962  # seed 000's summary
    check_parameters("preact_resnet", "torch", expected)
    with pytest.raises(BenchmarkError, match="271,963 parameters"):
        check_parameters("preact_resnet", "torch", expected + 1)


@pytest.mark.parametrize("name", list(MODELS))
def test_torch_peers_have_the_zoo_parameter_counts(name):
    pytest.importorskip("torch")
    from eqx_resnet.benchmarking import peers_torch

    assert peers_torch.count_parameters(peers_torch.build_module(MODELS[name])) == model_parameters(name)


@pytest.mark.parametrize(
    "name", [m for m in MODELS if m not in ("resnet101", "resnet152")]
)  # resnet50's blocks, slow to trace
def test_flax_peers_have_the_zoo_parameter_counts(name):
    pytest.importorskip("flax")
    from eqx_resnet.benchmarking import peers_flax
    from eqx_resnet.parameters import count_parameters

    spec = MODELS[name]
    module = peers_flax.build_module(spec)
    variables = jax.eval_shape(lambda: peers_flax.init_variables(module, spec.input_shape(64)))
    assert count_parameters(variables["params"]) == model_parameters(name)


def test_rows_put_frameworks_side_by_side_with_the_ratio_to_the_best_peer():
    base = dict(
        model="resnet18",
        step="train",
        precision="fp32",
        batch=8,
        input="3x64x64",
        compile_s=1.0,
        tflops_per_s=0.1,
        device="cpu",
        platform="cpu",
        host_load_1min=99.0,
    )
    records = [
        dict(base, framework=f, images_per_s=v) for f, v in (("eqx-resnet", 30.0), ("flax", 40.0), ("torch", 20.0))
    ]
    [row] = rows(records)
    assert row["images_per_s"] == {"eqx-resnet": 30.0, "flax": 40.0, "torch": 20.0}
    assert row["ratio_vs_best_peer"] == pytest.approx(0.75)
    assert "| resnet18 | train | fp32 | 8 | 3x64x64 | 30.0 | 40.0 | 20.0 | 0.75 | 1.0 |" in markdown(records)
    assert "the host was busy" in markdown(records)


def test_bench_command_rejects_unknown_depths_clearly():
    result = CliRunner().invoke(app, ["bench", "--depths", "19"])
    assert result.exit_code == 1
    assert "unknown ResNet depth" in result.output


def test_settings_take_registered_models_by_name_and_keep_the_default_set():
    assert default_settings("cpu", models=("resnet50d", "resnet18_cifar")).models == ("resnet50d", "resnet18_cifar")
    assert default_settings("cpu").models == ("resnet18", "resnet50", "resnet18_cifar", "preact_resnet", "alexnet")
    assert default_settings("cpu", depths=(34,)).models[0] == "resnet34"


def test_settings_refuse_unknown_models_in_argument_terms():
    with pytest.raises(ValueError, match=r"unknown model 'resnet19' in models: .*eqx_resnet.list_models\(\)"):
        default_settings("cpu", models=("resnet50d", "resnet19"))
    with pytest.raises(ValueError, match="give depths or models, not both"):
        default_settings("cpu", depths=(18,), models=("resnet50d",))


def test_bench_command_refuses_unknown_models_in_flag_terms():
    result = CliRunner().invoke(app, ["bench", "--models", "resnet50d,resnet19"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: unknown model 'resnet19' in --models: choose names that `eqx-resnet models` lists, or resnet18_cifar"
    ]
    result = CliRunner().invoke(app, ["bench", "--models", "resnet50d", "--depths", "18"])
    assert result.exit_code == 2 and "leave out --depths" in result.output


def test_bench_suite_takes_models_by_name():
    command = [sys.executable, "-m", "pytest", "benchmarks/", "--collect-only", "-q", "-p", "no:cacheprovider"]
    proc = subprocess.run(
        [*command, "--eqx-models", "resnet10t"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ids = {line.split("[")[1].rstrip("]") for line in proc.stdout.splitlines() if "test_step[" in line}
    assert ids == {f"resnet10t-{s}-{f}" for s in ("inference", "train") for f in FRAMEWORKS}


@pytest.mark.parametrize(("name", "library"), [("resnet10t", "timm"), ("resnet18_cifar", "torchvision")])
def test_torch_peer_is_timms_or_torchvisions_module(name, library):
    pytest.importorskip("torch")
    from eqx_resnet.benchmarking import peers_torch

    settings = default_settings("cpu", smoke=True, models=(name,))
    workload = build_workload("torch", name, "inference", settings)  # one step on 2 images of 32x32
    module = peers_torch.build_module(model_spec(name))
    assert type(module).__module__.split(".")[0] == library
    assert workload.runner.parameters == model_parameters(name)  # build_workload checks it; say so here too


def test_a_missing_peer_package_is_named(monkeypatch):
    pytest.importorskip("torch")
    from eqx_resnet.benchmarking import peers_torch

    def missing():
        raise ModuleNotFoundError("No module named 'timm'", name="timm")

    monkeypatch.setattr(peers_torch, "timm_and_torchvision", missing)
    reason = peer_missing("torch", "cpu", "resnet50d")
    assert "timm is not usable" in reason and "pip install 'eqx-resnet[peers]'" in reason
    assert peer_missing("torch", "cpu", "preact_resnet") is None  # written out: torch alone runs it
    if peer_missing("flax", "cpu") is None:
        assert "flax has no peer of resnet50d" in peer_missing("flax", "cpu", "resnet50d")
