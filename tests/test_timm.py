"""timm's ResNet family, as timm 1.0.31 builds it, is the oracle: every architecture both register has
timm's state dict, and its logits equal timm's (one of each kind here; every one with `-m exhaustive`)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from _timm import timm

import eqx_resnet
from eqx_resnet.weights import load_state_dict, state_dict_shapes, to_state_dict

# The architectures of timm's resnet.py that eqx-resnet has.
SHARED = [name for name in eqx_resnet.list_models() if name in set(timm.list_models(module="resnet"))]
# One of each kind, small: plain, deep stems (-c, -s, tiered -t with average-pooled shortcuts), grouped,
# SE, ECA, anti-aliased (average pool, blur), GroupNorm, ResNet-RS (SE at 1/4, a conv for the stem's pool),
# pruned (ECA with timm's channel table).
KINDS = ["resnet26", "resnet50c", "resnet50s", "resnet10t", "resnext50_32x4d", "seresnet18", "ecaresnet26t"]
KINDS += ["resnetaa34d", "resnetblur18", "resnet50_gn", "resnetrs50", "ecaresnet50d_pruned"]


def _timm_shapes(name: str) -> dict[str, tuple[int, ...]]:
    module = timm.create_model(name, device="meta")  # shapes only: nothing allocated
    return {k: tuple(v.shape) for k, v in module.state_dict().items() if not k.endswith("num_batches_tracked")}


def test_the_zoo_holds_timms_resnets():
    assert {"resnet18", "resnet50", "resnet200", "resnext101_32x32d", "senet154", "resnetrs420"} <= set(SHARED)
    assert len(SHARED) == len(timm.list_models(module="resnet")) - 1 == 80  # all but timm's test_resnet


@pytest.mark.parametrize("name", SHARED)
def test_the_state_dict_is_timms(name):
    model, state = eqx.filter_eval_shape(eqx_resnet.create_model, name, key=jax.random.key(0))
    assert state_dict_shapes(model, state) == _timm_shapes(name)


def _worst(ours, theirs) -> float:
    """The largest difference relative to `max(1, max|theirs|)`: the measure of parity against timm."""
    theirs = np.asarray(theirs)
    return float(np.abs(np.asarray(ours) - theirs).max() / max(1.0, float(np.abs(theirs).max())))


def _parity(name: str) -> dict[str, float]:
    """timm's `name` with every norm randomised, and ours loaded from it: the worst differences of the
    inference logits, the training-mode logits and the statistics that training step updates; our
    updated state exported back, which timm must load strictly."""
    torch.manual_seed(0)
    module = timm.create_model(name, zero_init_last=False)
    for m in module.modules():  # random scales, shifts and statistics, so that no norm is the identity
        if isinstance(m, torch.nn.BatchNorm2d | torch.nn.GroupNorm):
            m.weight.data.uniform_(0.5, 1.5), m.bias.data.uniform_(-0.1, 0.1)
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1), m.running_var.uniform_(0.5, 1.5)
    for m in module.modules():  # each branch's last norm small, so that 200 blocks keep the activations' scale
        if hasattr(m, "zero_init_last"):
            (m.bn3 if hasattr(m, "bn3") else m.bn2).weight.data.uniform_(0.05, 0.2)
    model, state = eqx.filter_eval_shape(eqx_resnet.create_model, name, key=jax.random.key(0))
    model, state = load_state_dict(model, state, module.state_dict())
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64), np.float32)
    evaluated = eqx_resnet.forward(eqx.nn.inference_mode(model), state, jnp.asarray(x))[0]
    trained, state = eqx_resnet.forward(model, state, jnp.asarray(x))
    with torch.no_grad():
        worst = {"inference": _worst(evaluated, module.eval()(torch.from_numpy(x)))}
        worst["training"] = _worst(trained, module.train()(torch.from_numpy(x)))
    exported, theirs = to_state_dict(model, state), module.state_dict()
    statistics = [k for k in exported if k.endswith(("running_mean", "running_var"))]
    worst["statistics"] = max((_worst(exported[k], theirs[k]) for k in statistics), default=0.0)
    module.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in exported.items()}, strict=True)
    print(f"{name}: worst difference / max(1, max|reference|): " + ", ".join(f"{k} {v:.1e}" for k, v in worst.items()))
    return worst


@pytest.mark.parametrize("name", KINDS)
def test_the_logits_and_statistics_are_timms(name):
    assert max(_parity(name).values()) <= 1e-4


@pytest.mark.exhaustive
@pytest.mark.parametrize("name", SHARED)  # one model a process: CONTRIBUTING.md's loop
def test_every_shared_architecture_is_timms(name):
    assert max(_parity(name).values()) <= 1e-4


@pytest.mark.parametrize("name", SHARED)
def test_the_feature_info_is_timms(name):
    model, _ = eqx.filter_eval_shape(eqx_resnet.create_model, name, key=jax.random.key(0))
    theirs = timm.create_model(name, device="meta").feature_info
    assert [(f.channels, f.reduction, f.module) for f in model.feature_info] == [
        (f["num_chs"], f["reduction"], f["module"]) for f in theirs
    ]


def test_features_only_gives_timms_maps():
    torch.manual_seed(0)
    module = timm.create_model("resnet18", features_only=True, out_indices=(2, 3, 4)).eval()
    model, state = eqx_resnet.create_model("resnet18", features_only=True, out_indices=(2, 3, 4), key=jax.random.key(0))
    model, state = load_state_dict(model, state, module.state_dict())
    x = np.random.default_rng(0).standard_normal((1, 3, 65, 77), np.float32)
    ours, _ = eqx_resnet.forward(eqx.nn.inference_mode(model), state, jnp.asarray(x))
    with torch.no_grad():
        theirs = [m.numpy() for m in module(torch.from_numpy(x))]
    assert [m.shape for m in ours] == [m.shape for m in theirs] == [(1, 128, 9, 10), (1, 256, 5, 5), (1, 512, 3, 3)]
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-4, atol=1e-4 * np.abs(b).max())


def test_forward_features_head_and_reset_classifier_are_timms():
    torch.manual_seed(0)
    module = timm.create_model("seresnet18").eval()
    model, state = eqx.filter_eval_shape(eqx_resnet.create_model, "seresnet18", key=jax.random.key(0))
    model, state = load_state_dict(eqx.nn.inference_mode(model), state, module.state_dict())
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 64), np.float32)
    features, _ = model.forward_features(jnp.asarray(x[0]), state)
    with torch.no_grad():
        theirs = module.forward_features(torch.from_numpy(x))
        pre = module.forward_head(theirs, pre_logits=True)
    np.testing.assert_allclose(np.asarray(features), theirs[0].numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(model.forward_head(features, pre_logits=True)), pre[0].numpy(), atol=1e-5)
    head = model.reset_classifier(10, key=jax.random.key(1))
    assert head.fc.out_features == 10 and head.forward_head(features).shape == (10,)
    assert isinstance(model.reset_classifier(0, key=jax.random.key(1)).fc, eqx.nn.Identity)


@pytest.mark.parametrize("pool", ["max", "avgmax", "catavgmax"])
def test_global_pool_is_timms(pool):
    torch.manual_seed(0)
    module = timm.create_model("resnet18", global_pool=pool).eval()
    model, state = eqx.filter_eval_shape(eqx_resnet.create_model, "resnet18", global_pool=pool, key=jax.random.key(0))
    model, state = load_state_dict(model, state, module.state_dict())
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64), np.float32)
    ours = eqx_resnet.forward(eqx.nn.inference_mode(model), state, jnp.asarray(x))[0]
    with torch.no_grad():
        theirs = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(np.asarray(ours), theirs, rtol=1e-4, atol=1e-4 * np.abs(theirs).max())


def test_drop_rate_and_drop_path_draw_while_training_and_are_off_in_inference():
    model, state = eqx_resnet.create_model("resnet10t", drop_rate=0.5, drop_path_rate=0.2, key=jax.random.key(0))
    x = jnp.asarray(np.random.default_rng(0).standard_normal((4, 3, 32, 32)), jnp.float32)
    a, _ = eqx_resnet.forward(model, state, x, key=jax.random.key(1))
    b, _ = eqx_resnet.forward(model, state, x, key=jax.random.key(2))
    assert not np.allclose(a, b)
    with pytest.raises(ValueError, match="pass key="):
        eqx_resnet.forward(model, state, x)
    still = eqx.nn.inference_mode(model)
    np.testing.assert_array_equal(eqx_resnet.forward(still, state, x)[0], eqx_resnet.forward(still, state, x)[0])


def test_grad_checkpointing_gives_the_same_gradients():
    model, state = eqx_resnet.create_model("resnet10t", num_classes=10, key=jax.random.key(0))
    x = jnp.asarray(np.random.default_rng(0).standard_normal((4, 3, 32, 32)), jnp.float32)

    def loss(m):
        return eqx_resnet.forward(m, state, x)[0].sum()

    plain, checkpointed = (eqx.filter_grad(loss)(m) for m in (model, model.set_grad_checkpointing()))
    for a, b in zip(jax.tree.leaves(plain), jax.tree.leaves(checkpointed)):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4 * np.abs(b).max())  # recomputed: rounding moves
    assert model.set_grad_checkpointing().grad_checkpointing and not model.grad_checkpointing
