"""A chart of benchmark records: images/s by ResNet depth for each framework, training and inference side by side.

`eqx-resnet bench --plot FILE.png` draws the run it just made, or with `--from-json
RESULTS.json` a run saved earlier (by `--json`, or `benchmarks/gpu_check.sh`). matplotlib
comes with the `plot` extra and is imported only here, when a chart is drawn.
"""

import datetime
import json
import re
from pathlib import Path

from .report import busy_host_warning, rows
from .workloads import FRAMEWORKS

MISSING_MATPLOTLIB = "plotting needs matplotlib: pip install 'eqx-resnet[plot]'"
_DEPTH = re.compile(r"resnet(\d+)")  # the ImageNet ResNets; the CIFAR stem, PreActResNet and AlexNet have no depth axis
_STEP_TITLES = {"train": "training", "inference": "inference"}


def by_depth(model: str) -> bool:
    """Whether the chart draws `model`: a plain ImageNet ResNet of a depth (`"resnet50"`)."""
    return _DEPTH.fullmatch(model) is not None


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend; `ImportError` with the install command if it is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(MISSING_MATPLOTLIB) from None
    return plt


def read_records(path: Path) -> tuple[list[dict], str]:
    """The records of a benchmark JSON (`{"records": [...], ...}`) and its date: its `"date"`, else the file's."""
    try:
        data = json.loads(Path(path).read_text())
        records = data["records"]
    except FileNotFoundError:
        raise ValueError(f"{path} does not exist: pass a file written by `eqx-resnet bench --json`") from None
    except (json.JSONDecodeError, KeyError, TypeError):
        raise ValueError(
            f"{path} is not a benchmark JSON with a 'records' list (as `eqx-resnet bench --json` writes)"
        ) from None
    date = data.get("date") or datetime.date.fromtimestamp(Path(path).stat().st_mtime).isoformat()
    return records, date


def plot(records: list[dict], path: Path, *, date: str, dpi: int = 100) -> Path:
    """Draw `records` as a PNG at `path` and return `path`.

    One panel per step (training left, inference right) and per precision, batch and input:
    bars of images/s for each framework at each ResNet depth, labelled with eqx-resnet's
    speed over the best peer's. The title names the device(s) and `date`, and a busy host
    (`report.busy_host_warning`). Models without a
    depth (the CIFAR stem, PreActResNet, AlexNet) are left out. Raises `ValueError` when no
    record is an ImageNet ResNet, `ImportError` when matplotlib is missing.
    """
    by_panel: dict[tuple, dict[int, dict]] = {}
    for row in rows(records):
        if match := _DEPTH.fullmatch(row["model"]):
            panel = (row["precision"], row["batch"], row["input"], row["step"])
            by_panel.setdefault(panel, {})[int(match[1])] = row
    if not by_panel:
        raise ValueError("no ImageNet ResNet (resnet18 ... resnet152) among the records: nothing to plot by depth")
    plt = pyplot()
    settings = sorted({panel[:3] for panel in by_panel}, key=lambda s: (s[0] != "bf16", s))
    frameworks = [
        f for f in FRAMEWORKS if any(f in row["images_per_s"] for p in by_panel.values() for row in p.values())
    ]
    fig, axes = plt.subplots(len(settings), 2, figsize=(11, 3.8 * len(settings)), squeeze=False)
    for (precision, batch, shape), axes_row in zip(settings, axes):
        for step, ax in zip(_STEP_TITLES, axes_row):
            _draw(ax, by_panel.get((precision, batch, shape, step), {}), frameworks)
            ax.set_title(f"{_STEP_TITLES[step]}, {precision}, batch {batch}, input {shape}", fontsize=10)
    devices = ", ".join(sorted({r["device"] for r in records}))
    title = f"images/s by ResNet depth (eqx-resnet / best peer above the bars)\n{devices}, {date}"
    if busy_host_warning(records):  # say so on the chart too: it travels without the table's warning
        title += (
            f"; busy host (1-minute load up to {max(r['host_load_1min'] for r in records):.1f}): CPU figures distorted"
        )
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return Path(path)


def _draw(ax, by_depth: dict[int, dict], frameworks: list[str]) -> None:
    """Grouped bars: one group per depth, one bar per framework, the ratio over each group."""
    depths = sorted(by_depth)
    width = 0.8 / len(frameworks)
    for k, framework in enumerate(frameworks):
        speeds = [by_depth[d]["images_per_s"].get(framework, 0.0) for d in depths]
        ax.bar(
            [i + (k - (len(frameworks) - 1) / 2) * width for i in range(len(depths))],
            speeds,
            width,
            label=framework,
            color=f"C{FRAMEWORKS.index(framework)}",
        )
    for i, d in enumerate(depths):
        if (ratio := by_depth[d]["ratio_vs_best_peer"]) is not None:
            ax.annotate(
                f"{ratio:.2f}x",
                (i, max(by_depth[d]["images_per_s"].values())),
                ha="center",
                va="bottom",
                xytext=(0, 2),
                textcoords="offset points",
                fontsize=8,
            )
    ax.set_xticks(range(len(depths)), [f"resnet{d}" for d in depths])
    ax.set_ylabel("images/s")
    ax.margins(y=0.12)
    ax.grid(axis="y", alpha=0.3)
    if depths:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
