"""The E2FGVI sliding-window schedule: local neighbours with a stride plus sparse reference frames.

``official_windows`` reproduces the official ``test.py`` exactly (``num_ref=-1`` takes every ``ref_step``-th
frame of the whole clip as a reference, so its cost grows with the clip). ``bounded_windows`` takes the
references only from ``±ref_span`` frames around the window, so each window reads a bounded number of
frames whatever the clip length. ``Blender`` averages overlapping predictions as test.py does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Window:
    """One model call: ``neighbor_ids`` (the local frames it predicts, consecutive) then ``ref_ids``."""

    center: int
    neighbor_ids: tuple[int, ...]
    ref_ids: tuple[int, ...]

    @property
    def ids(self) -> tuple[int, ...]:
        """Frame indices in the order they are fed to the model."""
        return self.neighbor_ids + self.ref_ids

    @property
    def num_local(self) -> int:
        return len(self.neighbor_ids)


def _check(length: int, neighbor_stride: int, ref_step: int) -> None:
    if length < 1:
        raise ValueError(f"a clip needs at least one frame, got length={length}")
    if neighbor_stride < 1 or ref_step < 1:
        raise ValueError(f"neighbor_stride and ref_step must be >= 1, got {neighbor_stride} and {ref_step}")


def _neighbors(f: int, length: int, stride: int) -> tuple[int, ...]:
    return tuple(range(max(0, f - stride), min(length, f + stride + 1)))


def official_ref_index(
    f: int, neighbor_ids: Iterable[int], length: int, ref_step: int = 10, num_ref: int = -1
) -> list[int]:
    """test.py's ``get_ref_index``, quirks included (``num_ref >= 0`` may return ``num_ref + 1`` frames)."""
    neighbors = set(neighbor_ids)
    refs: list[int] = []
    if num_ref == -1:
        return [i for i in range(0, length, ref_step) if i not in neighbors]
    start = max(0, f - ref_step * (num_ref // 2))
    end = min(length, f + ref_step * (num_ref // 2))
    for i in range(start, end + 1, ref_step):
        if i not in neighbors:
            if len(refs) > num_ref:
                break
            refs.append(i)
    return refs


def official_windows(length: int, neighbor_stride: int = 5, ref_step: int = 10, num_ref: int = -1) -> list[Window]:
    """The windows of the official test.py loop: centres 0, s, 2s, ..., neighbours ``[f-s, f+s]``."""
    _check(length, neighbor_stride, ref_step)
    windows = []
    for f in range(0, length, neighbor_stride):
        nb = _neighbors(f, length, neighbor_stride)
        windows.append(Window(f, nb, tuple(official_ref_index(f, nb, length, ref_step, num_ref))))
    return windows


def bounded_windows(
    length: int, neighbor_stride: int = 5, ref_step: int = 10, ref_span: int = 50, max_refs: int | None = None
) -> list[Window]:
    """Like test.py, but references are every ``ref_step``-th frame within ``±ref_span`` of the window centre.

    At most ``max_refs`` references are kept (the closest to the centre); the default bound is
    ``2 * ref_span // ref_step + 1``. Per-window cost does not depend on the clip length.
    """
    _check(length, neighbor_stride, ref_step)
    if ref_span < 0:
        raise ValueError(f"ref_span must be >= 0, got {ref_span}")
    windows = []
    for f in range(0, length, neighbor_stride):
        nb = _neighbors(f, length, neighbor_stride)
        lo, hi = max(0, f - ref_span), min(length - 1, f + ref_span)
        refs = [i for i in range(-(-lo // ref_step) * ref_step, hi + 1, ref_step) if i not in nb]
        if max_refs is not None and len(refs) > max_refs:
            refs = sorted(sorted(refs, key=lambda i: (abs(i - f), i))[:max_refs])
        windows.append(Window(f, nb, tuple(refs)))
    return windows


def needed_windows(windows: list[Window], wanted: set[int]) -> list[Window]:
    """The windows whose local frames include a frame in ``wanted`` (masked and not yet written).

    Every window touching a wanted frame is kept, so the blended result of those frames is unchanged.
    """
    return [w for w in windows if any(i in wanted for i in w.neighbor_ids)]


def average_predictions(images: Iterable[np.ndarray]) -> np.ndarray:
    """test.py's sequential average of the composites of one frame, in window order.

    The first is kept, each later one gives ``comp = comp * 0.5 + img * 0.5`` in float32 (a frame covered
    three times weighs 1/4, 1/4, 1/2); the result is truncated to uint8 as test.py writes it.
    """
    comp: np.ndarray | None = None
    for img in images:
        comp = img if comp is None else comp.astype(np.float32) * 0.5 + img.astype(np.float32) * 0.5
    if comp is None:
        raise ValueError("average_predictions needs at least one image")
    return comp.astype(np.uint8)
