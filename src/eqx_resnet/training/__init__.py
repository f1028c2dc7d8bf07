"""Training: the step, the optimiser, the engine, evaluation and checkpoints."""

from .checkpoint import CheckpointError, load_checkpoint, load_into, read_metadata, save_checkpoint
from .config import TrainConfig, with_defaults
from .evaluate import make_evaluator
from .loop import TrainingError, TrainResult, train
from .step import cross_entropy, eval_step, make_train_step

__all__ = [
    "CheckpointError",
    "TrainConfig",
    "TrainResult",
    "TrainingError",
    "cross_entropy",
    "eval_step",
    "load_checkpoint",
    "load_into",
    "make_evaluator",
    "make_train_step",
    "read_metadata",
    "save_checkpoint",
    "train",
    "with_defaults",
]
