"""Progress bars and end-of-stage summary tables for the CLI (rich); info lines in Airflow task logs.

On a terminal a rich bar is drawn; elsewhere (Airflow tasks, CI, pipes) progress is logged every ~10% as an
INFO record of the ``quarry.progress`` logger, so task logs show progress as information, not as errors.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

T = TypeVar("T")

log = logging.getLogger("quarry.progress")

console = Console(stderr=True)


def _enabled() -> bool:
    return os.environ.get("QUARRY_PROGRESS", "1") != "0" and sys.stderr.isatty()


@contextmanager
def progress_bar(total: int, description: str) -> Iterator[Any]:
    """Yield a callable ``advance(n=1)``; draws a bar on a terminal, logs every ~10% elsewhere."""
    if _enabled():
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as progress:
            task = progress.add_task(description, total=total)
            yield lambda n=1: progress.advance(task, n)
        return
    state = {"done": 0, "next": max(1, total // 10)}

    def advance(n: int = 1) -> None:
        state["done"] += n
        if state["done"] >= state["next"] or state["done"] == total:
            log.info("%s: %d/%d", description, state["done"], total)
            state["next"] = state["done"] + max(1, total // 10)

    yield advance


def track(items: Iterable[T], total: int, description: str) -> Iterator[T]:
    with progress_bar(total, description) as advance:
        for item in items:
            yield item
            advance()


def print_summary(title: str, rows: Mapping[str, Any]) -> None:
    """A two-column table of figures, printed at the end of each stage."""
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in rows.items():
        table.add_row(
            str(key),
            f"{value:,.3f}"
            if isinstance(value, float)
            else f"{value:,}"
            if isinstance(value, int)
            else str(value),
        )
    Console().print(table)
