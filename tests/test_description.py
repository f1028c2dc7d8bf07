"""models/description.py: one description per architecture, read by everything else."""

import ast
import re
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest

import eqx_resnet
from eqx_resnet.models import describe, get_builder
from eqx_resnet.models.description import describe_model
from eqx_resnet.models.registry import resolve_preprocessing

WEIGHTS = Path(eqx_resnet.__file__).parent / "weights"
FAMILIES = ("resnet", "preact", "alexnet")  # the model files of models/
MODEL_CLASSES = ("ResNet", "PreActResNet", "AlexNet", "BasicBlock", "Bottleneck", "PreActBlock", "Downsample")


def _module(model, path: str):
    """The module at a state-dict path (`conv1.0`: the first conv of a deep stem, named as in torch)."""
    for part in path.split("."):
        fields = {v: k for k, v in getattr(type(model), "state_dict_names", {}).items()}
        model = (
            getattr(model, fields[part])
            if part in fields
            else model[int(part)]
            if part.isdigit()
            else getattr(model, part)
        )
    return model


@pytest.mark.parametrize("name", eqx_resnet.list_models())
def test_a_built_model_carries_its_description_and_matches_it(name):
    description = describe(name)
    model, state = eqx.filter_eval_shape(get_builder(name), key=jax.random.key(0))
    assert model.description is description and description.builder is get_builder(name)
    assert isinstance(getattr(model, description.classifier), eqx.nn.Linear)
    first = _module(model, description.first_conv)
    assert first.weight.shape[1] == description.input_size[0] == model.input_shape[0]
    assert description.input_size == model.input_shape
    assert describe_model(model) == f"{name}(num_classes={getattr(model, description.classifier).out_features})"
    if not description.features:
        assert not hasattr(model, "feature_maps")
        return
    image = jax.ShapeDtypeStruct(description.input_size, jnp.float32)
    maps, _ = eqx.filter_eval_shape(eqx.nn.inference_mode(model).feature_maps, image, state)
    assert set(maps) == {f.module for f in description.features}  # (eval_shape sorts a dict's keys)
    side = description.input_size[-1]
    for feature in description.features:
        assert maps[feature.module].shape == (feature.channels, side // feature.reduction, side // feature.reduction)


def test_list_models_filters_as_timm_does():
    resnexts = eqx_resnet.list_models("resnext*")
    assert "resnext50_32x4d" in resnexts and all(n.startswith("resnext") for n in resnexts)
    assert {"resnet50", "wide_resnet50_2"} <= set(eqx_resnet.list_models("*resnet50*")) and "resnet18" not in resnexts
    assert "alexnet" in eqx_resnet.list_models() and "alexnet" not in eqx_resnet.list_models(pretrained=True)
    assert eqx_resnet.list_models(pretrained=True) == sorted(n for n in eqx_resnet.list_models() if describe(n).weights)


def test_the_published_sets_are_the_descriptions_best_first():
    from eqx_resnet.weights import PRETRAINED, get_pretrained, list_pretrained

    for name in eqx_resnet.list_models(pretrained=True):
        sets = describe(name).weights
        assert list_pretrained(name) == list(sets) and get_pretrained(name) is sets[0]
        usable = [w for w in sets if w.num_classes == 1000 and not w.non_commercial]  # the default first, best first
        assert (
            list(sets[: len(usable)]) == usable and [w.top1 for w in usable] == sorted([w.top1 for w in usable])[::-1]
        )
        assert all(w.model == name and PRETRAINED[w.name] is w for w in sets)


def test_one_function_resolves_the_preprocessing_of_a_set_or_a_model():
    from eqx_resnet.data.imagenet import IMAGENET_PREPROCESSING

    tv = next(w for w in describe("resnet50").weights if w.tag == "tv_in1k")
    assert resolve_preprocessing(tv) == IMAGENET_PREPROCESSING
    model, _ = eqx.filter_eval_shape(get_builder("resnet50"), key=jax.random.key(0))
    best = describe("resnet50").weights[0]
    assert resolve_preprocessing(model) == resolve_preprocessing("resnet50") == best.preprocessing
    with pytest.raises(ValueError, match="preact_resnet has no published weights and takes 1-channel images"):
        resolve_preprocessing("preact_resnet")  # its run's metadata knows its data's statistics


def _code_names(tree: ast.AST) -> list[str]:
    """Identifiers, attributes, imported modules and string constants, docstrings left out."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.append(node.id)
        elif isinstance(node, ast.Attribute):
            names.append(node.attr)
        elif isinstance(node, ast.ImportFrom):
            names += [node.module or "", *(a.name for a in node.names)]
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            names.append(node.value)
    return names


@pytest.mark.parametrize("path", sorted(WEIGHTS.glob("*.py")), ids=lambda p: p.name)
def test_weights_knows_no_architecture(path):
    names = _code_names(ast.parse(path.read_text()))
    architectures = set(eqx_resnet.list_models())
    for name in names:
        assert not re.search(rf"(^|\.)models\.({'|'.join(FAMILIES)})$", name), f"{path.name} imports {name}"
        assert name not in MODEL_CLASSES, f"{path.name} names the model class {name}"
        words = set(re.findall(r"[a-z_0-9]+", name))
        assert not words & architectures, f"{path.name} names the architecture(s) {words & architectures} in {name!r}"


@pytest.mark.parametrize("name", [n for n in eqx_resnet.list_models() if describe(n).macs])
def test_the_published_multiply_adds_are_what_xla_counts(name):
    from eqx_resnet.benchmarking.timing import xla_flops

    description = describe(name)
    model, state = eqx.filter_eval_shape(get_builder(name), key=jax.random.key(0))
    params, static = eqx.partition(eqx.nn.inference_mode(model), lambda x: isinstance(x, jax.ShapeDtypeStruct))
    images = jax.ShapeDtypeStruct((1, *description.input_size), jnp.float32)
    lowered = jax.jit(lambda p, s, x: eqx_resnet.forward(eqx.combine(p, static), s, x)[0]).lower(params, state, images)
    assert abs(xla_flops(lowered) / (2 * description.macs) - 1) < 0.10
