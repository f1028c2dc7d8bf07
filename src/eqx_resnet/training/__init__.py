"""Training: the config, the step, the optimiser, the engine, evaluation, checkpoints and run metadata."""

from .checkpoint import load_checkpoint, load_into, read_metadata, save_checkpoint
from .config import ConfigError, TrainConfig, with_defaults
from .distributed import initialize_distributed
from .engine import TrainResult, make_run_steps, train
from .errors import CheckpointError, Interrupted, TrainingError
from .evaluate import make_evaluator
from .metadata import RunMetadata
from .sharding import data_mesh, replicate, shard_batch, shard_train_step
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
    "data_mesh",
    "eval_step",
    "initialize_distributed",
    "load_checkpoint",
    "load_into",
    "make_evaluator",
    "make_run_steps",
    "make_train_step",
    "read_metadata",
    "replicate",
    "save_checkpoint",
    "shard_batch",
    "shard_train_step",
    "train",
    "with_defaults",
]
