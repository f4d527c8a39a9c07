"""A run folder's ``status.json``: running, failed (with the error) or finished.

The status is written when the folder is prepared (``running``), when anything after that raises
(``failed``, with the error and the time) and when the run is complete (``finished``). A run
killed outright stays ``running``. Re-running into such a folder says what to do
(``--resume`` / ``--overwrite``) instead of silently mixing two runs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from siamese._io import atomic_write_json

STATUS = "status.json"


def write_status(run_dir: Path, status: str, **extra: Any) -> None:
    """Write ``run_dir/status.json`` atomically: ``{"status": ..., "time": ..., **extra}``."""
    record = {"status": status, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **extra}
    atomic_write_json(run_dir / STATUS, record)


def read_status(run_dir: Path) -> dict[str, Any] | None:
    """The folder's status record, or ``None`` (no or unreadable ``status.json``)."""
    try:
        record = json.loads((run_dir / STATUS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


@contextmanager
def marked_run(run_dir: Path, *, enabled: bool = True) -> Iterator[None]:
    """``running`` on entry, ``failed`` (error kept, then re-raised) if the body raises,
    ``finished`` when it returns. ``enabled=False`` (a torchrun rank other than 0) writes nothing."""
    if not enabled:
        yield
        return
    write_status(run_dir, "running")
    try:
        yield
    except BaseException as exc:
        message = str(exc).splitlines()[0] if str(exc) else ""
        write_status(run_dir, "failed", error=f"{type(exc).__name__}: {message}".rstrip(": "))
        raise
    write_status(run_dir, "finished")


def unfinished_message(run_dir: Path, record: dict[str, Any], can_resume: bool) -> str:
    """What to do about a run folder whose last run did not finish."""
    if record.get("status") == "failed":
        what = f"a run that failed ({record.get('error', 'no error recorded')})"
    else:
        what = "a run that did not finish (killed, or still running)"
    resume = "--resume to continue it from its last checkpoint, " if can_resume else ""
    return (
        f"run folder {run_dir} holds {what}; pass {resume}--overwrite to start it again, "
        "or --set name=<new name>"
    )
