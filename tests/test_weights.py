"""State dicts in and out of the zoo: parity with PyTorch's torchvision-architecture ResNets, and bad input.

The PyTorch side is torchvision's own ResNet, as the benchmarks' torch peer builds it
(`benchmarking.peers_torch.resnet`: the zoo's CIFAR stem and input channels in its first conv).
Inputs are small (batch 2, 64x64) to keep the big models cheap.
"""

import pickle
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import eqx_resnet
from eqx_resnet.weights import (
    WeightsError,
    load_state_dict,
    read_state_dict,
    save_safetensors,
    to_state_dict,
)

X = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)


def torch_resnet(name, seed=0, **options):
    """The torch peer of `name` with random BatchNorm affine parameters and running statistics."""
    torch = pytest.importorskip("torch")
    from eqx_resnet.benchmarking import peers_torch

    torch.manual_seed(seed)
    module = peers_torch.resnet(name, **options)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.2)
                m.running_mean.normal_(0.0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    return module


def skeleton(name, **options):
    """The model's shapes only: loading fills every leaf, so no random initialisation is needed."""
    return eqx.filter_eval_shape(eqx_resnet.create_model, name, key=jax.random.key(0), **options)


@eqx.filter_jit
def forward(model, state, x):
    return jax.vmap(model, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(x, state)


def torch_forward(module, x, train):
    import torch

    module.train(train)
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


def assert_close(got, want, scale=None):
    """Within 1e-4 of the largest magnitude of `want` (the logits' scale), in float32."""
    want = np.asarray(want)
    np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=1e-4 * (scale or np.abs(want).max()))


PARITY = [
    ("resnet18", {}),
    ("resnet50", {}),
    ("resnext50_32x4d", {}),
    ("wide_resnet50_2", {}),
    ("resnet18", {"stem": "cifar"}),
    ("resnet18", {"in_channels": 1}),
]


@pytest.mark.parametrize(
    "name, options", PARITY, ids=[f"{n}-{'-'.join(f'{k}={v}' for k, v in o.items()) or 'default'}" for n, o in PARITY]
)
def test_torch_state_dict_gives_torch_logits_and_running_statistics(name, options, tmp_path):
    import torch
    from safetensors.torch import load_file

    module = torch_resnet(name, **options)
    x = X[:, : options.get("in_channels", 3)]
    model, state = load_state_dict(*skeleton(name, **options), module.state_dict())

    logits, _ = forward(eqx.nn.inference_mode(model), state, jnp.asarray(x))
    assert_close(logits, torch_forward(module, x, train=False))

    logits, new_state = forward(model, state, jnp.asarray(x))
    assert_close(logits, torch_forward(module, x, train=True))  # batch statistics; updates the running ones
    before, ours, theirs = to_state_dict(model, state), to_state_dict(model, new_state), module.state_dict()
    statistics = [k for k in ours if k.endswith(("running_mean", "running_var"))]
    assert len(statistics) == 2 * sum(isinstance(m, torch.nn.BatchNorm2d) for m in module.modules())
    for k in statistics:
        assert not np.allclose(ours[k], before[k]), k  # one momentum-0.1 step moved it
        assert_close(ours[k], theirs[k].numpy())

    # Round trip: the updated state written here loads strictly into the torch architecture.
    save_safetensors(model, new_state, tmp_path / "w.safetensors")
    fresh = torch_resnet(name, seed=1, **options)
    fresh.load_state_dict(load_file(tmp_path / "w.safetensors"), strict=True)
    assert_close(
        torch_forward(fresh, x, train=False), forward(eqx.nn.inference_mode(model), new_state, jnp.asarray(x))[0]
    )


def test_state_dict_names_are_torchvisions_and_round_trip_exactly():
    module = torch_resnet("resnet50")
    want = {k: v.numpy() for k, v in module.state_dict().items() if not k.endswith("num_batches_tracked")}
    got = to_state_dict(*load_state_dict(*skeleton("resnet50"), module.state_dict()))
    assert list(got) == list(want)  # torchvision's order too: conv1.weight, bn1.weight, ..., fc.bias
    assert "layer1.0.downsample.1.running_var" in got
    for k, value in want.items():
        np.testing.assert_array_equal(got[k], value)


def test_grey_image_through_summed_first_conv_gives_the_rgb_logits():
    module = torch_resnet("resnet18")
    model, state = load_state_dict(*skeleton("resnet18", in_channels=1), module.state_dict())
    grey = X[:, :1]
    logits, _ = forward(eqx.nn.inference_mode(model), state, jnp.asarray(grey))
    assert_close(logits, torch_forward(module, np.repeat(grey, 3, axis=1), train=False))


@pytest.mark.parametrize("channels", [2, 4, 6])
def test_other_channel_counts_repeat_and_rescale_the_rgb_filters_as_timm(channels, resnet18_entries):
    rgb = resnet18_entries["conv1.weight"]
    model, _ = load_state_dict(*skeleton("resnet18", in_channels=channels), resnet18_entries)
    want = np.concatenate([rgb, rgb], axis=1)[:, :channels] * (3 / channels)
    np.testing.assert_allclose(np.asarray(model.conv1.weight), want, rtol=1e-6)


@pytest.fixture(scope="module")
def resnet18_entries():
    return {k: v.numpy() for k, v in torch_resnet("resnet18").state_dict().items()}


def test_pth_npz_and_safetensors_files_load_alike(resnet18_entries, tmp_path):
    import torch
    from safetensors.numpy import save_file

    torch.save({k: torch.from_numpy(v) for k, v in resnet18_entries.items()}, tmp_path / "w.pth")
    np.savez(tmp_path / "w.npz", **resnet18_entries)
    save_file(resnet18_entries, tmp_path / "w.safetensors")
    loaded = [
        to_state_dict(*load_state_dict(*skeleton("resnet18"), tmp_path / f))
        for f in ("w.pth", "w.npz", "w.safetensors")
    ]
    for k in loaded[0]:
        np.testing.assert_array_equal(loaded[0][k], resnet18_entries[k])
        np.testing.assert_array_equal(loaded[1][k], loaded[0][k])
        np.testing.assert_array_equal(loaded[2][k], loaded[0][k])


def test_resnet50_weights_do_not_load_into_a_resnet18():
    with pytest.raises(WeightsError) as e:
        load_state_dict(*skeleton("resnet18"), torch_resnet("resnet50").state_dict())
    message = str(e.value)
    assert "\n" not in message
    assert "does not fit resnet18(num_classes=1000)" in message
    assert "missing key(s)" not in message  # resnet18's names are a subset of resnet50's ...
    assert "unexpected key(s): layer1.0.conv3.weight" in message  # ... which has more
    assert "shape mismatch(es): layer1.0.conv1.weight [64, 64, 1, 1] in the weights vs [64, 64, 3, 3]" in message
    assert "24 shape mismatch(es)" in message and "and 21 more" in message  # the first three, then a count


def test_a_1000_class_head_does_not_load_into_a_10_class_model_unless_excluded(resnet18_entries):
    model, state = skeleton("resnet18", num_classes=10)
    with pytest.raises(
        WeightsError, match=r"fc.weight \[1000, 512\] in the weights vs \[10, 512\] in the model.*exclude=\('fc',\)"
    ):
        load_state_dict(model, state, resnet18_entries)
    # Excluded, the head keeps the model's values: a skeleton has none to keep.
    with pytest.raises(WeightsError, match="fc.weight, fc.bias unfilled"):
        load_state_dict(model, state, resnet18_entries, exclude=("fc",))
    # Nor does a skeleton's BatchNorm state have values to keep when loading leaves it out.
    partial = {k: v for k, v in resnet18_entries.items() if k != "bn1.running_var"}
    with pytest.raises(WeightsError, match="leaves bn1.running_var unfilled"):
        load_state_dict(*skeleton("resnet18"), partial, strict=False)
    concrete_head = eqx.tree_at(lambda m: m.fc, model, eqx.nn.Linear(512, 10, key=jax.random.key(1)))
    loaded, _ = load_state_dict(concrete_head, state, resnet18_entries, exclude=("fc",))
    np.testing.assert_array_equal(loaded.fc.weight, concrete_head.fc.weight)
    np.testing.assert_array_equal(loaded.conv1.weight, resnet18_entries["conv1.weight"])


def test_strict_lists_missing_and_unexpected_keys_and_non_strict_loads_the_rest(resnet18_entries):
    entries = dict(resnet18_entries, extra=np.zeros(3, np.float32))
    del entries["layer4.1.bn2.running_var"]
    with pytest.raises(
        WeightsError, match=r"1 missing key\(s\): layer4.1.bn2.running_var; 1 unexpected key\(s\): extra"
    ):
        load_state_dict(*skeleton("resnet18"), entries)
    model, state = load_state_dict(*skeleton("resnet18"), resnet18_entries)
    partial = {k: v + 1 for k, v in entries.items() if k.startswith("layer4.1.")}
    model2, state2 = load_state_dict(model, state, partial, strict=False)
    got = to_state_dict(model2, state2)
    np.testing.assert_array_equal(got["layer4.1.conv1.weight"], resnet18_entries["layer4.1.conv1.weight"] + 1)
    np.testing.assert_array_equal(got["layer4.1.bn2.running_var"], resnet18_entries["layer4.1.bn2.running_var"])
    np.testing.assert_array_equal(got["layer4.0.conv1.weight"], resnet18_entries["layer4.0.conv1.weight"])
    # The arguments are untouched: equinox invalidates a State once set, so loading works on a copy.
    np.testing.assert_array_equal(
        to_state_dict(model, state)["layer4.1.bn2.running_var"], resnet18_entries["layer4.1.bn2.running_var"]
    )


def test_num_batches_tracked_is_ignored(resnet18_entries):
    assert "bn1.num_batches_tracked" in resnet18_entries
    assert "bn1.num_batches_tracked" not in read_state_dict(resnet18_entries)


def test_truncated_safetensors_file_is_a_clear_error(resnet18_entries, tmp_path):
    from safetensors.numpy import save_file

    path = tmp_path / "w.safetensors"
    save_file(resnet18_entries, path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(WeightsError, match="not a readable safetensors file.*truncated"):
        read_state_dict(path)


class _Payload:
    """Unpickling this would create a file: a pickle that runs code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import pathlib

        return pathlib.Path.touch, (pathlib.Path(self.marker),)


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_a_pth_pickle_that_runs_code_is_refused_not_executed(writer, tmp_path):
    import torch

    marker, path = tmp_path / "executed", tmp_path / "evil.pth"
    payload = {"conv1.weight": torch.zeros(1), "x": _Payload(str(marker))}
    if writer == "torch.save":
        torch.save(payload, path)
    else:
        with open(path, "wb") as f:
            pickle.dump(payload, f, protocol=2)  # the protocol torch.load expects: no warning
    with pytest.raises(WeightsError, match="refused, not unpickled"):
        read_state_dict(path)
    assert not marker.exists()


def test_a_pth_training_checkpoint_is_refused_with_the_fix(resnet18_entries, tmp_path):
    import torch

    torch.save(
        {"epoch": 3, "state_dict": {k: torch.from_numpy(v) for k, v in resnet18_entries.items()}}, tmp_path / "c.pth"
    )
    with pytest.raises(WeightsError, match=r"not a flat mapping of names to tensors.*checkpoint\['state_dict'\]"):
        read_state_dict(tmp_path / "c.pth")


def test_pth_without_torch_is_a_clear_error(tmp_path, monkeypatch):
    (tmp_path / "w.pth").write_bytes(b"not read")
    monkeypatch.setitem(__import__("sys").modules, "torch", None)  # `import torch` now raises ImportError
    with pytest.raises(WeightsError, match=r"reading it needs torch \(pip install torch\)"):
        read_state_dict(tmp_path / "w.pth")


def test_unknown_and_missing_files_are_clear_errors(tmp_path):
    with pytest.raises(WeightsError, match="unknown weights format '.bin'"):
        read_state_dict(tmp_path / "w.bin")
    with pytest.raises(WeightsError, match="not found"):
        read_state_dict(tmp_path / "absent.safetensors")
    with pytest.raises(WeightsError, match="not an array of numbers"):
        read_state_dict({"conv1.weight": "zeros"})


@pytest.mark.parametrize(
    "name, expected", [("preact_resnet", "layer2.0.shortcut.bn.running_var"), ("alexnet", "fc3.weight")]
)
def test_models_without_torchvision_counterpart_round_trip_with_their_own_names(name, expected):
    rng = np.random.default_rng(0)

    def fill(x):  # random values for a skeleton, without compiling JAX's initialisers
        return rng.standard_normal(x.shape).astype(x.dtype) if isinstance(x, jax.ShapeDtypeStruct) else x

    model, state = jax.tree.map(fill, skeleton(name))
    entries = to_state_dict(model, state)
    assert expected in entries
    loaded = to_state_dict(*load_state_dict(*skeleton(name), entries))
    assert list(loaded) == list(entries)
    for k in entries:
        np.testing.assert_array_equal(loaded[k], entries[k])


@pytest.mark.parametrize("suffix", [".safetensors", ".npz", ".pth", "mapping"])
@pytest.mark.parametrize(
    "key, value, kind", [("fc.weight", np.nan, "NaN"), ("layer2.0.bn1.running_var", np.inf, "an infinity")]
)
def test_a_non_finite_entry_is_refused_by_name(resnet18_entries, tmp_path, suffix, key, value, kind):
    import torch
    from safetensors.numpy import save_file

    entries = dict(resnet18_entries)
    entries[key] = entries[key].copy()
    entries[key][0] = value
    path = tmp_path / f"w{suffix}"
    if suffix == ".safetensors":
        save_file(entries, path)
    elif suffix == ".npz":
        np.savez(path, **entries)
    elif suffix == ".pth":
        torch.save({k: torch.from_numpy(v) for k, v in entries.items()}, path)
    source, label = (entries, "the state dict") if suffix == "mapping" else (path, str(path))
    with pytest.raises(WeightsError) as error:
        load_state_dict(*skeleton("resnet18"), source)
    assert str(error.value).startswith(f"{label}: entry {key!r} holds {kind}, which usable weights never do")


def test_a_pth_in_pickle_protocol_3_loads_without_torchs_warning(resnet18_entries, tmp_path):
    import torch

    torch.save({"fc.bias": torch.from_numpy(resnet18_entries["fc.bias"])}, tmp_path / "w.pth", pickle_protocol=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(read_state_dict(tmp_path / "w.pth")["fc.bias"], resnet18_entries["fc.bias"])


@pytest.mark.parametrize("protocol", [4, 5])
def test_a_pth_in_pickle_protocol_4_or_5_is_refused_with_the_fix(resnet18_entries, tmp_path, protocol):
    import torch

    path = tmp_path / "w.pth"
    torch.save({"fc.bias": torch.from_numpy(resnet18_entries["fc.bias"])}, path, pickle_protocol=protocol)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(
            WeightsError,
            match=r"pickle protocol is one torch.load.* cannot read .*state_dict\(\), path\), without pickle_protocol",
        ):
            read_state_dict(path)
