"""What `pip install eqx-resnet` brings, without extras: its requirements and theirs, read from the
installed packages' metadata, as a fresh venv's `pip list` shows them (pip and setuptools aside).
A new dependency, or a new dependency of one, changes the list: growth shows here."""

import re
from importlib.metadata import PackageNotFoundError, distribution

from packaging.requirements import Requirement

# Measured in a fresh venv after `pip install .` (Python 3.11, Linux x86-64, 2026-12-07): 26 packages.
LIGHT = {
    "absl-py", "annotated-doc", "annotated-types", "beartype", "equinox", "eqx-resnet", "jax", "jaxlib",
    "jaxtyping", "markdown-it-py", "mdurl", "ml-dtypes", "numpy", "opt-einsum", "optax", "pydantic",
    "pydantic-core", "pygments", "rich", "safetensors", "scipy", "shellingham", "typer", "typing-extensions",
    "typing-inspection", "wadler-lindig",
}  # fmt: skip
MAX_PACKAGES = 27  # the light install's ceiling; 55 before the extras


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(root: str) -> set[str]:
    """`root` and every package its requirements bring, extras left out, markers read for this machine."""
    seen, todo = set(), [root]
    while todo:
        name = normalized(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = distribution(name).requires or []
        except PackageNotFoundError:  # where one is missing, the list below says which
            continue
        for line in requires:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


def test_the_light_install_brings_what_it_did_and_no_more():
    light = closure("eqx-resnet")
    assert sorted(light - LIGHT) == [] and sorted(LIGHT - light) == []
    assert len(light) <= MAX_PACKAGES


def test_type_checkers_read_the_annotations():
    import tomllib
    from importlib.resources import files
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["eqx_resnet"]  # in the wheel
    assert (files("eqx_resnet") / "py.typed").is_file()
