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
outside each group of the mask (steps that would read the mask left out): the median group's ratio was
0.60-1.38 on every exact hole and caption of the removal benchmark and 1.42-6.29 on every soft-edged layer
(docs/benchmarks.md, "Removal quality, eighth round"). A group whose ratio reaches ``HaloConfig.ratio`` keeps
the wide guard, and so does a stretch of any outline where the ratio is high locally, and a group whose first
ring varies much more than the background a few px further out (a mask whose edge zigzags in and out of its
object's). The others get the narrow one. The classical fill asks this only of a mask that stays put (an
overlay); a moving mask is a tracked object's, never exact, and keeps the wide guard (``inpaint.classical``).
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
    # a stretch of the outline (the ring within ``local_sigma`` px) whose ratio reaches ``local_ratio`` keeps the
    # wide guard too, whatever its group (with the two group checks: 0-25 % of an exact hole's outline kept, mean
    # 8 %; 0-12 % of a caption's, mean 1 %; 85-100 % of a soft-edged layer's; ``benchmarks.halo_check``)
    local_sigma: float = 12.0
    local_ratio: float = 2.0
    # the first ring varying ``busy`` times more than the ring ``far`` px out is a halo too (a mask whose edge
    # zigzags across its object's): the largest group of an exact hole 0.71-1.56, the demo's tracked mask 1.53-3.77
    busy: float = 1.5
    far: int = 4


def _disk(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


class _Ring:
    """The first ring of pixels outside the mask, with the change across the outline and along it at each."""

    def __init__(self, frame: np.ndarray, mask: np.ndarray) -> None:
        m = mask.astype(np.uint8)
        self.shape = m.shape
        dist = cv2.distanceTransform(1 - m, cv2.DIST_L2, 5)
        ys, xs = np.nonzero((dist > 0.5) & (dist <= 1.5))
        # the outward normal: the gradient of the distance to the mask, read at the ring's pixels only
        nx = (dist[ys, np.minimum(xs + 1, m.shape[1] - 1)] - dist[ys, np.maximum(xs - 1, 0)]).astype(np.float32)
        ny = (dist[np.minimum(ys + 1, m.shape[0] - 1), xs] - dist[np.maximum(ys - 1, 0), xs]).astype(np.float32)
        norm = np.sqrt(nx * nx + ny * ny)
        good = norm > 1e-3
        self.ys, self.xs = ys[good], xs[good]
        nx, ny = nx[good] / norm[good], ny[good] / norm[good]
        img = frame.astype(np.float32)
        inside = m.astype(np.float32)
        fx, fy = self.xs.astype(np.float32), self.ys.astype(np.float32)

        def sample(image: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
            out = cv2.remap(image, (fx + dx).reshape(-1, 1), (fy + dy).reshape(-1, 1), cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
            return out.reshape(len(fx), -1)

        if len(fx):
            # a step that reads the mask (along the outline at a corner, across it into a nearby part) measures
            # what the mask covers, not what lies beside it: such ring pixels are left out
            clear = (sample(inside, nx, ny)[:, 0] == 0) & (sample(inside, -ny, nx)[:, 0] == 0)
            here = img[self.ys, self.xs]
            self.across = np.abs(sample(img, nx, ny) - here).max(axis=1)[clear]  # one pixel outwards
            self.along = np.abs(sample(img, -ny, nx) - here).max(axis=1)[clear]  # one pixel along the outline
            self.ys, self.xs = self.ys[clear], self.xs[clear]
        else:
            self.across = self.along = np.zeros(0, np.float32)

    def group_ratios(self, labels: np.ndarray, count: int, min_ring: int) -> np.ndarray:
        """The across / along ratio of each group (index = label; NaN: too few ring pixels to judge)."""
        n, sum_across, sum_along = self.group_sums(labels, count)
        ratios = np.full(count, np.nan, np.float64)
        judged = n >= min_ring
        ratios[judged] = sum_across[judged] / np.maximum(sum_along[judged], 0.5 * n[judged])
        ratios[0] = np.nan
        return ratios

    def group_sums(self, labels: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per group (index = label): the ring pixels, and the sums of their across and along changes."""
        group = labels[self.ys, self.xs]
        return (np.bincount(group, minlength=count), np.bincount(group, self.across, minlength=count),
                np.bincount(group, self.along, minlength=count))

    def mean_change(self, labels: np.ndarray, count: int) -> np.ndarray:
        """Per group: the mean change across plus along the outline (NaN where the group has no ring pixel)."""
        n, sum_across, sum_along = self.group_sums(labels, count)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, (sum_across + sum_along) / n, np.nan)

    def local_halo(self, sigma: float, ratio: float) -> np.ndarray:
        """Bool per ring pixel: the across / along ratio of the ring around it (Gaussian-weighted, ``sigma`` px)
        reaches ``ratio``: a stretch of the outline with an edge beside it, in a group whose edge is clean
        overall (a tracked mask a pixel too tight along one side of its object)."""
        if len(self.ys) == 0:
            return np.zeros(0, bool)
        pad = int(3 * sigma) + 1
        y0, x0 = max(int(self.ys.min()) - pad, 0), max(int(self.xs.min()) - pad, 0)
        y1, x1 = min(int(self.ys.max()) + pad + 1, self.shape[0]), min(int(self.xs.max()) + pad + 1, self.shape[1])
        # both maps are smooth at this scale: averaged into cells of 4 x 4 px, blurred there, read per cell
        f = 4
        cells = np.zeros((-(-(y1 - y0) // f), -(-(x1 - x0) // f), 2), np.float32)
        cy, cx = (self.ys - y0) // f, (self.xs - x0) // f
        np.add.at(cells, (cy, cx, 0), self.across)
        np.add.at(cells, (cy, cx, 1), self.along)
        cells = cv2.GaussianBlur(cells, (0, 0), sigma / f)
        near = cells[cy, cx]
        return near[:, 0] >= ratio * np.maximum(near[:, 1], 1e-3)


def _groups(mask: np.ndarray, cfg: HaloConfig) -> tuple[int, np.ndarray]:
    return cv2.connectedComponents(cv2.dilate(mask.astype(np.uint8), _disk(cfg.join)))


@dataclass
class EdgeJudgement:
    """What the check saw beside a mask, per group (index = label; 0 is off the groups) and per ring pixel."""

    labels: np.ndarray  # H x W int32: the mask's groups (parts within ``join`` px), 0 elsewhere
    ratios: np.ndarray  # per group: across / along on the first ring (NaN: too few ring pixels to judge)
    busy: np.ndarray  # per group: the first ring's variation / the ring ``far`` px out (NaN: no ring pixels)
    wide_group: np.ndarray  # per group: keeps the wide guard (a halo, too small to judge, or a busy ring)
    ring_ys: np.ndarray  # the first ring's pixels...
    ring_xs: np.ndarray
    ring_local: np.ndarray  # ...whether its stretch of outline has a strong edge beside it...
    ring_wide: np.ndarray  # ...and whether it keeps the wide guard (its group's verdict, or its stretch's)


def judge_edges(frame: np.ndarray, mask: np.ndarray, cfg: HaloConfig = HaloConfig()) -> EdgeJudgement:
    """Judge the edge of each group of ``mask`` (bool) on ``frame`` (RGB uint8); see the module's docstring."""
    count, labels = _groups(mask, cfg)
    ring = _Ring(frame, mask)
    ratios = ring.group_ratios(labels, count, cfg.min_ring)
    outer = _Ring(frame, cv2.dilate(mask.astype(np.uint8), _disk(cfg.far - 1)) > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        busy = ring.mean_change(labels, count) / np.maximum(outer.mean_change(labels, count), 0.5)
    wide_group = ~(ratios < cfg.ratio) | (busy >= cfg.busy)  # NaN (not judged) counts as a halo
    local = ring.local_halo(cfg.local_sigma, cfg.local_ratio)
    ring_wide = wide_group[labels[ring.ys, ring.xs]] | local
    return EdgeJudgement(labels, ratios, busy, wide_group, ring.ys, ring.xs, local, ring_wide)


def unknown_region(frame: np.ndarray, mask: np.ndarray, clean: int, halo: int,
                   cfg: HaloConfig = HaloConfig()) -> np.ndarray:
    """Bool H x W: ``mask`` grown by ``halo`` px around groups whose edge shows a halo (or that are too small to
    judge) and along stretches of any outline with a strong edge beside them, by ``clean`` px elsewhere: the
    pixels the fill must not trust."""
    return grown_regions(frame, mask, (clean,), halo, cfg)[0]


def grown_regions(frame: np.ndarray, mask: np.ndarray, cleans: tuple[int, ...], halo: int,
                  cfg: HaloConfig = HaloConfig()) -> list[np.ndarray]:
    """``unknown_region`` for each of ``cleans`` (px around a clean edge), the edge judged once: the fill's
    temporal sources and its spatial fill may start at different distances from a clean edge."""
    mask = mask.astype(bool)
    if not mask.any():
        return [np.zeros(mask.shape, bool) for _ in cleans]
    wide_all = cv2.dilate(mask.astype(np.uint8), _disk(max(halo, 0))) > 0
    if all(c >= halo for c in cleans):
        return [wide_all for _ in cleans]
    judged = judge_edges(frame, mask, cfg)
    wide = mask & judged.wide_group[judged.labels]
    guarded = np.zeros(mask.shape, bool)
    if wide.any():
        guarded |= cv2.dilate(wide.astype(np.uint8), _disk(max(halo, 0))) > 0
    local = judged.ring_local
    if local.any():  # the ring pixels are 1 px out: grown by ``halo - 1`` they reach as far as the wide guard
        seeds = np.zeros(mask.shape, np.uint8)
        seeds[judged.ring_ys[local], judged.ring_xs[local]] = 1
        guarded |= cv2.dilate(seeds, _disk(max(halo - 1, 0))) > 0
    out = []
    for clean in cleans:
        if clean >= halo:
            out.append(wide_all)
        else:
            out.append(guarded | (cv2.dilate((mask & ~wide).astype(np.uint8), _disk(max(clean, 0))) > 0))
    return out
