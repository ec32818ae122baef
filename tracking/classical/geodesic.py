"""Geodesic distances on an image, and the part of a mask a negative click takes back by them.

A pixel's geodesic distance from a set of seeds is the cheapest path to it, a step costing its length plus
``weight`` times the colour difference it crosses: paths run freely inside a region of one colour and pay for
every edge they cross. ``take_back`` splits a mask between a negative click and the object's positive seeds by
which of them each pixel is geodesically nearer to (the geodesic Voronoi split of Bai and Sapiro's geodesic
matting): a spill joined to the object across an image edge goes with the click, the object stays. ``grow`` is
the region within a geodesic radius of a correction click (steps costing by their colour difference relative to
the local texture): the part the click stands for, which stops at the part's edges.

The distance is computed with raster scans: each horizontal or vertical sweep is a min-plus prefix scan,
``d[x] = S[x] + cummin(d - S)[x]`` with ``S`` the cumulative step cost, so whole rows (or columns) go at once.
"""

from __future__ import annotations

import cv2
import numpy as np

WEIGHT = 0.5  # cost of one Lab unit of colour difference, in pixels of path length
SWEEPS = 3  # rounds of the four sweeps (paths may turn this many times over)


def _sweep(d: np.ndarray, step: np.ndarray) -> np.ndarray:
    """One left-to-right pass along axis 1: ``step[:, x]`` is the cost from ``x - 1`` to ``x``."""
    s = np.cumsum(step, axis=1)
    return np.minimum(d, s + np.minimum.accumulate(d - s, axis=1))


def _colour_steps(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lab colour difference of each horizontal step (``x - 1`` to ``x``) and vertical step, lightly blurred."""
    f = cv2.GaussianBlur(lab, (3, 3), 0).astype(np.float64)
    return np.sqrt(((f[:, 1:] - f[:, :-1]) ** 2).sum(-1)), np.sqrt(((f[1:] - f[:-1]) ** 2).sum(-1))


def geodesic_distance(lab: np.ndarray, seeds: np.ndarray, allowed: np.ndarray, weight: float = WEIGHT) -> np.ndarray:
    """Geodesic distance from ``seeds`` over the pixels ``allowed`` (``inf`` elsewhere and where unreachable)."""
    dh, dv = _colour_steps(lab)
    return _distance(1.0 + weight * dh, 1.0 + weight * dv, seeds, allowed)


def _distance(dh: np.ndarray, dv: np.ndarray, seeds: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Geodesic distance from ``seeds`` over ``allowed`` with step costs ``dh`` (H x W-1) and ``dv`` (H-1 x W)."""
    blocked = 1e7  # float64 prefix sums of it stay exact enough for path lengths of a few thousand
    h, w = seeds.shape
    step_h = np.full((h, w), blocked, np.float64)
    step_h[:, 1:] = dh
    step_v = np.full((w, h), blocked, np.float64)
    step_v[:, 1:] = dv.T
    step_h[~allowed] = blocked
    step_v[~allowed.T] = blocked
    d = np.where(seeds & allowed, 0.0, blocked).astype(np.float64)
    # the cost of entering a pixel from the right / from below is the same edge seen from the other side
    back_h = np.full((h, w), blocked, np.float64)
    back_h[:, :-1] = step_h[:, 1:]
    back_v = np.full((w, h), blocked, np.float64)
    back_v[:, :-1] = step_v[:, 1:]
    back_h[~allowed] = blocked
    back_v[~allowed.T] = blocked
    for _ in range(SWEEPS):
        d = _sweep(d, step_h)
        d = _sweep(d[:, ::-1], back_h[:, ::-1])[:, ::-1]
        dt = d.T
        dt = _sweep(dt, step_v)
        dt = _sweep(dt[:, ::-1], back_v[:, ::-1])[:, ::-1]
        d = np.ascontiguousarray(dt.T)
    d[~allowed] = np.inf
    d[d >= blocked / 2] = np.inf
    return d


def _disc(shape: tuple[int, int], x: float, y: float, r: int) -> np.ndarray:
    out = np.zeros(shape, np.uint8)
    cv2.circle(out, (int(round(x)), int(round(y))), r, 1, -1)
    return out > 0


def take_back(lab: np.ndarray, prior: np.ndarray, click: tuple[float, float], positives: np.ndarray,
              radius: int) -> np.ndarray:
    """The part of ``prior`` a negative ``click`` takes back: the pixels geodesically nearer to the click than
    to the object's positive seeds (``positives``, (x, y) points; without any, the prior's deepest point away
    from the click stands for the object), connected to the click. Empty when the click is outside ``prior``."""
    h, w = prior.shape
    x, y = click
    xi, yi = min(w - 1, max(0, int(round(x)))), min(h - 1, max(0, int(round(y))))
    if not prior[yi, xi]:
        return np.zeros_like(prior)
    neg = _disc((h, w), x, y, radius) & prior
    pos = np.zeros((h, w), bool)
    for px, py in positives:
        pos |= _disc((h, w), px, py, radius)
    pos &= prior & ~neg
    if not pos.any():
        depth = cv2.distanceTransform(np.pad(prior.astype(np.uint8), 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
        depth[_disc((h, w), x, y, max(radius, int(2 * depth[yi, xi])))] = 0
        if depth.max() <= 0:
            return np.zeros_like(prior)
        pos = depth >= 0.9 * depth.max()
    d_neg = geodesic_distance(lab, neg, prior)
    d_pos = geodesic_distance(lab, pos, prior)
    region = prior & (d_neg < d_pos) & ~pos
    n, cc = cv2.connectedComponents(region.astype(np.uint8), connectivity=8)
    keep = int(cc[yi, xi])
    return cc == keep if keep else np.zeros_like(prior)



EDGE = 3.0  # growing across a colour step costs 1 + (step / (EDGE * the window's median step))^2 px


def grow(lab: np.ndarray, allowed: np.ndarray, click: tuple[float, float], radius: float) -> np.ndarray:
    """The pixels of ``allowed`` within geodesic distance ``radius`` of ``click``: a disc of that radius on a
    region of one colour or texture, stopping at colour edges and following the region where it runs on
    (a leg, a wheel). A correction click lies about as deep in the part it stands for as its distance to the mask's
    edge, so that distance (or a few times it) is the radius of the part it adds or removes.
    Computed on a window of ``2 * radius`` around the click (nothing farther is in reach)."""
    h, w = allowed.shape
    x, y = min(w - 1, max(0, int(round(click[0])))), min(h - 1, max(0, int(round(click[1]))))
    out = np.zeros((h, w), bool)
    if not allowed[y, x] or radius <= 0:
        return out
    r = int(np.ceil(radius)) + 1
    x0, y0, x1, y1 = max(0, x - r), max(0, y - r), min(w, x + r + 1), min(h, y + r + 1)
    seeds = np.zeros((y1 - y0, x1 - x0), bool)
    seeds[y - y0, x - x0] = True
    dh, dv = _colour_steps(lab[y0:y1, x0:x1])
    # steps cost by their colour difference relative to the window's usual one, squared: texture inside a
    # region costs little, a real edge (many times the usual step) a lot
    tau = EDGE * max(float(np.median(np.concatenate([dh.ravel(), dv.ravel()]))), 1.0)
    d = _distance(1.0 + (dh / tau) ** 2, 1.0 + (dv / tau) ** 2, seeds, allowed[y0:y1, x0:x1])
    out[y0:y1, x0:x1] = d <= radius
    return out
