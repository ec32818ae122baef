"""A second kind of temporal candidate: one homography per neighbouring frame (exact for pans, tilts and zooms).

Corners outside the (dilated) masks are tracked with pyramidal Lucas-Kanade, forward and backward, and a
RANSAC homography maps this frame into each neighbour, nearest first. Every region pixel (hole and ring)
takes the median colour of up to ``candidates`` neighbours where its point is visible. Where the background
is a plane far away this is drift-free where chained flow is not; where it is not (parallax, close objects),
the ring check (``inpaint.ring_check``) rejects it and the flow-chained sources win.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from inpaint.flow_completion import sample_points
from inpaint.sources import Region


@dataclass(frozen=True)
class HomographyConfig:
    window: int = 12  # neighbours searched on each side
    candidates: int = 3  # colours per pixel (median)
    max_corners: int = 400
    min_inliers: int = 12
    ransac_px: float = 2.0
    enough: float = 0.995  # stop once this share of the region has all its candidates


_LK = {"winSize": (15, 15), "maxLevel": 4, "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01)}


def homography_colours(
    i: int,
    region: Region,
    n: int,
    grey: Callable[[int], np.ndarray],
    frame: Callable[[int], np.ndarray],
    unknown: Callable[[int], np.ndarray],
    config: HomographyConfig | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(colours ``N x 3`` float32, has-colour bool) for the region pixels of frame ``i``."""
    cfg = config or HomographyConfig()
    count_n = len(region.ys)
    acc = np.zeros((cfg.candidates, count_n, 3), np.float32)
    count = np.zeros(count_n, np.int32)
    grey_i = grey(i)
    free = (cv2.dilate(region.dense.astype(np.uint8), np.ones((9, 9), np.uint8)) == 0).astype(np.uint8)
    pts = cv2.goodFeaturesToTrack(grey_i, cfg.max_corners, 0.005, 6, mask=free, blockSize=5)
    if pts is None or len(pts) < cfg.min_inliers:
        return acc[0], count > 0
    h, w = grey_i.shape
    xy = np.stack([region.xs, region.ys], 1).astype(np.float32)[None]
    homs: dict[int, np.ndarray] = {}
    order = sorted((j for j in range(max(0, i - cfg.window), min(n, i + cfg.window + 1)) if j != i),
                   key=lambda j: (abs(j - i), j))
    for j in order:
        if (count >= cfg.candidates).mean() >= cfg.enough:
            break
        hom = _homography(pts, grey_i, grey(j), unknown(j), homs.get(j - 1 if j > i else j + 1), cfg)
        if hom is None:
            continue
        homs[j] = hom
        q = cv2.perspectiveTransform(xy, hom)[0]
        inside = (q[:, 0] >= 0) & (q[:, 0] <= w - 1) & (q[:, 1] >= 0) & (q[:, 1] <= h - 1)
        qx, qy = np.clip(q[:, 0], 0, w - 1), np.clip(q[:, 1], 0, h - 1)
        use = inside & ~unknown(j)[np.rint(qy).astype(int), np.rint(qx).astype(int)] & (count < cfg.candidates)
        if not use.any():
            continue
        idx = np.nonzero(use)[0]
        acc[count[idx], idx] = sample_points(frame(j), qx[idx], qy[idx])
        count[idx] += 1
    out = np.zeros((count_n, 3), np.float32)
    for c in range(1, cfg.candidates + 1):
        sel = count == c
        if sel.any():
            out[sel] = np.median(acc[:c, sel], axis=0) if c > 2 else acc[:c, sel].mean(axis=0)
    return out, count > 0


def _homography(
    pts: np.ndarray, grey_i: np.ndarray, grey_j: np.ndarray, unknown_j: np.ndarray, prev: np.ndarray | None,
    cfg: HomographyConfig,
) -> np.ndarray | None:
    """Homography mapping frame i's background points into frame j, or None when unreliable."""
    if prev is not None:
        guess = cv2.perspectiveTransform(pts, prev)
        nxt, st, _ = cv2.calcOpticalFlowPyrLK(grey_i, grey_j, pts, guess.copy(), flags=cv2.OPTFLOW_USE_INITIAL_FLOW,
                                              **_LK)
    else:
        nxt, st, _ = cv2.calcOpticalFlowPyrLK(grey_i, grey_j, pts, None, **_LK)
    back, st2, _ = cv2.calcOpticalFlowPyrLK(grey_j, grey_i, nxt, pts.copy(), flags=cv2.OPTFLOW_USE_INITIAL_FLOW,
                                            **_LK)
    ok = (st[:, 0] == 1) & (st2[:, 0] == 1) & (np.linalg.norm((back - pts)[:, 0], axis=1) < 1.0)
    h, w = grey_j.shape
    q = nxt[:, 0]
    ok &= (q[:, 0] >= 0) & (q[:, 0] < w) & (q[:, 1] >= 0) & (q[:, 1] < h)
    qi = np.clip(np.rint(q).astype(int), 0, [w - 1, h - 1])
    ok &= ~unknown_j[qi[:, 1], qi[:, 0]]
    if ok.sum() < cfg.min_inliers:
        return None
    hom, inl = cv2.findHomography(pts[ok], nxt[ok], cv2.RANSAC, cfg.ransac_px)
    if hom is None or inl is None or int(inl.sum()) < cfg.min_inliers:
        return None
    return hom
