"""Training: the Trainer, its callbacks, configs and the run pipeline."""

from siamese.training.config import RunConfig, load_config
from siamese.training.early_stopping import EarlyStopping
from siamese.training.run import RunResult, build_model, load_splits, train_from_config
from siamese.training.trainer import Trainer

__all__ = [
    "EarlyStopping",
    "RunConfig",
    "RunResult",
    "Trainer",
    "build_model",
    "load_config",
    "load_splits",
    "train_from_config",
]
