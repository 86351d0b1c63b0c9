"""Output streams: results on stdout, logs and progress on stderr."""

from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler

stdout = Console()
stderr = Console(stderr=True)
logger = logging.getLogger("culturectl")


def setup_logging(verbose: bool = False) -> None:
    if logger.handlers:
        return
    handler = RichHandler(console=stderr, show_path=False, show_time=False)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False


def progress():
    """Return a rich progress bar on stderr. It renders nothing when stderr is not a terminal."""
    from rich.progress import (
        BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr,
        disable=not stderr.is_terminal,
    )
