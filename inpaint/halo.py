"""How close to a mask the fill may trust pixels: a check of the mask's edge for a halo.

A mask rarely ends where what it covers ends. A soft or anti-aliased outline, a defocused or motion-blurred
object, a tracked mask a pixel too tight: each leaves a few pixels outside the mask that are not background,
and a fill that trusts them copies that halo back in. So the classical fill keeps a guard band around the
mask that it never trusts. But where the mask's edge is clean (a caption burnt in with hard strokes, an exact
hole) the guard only widens the hole: a 4 px stroke becomes a 10 px band to interpolate, where a fill from
the stroke's own edge is nearly exact.

A halo is an edge that runs along the mask's outline: just outside it, the image changes much more across
the outline (along the outward normal) than along it. Background texture has no preferred direction with
respect to the mask, so the two changes are alike. The check compares them on the first ring of pixels
outside each group of the mask: their ratio was 0.6-1.3 on every exact hole of the removal benchmark and
1.9-7.3 on every soft-edged one (docs/benchmarks.md, "Removal quality, eighth round"); a group whose ratio
reaches ``HaloConfig.ratio`` keeps the wide guard, the others the narrow one.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class HaloConfig:
    ratio: float = 1.5  # across / along change on the mask's first outer ring at or above which a group has a halo
    join: int = 8  # px: parts of the mask closer than this are judged together (the letters of a caption)
    min_ring: int = 24  # a group with fewer ring pixels than this is not judged: it keeps the wide guard


def _disk(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def edge_ratios(frame: np.ndarray, mask: np.ndarray, cfg: HaloConfig = HaloConfig()) -> tuple[np.ndarray, np.ndarray]:
    """(group labels H x W int32, 0 off the groups; the across / along ratio of each group, index = label,
    NaN for a group too small to judge). ``frame`` RGB uint8, ``mask`` bool."""
    m = mask.astype(np.uint8)
    count, labels = cv2.connectedComponents(cv2.dilate(m, _disk(cfg.join)))
    ratios = np.full(count, np.nan, np.float64)
    if count <= 1:
        return labels, ratios
    dist = cv2.distanceTransform(1 - m, cv2.DIST_L2, 5)
    ys, xs = np.nonzero((dist > 0.5) & (dist <= 1.5))  # the first ring of pixels outside the mask
    if len(ys) == 0:
        return labels, ratios
    # the outward normal: the gradient of the distance to the mask, read at the ring's pixels only
    nx = (dist[ys, np.minimum(xs + 1, m.shape[1] - 1)] - dist[ys, np.maximum(xs - 1, 0)]).astype(np.float32)
    ny = (dist[np.minimum(ys + 1, m.shape[0] - 1), xs] - dist[np.maximum(ys - 1, 0), xs]).astype(np.float32)
    norm = np.sqrt(nx * nx + ny * ny)
    good = norm > 1e-3
    ys, xs, nx, ny = ys[good], xs[good], nx[good] / norm[good], ny[good] / norm[good]
    img = frame.astype(np.float32)
    here = img[ys, xs]
    fx, fy = xs.astype(np.float32), ys.astype(np.float32)

    def step(dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
        there = cv2.remap(img, (fx + dx).reshape(-1, 1), (fy + dy).reshape(-1, 1), cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE).reshape(-1, 3)
        return np.abs(there - here).max(axis=1)

    across = step(nx, ny)  # one pixel outwards: never reads the mask
    along = step(-ny, nx)  # one pixel along the outline
    group = labels[ys, xs]
    n = np.bincount(group, minlength=count)
    sum_across = np.bincount(group, across, minlength=count)
    sum_along = np.bincount(group, along, minlength=count)
    judged = n >= cfg.min_ring
    ratios[judged] = sum_across[judged] / np.maximum(sum_along[judged], 0.5 * n[judged])
    ratios[0] = np.nan
    return labels, ratios


def unknown_region(frame: np.ndarray, mask: np.ndarray, clean: int, halo: int,
                   cfg: HaloConfig = HaloConfig()) -> np.ndarray:
    """Bool H x W: ``mask`` grown by ``halo`` px around groups whose edge shows a halo (or that are too small to
    judge), by ``clean`` px around the others: the pixels the fill must not trust."""
    mask = mask.astype(bool)
    if clean >= halo:
        return cv2.dilate(mask.astype(np.uint8), _disk(max(halo, 0))) > 0
    labels, ratios = edge_ratios(frame, mask, cfg)
    has_halo = ~(ratios < cfg.ratio)  # NaN (not judged) counts as a halo
    wide = mask & has_halo[labels]
    out = cv2.dilate((mask & ~wide).astype(np.uint8), _disk(max(clean, 0))) > 0
    if wide.any():
        out |= cv2.dilate(wide.astype(np.uint8), _disk(max(halo, 0))) > 0
    return out
