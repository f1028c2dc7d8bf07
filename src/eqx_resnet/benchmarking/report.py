"""What a measurement reports, and the table that puts the frameworks of a row side by side.

A record is a flat dict (pytest-benchmark's `extra_info`, the CLI's JSON). A row is
one model, step, precision, batch and input: images per second of each framework,
and eqx-resnet's over the best peer's (above 1: eqx-resnet is faster).
"""

import json
import os
from collections.abc import Callable
from pathlib import Path

from rich.table import Table

from .timing import cpu_cores
from .workloads import FRAMEWORKS, Workload


def record(workload: Workload, median_s: float, min_s: float) -> dict:
    """The reported facts of one measured workload: speeds from its median round, `median_s` seconds."""
    settings, runner = workload.settings, workload.runner
    images_per_s = settings.batch / median_s
    flops_per_image = runner.flops / settings.batch
    return {
        "framework": workload.framework,
        "model": workload.model,
        "step": workload.step,
        "precision": settings.precision,
        "batch": settings.batch,
        "input": "x".join(map(str, workload.input_shape)),
        "optimizer": settings.optimizer if workload.step == "train" else None,
        "device": workload.device,
        "images_per_s": images_per_s,
        "median_s": median_s,
        "min_s": min_s,  # the fastest round: less sensitive than the median to a brief busy spell
        "rounds": settings.rounds,
        "warmup_rounds": settings.warmup,
        "compile_s": runner.compile_s,
        "flops_per_image": flops_per_image,
        "flops_source": runner.flops_source,
        "tflops_per_s": images_per_s * flops_per_image / 1e12,
        "parameters": runner.parameters,
        "flops_vs_published_224": workload.flops_vs_published,
        "platform": settings.platform,
        "host_load_1min": os.getloadavg()[0],  # a busy host slows every framework, torch's OpenMP most
    }


def rows(records: list[dict]) -> list[dict]:
    """Records grouped by model, step, precision, batch and input, in first-seen order."""
    grouped: dict[tuple, dict] = {}
    for r in records:
        key = (r["model"], r["step"], r["precision"], r["batch"], r["input"])
        row = grouped.setdefault(key, dict(zip(("model", "step", "precision", "batch", "input"), key), images_per_s={}))
        row["images_per_s"][r["framework"]] = r["images_per_s"]
        if r["framework"] == "eqx-resnet":
            row["eqx_compile_s"] = r["compile_s"]
            row["eqx_tflops_per_s"] = r["tflops_per_s"]
    for row in grouped.values():
        ours = row["images_per_s"].get("eqx-resnet")
        peers = [v for k, v in row["images_per_s"].items() if k != "eqx-resnet"]
        row["ratio_vs_best_peer"] = ours / max(peers) if ours and peers else None
    return list(grouped.values())


def busy_host_warning(records: list[dict]) -> str | None:
    """A warning when the host ran more than the benchmark's own threads during CPU measurements."""
    loads = [r["host_load_1min"] for r in records if r["platform"] == "cpu"]
    if not loads or max(loads) <= cpu_cores() + 0.5:  # the run itself keeps every core busy
        return None
    return (
        f"warning: the host was busy (1-minute load up to {max(loads):.1f} on {cpu_cores()} cores): other jobs "
        "slowed these CPU numbers, PyTorch's most; measure on a quiet machine to compare frameworks"
    )


def _cells(row: dict) -> list[str]:
    speeds = [f"{row['images_per_s'][f]:,.1f}" if f in row["images_per_s"] else "-" for f in FRAMEWORKS]
    ratio = row["ratio_vs_best_peer"]
    compile_s = row.get("eqx_compile_s")
    return [
        row["model"],
        row["step"],
        row["precision"],
        str(row["batch"]),
        row["input"],
        *speeds,
        "-" if ratio is None else f"{ratio:.2f}",
        "-" if compile_s is None else f"{compile_s:.1f}",
    ]


_HEADERS = [
    "model",
    "step",
    "precision",
    "batch",
    "input",
    *(f"{f} img/s" for f in FRAMEWORKS),
    "eqx / best peer",
    "eqx compile s",
]


def rich_table(records: list[dict], title: str = "") -> Table:
    """The side-by-side table for a terminal."""
    table = Table(*_HEADERS, title=title or None)
    for row in rows(records):
        table.add_row(*_cells(row))
    return table


def markdown(records: list[dict]) -> str:
    """The side-by-side table in Markdown, preceded by the device."""
    devices = sorted({r["device"] for r in records})
    warning = busy_host_warning(records)
    lines = [f"Device: {', '.join(devices)}", *([warning] if warning else []), ""]
    lines += ["| " + " | ".join(_HEADERS) + " |", "|" + "---|" * len(_HEADERS)]
    lines += ["| " + " | ".join(_cells(row)) + " |" for row in rows(records)]
    return "\n".join(lines) + "\n"


def write_json(records: list[dict], path: Path, table: Callable[[list[dict]], list[dict]] = rows) -> None:
    """All records and their `table` (the side-by-side rows, or `scaling.scaling_rows`), as JSON."""
    path.write_text(json.dumps({"records": records, "rows": table(records)}, indent=2) + "\n")
