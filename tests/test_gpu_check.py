"""The GPU check (benchmarks/gpu_check.sh) in its CPU dry run, and the GPU entry points: the benchmarks let JAX
and torch share a GPU, and importing the package changes nothing."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from eqx_resnet.benchmarking.plot import read_records
from eqx_resnet.cli import app

PREALLOCATE = "XLA_PYTHON_CLIENT_PREALLOCATE"


def test_importing_the_benchmarking_package_sets_no_environment_variable():
    code = (
        "import json, os; before = dict(os.environ)\n"
        "import eqx_resnet, eqx_resnet.benchmarking, eqx_resnet.benchmarking.plot, eqx_resnet.cli\n"
        "print(json.dumps(sorted(set(os.environ.items()) ^ set(before.items()))))"
    )
    env = {k: v for k, v in os.environ.items() if k != PREALLOCATE}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.splitlines()[-1]) == []


def test_the_bench_command_lets_jax_allocate_on_demand(monkeypatch):
    monkeypatch.delenv(PREALLOCATE, raising=False)
    result = CliRunner().invoke(app, ["bench", "--depths", "19"])  # refused after the setting, before any work
    assert result.exit_code == 1 and "unknown ResNet depth" in result.output
    assert os.environ[PREALLOCATE] == "false"
    monkeypatch.setenv(PREALLOCATE, "true")  # a user's own choice stands
    CliRunner().invoke(app, ["bench", "--depths", "19"])
    assert os.environ[PREALLOCATE] == "true"


# --- benchmarks/gpu_check.sh --dry-run: every stage of both tiers on this CPU at toy sizes ---

REPO = Path(__file__).resolve().parents[1]
DRIVER = REPO / "benchmarks" / "gpu_check.py"
STAGES = {
    "tier1": [
        "mnist cold",
        "mnist warm",
        "resnet18 train bf16",
        "resnet18 inference bf16",
        "chart",
        "engine throughput",
        "tests",
    ],
    "tier2": ["resnet18 inference fp32", "chart", "input pipeline"],
}


def _environment(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in (PREALLOCATE, "GPU_CHECK_BUDGET")}
    return {**env, "PYTHON": sys.executable, "PATH": f"{Path(sys.executable).parent}:{env['PATH']}", **extra}


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    """`bash benchmarks/gpu_check.sh --dry-run`, run once: (the folder it wrote, its exit status, its output)."""
    out = tmp_path_factory.mktemp("gpu_check")
    proc = subprocess.run(
        ["bash", "benchmarks/gpu_check.sh", "--dry-run"],
        cwd=REPO,
        env=_environment(OUT=str(out)),
        capture_output=True,
        text=True,
        timeout=900,
    )
    return out, proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("tier", STAGES)
def test_dry_run_writes_a_complete_report_of_every_stage(dry_run, tier):
    out, status, output = dry_run
    assert status == 0, output[-5000:]
    report = json.loads((out / f"{tier}.json").read_text())
    assert report["tier"] == tier and report["dry_run"] is True and report["status"] == "complete"
    assert report["platform"] == "cpu" and report["device"] and report["versions"]["jax"] and report["finished"]
    assert 0 < report["elapsed_s"] <= report["budget_s"]
    assert report["environment"][PREALLOCATE] == "false"  # set by the driver, before JAX started
    stages = {s["name"]: s for s in report["stages"]}
    assert list(stages) == STAGES[tier]
    assert all(s["status"] in ("ok", "skipped") and s["seconds"] >= 0 for s in stages.values()), stages
    for name, stage in stages.items():
        if name.startswith("resnet18"):
            assert stage["status"] == "ok" and set(stage["images_per_s"]) == set(stage["frameworks"]) >= {"eqx-resnet"}
    # The records are `eqx-resnet bench --json`'s: the bench command reads them, one per framework and row.
    records, date = read_records(out / f"{tier}.json")
    assert date == report["date"] and len(records) == sum(len(s.get("frameworks", ())) for s in stages.values())
    assert all(r["images_per_s"] > 0 and r["compile_s"] >= 0 and r["device"] == report["device"] for r in records)
    assert {(t["model"], t["step"], t["precision"]) for t in report["targets"] if t["versus"] != "bare step"} == {
        (r["model"], r["step"], r["precision"]) for r in records
    }
    assert Image.open(out / f"{tier}.png").width > 800 and stages["chart"]["file"] == f"{tier}.png"
    log = (out / f"{tier}.log").read_text()
    assert all(f"== {name}:" in log for name in stages) and f"{tier}: complete" in log


def test_dry_run_tier1_runs_the_tests_and_mnist_cold_then_warm(dry_run):
    out, _, _ = dry_run
    stages = {s["name"]: s for s in json.loads((out / "tier1.json").read_text())["stages"]}
    assert stages["tests"]["counts"].get("passed", 0) >= 2 and "failed" not in stages["tests"]["counts"]
    cold, warm = stages["mnist cold"], stages["mnist warm"]
    assert cold["command"].startswith("eqx-resnet train mnist") and cold["epoch"] == warm["epoch"] == 1
    assert 0 <= cold["test_acc"] <= 1 and warm["test_acc"] == cold["test_acc"]  # the same seed: the same run
    # The cold run filled the fresh persistent cache; the warm one found every compiled step there.
    assert cold["cache_entries_after"] > 0 and warm["cache_entries_after"] == cold["cache_entries_after"]
    assert "targets" not in cold  # a dry run's figures are no GPU measurement


def test_dry_run_tier1_times_the_engine_against_the_bare_step(dry_run):
    out, _, _ = dry_run
    report = json.loads((out / "tier1.json").read_text())
    engine = next(s for s in report["stages"] if s["name"] == "engine throughput")
    assert engine["status"] == "ok" and engine["command"].startswith("eqx-resnet train imagefolder --data-dir ")
    assert (engine["model"], engine["batch_size"], engine["steps_per_epoch"]) == ("preact_resnet", 4, 3)
    # The second epoch's steps after its first: two of the three, timed from the progress events.
    assert engine["steps_timed"] == 2 and engine["engine_images_per_s"] > 0 and engine["epoch_images_per_s"] > 0
    assert set(engine["loader"]) == {"loader_images_per_s", "step_images_per_s", "data_wait"}
    assert engine["bare_step_images_per_s"] > 0 and engine["bare_step_compile_s"] > 0
    assert engine["ratio"] == pytest.approx(engine["engine_images_per_s"] / engine["bare_step_images_per_s"], abs=1e-3)
    [target] = [t for t in report["targets"] if t["versus"] == "bare step"]
    assert target == {
        "model": "preact_resnet",
        "step": "engine train",
        "precision": "fp32",
        "versus": "bare step",
        "ratio": engine["ratio"],
        "target": 0.98,
        "met": engine["ratio"] >= 0.98,
    }


def test_the_time_guard_skips_what_does_not_fit_and_still_reports(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(DRIVER), "tier2", "--dry-run", "--out", str(tmp_path), "--budget", "0.5"],
        cwd=REPO,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((tmp_path / "tier2.json").read_text())
    assert report["status"] == "stopped by the time guard" and report["records"] == []
    assert [s["status"] for s in report["stages"]] == ["skipped"] * len(STAGES["tier2"])
    assert all(s["reason"].startswith("time guard") for s in report["stages"])


def test_a_report_killed_by_the_backstop_is_marked(tmp_path):
    path = tmp_path / "tier1.json"
    path.write_text(json.dumps({"tier": "tier1", "status": "running", "stages": [{"name": "tests", "status": "ok"}]}))
    proc = subprocess.run(
        [sys.executable, str(DRIVER), "--finalize", str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(path.read_text())
    assert report["status"].startswith("killed") and report["stages"] == [{"name": "tests", "status": "ok"}]


def test_a_gpu_run_needs_a_tier():
    proc = subprocess.run(
        ["bash", "benchmarks/gpu_check.sh"], cwd=REPO, env=_environment(), capture_output=True, text=True
    )
    assert proc.returncode == 2 and "usage: bash benchmarks/gpu_check.sh tier1|tier2" in proc.stderr
