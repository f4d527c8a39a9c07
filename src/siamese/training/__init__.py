"""Training: the Trainer, its callbacks, configs, a run's splits and the training job
(``train_run``); ``siamese.pipeline`` evaluates and reports on what it trains."""

from siamese.training.config import RunConfig, load_config
from siamese.training.early_stopping import EarlyStopping
from siamese.training.run import TrainedRun, build_model, train_run
from siamese.training.splits import load_splits
from siamese.training.trainer import Trainer

__all__ = [
    "EarlyStopping",
    "RunConfig",
    "TrainedRun",
    "Trainer",
    "build_model",
    "load_config",
    "load_splits",
    "train_run",
]
