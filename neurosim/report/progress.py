"""A progress display for long steps: a rich spinner and step name on a terminal, silent otherwise (pipes, CI);
``NEUROSIM_PROGRESS=lines`` prints plain step lines on stderr instead, terminal or not (logs, and tests that wait
for a run to be under way before they interrupt it)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator


def interactive() -> bool:
    """True on a terminal outside CI: the only place a progress display helps and cannot garble logs."""
    if os.environ.get("CI") or os.environ.get("NEUROSIM_NO_PROGRESS"):
        return False
    return sys.stderr.isatty()


def lines() -> bool:
    """True when ``NEUROSIM_PROGRESS=lines``: one plain line per step on stderr, flushed, wherever stderr goes."""
    return os.environ.get("NEUROSIM_PROGRESS") == "lines"


def line(title: str, msg: str) -> None:
    """One progress line on stderr (``title: msg``), flushed at once so a reader sees it while the run goes on."""
    print(f"{title}: {msg}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def steps(title: str, total: int | None = None, quiet: bool = False) -> Iterator[Callable[[str], None]]:
    """Yield ``step(message)``: each call marks the previous step done and shows the new one (nothing is shown
    with ``quiet``: a command's ``--quiet``)."""
    if quiet:
        yield lambda _msg: None
        return
    if lines():
        yield lambda msg: line(title, msg)
        return
    if not interactive():
        yield lambda _msg: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = [SpinnerColumn(), TextColumn(f"[bold]{title}[/bold]"), BarColumn(), TextColumn("{task.description}"),
               TimeElapsedColumn()]
    if total:
        columns.insert(3, MofNCompleteColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("starting", total=total)
        started = False

        def step(msg: str) -> None:
            nonlocal started
            if started:
                progress.advance(task)
            started = True
            progress.update(task, description=msg)

        yield step
