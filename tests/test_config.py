"""TrainConfig: every setting checked where it is made, one defaults table, and a CLI that agrees with it."""

import dataclasses

import pytest
import typer

from eqx_resnet.cli import app
from eqx_resnet.cli.train import parse_model_options
from eqx_resnet.data import DATASETS
from eqx_resnet.models import list_models
from eqx_resnet.models.forward import PRECISIONS
from eqx_resnet.training import ConfigError, TrainConfig, with_defaults
from eqx_resnet.training.config import MAX_SEED, MONITORS, OPTIMIZERS, SCHEDULES


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("precision", "fp16", "`precision` must be one of fp32, bf16, got 'fp16'"),
        ("optimizer", "lamb", "`optimizer` must be one of adam, adamw, sgd"),
        ("schedule", "linear", "`schedule` must be one of constant, cosine, step, onecycle"),
        ("monitor", "train_acc", "`monitor` must be one of test_acc, test_loss"),
        ("seed", MAX_SEED + 1, f"`seed` must be >= 0 and <= {MAX_SEED}"),
        ("seed", -1, "`seed` must be >= 0"),
        ("epochs", 0, "`epochs` must be >= 1, got 0"),
        ("batch_size", 2.5, "`batch_size` must be an integer"),
        ("lr", -1e-3, "`lr` must be >= 0.0"),
        ("lr", float("nan"), "`lr` must be finite"),
        ("momentum", 1.0, "`momentum` must be >= 0.0 and < 1.0"),
        ("label_smoothing", 1.0, "`label_smoothing` must be >= 0.0 and < 1.0"),
        ("ema_decay", 1.0, "`ema_decay` must be >= 0.0 and < 1.0"),
        ("clip_norm", 0.0, "`clip_norm` must be > 0.0"),
        ("image_size", 4, "`image_size` must be >= 8"),
        ("model_options", [1, 2], "`model_options` must be a dict"),
    ],
)
def test_bad_settings_are_refused_when_made(field, value, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        TrainConfig(**{field: value})


def test_onecycle_warms_up_itself():
    with pytest.raises(ConfigError, match="onecycle"):
        TrainConfig(schedule="onecycle", warmup_epochs=1.0)


def test_from_dict_names_unknown_settings():
    with pytest.raises(ConfigError, match=r"unknown settings \['colour'\]"):
        TrainConfig.from_dict({"colour": "red"})
    config = TrainConfig(dataset="cifar10", lr=0.1)
    assert TrainConfig.from_dict(config.to_dict()) == config


def test_explicit_model_gets_its_own_defaults():
    assert with_defaults(TrainConfig(), "cpu").model_options == {
        "widths": [16, 32, 64],
        "blocks_per_stage": 2,
        "stem_stride": 2,
    }
    explicit = with_defaults(TrainConfig(model="preact_resnet"), "cpu")
    assert explicit.model == "preact_resnet" and explicit.model_options == {}
    given = with_defaults(TrainConfig(model_options={"widths": [4, 8, 8]}), "cpu")
    assert given.model == "preact_resnet" and given.model_options == {"widths": [4, 8, 8]}
    assert with_defaults(TrainConfig(), "accelerator").model_options == {}
    cifar = with_defaults(TrainConfig(dataset="cifar10"), "cpu")
    assert (cifar.model, cifar.optimizer, cifar.weight_decay, cifar.model_options) == (
        "resnet18",
        "adamw",
        5e-4,
        {"stem": "cifar"},
    )
    assert with_defaults(TrainConfig(dataset="cifar10", optimizer="sgd"), "cpu").optimizer == "sgd"


def test_every_setting_is_a_cli_option_with_the_same_default():
    command = typer.main.get_command(app).commands["train"]
    options = {p.name: p for p in command.params}
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    assert set(fields) - set(options) == {"model_options"}  # given as -o KEY=VALUE
    choices = {
        "optimizer": OPTIMIZERS,
        "schedule": SCHEDULES,
        "monitor": MONITORS,
        "precision": PRECISIONS,
        "model": tuple(list_models()),
        "dataset": tuple(DATASETS),
    }
    for name, param in options.items():
        if name in fields and name != "dataset":  # the dataset is a required argument
            assert getattr(param.default, "value", param.default) == fields[name].default, name
    for name, values in choices.items():
        assert tuple(c.value for c in options[name].type_descriptor.choices) == values, name


def test_model_options_parse_as_json_else_text():
    assert parse_model_options(["widths=[16,32,64]", "stem=cifar", "zero_init_residual=true"]) == {
        "widths": [16, 32, 64],
        "stem": "cifar",
        "zero_init_residual": True,
    }
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_model_options(["widths"])


def test_a_model_of_fixed_input_size_gets_it_unless_another_is_given():
    assert with_defaults(TrainConfig(model="alexnet"), "cpu").image_size == 96  # its description's, not MNIST's 28
    assert with_defaults(TrainConfig(model="alexnet", image_size=80), "cpu").image_size == 80
    assert with_defaults(TrainConfig(model="preact_resnet"), "cpu").image_size is None
