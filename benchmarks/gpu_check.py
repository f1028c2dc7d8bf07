"""The driver of `benchmarks/gpu_check.sh`: one tier of the GPU check, within a time limit.

    python benchmarks/gpu_check.py tier1|tier2 --out DIR --budget SECONDS [--dry-run]
    python benchmarks/gpu_check.py --finalize DIR/TIER.json   (after the shell's backstop killed a run)

Tier 1: `eqx-resnet train mnist` with the device's defaults as a whole process, cold and then warm
(a fresh persistent compilation cache, then the same cache); resnet50's training and inference
steps in bf16 at batch 256, 224x224, beside Flax and torch.compile in this process, compile times
included; the engine's own throughput (`eqx-resnet train imagefolder`, resnet50 in bf16 on
ImageNet-sized synthetic images through the streaming source, against the bare step); the
GPU-relevant tests. Tier 2: resnet50 in fp32, resnet18/34/101/152 in bf16 (torch.compile at 18
and 34 only: at 101 and 152 its compile took over 150 s on an H100, benchmarks/README.md's "Peers'
reference figures"), and the input pipeline on the machine's cores (`benchmarks/input_pipeline.py`).
The measurements with targets come first; later stages take what the time limit has left.

Each stage runs only if the budget still holds its estimated time; a skipped stage is recorded
with the reason. DIR/TIER.json is rewritten after every stage (so a killed run leaves a complete
file), holding the stages, versions, device, and the benchmark records in `eqx-resnet bench
--json`'s form: `eqx-resnet bench --plot chart.png --from-json DIR/tier1.json` draws them.
DIR/TIER.png is that chart, drawn at the end when matplotlib is installed.

`--dry-run` runs the same stages on the CPU at toy sizes (resnet18 at 32x32, batch 2, one
round; one short MNIST epoch; the engine on a tiny model, 3 steps an epoch; a few tests): CI
runs it so the script cannot rot before a GPU comes.
"""

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# `eqx-resnet ...` as its console script runs it, from the source tree or an installed copy alike.
EQX_RESNET = [sys.executable, "-c", "import sys; from eqx_resnet.cli import main; sys.argv[0] = 'eqx-resnet'; main()"]
# The same, with an observer of train()'s progress events: each one a JSON line in $GPU_CHECK_EVENTS, with
# the time it came (perf_counter); the "steps" events come as the engine reads the loss at its read points
# (`engine.read_every`: every 10 steps of the run's 80, every step of the dry run's 3), after the device
# finished those steps.
OBSERVED_EQX_RESNET = [
    sys.executable,
    "-c",
    """import json, os, sys, time
import eqx_resnet.cli.train as command
from eqx_resnet.cli import main
train, log = command.train, open(os.environ["GPU_CHECK_EVENTS"], "w", buffering=1)
def observed(*args, on_progress, **kwargs):
    def both(event):
        log.write(json.dumps({"time": time.perf_counter(), **event}, default=str) + "\\n")
        on_progress(event)
    return train(*args, on_progress=both, **kwargs)
command.train = observed
sys.argv[0] = "eqx-resnet"
main()""",
]
CACHE_ENV = ("JAX_COMPILATION_CACHE_DIR", "EQX_RESNET_COMPILATION_CACHE")  # JAX's own, and `eqx-resnet train`'s
INPUT_PIPELINE = REPO / "benchmarks" / "input_pipeline.py"
# The speed targets (ratios from the same run) and the MNIST targets.
TARGETS = {"bf16": ("best peer", 1.1), "fp32": ("flax", 1.0)}
MNIST_TARGETS = {"test_acc": 0.995, "cold_s": 20.0, "warm_s": 10.0}
VERSIONS = (
    "jax",
    "jaxlib",
    "jax-cuda13-plugin",
    "jax-cuda12-plugin",
    "equinox",
    "flax",
    "optax",
    "torch",
    "numpy",
    "jaxtyping",
    "beartype",
)

# What each tier runs on the GPU, and at toy sizes on the CPU (--dry-run).
TESTS = {
    False: ["tests/test_cuda_lowering.py", "tests/test_training_step.py", "tests/test_engine.py"],
    True: ["tests/test_cuda_lowering.py", "-k", "preact_resnet-fp32-train or compiler_options"],
}
MNIST_ARGS = {False: [], True: ["--epochs", "1", "--max-train-samples", "256"]}
# The GPU machine has 16 cores: up to 15 workers beside the process that feeds the GPU.
INPUT_PIPELINE_ARGS = {
    False: ["--images", "2048", "--workers", "0", "4", "8", "15", "--json"],
    True: ["--images", "16", "--workers", "0", "--batch-size", "8", "--json"],
}
# (models, precision, steps, with torch). The dry run keeps each tier's first group, at resnet18, and in
# tier 2 only the inference step: tier 1 runs the training step's code path already.
BENCH = {
    "tier1": [(("resnet50",), "bf16", ("train", "inference"), True)],
    "tier2": [
        (("resnet50",), "fp32", ("train", "inference"), True),
        (("resnet18", "resnet34"), "bf16", ("train", "inference"), True),
        (("resnet101", "resnet152"), "bf16", ("train", "inference"), False),
    ],
}
# Seconds a benchmark row (one model and step, every framework) is expected to take on the GPU: guesses
# from the H100 anchors' compile times, to be replaced by the measured `seconds` of each stage.
ROW_SECONDS = {"resnet18": 40, "resnet34": 50, "resnet50": 60, "resnet101": 90, "resnet152": 120}
TORCH_COMPILE_SECONDS = 60
# The engine's throughput: `eqx-resnet train imagefolder` for two epochs of `steps` steps on
# copies of ImageNet-sized JPEGs, timed over the second epoch's steps after its first `ramp` (its workers'
# start and first batches), against the bare step (`eqx_training`) of the same model, batch, image size
# and precision. The run trains with the bare step's optimiser (SGD, momentum 0.9, a constant rate, no
# decay or smoothing), and decodes with the user's default workers. The dry run's tiny model decodes in a
# thread, in fp32, which compiles in half bf16's time on the CPU.
ENGINE = {
    False: {
        "args": ["--model", "resnet50"],
        "precision": "bf16",
        "batch": 256,
        "size": 224,
        "classes": 4,
        "steps": 80,
        "ramp": 20,
    },
    True: {
        "args": ["--model", "preact_resnet", "-o", "widths=[4,8,8]", "-o", "blocks_per_stage=1", "--workers", "0"],
        "precision": "fp32",
        "batch": 4,
        "size": 32,
        "classes": 2,
        "steps": 3,
        "ramp": 0,
    },
}
ENGINE_ARGS = ["--epochs", "2", "--optimizer", "sgd", "--momentum", "0.9", "--lr", "0.01", "--schedule", "constant"]
ENGINE_ARGS += ["--warmup-epochs", "0", "--weight-decay", "0", "--label-smoothing", "0", "--no-compilation-cache"]
ENGINE_TARGET = 0.98  # the engine's images/s over the bare step's
# Seconds the stage is expected to take (on the GPU, guesses): writing the folder, the run (its start,
# compiling the step and the evaluation, two epochs with their checkpoints) and the bare step (compiled
# anew, the convolutions' autotuning already done by the resnet50 rows in this process, then timed).
ENGINE_SECONDS = {False: {"folder": 5, "run": 75, "bare step": 30}, True: {"folder": 1, "run": 30, "bare step": 10}}


class Check:
    """One tier's run: its report (the JSON), its stages and its time budget."""

    def __init__(self, tier: str, out: Path, budget: float, dry_run: bool):
        self.tier, self.dry_run, self.path = tier, dry_run, out / f"{tier}.json"
        self.deadline = time.monotonic() + budget
        self.started = time.monotonic()
        self.report = {
            "tier": tier,
            "dry_run": dry_run,
            "status": "running",
            "date": datetime.date.today().isoformat(),
            "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "finished": None,
            "budget_s": budget,
            "elapsed_s": 0.0,
            "device": None,
            "platform": None,
            "gpu": _nvidia_smi(),
            "host": f"{platform.node()}, {os.cpu_count()} CPUs",
            "versions": _versions(),
            "environment": {k: os.environ.get(k) for k in ("XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_FLAGS", "PYTHONPATH")},
            "stages": [],
            "records": [],
            "targets": [],
        }
        self.save()

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def save(self) -> None:
        self.report["elapsed_s"] = round(time.monotonic() - self.started, 1)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.report, indent=2) + "\n")
        os.replace(tmp, self.path)  # a reader (or a kill) never sees half a file

    def stage(self, name: str, need_s: float, run) -> dict:
        """Run `run(cap_s) -> dict` if the budget holds `need_s`; record and save what happened."""
        entry = {"name": name, "status": "skipped", "seconds": 0.0}
        if (left := self.left()) < need_s:
            entry["reason"] = f"time guard: {left:.0f} s of the budget left, the stage needs about {need_s:.0f} s"
        else:
            say(f"== {name} ({left:.0f} s of the budget left)")
            start = time.monotonic()
            try:
                entry.update({"status": "ok", **run(left)})
            except Exception as e:  # a failed stage is a finding: record it and go on with the next
                traceback.print_exc(file=sys.stdout)
                entry.update(status="error", error=f"{type(e).__name__}: {e}")
            entry["seconds"] = round(time.monotonic() - start, 1)
        say(
            f"== {name}: {entry['status']} in {entry['seconds']} s"
            + (f" ({entry['reason']})" if "reason" in entry else "")
        )
        self.report["stages"].append(entry)
        self.save()
        return entry

    def finish(self) -> int:
        bad = [s["name"] for s in self.report["stages"] if s["status"] not in ("ok", "skipped")]
        guarded = [s["name"] for s in self.report["stages"] if s.get("reason", "").startswith("time guard")]
        self.report["status"] = "failed" if bad else "stopped by the time guard" if guarded else "complete"
        self.report["finished"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        self.save()
        return 1 if bad else 0


def say(text: str) -> None:
    print(text, flush=True)


def _versions() -> dict:
    versions = {"python": platform.python_version()}
    for name in VERSIONS:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    git = shutil.which("git") and subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    )
    versions["eqx-resnet commit"] = git.stdout.strip() if git and git.returncode == 0 else None  # .git may not travel
    return versions


def _nvidia_smi() -> str | None:
    """The GPU's name, driver, memory and clocks as nvidia-smi reports them (None without one)."""
    if not shutil.which("nvidia-smi"):
        return None
    query = "name,driver_version,memory.total,clocks.sm,clocks.max.sm,power.limit"
    proc = subprocess.run(["nvidia-smi", f"--query-gpu={query}", "--format=csv"], capture_output=True, text=True)
    return proc.stdout.strip() or proc.stderr.strip()


def run_command(command: list[str], timeout: float, env: dict | None = None) -> tuple[int | None, list[str], float]:
    """Run `command`, its output streamed into the log as it comes: (exit status or None when it
    ran past `timeout` seconds and was killed, its output lines, its wall time in seconds)."""
    say("$ " + " ".join(command))
    start = time.monotonic()
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []

    def pump():
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            print(line, end="", flush=True)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        status = proc.wait(timeout=max(timeout, 1))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        status = None
    reader.join(timeout=10)
    return status, lines, round(time.monotonic() - start, 2)


def tests_stage(dry_run: bool, cap: float) -> dict:
    # -rfE: every failure named in the summary; --durations: where the time went.
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-rfE",
        "--durations=15",
        "-p",
        "no:cacheprovider",
        *TESTS[dry_run],
    ]
    status, lines, _ = run_command(command, timeout=cap)
    summary = next((line for line in reversed(lines) if re.search(r"\d+ (passed|failed|error)", line)), "")
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)", summary)}
    result = "timed out" if status is None else "ok" if status == 0 else "failed"
    return {
        "status": result,
        "command": " ".join(command[1:]),
        "exit_status": status,
        "summary": summary.strip("= "),
        "counts": counts,
    }


def mnist_stage(run: str, dry_run: bool, workdir: Path, environment: dict, cap: float) -> dict:
    """`eqx-resnet train mnist` as one whole process in `environment` (a user's: JAX preallocates the
    GPU's memory), with the tier's persistent compilation cache."""
    cache = workdir / "jax-cache"
    env = {**environment, **{name: str(cache) for name in CACHE_ENV}}
    command = [*EQX_RESNET, "train", "mnist", "--out", str(workdir / run), "--json", *MNIST_ARGS[dry_run]]
    status, lines, wall = run_command(command, timeout=cap, env=env)
    entries = sum(1 for p in cache.rglob("*") if p.is_file()) if cache.exists() else 0
    result = {
        "status": "timed out" if status is None else "ok" if status == 0 else "failed",
        "wall_s": wall,
        "command": "eqx-resnet " + " ".join(command[len(EQX_RESNET) :]),
        "cache_entries_after": entries,
    }
    if status == 0:
        final = json.loads(
            next(line for line in reversed(lines) if line.startswith("{"))
        )  # --json's line; logs may follow
        result.update(
            {k: final[k] for k in ("test_acc", "epoch", "model", "images_per_s", "epoch_time_s") if k in final}
        )
        if not dry_run:
            result["targets"] = {
                "test_acc >= 0.995": final["test_acc"] >= MNIST_TARGETS["test_acc"],
                f"wall_s <= {MNIST_TARGETS[run + '_s']:.0f}": wall <= MNIST_TARGETS[run + "_s"],
            }
    return result


def input_pipeline_stage(dry_run: bool, cap: float) -> dict:
    """The hook for `benchmarks/input_pipeline.py`, which times decoding and augmenting JPEGs in worker
    processes: its `--json` prints one JSON object as its last line, recorded as the stage's result."""
    if not INPUT_PIPELINE.exists():
        return {"status": "skipped", "reason": f"{INPUT_PIPELINE.relative_to(REPO)} does not exist yet"}
    command = [sys.executable, str(INPUT_PIPELINE), *INPUT_PIPELINE_ARGS[dry_run]]
    status, lines, wall = run_command(command, timeout=min(cap, 120))
    result = {"status": "timed out" if status is None else "ok" if status == 0 else "failed", "wall_s": wall}
    try:
        result["result"] = json.loads(next(line for line in reversed(lines) if line.startswith("{")))
    except (StopIteration, ValueError):
        result["output_tail"] = lines[-5:]
    return result


def engine_stage(dry_run: bool, platform_name: str, cap: float) -> dict:
    """`eqx-resnet train imagefolder` through the streaming source against the bare step of the same model,
    batch, image size and precision: the engine's steady images/s over the bare step's, and the loader's
    figures (from the streaming source) that tell whether the data kept up."""
    from input_pipeline import write_folder

    engine, seconds = ENGINE[dry_run], ENGINE_SECONDS[dry_run]
    with tempfile.TemporaryDirectory(prefix="gpu-check-engine-") as scratch:
        data, events = Path(scratch) / "data", Path(scratch) / "events.jsonl"
        write_folder(data, engine["classes"], engine["steps"] * engine["batch"] // engine["classes"])
        args = ["train", "imagefolder", "--data-dir", str(data), "--out", str(Path(scratch) / "run"), *engine["args"]]
        args += ["--precision", engine["precision"], "--batch-size", str(engine["batch"])]
        args += ["--image-size", str(engine["size"]), *ENGINE_ARGS, "--json"]
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()  # the peers' cached memory, for the run's own process
        env = {**os.environ, "GPU_CHECK_EVENTS": str(events)}  # JAX allocating on demand, beside this process
        status, _, wall = run_command([*OBSERVED_EQX_RESNET, *args], timeout=cap - seconds["bare step"], env=env)
        result = {
            "status": "timed out" if status is None else "ok" if status == 0 else "failed",
            "command": "eqx-resnet " + " ".join(args),
            "wall_s": wall,
        }
        if status != 0:
            return result
        run = [json.loads(line) for line in events.read_text().splitlines()]
    start = next(e for e in run if e["event"] == "start")
    result.update(
        model=start["model"],
        precision=engine["precision"],
        batch_size=engine["batch"],
        image_size=engine["size"],
        steps_per_epoch=engine["steps"],
        **steady_rate(run, engine["batch"], engine["ramp"]),
    )
    # The dry run's one timed round, as its benchmark rows'; on the GPU 20 after 3 warm-up.
    rounds = 1 if dry_run else None
    bare = bare_step(platform_name, start["model"], start["model_options"], engine, rounds)
    result.update(
        bare_step_images_per_s=round(bare["images_per_s"], 1), bare_step_compile_s=round(bare["compile_s"], 1)
    )
    result["ratio"] = round(result["engine_images_per_s"] / bare["images_per_s"], 3)
    return result


def steady_rate(run: list[dict], batch: int, ramp: int) -> dict:
    """The engine's images/s over the last epoch's steps after its first `ramp`, from the progress events'
    times; the epoch's own figure (from its start: the workers' start included); the loader's last figures."""
    last = max(e["epoch"] for e in run if e["event"] == "epoch")
    steps = [e for e in run if e["event"] == "steps" and e["epoch"] == last and e["step"] >= max(ramp, 1)]
    if len(steps) < 2 or steps[-1]["step"] <= steps[0]["step"]:
        raise RuntimeError(f"the run's epoch {last} gave {len(steps)} step events after step {ramp}: too few to time")
    first, end = steps[0], steps[-1]
    epoch = next(e for e in run if e["event"] == "epoch" and e["epoch"] == last)
    return {
        "engine_images_per_s": round((end["step"] - first["step"]) * batch / (end["time"] - first["time"]), 1),
        "steps_timed": end["step"] - first["step"],
        "epoch_images_per_s": round(epoch["images_per_s"], 1),
        "loader": {k: round(end[k], 3) for k in ("loader_images_per_s", "step_images_per_s", "data_wait") if k in end},
    }


def bare_step(platform_name: str, model: str, options: dict, engine: dict, rounds: int | None) -> dict:
    """The benchmarks' training step (`eqx_training`: SGD with momentum, the carry donated from call to call)
    of `model` built with `options`, at `engine`'s batch, image size and precision, on one batch already on
    the device: images/s of the median round."""
    import jax
    import numpy as np

    from eqx_resnet import compiler_options, create_model
    from eqx_resnet.benchmarking import default_settings, measure, median
    from eqx_resnet.benchmarking.timing import jax_runner
    from eqx_resnet.benchmarking.workloads import eqx_training, init_key

    batch, size = engine["batch"], engine["size"]
    settings = default_settings(
        platform_name, batch=batch, resolution=size, precision=engine["precision"], rounds=rounds
    )
    network, state = create_model(model, key=init_key(), **options)
    train, carry = eqx_training(network, state, settings)
    rng = np.random.default_rng(0)
    images = rng.standard_normal((batch, options["in_channels"], size, size), np.float32)
    labels = rng.integers(0, options["num_classes"], batch).astype(np.int32)
    carry, inputs = jax.device_put((carry, (images, labels, jax.random.key(1))), jax.devices(platform_name)[0])
    runner = jax_runner(
        train, carry, inputs, train=True, parameters=0, compiler_options=compiler_options(platform_name)
    )
    times = measure({"bare step": runner}, rounds=settings.rounds, warmup=settings.warmup)["bare step"]
    return {"images_per_s": batch / median(times), "compile_s": runner.compile_s}


def engine_target(stage: dict) -> dict:
    """The engine stage's ratio against its target (at least 0.98), in `targets()`'s form."""
    return {
        "model": stage["model"],
        "step": "engine train",
        "precision": stage["precision"],
        "versus": "bare step",
        "ratio": stage["ratio"],
        "target": ENGINE_TARGET,
        "met": stage["ratio"] >= ENGINE_TARGET,
    }


def bench_rows(check: Check, platform_name: str, frameworks: list[str]) -> None:
    """The tier's benchmark rows, one stage per model and step, the frameworks side by side."""
    from eqx_resnet.benchmarking import default_settings
    from eqx_resnet.cli.bench import measure_rows

    groups = BENCH[check.tier]
    if check.dry_run:
        _, precision, steps, with_torch = groups[0]
        groups = [(("resnet18",), precision, steps if check.tier == "tier1" else ("inference",), with_torch)]
    for models, precision, steps, with_torch in groups:
        here = [f for f in frameworks if with_torch or f != "torch"]
        for model in models:
            if check.dry_run:
                settings = default_settings(platform_name, batch=2, resolution=32, precision=precision, rounds=1)
                need = 1.0
            else:
                settings = default_settings(platform_name, precision=precision)
                need = ROW_SECONDS[model] + (TORCH_COMPILE_SECONDS if "torch" in here else 0)
            settings = replace(settings, models=(model,))
            for step in steps:

                def run(cap, settings=settings, step=step, here=here):
                    [records] = measure_rows(settings, here, steps=(step,))
                    check.report["records"] += records
                    return {
                        "frameworks": here,
                        "images_per_s": {r["framework"]: round(r["images_per_s"], 1) for r in records},
                        "compile_s": {r["framework"]: round(r["compile_s"], 1) for r in records},
                    }

                entry = check.stage(f"{model} {step} {precision}", need * (0.7 if step == "inference" else 1.0), run)
                if not with_torch and entry["status"] == "ok" and "torch" in frameworks:
                    entry["note"] = (
                        "torch.compile left out: at this depth it compiled for over 150 s on an H100 (benchmarks/README.md)"
                    )
                    check.save()


def targets(records: list[dict]) -> list[dict]:
    """Each row's eqx-resnet speed over its target peer's, against its target."""
    from eqx_resnet.benchmarking import rows

    found = []
    for row in rows(records):
        peer, target = TARGETS[row["precision"]]
        speeds = row["images_per_s"]
        peers = [v for k, v in speeds.items() if k != "eqx-resnet" and (peer == "best peer" or k == peer)]
        if "eqx-resnet" in speeds and peers:
            ratio = speeds["eqx-resnet"] / max(peers)
            found.append(
                {
                    "model": row["model"],
                    "step": row["step"],
                    "precision": row["precision"],
                    "versus": peer,
                    "ratio": round(ratio, 3),
                    "target": target,
                    "met": ratio >= target,
                }
            )
    return found


def chart(check: Check) -> dict:
    from eqx_resnet.benchmarking.plot import plot

    try:
        path = plot(check.report["records"], check.path.with_suffix(".png"), date=check.report["date"])
    except (ImportError, ValueError) as e:
        return {"status": "skipped", "reason": str(e)}
    return {"file": path.name}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tier", nargs="?", choices=sorted(BENCH))
    parser.add_argument("--out", type=Path, help="Where TIER.json, and the chart, are written.")
    parser.add_argument(
        "--budget", type=float, help="Seconds the tier may take; stages that would not fit are skipped."
    )
    parser.add_argument("--dry-run", action="store_true", help="The same stages on the CPU at toy sizes.")
    parser.add_argument("--finalize", type=Path, metavar="JSON", help="Mark a report whose run was killed, and exit.")
    args = parser.parse_args(argv)
    if args.finalize:
        report = json.loads(args.finalize.read_text())
        if report["status"] == "running":
            report.update(status="killed by the shell's backstop: a stage outran the time guard")
            args.finalize.write_text(json.dumps(report, indent=2) + "\n")
        say(f"{args.finalize}: {report['status']}")
        return 0
    if not (args.tier and args.out and args.budget):
        parser.error("give a tier, --out and --budget (or --finalize JSON)")

    from eqx_resnet.benchmarking import share_gpu_memory

    environment = dict(os.environ)  # what a user's `eqx-resnet train` runs with
    share_gpu_memory()  # before JAX's backend starts, here and in the tests run below
    args.out.mkdir(parents=True, exist_ok=True)
    check = Check(args.tier, args.out, args.budget, args.dry_run)

    from eqx_resnet.benchmarking import describe_device, jax_platform, markdown
    from eqx_resnet.cli.bench import available_frameworks

    platform_name = "cpu" if args.dry_run else jax_platform()
    check.report.update(platform=platform_name, device=describe_device(platform_name))
    if not args.dry_run and platform_name != "gpu":
        check.report["status"] = "refused: JAX sees no GPU here; run with --dry-run on a CPU"
        check.save()
        say(check.report["status"])
        return 1
    check.save()
    # The measurements with targets first; the stages after them take what is left.
    # MNIST before the benchmarks: its process gets the GPU's memory as a user's would.
    if args.tier == "tier1":
        with tempfile.TemporaryDirectory(prefix="gpu-check-") as workdir:

            def mnist(run, cap_s):
                return lambda cap: mnist_stage(run, args.dry_run, Path(workdir), environment, min(cap, cap_s))

            if check.stage("mnist cold", 30, mnist("cold", 120))["status"] == "ok":
                check.stage("mnist warm", 15, mnist("warm", 90))
    bench_rows(check, platform_name, available_frameworks(platform_name))
    check.report["targets"] = targets(check.report["records"])
    check.stage("chart", 5, lambda cap: chart(check))
    if args.tier == "tier1":
        need = sum(ENGINE_SECONDS[args.dry_run].values())
        engine = check.stage("engine throughput", need, lambda cap: engine_stage(args.dry_run, platform_name, cap))
        if "ratio" in engine:
            check.report["targets"].append(engine_target(engine))
            check.save()
        check.stage("tests", 30, lambda cap: tests_stage(args.dry_run, cap))
    else:
        check.stage("input pipeline", 20, lambda cap: input_pipeline_stage(args.dry_run, cap))
    status = check.finish()
    say(markdown(check.report["records"]) if check.report["records"] else "no benchmark rows")
    for s in check.report["stages"]:
        say(
            f"{s['status']:>9}  {s['seconds']:7.1f} s  {s['name']}  {s.get('reason') or s.get('error') or s.get('summary') or ''}"
        )
    for t in check.report["targets"]:
        say(
            f"{'dry run, toy sizes on a CPU: ' if check.dry_run else ''}target {t['model']} {t['step']} {t['precision']}: "
            f"{t['ratio']:.2f}x {t['versus']} (target {t['target']}x) {'met' if t['met'] else 'MISSED'}"
        )
    say(f"{check.tier}: {check.report['status']} in {check.report['elapsed_s']} s; {check.path}")
    return status


if __name__ == "__main__":
    sys.exit(main())
