"""`eqx-resnet bench --plot`: a chart of a benchmark JSON, drawn from a hand-made one (nothing is measured)."""

import json
import os
import sys

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from eqx_resnet.benchmarking.plot import MISSING_MATPLOTLIB, plot, read_records
from eqx_resnet.cli import app

runner = CliRunner()
# matplotlib's default colours C0, C1, C2: eqx-resnet, flax, torch.
COLOURS = {"eqx-resnet": (0x1F, 0x77, 0xB4), "flax": (0xFF, 0x7F, 0x0E), "torch": (0x2C, 0xA0, 0x2C)}


def records(frameworks=("eqx-resnet", "flax", "torch"), models=("resnet18", "resnet50", "resnet152", "preact_resnet")):
    base = dict(
        precision="bf16",
        batch=256,
        input="3x224x224",
        device="NVIDIA H200",
        platform="gpu",
        compile_s=12.0,
        tflops_per_s=100.0,
        host_load_1min=1.0,
    )
    speed = {"resnet18": 16000.0, "resnet50": 5600.0, "resnet152": 2700.0, "preact_resnet": 90000.0}
    return [
        dict(base, framework=f, model=m, step=s, images_per_s=speed[m] * (3 if s == "inference" else 1) * (1 + 0.1 * k))
        for m in models
        for s in ("inference", "train")
        for k, f in enumerate(frameworks)
    ]


@pytest.fixture
def results(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"records": records(), "date": "2026-11-30"}))
    return path


def test_plot_from_json_draws_every_framework(results, tmp_path):
    out = tmp_path / "chart.png"
    result = runner.invoke(app, ["bench", "--plot", str(out), "--from-json", str(results)])
    assert result.exit_code == 0, result.output
    assert "resnet152" in result.stdout and f"wrote {out}" in result.output  # the table, then the chart
    image = np.asarray(Image.open(out).convert("RGB"))
    assert image.shape[0] > 300 and image.shape[1] > 800, image.shape
    colours = {tuple(c) for c in image.reshape(-1, 3)}
    assert set(COLOURS.values()) <= colours  # a bar of each framework
    assert len(colours) > 100  # text and anti-aliasing: more than blank axes


def test_from_json_joins_several_runs(tmp_path):
    first, second = tmp_path / "tier1.json", tmp_path / "tier2.json"
    first.write_text(json.dumps({"records": records(models=("resnet50",)), "date": "2026-11-30"}))
    second.write_text(json.dumps({"records": records(models=("resnet18", "resnet152")), "date": "2026-11-30"}))
    result = runner.invoke(
        app,
        [
            "bench",
            "--from-json",
            str(first),
            "--from-json",
            str(second),
            "--markdown",
            str(tmp_path / "table.md"),
            "--plot",
            str(tmp_path / "chart.png"),
        ],
    )
    assert result.exit_code == 0, result.output
    table = (tmp_path / "table.md").read_text()
    assert all(f"| {m} | train |" in table for m in ("resnet18", "resnet50", "resnet152"))
    assert (tmp_path / "chart.png").stat().st_size > 10_000


def test_plot_draws_one_row_of_panels_per_precision(tmp_path):
    mixed = records() + [dict(r, precision="fp32") for r in records(models=("resnet50",))]
    one, two = tmp_path / "one.png", tmp_path / "two.png"
    plot(records(), one, date="2026-11-30")
    plot(mixed, two, date="2026-11-30")
    assert Image.open(two).height > 1.8 * Image.open(one).height


def test_a_peer_missing_from_the_records_is_left_out(tmp_path):
    out = tmp_path / "chart.png"
    plot(records(frameworks=("eqx-resnet", "flax")), out, date="2026-11-30")
    colours = {tuple(c) for c in np.asarray(Image.open(out).convert("RGB")).reshape(-1, 3)}
    assert COLOURS["flax"] in colours and COLOURS["torch"] not in colours


def test_records_without_imagenet_resnets_are_refused(tmp_path):
    path = tmp_path / "small.json"
    path.write_text(json.dumps({"records": records(models=("preact_resnet",))}))
    result = runner.invoke(app, ["bench", "--plot", str(tmp_path / "chart.png"), "--from-json", str(path)])
    assert result.exit_code == 1 and "nothing to plot by depth" in result.output
    assert not (tmp_path / "chart.png").exists()


def test_missing_matplotlib_is_one_line_naming_the_extra(results, tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'eqx-resnet\[plot\]'"):
        plot(records(), tmp_path / "chart.png", date="2026-11-30")
    result = runner.invoke(app, ["bench", "--plot", str(tmp_path / "chart.png"), "--from-json", str(results)])
    assert result.exit_code == 1 and MISSING_MATPLOTLIB in result.output and "Traceback" not in result.output


def test_from_json_measures_nothing_so_run_options_are_refused(results):
    result = runner.invoke(app, ["bench", "--from-json", str(results), "--depths", "50", "--smoke"])
    assert result.exit_code == 2 and "leave out --depths, --smoke" in result.output


def test_read_records_takes_the_json_date_or_the_file_date(results, tmp_path):
    assert read_records(results) == (records(), "2026-11-30")
    undated = tmp_path / "undated.json"
    undated.write_text(json.dumps({"records": records()}))
    os.utime(undated, (0, 86400 * 365 + 43200))  # noon, 1971-01-01
    assert read_records(undated)[1] == "1971-01-01"
    for text, problem in [(None, "does not exist"), ("[1, 2]", "not a benchmark JSON"), ("{", "not a benchmark JSON")]:
        bad = tmp_path / "bad.json"
        bad.unlink(missing_ok=True)
        if text is not None:
            bad.write_text(text)
        with pytest.raises(ValueError, match=problem):
            read_records(bad)


def test_the_title_names_device_date_and_a_busy_host(tmp_path, monkeypatch):
    import matplotlib.figure

    titles, savefig = [], matplotlib.figure.Figure.savefig
    monkeypatch.setattr(
        matplotlib.figure.Figure,
        "savefig",
        lambda fig, *a, **k: (titles.append(fig.get_suptitle()), savefig(fig, *a, **k)),
    )
    plot(records(), tmp_path / "quiet.png", date="2026-11-30")
    plot([dict(r, platform="cpu", host_load_1min=7.9) for r in records()], tmp_path / "busy.png", date="2026-11-30")
    assert "NVIDIA H200, 2026-11-30" in titles[0] and "busy host" not in titles[0]
    assert "busy host (1-minute load up to 7.9)" in titles[1]
