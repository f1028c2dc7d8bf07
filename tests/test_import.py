"""`import eqx_resnet` is light: the CLI's and the trainer's dependencies load where they are used,
and the names that moved keep working, with a warning."""

import subprocess
import sys
import warnings

import pytest

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


@pytest.mark.parametrize(
    "module", ["eqx_resnet", "models", "layers", "weights", "training", "data", "summary", "parameters", "cli"]
)
def test_every_public_module_states_its_names_and_has_each(module):
    import importlib

    imported = importlib.import_module(module if module == "eqx_resnet" else f"eqx_resnet.{module}")
    assert imported.__all__ == sorted(set(imported.__all__), key=imported.__all__.index)  # no name twice
    assert [name for name in imported.__all__ if not hasattr(imported, name)] == []
