"""How ``tam batch`` shows a batch: progress bars over clips and frames, the final table, the run itself."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from editor.batch import BatchSettings, ClipResult, run_in_process, write_report
from editor.batch_ray import INSTALL_HINT, RayOptions, describe, ray_available, run_on_ray
from editor.errors import InputError
from editor.manifest import read_manifest


class RichBatchProgress:
    """Two bars: clips finished (done, skipped or failed) and frames processed (every stage's pass counts)."""

    def __init__(self, bar: Progress, clips: int) -> None:
        self.bar = bar
        self.clips = bar.add_task("clips", total=clips)
        self.frames = bar.add_task("frames", total=None)
        self.known = 0

    def frames_known(self, frames: int) -> None:
        self.known += frames
        self.bar.update(self.frames, total=self.known)

    def frames_done(self, frames: int) -> None:
        self.bar.advance(self.frames, frames)

    def clip_done(self, result: ClipResult) -> None:
        self.bar.advance(self.clips, 1)
        if result.status == "failed":
            self.bar.console.print(f"[red]{escape(result.name)} (line {result.line}) failed:[/] {escape(result.error)}")


def results_table(results: list[ClipResult]) -> Table:
    table = Table(title="tam batch")
    for col, justify in (("line", "right"), ("clip", "left"), ("status", "left"), ("seconds", "right"),
                         ("frames/s", "right"), ("output / error", "left")):
        table.add_column(col, justify=justify)
    colours = {"done": "green", "skipped": "cyan", "failed": "red", "invalid": "red"}
    for r in results:
        table.add_row(str(r.line), escape(r.name), f"[{colours[r.status]}]{r.status}[/]", f"{r.seconds:.1f}",
                      f"{r.fps:.1f}" if r.fps else "-", escape(r.error or r.output))
    return table


def run_batch(
    console: Console,
    manifest_path: Path,
    out_dir: Path,
    *,
    address: str | None,
    workers: int | None,
    cpus_per_clip: float,
    gpus_per_clip: float,
    span: int,
    in_process: bool,
) -> list[ClipResult]:
    """Check the manifest (every bad line shown first), run the rest, print the table, write ``report.json``."""
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out_dir} is a file; give a folder")
    if span < 1:
        raise InputError(f"--span-frames must be at least 1, got {span}")
    manifest = read_manifest(manifest_path, out_dir)
    for problem in manifest.problems:
        console.print(f"[red]{escape(manifest_path.name)} {escape(str(problem))}[/]")
    if manifest.problems:
        console.print(f"[yellow]{len(manifest.problems)} of {manifest.lines} lines are invalid; "
                      f"running the other {len(manifest.clips)}[/]")
    # nothing valid to run: no Ray to start (a local cluster takes seconds) and nothing to say about it
    idle = not manifest.clips
    use_ray = not in_process and not idle and ray_available()
    if not use_ray and address and not idle:
        raise InputError(f"--address needs Ray, which is not installed here: {INSTALL_HINT}")
    if not use_ray and not in_process and not idle:
        console.print(f"[yellow]Ray is not installed: the clips run one after another in this process; "
                      f"{escape(INSTALL_HINT)}[/]")
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = BatchSettings(out_dir.resolve(), span=span)
    options = RayOptions(address, workers, cpus_per_clip, gpus_per_clip)
    runner = describe(options) if use_ray else ("nothing to run" if idle else "in-process")
    console.print(escape(f"{len(manifest.clips)} clips with {runner}; projects in {settings.out_dir / 'projects'}"))
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn())
    start = time.perf_counter()
    with Progress(*columns, console=console, disable=not console.is_terminal) as bar:
        progress = RichBatchProgress(bar, len(manifest.clips))
        if use_ray:
            results = run_on_ray(manifest, settings, options, progress)
        else:
            results = run_in_process(manifest, settings, progress)
    seconds = time.perf_counter() - start
    Console(width=max(console.width, 140)).print(results_table(results))
    report = write_report(results, settings.out_dir / "report.json", runner=runner, seconds=seconds)
    done = [r for r in results if r.status == "done"]
    console.print(f"{len(done)} done, {sum(r.status == 'skipped' for r in results)} already done, "
                  f"{sum(r.status in ('failed', 'invalid') for r in results)} failed in {seconds:.1f} s; "
                  f"report: {escape(str(report))}")
    return results


__all__ = ["RichBatchProgress", "results_table", "run_batch"]
