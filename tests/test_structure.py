"""The house rules a successor extends by: short functions, imports that flow one way
(pyproject.toml's [tool.importlinter]) and tests named after the modules they test. Each list of
exceptions gives a reason, and must shrink: an entry that no longer applies fails too."""

import ast
import subprocess
import sys
from pathlib import Path

from _imports import SRC

TESTS = Path(__file__).resolve().parent
MAX_LINES = 60

# "path under src/:qualname": why the function is longer than MAX_LINES.
LONG_FUNCTIONS = {
    "eqx_resnet/cli/bench.py:bench_command": "typer's signature (55 lines), one option and its help per parameter, and the checks of flags that go together",
    "eqx_resnet/cli/train.py:train_command": "typer's signature: the run's own 13 options and their help (71 lines); the settings' options are built from TrainConfig's fields",
    "eqx_resnet/cli/train.py:_train_with_progress": "the progress display around the engine's run; split when cli/train.py is next reworked",
    "eqx_resnet/models/resnet.py:ResNet.__init__": "timm's 26 ResNet options: the signature and their documentation alone take 67 lines",
}

# Test files named after no module of src/: what each tests instead.
TOPICS = {
    "test_checkpoint_crash.py": "training/checkpoint.py killed at each file-system call: also the script that forks the writers",
    "test_compose.py": "the library inside a user's Equinox code: models, registry, weights and forward together",
    "test_conftest.py": "tests/conftest.py's hooks",
    "test_cuda_lowering.py": "every step as a GPU would compile it, lowered on this CPU machine: the platform, not a module",
    "test_docs.py": "docs/: it covers the public API, its examples run and mkdocs builds it",
    "test_examples.py": "examples/",
    "test_forward_on_mesh.py": "models/forward.py on a 4-device mesh: also the child process's script (XLA_FLAGS before JAX starts)",
    "test_gpu_check.py": "benchmarks/gpu_check.sh and the GPU entry points",
    "test_import.py": "`import eqx_resnet` and what every module may import",
    "test_install.py": "pyproject.toml's requirements: what `pip install eqx-resnet` brings",
    "test_readme.py": "README.md: its first 80 lines' commands run, and its zoo table counts what the registry holds",
    "test_repository.py": "every tracked file: none says how the repository was built",
    "test_structure.py": "the source tree's rules, this file",
    "test_timm.py": "timm as the oracle of every model file and of the state-dict converters",
}


def _functions(tree: ast.AST, prefix: str = ""):
    """(qualname, lines) of each function in `tree`, methods and nested functions included; its lines
    from `def` to its end, docstring included, decorators not."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield prefix + node.name, node.end_lineno - node.lineno + 1
            yield from _functions(node, f"{prefix}{node.name}.<locals>.")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, f"{prefix}{node.name}.")
        else:
            yield from _functions(node, prefix)


def _long_functions() -> dict[str, int]:
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        for name, lines in _functions(ast.parse(path.read_text())):
            if lines > MAX_LINES:
                found[f"{path.relative_to(SRC).as_posix()}:{name}"] = lines
    return found


def test_no_function_is_over_60_lines_but_the_listed():
    found = _long_functions()
    new = {name: lines for name, lines in found.items() if name not in LONG_FUNCTIONS}
    assert not new, f"functions over {MAX_LINES} lines (split them into short ones): {new}"
    stale = sorted(set(LONG_FUNCTIONS) - set(found))
    assert not stale, f"no longer over {MAX_LINES} lines, or gone: remove them from LONG_FUNCTIONS: {stale}"


def test_the_function_walk_counts_nested_functions_and_methods_without_decorators():
    source = "class A:\n    @property\n    def f(self):\n        def g():\n            pass\n\n        return g\n"
    assert dict(_functions(ast.parse(source))) == {"A.f": 5, "A.f.<locals>.g": 2}


def _module_names() -> set[str]:
    """Each module's name under src/ (`stream`), with its packages' (`cli_train`), leading `_` dropped."""
    names = set()
    for path in SRC.rglob("*.py"):
        parts = [part.lstrip("_") for part in path.relative_to(SRC).with_suffix("").parts if part != "__init__"]
        parts = parts[1:] if parts[0] == "eqx_resnet" and len(parts) > 1 else parts
        names |= {parts[-1], "_".join(parts)}
    return names


def test_test_files_are_named_after_the_module_they_test():
    modules, files = _module_names(), {path.name for path in TESTS.glob("test_*.py")}
    unnamed = sorted(f for f in files if f.removeprefix("test_").removesuffix(".py") not in modules)
    new = [f for f in unnamed if f not in TOPICS]
    assert not new, (
        f"name these after the module they test (test_stream.py for data/stream.py), or add to TOPICS: {new}"
    )
    stale = sorted(set(TOPICS) - set(unnamed))
    assert not stale, f"named after a module now, or gone: remove them from TOPICS: {stale}"


def test_imports_flow_one_way():
    """pyproject.toml's contracts: data -> models -> weights -> training -> cli, never back, and no
    cycles among a package's modules."""
    # In a process of its own: import-linter puts its working directory on sys.path.
    lint_imports = [Path(sys.executable).with_name("lint-imports"), "--no-cache", "--no-logo"]
    result = subprocess.run(lint_imports, cwd=SRC.parent, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
