"""Preview one frame of an edit before the long run: the current frame, filled from a window of frames around it.

A removal of the whole clip takes minutes; a person wants to see in seconds whether the fill, the blur or the
new background looks right on the frame in front of them. :func:`preview_frame` runs the same inpainter and
the same compositing as the full render, on one frame: the inpainter sees ``radius`` frames on each side (its
temporal sources) and fills only the middle one; nothing is written to the project.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from editor import compose
from editor.errors import InputError
from editor.pipeline import BackendError

DEFAULT_RADIUS = 8  # frames on each side the fill may copy from (the classical fill's window is 5)


class _Window(Sequence[np.ndarray]):
    """Items ``lo .. hi - 1`` of a lazy sequence, indexed from 0."""

    def __init__(self, items: Sequence[np.ndarray], lo: int, hi: int, fn: Callable[[np.ndarray | None], np.ndarray]):
        self.items, self.lo, self.hi, self.fn = items, lo, hi, fn

    def __len__(self) -> int:
        return self.hi - self.lo

    def __getitem__(self, i):  # type: ignore[override]
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self.fn(self.items[self.lo + i])


class _Fills:
    """The one filled frame of a preview, shaped like a project's ``inpainted`` store."""

    def __init__(self, fills: dict[int, np.ndarray]) -> None:
        self.fills = fills

    def written(self) -> list[int]:
        return sorted(self.fills)

    def __contains__(self, i: object) -> bool:
        return i in self.fills

    def __getitem__(self, i: int) -> np.ndarray | None:
        return self.fills.get(i)


class _PreviewProject:
    """The project as compositing sees it, with the preview's fill in place of ``inpainted``."""

    def __init__(self, project: Any, fills: dict[int, np.ndarray]) -> None:
        self._project = project
        self.inpainted = _Fills(fills)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._project, name)


def _union(object_ids: Sequence[int] | None, shape: tuple[int, int]) -> Callable[[np.ndarray | None], np.ndarray]:
    ids = None if object_ids is None else np.asarray(sorted(object_ids), dtype=np.uint8)

    def mask(labels: np.ndarray | None) -> np.ndarray:
        if labels is None:
            return np.zeros(shape, bool)
        return labels > 0 if ids is None else np.isin(labels, ids)

    return mask


def preview_frame(
    project: Any,
    frame: int,
    edit: compose.EditSpec,
    backend: str = "auto",
    radius: int = DEFAULT_RADIUS,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Frame ``frame`` with ``edit`` applied, at native size, without rendering (or filling) the rest of the clip."""
    n = project.num_frames
    if not 0 <= frame < n:
        raise InputError(f"frame {frame} is not in the clip (frames 0..{n - 1})")
    if project.masks[frame] is None:
        raise InputError(f"frame {frame} has no mask yet: track the objects first")
    fills: dict[int, np.ndarray] = {}
    if isinstance(edit, compose.RemoveEdit | compose.ReplaceEdit):
        from inpaint.backends import BackendUnavailable, make_inpainter

        try:
            inpainter = make_inpainter(backend)
        except (BackendUnavailable, ValueError) as exc:
            raise BackendError(str(exc)) from exc
        lo, hi = max(0, frame - radius), min(n, frame + radius + 1)
        w, h = project.working_size
        frames = _Window(project.frames, lo, hi, lambda f: f)
        masks = _Window(project.masks, lo, hi, _union(edit.object_ids, (h, w)))

        def sink(i: int, image: np.ndarray) -> None:
            if lo + i == frame:
                fills[frame] = image

        others = frozenset(range(hi - lo)) - {frame - lo}
        inpainter(frames, masks, sink, skip=others, progress=progress)
    native = next(itertools.islice(compose.source_frames(project), frame, None))
    stack: list[compose.Media] = []
    try:
        edit_frame = compose._frame_fn(_PreviewProject(project, fills), edit, stack)  # the render's own compositing
        return edit_frame(frame, native)
    finally:
        for media in stack:
            media.close()
