"""`eqx-resnet plot`: a run's loss and accuracy curves as a PNG."""

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..benchmarking.plot import pyplot
from .app import app
from .console import UsageError, console, errors


def _pyplot():
    """matplotlib's pyplot on the file-only Agg backend, or a one-line error saying how to install it."""
    try:
        return pyplot()
    except ImportError as e:
        raise UsageError(str(e)) from None


@app.command("plot")
def plot_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory with metrics.jsonl.")],
    out: Annotated[Optional[Path], typer.Option(help="PNG to write. Default: RUN_DIR/metrics.png.")] = None,
):
    """Draw a run's loss and accuracy curves (train and test) as a PNG. Needs matplotlib: pip install 'eqx-resnet[plot]'."""
    with errors():
        metrics = run_dir / "metrics.jsonl"
        if not metrics.exists():
            raise UsageError(f"{metrics} does not exist: pass the --out directory of a training run")
        rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
        if not rows:
            raise UsageError(f"{metrics} holds no epochs yet: plot once the run has finished an epoch")
        plt = _pyplot()
        epochs = [r["epoch"] for r in rows]
        fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
        for split in ("train", "test"):
            ax_loss.plot(epochs, [r[f"{split}_loss"] for r in rows], marker="o", label=split)
            ax_acc.plot(epochs, [100 * r[f"{split}_acc"] for r in rows], marker="o", label=split)
        ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
        ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
        for ax in (ax_loss, ax_acc):
            ax.grid(alpha=0.3)
            ax.legend()
        fig.tight_layout()
        out = out or run_dir / "metrics.png"
        fig.savefig(out, dpi=120)
    console().print(f"wrote {out}")
