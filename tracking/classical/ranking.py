"""Cues that rank the classical segmenter's candidate masks.

- ``separation_score``: how well a mask's colours separate from a ring of background around it;
- ``objectness``: a click-only candidate's rank: separation weighted by priors on what a clicked object is;
- ``demote_merges``: a candidate that glues a smaller one to a look-alike neighbour ranks below it;
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


def _quantize(lab: np.ndarray, bins: int = 12) -> np.ndarray:
    q = (lab.astype(np.int32) * bins) >> 8
    return (q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]


def separation_score(lab: np.ndarray, mask: np.ndarray, bins: int = 12) -> float:
    """How well ``mask``'s colours separate from a ring of background around it, in [0, 1].

    Colour histograms of the mask and of the ring give a per-pixel posterior; the score is the mean
    posterior of the right class on both sides, mapped so that chance (0.5) gives 0.
    """
    area = int(mask.sum())
    if area == 0 or area == mask.size:
        return 0.0
    r = int(max(3, 0.2 * np.sqrt(area)))
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    ring = (cv2.dilate(mask.astype(np.uint8), k) > 0) & ~mask
    if not ring.any():
        return 0.0
    return _colour_separation(lab, mask, ring, bins)


def _centred(mask: np.ndarray, pos: np.ndarray) -> float:
    """How deep inside ``mask`` the clicks lie: distance to its edge over its largest such distance."""
    h, w = mask.shape
    dist = cv2.distanceTransform(np.pad(mask.astype(np.uint8), 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
    if not len(pos):
        return 0.0
    inside = np.mean([dist[min(h - 1, round(float(y))), min(w - 1, round(float(x)))] for x, y in pos])
    return float(inside / max(float(dist.max()), 1e-6))


def objectness(separation: float, grad: np.ndarray, mask: np.ndarray, pos: np.ndarray) -> float:
    """Rank of a click-only candidate: colour ``separation`` weighted by priors on what a clicked object is.

    - the clicks lie well inside it (distance to its edge relative to its widest point);
    - its outline follows image edges (mean ``grad`` on the outline, ``grad`` normalised by the image's);
    - it is not cut by the image border (share of the outline on the border);
    - larger is better at equal separation (a distinct part of an object loses to the whole object).
    """
    h, w = mask.shape
    m8 = mask.astype(np.uint8)
    dist = cv2.distanceTransform(np.pad(m8, 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
    inside = (
        np.mean([dist[min(h - 1, round(float(y))), min(w - 1, round(float(x)))] for x, y in pos]) if len(pos) else 0
    )
    centred = float(inside / max(float(dist.max()), 1e-6))
    outline = (cv2.dilate(m8, None) - cv2.erode(m8, None)) > 0
    edge = float(np.clip(grad[outline].mean(), 0.0, 2.0)) if outline.any() else 0.0
    on_border = int(mask[0].sum() + mask[-1].sum() + mask[:, 0].sum() + mask[:, -1].sum())
    perimeter = sum(cv2.arcLength(c, True) for c in cv2.findContours(m8, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[0])
    border = min(1.0, on_border / max(perimeter, 1.0))
    area = max(float(mask.mean()), 1e-4)
    return separation * (0.2 + centred) ** 0.5 * (1.0 - border) * (0.3 + edge) + 0.2 * float(np.log10(area))


def _colour_separation(lab: np.ndarray, a: np.ndarray, b: np.ndarray, bins: int = 12) -> float:
    """How well two regions' colours tell them apart, in [0, 1] (0: same colours, as for ``separation_score``)."""
    if not a.any() or not b.any():
        return 1.0
    q = _quantize(lab, bins)
    n = bins**3
    ha = np.bincount(q[a], minlength=n).astype(np.float64) + 0.5
    hb = np.bincount(q[b], minlength=n).astype(np.float64) + 0.5
    ha /= ha.sum()
    hb /= hb.sum()
    post = ha / (ha + hb)
    s = 0.5 * post[q[a]].mean() + 0.5 * (1.0 - post[q[b]]).mean()
    return float(np.clip(2.0 * (s - 0.5), 0.0, 1.0))


def demote_merges(ranked: list[tuple], grad: np.ndarray, lab: np.ndarray, pos: np.ndarray) -> list[tuple]:
    """Demote a candidate that merely contains a smaller one plus a neighbour across a strong edge.

    A small object next to a similar-looking one (a dark dog against a person's legs) separates poorly
    from its ring, so the merged region outscores it. When a smaller candidate lies inside a larger one
    and the seam between them (the small one's outline inside the large one) is as strong an image edge
    as the large one's own outline, the large one is two things glued together and is ranked below.
    """
    out = list(ranked)
    order = sorted(range(len(out)), key=lambda j: int(out[j][3].sum()))
    for bi in order:
        big = out[bi][3]
        b8 = big.astype(np.uint8)
        b_area = int(b8.sum())
        b_outline = (cv2.dilate(b8, None) - cv2.erode(b8, None)) > 0
        b_edge = float(grad[b_outline].mean()) if b_outline.any() else 0.0
        interior = cv2.erode(b8, None, iterations=2) > 0
        for si in order:
            small = out[si][3]
            s_area = int(small.sum())
            if s_area * 1.6 > b_area or s_area < 0.004 * small.size or not 0.0 < out[si][0] < out[bi][0]:
                continue
            if np.count_nonzero(small & big) < 0.9 * s_area:
                continue
            s8 = small.astype(np.uint8)
            seam = ((cv2.dilate(s8, None) - cv2.erode(s8, None)) > 0) & interior
            if np.count_nonzero(seam) < 0.25 * np.sqrt(s_area) or float(grad[seam].mean()) < 0.7 * b_edge:
                continue
            if _centred(small, pos) < _centred(big, pos) + 0.15:
                continue  # the click is as central in the large one: the small one is a part of it
            if _colour_separation(lab, small, big & ~small) > 0.55:
                continue  # a distinct part of one object (a swan's neck, a shirt), not a look-alike neighbour
            out[bi] = (min(out[bi][0], 0.95 * out[si][0]), *out[bi][1:])
            break
    return out
