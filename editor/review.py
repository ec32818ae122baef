"""What the page shows a person reviewing a tracked clip: the flagged frames, in words, and how to reach them.

The flags themselves are ``tracking.flags`` (pure rules over masks, keyframes and the tracker's signals); this
module computes them for a project once tracking has finished and keeps them in ``review.json`` beside the
session, so scrubbing the page never recomputes them. A flag is only as fresh as the masks it was computed
from: a correction and the re-track that follows it write the file again, and undoing that correction puts the
list back as it was (the session's undo history keeps the file with the masks). A flag outlives a correction
while the mask it was raised on is unchanged (``tracking.flag_carryover``; the flagged masks' prints are kept
in ``review-prints.json``): a small correction on one frame does not clear the frames it did not change.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from editor.files import atomic_write_json
from tracking.flag_carryover import MaskPrint, Prints, carry_over, prints_of
from tracking.flags import Flags, next_flagged, review_flags

REVIEW_FILE = "review.json"
PRINTS_FILE = "review-prints.json"  # the masks the flags were raised on (a flag stays while its mask does)
__all__ = ["compute", "current", "describe", "load", "load_prints", "next_flagged", "save", "still_flagged", "summary"]


def compute(project: Any, session: Any, progress: Callable[[int, int], None] | None = None) -> Flags:
    """Flags of every object of ``session`` over ``project``'s masks (frames read for the colour check), with
    the flags saved before whose masks have not changed since (``tracking.flag_carryover``).

    The masks are read from disk as the rules ask for them, never all held at once: a long clip's masks
    would not fit in memory."""
    keyframes = {
        o.id: sorted({p.frame for p in session.state.prompts if p.obj_id == o.id}) for o in session.objects
    }
    masks = _MasksRead(project.masks, progress)
    fresh = review_flags(masks, keyframes, session.signal_log.signals, project.frames, cuts=session.state.cuts)
    return carry_over(fresh, load(project.state_dir), load_prints(project.state_dir), project.masks, keyframes)


class _MasksRead(Sequence):
    """A project's masks as a sequence read lazily (None where none is written), reporting progress as the
    first pass over them advances."""

    def __init__(self, store: Any, progress: Callable[[int, int], None] | None) -> None:
        self.store, self.progress, self.seen = store, progress, 0

    def __len__(self) -> int:
        return len(self.store)

    def __getitem__(self, t):  # type: ignore[override]
        mask = self.store[t]
        if self.progress is not None and t + 1 > self.seen:
            self.seen = t + 1
            self.progress(self.seen, len(self.store))
        return mask


def save(state_dir: Path, flags: Flags, masks: Sequence | None = None) -> None:
    """Write the flags atomically to ``state_dir/review.json``, and the prints of their masks (``masks``: the
    label maps they were computed from) to ``review-prints.json``; without ``masks`` no print is kept, so
    these flags will not outlive the next check."""
    data = {str(f): {str(o): list(r) for o, r in objs.items()} for f, objs in flags.items()}
    state_dir.mkdir(parents=True, exist_ok=True)
    if masks is None:
        (state_dir / PRINTS_FILE).unlink(missing_ok=True)
    else:
        prints = prints_of(flags, masks)
        atomic_write_json(state_dir / PRINTS_FILE,
                          {str(f): {str(o): p.to_json() for o, p in objs.items()} for f, objs in prints.items()})
    atomic_write_json(state_dir / REVIEW_FILE, data)


def load(state_dir: Path) -> Flags:
    """The saved flags (empty when none were computed yet, or the file is unreadable)."""
    path = state_dir / REVIEW_FILE
    try:
        raw = json.loads(path.read_text())
        return {int(f): {int(o): tuple(r) for o, r in objs.items()} for f, objs in raw.items()}
    except (OSError, ValueError, AttributeError):
        return {}


def load_prints(state_dir: Path) -> Prints:
    """The prints of the saved flags' masks (empty when none were kept, or the file is unreadable)."""
    try:
        raw = json.loads((state_dir / PRINTS_FILE).read_text())
        return {int(f): {int(o): MaskPrint.from_json(p) for o, p in objs.items()} for f, objs in raw.items()}
    except (OSError, ValueError, AttributeError, KeyError, TypeError, IndexError):
        return {}


def current(flags: Flags, keyframes: list[int], written: set[int], objects: set[int] | None = None) -> Flags:
    """The flags that still apply: frames written since and not made keyframes (a correction) since, of objects
    that still exist (``objects``; a deleted object, or every object after "Clear all", has no flags left)."""
    keys = set(keyframes)
    out = {}
    for f, objs in flags.items():
        if f in written and f not in keys:
            kept = {o: r for o, r in objs.items() if objects is None or o in objects}
            if kept:
                out[f] = kept
    return out


def still_flagged(state_dir: Path, session: Any, written: Sequence[int]) -> Flags:
    """The saved flags that still apply to ``session``'s masks (``written``: the frames holding one)."""
    saved = load(state_dir)
    return current(saved, session.keyframes, set(written), {o.id for o in session.objects}) if saved else {}


def describe(frame_flags: Mapping[int, tuple[str, ...]], names: Mapping[int, str]) -> list[str]:
    """One line per object of a flagged frame: ``person: the mask is empty, ...; ...``."""
    return [f"{names.get(o, f'object {o}')}: " + "; ".join(reasons) for o, reasons in sorted(frame_flags.items())]


def summary(flags: Flags, names: Mapping[int, str]) -> list[str]:
    """One line per flagged frame, for the review list."""
    return [f"Frame {f} — " + " · ".join(describe(objs, names)) for f, objs in sorted(flags.items())]


def track_and_review(
    session: Any,
    project_dir: Path,
    preview_path: Path,
    progress: Callable[[int, int], None] | None = None,
    message: Callable[[str], None] = lambda text: None,
) -> dict[str, Any]:
    """The page's track job: propagate, flag the frames to review, render the clip with its masks for playback."""
    from editor import export
    from editor.store import Project

    report = session.run_propagation(progress=progress)
    project = Project.open(project_dir)
    message("Checking the masks")
    flags = compute(project, session, progress=progress)
    for name in (REVIEW_FILE, PRINTS_FILE):  # undoing the prompt brings back the list it replaced
        session.keep_for_undo(project.state_dir / name)
    save(project.state_dir, flags, project.masks)
    message("Rendering the clip with its masks")
    preview_path.parent.mkdir(parents=True, exist_ok=True)
    export.export_overlay(project, preview_path, opacity=0.5, progress=progress, crf=26)
    return {"written": len(report.written), "refined": len(report.refined)}
