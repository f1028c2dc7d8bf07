"""The documentation under docs/ covers the public API, and its code blocks are Python.

`.ci/run` builds the pages with `mkdocs build --strict`; these checks need no MkDocs.
"""

import re
from pathlib import Path

import pytest

import eqx_resnet

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(DOCS.glob("*.md"))


def documented() -> set[str]:
    """The last part of every `::: target` of every page."""
    return {
        target.rsplit(".", 1)[-1]
        for page in PAGES
        for target in re.findall(r"^::: (\S+)", page.read_text(), re.MULTILINE)
    }


def test_every_public_name_has_api_docs():
    public = set(eqx_resnet.__all__) - {"layers"} | set(eqx_resnet.layers.__all__)
    assert sorted(public - documented()) == []


def test_every_page_is_in_the_navigation():
    nav = set(re.findall(r":\s*(\S+\.md)\s*$", (DOCS.parent / "mkdocs.yml").read_text(), re.MULTILINE))
    assert nav == {page.name for page in PAGES}


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_python_blocks_are_python(page):
    for block in re.findall(r"```python\n(.*?)```", page.read_text(), re.DOTALL):
        compile(block, str(page), "exec")


def _set_row(w, best: bool) -> str:
    """A weight set's row of the README's table, from its architecture's description."""
    from eqx_resnet.data.preprocessing import IMAGENET_MEAN, IMAGENET_STD

    pre = w.preprocessing
    stats = (
        ""
        if (pre.mean, pre.std) == (IMAGENET_MEAN, IMAGENET_STD)
        else ", mean and std 0.5"
        if pre.mean == pre.std == (0.5, 0.5, 0.5)
        else f", mean {pre.mean} std {pre.std}"
    )
    name = f"`{w.name}`" + (" (`imagenet`)" if best else "")
    return f"| {name} | {w.top1:.3f} | {pre.resize_size} -> {pre.crop_size}, {pre.interpolation}{stats} | {w.license} |"


def test_the_readmes_weight_sets_are_the_descriptions():
    from eqx_resnet.weights import list_pretrained

    readme = (DOCS.parent / "README.md").read_text()
    table = readme.split("| weights | top-1 (%) | preprocessing | licence |\n|---|---|---|---|\n")[1].split("\n\n")[0]
    expected = [_set_row(w, list_pretrained(w.model)[0] is w) for w in list_pretrained()]
    assert table.splitlines() == expected
