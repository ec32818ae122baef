"""Smooth interpolation of sparse values into a hole (push-pull over an image pyramid).

Known values are averaged down a Gaussian pyramid with their weights, then pulled back up: where a level
knows nothing, the coarser estimate fills in. The result equals the known values where they are known and
varies smoothly between them (close to a membrane / Laplace interpolation, at the cost of a few pyramid
passes). The classical removal uses it four ways: to complete optical flow inside the hole, to spread the
error of a temporal source measured on the ring around the hole, to carry the colour mismatch at the
hole's border inwards (a gradient-domain seam, as in Poisson blending), and to fill what no frame shows (the
spatial fill, ``inpaint.classical.spatial_fill``).
"""

from __future__ import annotations

import cv2
import numpy as np

_NEIGHBOURS = np.array([[0, 0.25, 0], [0.25, 0, 0.25], [0, 0.25, 0]], np.float32)


def fill_smooth(values: np.ndarray, known: np.ndarray, min_size: int = 4, iterations: int = 8) -> np.ndarray:
    """``values`` (``H x W`` or ``H x W x C`` float32) with the pixels where ``known`` is False interpolated.

    Each level's estimate is relaxed ``iterations`` times towards the membrane (the mean of its four
    neighbours, known pixels held), coarse to fine, as a multigrid solver would.

    Returns a new float32 array; where nothing at all is known it is all zeros.
    """
    v = np.asarray(values, np.float32)
    squeeze = v.ndim == 2
    if squeeze:
        v = v[..., None]
    w = known.astype(np.float32)
    if not w.any():
        out = np.zeros_like(v)
        return out[..., 0] if squeeze else out
    if w.all():
        out = v.copy()
        return out[..., 0] if squeeze else out
    weighted = v * w[..., None]
    levels: list[tuple[np.ndarray, np.ndarray]] = [(weighted, w)]
    while min(levels[-1][1].shape) > min_size and levels[-1][1].min() <= 0:
        pv, pw = levels[-1]
        levels.append((_down(pv), cv2.pyrDown(pw)))
    cv_, cw = levels[-1]
    est = cv_ / np.maximum(cw, 1e-8)[..., None]
    if (cw <= 1e-8).any():  # nothing known near some coarsest pixels: use the overall mean there
        mean = cv_.reshape(-1, cv_.shape[2]).sum(0) / max(float(cw.sum()), 1e-8)
        est[cw <= 1e-8] = mean
    for pv, pw in reversed(levels[:-1]):
        up = _up(est, pw.shape)
        a = np.clip(pw, 0.0, 1.0)[..., None]
        data = np.where(a > 1e-6, pv / np.maximum(pw, 1e-8)[..., None], 0.0) * a
        free = 1.0 - a
        est = data + up * free
        for _ in range(iterations):
            est = _neighbours(est)
            est *= free
            est += data
    est = est.astype(np.float32)
    est[known] = v[known]
    return est[..., 0] if squeeze else est


def _down(x: np.ndarray) -> np.ndarray:
    out = cv2.pyrDown(x)
    return out[..., None] if out.ndim == 2 else out


def _up(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    out = cv2.pyrUp(x, dstsize=(shape[1], shape[0]))
    return out[..., None] if out.ndim == 2 else out


def _neighbours(x: np.ndarray) -> np.ndarray:
    out = cv2.filter2D(x, -1, _NEIGHBOURS, borderType=cv2.BORDER_REPLICATE)
    return out[..., None] if out.ndim == 2 else out
