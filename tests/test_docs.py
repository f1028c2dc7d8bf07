"""The documentation under docs/ covers the public API, its code blocks are Python, the API pages'
examples run, and `mkdocs build --strict` builds it (the one build CI makes)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import eqx_resnet

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
# A page per public module, under docs/api/, each with an example (```python) that runs here.
API_PAGES = {name: DOCS / "api" / f"{name}.md" for name in ("models", "layers", "weights", "training", "data", "cli")}


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
    nav = set(
        re.findall(r"^\s*- (?:[^:\n]+:\s*)?(\S+\.md)\s*$", (DOCS.parent / "mkdocs.yml").read_text(), re.MULTILINE)
    )
    assert nav == {page.relative_to(DOCS).as_posix() for page in PAGES}


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(DOCS).as_posix())
def test_python_blocks_are_python(page):
    for block in re.findall(r"```python\n(.*?)```", page.read_text(), re.DOTALL):
        compile(block, str(page), "exec")


def test_the_models_page_tables_are_generated_from_the_descriptions():
    from eqx_resnet.weights import list_pretrained

    # The hook in a child, as mkdocs runs it: without the tests' type-checking import hook
    # (tests/conftest.py), which makes building all 82 models six times slower.
    generate = "import runpy, sys; print(runpy.run_path(sys.argv[1])['on_page_markdown'](open(sys.argv[2]).read()))"
    child = [sys.executable, "-c", generate, str(DOCS / "hooks.py"), str(DOCS / "models.md")]
    page = subprocess.run(child, capture_output=True, text=True, timeout=300, check=True).stdout
    assert "<!-- eqx-resnet" not in page
    rows = {line.split(" | ")[0].removeprefix("| "): line for line in page.splitlines() if line.startswith("| `")}
    for name in eqx_resnet.list_models():
        stages = ", ".join(f"{f.module} {f.channels}/{f.reduction}" for f in eqx_resnet.describe(name).features)
        assert f"`{name}`" in rows and (stages or "-") in rows[f"`{name}`"], name
    for w in list_pretrained():
        top1 = "not published" if w.top1 is None else f"{w.top1:.3f}"
        assert f" | {top1} | " in rows[f"`{w.name}`"] and (w.license or "not stated") in rows[f"`{w.name}`"]


@pytest.mark.parametrize("module", API_PAGES)
def test_each_api_page_documents_its_module_and_its_example_runs(module, monkeypatch):
    page = API_PAGES[module].read_text()
    assert re.search(rf"^::: eqx_resnet\.{module}$", page, re.MULTILINE)
    blocks = re.findall(r"```python\n(.*?)```", page, re.DOTALL)
    assert blocks, f"{module}: no example"
    monkeypatch.chdir(DOCS.parent)  # the examples read a clone's data/
    for block in blocks:
        exec(compile(block, str(API_PAGES[module]), "exec"), {})


def test_the_site_builds_strictly_with_the_weights_api(tmp_path):
    pytest.importorskip("mkdocs")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # warnings fail the build, and it fetches nothing
    build = [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(tmp_path)]
    result = subprocess.run(build, cwd=DOCS.parent, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    weights = (tmp_path / "api" / "weights" / "index.html").read_text()
    for name in ("load_state_dict", "to_state_dict", "create_pretrained"):
        assert f'id="eqx_resnet.weights.{name}"' in weights, name
    for module in API_PAGES:
        assert f'id="eqx_resnet.{module}.' in (tmp_path / "api" / module / "index.html").read_text(), module
