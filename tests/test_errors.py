"""`eqx_resnet.errors`: every error and warning of the package, defined once, importable from where
it is raised too, and importing nothing of the package (every layer may import it); their messages in a
Python caller's words."""

import ast
import importlib
import re

import pytest
from _imports import SRC, imports

from eqx_resnet import errors

# Where each is raised and re-exported: the names callers have imported from.
RAISED_IN = {
    "BadImage": ["data.transforms"],
    "BadImageWarning": ["data.stream"],
    "BenchmarkError": ["benchmarking", "benchmarking.timing"],
    "CheckpointError": ["training", "training.errors"],
    "ConfigError": ["training", "training.config"],
    "CorruptCheckpointError": ["training.checkpoint", "training.errors"],
    "DataWaitWarning": ["data.stream"],
    "DatasetError": ["data", "data.idx"],
    "FolderLinkWarning": ["data.folder"],
    "Interrupted": ["training", "training.errors"],
    "TrainingError": ["training", "training.errors"],
    "UsageError": ["cli.console"],
    "WeightsError": ["weights", "weights.state_dict"],
}


@pytest.mark.parametrize("name", sorted(RAISED_IN))
def test_each_error_is_defined_once_and_importable_where_it_is_raised(name):
    error = getattr(errors, name)
    assert issubclass(error, Exception) and error.__module__ == "eqx_resnet.errors"
    for module in RAISED_IN[name]:
        assert getattr(importlib.import_module(f"eqx_resnet.{module}"), name) is error, module


def test_every_error_is_listed_and_the_module_imports_nothing_of_the_package():
    assert sorted(errors.__all__) == sorted(RAISED_IN)
    path = SRC / "eqx_resnet" / "errors.py"
    assert [module for module, _, _ in imports(path) if module.startswith("eqx_resnet")] == []


FLAG = re.compile(r"(?<![\w-])--[a-z]")
COMMAND_LINE = re.compile(r"`eqx-resnet [^`]*`")  # a command quoted whole reads the same to both


def test_the_library_names_arguments_not_options():
    """Outside cli/, no text but a docstring names an option (--out): a Python caller has none. Messages
    name arguments in backticks (`run_dir`), which `cli.words` turns into options."""
    found = []
    for path in sorted((SRC / "eqx_resnet").rglob("*.py")):
        if "cli" in path.relative_to(SRC / "eqx_resnet").parts:
            continue
        tree = ast.parse(path.read_text())
        documented = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
        docstrings = {
            id(n.body[0].value)
            for n in ast.walk(tree)
            if isinstance(n, documented) and ast.get_docstring(n) is not None
        }
        found += [
            f"{path.relative_to(SRC)}:{node.lineno}: {node.value}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and FLAG.search(COMMAND_LINE.sub("", node.value))
        ]
    assert found == []
