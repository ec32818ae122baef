"""Finding a project's shots again, and what a change of its cuts means for the masks already tracked.

A project keeps the shots found when it was decoded (``meta.json``'s ``shots``); a newer detector
(``editor.shots``) may cut the clip elsewhere. :func:`redetect` runs the detector again over the project's frame
store, records the new shots and returns what changed. The tracking session keeps the cuts its masks were tracked
with (``session.json``'s ``tracked_cuts``; its ``cuts``, the session's own, are saved by any click after the shots
changed); where those differ from the project's, the masks may carry an object across a new cut (or stop at one
that is gone) until the clip is tracked again, which :func:`stale_tracking` says in words.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from editor.lock import project_lock
from editor.shots import Shot
from editor.store import Project

Progress = Callable[[int, int], object]


@dataclass(frozen=True)
class ShotChange:
    """The project's shots before and after a new detection."""

    before: tuple[Shot, ...]
    after: tuple[Shot, ...]

    @property
    def cuts_before(self) -> list[int]:
        return [s.start for s in self.before[1:]]

    @property
    def cuts_after(self) -> list[int]:
        return [s.start for s in self.after[1:]]

    @property
    def added(self) -> list[int]:
        """Frames that begin a shot now and did not before."""
        return sorted(set(self.cuts_after) - set(self.cuts_before))

    @property
    def removed(self) -> list[int]:
        """Frames that began a shot before and do not now."""
        return sorted(set(self.cuts_before) - set(self.cuts_after))

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def describe(self) -> list[str]:
        """What changed, in words: the cuts before and now, the ones added and removed."""
        lines = [f"before: {_cuts(self.cuts_before)}", f"now: {_cuts(self.cuts_after)}"]
        if not self.changed:
            return [*lines, "the shots are unchanged"]
        if self.added:
            lines.append(f"new cuts at frames {_list(self.added)}")
        if self.removed:
            lines.append(f"no cut any more at frames {_list(self.removed)}")
        if not self.added and not self.removed:
            lines.append("the same cuts; how a shot begins (cut or fade) changed")
        return lines


def redetect(project: Project, progress: Progress | None = None) -> ShotChange:
    """Find ``project``'s shots again in its frame store and record them in ``meta.json`` (atomically, under the
    project's lock); returns the shots before and after."""
    with project_lock(project.root):
        before = tuple(project.shots)
        after = tuple(project.detect_shots(progress))
    return ShotChange(before, after)


def tracked_cuts(project: Project) -> list[int] | None:
    """The cuts the project's tracking session last worked with (None when there is no tracked session)."""
    path = project.session_path
    try:
        session = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not session.get("keyframes") and not session.get("done"):
        return None  # nothing prompted or tracked: no mask depends on the cuts
    # ``cuts`` are the session's now (saved by any click after the shots changed); ``tracked_cuts`` those its masks
    # were tracked with (sessions from before they were kept have only ``cuts``)
    return [int(c) for c in session.get("tracked_cuts", session.get("cuts", []))]


def stale_tracking(project: Project) -> str | None:
    """What the user must do when the masks were tracked with other cuts than the project's (else None)."""
    tracked = tracked_cuts(project)
    if tracked is None or tracked == project.cuts:
        return None
    return (
        f"the masks were tracked with {_cuts(tracked)}, but the clip now has {_cuts(project.cuts)}: track again "
        f"(tam track with the same clicks and --project {project.root}, or Track on the page) so that no mask "
        "crosses a cut; a removal made from the old masks is redone then"
    )


def _cuts(cuts: list[int]) -> str:
    return f"{len(cuts)} cut{'s' if len(cuts) != 1 else ''} (at frames {_list(cuts)})" if cuts else "no cut (one shot)"


def _list(frames: list[int], most: int = 12) -> str:
    shown = ", ".join(map(str, frames[:most]))
    return shown + (f" and {len(frames) - most} more" if len(frames) > most else "")


__all__ = ["ShotChange", "redetect", "stale_tracking", "tracked_cuts"]
