"""Temporal sources: where, in another frame, the background behind each hole pixel was last seen.

A pass walks the frames in one direction (from the past, or from the future). For each pixel of a frame's
region (the hole, its guard and a ring of known pixels around them) it follows the completed flow one frame
back: if the point lands where that frame is known, that frame is the source; if it lands in that frame's
own region, the source is whatever that frame's pixel there had (chained). Only the source's position is
carried, never its colour, so a source many frames away is sampled once, sharply. A source farther than
``span`` frames is dropped, so a chunked run gives the same answer as a whole-clip one.
The ring pixels are chained exactly like the hole pixels, so comparing their true colours with their
sources' colours tells how well each chain is aligned (``inpaint.ring_check``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from inpaint.flow_completion import sample_points

NONE = -1


@dataclass
class Region:
    """The pixels of one frame that need (or check) a source: hole + guard (``unknown``) + a ring of known ones."""

    ys: np.ndarray  # int32 row of each region pixel
    xs: np.ndarray  # int32 column
    unknown: np.ndarray  # bool per region pixel: inside the hole + guard (else: a known ring pixel)
    dense: np.ndarray  # bool H x W: the whole region


@dataclass
class Sources:
    """Per region pixel: the source frame (``NONE`` when there is none) and the point in it."""

    frame: np.ndarray  # int32
    x: np.ndarray  # float32
    y: np.ndarray  # float32

    def dense(self, region: Region, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s = np.full(shape, NONE, np.int32)
        x = np.zeros(shape, np.float32)
        y = np.zeros(shape, np.float32)
        s[region.ys, region.xs] = self.frame
        x[region.ys, region.xs] = self.x
        y[region.ys, region.xs] = self.y
        return s, x, y


def step(
    t: int,
    region: Region,
    target: tuple[np.ndarray, np.ndarray],
    u: int,
    u_region: Region | None,
    u_sources: Sources | None,
    span: int,
) -> Sources:
    """Sources of ``region`` (frame ``t``) through neighbour ``u``: ``target`` is where each pixel lands in ``u``."""
    h, w = region.dense.shape
    qx, qy = target
    n = len(region.ys)
    frame = np.full(n, NONE, np.int32)
    x = np.zeros(n, np.float32)
    y = np.zeros(n, np.float32)
    inside = (qx >= 0) & (qx <= w - 1) & (qy >= 0) & (qy <= h - 1)
    rx = np.clip(np.rint(qx), 0, w - 1).astype(np.int32)
    ry = np.clip(np.rint(qy), 0, h - 1).astype(np.int32)
    in_region = u_region.dense[ry, rx] if u_region is not None else np.zeros(n, bool)
    seen = inside & ~in_region
    frame[seen], x[seen], y[seen] = u, qx[seen], qy[seen]
    through = inside & in_region
    if through.any() and u_sources is not None:
        s_map, x_map, y_map = u_sources.dense(u_region, (h, w))
        px, py = qx[through].astype(np.float32), qy[through].astype(np.float32)
        near = ry[through] * w + rx[through]
        s_near = s_map.ravel()[near]
        # bilinear source positions where the four neighbours share one source frame, else the nearest one
        s_lin = sample_points(s_map.astype(np.float32), px, py)
        same = np.abs(s_lin - s_near) < 1e-3
        bx, by = sample_points(x_map, px, py), sample_points(y_map, px, py)
        nx = x_map.ravel()[near] + (px - rx[through])
        ny = y_map.ravel()[near] + (py - ry[through])
        frame[through] = s_near
        x[through] = np.where(same, bx, nx)
        y[through] = np.where(same, by, ny)
    far = (frame != NONE) & (np.abs(frame - t) > span)
    frame[far] = NONE
    return Sources(frame, x, y)


def gather(sources: Sources, frames: Callable[[int], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(colours ``N x 3`` float32, has-source bool) of every region pixel, sampled bilinearly in its source."""
    n = len(sources.frame)
    colours = np.zeros((n, 3), np.float32)
    ok = sources.frame != NONE
    for s in np.unique(sources.frame[ok]):
        sel = np.nonzero(sources.frame == s)[0]
        colours[sel] = sample_points(frames(int(s)), sources.x[sel], sources.y[sel])
    return colours, ok


def run_pass(
    order: list[int],
    regions: Mapping[int, Region],
    targets: Callable[[int, int], tuple[np.ndarray, np.ndarray]],
    direction: int,
    span: int,
) -> dict[int, Sources]:
    """Sources for every frame of ``order`` (walked in that order), each through its neighbour ``t + direction``.

    ``targets(t, u)`` gives where frame ``t``'s region pixels land in frame ``u``.
    """
    out: dict[int, Sources] = {}
    for t in order:
        region = regions[t]
        if len(region.ys) == 0:
            continue
        u = t + direction
        if u not in regions:
            out[t] = Sources(np.full(len(region.ys), NONE, np.int32), np.zeros(len(region.ys), np.float32),
                             np.zeros(len(region.ys), np.float32))
            continue
        u_region = regions[u] if len(regions[u].ys) else None
        out[t] = step(t, region, targets(t, u), u, u_region, out.get(u), span)
    return out


def refine(
    sources: Sources, region: Region, grey: np.ndarray, grey_of: Callable[[int], np.ndarray], points: int = 150
) -> Sources:
    """Remove the drift a long chain gathers: per source frame, the ring pixels' chained positions are
    re-matched directly in that frame (Lucas-Kanade from the chained guess, at most ``points`` ring pixels
    spread evenly), and the median correction moves every pixel taken from it."""
    ring = (~region.unknown) & (sources.frame != NONE)
    if not ring.any():
        return sources
    x, y = sources.x.copy(), sources.y.copy()
    lk = {"winSize": (9, 9), "maxLevel": 0, "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 10, 0.03)}
    for s in np.unique(sources.frame[ring]):
        pick = np.nonzero(ring & (sources.frame == s))[0]
        pick = pick[:: max(1, -(-len(pick) // points))]
        if len(pick) < 8:
            continue
        p0 = np.stack([region.xs[pick], region.ys[pick]], 1).astype(np.float32)[:, None]
        guess = np.stack([x[pick], y[pick]], 1).astype(np.float32)[:, None]
        p1, st, _ = cv2.calcOpticalFlowPyrLK(grey, grey_of(int(s)), p0, guess.copy(),
                                             flags=cv2.OPTFLOW_USE_INITIAL_FLOW, **lk)
        good = st[:, 0] == 1
        if good.sum() < 8:
            continue
        d = (p1 - guess)[good, 0]
        shift = np.median(d, axis=0)
        if np.hypot(*shift) > 3.0:  # a correction this large is a mismatch, not drift
            continue
        sel = sources.frame == s
        x[sel] += shift[0]
        y[sel] += shift[1]
    return Sources(sources.frame, x, y)
