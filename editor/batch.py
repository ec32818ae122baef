"""Many clips from a manifest: the stages of one clip, the in-process runner, the report.

A clip runs as three stages, each a plain function of picklable arguments, so the same code runs in this
process (:func:`run_in_process`) or as Ray tasks on a cluster (``editor.batch_ray``):

1. :func:`prepare`: open the project (decode once), select the objects (clicks tracked through the clip, or a
   masks folder imported/propagated), plan the removal spans;
2. :func:`fill`: inpaint one span of frames (``editor.spans``); spans of one clip run on any workers;
3. :func:`finish`: join the spans (check, record the stage), render the video or export the masks.

Every stage writes into the clip's project folder (``OUT/projects/NAME``), so the folder must be on storage
every worker reads and writes (a shared filesystem, or object storage mounted on the workers). A stage killed
midway is rerun from its start (tracking starts a new session, a span is filled again from its first frame):
the retry writes what an uninterrupted run writes. A finished clip records its inputs (the line, the project's
stage hashes, the output's size and time, the code), so running the same manifest again skips it.
"""

from __future__ import annotations

import json
import logging
import os
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from editor.errors import TamError
from editor.files import atomic_write_json
from editor.hashing import hash_inputs, source_digest
from editor.manifest import ClipSpec, LineProblem, Manifest
from editor.spans import DEFAULT_SPAN, FillPlan
from editor.store import Project

log = logging.getLogger("tam")

FrameProgress = Callable[[int], None]  # frames newly done


@dataclass(frozen=True)
class BatchSettings:
    """How every clip of a batch runs."""

    out_dir: Path
    span: int = DEFAULT_SPAN  # frames per removal task
    threads: int | None = None  # torch/OpenCV threads per stage (None: the library defaults)

    def project_dir(self, spec: ClipSpec) -> Path:
        return self.out_dir / "projects" / spec.name


@dataclass(frozen=True)
class Prepared:
    """What :func:`prepare` hands on: the clip's size and the removal spans still to fill."""

    frames: int
    plan: FillPlan | None
    skipped: bool  # the clip was already finished with these inputs
    seconds: float
    backends: str  # which backends selected the objects ("" when nothing was tracked)


@dataclass
class ClipResult:
    """One row of the report."""

    line: int
    name: str
    status: str  # done | skipped (already done) | failed | invalid (bad manifest line)
    seconds: float = 0.0  # time spent in the clip's stages (the sum over its tasks)
    frames: int = 0
    output: str = ""
    error: str = ""
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 and self.status == "done" else 0.0


class BatchProgress(Protocol):
    """What a runner tells its caller as it goes (the CLI draws it as progress bars)."""

    def frames_known(self, frames: int) -> None: ...  # more frames of work are known (a clip was opened)
    def frames_done(self, frames: int) -> None: ...
    def clip_done(self, result: ClipResult) -> None: ...


class NoProgress:
    def frames_known(self, frames: int) -> None:
        pass

    def frames_done(self, frames: int) -> None:
        pass

    def clip_done(self, result: ClipResult) -> None:
        pass


# ----------------------------------------------------------------------------------------------- stages


def _start_stage(threads: int | None) -> None:
    """The same start for every stage, wherever it runs: thread counts, and OpenCV's random state (GrabCut draws
    from it), reset to its fresh-process value so a stage's result does not depend on what ran before it."""
    import cv2

    cv2.setRNGSeed(0)  # state 0xffffffff: a new thread's
    if threads:
        import torch

        cv2.setNumThreads(threads)
        torch.set_num_threads(threads)


def _open(spec: ClipSpec, settings: BatchSettings) -> Project:
    from editor.pipeline import open_project

    return open_project(spec.input, settings.project_dir(spec), working_short_side=spec.working_size)


def _output_print(path: Path) -> list[Any]:
    """Size and modification time of an output file (or of every file in an output folder)."""
    if path.is_file():
        stat = path.stat()
        return [stat.st_size, stat.st_mtime_ns]
    if path.is_dir():
        return [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in sorted(path.iterdir()) if p.is_file()]
    return ["missing"]


def _done_digest(project: Project, spec: ClipSpec, settings: BatchSettings) -> str:
    line = {k: v for k, v in spec.describe().items() if k != "name"}
    stages = [project.stage_hash(s) for s in ("batch-select", "inpaint")]
    code = [source_digest(p) for p in ("editor", "tracking", "inpaint")]
    span = settings.span if spec.needs_fill else None
    return hash_inputs("batch-done", line, span, stages, code, _output_print(spec.output))


def _selection_digest(spec: ClipSpec) -> str:
    what = [spec.frame, spec.points, spec.negatives, spec.box, str(spec.masks), spec.backend, spec.refine]
    masks = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in spec.masks.iterdir()) if spec.masks else []
    return hash_inputs("batch-select", what, masks, source_digest("tracking"))


def _select(project: Project, spec: ClipSpec, progress: FrameProgress) -> str:
    """Masks for the clip's objects, from a fresh start; returns the backends that made them."""
    from editor.masks_io import import_masks, match_stems, read_mask_folder
    from editor.pipeline import ObjectPrompt, open_session, track

    digest = _selection_digest(spec)
    if project.stage_is_current("batch-select", digest) and len(project.masks.written()) == project.num_frames:
        return ""
    project.clear_stage("batch-select")
    done = [0]

    def tick(d: int, total: int) -> None:  # propagator steps, scaled to frames
        now = d * project.num_frames // max(1, total)
        progress(now - done[0])
        done[0] = now

    if spec.masks is not None:
        stems, _ = read_mask_folder(spec.masks)
        if len(set(match_stems(stems, project.stems))) == project.num_frames:
            import_masks(project, spec.masks, as_keyframes=False)
            used = "imported masks"
        else:  # sparse masks (e.g. the first frame's): keyframes propagated through the clip
            session = open_session(project, spec.backend, spec.refine)
            session.reset_state()
            project.masks.clear()
            import_masks(project, spec.masks, as_keyframes=True, session=session)
            for _ in session.propagate(progress=tick):
                pass
            used = f"keyframes + {session.segmenter.backend}"
    else:
        project.clear_stage("prompts")  # a new session: one resumed midway may differ from an uninterrupted run
        prompt = ObjectPrompt(frame=spec.frame, points=spec.points, negatives=spec.negatives, box=spec.box)
        report = track(project, [prompt], backend=spec.backend, refine=spec.refine, progress=tick)
        used = f"{report.segmenter} + {report.propagator}"
    progress(project.num_frames - done[0])
    project.set_stage("batch-select", {"line": spec.line, "backends": used}, digest)
    return used


def prepare(spec: ClipSpec, settings: BatchSettings, progress: FrameProgress | None = None) -> Prepared:
    """Stage 1: decode, select the objects, plan the removal spans (or find the clip already finished)."""
    from editor.spans import plan_fill

    start = time.perf_counter()
    _start_stage(settings.threads)
    progress = progress or (lambda n: None)
    project = _open(spec, settings)
    if project.stage_hash("batch-done") == _done_digest(project, spec, settings) and spec.output.exists():
        return Prepared(project.num_frames, None, True, time.perf_counter() - start, "")
    project.clear_stage("batch-done")
    used = _select(project, spec, progress)
    removal = "auto" if spec.backend == "sam2" else spec.backend  # sam2 names the tracker; removal as auto
    plan = plan_fill(project, backend=removal, span=settings.span) if spec.needs_fill else None
    return Prepared(project.num_frames, plan, False, time.perf_counter() - start, used)


def fill(
    spec: ClipSpec, settings: BatchSettings, plan: FillPlan, span: tuple[int, int],
    progress: FrameProgress | None = None,
) -> float:
    """Stage 2: inpaint the frames ``[start, stop)`` of one clip; returns the seconds it took."""
    from editor.spans import fill_span

    start = time.perf_counter()
    _start_stage(settings.threads)
    project = Project.open(settings.project_dir(spec))
    done = [0]

    def tick(d: int, _total: int) -> None:
        if progress is not None:
            progress(d - done[0])
        done[0] = d

    fill_span(project, plan, *span, progress=tick)
    return time.perf_counter() - start


def edit_spec(spec: ClipSpec):
    """The compositing a ``remove``/``edit`` line asks for (``editor.compose``)."""
    from editor import compose

    opts = spec.options
    if spec.op == "remove" or spec.effect == "remove":
        return compose.RemoveEdit()
    if spec.effect in ("blur", "pixelate"):
        return compose.BlurEdit(mode=spec.effect, **({"strength": opts["strength"]} if "strength" in opts else {}))
    if spec.effect == "splash":
        return compose.SplashEdit()
    if spec.effect == "background":
        return compose.BackgroundEdit(background=opts["background"])
    return compose.ReplaceEdit(source=opts["replace"], fit=opts.get("fit", "contain"))


def finish(
    spec: ClipSpec, settings: BatchSettings, plan: FillPlan | None, progress: FrameProgress | None = None
) -> float:
    """Stage 3: join the spans, write the output (video or masks), record the clip as done; returns seconds."""
    from editor import export
    from editor.pipeline import render
    from editor.spans import finish_fill

    start = time.perf_counter()
    _start_stage(settings.threads)
    project = Project.open(settings.project_dir(spec))
    if plan is not None:
        finish_fill(project, plan)
    done = [0]

    def tick(d: int, _total: int) -> None:
        if progress is not None:
            progress(d - done[0])
        done[0] = d

    out = spec.output
    out.parent.mkdir(parents=True, exist_ok=True)
    if spec.op != "track":
        render(project, out, edit_spec(spec), progress=tick)
    elif spec.format == "davis":
        export.export_davis(project, out, progress=tick)
    elif spec.format == "coco":
        export.export_coco(project, out, progress=tick)
    elif spec.format == "alpha":
        export.export_alpha(project, out, progress=tick)
    elif spec.format == "rgba":
        export.export_rgba(project, out, progress=tick)
    else:
        export.export_overlay(project, out, progress=tick)
    if progress is not None:
        progress(project.num_frames - done[0])
    project.set_stage("batch-done", {"line": spec.line, "output": str(out)}, _done_digest(project, spec, settings))
    return time.perf_counter() - start


def stages_of(spec: ClipSpec) -> int:
    """How many passes over the clip's frames it takes (select, fill, output): the frame bar's unit."""
    return 3 if spec.needs_fill else 2


def error_text(exc: BaseException) -> str:
    """One line for the report: a tam error as it is, anything else with its type."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text if isinstance(exc, TamError) else f"{type(exc).__name__}: {text}".rstrip(": ")


# ----------------------------------------------------------------------------------------------- runner


def invalid_results(problems: Iterable[LineProblem]) -> list[ClipResult]:
    return [ClipResult(p.line, f"line {p.line}", "invalid", error=p.message) for p in problems]


def run_in_process(
    manifest: Manifest, settings: BatchSettings, progress: BatchProgress | None = None
) -> list[ClipResult]:
    """Every clip one after another in this process (no Ray); a failing clip does not stop the others."""
    progress = progress or NoProgress()
    results = invalid_results(manifest.problems)
    for spec in manifest.clips:
        result = ClipResult(spec.line, spec.name, "done", output=str(spec.output))
        counted = 0

        def advance(n: int) -> None:
            nonlocal counted
            counted += n
            progress.frames_done(n)

        try:
            prep = prepare(spec, settings, advance)
            progress.frames_known(prep.frames * stages_of(spec))
            result.frames = prep.frames
            result.stage_seconds["prepare"] = prep.seconds
            if prep.skipped:
                result.status = "skipped"
                advance(prep.frames * stages_of(spec) - counted)
            else:
                if prep.plan is not None:
                    advance(prep.frames - sum(e - s for s, e in prep.plan.todo))  # spans filled earlier
                    for span in prep.plan.todo:
                        seconds = fill(spec, settings, prep.plan, span, advance)
                        result.stage_seconds["fill"] = result.stage_seconds.get("fill", 0.0) + seconds
                result.stage_seconds["finish"] = finish(spec, settings, prep.plan, advance)
        except Exception as exc:  # one clip's failure is reported, the batch goes on
            if os.environ.get("TAM_DEBUG"):
                traceback.print_exc()
            result.status, result.error = "failed", error_text(exc)
        result.seconds = sum(result.stage_seconds.values())
        results.append(result)
        progress.clip_done(result)
    return sorted(results, key=lambda r: r.line)


# ----------------------------------------------------------------------------------------------- report


def write_report(results: list[ClipResult], path: Path, *, runner: str, seconds: float) -> Path:
    """The batch's JSON report (atomic): one entry per manifest line, and the totals."""
    done = [r for r in results if r.status == "done"]
    frames = sum(r.frames for r in done)
    report = {
        "runner": runner,
        "seconds": round(seconds, 3),
        "clips": len(results),
        "counts": {s: sum(r.status == s for r in results) for s in ("done", "skipped", "failed", "invalid")},
        "frames": frames,
        "clips_per_minute": round(len(done) * 60 / seconds, 3) if seconds > 0 else 0.0,
        "frames_per_second": round(frames / seconds, 3) if seconds > 0 else 0.0,
        "results": [{**asdict(r), "fps": round(r.fps, 3)} for r in results],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, json.loads(json.dumps(report)))
    return path


__all__ = [
    "BatchProgress",
    "BatchSettings",
    "ClipResult",
    "Prepared",
    "finish",
    "fill",
    "invalid_results",
    "prepare",
    "run_in_process",
    "write_report",
]
