"""A temporal source is checked before it is trusted: its ring must agree with what is known around the hole.

The ring pixels around the hole were chained to their sources exactly like the hole pixels
(``inpaint.sources``). Where a ring pixel's true colour and its source's colour differ, the alignment (or the
lighting) is off there. Two maps are interpolated from the ring into the hole (``inpaint.diffuse``):
- the signed colour difference: added to the source colours, it removes the seam at the hole's border and
  any slow change of exposure (a gradient-domain blend: the fill keeps its own detail, takes the border's
  level);
- the unsigned difference left after that correction, blurred over a neighbourhood: the local misalignment.
  A source whose misalignment exceeds a threshold is not used.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from inpaint.diffuse import fill_smooth
from inpaint.flow_completion import sample_points
from inpaint.sources import Region


@dataclass
class Checked:
    colours: np.ndarray  # N x 3 float32, seam-corrected, per region pixel
    error: np.ndarray  # N float32: the local ring misalignment (inf where nothing was checked)


def check(frame: np.ndarray, region: Region, colours: np.ndarray, ok: np.ndarray, blur: float = 6.0,
          factor: int = 4) -> Checked:
    """Correct ``colours`` (one per region pixel, ``ok`` where a source exists) by the ring and rate them.

    Both maps are smooth, so they are computed at ``1 / factor`` of the size and sampled back per pixel.
    """
    n = len(region.ys)
    error = np.full(n, np.inf, np.float32)
    ring = ok & ~region.unknown
    if not ring.any():
        return Checked(colours, error)
    y0, x0 = int(region.ys.min()), int(region.xs.min())
    ly, lx = region.ys - y0, region.xs - x0
    shape = (int(ly.max()) + 1, int(lx.max()) + 1)
    truth = frame[region.ys[ring], region.xs[ring]].astype(np.float32)
    diff = truth - colours[ring]
    weight = np.zeros(shape, np.float32)
    weight[ly[ring], lx[ring]] = 1.0
    # the slow part of the difference (lighting, the seam's level): normalised convolution, then spread inwards
    offset_map = _smooth_map(_scatter(diff, ly[ring], lx[ring], shape), weight, 2 * blur, factor)
    fx, fy = ((lx + 0.5) / factor - 0.5).astype(np.float32), ((ly + 0.5) / factor - 0.5).astype(np.float32)
    offset = sample_points(offset_map, fx, fy)
    corrected = colours + offset
    # local misalignment: what is left on the ring, averaged over nearby ring pixels, then spread inwards
    residual = np.abs(diff - offset[ring]).mean(axis=1)
    error_map = _smooth_map(_scatter(residual[:, None], ly[ring], lx[ring], shape), weight, blur, factor)
    error[ok] = sample_points(error_map, fx[ok], fy[ok]).reshape(-1)
    return Checked(corrected, error)


def _scatter(values: np.ndarray, ys: np.ndarray, xs: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    out = np.zeros(shape + (values.shape[1],), np.float32)
    out[ys, xs] = values
    return out


def _smooth_map(values: np.ndarray, weight: np.ndarray, sigma: float, factor: int) -> np.ndarray:
    """``values`` known with ``weight``: shrunk by ``factor`` (weighted), Gaussian-averaged over the known
    pixels only (normalised convolution, ``sigma`` in full-size px), then filled in everywhere."""
    h, w = weight.shape
    size = (max(1, -(-w // factor)), max(1, -(-h // factor)))
    wv = cv2.resize(values * weight[..., None], size, interpolation=cv2.INTER_AREA).reshape(size[1], size[0], -1)
    ws = cv2.resize(weight, size, interpolation=cv2.INTER_AREA)
    s = max(sigma / factor, 0.5)
    k = int(2 * round(2 * s) + 1)
    num = cv2.GaussianBlur(wv, (k, k), s).reshape(wv.shape)
    den = cv2.GaussianBlur(ws, (k, k), s)
    has = den > 0.02
    avg = num / np.maximum(den, 1e-6)[..., None]
    return fill_smooth(avg, has)
