"""The clip at a glance: the timeline strip, the shots in words, and pages of the shot list.

What the page and ``tam info`` show of a long clip, sized for thousands of frames and shots: the strip is a fixed
number of columns (frames are binned into them, never one column per frame), the shot list is shown a page at a
time, and finding the shot of a frame is a binary search.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from fractions import Fraction

import cv2
import numpy as np

from editor.shots import Shot

STRIP_HEIGHT = 24
TRACKED, REFINED, REVIEW, KEYFRAME = (150, 150, 150), (255, 150, 0), (220, 30, 30), (40, 110, 255)
UNTRACKED = ((40, 40, 40), (62, 62, 62))  # alternate shots in two shades, so shots show before tracking
CUT = (255, 220, 60)


def shot_at(shots: Sequence[Shot], frame: int) -> int:
    """The index of the shot holding ``frame`` (shots in order, covering every frame)."""
    starts = [s.start for s in shots]
    return max(0, bisect.bisect_right(starts, frame) - 1)


def clock(seconds: float) -> str:
    """``m:ss.ss`` (``h:mm:ss.ss`` from an hour)."""
    minutes, secs = divmod(max(0.0, seconds), 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{secs:05.2f}" if hours else f"{minutes}:{secs:05.2f}"


def shot_label(index: int, shot: Shot, fps: Fraction) -> str:
    """``Shot 2 · frames 25–49 · 0:01.00–0:02.00 · cut`` (the frame range inclusive, times of first and end)."""
    start, end = float(shot.start / fps), float(shot.end / fps)
    return (f"Shot {index + 1} · frames {shot.start}–{shot.end - 1} · {clock(start)}–{clock(end)} · "
            f"{shot.begins_with}")


def shots_summary(shots: Sequence[Shot]) -> str:
    """``12 shots (10 cuts, 1 fade)``."""
    kinds = [s.begins_with for s in shots[1:]]
    parts = [f"{kinds.count(k)} {k}{'s' if kinds.count(k) != 1 else ''}" for k in ("cut", "fade") if k in kinds]
    return f"{len(shots)} shot{'s' if len(shots) != 1 else ''}" + (f" ({', '.join(parts)})" if parts else "")


def shot_lines(shots: Sequence[Shot], fps: Fraction, head: int = 8, tail: int = 3) -> list[str]:
    """One line per shot, or the first ``head`` and last ``tail`` with a line saying how many are left out."""
    index = list(range(len(shots)))
    if len(shots) > head + tail + 1:
        index = [*range(head), -1, *range(len(shots) - tail, len(shots))]
    return [f"  … {len(shots) - head - tail} more shots …" if i < 0 else "  " + shot_label(i, shots[i], fps)
            for i in index]


def page_of(index: int, per_page: int) -> int:
    return index // per_page


def page_count(num_shots: int, per_page: int) -> int:
    return max(1, -(-num_shots // per_page))


def page_range(page: int, num_shots: int, per_page: int) -> range:
    """The shot indices on ``page`` (0-based) of a list ``per_page`` long."""
    start = min(max(0, page), page_count(num_shots, per_page) - 1) * per_page
    return range(start, min(num_shots, start + per_page))


def page_label(page: int, count: int, per_page: int, noun: str = "shots") -> str:
    """``shots 9–16`` (1-based, as the list shows them)."""
    shown = page_range(page, count, per_page)
    return f"{noun} {shown.start + 1}–{shown.stop}"


def _columns(frames: Iterable[int], num_frames: int, bins: int) -> np.ndarray:
    index = np.fromiter((f for f in frames if 0 <= f < num_frames), dtype=np.int64)
    return np.unique(index * bins // num_frames)


def strip(
    num_frames: int,
    written: Iterable[int],
    keyframes: Iterable[int],
    refined: Iterable[int],
    flagged: Iterable[int],
    current: int,
    cuts: Sequence[int] = (),
    width: int = 960,
) -> np.ndarray:
    """The timeline, ``width`` pixels whatever the clip's length: one column per frame for a short clip, else
    the frames binned into ``width`` columns. Tracked (grey), refined (orange), to review (red), keyframe (blue),
    in that order of precedence; untracked frames dark, in two shades alternating shot by shot; a yellow line
    at each cut; the current frame framed in white.
    """
    n = max(1, num_frames)
    bins = min(n, width)
    row = np.zeros((bins, 3), np.uint8)
    bounds = [0, *cuts, n]
    for k in range(len(bounds) - 1):
        row[bounds[k] * bins // n: max(bounds[k + 1] * bins // n, bounds[k] * bins // n + 1)] = UNTRACKED[k % 2]
    for colour, frames in ((TRACKED, written), (REFINED, refined), (REVIEW, flagged), (KEYFRAME, keyframes)):
        row[_columns(frames, n, bins)] = colour
    image = cv2.resize(row[None], (width, STRIP_HEIGHT), interpolation=cv2.INTER_NEAREST)
    for cut in cuts:
        x = cut * width // n
        image[:, max(0, x - 1): x + 1] = CUT
    x0 = current * width // n
    x1 = max((current + 1) * width // n, x0 + 3)
    cv2.rectangle(image, (x0, 0), (min(x1, width) - 1, STRIP_HEIGHT - 1), (255, 255, 255), 2)
    return image


__all__ = ["clock", "page_count", "page_label", "page_of", "page_range", "shot_at", "shot_label", "shot_lines",
           "shots_summary", "strip"]
