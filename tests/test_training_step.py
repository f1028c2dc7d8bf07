"""`make_train_step` on each model family: the loss falls, BatchNorm's running statistics
move in training and are used (and kept) in inference; bf16 compute keeps fp32 parameters;
micro-batches make the batch's update. The step imports nothing that starts processes."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _imports import imports, module_path
from _trees import arrays, relative

import eqx_resnet
from eqx_resnet.parameters import is_float_leaf
from eqx_resnet.training.step import accumulate_gradients

STEPS = 3
# name: (builder options, batch shape). Small inputs: a CPU compiles and runs these in seconds.
FAMILIES = {
    "resnet18": ({"stem": "cifar", "num_classes": 10}, (8, 3, 16, 16)),
    "resnet50": ({"stem": "cifar", "num_classes": 10}, (4, 3, 8, 8)),
    "preact_resnet": ({}, (8, 1, 28, 28)),
    "alexnet": ({}, (4, 1, 96, 96)),
}


def key(seed):
    # The "rbg" generator: XLA compiles its normal sampler, needed for every weight shape,
    # in a fraction of threefry's time. The models do not care which generator it is.
    return jax.random.key(seed, impl="rbg")


def batch(shape, seed=0):
    rng = np.random.default_rng(seed)
    return jnp.asarray(rng.standard_normal(shape, np.float32)), jnp.asarray(rng.integers(0, 10, shape[0]), jnp.int32)


def train(name, precision="fp32", **extra):
    options, shape = FAMILIES[name]
    # Built under jit: one compilation of the initialisers instead of one per weight shape.
    model, state = eqx.filter_jit(eqx_resnet.create_model)(name, key=key(0), **options, **extra)
    optimizer = optax.adam(1e-3)
    opt_state = optimizer.init(eqx.filter(model, eqx.is_inexact_array))
    step = eqx.filter_jit(eqx_resnet.make_train_step(optimizer, precision=precision))
    images, labels = batch(shape)
    start = (model, state)
    losses = []
    for i in range(STEPS):
        model, state, opt_state, metrics = step(model, state, opt_state, images, labels, key(i + 1))
        losses.append(float(metrics["loss"]))
    return {"start": start, "end": (model, state), "losses": losses, "images": images}


@pytest.fixture(scope="module", params=list(FAMILIES))
def trained(request):
    return request.param, train(request.param)


@eqx.filter_jit
def infer(model, state, images):
    return eqx_resnet.forward(eqx.nn.inference_mode(model), state, images)


def test_loss_falls(trained):
    name, run = trained
    losses = run["losses"]
    assert all(np.isfinite(losses)), losses
    assert losses[-1] < losses[0], (name, losses)


def test_parameters_and_running_statistics_change(trained):
    _, run = trained
    (model_0, state_0), (model_1, state_1) = run["start"], run["end"]
    for before, after in [(model_0, model_1), (state_0, state_1)]:
        leaves = [(a, b) for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(after)) if is_float_leaf(a)]
        changed = sum(not np.array_equal(a, b) for a, b in leaves)
        assert changed == len(leaves)


def test_inference_uses_running_statistics_and_returns_them_unchanged(trained):
    _, run = trained
    model, state = run["end"]
    images = run["images"]
    logits, state_out = infer(model, state, images)
    assert jax.tree.structure(state_out) == jax.tree.structure(state)
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(state_out)):
        np.testing.assert_array_equal(a, b)
    # Each example alone: the rest of the batch (here replaced by noise) does not matter...
    other = images.at[1:].set(batch(images.shape, seed=1)[0][1:])
    np.testing.assert_allclose(infer(model, state, other)[0][0], logits[0], rtol=1e-5, atol=1e-5)
    # ...the running statistics do.
    shifted = jax.tree.map(lambda x: 2.0 * x + 1.0, state)
    assert not np.allclose(infer(model, shifted, images)[0], logits, atol=1e-3)


def test_bf16_compute_trains_fp32_parameters():
    run = train("preact_resnet", precision="bf16", blocks_per_stage=1)  # 1 block a stage: a third of the compile
    losses = run["losses"]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0], losses
    model, state = run["end"]
    dtypes = {x.dtype for x in jax.tree.leaves(model) + jax.tree.leaves(state) if is_float_leaf(x)}
    assert dtypes == {jnp.dtype(jnp.float32)}


def test_four_micro_batches_of_32_make_one_step_of_128():
    """With BatchNorm's statistics frozen (a loss that is a mean over independent examples), the
    accumulated gradient is the batch's: the SGD updates agree within 1e-5."""
    model, state = eqx.filter_jit(eqx_resnet.preact_resnet)(widths=(4, 8, 8), blocks_per_stage=1, key=key(0))
    model = eqx_resnet.freeze_batch_stats(model, eqx_resnet.layers.BatchNorm)
    optimizer = optax.sgd(0.1)
    opt_state = optimizer.init(eqx.filter(model, eqx.is_inexact_array))
    images, labels = batch((128, 1, 28, 28))

    def update(accumulate):
        step = eqx.filter_jit(
            eqx_resnet.make_train_step(optimizer, accumulate=accumulate), compiler_options=eqx_resnet.compiler_options()
        )
        new, _, _, metrics = step(model, state, opt_state, images, labels, key(1))
        return float(metrics["loss"]), [a - b for a, b in zip(arrays(new), arrays(model), strict=True)]

    (loss_128, update_128), (loss_4x32, update_4x32) = update(1), update(4)
    assert relative(loss_4x32, loss_128) < 1e-5
    assert max(relative(a, b) for a, b in zip(update_4x32, update_128, strict=True)) < 1e-5
    with pytest.raises(ValueError, match="a batch of 4 does not split into 3 micro-batches"):
        accumulate_gradients(lambda *a: None, 3)(None, None, jnp.zeros((4, 1)), None, None)


def test_the_step_imports_nothing_that_starts_processes():
    """step.py and the modules of the package it imports, transitively, as their source says: no
    socket, thread or `jax.distributed` (the step is pure; process start-up is training/distributed.py)."""
    seen, todo = set(), ["eqx_resnet.training.step"]
    while todo:
        name = todo.pop()
        seen.add(name)
        for module, names, _ in imports(module_path(name)):
            found = [m for m in (module, *(f"{module}.{n}" for n in names)) if module_path(m)]
            todo += [m for m in found if m.startswith("eqx_resnet") and m not in seen and m not in todo]
            assert module not in ("socket", "threading", "jax.distributed"), f"{name} imports {module}"
    assert "eqx_resnet.training.distributed" not in seen
