"""The errors of training, defined in `eqx_resnet.errors`: each message names the problem and the fix."""

from ..errors import CheckpointError, CorruptCheckpointError, Interrupted, TrainingError

__all__ = ["CheckpointError", "CorruptCheckpointError", "Interrupted", "TrainingError"]
