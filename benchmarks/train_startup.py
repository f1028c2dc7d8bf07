"""Time to the first step of `eqx-resnet train`, cold and with the persistent compilation cache warm.

    python benchmarks/train_startup.py                     # mnist, 3 repeats each way
    python benchmarks/train_startup.py --repeats 5 -- --model resnet18

Each measurement is a new `eqx-resnet train mnist --epochs 1 --max-train-samples 1280` process (10
steps of 128 images, then the evaluation of the 10,000 test images), with the arguments after `--`
added. A cold run gets an empty compilation cache, a warm one the cache a cold run has just filled.
The engine's stage markers (`EQX_RESNET_STAGE_MARKERS=1`, stderr) split the run into phases, each
timed from the previous mark, in seconds:

- start: Python, the imports and the CLI up to the run's validation;
- prepare: the run directory, its lock and config (up to the data);
- data: reading the dataset and building the model and optimiser;
- first step: compiling (or loading from the cache) and queueing the first step;
- epoch end: the other 9 steps, compiling and running the evaluation, the checkpoints and the
  metrics, until the epoch's row is printed;
- exit: the process's end.

Prints the median of each phase, cold and warm, and the 1-minute load average before and after.
Not a test: CI does not run it. The MNIST files must be in `./data` (or `--data-dir` after `--`).
"""

import argparse
import datetime
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PHASES = {"validation": "start", "data": "prepare", "compile": "data", "step": "first step"}


def run_once(cache: Path, out: Path, extra: list[str]) -> dict[str, float]:
    """One `train` process: seconds per phase (PHASES' values, "epoch end", "exit" and "total")."""
    command = [
        str(Path(sys.executable).with_name("eqx-resnet")),
        "train",
        "mnist",
        "--epochs",
        "1",
        "--max-train-samples",
        "1280",
        "--out",
        str(out),
        "--compilation-cache",
        str(cache),
        "--json",
        *extra,
    ]
    env = {**os.environ, "EQX_RESNET_STAGE_MARKERS": "1"}
    start = last = time.perf_counter()
    phases: dict[str, float] = {}
    with subprocess.Popen(
        command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        for line in process.stdout:  # the stage marks (stderr) and, once the epoch is recorded, its row (--json)
            stage = line.strip().removeprefix("stage: ")
            phase = PHASES.get(stage) if line.startswith("stage: ") else "epoch end" if line.startswith("{") else None
            if phase is not None and phase not in phases:
                now = time.perf_counter()
                phases[phase], last = now - last, now
    if process.returncode != 0 or len(phases) < len(PHASES) + 1:
        raise SystemExit(f"train failed (exit {process.returncode}, phases {list(phases)}): {' '.join(command)}")
    phases["exit"] = time.perf_counter() - last
    phases["total"] = time.perf_counter() - start
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="cold and warm runs each (default: 3)")
    parser.add_argument("extra", nargs="*", help="arguments for `train` after `--`")
    args = parser.parse_args()
    print(
        f"{datetime.date.today()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} before; "
        f"train mnist --epochs 1 --max-train-samples 1280 {' '.join(args.extra)}",
        flush=True,
    )
    runs: dict[str, list[dict[str, float]]] = {"cold": [], "warm": []}
    with tempfile.TemporaryDirectory() as scratch:
        for repeat in range(args.repeats):
            cache = Path(scratch, f"cache-{repeat}")
            for kind in runs:  # cold fills the cache, warm reads it
                runs[kind].append(run_once(cache, Path(scratch, f"run-{repeat}-{kind}"), args.extra))
            shutil.rmtree(cache)
    names = [*PHASES.values(), "epoch end", "exit", "total"]
    print(f"{'seconds (median)':<18}" + "".join(f"{name:>12}" for name in names))
    for kind, measured in runs.items():
        print(f"{kind:<18}" + "".join(f"{statistics.median(m[n] for m in measured):>12.2f}" for n in names))
    print(f"load average {os.getloadavg()[0]:.2f} after")


if __name__ == "__main__":
    main()
