"""Shot boundaries: where an edited video cuts from one shot to the next.

Nothing may be propagated across a cut, so the project needs its shots before tracking. PySceneDetect would be
the library for this, but its current release (0.7.x) requires ``opencv-python``, which cannot sit beside
``opencv-python-headless``; the detector here follows its *adaptive content* idea on OpenCV alone:

- every frame is reduced to a small HSV image; the *content change* between two frames is the mean absolute
  difference of hue, saturation and value (0-255 scale), as PySceneDetect's ``ContentDetector`` scores it;
- a hard cut is a change that stands out against its neighbours and is large in itself (``min_content``): at least
  ``adaptive_ratio`` times the mean change of the ``window`` frames on the calmer side (before or after it) and
  ``side_ratio`` times the busier side's. Fast motion changes every frame a lot, so no single frame stands out
  and no cut is reported; judging the two sides apart still finds a cut out of fast motion into a calm shot,
  which one mean over both sides (PySceneDetect's) lifts past the cut's own change
  (``python -m benchmarks.cut_joins``: 1 of 1404 joins of the shared clips missed, 25 with one mean);
- a fade through black (or white) is a run of near-uniform frames; the shot boundary is the run's middle frame.
  A dissolve (one shot blended into the next, no uniform frame between) is not detected: spread over ten or more
  frames its change per frame is no larger than a camera pan's, and the user can split there by hand.

Shots are returned as ``Shot(start, end)`` half-open ranges covering every frame.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import cv2
import numpy as np

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ShotConfig:
    """Detector settings. Defaults follow PySceneDetect's AdaptiveDetector (ratio 3, minimum content 15,
    window 2) and ThresholdDetector (a frame darker than 12 of 255 on average is black)."""

    width: int = 96  # frames are scored at this width (aspect kept)
    adaptive_ratio: float = 3.0
    min_content: float = 15.0
    window: int = 2
    side_ratio: float = 1.5  # a cut also exceeds the busier side's mean change by this much (see _stands_out)
    min_shot_frames: int = 8  # no two boundaries closer than this
    uniform_std: float = 6.0  # a frame whose value channel varies less than this is "uniform" (a fade's middle)
    fade_margin: int = 6  # content changes this close to a fade are the fade's own steps, not cuts


@dataclass(frozen=True)
class Shot:
    """Frames ``start`` (included) to ``end`` (excluded) of one shot, and how it begins ("start", "cut", "fade")."""

    start: int
    end: int
    begins_with: str = "start"

    def __contains__(self, frame: object) -> bool:
        return isinstance(frame, int) and self.start <= frame < self.end

    def __len__(self) -> int:
        return self.end - self.start


def _small_hsv(frame: np.ndarray, width: int) -> np.ndarray:
    h, w = frame.shape[:2]
    size = (width, max(1, round(h * width / w)))
    small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_RGB2HSV_FULL).astype(np.float32)


def content_changes(frames: Iterable[np.ndarray], config: ShotConfig = ShotConfig(),
                    progress: Progress | None = None, total: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: the content change from the previous frame (0 for the first) and the value channel's spread.
    One pass over RGB uint8 frames, a small image each: memory does not grow with the clip."""
    changes, spread = [], []
    prev = None
    for i, frame in enumerate(frames):
        hsv = _small_hsv(frame, config.width)
        if prev is None:
            changes.append(0.0)
        else:
            diff = np.abs(hsv - prev)
            diff[..., 0] = np.minimum(diff[..., 0], 256.0 - diff[..., 0])  # hue is circular
            changes.append(float(diff.mean()))
        spread.append(float(hsv[..., 2].std()))
        prev = hsv
        if progress is not None:
            progress(i + 1, total)
    return np.asarray(changes), np.asarray(spread)


def _stands_out(values: np.ndarray, t: int, config: ShotConfig) -> bool:
    """Whether the change at ``t`` is a cut: large in itself, ``adaptive_ratio`` times the calmer side's mean
    change (the ``window`` frames before it, or after it) and ``side_ratio`` times the busier side's. Judging
    the sides apart finds a cut out of (or into) fast motion, whose busy side would lift a shared mean; the
    busier side's test keeps the start of fast motion from counting as a cut."""
    if values[t] < config.min_content:
        return False
    before = [values[j] for j in range(max(1, t - config.window), t)]
    after = [values[j] for j in range(t + 1, min(len(values), t + config.window + 1))]
    means = [float(np.mean(side)) for side in (before, after) if side]
    if not means:
        return False
    calm, busy = min(means), max(means)
    return values[t] >= config.adaptive_ratio * max(calm, 1e-3) and values[t] >= config.side_ratio * max(busy, 1e-3)


def boundaries(changes: np.ndarray, spread: np.ndarray, config: ShotConfig = ShotConfig()) -> dict[int, str]:
    """Frame index -> how a new shot begins there ("cut" or "fade"), from :func:`content_changes`."""
    n = len(changes)
    found: dict[int, str] = {}
    for t in range(1, n):
        if _stands_out(changes, t, config):
            found[t] = "cut"
    # fades: runs of uniform frames between two non-uniform shots that differ from each other
    uniform = spread < config.uniform_std
    t = 0
    while t < n:
        if not uniform[t]:
            t += 1
            continue
        start = t
        while t < n and uniform[t]:
            t += 1
        if start > 0 and t < n:
            middle = (start + t) // 2
            for cut in [c for c in found if start - config.fade_margin <= c <= t + config.fade_margin]:
                del found[cut]  # the fade's own steps are not cuts
            found[middle] = "fade"
    # keep boundaries at least min_shot_frames apart (the stronger change wins)
    kept: dict[int, str] = {}
    for t in sorted(found, key=lambda c: -changes[c]):
        if all(abs(t - k) >= config.min_shot_frames for k in kept) and config.min_shot_frames <= t:
            kept[t] = found[t]
    return dict(sorted(kept.items()))


def detect_shots(frames: Iterable[np.ndarray], num_frames: int, config: ShotConfig = ShotConfig(),
                 progress: Progress | None = None) -> list[Shot]:
    """The shots of a clip of ``num_frames`` RGB frames, in order, covering every frame."""
    changes, spread = content_changes(frames, config, progress, num_frames)
    if len(changes) != num_frames:
        raise ValueError(f"expected {num_frames} frames, read {len(changes)}")
    return shots_from_changes(changes, spread, config)


def shots_from_changes(changes: np.ndarray, spread: np.ndarray, config: ShotConfig = ShotConfig()) -> list[Shot]:
    """The shots of a clip whose :func:`content_changes` were measured already (e.g. while it was decoded)."""
    num_frames = len(changes)
    found = boundaries(changes, spread, config)
    starts = [0, *found]
    ends = [*found, num_frames]
    kinds = ["start", *found.values()]
    return [Shot(s, e, k) for s, e, k in zip(starts, ends, kinds, strict=True) if e > s]


def shots_to_json(shots: list[Shot]) -> list[dict]:
    return [{"start": s.start, "end": s.end, "begins_with": s.begins_with} for s in shots]


def shots_from_json(data: list[dict]) -> list[Shot]:
    return [Shot(int(d["start"]), int(d["end"]), str(d.get("begins_with", "cut"))) for d in data]
