"""`trainable_filter`: freezing a model's first parts, with equinox and with optax."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import eqx_resnet
from eqx_resnet.models.registry import get_builder
from eqx_resnet.parameters import count_parameters, trainable_filter


def abstract(name, **options):
    return eqx.filter_eval_shape(get_builder(name), key=jax.random.key(0), **options)


def trainable_count(model, spec):
    return sum(int(np.prod(x.shape)) for x, on in zip(jax.tree.leaves(model), jax.tree.leaves(spec)) if on)


def test_freezes_exactly_the_named_parts():
    model, _ = abstract("resnet18")
    spec = trainable_filter(model, ("conv1", "bn1", "layer1"))
    assert jax.tree.structure(spec) == jax.tree.structure(model)
    # conv1 64x3x7x7 = 9,408; bn1 128; layer1 two blocks of 2 x (36,864 + 128).
    assert trainable_count(model, spec) == 11_689_512 - 9_408 - 128 - 2 * 73_984
    for path, on in jax.tree_util.tree_leaves_with_path(spec):
        assert on == (path[0].name not in ("conv1", "bn1", "layer1") and path[-1].name in ("weight", "bias"))


def test_freezing_nothing_trains_every_float_array():
    model, _ = abstract("preact_resnet")
    spec = trainable_filter(model, ())
    assert trainable_count(model, spec) == count_parameters(model) == 271_962
    assert not any(on for x, on in zip(jax.tree.leaves(model), jax.tree.leaves(spec)) if isinstance(x, bool))


def test_one_name_may_be_a_string():
    model, _ = abstract("preact_resnet")
    spec = trainable_filter(model, "layer1")
    assert trainable_count(model, spec) == 271_962 - count_parameters(model.layer1)


def test_unknown_names_list_the_models_fields():
    model, _ = abstract("preact_resnet")
    with pytest.raises(ValueError, match=r"\['conv1'\].*'conv', 'layer1', 'layer2', 'layer3', 'fc'"):
        trainable_filter(model, ("conv1", "layer1"))
    with pytest.raises(ValueError, match="in_channels"):  # a static field holds no arrays
        trainable_filter(model, ("in_channels",))


def test_partition_splits_along_the_spec():
    model, _ = abstract("resnet18", stem="cifar")
    trainable, frozen = eqx.partition(model, trainable_filter(model, ("conv1", "bn1", "layer1")))
    assert trainable.conv1.weight is None and trainable.layer1[1].bn2.bias is None
    assert frozen.layer2[0].conv1.weight is None and frozen.fc.weight is None
    assert count_parameters(trainable) + count_parameters(frozen) == count_parameters(model)


@pytest.fixture(scope="module")
def small():
    """A PreActResNet of one block a stage, and 4 small images: quick to compile and run."""
    model, state = eqx_resnet.preact_resnet(blocks_per_stage=1, key=jax.random.key(0, impl="rbg"))
    rng = np.random.default_rng(0)
    return model, state, jnp.asarray(rng.standard_normal((4, 1, 12, 12), np.float32)), jnp.arange(4)


def assert_frozen_exactly(before, after, spec):
    for a, b, on in zip(jax.tree.leaves(before), jax.tree.leaves(after), jax.tree.leaves(spec)):
        if on:
            assert not np.array_equal(a, b)
        elif eqx.is_array(a):
            np.testing.assert_array_equal(a, b)  # bit-identical


def test_train_step_with_zeroed_updates_leaves_frozen_parameters_bit_identical(small):
    model, state, images, labels = small
    spec = trainable_filter(model, ("conv", "layer1"))
    optimizer = optax.multi_transform({True: optax.adam(1e-2), False: optax.set_to_zero()}, lambda _: spec)
    opt_state = optimizer.init(eqx.filter(model, eqx.is_inexact_array))
    step = eqx.filter_jit(eqx_resnet.make_train_step(optimizer))
    new_model, *_ = step(model, state, opt_state, images, labels, jax.random.key(1))
    assert_frozen_exactly(model, new_model, spec)


def test_partitioned_step_differentiates_only_the_trainable_half(small):
    model, state, images, labels = small
    spec = trainable_filter(model, ("conv", "layer1", "layer2"))
    trainable, frozen = eqx.partition(model, spec)
    optimizer = optax.adam(1e-2)
    opt_state = optimizer.init(trainable)

    @eqx.filter_jit
    def step(trainable, opt_state):
        def loss_fn(trainable):
            logits, _ = eqx_resnet.forward(eqx.combine(trainable, frozen), state, images)
            return eqx_resnet.cross_entropy(logits, labels)

        grads = eqx.filter_grad(loss_fn)(trainable)
        updates, opt_state = optimizer.update(grads, opt_state, trainable)
        return eqx.apply_updates(trainable, updates), grads

    trainable, grads = step(trainable, opt_state)
    assert grads.conv.weight is None and grads.layer3[0].conv1.weight is not None
    assert_frozen_exactly(model, eqx.combine(trainable, frozen), spec)


def test_a_dotted_path_freezes_one_layer():
    model, _ = abstract("resnet18")
    spec = trainable_filter(model, "layer4.1.conv2")
    assert trainable_count(model, spec) == 11_689_512 - 512 * 512 * 9
    assert spec.layer4[1].conv2.weight is False and spec.layer4[1].conv1.weight is True


@pytest.mark.parametrize(
    "name, stem, layers", [("resnet18", "act1", ("conv1", "bn1")), ("preact_resnet", "stem", ("conv",))]
)
def test_the_stem_is_named_as_feature_maps_names_its_map(name, stem, layers):
    model, state = abstract(name)
    image = jax.ShapeDtypeStruct(model.input_shape, jnp.float32)
    maps, _ = eqx.filter_eval_shape(lambda m, x, s: eqx.nn.inference_mode(m).feature_maps(x, s), model, image, state)
    assert stem in maps
    for name in {stem, "stem"}:
        assert jax.tree.leaves(trainable_filter(model, name)) == jax.tree.leaves(trainable_filter(model, layers))


def test_a_pattern_and_a_type_freeze_every_match():
    model, _ = abstract("resnet18")
    norms = [
        x
        for x in jax.tree.leaves(model, is_leaf=lambda x: isinstance(x, eqx_resnet.layers.BatchNorm))
        if isinstance(x, eqx_resnet.layers.BatchNorm)
    ]
    all_norms = sum(count_parameters(bn) for bn in norms)
    assert trainable_count(model, trainable_filter(model, eqx_resnet.layers.BatchNorm)) == 11_689_512 - all_norms
    # The blocks' own BatchNorms (bn1, bn2): not the stem's bn1, not the shortcuts' bn.
    blocks = [b for stage in (model.layer1, model.layer2, model.layer3, model.layer4) for b in stage]
    block_norms = sum(count_parameters((b.bn1, b.bn2)) for b in blocks)
    assert trainable_count(model, trainable_filter(model, "layer*.*.bn*")) == 11_689_512 - block_norms


def test_feature_map_and_summary_names_are_parts():
    model, state = abstract("preact_resnet", blocks_per_stage=1)
    image = jax.ShapeDtypeStruct(model.input_shape, jnp.float32)
    features, _ = eqx.filter_eval_shape(
        lambda m, x, s: eqx.nn.inference_mode(m).feature_maps(x, s), model, image, state
    )
    paths = [row.path for row in eqx_resnet.summarize(model, state)[1:]]
    assert "layer2.0.shortcut.conv" in paths and set(features) == {"stem", "layer1", "layer2", "layer3"}
    for part in [*features, *paths]:
        trainable_filter(model, part)  # no ValueError: every name is a part


class Classifier(eqx.Module):
    """Your own module around a zoo model, with a BatchNorm of its own."""

    backbone: eqx_resnet.PreActResNet
    norm: eqx.nn.BatchNorm

    def __init__(self, key):
        self.backbone = eqx_resnet.PreActResNet(num_classes=0, widths=(4, 8, 8), blocks_per_stage=1, key=key)
        self.norm = eqx.nn.BatchNorm(8, axis_name="batch", mode="batch")

    def __call__(self, x, state, *, key=None):
        features, state = self.backbone(x, state)
        return self.norm(features, state)


def test_paths_reach_into_your_own_module():
    model, _ = eqx.filter_eval_shape(eqx.nn.make_with_state(Classifier), jax.random.key(0))
    spec = trainable_filter(model, ["backbone.stem", "backbone.layer1"])
    assert spec.backbone.conv.weight is False and spec.backbone.layer1[0].conv2.weight is False
    assert spec.backbone.layer2[0].conv1.weight is True and spec.norm.weight is True
    with pytest.raises(ValueError, match=r"cannot freeze \['stem'\].*parts are \['backbone', 'norm'\]"):
        trainable_filter(model, "stem")  # the backbone's stem is "backbone.stem"


def test_freeze_batch_stats_keeps_the_frozen_statistics_and_moves_the_others():
    model, state = eqx.nn.make_with_state(Classifier)(jax.random.key(0, impl="rbg"))
    frozen = eqx_resnet.freeze_batch_stats(model, ["backbone.stem", "backbone.layer1", "norm"])
    assert frozen.backbone.layer1[0].bn1.inference and frozen.norm.inference
    assert not frozen.backbone.layer2[0].bn1.inference and not model.backbone.layer1[0].bn1.inference
    images = jnp.asarray(np.random.default_rng(0).standard_normal((4, 1, 8, 8), np.float32))
    _, new_state = eqx.filter_jit(eqx_resnet.forward)(frozen, state, images)
    for bn in (frozen.backbone.layer1[0].bn1, frozen.backbone.layer1[0].bn2):
        for old, new in zip(state.get(bn.statistics), new_state.get(bn.statistics)):
            np.testing.assert_array_equal(old, new)
    np.testing.assert_array_equal(
        state.get(frozen.norm.batch_state_index)[0], new_state.get(frozen.norm.batch_state_index)[0]
    )
    assert not np.allclose(
        state.get(frozen.backbone.layer2[0].bn1.statistics)[0],
        new_state.get(frozen.backbone.layer2[0].bn1.statistics)[0],
    )
    # Evaluation puts every BatchNorm in inference mode, as usual.
    assert all(
        bn.inference
        for bn in jax.tree.leaves(
            eqx.nn.inference_mode(frozen), is_leaf=lambda x: isinstance(x, eqx_resnet.layers.BatchNorm)
        )
        if isinstance(bn, eqx_resnet.layers.BatchNorm)
    )
