"""A second kind of temporal candidate: a homography per neighbouring frame (exact for pans, tilts and zooms).

Only consecutive frames are matched: corners outside the (dilated) regions of frame ``j`` are tracked into
``j + 1`` with pyramidal Lucas-Kanade, forward and backward, and a RANSAC homography fits them (``step``).
The homography from frame ``i`` to any neighbour is the product of the steps between them (``compose``),
so each frame is matched once, not once per neighbour (what made this candidate half of the fill's time).
Every region pixel (hole and ring) takes the median colour of up to ``candidates`` neighbours, nearest
first, where its point is visible. Where the background is a plane far away this is drift-free where
chained flow is not; where it is not (parallax, close objects), the ring check (``inpaint.ring_check``)
rejects it and the flow-chained sources win.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from inpaint.flow_completion import sample_points
from inpaint.sources import Region


@dataclass(frozen=True)
class HomographyConfig:
    window: int = 20  # neighbours searched on each side (as far as the chained sources reach: span)
    candidates: int = 3  # colours per pixel (median)
    max_corners: int = 400
    min_inliers: int = 12
    ransac_px: float = 2.0
    enough: float = 0.995  # stop once this share of the region has all its candidates


_SHIFT_SAMPLES = 2000  # ring pixels the exposure shift of a neighbour is the median of
_GATE_SAMPLES = 400  # ring pixels a gated neighbour's alignment is checked on

_LK = {"winSize": (15, 15), "maxLevel": 4, "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01)}


def homography_colours(
    i: int,
    region: Region,
    n: int,
    hom: Callable[[int, int], np.ndarray | None],
    frame: Callable[[int], np.ndarray],
    unknown: Callable[[int], np.ndarray],
    config: HomographyConfig | None = None,
    order: Sequence[int] | None = None,
    gate: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(colours ``N x 3`` float32, has-colour bool) for the region pixels of frame ``i``;
    ``hom(i, j)`` maps frame ``i``'s points into frame ``j`` (None when unknown).

    ``order``: the neighbours to search, in that order (default: ``config.window`` on each side, nearest
    first). ``gate``: a neighbour whose ring pixels differ from this frame's by more than this (median of the
    mean absolute grey-level difference, after the exposure shift) is not used: its homography has drifted
    (``None``: no gate)."""
    cfg = config or HomographyConfig()
    count_n = len(region.ys)
    acc = np.zeros((cfg.candidates * count_n, 3), np.float32)  # candidate k of pixel p at row k * count_n + p
    count = np.zeros(count_n, np.int32)
    xy = np.stack([region.xs, region.ys], 1).astype(np.float32)[None]
    own = frame(i)[region.ys, region.xs].astype(np.float32)
    if order is None:
        order = sorted((j for j in range(max(0, i - cfg.window), min(n, i + cfg.window + 1)) if j != i),
                       key=lambda j: (abs(j - i), j))
    gate_pts, gate_own = ring_points(region, frame(i)) if gate is not None else (xy, own)
    need = np.arange(count_n)  # the region pixels that may still take candidates (a superset of those lacking)
    pts = xy  # their points
    lacking = count_n
    ring_all = ~region.unknown
    for j in order:
        if lacking <= (1.0 - cfg.enough) * count_n:
            break
        hij = hom(i, j)
        if hij is None:
            continue
        qx, qy, use = visible(pts, hij, unknown(j))
        if len(need) > lacking:  # pixels that have all their candidates are skipped
            use &= count[need] < cfg.candidates
        if not use.any():
            continue
        if gate is not None and not _aligned(gate_pts, gate_own, hij, frame(j), unknown(j), gate):
            continue
        idx = need[use]
        colours = sample_points(frame(j), qx[use], qy[use])
        # the neighbour's exposure brought to this frame's (median difference on the ring it shows, from an
        # even subsample), so the median of frames exposed differently does not mix their levels pixel by pixel
        ring = np.nonzero(ring_all[idx])[0]
        if len(ring) >= 32:
            ring = ring[:: max(1, len(ring) // _SHIFT_SAMPLES)]
            colours += np.median((own[idx[ring]] - colours[ring]).T, axis=1)
        acc[count[idx] * count_n + idx] = colours
        count[idx] += 1
        lacking -= int(np.count_nonzero(count[idx] == cfg.candidates))
        if 2 * lacking < len(need):  # drop the finished pixels once they are most of those visited
            keep = count[need] < cfg.candidates
            need, pts = need[keep], pts[:, keep]
    acc = acc.reshape(cfg.candidates, count_n, 3)
    out = _median(acc) if cfg.candidates == 3 else np.zeros((count_n, 3), np.float32)
    for c in range(1, cfg.candidates + 1):
        sel = count == c
        if sel.any() and not (c == 3 and cfg.candidates == 3):
            out[sel] = _median(acc[:c, sel]) if c > 2 else acc[:c, sel].mean(axis=0)
    out[count == 0] = 0.0
    return out, count > 0


def _aligned(pts: np.ndarray, own: np.ndarray, hom: np.ndarray, image: np.ndarray, hidden: np.ndarray,
             gate: float) -> bool:
    return ring_residual(pts, own, hom, image, hidden) <= gate


def ring_points(region: Region, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(points ``1 x M x 2``, their colours ``M x 3`` float32): at most ``_GATE_SAMPLES`` ring pixels of
    ``region`` in ``frame``, spread evenly."""
    at = np.nonzero(~region.unknown)[0]
    at = at[:: max(1, len(at) // _GATE_SAMPLES)]
    pts = np.stack([region.xs[at], region.ys[at]], 1).astype(np.float32)[None]
    return pts, frame[region.ys[at], region.xs[at]].astype(np.float32)


def ring_residual(pts: np.ndarray, own: np.ndarray, hom: np.ndarray, image: np.ndarray, hidden: np.ndarray) -> float:
    """How far ring points ``pts`` (``1 x M x 2``, true colours ``own``) land from the same colours in ``image``
    under ``hom``: the median of their mean absolute differences after the median offset (inf: fewer than 16
    land in view)."""
    qx, qy, use = visible(pts, hom, hidden)
    if use.sum() < 16:
        return float("inf")
    diff = own[use] - sample_points(image, qx[use], qy[use])
    residual = np.abs(diff - np.median(diff, axis=0)).mean(axis=1)
    return float(np.median(residual))


def visible(pts: np.ndarray, hom: np.ndarray, hidden: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where points ``1 x N x 2`` land under ``hom`` (x, y) and whether they land inside the frame and outside
    its ``hidden`` pixels (bool H x W, at the nearest pixel)."""
    h, w = hidden.shape
    q = cv2.perspectiveTransform(pts, hom)[0]
    qx, qy = q[:, 0], q[:, 1]
    inside = (qx >= 0) & (qx <= w - 1) & (qy >= 0) & (qy <= h - 1)
    flat = np.rint(np.clip(qy, 0, h - 1)).astype(np.int64) * w + np.rint(np.clip(qx, 0, w - 1)).astype(np.int64)
    return qx, qy, inside & ~hidden.ravel()[flat]


def _median(values: np.ndarray) -> np.ndarray:
    """Median over the first axis; of three values without sorting (the common case)."""
    if len(values) != 3:
        return np.median(values, axis=0)
    a, b, c = values
    return np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))


def compose(steps: Callable[[int], np.ndarray | None], i: int, j: int) -> np.ndarray | None:
    """Homography from frame ``i`` to frame ``j``: the product of the consecutive ``steps(k)`` (``k -> k + 1``)
    between them, inverted when going back; None when one of them is unknown."""
    out = np.eye(3)
    lo, hi = min(i, j), max(i, j)
    for k in range(lo, hi):
        s = steps(k)
        if s is None:
            return None
        out = s @ out
    if j < i:
        out = np.linalg.inv(out)
    return out / out[2, 2]


def _detail(grey: np.ndarray, sigma: float = 4.0) -> np.ndarray:
    """The grey frame less its local mean (uint8 around 128): what is left when the exposure changes."""
    g = grey.astype(np.float32)
    return np.clip(2.0 * (g - cv2.GaussianBlur(g, (0, 0), sigma)) + 128.0, 0, 255).astype(np.uint8)


def step(grey_a: np.ndarray, grey_b: np.ndarray, free_a: np.ndarray, unknown_b: np.ndarray,
         cfg: HomographyConfig | None = None) -> np.ndarray | None:
    """Homography mapping frame a's background (corners where ``free_a``) into the next frame b, or None
    when too few corners track there and back and land outside b's unknown pixels."""
    cfg = cfg or HomographyConfig()
    # matched on detail only: a change of exposure between the two frames must not bias the tracker (it
    # would, and composing many steps would add the errors up)
    grey_a, grey_b = _detail(grey_a), _detail(grey_b)
    pts = cv2.goodFeaturesToTrack(grey_a, cfg.max_corners, 0.005, 6, mask=free_a.astype(np.uint8), blockSize=5)
    if pts is None or len(pts) < cfg.min_inliers:
        return None
    nxt, st, _ = cv2.calcOpticalFlowPyrLK(grey_a, grey_b, pts, None, **_LK)
    back, st2, _ = cv2.calcOpticalFlowPyrLK(grey_b, grey_a, nxt, pts.copy(), flags=cv2.OPTFLOW_USE_INITIAL_FLOW,
                                            **_LK)
    ok = (st[:, 0] == 1) & (st2[:, 0] == 1) & (np.linalg.norm((back - pts)[:, 0], axis=1) < 1.0)
    h, w = grey_b.shape
    q = nxt[:, 0]
    ok &= (q[:, 0] >= 0) & (q[:, 0] < w) & (q[:, 1] >= 0) & (q[:, 1] < h)
    qi = np.clip(np.rint(q).astype(int), 0, [w - 1, h - 1])
    ok &= ~unknown_b[qi[:, 1], qi[:, 0]]
    if ok.sum() < cfg.min_inliers:
        return None
    hom, inl = cv2.findHomography(pts[ok], nxt[ok], cv2.RANSAC, cfg.ransac_px)
    if hom is None or inl is None or int(inl.sum()) < cfg.min_inliers:
        return None
    return hom
