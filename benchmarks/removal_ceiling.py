"""What any temporal fill could reach on a removal case: how much of the hole's truth is ever visible, and the
PSNR of an oracle that copies it from where it is.

A static camera under a static logo never shows what the logo hides: no temporal method can beat a spatial
fill there, and the case measures only the spatial fill. This oracle tells such cases apart from those where
the content is revealed but a fill does not use it. It aligns every other frame of the case to frame ``t`` by
a homography (consecutive-frame steps on the TRUE frames, composed, as ``inpaint.homography_source`` does; the
oracle may look at the truth, the fill may not) and, for every hole pixel of ``t``, takes the median of the
true colours at its aligned point in the (up to) three nearest frames where that point is outside their hole.
Pixels no frame reveals are filled by Telea from the rest. Reported per case:
- ``revealed %``: the share of hole pixels (all frames) whose aligned point is outside the hole in at least one
  other frame of the case;
- ``ceiling dB``: the oracle's pooled PSNR in the hole.
It is a ceiling for fills that align by one homography per frame pair: where the background has parallax or
moves on its own (water, smoke, a subject under a grid), the homography misplaces it and a flow-guided fill may
do better; where the truth under the hole is a moving subject, no other frame shows it at that moment and the
oracle's copy is wrong too (both lower the ceiling, as they should).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from inpaint import homography_source as hs
from inpaint.flow_completion import sample_points


@dataclass(frozen=True)
class Ceiling:
    revealed: float  # share of hole pixels (all frames) visible, after alignment, in another frame of the case
    psnr: float  # pooled PSNR in the hole of the oracle fill (dB)


def _disk(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def oracle_fill(truth: Sequence[np.ndarray], holes: Sequence[np.ndarray],
                candidates: int = 3) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(the oracle's filled frames, per frame the bool map of hole pixels some other frame reveals)."""
    n = len(truth)
    greys = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in truth]
    near = [cv2.dilate(h.astype(np.uint8), _disk(1)) > 0 for h in holes]  # bilinear reads stay off the hole
    free = [cv2.dilate(h.astype(np.uint8), _disk(8)) == 0 for h in holes]
    steps: dict[int, np.ndarray | None] = {}

    def step(k: int) -> np.ndarray | None:
        if k not in steps:
            steps[k] = hs.step(greys[k], greys[k + 1], free[k], near[k + 1])
        return steps[k]

    filled, revealed = [], []
    for t in range(n):
        hole = holes[t]
        ys, xs = np.nonzero(hole)
        h, w = hole.shape
        pts = np.stack([xs, ys], 1).astype(np.float32)[None]
        acc = np.zeros((candidates, len(ys), 3), np.float32)
        count = np.zeros(len(ys), np.int32)
        for j in sorted((j for j in range(n) if j != t), key=lambda j: (abs(j - t), j)):
            if (count >= candidates).all():
                break
            hom = hs.compose(step, t, j)
            if hom is None:
                continue
            qx, qy, use = hs.visible(pts, hom, near[j])
            use &= count < candidates
            if not use.any():
                continue
            idx = np.nonzero(use)[0]
            acc[count[idx], idx] = sample_points(truth[j], qx[idx], qy[idx])
            count[idx] += 1
        out = truth[t].copy()
        out[hole] = 128
        seen = count > 0
        colours = np.zeros((len(ys), 3), np.float32)
        for c in range(1, candidates + 1):
            sel = count == c
            if sel.any():
                colours[sel] = np.median(acc[:c, sel], axis=0)
        out[ys[seen], xs[seen]] = np.clip(np.rint(colours[seen]), 0, 255).astype(np.uint8)
        gap = np.zeros((h, w), np.uint8)
        gap[ys[~seen], xs[~seen]] = 1
        if gap.any():
            out = cv2.inpaint(out, gap, 5, cv2.INPAINT_TELEA)
        shown = np.zeros((h, w), bool)
        shown[ys[seen], xs[seen]] = True
        filled.append(out)
        revealed.append(shown)
    return filled, revealed


def ceiling(truth: Sequence[np.ndarray], holes: Sequence[np.ndarray]) -> Ceiling:
    """The revealed share and the oracle's pooled PSNR in the hole for one case."""
    filled, revealed = oracle_fill(truth, holes)
    sq, count, shown = 0.0, 0, 0
    for f, t, h, r in zip(filled, truth, holes, revealed, strict=True):
        d = f[h].astype(np.float64) - t[h].astype(np.float64)
        sq += float((d * d).sum())
        count += d.size
        shown += int(r.sum())
    pixels = sum(int(h.sum()) for h in holes)
    psnr = 10 * math.log10(255.0**2 / (sq / count)) if count and sq > 0 else float("inf")
    return Ceiling(shown / max(pixels, 1), psnr)
