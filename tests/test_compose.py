"""The models inside other people's Equinox code: built with `eqx.nn.make_with_state`, under
any `vmap` axis name, with `eqx.filter_vmap`, and with builders whose options `help()` shows;
pretrained weights loaded into a module's part (`where=`), `forward` on a module without a `key`
argument, and a state told from another model's."""

import inspect
import pydoc

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import eqx_resnet
from eqx_resnet.models.registry import get_builder
from eqx_resnet.weights import WeightsError, load_state_dict, read_state_dict, save_safetensors, to_state_dict


def key(seed):
    # The "rbg" generator compiles its samplers quickly; the models do not care which it is.
    return jax.random.key(seed, impl="rbg")


class Classifier(eqx.Module):
    """Your own module: a headless backbone, your own BatchNorm and a linear head.

    (examples/backbone.py does the same with a ResNet-18; a small PreActResNet compiles quicker.)
    """

    backbone: eqx_resnet.PreActResNet
    norm: eqx.nn.BatchNorm
    head: eqx.nn.Linear

    def __init__(self, num_classes: int, *, key):
        k_backbone, k_head = jax.random.split(key)
        self.backbone = eqx_resnet.PreActResNet(
            num_classes=0, in_channels=3, widths=(4, 8, 8), blocks_per_stage=1, key=k_backbone
        )
        self.norm = eqx.nn.BatchNorm(8, axis_name="batch", mode="batch")
        self.head = eqx.nn.Linear(8, num_classes, key=k_head)

    def __call__(self, x, state, *, key=None):
        features, state = self.backbone(x, state)
        features, state = self.norm(features, state)
        return self.head(features), state


def test_a_module_of_your_own_with_its_own_batchnorm_trains_and_evaluates():
    model, state = eqx.filter_jit(eqx.nn.make_with_state(Classifier))(3, key=key(0))
    images = jnp.asarray(np.random.default_rng(0).standard_normal((8, 3, 8, 8), np.float32))
    labels = jnp.arange(8) % 3
    optimizer = optax.adam(1e-2)
    opt_state = optimizer.init(eqx.filter(model, eqx.is_inexact_array))

    @eqx.filter_jit
    def step(model, state, opt_state):
        def loss_fn(model):
            logits, state_out = eqx_resnet.forward(model, state, images)
            return eqx_resnet.cross_entropy(logits, labels), state_out

        (loss, state_out), grads = eqx.filter_value_and_grad(loss_fn, has_aux=True)(model)
        updates, opt_state = optimizer.update(grads, opt_state, eqx.filter(model, eqx.is_inexact_array))
        return eqx.apply_updates(model, updates), state_out, opt_state, loss

    losses = []
    for _ in range(4):
        model, new_state, opt_state, loss = step(model, state, opt_state)
        # Both BatchNorms' statistics move: the backbone's and the module's own.
        assert not np.allclose(
            new_state.get(model.norm.batch_state_index)[1], state.get(model.norm.batch_state_index)[1]
        )
        assert not np.allclose(
            new_state.get(model.backbone.layer1[0].bn1.statistics)[0],
            state.get(model.backbone.layer1[0].bn1.statistics)[0],
        )
        state = new_state
        losses.append(float(loss))
    assert losses[-1] < losses[0], losses

    logits, state_after = eqx.filter_jit(eqx_resnet.forward)(eqx.nn.inference_mode(model), state, images)
    assert logits.shape == (8, 3) and np.all(np.isfinite(logits))
    for before, after in zip(jax.tree.leaves(state), jax.tree.leaves(state_after)):
        np.testing.assert_array_equal(before, after)  # inference reads the statistics, keeps them


def test_model_alone_builds_with_make_with_state_like_the_builder():
    by_builder = eqx.filter_eval_shape(eqx_resnet.resnet18, num_classes=10, key=key(0))
    by_constructor = eqx.filter_eval_shape(
        eqx.nn.make_with_state(eqx_resnet.ResNet.resnet18), num_classes=10, key=key(0)
    )
    by_class = eqx.filter_eval_shape(
        eqx.nn.make_with_state(eqx_resnet.ResNet), eqx_resnet.BasicBlock, (2, 2, 2, 2), num_classes=10, key=key(0)
    )
    for model, state in (by_constructor, by_class):
        assert jax.tree.structure(model) == jax.tree.structure(by_builder[0])
        assert jax.tree.structure(state) == jax.tree.structure(by_builder[1])
        assert eqx_resnet.count_parameters(model) == 11_181_642


@pytest.mark.parametrize("name", eqx_resnet.list_models())
def test_builders_show_their_options(name):
    builder = get_builder(name)
    signature = inspect.signature(builder)
    assert all(p.kind is p.KEYWORD_ONLY for p in signature.parameters.values()), signature
    options = [p for p in signature.parameters.values() if p.name != "key"]
    assert {"num_classes", "in_channels", "axis_name"} <= {p.name for p in options}
    assert all(p.default is not p.empty and p.annotation is not p.empty for p in options), signature
    text = pydoc.render_doc(builder)
    for p in signature.parameters.values():
        assert f"{p.name}:" in text, text
    assert "(model, state)" in text and "eqx.nn.make_with_state" in text


def small_preact(axis_name="batch", **options):
    """A small PreActResNet: traced, not initialised (quicker), then given the same random arrays."""
    model, state = eqx.filter_eval_shape(
        eqx_resnet.preact_resnet, widths=(4, 8, 8), blocks_per_stage=1, axis_name=axis_name, key=key(0), **options
    )
    rng = np.random.default_rng(0)

    def fill(x):
        return jnp.asarray(0.3 * rng.standard_normal(x.shape, np.float32)) if isinstance(x, jax.ShapeDtypeStruct) else x

    return jax.tree.map(fill, model), jax.tree.map(lambda x: jnp.ones(x.shape, x.dtype), state)


def test_a_custom_axis_name_batches_the_same():
    images = jnp.asarray(np.random.default_rng(1).standard_normal((4, 1, 8, 8), np.float32))
    model, state = small_preact()
    custom, custom_state = small_preact(axis_name="examples")
    assert custom.axis_name == "examples" and custom.layer1[0].bn1.axis_name == "examples"
    expected, expected_state = eqx.filter_jit(eqx_resnet.forward)(model, state, images)
    run = eqx.filter_jit(lambda m, s, x: jax.vmap(m, axis_name="examples", in_axes=(0, None), out_axes=(0, None))(x, s))
    for logits, new_state in (
        eqx.filter_jit(eqx_resnet.forward)(custom, custom_state, images),  # forward takes the model's axis
        run(custom, custom_state, images),
        eqx.filter_jit(eqx.filter_vmap(custom, in_axes=(0, None), out_axes=(0, None), axis_name="examples"))(
            images, custom_state
        ),
    ):
        np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-6)
        for a, b in zip(jax.tree.leaves(new_state), jax.tree.leaves(expected_state)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    with pytest.raises(NameError, match="'examples'"):  # the default "batch" axis is not this model's
        eqx.filter_eval_shape(
            jax.vmap(custom, axis_name="batch", in_axes=(0, None), out_axes=(0, None)), images, custom_state
        )


def small_weights(**options):
    """The state dict of the small PreActResNet for RGB images, by default with a 10-class head `fc`."""
    model, state = small_preact(in_channels=3, **options)
    return to_state_dict(model, state)


class Headed(eqx.Module):
    """Your own module with no state of its own and no `key` argument: a headless backbone and a head."""

    backbone: eqx_resnet.PreActResNet
    head: eqx.nn.Linear

    def __init__(self, *, key):
        k_backbone, k_head = jax.random.split(key)
        self.backbone = eqx_resnet.PreActResNet(
            num_classes=0, in_channels=3, widths=(4, 8, 8), blocks_per_stage=1, key=k_backbone
        )
        self.head = eqx.nn.Linear(8, 3, key=k_head)

    def __call__(self, x, state):
        features, state = self.backbone(x, state)
        return self.head(features), state


def test_pretrained_weights_load_into_your_modules_backbone_with_where(tmp_path):
    weights = small_weights()
    backbone_weights = {k: v for k, v in weights.items() if not k.startswith("fc.")}
    model, state = eqx.nn.make_with_state(Classifier)(3, key=key(0))
    # Your BatchNorm's state has no torchvision name: the error says which part to load into.
    with pytest.raises(WeightsError, match=r"^norm\.\w+: equinox's BatchNorm .* pass where=lambda m: m\.backbone$"):
        load_state_dict(model, state, weights)
    # The weights' head is not the headless backbone's: the usual message, in the part's names.
    with pytest.raises(WeightsError, match=r"2 unexpected key\(s\): fc.weight, fc.bias\. Only the head 'fc' differs"):
        load_state_dict(model, state, weights, where=lambda m: m.backbone)
    loaded, loaded_state = load_state_dict(model, state, weights, where=lambda m: m.backbone, exclude=("fc",))

    got = to_state_dict(loaded, loaded_state, where=lambda m: m.backbone)
    assert got.keys() == backbone_weights.keys()
    for name, value in got.items():
        np.testing.assert_array_equal(value, backbone_weights[name])  # weights and running statistics
    # The rest of your module and its state are kept, as are the arguments.
    assert eqx.tree_equal(loaded.head, model.head) and eqx.tree_equal(loaded.norm, model.norm)
    index = model.norm.batch_state_index
    np.testing.assert_array_equal(loaded_state.get(index)[1], state.get(index)[1])
    assert not np.array_equal(
        to_state_dict(model, state, where=lambda m: m.backbone)["conv.weight"], weights["conv.weight"]
    )
    # Saved under the backbone's own names, they load into a bare backbone.
    path = save_safetensors(loaded, loaded_state, tmp_path / "backbone.safetensors", where=lambda m: m.backbone)
    bare, _ = load_state_dict(*small_preact(num_classes=0, in_channels=3), path)
    np.testing.assert_array_equal(bare.conv.weight, weights["conv.weight"])


def test_keys_that_match_once_a_prefix_is_added_or_removed_say_so():
    weights = small_weights(num_classes=0)
    model, state = eqx.nn.make_with_state(Headed)(key=key(0))
    with pytest.raises(
        WeightsError,
        match=r"does not fit Headed\(\): 43 missing key\(s\): backbone.conv.weight, .*"
        r"Its keys are those of the model's part 'backbone' without the prefix 'backbone\.': "
        r"load them into that part with where=lambda m: m\.backbone$",
    ):
        load_state_dict(model, state, weights)
    model, state = load_state_dict(model, state, weights, where=lambda m: m.backbone)
    # Your module's state dict, prefixed, does not load into the bare backbone: the message gives the fix.
    yours = to_state_dict(model, state)
    assert "backbone.conv.weight" in yours and "head.weight" in yours
    backbone, backbone_state = small_preact(num_classes=0, in_channels=3)
    with pytest.raises(WeightsError, match=r"Its keys are the model's with the prefix 'backbone\.'") as e:
        load_state_dict(backbone, backbone_state, yours)
    fix = str(e.value).split(", or keep those keys without the prefix, ")[1]
    kept = eval(fix, {"read_state_dict": read_state_dict, "source": yours})  # the fix as given
    loaded, _ = load_state_dict(backbone, backbone_state, kept)
    np.testing.assert_array_equal(loaded.conv.weight, weights["conv.weight"])


def test_your_module_without_a_key_argument_runs_under_forward():
    model, state = eqx.nn.make_with_state(Headed)(key=key(0))
    images = jnp.asarray(np.random.default_rng(0).standard_normal((4, 3, 8, 8), np.float32))
    logits, _ = eqx.filter_eval_shape(eqx_resnet.forward, model, state, images)  # no key: none is passed
    assert logits.shape == (4, 3)
    with pytest.raises(TypeError, match="unexpected keyword argument 'key'"):  # a key given is passed on
        eqx.filter_eval_shape(eqx_resnet.forward, model, state, images, key=key(1))


def test_a_state_from_another_model_is_refused_and_one_module_keeps_two_states_apart():
    images = jnp.asarray(np.random.default_rng(0).standard_normal((4, 1, 8, 8), np.float32))
    teacher, teacher_state = eqx.filter_eval_shape(
        eqx_resnet.preact_resnet, widths=(4, 8, 8), blocks_per_stage=2, key=key(0)
    )
    student, student_state = small_preact()
    with pytest.raises(
        ValueError,
        match=r"^forward: the state belongs to another model: it holds 6 entries this model lacks "
        r"\(PreActResNet.layer1\[1\].bn1.statistics, .*\); pass the state made with this model",
    ):
        eqx.filter_eval_shape(eqx_resnet.forward, student, teacher_state, images)
    with pytest.raises(
        ValueError, match=r"^forward: the state does not belong to this model: it lacks 6 of the model's state entries"
    ):
        eqx.filter_eval_shape(eqx_resnet.forward, teacher, student_state, images)

    class Distill(eqx.Module):
        """Two models of the same architecture in one module: their state entries are the fields'."""

        teacher: eqx_resnet.PreActResNet
        student: eqx_resnet.PreActResNet

        def __init__(self, *, key):
            k_teacher, k_student = jax.random.split(key)
            self.teacher = eqx_resnet.PreActResNet(widths=(4, 8, 8), blocks_per_stage=1, key=k_teacher)
            self.student = eqx_resnet.PreActResNet(widths=(4, 8, 8), blocks_per_stage=1, key=k_student)

    model, state = eqx.nn.make_with_state(Distill)(key=key(0))
    teacher_index = model.teacher.layer1[0].bn1.statistics
    _, after = eqx.filter_jit(eqx_resnet.forward)(model.student, state, images)
    np.testing.assert_array_equal(after.get(teacher_index)[0], state.get(teacher_index)[0])  # the teacher's kept
    student_index = model.student.layer1[0].bn1.statistics
    assert not np.array_equal(after.get(student_index)[0], state.get(student_index)[0])
