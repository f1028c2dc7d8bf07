"""The errors of training: each message names the problem and the fix."""


class CheckpointError(Exception):
    """A checkpoint cannot be written or read; the message names the file and the fix."""


class TrainingError(RuntimeError):
    """A run that cannot go on: diverged, or asked to resume what does not exist."""
