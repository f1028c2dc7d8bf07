"""Training: the config, the step, the optimiser, the engine, evaluation, checkpoints and run metadata."""

from .checkpoint import load_checkpoint, load_into, read_metadata, save_checkpoint
from .config import ConfigError, TrainConfig, with_defaults
from .errors import CheckpointError, Interrupted, TrainingError
from .engine import TrainResult, make_run_steps, train
from .evaluate import make_evaluator
from .metadata import RunMetadata
from .step import cross_entropy, eval_step, make_train_step

__all__ = [
    "CheckpointError",
    "ConfigError",
    "Interrupted",
    "RunMetadata",
    "TrainConfig",
    "TrainResult",
    "TrainingError",
    "cross_entropy",
    "eval_step",
    "load_checkpoint",
    "load_into",
    "make_evaluator",
    "make_run_steps",
    "make_train_step",
    "read_metadata",
    "save_checkpoint",
    "train",
    "with_defaults",
]
