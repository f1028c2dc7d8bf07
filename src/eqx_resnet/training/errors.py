"""The errors of training: each message names the problem and the fix."""


class CheckpointError(Exception):
    """A checkpoint cannot be written or read; the message names the file and the fix."""


class TrainingError(RuntimeError):
    """A run that cannot go on: diverged, or asked to resume what does not exist."""


class Interrupted(Exception):
    """A run stopped on request (SIGTERM, or Ctrl-C), after writing a checkpoint of where it was."""

    def __init__(self, signal_name: str, checkpoint, epoch: int, step: int):
        self.signal_name = signal_name
        super().__init__(
            f"stopped by {signal_name} in epoch {epoch} after step {step}; {checkpoint} holds where it was: "
            "continue with --resume"
        )
