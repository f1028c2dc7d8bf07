"""`eqx_resnet.create_model`: from scratch, or with a weights file (offline)."""

import jax
import numpy as np
import pytest

import eqx_resnet
from eqx_resnet.weights import WeightsError, to_state_dict


def test_weights_fill_the_model_and_a_new_head_is_drawn(tmp_path):
    key = jax.random.key(0, impl="rbg")
    source = eqx_resnet.create_model("resnet18", key=key, num_classes=10, in_channels=1, stem="cifar")
    path = tmp_path / "weights.npz"
    np.savez(path, **to_state_dict(*source))
    model, state = eqx_resnet.create_model(
        "resnet18", key=jax.random.key(1, impl="rbg"), weights=path, num_classes=10, in_channels=1, stem="cifar"
    )
    for a, b in zip(jax.tree.leaves((source[0], source[1])), jax.tree.leaves((model, state))):
        np.testing.assert_array_equal(a, b)
    with pytest.warns(UserWarning, match="freshly initialised"):
        model, _ = eqx_resnet.create_model(
            "resnet18", key=key, weights=path, num_classes=4, in_channels=1, stem="cifar"
        )
    assert model.fc.out_features == 4
    # The new head is the one the key draws without weights (the weights' reader builds it under jit).
    scratch, _ = eqx_resnet.create_model("resnet18", key=key, num_classes=4, in_channels=1, stem="cifar")
    np.testing.assert_array_equal(model.fc.weight, scratch.fc.weight)
    np.testing.assert_array_equal(model.fc.bias, scratch.fc.bias)
    np.testing.assert_array_equal(model.layer1[0].conv1.weight, source[0].layer1[0].conv1.weight)
    with pytest.raises(WeightsError, match="no published weights for 'preact_resnet'"):
        eqx_resnet.create_model("preact_resnet", key=key, weights="imagenet")


def test_timms_in_chans_names_in_channels():
    model, _ = eqx_resnet.create_model("resnet18", key=jax.random.key(0), in_chans=1, num_classes=0)
    assert model.in_channels == 1 and model.conv1.weight.shape[1] == 1
    with pytest.raises(ValueError, match="in_chans is timm's name for in_channels: give one of them"):
        eqx_resnet.create_model("resnet18", key=jax.random.key(0), in_chans=1, in_channels=1)
