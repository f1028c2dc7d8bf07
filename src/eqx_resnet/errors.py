"""The errors and warnings of eqx-resnet, in one place: each error's message names the problem and
the fix. The modules that raise them re-export them (`eqx_resnet.data.DatasetError`,
`eqx_resnet.training.ConfigError`, ...). This module imports nothing of the package, so that every
layer (data -> models -> weights -> training -> cli) can import it.
"""

__all__ = [
    "BadImage",
    "BadImageWarning",
    "BenchmarkError",
    "CheckpointError",
    "ConfigError",
    "CorruptCheckpointError",
    "DataWaitWarning",
    "DatasetError",
    "FolderLinkWarning",
    "Interrupted",
    "TrainingError",
    "UsageError",
    "WeightsError",
]


# data
class DatasetError(ValueError):
    """A dataset file is missing, corrupt, or cannot be downloaded."""


class BadImage(Exception):
    """An image file that cannot be read or converted to RGB; the message says why."""


class BadImageWarning(UserWarning):
    """An image file was unreadable and skipped."""


class DataWaitWarning(UserWarning):
    """The device waited on the input pipeline."""


class FolderLinkWarning(UserWarning):
    """Directory links of an image folder were not followed: they loop, or lead into another class folder."""


# weights
class WeightsError(ValueError):
    """Weights that cannot be read, or that do not fit the model; the message says which and how to fix it."""


# training
class ConfigError(ValueError):
    """A setting out of range or not among the choices; the message names the field and the fix."""


class CheckpointError(Exception):
    """A checkpoint cannot be written or read; the message names the file and the fix."""


class CorruptCheckpointError(CheckpointError):
    """An array file of a checkpoint that fails its SHA-256 or cannot be read. `problem` says which;
    the message adds what the reader can use instead (the other checkpoint of its run, if intact)."""

    def __init__(self, problem: str, instead: str = ""):
        super().__init__(f"{problem}; {instead}" if instead else problem)
        self.problem = problem


class TrainingError(RuntimeError):
    """A run that cannot go on: diverged, or asked to resume what does not exist."""


class Interrupted(Exception):
    """A run stopped on request (SIGTERM, or Ctrl-C), after writing a checkpoint of where it was."""

    def __init__(self, signal_name: str, checkpoint, epoch: int, step: int):
        self.signal_name = signal_name
        super().__init__(
            f"stopped by {signal_name} in epoch {epoch} after step {step}; {checkpoint} holds where it was: "
            "continue with `resume=True`"
        )


# benchmarking
class BenchmarkError(RuntimeError):
    """A measurement that must not be reported: a NaN output, or frameworks running different models."""


# cli
class UsageError(Exception):
    """Bad command-line input that only the CLI can see (a missing image file, say): exit 2."""
