"""The whole job as a few calls: open a project, track objects, remove them, render the result.

The CLI, the batch runner and the web page all go through these functions, so every entry point runs
the same stages with the same resumable bookkeeping:

    project = open_project("clip.mp4")
    report = track(project, [ObjectPrompt(points=((420, 260),))])
    inpaint(project)
    render(project, "clean.mp4", RemoveEdit())
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from editor.compose import EditSpec, RemoveEdit
from editor.errors import CancelledError, InputError, TamError
from editor.frame_store import FrameFormat
from editor.hashing import hash_inputs, source_digest
from editor.lock import project_lock
from editor.shot_fill import fill_by_shot
from editor.store import PROJECT_PARTS, Project

log = logging.getLogger("tam")

Progress = Callable[[int, int], None]


class BackendError(TamError):
    """The requested backend cannot run here (no checkpoint, unknown name)."""


def data_dir() -> Path:
    """Where projects live by default: ``$TAM_DATA_DIR`` or ``~/.cache/tam/projects``."""
    env = os.environ.get("TAM_DATA_DIR")
    return Path(env) if env else Path.home() / ".cache" / "tam" / "projects"


def default_project_dir(source: str | Path) -> Path:
    """A project folder keyed by the input's absolute path, so a second command continues the same work."""
    source = Path(source).resolve()
    key = hashlib.sha1(str(source).encode()).hexdigest()[:10]
    return data_dir() / f"{source.stem or 'clip'}-{key}"


def open_project(
    source: str | Path,
    project_dir: str | Path | None = None,
    *,
    working_short_side: int = 480,
    progress: Progress | None = None,
    frame_format: FrameFormat | None = None,
) -> Project:
    """Open (or create, decoding the frames once) the project of a video file or a frame folder.

    ``frame_format`` is how a new project stores its frames (PNG by default; JPEG for long clips).

    Holds the project's lock while it decodes. A new project whose source cannot be opened (not a video,
    corrupt) is removed again rather than left as an empty folder; a cancelled decode is kept, to resume.
    """
    source = Path(source)
    if not source.exists():
        raise InputError(f"input not found: {source} (give a video file or a folder of numbered frames)")
    root = Path(project_dir) if project_dir is not None else default_project_dir(source)
    fresh = not (root / "meta.json").exists()
    with project_lock(root):
        try:
            return Project.open_or_create(root, source, working_short_side=working_short_side, progress=progress,
                                          frame_format=frame_format)
        except Exception as exc:
            if fresh and not isinstance(exc, CancelledError):
                discard_new_project(root)
            raise


def discard_new_project(root: Path) -> None:
    """Remove what creating a project at ``root`` wrote (and ``root`` itself when that leaves it empty)."""
    import shutil

    for part in (*PROJECT_PARTS, "exports"):
        path = root / part
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    try:
        root.rmdir()
    except OSError:
        pass  # the folder holds the user's other files: leave it


# ----------------------------------------------------------------------------------------------- tracking


@dataclass(frozen=True)
class ObjectPrompt:
    """Clicks and/or a box for one object on one frame, in the source's native pixels.

    ``later_clicks`` are ``(frame, x, y, positive)`` clicks on other frames: each frame they touch becomes a
    keyframe of the same object (a correction), so the propagation is anchored there too.
    """

    frame: int = 0
    points: tuple[tuple[float, float], ...] = ()
    negatives: tuple[tuple[float, float], ...] = ()
    box: tuple[float, float, float, float] | None = None
    name: str | None = None
    later_clicks: tuple[tuple[int, float, float, bool], ...] = ()

    def __post_init__(self) -> None:
        if not self.points and self.box is None:
            raise InputError("an object needs at least one positive click (--point X,Y) or a box (--box X0,Y0,X1,Y1)")
        clicks = [(self.frame, x, y, True) for x, y in self.points]
        clicks += [(self.frame, x, y, False) for x, y in self.negatives]
        clicks += [(f, x, y, bool(pos)) for f, x, y, pos in self.later_clicks]
        sides: dict[tuple[int, float, float], bool] = {}
        for f, x, y, pos in clicks:  # one pixel asked to be both object and background: say so, never pick one
            if sides.setdefault((f, x, y), pos) != pos:
                raise InputError(
                    f"the click {x:g},{y:g} on frame {f} is given both as a positive (--point) and a negative "
                    "(--neg) click: a pixel cannot be both the object and the background; drop one of them"
                )


@dataclass
class TrackReport:
    """What the tracking stage did, for logs and the page."""

    segmenter: str
    propagator: str
    device: str
    object_ids: list[int]
    frames_written: int
    refined: dict[int, str] = field(default_factory=dict)  # frame -> why SAM re-prompted it
    unsure: dict[int, str] = field(default_factory=dict)  # frame -> why its mask still looks unsure
    empty_objects: list[int] = field(default_factory=list)  # objects with no pixels in any frame
    warnings: list[str] = field(default_factory=list)  # e.g. a click whose mask covers most of the frame
    # frame -> why its mask looks wrong (the page's review rules, ``editor.review``); None when not checked
    flagged: dict[int, str] | None = None


def _to_working(project: Project, frame: int, xy: tuple[float, float]) -> tuple[float, float]:
    (nw, nh), (ww, wh) = project.native_size, project.working_size
    x, y = xy
    if not (0 <= x < nw and 0 <= y < nh):
        raise InputError(f"click ({x:g}, {y:g}) is outside frame {frame} ({nw}x{nh}); clicks are in video pixels")
    return x * ww / nw, y * wh / nh


def _check_frame(project: Project, frame: int) -> None:
    if not 0 <= frame < project.num_frames:
        raise InputError(f"frame {frame} does not exist: the clip has frames 0..{project.num_frames - 1}")


# A click whose mask covers this share of its frame selected nothing in particular (a flat clip): refused.
REFUSE_SHARE = 0.97
# A mask above this share of its frame is more likely the background than an object: the user is warned.
WARN_SHARE = 0.5


def _with_fallback(stage: str, make: Callable[[str], object], backend: str, warnings: list[str] | None):
    """``make(backend)``; with ``auto``, a checkpoint that does not load is reported (logged and added to
    ``warnings``) and ``make("classical")`` is returned instead."""
    from weights import CheckpointMismatch

    try:
        return make(backend)
    except CheckpointMismatch as exc:
        if backend != "auto":
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        text = f"{first}; the {stage} runs on the classical backend instead"
        log.warning(text)
        if warnings is not None:
            warnings.append(text)
        return make("classical")


def open_session(
    project: Project,
    backend: str = "auto",
    refine: str = "auto",
    device: str | None = None,
    warnings: list[str] | None = None,
):
    """The project's interactive tracking session with the chosen backends (see ``tracking.backends``).

    With ``auto``, a checkpoint that is present but does not load (corrupt, another network's) is reported
    (logged, and added to ``warnings``) and that stage runs classical; with ``neural`` it is an error.
    """
    from tracking.backends import BackendUnavailable, make_propagator_factory, make_segmenter
    from tracking.refine import RefineConfig, Refiner
    from tracking.session import TrackSession

    def propagators(name: str):
        factory = make_propagator_factory(name, device=device, segmenter=segmenter)
        if name == "auto" and not isinstance(factory, type):
            factory()  # reads the checkpoint now (once; later calls share the network)
        return factory

    if refine not in ("auto", "off", "always"):
        raise InputError(f"unknown refine mode {refine!r}: use auto, off or always")
    try:
        segmenter = _with_fallback("segmenter", lambda name: make_segmenter(name, device=device), backend, warnings)
        factory = _with_fallback("propagator", propagators, backend, warnings)
    except BackendUnavailable as exc:
        raise BackendError(str(exc)) from exc
    except ValueError as exc:
        raise BackendError(str(exc)) from exc
    refiner = Refiner(segmenter, RefineConfig(mode=refine))
    return TrackSession(
        project.frames, project.masks, project.state_dir, segmenter, factory, refiner=refiner, cuts=project.cuts
    )


def add_prompts(
    session, project: Project, objects: Sequence[ObjectPrompt], warnings: list[str] | None = None
) -> list[int]:
    """Add one new object per prompt to ``session``; returns the new object ids.

    A prompt whose mask covers nearly all of its frame is refused; one covering most of it adds a line to
    ``warnings``."""
    ids = []
    warnings = [] if warnings is None else warnings
    for prompt in objects:
        _check_frame(project, prompt.frame)
        obj = session.add_object(prompt.name)
        ids.append(obj)
        if prompt.box is not None:
            x0, y0 = _to_working(project, prompt.frame, prompt.box[:2])
            x1, y1 = _to_working(
                project, prompt.frame, (min(prompt.box[2], project.native_size[0] - 1e-3),
                                        min(prompt.box[3], project.native_size[1] - 1e-3))
            )
            if x1 <= x0 or y1 <= y0:
                raise InputError(f"box {prompt.box} is empty: give X0,Y0,X1,Y1 with X1 > X0 and Y1 > Y0")
            session.add_box(prompt.frame, obj, (x0, y0, x1, y1))
        for xy in prompt.points:
            session.add_click(prompt.frame, obj, *_to_working(project, prompt.frame, xy), positive=True)
        for xy in prompt.negatives:
            session.add_click(prompt.frame, obj, *_to_working(project, prompt.frame, xy), positive=False)
        _check_selected(session, prompt.frame, obj, warnings)
        for frame, x, y, positive in prompt.later_clicks:
            _check_frame(project, frame)
            session.add_click(frame, obj, *_to_working(project, frame, (x, y)), positive=positive)
        for frame in sorted({c[0] for c in prompt.later_clicks}):
            _check_selected(session, frame, obj, warnings)
    return ids


def _check_selected(session, frame: int, obj: int, warnings: list[str]) -> None:
    mask = session.frame_mask(frame)
    if mask is None or not (mask == obj).any():
        raise InputError(f"the clicks on frame {frame} selected nothing for object {obj}; click inside the object")
    share = float((mask == obj).mean())
    if share >= REFUSE_SHARE:
        raise InputError(
            f"the clicks on frame {frame} selected {share:.0%} of the frame for object {obj}: nothing there stands "
            "out from its surroundings; click on the object, add --neg clicks on the background, or give a --box"
        )
    if share >= WARN_SHARE:
        warnings.append(
            f"object {obj} covers {share:.0%} of the frame on frame {frame}: if that is the background rather "
            "than the object, add --neg clicks there or give a --box"
        )


def track(
    project: Project,
    objects: Sequence[ObjectPrompt],
    *,
    backend: str = "auto",
    refine: str = "auto",
    device: str | None = None,
    progress: Progress | None = None,
    check: Progress | bool = False,
) -> TrackReport:
    """Segment each object from its prompts and propagate the masks through the whole clip.

    Running the same prompts again on the same project continues (or skips) the earlier work; other
    prompts start a new session. ``check`` (True, or a progress callback): then flag the frames whose masks look
    wrong, as the page does (``editor.review``; one more read of the frames), kept in the project's
    ``review.json`` and returned in ``TrackReport.flagged``.
    """
    if not objects:
        raise InputError("nothing to track: give at least one --point or --box")
    with project_lock(project.root):
        return _track(project, objects, backend, refine, device, progress, check)


def _track(project: Project, objects: Sequence[ObjectPrompt], backend: str, refine: str, device: str | None,
           progress: Progress | None, check: Progress | bool = False) -> TrackReport:
    warnings: list[str] = []
    session = open_session(project, backend, refine, device, warnings)
    code = source_digest("tracking")
    frames = project.frame_format.to_json()  # the frames tracked: another frame store is other input
    wanted = hash_inputs("prompts", [repr(o) for o in objects], backend, code, frames)
    if project.stage_hash("prompts") != wanted:  # other prompts, backend or tracking code: a new session
        project.clear_stage("prompts")  # until the new prompts are in: a rejected one must not leave the old claim
        session.reset_state()
        project.masks.clear()
        add_prompts(session, project, objects, warnings)
        project.set_stage("prompts", {"objects": [repr(o) for o in objects], "backend": backend, "code": code,
                                      "frames": frames}, wanted)
    from tracking.backends import choose_propagator, default_device

    segmenter = session.segmenter.backend
    choice = choose_propagator(backend, device)  # the choice the session's factory made; nothing is loaded
    if isinstance(session.propagator_factory, type):  # a classical propagator (chosen, or the fallback)
        choice = choose_propagator("classical")
    run_device = "cpu" if choice.kind == "classical" else default_device(device)
    log.info("tracking with %s + %s on %s", segmenter, choice.backend, run_device)
    written = sum(1 for _ in session.propagate(progress=progress))
    ids = [o.id for o in session.objects]
    present = set()
    for i in range(project.num_frames):
        m = project.masks[i]
        if m is not None:
            present.update(int(v) for v in np.unique(m) if v)
    def reasons(record: dict[int, dict[int, str]]) -> dict[int, str]:
        return {f: "; ".join(f"object {o}: {r}" for o, r in sorted(objs.items())) for f, objs in record.items()}

    flagged = None
    if check:
        from editor import review

        flags = review.compute(project, session, progress=check if callable(check) else None)
        review.save(project.state_dir, flags, project.masks)
        flagged = reasons({f: {o: "; ".join(r) for o, r in objs.items()} for f, objs in flags.items()})

    return TrackReport(
        segmenter=segmenter,
        propagator=choice.backend,
        device=run_device,
        object_ids=ids,
        frames_written=written,
        refined=reasons(session.state.refined),
        unsure=reasons(session.state.low_confidence),
        empty_objects=[o for o in ids if o not in present],
        warnings=warnings,
        flagged=flagged,
    )


# ------------------------------------------------------------------------------------------------ removal


@dataclass
class InpaintReport:
    backend: str
    device: str
    frames_filled: int
    skipped: bool  # True when the stage was already current
    warnings: list[str] = field(default_factory=list)  # e.g. a checkpoint that did not load (classical ran)


class _MaskView(Sequence[np.ndarray]):
    """The union of some objects' masks per frame, read lazily from the project's mask store."""

    def __init__(self, project: Project, object_ids: Sequence[int] | None) -> None:
        self.project = project
        self.ids = None if object_ids is None else np.asarray(sorted(object_ids), dtype=np.uint8)

    def __len__(self) -> int:
        return self.project.num_frames

    def __getitem__(self, i):  # type: ignore[override]
        labels = self.project.masks[i]
        w, h = self.project.working_size
        if labels is None:
            return np.zeros((h, w), bool)
        return labels > 0 if self.ids is None else np.isin(labels, self.ids)


def masks_digest(project: Project) -> str:
    """A hash of every mask file: the removal stage's input, besides the frames."""
    h = hashlib.sha256()
    for i in range(project.num_frames):
        path = project.masks.path(i)
        h.update(path.read_bytes() if path.is_file() else b"-")
    return h.hexdigest()


def inpaint(
    project: Project,
    object_ids: Sequence[int] | None = None,
    *,
    backend: str = "auto",
    device: str | None = None,
    progress: Progress | None = None,
) -> InpaintReport:
    """Fill the masked objects in every frame (``inpainted/``); resumes a killed run, skips a current one."""
    with project_lock(project.root):
        return _inpaint(project, object_ids, backend, device, progress)


def _inpaint(project: Project, object_ids: Sequence[int] | None, backend: str, device: str | None,
             progress: Progress | None) -> InpaintReport:
    from inpaint.backends import BackendUnavailable, make_inpainter

    warnings: list[str] = []
    if not any(i in project.masks for i in range(project.num_frames)):
        raise InputError("there are no masks to remove: track an object first (tam track / tam remove --point)")
    try:
        # sam2 names the tracking model; removal then picks its model as auto does
        removal = "auto" if backend == "sam2" else backend
        inpainter = _with_fallback("removal", lambda name: make_inpainter(name, device=device), removal, warnings)
    except (BackendUnavailable, ValueError) as exc:
        raise BackendError(str(exc)) from exc
    ids = None if object_ids is None else sorted(int(o) for o in object_ids)
    settings = {"backend": inpainter.backend, "object_ids": ids, "code": source_digest("inpaint"),
                "frames": project.frame_format.to_json(), "cuts": project.cuts}
    digest = hash_inputs("inpaint", settings, masks_digest(project))
    written = set(project.inpainted.written())
    if project.stage_is_current("inpaint", digest) and len(written) == project.num_frames:
        return InpaintReport(inpainter.backend, str(inpainter.device), 0, skipped=True, warnings=warnings)
    if project.stage_hash("inpaint-started") != digest:
        project.inpainted.clear()  # other masks or settings: earlier fills are stale
        written = set()
        project.set_stage("inpaint-started", settings, digest)
    log.info("removing with %s on %s", inpainter.backend, inpainter.device)
    count = 0

    def sink(i: int, frame: np.ndarray) -> None:
        nonlocal count
        project.inpainted[i] = frame
        count += 1

    # shot by shot: no fill takes its sources from the other side of a cut
    fill_by_shot(inpainter, project.frames, _MaskView(project, ids), sink, project.shots, skip=frozenset(written),
                 progress=progress)
    missing = [i for i in range(project.num_frames) if i not in project.inpainted]
    if missing:
        raise TamError(f"the {inpainter.backend} fill left {len(missing)} frames unwritten (first: {missing[0]})")
    project.set_stage("inpaint", settings, digest)
    return InpaintReport(inpainter.backend, str(inpainter.device), count, skipped=False, warnings=warnings)


def render(
    project: Project,
    out_path: str | Path,
    edit: EditSpec | None = None,
    *,
    crf: int = 18,
    progress: Progress | None = None,
    exact_size: bool = False,
) -> Path:
    """Write the edited clip at native size with the source's audio (atomically); reads the project under its
    lock (shared: other readers may read along, no writer may change it meanwhile). ``exact_size`` keeps an
    odd size exact in H.264 4:4:4 (which browsers and phones do not play) instead of padding it by a pixel."""
    from editor import compose

    with project_lock(project.root, shared=True):
        return compose.render(project, Path(out_path), edit or RemoveEdit(), crf=crf, progress=progress,
                              exact_size=exact_size)
