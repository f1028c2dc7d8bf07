"""cli/options.py: train's help says the defaults of `with_defaults`' table, read from the table itself."""

from eqx_resnet.cli.options import defaults_text
from eqx_resnet.training import config


def test_the_help_says_each_dataset_and_device_default_the_table_gives():
    assert (
        defaults_text("precision")
        == "Default: per dataset and device (fp32; bf16 for imagefolder, imagenet on an accelerator)."
    )
    assert defaults_text("decay_norm_and_bias") == "Default: per dataset (yes; no for imagenet)."
    assert "0.1 per 256 images of batch for imagenet" in defaults_text("lr")
    assert defaults_text("seed") is None  # not filled per dataset: the option shows its own default


def test_a_change_to_the_table_shows_in_the_help(monkeypatch):
    monkeypatch.setitem(config.DEFAULTS, ("cifar10", None), {**config.DEFAULTS["cifar10", None], "precision": "bf16"})
    assert defaults_text("precision") == (
        "Default: per dataset and device (fp32; bf16 for cifar10, imagefolder on an accelerator, imagenet on an accelerator)."
    )
