"""Removal shot by shot: a fill never takes its sources from another shot.

The fills (classical temporal sources, E2FGVI-HQ's reference frames) copy pixels from other frames of the clip.
Across a cut those frames show another scene, so the clip is handed to the inpainter one shot at a time, each
shot as a clip of its own (:class:`ShotView`), with the frames' indices mapped back when they are written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from editor.shots import Shot

Sink = Callable[[int, np.ndarray], None]
Progress = Callable[[int, int], None]


class ShotView(Sequence[np.ndarray]):
    """Frames ``shot.start .. shot.end - 1`` of a lazily read sequence, indexed from 0."""

    def __init__(self, items: Sequence[np.ndarray], shot: Shot) -> None:
        self.items = items
        self.shot = shot

    def __len__(self) -> int:
        return len(self.shot)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(f"frame {i} is outside a shot of {len(self)} frames")
        return self.items[self.shot.start + (i % len(self))]


def fill_by_shot(
    inpainter: Any,
    frames: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    sink: Sink,
    shots: Sequence[Shot],
    *,
    skip: frozenset[int] = frozenset(),
    progress: Progress | None = None,
) -> None:
    """Run ``inpainter`` (the ``(frames, masks, sink, skip=, progress=)`` protocol of ``inpaint``) on each shot
    that has a frame outside ``skip``; ``progress`` counts frames over the whole clip."""
    total = len(frames)
    done_before = 0
    for shot in shots:
        local_skip = frozenset(t - shot.start for t in skip if t in shot)
        if len(local_skip) < len(shot):
            offset = shot.start

            def shot_sink(i: int, frame: np.ndarray, offset: int = offset) -> None:
                sink(offset + i, frame)

            def shot_progress(done: int, _total: int, before: int = done_before) -> None:
                if progress is not None:
                    progress(before + done, total)

            inpainter(ShotView(frames, shot), ShotView(masks, shot), shot_sink, skip=local_skip,
                      progress=shot_progress)
        done_before += len(shot)
        if progress is not None:
            progress(done_before, total)
