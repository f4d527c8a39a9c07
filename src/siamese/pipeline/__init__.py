"""The flows that combine the layers below: train -> evaluate -> report, a run folder evaluated
again, sweeps and the demo. Training, evaluation and reporting know nothing of each other's
flows; this layer calls them in order."""

from siamese.pipeline.evaluate_run import evaluate_run
from siamese.pipeline.run import RunResult, train_from_config, write_report

__all__ = ["RunResult", "evaluate_run", "train_from_config", "write_report"]
