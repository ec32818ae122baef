"""Thin parts of a hole: the spatial fill and the temporal sources averaged by the error each is expected to make.

Across a thin hole (a caption's stroke, a leg, a cable) the spatial fill interpolates over a few pixels and is
often as close as a source copied from another frame, whose alignment is never exact (water, smoke, anything
not rigid). Neither is reliably better, and their errors are largely independent, so where a part of the hole
is thin both are averaged with weights that fall with the square of their expected error:
- a temporal source's: its ring misalignment (``inpaint.ring_check``), as the classical fill already rates it;
- the spatial fill's at depth ``d``: how far the frame's own pixels next to the hole stray from the mean of their
  neighbours ``d`` px away on either side (the error of interpolating across a gap of ``2 d``), measured on the
  ring of known pixels of the same frame.
Deep inside a wide hole that proxy says nothing (the fill there depends on the whole border), so only pixels
whose part of the hole is at most ``2 * width`` px across are blended; the rest keep the temporal sources alone.
Measured on the removal benchmark's thin captions (docs/benchmarks.md, "Removal quality, eighth round").
"""

from __future__ import annotations

import cv2
import numpy as np

from inpaint.sources import Region

_RING_SAMPLES = 4000  # ring pixels the interpolation error is averaged over (evenly spaced)


def interpolation_error(frame: np.ndarray, ys: np.ndarray, xs: np.ndarray, half: int) -> float:
    """Mean absolute difference (grey levels, mean over RGB) between the pixels ``(ys, xs)`` and the mean of
    their neighbours ``half`` px away on either side, horizontally and vertically."""
    h, w = frame.shape[:2]
    here = frame[ys, xs].astype(np.float32)
    errors = []
    for dy, dx in ((0, half), (half, 0)):
        a = frame[np.clip(ys - dy, 0, h - 1), np.clip(xs - dx, 0, w - 1)].astype(np.float32)
        b = frame[np.clip(ys + dy, 0, h - 1), np.clip(xs + dx, 0, w - 1)].astype(np.float32)
        errors.append(np.abs(here - 0.5 * (a + b)).mean(axis=1))
    return float(np.mean(np.concatenate(errors)))


def spatial_weights(frame: np.ndarray, unknown: np.ndarray, region: Region,
                    width: int) -> tuple[np.ndarray, np.ndarray]:
    """(bool N: the region's unknown pixels in a thin part of the hole; float32 N: the weight of the spatial
    fill there, 1 / expected error squared, 0 elsewhere). ``unknown``: bool H x W, the frame's unknown pixels."""
    n = len(region.ys)
    thin = np.zeros(n, bool)
    weights = np.zeros(n, np.float32)
    if width <= 0 or n == 0:
        return thin, weights
    ys, xs = region.ys, region.xs
    y0, x0 = int(ys.min()), int(xs.min())
    box = unknown[y0:int(ys.max()) + 1, x0:int(xs.max()) + 1].astype(np.uint8)
    depth = cv2.distanceTransform(box, cv2.DIST_L2, 5)
    # a part's half-width: the deepest pixel within ``width`` px (a wide hole's border is not thin)
    part = cv2.dilate(depth, np.ones((2 * width + 1, 2 * width + 1), np.uint8))
    ly, lx = ys - y0, xs - x0
    thin = region.unknown & (part[ly, lx] <= width + 0.5)
    ring = np.nonzero(~region.unknown)[0]
    if not thin.any() or len(ring) == 0:
        return np.zeros(n, bool), weights
    ring = ring[np.linspace(0, len(ring) - 1, min(len(ring), _RING_SAMPLES)).astype(np.int64)]
    table = np.array([interpolation_error(frame, ys[ring], xs[ring], half) for half in range(1, width + 2)])
    half = np.clip(np.ceil(depth[ly[thin], lx[thin]]).astype(np.int64), 1, width + 1)
    weights[thin] = 1.0 / np.maximum(table[half - 1], 0.5) ** 2
    return thin, weights
