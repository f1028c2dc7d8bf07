"""`data.imagenet`: the 1000 classes in index order, read from the package's data files, which the
wheel carries."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from eqx_resnet.data.imagenet import IMAGENET_CLASSES, IMAGENET_SYNSETS

ROOT = Path(__file__).resolve().parents[1]
TABLES = ("eqx_resnet/data/imagenet_synsets.txt", "eqx_resnet/data/imagenet_classes.txt")


def test_imagenet_classes_are_the_standard_1000_in_index_order():
    assert len(IMAGENET_CLASSES) == len(IMAGENET_SYNSETS) == 1000
    assert list(IMAGENET_SYNSETS) == sorted(set(IMAGENET_SYNSETS))  # index order is the sorted WordNet ids
    assert (IMAGENET_SYNSETS[0], IMAGENET_CLASSES[0]) == ("n01440764", "tench, Tinca tinca")
    assert IMAGENET_CLASSES[281] == "tabby, tabby cat" and IMAGENET_CLASSES[999].startswith("toilet tissue")
    assert (IMAGENET_SYNSETS[999], IMAGENET_CLASSES[517]) == ("n15075141", "crane")


def test_the_wheel_carries_the_class_tables(tmp_path):
    """`pip wheel .` of a copy of the project (the working tree stays clean; no network)."""
    project = tmp_path / "project"
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, project)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q"]
    result = subprocess.run([*command, "-w", tmp_path, project], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    (wheel,) = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as z:
        assert [z.read(name).decode().splitlines() for name in TABLES] == [
            list(IMAGENET_SYNSETS),
            list(IMAGENET_CLASSES),
        ]
