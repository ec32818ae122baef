"""A temporal source is checked before it is trusted: its ring must agree with what is known around the hole.

The ring pixels around the hole were chained to their sources exactly like the hole pixels
(``inpaint.sources``). Where a ring pixel's true colour and its source's colour differ, the alignment (or the
lighting) is off there. Two maps are interpolated from the ring into the hole (``inpaint.diffuse``):
- the signed colour difference: added to the source colours, it removes the seam at the hole's border and
  any slow change of exposure (a gradient-domain blend: the fill keeps its own detail, takes the border's
  level);
- the unsigned difference left after that correction, blurred over a neighbourhood: the local misalignment.
  A source whose misalignment exceeds a threshold is not used.
Ring pixels that no candidate explains (``check_all``: even the best one differs by more than ``outlier``
grey levels after its overall offset) show something that moves on its own beside the hole (another object,
the edge of the one removed): they say nothing about which source is aligned, and would reject every
source near them and pull the seam's colour towards them, so they are left out of both maps.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from inpaint.diffuse import fill_smooth
from inpaint.flow_completion import sample_points
from inpaint.sources import Region

_LEVEL_SAMPLES = 2000  # ring pixels a candidate's overall offset is the median of


@dataclass
class Checked:
    colours: np.ndarray  # N x 3 float32, seam-corrected, per region pixel
    error: np.ndarray  # N float32: the local ring misalignment (inf where nothing was checked)


def check_all(frame: np.ndarray, region: Region, candidates: list[tuple[np.ndarray, np.ndarray]],
              outlier: float = 30.0, least_share: float = 0.3) -> list[Checked]:
    """``check`` every candidate ``(colours, ok)`` on the ring pixels that at least one of them explains (all
    of them when fewer than ``least_share`` of the ring is explained: then nothing tells them apart)."""
    ring = ~region.unknown
    ring_at = np.nonzero(ring)[0]
    known = frame[region.ys, region.xs].astype(np.float32)
    truth = known[ring_at]
    best = np.full(len(ring_at), np.inf, np.float32)
    for colours, ok in candidates:
        has = np.nonzero(ok[ring_at])[0]
        if len(has) < 8:
            continue
        diff = truth[has] - colours[ring_at[has]]
        level = np.median(diff[:: max(1, len(diff) // _LEVEL_SAMPLES)].T, axis=1)  # from an even subsample
        residual = np.abs(diff - level).mean(axis=1)
        best[has] = np.minimum(best[has], residual)
    trusted = np.ones(len(region.ys), bool)
    explained = best <= outlier
    if len(explained) and explained.mean() >= least_share:
        trusted[ring_at[~explained]] = False
    grid = _Grid(region)
    return [check(frame, region, colours, ok & trusted, known=known, grid=grid) for colours, ok in candidates]


class _Grid:
    """Where a region's pixels fall in its box and in the box's cells (shared by every candidate's check)."""

    def __init__(self, region: Region, factor: int = 4) -> None:
        y0, x0 = int(region.ys.min()), int(region.xs.min())
        self.ly, self.lx = region.ys - y0, region.xs - x0
        self.shape = (int(self.ly.max()) + 1, int(self.lx.max()) + 1)
        self.factor = factor
        self.fx = ((self.lx + 0.5) / factor - 0.5).astype(np.float32)
        self.fy = ((self.ly + 0.5) / factor - 0.5).astype(np.float32)


def check(frame: np.ndarray, region: Region, colours: np.ndarray, ok: np.ndarray, blur: float = 6.0,
          factor: int = 4, known: np.ndarray | None = None, grid: _Grid | None = None) -> Checked:
    """Correct ``colours`` (one per region pixel, ``ok`` where a source exists) by the ring and rate them.

    Both maps are smooth, so they are computed at ``1 / factor`` of the size and sampled back per pixel.
    ``known``: the frame's colours at the region pixels (float32), when the caller has them already;
    ``grid``: the region's ``_Grid`` at this ``factor``, likewise.
    """
    n = len(region.ys)
    error = np.full(n, np.inf, np.float32)
    ring = np.nonzero(ok & ~region.unknown)[0]
    if not len(ring):
        return Checked(colours, error)
    g = grid if grid is not None and grid.factor == factor else _Grid(region, factor)
    truth = frame[region.ys[ring], region.xs[ring]].astype(np.float32) if known is None else known[ring]
    diff = truth - colours[ring]
    cells = _Cells(g.ly[ring], g.lx[ring], g.shape, factor)
    # the slow part of the difference (lighting, the seam's level): normalised convolution, then spread inwards
    offset_map = cells.smooth(diff, 2 * blur)
    offset = sample_points(offset_map, g.fx, g.fy)
    corrected = colours + offset
    # local misalignment: what is left on the ring, averaged over nearby ring pixels, then spread inwards
    residual = np.abs(diff - offset[ring]).mean(axis=1)
    error_map = cells.smooth(residual[:, None], blur)
    error[ok] = sample_points(error_map, g.fx[ok], g.fy[ok]).reshape(-1)
    return Checked(corrected, error)


class _Cells:
    """Values known at scattered pixels, averaged into cells of ``factor x factor`` px (an area-weighted
    shrink without building the full-size image)."""

    def __init__(self, ys: np.ndarray, xs: np.ndarray, shape: tuple[int, int], factor: int) -> None:
        h, w = shape
        self.size = (max(1, -(-h // factor)), max(1, -(-w // factor)))  # (rows, cols)
        self.index = (ys // factor) * self.size[1] + xs // factor
        self.area = float(factor * factor)
        self.factor = factor
        self.weight = self._sum(np.ones(len(ys), np.float32))

    def _sum(self, values: np.ndarray) -> np.ndarray:
        total = np.bincount(self.index, weights=values, minlength=self.size[0] * self.size[1])
        return (total / self.area).astype(np.float32).reshape(self.size)

    def smooth(self, values: np.ndarray, sigma: float) -> np.ndarray:
        """``values`` (``m x C``): Gaussian-averaged over the known pixels only (normalised convolution,
        ``sigma`` in full-size px) at the cells' scale, then filled in everywhere (``rows x cols x C``)."""
        wv = np.stack([self._sum(values[:, c]) for c in range(values.shape[1])], axis=2)
        s = max(sigma / self.factor, 0.5)
        k = int(2 * round(2 * s) + 1)
        num = cv2.GaussianBlur(wv, (k, k), s).reshape(wv.shape)
        den = cv2.GaussianBlur(self.weight, (k, k), s)
        has = den > 0.02
        avg = num / np.maximum(den, 1e-6)[..., None]
        return fill_smooth(avg, has)
