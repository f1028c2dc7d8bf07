"""`eqx_resnet.cli.words`: the library's messages name a Python caller's arguments, and the command line
prints them as its options; a span that is not arguments of the command stays as it is."""

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from eqx_resnet.cli import app
from eqx_resnet.cli.words import in_command_words, in_flags
from eqx_resnet.training import ConfigError, TrainConfig, TrainingError
from eqx_resnet.training.distributed import initialize_distributed
from eqx_resnet.training.lock import RunLock

runner = CliRunner()
TRAIN = get_command(app).commands["train"].params


@pytest.mark.parametrize(
    "message, flags",
    [
        ("choose another `run_dir`", "choose another --out"),
        ('with `resume=True, resume_from="best"`, or', "with --resume --resume-from best, or"),
        ("`batch_size=66` does not split", "--batch-size 66 does not split"),
        ("`augment=False` and `nesterov`", "--no-augment and --nesterov"),
        ("give `dataset='mnist'`", "give mnist as DATASET"),
        ('drop `model_options={"widths": [4, 8]}`', "drop --model-option widths=[4,8]"),
        ("`init='my weights.npz'` holds", "--init 'my weights.npz' holds"),
        # Not arguments of the command: left whole.
        ("written by `eqx-resnet bench --json`", "written by `eqx-resnet bench --json`"),
        ('`stem="cifar"` and `resume=True, stem="cifar"`', '`stem="cifar"` and `resume=True, stem="cifar"`'),
        ("`lr=f(x)` and resume=True and `resume", "`lr=f(x)` and resume=True and `resume"),
    ],
)
def test_arguments_in_backticks_become_the_commands_options_and_nothing_else_changes(message, flags):
    assert in_flags(message, TRAIN) == flags


def test_outside_a_command_a_message_keeps_its_words():
    assert in_command_words("choose another `run_dir`") == "choose another `run_dir`"


def _lock_a_file(tmp_path):
    (tmp_path / "file").write_text("")
    RunLock(tmp_path / "file").acquire()


# A Python call, and the command that makes the same mistake: each reads its own words.
CASES = {
    "freeze without weights": (
        lambda tmp_path: TrainConfig(freeze_backbone=True),
        ["train", "mnist", "--freeze-backbone"],
        ConfigError,
        '`freeze_backbone=True` needs pretrained weights to keep: add `init="imagenet"` (or a checkpoint)',
        "--freeze-backbone needs pretrained weights to keep: add --init imagenet (or a checkpoint)",
    ),
    "a fraction out of range": (
        lambda tmp_path: TrainConfig(val_fraction=0.0),
        ["train", "imagefolder", "--val-fraction", "0"],
        ConfigError,
        "`val_fraction` must be > 0.0 and < 1.0, got 0.0",
        "--val-fraction must be > 0.0 and < 1.0, got 0.0",
    ),
    "processes without a coordinator": (
        lambda tmp_path: initialize_distributed(None, 2, 0),
        ["train", "mnist", "--num-processes", "2", "--process-id", "0"],
        ConfigError,
        '`num_processes` and `process_id` go with `coordinator="HOST:PORT"` (process 0\'s address)',
        "--num-processes and --process-id go with --coordinator HOST:PORT (process 0's address)",
    ),
    "a process id out of range": (
        lambda tmp_path: initialize_distributed("localhost:1", 2, 2),
        ["train", "mnist", "--coordinator", "localhost:1", "--num-processes", "2", "--process-id", "2"],
        ConfigError,
        "`process_id` must be 0 to 1 (`num_processes=2`), got 2",
        "--process-id must be 0 to 1 (--num-processes 2), got 2",
    ),
    "a run directory that is a file": (
        _lock_a_file,
        ["train", "mnist", "--out", "{tmp_path}/file", "--no-compilation-cache"],
        TrainingError,
        "cannot use {tmp_path}/file as the run directory: it is a file; choose another `run_dir`",
        "cannot use {tmp_path}/file as the run directory: it is a file; choose another --out",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_python_caller_reads_arguments_and_a_cli_user_options(case, tmp_path):
    call, args, error, python_words, cli_words = CASES[case]
    with pytest.raises(error) as raised:
        call(tmp_path)
    assert str(raised.value) == python_words.format(tmp_path=tmp_path)
    result = runner.invoke(app, [a.format(tmp_path=tmp_path) for a in args])
    assert result.exit_code in (1, 2) and result.output.strip() == f"error: {cli_words.format(tmp_path=tmp_path)}"
