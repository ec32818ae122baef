"""What the ``tam`` command prints: one console (stderr), a progress bar per stage, the stages' warnings."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=True, soft_wrap=True)


@contextlib.contextmanager
def stage(description: str) -> Iterator:
    """A rich progress bar for one stage; yields a ``progress(done, total)`` callback."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False, disable=not console.is_terminal) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def warn(warnings: list[str]) -> None:
    """Print a stage's warnings (the page shows the same lines)."""
    for warning in warnings:
        console.print(f"[yellow]warning: {warning}[/]")


__all__ = ["console", "stage", "warn"]
