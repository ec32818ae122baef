"""Cues that rank the classical segmenter's candidate masks beyond colour separation.

- ``click_fill``: a correction click stands for a part the mask got wrong, and a user clicks in the middle of
  it. The click's distance to the mask's edge says how wide that part is at least (the part fills a disc of
  about that radius around the click, unless the object's edge is nearer), so a candidate whose change holds the
  click this deep stands for the whole part; one that adds a sliver at the click does not.
- ``consensus``: of a click-only ranking, the candidate nearest to the score-weighted vote of all candidates,
  each score raised by the candidate's agreement with the others (its mean IoU with them). The proposals come
  from different starts (flood fills, boxes of several sizes, the seeds alone); a region many of them reach
  is more likely the object than one a single start produced, and the single best-scored candidate flips
  between unrelated answers when the click moves by a pixel, where the vote changes smoothly.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

VOTE_TEMPERATURE = 0.2  # spread of the softmax over candidate scores in the consensus vote


def _depth(mask: np.ndarray, x: int, y: int) -> float:
    """Distance from ``(x, y)`` to the nearest pixel outside ``mask`` (the image border counts as outside)."""
    if not mask[y, x]:
        return 0.0
    dist = cv2.distanceTransform(np.pad(mask.astype(np.uint8), 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
    return float(dist[y, x])


def click_depth(mask: np.ndarray, click: tuple[float, float]) -> float:
    """Distance from ``click`` (x, y, rounded into the image) to the nearest pixel outside ``mask``."""
    h, w = mask.shape
    return _depth(mask, min(w - 1, max(0, int(round(click[0])))), min(h - 1, max(0, int(round(click[1])))))


def click_fill(prior: np.ndarray, candidate: np.ndarray, click: tuple[float, float], positive: bool) -> float:
    """How much of the part a correction click stands for ``candidate`` changes, in [0, 1]: the click's depth
    in the candidate's change (what it adds for a positive click, removes for a negative one; the connected
    piece at the click) over the click's distance to the edge of ``prior`` on its side."""
    h, w = prior.shape
    x, y = min(w - 1, max(0, int(round(click[0])))), min(h - 1, max(0, int(round(click[1]))))
    change = (candidate & ~prior) if positive else (prior & ~candidate)
    if not change[y, x]:
        return 0.0
    n, cc = cv2.connectedComponents(change.astype(np.uint8), connectivity=8)
    piece = cc == cc[y, x]
    dist = cv2.distanceTransform(np.pad(piece.astype(np.uint8), 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
    depth = float(dist[y, x])
    wanted = _depth(~prior if positive else prior, x, y)
    # the click is the middle of the part: as deep as the mask's edge is far, and the deepest point of the change
    return float(np.sqrt(min(1.0, depth / max(wanted, 1.0))) * depth / max(float(dist.max()), 1e-6))


def agreement(masks: Sequence[np.ndarray]) -> np.ndarray:
    """Each mask's mean IoU with all of ``masks`` (itself included)."""
    flat = np.stack([np.asarray(m, bool).reshape(-1) for m in masks]).astype(np.float32)
    inter = flat @ flat.T
    area = flat.sum(axis=1)
    union = area[:, None] + area[None, :] - inter
    return (inter / np.maximum(union, 1.0)).mean(axis=1)


def consensus(scores: Sequence[float], masks: Sequence[np.ndarray]) -> int:
    """Index of the mask nearest (soft IoU) to the vote of ``masks`` weighted by the softmax of ``scores`` (the
    caller adds each mask's ``agreement`` to its score first)."""
    s = np.asarray(scores, np.float64)
    weights = np.exp((s - s.max()) / VOTE_TEMPERATURE)
    weights /= weights.sum()
    vote = np.zeros(masks[0].shape, np.float32)
    for wgt, m in zip(weights, masks, strict=True):
        vote += np.float32(wgt) * m
    near = [float(np.minimum(vote, m).sum() / max(np.maximum(vote, m).sum(), 1e-6)) for m in masks]
    return int(np.argmax(near))
