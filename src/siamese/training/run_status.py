"""A run folder's ``status.json``: running, failed (with the error) or finished.

``prepare_run_dir`` marks the folder ``running`` (``start``) once the config is valid and the
data is read; ``@tracked`` on the training entry point then marks it ``failed`` (with the error)
when anything after that raises, and ``finished`` when the run is complete. A run killed outright
stays ``running``. Re-running into such a folder says what to do (``--resume`` / ``--overwrite``)
instead of silently mixing two runs. Only the call that started a folder marks it: a run that
fails before its folder is prepared leaves an earlier run's status alone.
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from siamese._io import atomic_write_json

STATUS = "status.json"

_attempt: ContextVar[str | None] = ContextVar("siamese_run_attempt", default=None)


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


def start(run_dir: Path) -> None:
    """Mark ``run_dir`` as ``running``, owned by the current ``@tracked`` call (if any)."""
    write_status(run_dir, "running", attempt=_attempt.get())


def tracked(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate ``fn(cfg, ...)``: the run folder ``cfg.run_dir`` that this call started is marked
    ``failed`` (error kept, then re-raised) if ``fn`` raises, ``finished`` when it returns."""

    @functools.wraps(fn)
    def wrapper(cfg: Any, *args: Any, **kwargs: Any) -> Any:
        attempt = uuid.uuid4().hex
        token = _attempt.set(attempt)
        try:
            result = fn(cfg, *args, **kwargs)
        except BaseException as exc:
            if _owned(cfg.run_dir, attempt):
                lines = str(exc).splitlines()
                error = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
                write_status(cfg.run_dir, "failed", attempt=attempt, error=error)
            raise
        finally:
            _attempt.reset(token)
        if _owned(cfg.run_dir, attempt):
            write_status(cfg.run_dir, "finished", attempt=attempt)
        return result

    return wrapper


def _owned(run_dir: Path, attempt: str) -> bool:
    record = read_status(run_dir)
    return record is not None and record.get("attempt") == attempt


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
