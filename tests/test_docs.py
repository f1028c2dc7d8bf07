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


def test_the_models_page_tables_are_generated_from_the_descriptions():
    import importlib.util

    from eqx_resnet.weights import list_pretrained

    spec = importlib.util.spec_from_file_location("hooks", DOCS / "hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    page = hooks.on_page_markdown((DOCS / "models.md").read_text())
    assert "<!-- eqx-resnet" not in page
    rows = {line.split(" | ")[0].removeprefix("| "): line for line in page.splitlines() if line.startswith("| `")}
    for name in eqx_resnet.list_models():
        stages = ", ".join(f"{f.module} {f.channels}/{f.reduction}" for f in eqx_resnet.describe(name).features)
        assert f"`{name}`" in rows and (stages or "-") in rows[f"`{name}`"], name
    for w in list_pretrained():
        top1 = "not published" if w.top1 is None else f"{w.top1:.3f}"
        assert f" | {top1} | " in rows[f"`{w.name}`"] and (w.license or "not stated") in rows[f"`{w.name}`"]
