"""What the ``tam`` command prints: one console (stderr), a progress bar per stage, the stages' warnings."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=True, soft_wrap=True)


@contextlib.contextmanager
def stage(description: str) -> Iterator:
    """A rich progress bar for one stage; yields a ``progress(done, total)`` callback."""
    with stages(description) as (update,):
        yield update


@contextlib.contextmanager
def stages(*descriptions: str) -> Iterator:
    """One rich progress bar per stage of a call that runs several (one live display); yields their callbacks."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False, disable=not console.is_terminal) as bar:

        def callback(task):
            def update(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            return update

        yield tuple(callback(bar.add_task(d, total=None)) for d in descriptions)


def warn(warnings: list[str]) -> None:
    """Print a stage's warnings (the page shows the same lines)."""
    for warning in warnings:
        console.print(f"[yellow]warning: {warning}[/]")


CLICK_FIX = "add a click on a wrong frame with --point X,Y@N or --neg X,Y@N"


def flagged_summary(flagged: dict[int, str], frames: int, root: Path, fix: str = CLICK_FIX) -> str:
    """What the checks say about the masks, and how to act on it (``fix``: what the command that made them
    offers): never that they are right (tam cannot know)."""
    look = f"tam export {root} --format overlay -o check.mp4"
    if not flagged:
        return f"checked the masks: no frame flagged, but the checks miss some mistakes; watch them ({look}) and {fix}"
    first = sorted(flagged)
    reasons: dict[str, int] = {}
    for why in flagged.values():
        reasons[why] = reasons.get(why, 0) + 1
    common = max(reasons, key=reasons.get)
    return (f"[yellow]{len(flagged)} of {frames} frames flagged for review (frames {frame_ranges(first)}; most often: "
            f"{common}): watch them ({look}) and {fix}; the checks also flag some good frames[/]")


def frame_ranges(frames: list[int], most: int = 6) -> str:
    """``3–7, 12, 20–31 and 4 more ranges``: sorted frames as ranges, the first ``most`` of them."""
    runs: list[list[int]] = []
    for f in frames:
        if runs and f == runs[-1][1] + 1:
            runs[-1][1] = f
        else:
            runs.append([f, f])
    text = ", ".join(f"{a}–{b}" if b > a else str(a) for a, b in runs[:most])
    return text + (f" and {len(runs) - most} more ranges" if len(runs) > most else "")


__all__ = ["console", "flagged_summary", "frame_ranges", "stage", "stages", "warn"]
