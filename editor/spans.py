"""Removal in spans of frames: each span is an independent unit of work (one process, one Ray task).

Once the masks exist, a span's fill is a function of the clip's frames and masks and of the span's bounds only:
the inpainter is handed the whole clip (read lazily, frame by frame) and fills only the span's masked frames
(every other frame is in its ``skip``). So spans can be filled in any order, on any worker, and joined:

- with E2FGVI-HQ a frame is filled by the windows of the whole clip that hold it (``needed_windows``), so any
  split gives exactly the frames of the whole-clip run;
- the classical fill carries what it learnt from one frame (homographies) into the next, so there the span
  bounds are part of the result: the stage records them, and one process filling the same spans one after
  another writes the same frames as many workers do.

A span whose frames are not all written (its worker died) is filled again from its first frame, never resumed
midway, so a retried span writes what an uninterrupted one would have. Only the caller that plans and finishes
(:func:`plan_fill`, :func:`finish_fill`) writes the project's ``meta.json``; span workers write frame files only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from editor.errors import InputError, TamError
from editor.hashing import hash_inputs, source_digest
from editor.pipeline import BackendError, InpaintReport, Progress, _MaskView, masks_digest
from editor.shot_fill import fill_by_shot
from editor.store import Project

DEFAULT_SPAN = 60  # frames per span: several E2FGVI windows, a few seconds of classical fill per worker


@dataclass(frozen=True)
class FillPlan:
    """What the removal stage of one project still has to do, split into spans ``[start, stop)``."""

    backend: str  # "classical" | "e2fgvi_hq": the fill that runs (``auto`` resolved)
    object_ids: tuple[int, ...] | None
    spans: tuple[tuple[int, int], ...]
    todo: tuple[tuple[int, int], ...]  # spans with a frame not written yet
    settings: dict[str, Any]
    digest: str


def split(length: int, span: int) -> list[tuple[int, int]]:
    """``[0, length)`` cut into consecutive spans of ``span`` frames (the last one shorter)."""
    if span < 1:
        raise InputError(f"a span needs at least one frame, got {span}")
    return [(s, min(length, s + span)) for s in range(0, length, span)]


def resolve_backend(backend: str) -> str:
    """The fill ``backend`` names (``auto`` | ``classical`` | ``neural``), without loading a model."""
    import weights
    from inpaint.backends import BACKENDS

    if backend not in BACKENDS:
        raise BackendError(f"unknown removal backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend in ("auto", "neural") and weights.locate("e2fgvi_hq") is not None:
        return "e2fgvi_hq"
    if backend == "neural":
        raise BackendError("no checkpoint for e2fgvi_hq: run `tam weights download e2fgvi_hq` (or use classical)")
    return "classical"


def plan_fill(
    project: Project, object_ids: Sequence[int] | None = None, *, backend: str = "auto", span: int = DEFAULT_SPAN
) -> FillPlan:
    """Plan the removal of ``object_ids`` (all objects: None) in spans; earlier fills from other inputs are dropped."""
    if not any(i in project.masks for i in range(project.num_frames)):
        raise InputError("there are no masks to remove: track an object first (tam track / tam remove --point)")
    ids = None if object_ids is None else tuple(sorted(int(o) for o in object_ids))
    name = resolve_backend(backend)
    settings = {"backend": name, "object_ids": None if ids is None else list(ids), "code": source_digest("inpaint"),
                "span": span, "frames": project.frame_format.to_json(), "cuts": project.cuts}
    digest = hash_inputs("inpaint", settings, masks_digest(project))
    spans = tuple(split(project.num_frames, span))
    if project.stage_hash("inpaint-started") != digest and not project.stage_is_current("inpaint", digest):
        project.inpainted.clear()  # other masks, settings or spans: earlier fills are stale
        project.set_stage("inpaint-started", settings, digest)
    written = set(project.inpainted.written())
    todo = tuple((s, e) for s, e in spans if not written.issuperset(range(s, e)))
    return FillPlan(name, ids, spans, todo, settings, digest)


def make_fill(plan: FillPlan, device: str | None = None):
    """The inpainter a plan names (E2FGVI-HQ loads its checkpoint here)."""
    from inpaint.backends import BackendUnavailable, make_inpainter

    try:
        return make_inpainter("neural" if plan.backend == "e2fgvi_hq" else "classical", device=device)
    except (BackendUnavailable, ValueError) as exc:
        raise BackendError(str(exc)) from exc


def fill_span(
    project: Project,
    plan: FillPlan,
    start: int,
    stop: int,
    *,
    inpainter: Any = None,
    progress: Progress | None = None,
) -> int:
    """Fill frames ``[start, stop)`` of ``plan`` (all of them, from the span's start); returns frames written."""
    if (start, stop) not in plan.spans:
        raise InputError(f"[{start}, {stop}) is not one of the plan's spans")
    inpainter = inpainter if inpainter is not None else make_fill(plan)
    n = project.num_frames
    outside = frozenset(range(start)) | frozenset(range(stop, n))
    written = 0

    def sink(i: int, frame) -> None:
        nonlocal written
        if start <= i < stop:
            project.inpainted[i] = frame
            written += 1
            if progress is not None:
                progress(written, stop - start)

    fill_by_shot(inpainter, project.frames, _MaskView(project, plan.object_ids), sink, project.shots, skip=outside)
    if written != stop - start:
        raise TamError(f"the {plan.backend} fill wrote {written} of the {stop - start} frames {start}..{stop - 1}")
    return written


def finish_fill(project: Project, plan: FillPlan) -> None:
    """Check every frame is filled, then record the stage as current (a rerun skips it)."""
    missing = [i for i in range(project.num_frames) if i not in project.inpainted]
    if missing:
        raise TamError(f"the {plan.backend} fill left {len(missing)} frames unwritten (first: {missing[0]})")
    project.set_stage("inpaint", plan.settings, plan.digest)


def inpaint_in_spans(
    project: Project,
    object_ids: Sequence[int] | None = None,
    *,
    backend: str = "auto",
    span: int = DEFAULT_SPAN,
    device: str | None = None,
    progress: Progress | None = None,
) -> InpaintReport:
    """The single-process removal in spans: the frames a batch of workers writes for the same spans."""
    plan = plan_fill(project, object_ids, backend=backend, span=span)
    if not plan.todo:
        return InpaintReport(plan.backend, "cpu" if plan.backend == "classical" else str(device or "auto"), 0, True)
    inpainter = make_fill(plan, device)
    total, done = sum(e - s for s, e in plan.todo), 0
    for start, stop in plan.todo:
        tick = None if progress is None else (lambda d, _t, base=done: progress(base + d, total))
        done += fill_span(project, plan, start, stop, inpainter=inpainter, progress=tick)
    finish_fill(project, plan)
    return InpaintReport(inpainter.backend, str(inpainter.device), done, skipped=False)


__all__ = ["DEFAULT_SPAN", "FillPlan", "fill_span", "finish_fill", "inpaint_in_spans", "plan_fill", "split"]
