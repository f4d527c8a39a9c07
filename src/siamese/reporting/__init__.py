"""Figures and the self-contained HTML report of a run (and of a sweep of runs)."""

from siamese.reporting.build_report import build_report
from siamese.reporting.run_folder import RunFolder

__all__ = ["RunFolder", "build_report"]
