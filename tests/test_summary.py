"""`summarize` traces the seed models to the shapes of the seeds' own Flax tables.

The layers work channels-last, as the seeds' Flax models do, so the shapes of the seeds'
`tabulate` tables are transcribed below as they are (without the batch).
"""

import io
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest
from rich.console import Console

import eqx_resnet
from eqx_resnet.models.registry import get_builder
from eqx_resnet.summary import format_summary, summarize


def abstract(name, **options):
    return eqx.filter_eval_shape(get_builder(name), key=jax.random.key(0), **options)


def shapes(rows):
    """`{path: (input, output)}`; a module called twice (AlexNet's dropout) saw the same shapes."""
    return {row.path: (row.input_shape, row.output_shape) for row in rows}


# Seed 000 (PreActResNet, 28x28x1): each block's input and output, transcribed.
PREACT_BLOCKS = {
    "layer1.0": ((28, 28, 16), (28, 28, 16)),
    "layer1.1": ((28, 28, 16), (28, 28, 16)),
    "layer1.2": ((28, 28, 16), (28, 28, 16)),
    "layer2.0": ((28, 28, 16), (14, 14, 32)),
    "layer2.1": ((14, 14, 32), (14, 14, 32)),
    "layer2.2": ((14, 14, 32), (14, 14, 32)),
    "layer3.0": ((14, 14, 32), (7, 7, 64)),
    "layer3.1": ((7, 7, 64), (7, 7, 64)),
    "layer3.2": ((7, 7, 64), (7, 7, 64)),
}


def test_preact_resnet_shapes_match_seed_000():
    model, state = abstract("preact_resnet")
    seen = shapes(summarize(model, state))
    assert seen["conv"] == ((28, 28, 1), (28, 28, 16))
    for path, expected in PREACT_BLOCKS.items():
        assert seen[path] == expected, path
    # A downsampling block: strided 3x3 conv, and BN-ReLU-1x1/2 conv on the shortcut.
    assert seen["layer2.0.conv1"] == ((28, 28, 16), (14, 14, 32))
    assert seen["layer2.0.shortcut.conv"] == ((28, 28, 16), (14, 14, 32))
    assert seen["fc"] == ((64,), (10,))


# Seed 002 (AlexNet-BN, 96x96x1), transcribed: each conv, and the max-pool after it.
ALEXNET = {
    "features.0.conv": ((96, 96, 1), (22, 22, 96)),
    "features.0.pool": ((22, 22, 96), (10, 10, 96)),
    "features.1.conv": ((10, 10, 96), (10, 10, 256)),
    "features.1.pool": ((10, 10, 256), (4, 4, 256)),
    "features.2.conv": ((4, 4, 256), (4, 4, 384)),
    "features.3.conv": ((4, 4, 384), (4, 4, 384)),
    "features.4.conv": ((4, 4, 384), (4, 4, 256)),
    "features.4.pool": ((4, 4, 256), (1, 1, 256)),
    "fc1": ((256,), (4096,)),
    "fc2": ((4096,), (4096,)),
    "dropout": ((4096,), (4096,)),
    "fc3": ((4096,), (10,)),
}


def test_alexnet_shapes_match_seed_002():
    model, state = abstract("alexnet")
    rows = summarize(model, state)
    seen = shapes(rows)
    for path, expected in ALEXNET.items():
        assert seen[path] == expected, path
    assert [row.path for row in rows].count("dropout") == 2  # one module, called twice


@pytest.mark.parametrize(
    "name, options",
    [
        ("preact_resnet", {}),
        ("alexnet", {}),
        ("resnet18", {"stem": "cifar", "num_classes": 10}),
        ("resnext50_32x4d", {}),
    ],
)
def test_totals_equal_the_counts(name, options):
    model, state = abstract(name, **options)
    rows = summarize(model, state)
    assert rows[0].path == "" and rows[0].depth == 0
    assert rows[0].parameters == eqx_resnet.count_parameters(model)
    assert rows[0].statistics == eqx_resnet.count_batch_stats(state)
    # Every number sits in exactly one layer (a module called twice counted once).
    layers = {row.path: row for row in rows if not row.group}
    assert sum(row.parameters for row in layers.values()) == rows[0].parameters
    assert sum(row.statistics for row in layers.values()) == rows[0].statistics
    kinds = {row.kind for row in layers.values()}
    assert {"Conv2d", "BatchNorm", "Linear"} <= kinds


def test_resnet152_is_summarised_without_allocating():
    start = time.perf_counter()
    model, state = abstract("resnet152")
    rows = summarize(model, state)
    assert time.perf_counter() - start < 60
    seen = shapes(rows)
    assert seen["maxpool"] == ((112, 112, 64), (56, 56, 64))
    assert seen["layer3.35"] == ((14, 14, 1024), (14, 14, 1024))
    assert seen["layer4.0.downsample.conv"] == ((14, 14, 1024), (7, 7, 2048))
    assert seen["fc"] == ((2048,), (1000,))
    assert rows[0].parameters == 60_192_808
    blocks = [row for row in rows if row.kind == "Bottleneck"]
    assert len(blocks) == 3 + 8 + 36 + 3


def test_summary_follows_the_input_shape():
    model, state = abstract("resnet18", stem="cifar", num_classes=10)
    seen = shapes(summarize(model, state, (3, 64, 48)))
    assert seen["layer4.1"][1] == (8, 6, 512)


@pytest.mark.parametrize(
    "name, shape, message",
    [
        ("alexnet", (1, 28, 28), r"\(1, 28, 28\).*96x96.*got 28x28, which they reduce to 0x0"),
        ("alexnet", (1, 100, 100), r"\(1, 100, 100\).*1x1 for fc1.*reduce to 2x2"),
        ("preact_resnet", (3, 28, 28), r"\(3, 28, 28\).*built for 1 input channel"),
        ("preact_resnet", (28, 28), r"\(channels, height, width\)"),
    ],
)
def test_an_input_the_model_cannot_take_is_a_clear_error(name, shape, message):
    model, state = abstract(name)
    with pytest.raises(ValueError, match=message):
        summarize(model, state, shape)


class Vanishing(eqx.Module):
    """A model of your own whose valid convolution leaves nothing of a small input."""

    conv: eqx_resnet.layers.Conv2d
    fc: eqx.nn.Linear
    input_shape = (1, 8, 8)

    def __call__(self, x, state, *, key=None):
        return self.fc(jnp.ravel(self.conv(jnp.moveaxis(x, 0, -1)))), state


def test_a_layer_that_leaves_nothing_is_named():
    model = Vanishing(
        eqx_resnet.layers.Conv2d(1, 4, 11, 4, key=jax.random.key(0)), eqx.nn.Linear(4, 2, key=jax.random.key(1))
    )
    with pytest.raises(ValueError, match=r"\(1, 8, 8\).*conv turns 8x8x1 into 0x0x4 \(the input is too small\)"):
        summarize(model, eqx.nn.State(model))


def test_format_summary_renders_rows_and_totals():
    model, state = abstract("preact_resnet")
    rows = summarize(model, state)
    console = Console(file=io.StringIO(), width=200)
    console.print(format_summary(rows, title="preact_resnet"))
    text = console.file.getvalue()
    assert "layer2.0.shortcut.conv" in text and "14x14x32" in text
    assert "271,962" in text and "1,344" in text and "273,306" in text
    console = Console(file=io.StringIO(), width=200)
    console.print(format_summary(rows, max_depth=1))
    shallow = console.file.getvalue()
    assert "layer2.0" in shallow and "layer2.0.conv1" not in shallow and "271,962" in shallow
