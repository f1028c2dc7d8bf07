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
