"""What a click guarantees, whatever the segmenter answered: the clicked pixel ends on the side asked for.

- ``click_region``: the local region under a click: the colour-similar connected patch around it (a flood fill
  in Lab within a small disc), never less than a 2 px disc. It is what a click adds or removes when the model
  disagrees with the user, and what a positive click holds for its object against other objects;
- ``honour``: forces every click of a frame onto its side, in click order (a later click wins a pixel);
- ``keep_object``: a correction may revise a mask, never make an object vanish that was there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import cv2
import numpy as np

REGION_RADIUS = 0.015  # the region under a click stays within this fraction of the frame's long side
REGION_TOLERANCE = 12  # Lab units a pixel may differ from the clicked one and still be in its region
MIN_RADIUS = 2  # px: the region is never smaller than this disc


class Click(NamedTuple):
    """A click in frame pixels: ``(x, y)`` and its side."""

    x: float
    y: float
    positive: bool


def _pixel(click: Click, shape: tuple[int, ...]) -> tuple[int, int]:
    h, w = shape[:2]
    return min(w - 1, max(0, int(click.x))), min(h - 1, max(0, int(click.y)))


def click_region(image: np.ndarray, click: Click) -> np.ndarray:
    """The bool ``H x W`` region under ``click``: pixels within ``REGION_RADIUS`` of it, connected to it and
    within ``REGION_TOLERANCE`` of its colour, plus a ``MIN_RADIUS`` disc."""
    h, w = image.shape[:2]
    x, y = _pixel(click, image.shape)
    r = max(MIN_RADIUS + 1, round(REGION_RADIUS * max(h, w)))
    x0, y0, x1, y1 = max(0, x - r), max(0, y - r), min(w, x + r + 1), min(h, y + r + 1)
    crop = cv2.GaussianBlur(np.ascontiguousarray(image[y0:y1, x0:x1]), (3, 3), 0)
    lab = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB)
    ff = np.zeros((y1 - y0 + 2, x1 - x0 + 2), np.uint8)
    flags = 8 | cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (255 << 8)
    tol = (REGION_TOLERANCE,) * 3
    cv2.floodFill(lab, ff, (x - x0, y - y0), (0, 0, 0), tol, tol, flags)
    local = ff[1:-1, 1:-1] > 0
    yy, xx = np.mgrid[y0:y1, x0:x1]
    d2 = (xx - x) ** 2 + (yy - y) ** 2
    local = (local & (d2 <= r * r)) | (d2 <= MIN_RADIUS * MIN_RADIUS)
    out = np.zeros((h, w), bool)
    out[y0:y1, x0:x1] = local
    return out


def honour(mask: np.ndarray, clicks: Sequence[Click], image: np.ndarray) -> np.ndarray:
    """``mask`` with every click on its side: a click on the wrong side adds (positive) or removes (negative)
    the region under it; the clicked pixels themselves are then set in click order, so a later click wins."""
    out = np.array(mask, dtype=bool, copy=True)
    for click in clicks:
        x, y = _pixel(click, out.shape)
        if out[y, x] != click.positive:
            region = click_region(image, click)
            if click.positive:
                out |= region
            else:
                out &= ~region
    for click in clicks:
        x, y = _pixel(click, out.shape)
        out[y, x] = click.positive
    return out


def honoured(mask: np.ndarray, clicks: Sequence[Click]) -> bool:
    """Whether every click's pixel is on its side of ``mask`` (the last click on a pixel decides)."""
    want: dict[tuple[int, int], bool] = {}
    for click in clicks:
        want[_pixel(click, mask.shape)] = click.positive
    return all(bool(mask[y, x]) == side for (x, y), side in want.items())


def keep_object(prior: np.ndarray, mask: np.ndarray, clicks: Sequence[Click], image: np.ndarray) -> np.ndarray:
    """A correction never drops the object: when the answer keeps none of a non-empty ``prior``, the prior
    comes back minus the regions under the negative clicks."""
    if not prior.any() or (mask & prior).any():
        return mask
    out = prior.copy()
    for click in clicks:
        if not click.positive:
            out &= ~click_region(image, click)
    return out | mask
