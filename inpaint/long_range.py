"""Long-range temporal sources: what a slow pan reveals farther in time than the window searched around a frame.

The other sources look at most ``span`` frames away. Under a static overlay (a logo, a grid) on a slow pan, the
background a hole pixel hides is often shown only 30-100 frames earlier or later. Holding every frame of a long
clip is not an option, so every ``stride``-th frame within ``reach`` of the frames being filled is kept as a
keyframe (its pixels and its unknown mask: at most ``2 * reach / stride`` frames, whatever the clip length).
A frame's homography to a keyframe is the product of the consecutive-frame steps between them (the steps are
3 x 3 matrices, kept for the reach). The hole pixels no nearer source covers take the median colour of up to
three keyframes, nearest in time first, that show their point outside the keyframe's own unknown pixels. A
composed homography drifts with the distance, so a keyframe is used only where the ring of known pixels around
the hole lands on the same colours in it (the gate), and the candidate is checked on the ring afterwards like
every other source (``inpaint.ring_check``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from inpaint import homography_source as hs
from inpaint.sources import Region


@dataclass(frozen=True)
class LongRangeConfig:
    reach: int = 120  # farthest frame (each side) a long-range source may come from; 0: off
    stride: int = 5  # every stride-th frame is a keyframe
    # a keyframe is used for a frame only where the ring lands on the same colours in it: its ring residual at
    # most this many times the residual of the nearest frame (what any alignment leaves on this ring: texture,
    # noise, compression), which is at least ``floor`` grey levels
    gate_ratio: float = 4.0
    floor: float = 1.0


class Keyframes:
    """Every ``stride``-th frame's pixels and unknown mask, for a bounded range of indices."""

    def __init__(self, config: LongRangeConfig) -> None:
        self.config = config
        self._kept: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def offer(self, k: int, frame: Callable[[int], np.ndarray], unknown: Callable[[int], np.ndarray]) -> None:
        """Keep frame ``k`` if it is a keyframe (read through ``frame`` and ``unknown`` only then)."""
        if k % self.config.stride == 0 and k not in self._kept:
            self._kept[k] = (frame(k), unknown(k))

    def evict_before(self, k: int) -> None:
        for key in [key for key in self._kept if key < k]:
            del self._kept[key]

    def frame(self, k: int) -> np.ndarray:
        return self._kept[k][0]

    def unknown(self, k: int) -> np.ndarray:
        return self._kept[k][1]

    def around(self, i: int, near: int) -> list[int]:
        """The keyframes farther than ``near`` from frame ``i`` and within the reach, nearest first."""
        reach = self.config.reach
        return sorted((k for k in self._kept if near < abs(k - i) <= reach), key=lambda k: (abs(k - i), k))

    def __len__(self) -> int:
        return len(self._kept)


def homographies(i: int, keys: list[int], step: Callable[[int], np.ndarray | None]) -> dict[int, np.ndarray]:
    """Frame ``i``'s homography into each of ``keys``, composed outwards from ``i`` one step at a time (so each
    step is multiplied in once for all the keyframes on its side); a keyframe past a step that could not be
    fitted is left out."""
    out: dict[int, np.ndarray] = {}
    for side in (-1, +1):
        wanted = sorted((k for k in keys if (k - i) * side > 0), key=lambda k: abs(k - i))
        if not wanted:
            continue
        product = np.eye(3)
        at = i
        for k in wanted:
            while at != k:
                s = step(at) if side > 0 else step(at - 1)
                if s is None:
                    break
                product = (s if side > 0 else np.linalg.inv(s)) @ product
                at += side
            if at != k:
                break
            out[k] = product / product[2, 2]
    return out


def long_range_colours(
    i: int,
    region: Region,
    lacking: np.ndarray,
    keyframes: Keyframes,
    near: int,
    step: Callable[[int], np.ndarray | None],
    frame: Callable[[int], np.ndarray],
    unknown: Callable[[int], np.ndarray],
    n: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(colours ``N x 3`` float32, has-colour bool) per region pixel of frame ``i``: for the hole pixels in
    ``lacking`` (bool per region pixel: no nearer source) and the ring (to check them), from keyframes farther
    than ``near`` frames. ``frame``, ``unknown``: frame ``i``'s and its neighbours' (of ``n`` frames)."""
    colours = np.zeros((len(region.ys), 3), np.float32)
    ok = np.zeros(len(region.ys), bool)
    keys = keyframes.around(i, near)
    if not keys or not lacking.any():
        return colours, ok
    homs = homographies(i, keys, step)
    keys = [k for k in keys if k in homs]
    pick = np.nonzero(lacking | ~region.unknown)[0]
    sub = Region(region.ys[pick], region.xs[pick], region.unknown[pick], region.dense)

    def frame_of(k: int) -> np.ndarray:
        return frame(i) if k == i else keyframes.frame(k)

    cfg = keyframes.config
    gate = cfg.gate_ratio * max(cfg.floor, _nearest_residual(i, region, step, frame, unknown, n))
    if not np.isfinite(gate):  # nothing tells an aligned keyframe from a drifted one
        return colours, ok
    got, has = hs.homography_colours(i, sub, 0, lambda _i, k: homs.get(k), frame_of, keyframes.unknown,
                                     order=keys, gate=gate)
    colours[pick], ok[pick] = got, has
    return colours, ok


def _nearest_residual(i: int, region: Region, step: Callable[[int], np.ndarray | None],
                      frame: Callable[[int], np.ndarray], unknown: Callable[[int], np.ndarray], n: int) -> float:
    """The ring residual (``homography_source.ring_residual``) of frame ``i`` against its nearest frames, one
    step away (the smaller of the two; inf when neither can be aligned)."""
    pts, own = hs.ring_points(region, frame(i))
    best = float("inf")
    for j in (i + 1, i - 1):
        if not 0 <= j < n:
            continue
        s = step(i) if j > i else step(j)
        if s is not None:
            best = min(best, hs.ring_residual(pts, own, s if j > i else np.linalg.inv(s), frame(j), unknown(j)))
    return best
