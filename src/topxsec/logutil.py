"""Logging set-up for the workflow scripts and command-line entry points."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from types import TracebackType

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(log_file: str | Path | None = None,
                  level: int = logging.INFO) -> None:
    """Send the package's log records to ``log_file`` (and stderr).

    Snakemake keeps a rule's ``log:`` file after a failure, so the messages of
    a failed job, including its traceback, end up where the user looks.

    Args:
        log_file: The rule's log file; ``None`` logs to stderr only.
        level: The root level.
    """
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="w"))
    logging.basicConfig(level=level, format=FORMAT, handlers=handlers, force=True)
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught


def _log_uncaught(kind: type[BaseException], error: BaseException,
                  traceback: TracebackType | None) -> None:
    """Put an exception that ends the job into the log file, traceback included."""
    logging.getLogger("topxsec").critical(
        "job failed: %s", error, exc_info=(kind, error, traceback)
    )
