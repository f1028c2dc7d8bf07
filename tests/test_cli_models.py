"""`eqx-resnet models` and `eqx-resnet summary` through typer's test runner, and the whole table as the
console script prints it."""

import subprocess

import pytest
from typer.testing import CliRunner

import eqx_resnet
from eqx_resnet.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, list(args))


def test_models_lists_every_model_with_its_size():
    # In a child, without the tests' type-checking import hook (tests/conftest.py), which makes
    # building all 82 models six times slower (75 s instead of 12).
    result = subprocess.run(["eqx-resnet", "models"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    for name in eqx_resnet.list_models():
        assert name in result.stdout
    assert "11,689,512" in result.stdout and "3x224x224" in result.stdout  # resnet18
    assert "271,962" in result.stdout and "1x28x28" in result.stdout  # preact_resnet


def test_models_names_only_prints_plain_names():
    result = invoke("models", "--names-only")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == eqx_resnet.list_models()


def test_summary_of_a_seed_model_prints_its_totals():
    result = invoke("summary", "preact_resnet")
    assert result.exit_code == 0, result.output
    assert "271,962" in result.stdout and "1,344" in result.stdout
    assert "layer3.0.shortcut.conv" in result.stdout and "7x7x64" in result.stdout


def test_summary_with_options():
    result = invoke("summary", "resnet18", "--input-shape", "3,32,32", "--stem", "cifar", "--num-classes", "10")
    assert result.exit_code == 0, result.output
    assert "11,173,962" in result.stdout and "4x4x512" in result.stdout


def test_summary_takes_the_channels_from_the_input_shape():
    result = invoke("summary", "resnet18", "--input-shape", "1,28,28", "--num-classes", "10", "--depth", "1")
    assert result.exit_code == 0, result.output
    assert "11,175,370" in result.stdout
    assert "layer1.0.conv1" not in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["summary", "resnet19"], "unknown model 'resnet19'; known models: alexnet"),
        (["summary", "resnet18", "--input-shape", "3x32"], "--input-shape takes"),
        (["summary", "resnet18", "--input-shape", "3,0,32"], "--input-shape takes"),
        (["summary", "alexnet", "--input-shape", "1,8,8"], "cannot take an input of shape (1, 8, 8)"),
        (["summary", "alexnet", "--stem", "cifar"], "cannot build alexnet with stem='cifar'"),
        (["summary", "resnet18", "--input-shape", "1,32,32", "--in-channels", "3"], "built for 3 input channel"),
    ],
)
def test_bad_input_is_one_line_on_stderr(args, message):
    result = invoke(*args)
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)  # not an uncaught error
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr


def test_option_values_are_validated_by_typer():
    result = invoke("summary", "resnet18", "--stem", "tiny")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "imagenet" in result.output and "cifar" in result.output


@pytest.mark.parametrize("command, text", [("models", "--names-only"), ("summary", "--input-shape")])
def test_help(command, text):
    result = invoke(command, "--help")
    assert result.exit_code == 0
    assert text in result.stdout
