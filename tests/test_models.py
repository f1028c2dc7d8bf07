"""The model zoo: sizes, output shapes, input checks, and the builders' options.

Big models are built under `eqx.filter_eval_shape`: shapes only, nothing allocated.
"""

import logging
import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _trees import arrays

import eqx_resnet
from eqx_resnet.models._checks import check_image
from eqx_resnet.models.registry import get_builder


def abstract(name, **options):
    return eqx.filter_eval_shape(get_builder(name), key=jax.random.key(0), **options)


def batched(model, images, state, key=None):
    keys = None if key is None else jax.random.split(key, images.shape[0])
    return jax.vmap(model, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(images, state, key=keys)


@pytest.mark.parametrize(
    "name, options, parameters, statistics",
    [
        ("resnet18", {}, 11_689_512, None),
        ("resnet34", {}, 21_797_672, None),
        ("resnet26", {}, 15_995_176, None),  # timm 1.0.31's resnet26
        ("resnet50", {}, 25_557_032, None),
        ("resnet101", {}, 44_549_160, None),
        ("resnet152", {}, 60_192_808, None),
        ("resnext50_32x4d", {}, 25_028_904, None),
        ("wide_resnet50_2", {}, 68_883_240, None),
        ("resnet18", {"stem": "cifar", "num_classes": 10}, 11_173_962, None),
        ("resnet18", {"in_channels": 1, "num_classes": 10}, 11_175_370, None),
        ("preact_resnet", {}, 271_962, 1_344),
        ("alexnet", {}, 21_601_674, 2_752),
    ],
)
def test_parameter_counts(name, options, parameters, statistics):
    model, state = abstract(name, **options)
    assert eqx_resnet.count_parameters(model) == parameters
    if statistics is not None:
        assert eqx_resnet.count_batch_stats(state) == statistics


@pytest.mark.parametrize(
    "name, training",
    [(name, False) for name in eqx_resnet.list_models()]
    + [(name, True) for name in ("resnet18", "resnet50", "preact_resnet", "alexnet")],
)
def test_output_shape_on_natural_input(name, training):
    model, state = abstract(name)
    if not training:
        model = eqx.nn.inference_mode(model)
    images = jax.ShapeDtypeStruct((2, *model.input_shape), jnp.float32)
    key = jax.random.key(1) if training else None
    logits, state_out = eqx.filter_eval_shape(batched, model, images, state, key)
    classes = 10 if name in ("preact_resnet", "alexnet") else 1000
    assert logits.shape == (2, classes) and logits.dtype == jnp.float32
    assert jax.tree.structure(state_out) == jax.tree.structure(state)


def call_one(model, x, state):
    return eqx.filter_eval_shape(lambda m, x, s: m(x, s), eqx.nn.inference_mode(model), x, state)


# The given shape as the models write it, "(2, 3, 32, 32)", or as jaxtyping does, "f32[2,3,32,32]".
def names_shape(message, shape):
    return f"{tuple(shape)}" in message or f"[{','.join(map(str, shape))}]" in message


@pytest.mark.parametrize(
    "shape, dtype",
    [((2, 3, 32, 32), jnp.float32), ((32, 32), jnp.float32), ((1, 32, 32), jnp.float32), ((3, 32, 32), jnp.int32)],
    ids=["batched", "no-channels", "wrong-channels", "integer"],
)
def test_wrong_input_names_expected_and_given(shape, dtype):
    model, state = abstract("resnet18")
    with pytest.raises((TypeError, ValueError)) as info:
        call_one(model, jax.ShapeDtypeStruct(shape, dtype), state)
    message = str(info.value)
    assert names_shape(message, shape), message
    # Expected: jaxtyping's "c h w", or the model's "(3, H, W)" / "3 input channel(s)".
    assert "'c h w'" in message or re.search(r"\(3, H, W\)|3 input channel|floating-point", message), message
    if dtype == jnp.int32:
        assert "i32" in message or "int32" in message


def test_wrong_channels_suggests_in_channels():
    model, state = abstract("preact_resnet")
    with pytest.raises(ValueError, match=r"built for 1 input channel.*\(3, 28, 28\).*in_channels=3"):
        call_one(model, jax.ShapeDtypeStruct((3, 28, 28), jnp.float32), state)


@pytest.mark.parametrize("name", ["resnet18", "preact_resnet"])
def test_training_mode_without_vmap_explains_how_to_batch(name):
    model, state = abstract(name)
    x = jax.ShapeDtypeStruct(model.input_shape, jnp.float32)
    with pytest.raises(NameError) as info:
        eqx.filter_eval_shape(lambda m, x, s: m(x, s), model, x, state)
    assert "jax.vmap(model, axis_name='batch'" in str(info.value)
    assert "inference_mode" in str(info.value)


def test_alexnet_training_without_key_is_a_clear_error():
    model, state = abstract("alexnet")
    images = jax.ShapeDtypeStruct((2, 1, 96, 96), jnp.float32)
    with pytest.raises(ValueError, match="dropout.*key="):
        eqx.filter_eval_shape(batched, model, images, state)


def materialize(tree, scale, offset, seed=0):
    """Random arrays of `scale` around `offset` in place of abstract ones."""
    rng = np.random.default_rng(seed)

    def fill(x):
        return (
            jnp.asarray(offset + scale * rng.standard_normal(x.shape, np.float32))
            if isinstance(x, jax.ShapeDtypeStruct)
            else x
        )

    return jax.tree.map(fill, tree)


def test_alexnet_dropout_is_random_in_training_and_off_in_inference():
    model, state = abstract("alexnet")
    model, state = materialize(model, scale=0.02, offset=0.0), materialize(state, scale=0.1, offset=1.0)
    images = jax.random.normal(jax.random.key(1), (2, 1, 96, 96))
    run = eqx.filter_jit(batched)
    train_a, _ = run(model, images, state, jax.random.key(2))
    train_b, _ = run(model, images, state, jax.random.key(3))
    assert np.all(np.isfinite(train_a)) and np.all(np.isfinite(train_b))
    assert not np.allclose(train_a, train_b)
    inference = eqx.nn.inference_mode(model)
    eval_a, state_a = run(inference, images, state, jax.random.key(2))
    eval_b, _ = run(inference, images, state, jax.random.key(3))
    assert np.all(np.isfinite(eval_a))
    np.testing.assert_array_equal(eval_a, eval_b)
    assert all(bool(jnp.all(a == b)) for a, b in zip(jax.tree.leaves(state_a), jax.tree.leaves(state)))


def test_create_model_with_an_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown model 'resnet19'") as info:
        eqx_resnet.create_model("resnet19", key=jax.random.key(0))
    for name in eqx_resnet.list_models():
        assert name in str(info.value)


def test_registry_lists_every_builder():
    torchvision = {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d", "wide_resnet50_2"}
    assert torchvision | {"preact_resnet", "alexnet", "resnet26", "resnet50c", "resnet200"} <= set(
        eqx_resnet.list_models()
    )


def last_norms(model):
    """Each residual block's last BatchNorm, and its first one."""
    blocks = [b for stage in (model.layer1, model.layer2, model.layer3, model.layer4) for b in stage]
    last = [b.bn3 if isinstance(b, eqx_resnet.Bottleneck) else b.bn2 for b in blocks]
    return last, [b.bn1 for b in blocks]


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
@pytest.mark.parametrize("zero_init", [True, False])
def test_zero_init_residual_zeroes_every_blocks_last_scale(name, zero_init):
    # Build under jit and return only the BatchNorm scales: XLA drops the conv initialisers.
    @jax.jit
    def scales(key):
        model, _ = get_builder(name)(key=key, zero_init_residual=zero_init)
        last, first = last_norms(model)
        return [bn.weight for bn in last], [bn.weight for bn in first]

    last, first = scales(jax.random.key(0))
    assert len(last) == (8 if name == "resnet18" else 16)
    for weight in last:
        np.testing.assert_array_equal(weight, 0.0 if zero_init else 1.0)
    for weight in first:
        np.testing.assert_array_equal(weight, 1.0)


def test_resnext_3x3_convs_are_grouped():
    model, _ = abstract("resnext50_32x4d")
    blocks = [b for stage in (model.layer1, model.layer2, model.layer3, model.layer4) for b in stage]
    for block in blocks:
        width = block.conv2.weight.shape[0]
        assert block.conv2.groups == 32
        assert block.conv2.weight.shape == (width, width // 32, 3, 3)
        assert block.conv1.groups == block.conv3.groups == 1
    # 32 groups of 4 channels in the first stage, doubling each stage.
    assert [stage[0].conv2.weight.shape[0] for stage in (model.layer1, model.layer2, model.layer3, model.layer4)] == [
        128,
        256,
        512,
        1024,
    ]


@pytest.mark.parametrize(
    "name, options, features, parameters",
    [
        ("resnet18", {}, 512, 11_689_512 - 513_000),
        ("resnet50", {}, 2048, 25_557_032 - 2_049_000),
        ("preact_resnet", {}, 64, 271_962 - 650),
        ("alexnet", {}, 4096, 21_601_674 - 40_970),
    ],
)
def test_num_classes_zero_is_the_headless_model(name, options, features, parameters):
    model, state = abstract(name, num_classes=0, **options)
    assert isinstance(model.fc3 if name == "alexnet" else model.fc, eqx.nn.Identity)
    assert eqx_resnet.count_parameters(model) == parameters
    logits, _ = call_one(model, jax.ShapeDtypeStruct(model.input_shape, jnp.float32), state)
    assert logits.shape == (features,)


@pytest.mark.parametrize("name", eqx_resnet.list_models())
def test_a_negative_number_of_classes_is_refused(name):
    with pytest.raises(
        ValueError, match=r"num_classes=-1 must be a positive number of classes, or 0 for the headless model"
    ):
        abstract(name, num_classes=-1)


def test_a_channels_last_image_is_named_with_the_fix():
    model, state = abstract("resnet18")
    with pytest.raises(
        ValueError, match=r"\(224, 224, 3\), which looks channels-last \(H, W, 3\).*jnp\.moveaxis\(x, -1, 0\)"
    ):
        call_one(model, jax.ShapeDtypeStruct((224, 224, 3), jnp.float32), state)
    # A batch fails jaxtyping's "c h w" first when its hook is on, as here; without it, this check speaks.
    with pytest.raises(
        ValueError, match=r"\(2, 32, 32, 3\).*eqx_resnet\.forward.*channels-last.*jnp\.moveaxis\(images, -1, 1\)"
    ):
        check_image(jnp.zeros((2, 32, 32, 3)), 3, "ResNet")


def test_a_bfloat16_image_is_taken_in_the_parameters_dtype():
    model, state = abstract("preact_resnet", widths=(4, 8, 8), blocks_per_stage=1)
    model, state = materialize(model, scale=0.3, offset=0.0), materialize(state, scale=0.1, offset=1.0)
    images = jax.random.normal(jax.random.key(1), (2, 1, 12, 12)).astype(jnp.bfloat16)
    run = eqx.filter_jit(batched)
    logits, _ = run(eqx.nn.inference_mode(model), images, state)
    expected, _ = run(eqx.nn.inference_mode(model), images.astype(jnp.float32), state)
    assert logits.dtype == jnp.float32
    np.testing.assert_array_equal(logits, expected)


def test_a_stride_2_stem_runs_the_preact_stages_at_half_the_side():
    options = dict(widths=(4, 8, 8), blocks_per_stage=1)
    plain, state = abstract("preact_resnet", **options)
    strided, _ = abstract("preact_resnet", stem_stride=2, **options)
    image = jax.ShapeDtypeStruct((1, 28, 28), jnp.float32)
    sides = {}
    for name, model in (("plain", plain), ("strided", strided)):
        maps, _ = eqx.filter_eval_shape(
            lambda m, x, s: m.feature_maps(x, s), eqx.nn.inference_mode(model), image, state
        )
        sides[name] = [maps[k].shape[1] for k in ("stem", "layer1", "layer2", "layer3")]
    assert sides == {"plain": [28, 28, 14, 7], "strided": [14, 14, 7, 4]}
    assert call_one(strided, image, state)[0].shape == (10,)
    assert eqx_resnet.count_parameters(strided) == eqx_resnet.count_parameters(plain)
    with pytest.raises(ValueError, match=r"stem_stride=0 must be 1 .* or more"):
        abstract("preact_resnet", stem_stride=0)


@pytest.mark.parametrize("side, reduced", [(28, "0x0"), (64, "0x0"), (100, "2x2")])
def test_alexnet_names_the_image_sizes_it_takes(side, reduced):
    model, state = abstract("alexnet")
    message = rf"AlexNet takes images of 96x96 \(sides from 67 to 98.*got {side}x{side}, which they reduce to {reduced}; resize"
    with pytest.raises(ValueError, match=message):
        call_one(model, jax.ShapeDtypeStruct((1, side, side), jnp.float32), state)


@pytest.mark.parametrize(
    "name, options",
    [
        ("preact_resnet", dict(widths=(3, 5, 7), blocks_per_stage=2, num_classes=9)),
        ("resnet50", dict(in_channels=2, num_classes=9)),
        ("alexnet", dict(in_channels=2, num_classes=9)),
    ],
)
def test_building_a_model_compiles_nothing(name, options, caplog):
    # jax.random compiled a sampler per weight shape and a split per count: 10 s to build a ResNet in a
    # fresh process. Shapes no other test builds, so that nothing could come from JAX's caches.
    key = jax.random.key(7)
    with jax.log_compiles(), caplog.at_level(logging.WARNING):
        jax.block_until_ready(get_builder(name)(key=key, **options))
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("Compiling")] == []


def test_a_key_gives_one_model_eagerly_under_jit_and_under_vmap():
    def build(key):
        return eqx_resnet.preact_resnet(widths=(4, 8, 8), blocks_per_stage=1, key=key)

    keys = jax.random.split(jax.random.key(0))
    eager = [arrays(build(key)) for key in keys]
    for a, b in zip(arrays(build(keys[0])), eager[0]):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(arrays(eqx.filter_jit(build)(keys[0])), eager[0]):
        np.testing.assert_array_equal(a, b)
    both = arrays(eqx.filter_jit(eqx.filter_vmap(build))(keys))
    for i in range(2):
        for a, b in zip(both, eager[i]):
            np.testing.assert_array_equal(a[i], b)


def test_every_layer_and_every_key_draws_its_own_weights():
    # Convolutions of one shape in different blocks, and one layer under two keys: uncorrelated
    # (|r| below four standard errors, 4 / sqrt(n)).
    model, _ = eqx_resnet.preact_resnet(key=jax.random.key(0))
    other, _ = eqx_resnet.preact_resnet(key=jax.random.key(1))
    convs = [block.conv2.weight for block in model.layer1] + [block.conv1.weight for block in model.layer1]
    pairs = [(a, b) for i, a in enumerate(convs) for b in convs[i + 1 :]]
    pairs += [(a.conv2.weight, b.conv2.weight) for a, b in zip(model.layer3, other.layer3)]
    pairs += [(model.fc.weight, other.fc.weight)]
    for a, b in pairs:
        assert a.shape == b.shape
        assert abs(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1]) < 4 / np.sqrt(a.size)


def test_the_head_is_drawn_as_torchvision_draws_it():
    # Uniform within 1/sqrt(in_features) of zero, weight and bias (Equinox's and PyTorch's Linear).
    model = eqx_resnet.ResNet.resnet18(key=jax.random.key(0))
    bound, weight = 1 / np.sqrt(512), np.asarray(model.fc.weight, np.float64)
    n, std = weight.size, bound / np.sqrt(3)
    assert weight.shape == (1000, 512) and model.fc.bias.shape == (1000,)
    assert -bound <= weight.min() < -0.999 * bound and 0.999 * bound < weight.max() <= bound
    assert abs(weight.mean()) < 4 * std / np.sqrt(n)
    assert abs(weight.std() / std - 1) < 4 * np.sqrt(0.2 / n)
    assert np.all(np.abs(model.fc.bias) <= bound) and len(np.unique(model.fc.bias)) == 1000
