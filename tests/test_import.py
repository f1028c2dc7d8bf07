"""`import eqx_resnet` is light: the CLI's and the trainer's dependencies load where they are used,
and the names that moved keep working, with a warning. No module takes another's private names, and
an import inside a function says why it is there."""

import ast
import importlib
import subprocess
import sys
import warnings

import pytest
from _imports import SRC, imports, module_name, module_path

import eqx_resnet

HEAVY = ("typer", "rich", "optax", "PIL")


def test_import_needs_only_jax_equinox_and_jaxtyping():
    code = (
        "import sys, eqx_resnet, equinox as eqx, jax\n"
        "model, state = eqx.filter_eval_shape(eqx_resnet.resnet18, num_classes=10, key=jax.random.key(0))\n"
        "images = jax.ShapeDtypeStruct((2, 3, 32, 32), 'float32')\n"
        "eqx.filter_eval_shape(eqx_resnet.forward, model, state, images)\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
        "eqx_resnet.make_train_step\n"  # a lazy name imports what it needs
        "print('optax' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["[]", "True"], result.stdout


def test_lazy_names_are_the_submodules_own():
    from eqx_resnet import data, summary, training

    assert eqx_resnet.make_train_step is training.make_train_step
    assert eqx_resnet.load_dataset is data.load_dataset
    assert eqx_resnet.summarize is summary.summarize
    assert {"make_train_step", "load_dataset", "summarize", "layers"} <= set(dir(eqx_resnet))
    for name in eqx_resnet.__all__:
        assert getattr(eqx_resnet, name) is not None


@pytest.mark.parametrize("name", ["BatchNorm", "Conv2d", "MaxPool2d"])
def test_layers_moved_to_their_namespace_warn_at_the_old_name(name):
    for module, old_name in ((eqx_resnet, f"eqx_resnet.{name}"), (eqx_resnet.models, f"eqx_resnet.models.{name}")):
        with pytest.warns(
            DeprecationWarning, match=rf"{old_name} is deprecated.*eqx_resnet\.layers\.{name} \(channels-last"
        ):
            old = getattr(module, name)
        assert old is getattr(eqx_resnet.layers, name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from eqx_resnet.layers import BatchNorm, Conv2d, MaxPool2d  # noqa: F401 (the new names do not warn)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'resnet19'"):
        eqx_resnet.resnet19  # noqa: B018


def test_every_registered_architecture_is_a_builder_of_the_package():
    for name in eqx_resnet.list_models():
        assert getattr(eqx_resnet, name) is eqx_resnet.get_builder(name) and name in dir(eqx_resnet)


def test_no_module_imports_another_modules_private_names():
    """A name with a leading underscore is its module's own: what two modules share is public
    (`_messages.few`, `state_dict.load_entries`). Private modules (`_xla_cpu`) may be imported."""
    taken = [
        f"{path.relative_to(SRC)}:{line} takes {module}.{name}"
        for path in sorted(SRC.rglob("*.py"))
        for module, names, line in imports(path)
        if module_path(module) and module != module_name(path)
        for name in names
        if name.startswith("_") and not module_path(f"{module}.{name}")
    ]
    assert taken == []


def test_imports_inside_functions_say_why():
    """Imports sit at the top of their module, where a reader sees the module's edges, unless deferring
    them gains something, which a comment on their lines says. Checked for the package's own modules,
    jax, numpy, equinox and the standard library; optional dependencies are deferred by their extras."""
    checked = {"eqx_resnet", "_eqx_resnet_cli", "jax", "numpy", "equinox", *sys.stdlib_module_names}
    silent = []
    for path in sorted(SRC.rglob("*.py")):
        lines = path.read_text().splitlines()
        functions = [n for n in ast.walk(ast.parse("\n".join(lines))) if isinstance(n, ast.FunctionDef)]
        for node in {n for f in functions for n in ast.walk(f) if isinstance(n, ast.Import | ast.ImportFrom)}:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if not getattr(node, "level", 0) and not any(name.split(".")[0] in checked for name in names):
                continue
            group = range(node.lineno - 1, node.end_lineno)  # with the imports just above and below it
            while group.start > 0 and lines[group.start - 1].strip().startswith(("import ", "from ")):
                group = range(group.start - 1, group.stop)
            while group.stop < len(lines) and lines[group.stop].strip().startswith(("import ", "from ")):
                group = range(group.start, group.stop + 1)
            if not any("#" in lines[i] for i in group):
                silent.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert sorted(silent) == []


@pytest.mark.parametrize(
    "module", ["eqx_resnet", "models", "layers", "weights", "training", "data", "summary", "parameters", "cli"]
)
def test_every_public_module_states_its_names_and_has_each(module):
    imported = importlib.import_module(module if module == "eqx_resnet" else f"eqx_resnet.{module}")
    assert imported.__all__ == sorted(set(imported.__all__), key=imported.__all__.index)  # no name twice
    assert [name for name in imported.__all__ if not hasattr(imported, name)] == []
