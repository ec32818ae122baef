"""Clicks and/or a box -> one object's mask, with OpenCV's GrabCut (no weights needed).

Recipe (at a reduced working size, then upsampled):
1. seeds: positive clicks are definite-foreground discs, negative clicks definite-background discs;
   a box makes everything outside it definite background; a previous mask (``mask_input``) is the
   probable foreground, with definite background beyond a margin around it;
2. with clicks only, initial regions are proposed by flood-filling a mean-shift-smoothed image from
   the clicks at a few colour tolerances (each gives a box), by boxes of a few sizes and shapes centred on
   the clicks (textured objects defeat the flood fill), plus a seeds-only hypothesis;
3. GrabCut on a crop around each proposal; connected components holding a positive click are kept;
4. each candidate is scored by how well its colours separate from a ring of background around it; with
   clicks only the ranking also weighs object-likeness (``ranking.objectness``: clicks well inside, outline on image
   edges, not cut by the border, larger at equal separation), and the best one wins.
A correction (clicks on a previous mask) also runs GrabCut with the region grown from the last click as its seeds
(``geodesic.grow``, as far as the click's distance to the mask's edge), a positive one also in the box around the
mask and that region, and its candidates are ranked by separation times how much of the part under the click they
change (``ranking.click_fill``).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

import cv2
import numpy as np

from tracking.backend import SegmentResult
from tracking.classical.geodesic import grow, take_back
from tracking.classical.ranking import (
    agreement,
    click_depth,
    click_fill,
    consensus,
    demote_merges,
    objectness,
    separation_score,
)

MAX_ADDED = 0.1  # a positive correction on a small mask adds at most this share of the frame
MIN_KEPT = 0.5  # a negative correction keeps at least this share of the mask (the mirror of the 2x positive cap)
GROW_REACH = 1.0  # a correction's grown region: geodesic radius, in multiples of the click's depth


@dataclass(frozen=True)
class GrabCutConfig:
    max_side: int = 480  # working size: the longer side is at most this many pixels
    iterations: int = 4  # GrabCut iterations per candidate
    seed_radius: float = 0.012  # click disc radius, as a fraction of the working long side (min 2 px)
    tolerances: tuple[int, ...] = (10, 18, 28)  # flood-fill colour tolerances for click-only proposals
    box_margin: float = 0.25  # proposal boxes grow by this fraction of their size on each side
    crop_margin: float = 0.3  # GrabCut runs on the box grown by this fraction (local background model)
    cache_size: int = 8  # images kept by ``set_image(..., key=...)``
    box_sizes: tuple[float, ...] = (0.15, 0.28, 0.5)  # click-centred boxes, fractions of the long side
    proposal_pixels: int = 20000  # click-centred proposals run GrabCut on crops reduced to about this many pixels


@dataclass
class _Prepared:
    image: np.ndarray  # full-size RGB
    small: np.ndarray  # working-size RGB
    scale: float  # small = full * scale
    fingerprint: bytes = b""  # hash of ``image``: a cached entry is reused only for the same pixels
    smooth: np.ndarray | None = None  # mean-shift-filtered small image (lazy)
    lab: np.ndarray | None = None  # small image in Lab (lazy)
    grad: np.ndarray | None = None  # normalised Lab gradient magnitude (lazy)


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(
            f"image must be an RGB uint8 H x W x 3 array, got {image.dtype} {image.shape}; convert it first"
        )
    if min(image.shape[:2]) < 8:
        raise ValueError(f"image is too small to segment ({image.shape[1]}x{image.shape[0]}); need 8x8 or more")
    return image


CENTRED = 0.5  # a correction's change must hold its click this deep (share of the change's widest point) ...
REACH = 2.0  # ... else it is cut to a disc this many times the click's depth around the click


def _around_click(change: np.ndarray, click: tuple[int, int]) -> np.ndarray:
    """The part of ``change`` a correction click at ``click`` stands for.

    A user clicks in the middle of what is wrong (the standard protocol clicks the point of the error region
    farthest from its edge, the mask's edge included). So the click should lie about as deep inside the change
    as the change's deepest point; a change that reaches far beyond the click (a click on a cow's thin leg that
    would add the ground around it) is cut to a disc of ``REACH`` times the click's depth around it."""
    x, y = click
    h, w = change.shape
    x, y = min(w - 1, max(0, x)), min(h - 1, max(0, y))
    dist = cv2.distanceTransform(np.pad(change.astype(np.uint8), 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
    depth = float(dist[y, x])
    widest = float(dist.max())
    if widest <= 0 or depth >= CENTRED * widest:
        return change
    r = max(3.0, REACH * depth)
    yy, xx = np.ogrid[:h, :w]
    cut = change & ((xx - x) ** 2 + (yy - y) ** 2 <= r * r)
    n, cc = cv2.connectedComponents(cut.astype(np.uint8), connectivity=8)
    keep = int(cc[y, x]) if cut[y, x] else 0
    return cc == keep if keep else cut


class GrabCutSegmenter:
    """The classical ``Segmenter``: GrabCut seeded from clicks, a box and/or a previous mask."""

    backend = "classical-grabcut"
    device = "cpu"

    def __init__(self, config: GrabCutConfig | None = None) -> None:
        self.config = config or GrabCutConfig()
        self._cache: OrderedDict[object, _Prepared] = OrderedDict()
        self._current: _Prepared | None = None

    # -- image -------------------------------------------------------------------------------------
    def set_image(self, image: np.ndarray, key: object | None = None) -> None:
        """Prepare ``image`` (RGB uint8); with a ``key`` the prepared image is cached for later calls."""
        image = _check_image(image)
        fingerprint = hashlib.blake2b(np.ascontiguousarray(image).data, digest_size=16).digest()
        if key is not None and key in self._cache:
            cached = self._cache[key]
            if cached.fingerprint == fingerprint:  # the same key may name another picture (another clip's frame)
                self._cache.move_to_end(key)
                self._current = cached
                return
        h, w = image.shape[:2]
        scale = min(1.0, self.config.max_side / max(h, w))
        if scale < 1.0:
            size = (max(8, round(w * scale)), max(8, round(h * scale)))
            small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        else:
            small = image.copy()
        prepared = _Prepared(image=image, small=small, scale=small.shape[1] / w, fingerprint=fingerprint)
        self._current = prepared
        if key is not None:
            self._cache[key] = prepared
            while len(self._cache) > self.config.cache_size:
                self._cache.popitem(last=False)

    def _prepared(self) -> _Prepared:
        if self._current is None:
            raise RuntimeError("call set_image(image) before predict(...)")
        p = self._current
        if p.lab is None:
            p.lab = cv2.cvtColor(p.small, cv2.COLOR_RGB2LAB)
        return p

    @staticmethod
    def _gradient(p: _Prepared) -> np.ndarray:
        """Lab gradient magnitude of the working image over its 90th percentile (lazy, cached)."""
        if p.grad is None:
            lab = p.lab.astype(np.float32)
            g2 = np.zeros(lab.shape[:2], np.float32)
            for c in range(3):
                g2 += cv2.Sobel(lab[..., c], cv2.CV_32F, 1, 0) ** 2 + cv2.Sobel(lab[..., c], cv2.CV_32F, 0, 1) ** 2
            g = np.sqrt(g2)
            p.grad = g / (float(np.percentile(g, 90)) + 1e-6)
        return p.grad

    # -- prediction --------------------------------------------------------------------------------
    def predict(
        self,
        points: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask: bool = True,
    ) -> SegmentResult:
        """Segment one object. ``logits`` of the result (the image's size, > 0 = object) can be fed back as
        ``mask_input`` with more clicks to refine it; a boolean mask of any size is accepted there too.
        ``multimask`` lets click-only prompts try several initial regions (the best score wins)."""
        p = self._prepared()
        sh, sw = p.small.shape[:2]
        pts, lbl = self._check_points(points, labels, p)
        bx = self._check_box(box, p)
        prior = full_prior = None
        if mask_input is not None:
            given = np.asarray(mask_input)
            if given.ndim != 2:
                raise ValueError(f"mask_input must be a 2-D mask or logits map, got shape {given.shape}")
            level = 0.5 if given.dtype == bool else 0.0
            m = given.astype(np.float32)
            prior = cv2.resize(m, (sw, sh), interpolation=cv2.INTER_LINEAR) > level
            h, w = p.image.shape[:2]
            full_prior = m > level if m.shape == (h, w) else self._upsample(prior, p)
            if not prior.any():
                prior = full_prior = None
        pos = pts[lbl == 1]
        if bx is None and prior is None and len(pos) == 0:
            raise ValueError("give at least one positive click, a box or a mask: negative clicks alone select nothing")

        seeds = self._seed_map(pts, lbl, (sh, sw))
        candidates: list[np.ndarray] = []
        fallback: np.ndarray | None = None  # a correction's answer when no candidate changes the clicked pixel
        if prior is not None:
            candidates.extend(self._run_prior(p, prior, seeds, bx, pos))
            if bx is not None and len(pts):
                # a correction after a box: the click may say the object reaches beyond the box the user drew
                candidates.extend(self._run_prior(p, prior, seeds, None, pos))
            if len(pts) and lbl[-1] == 1:
                # a positive correction may land on a part whose colours the mask does not hold yet (the white
                # of a black-and-white cow): the region a first click there would give is a candidate too
                new = pts[-1:]
                candidates.extend(prior | m for _, m in self._candidates(p, new, seeds, multimask=False))
            elif len(pts) and lbl[-1] == 0:
                # a negative correction on a spill (the fence beside a car): the mask without the part of it
                # geodesically nearer to the click than to the object's positive clicks is a candidate too
                r = max(2, round(self.config.seed_radius * max(sh, sw)))
                spill = take_back(p.lab, prior, tuple(pts[-1]), pos, r)
                if spill.any():
                    candidates.append(prior & ~spill)
            if len(pts):
                # the part a correction stands for is about as wide as the click's distance to the mask's edge
                # (the user clicks its middle): GrabCut seeded with the region grown that far from the click
                # learns the part's colours
                grown = self._grown(p, prior, tuple(pts[-1]), bool(lbl[-1]))
                if grown is not None:
                    wider = seeds.copy()
                    wider[grown] = int(lbl[-1])
                    candidates.extend(self._run_prior(p, prior, wider, None, pos))
                    fallback = (prior | grown) if lbl[-1] == 1 else (prior & ~grown)
                    if lbl[-1] == 1:
                        # a positive click beyond the mask says the object is larger than the mask, perhaps by
                        # parts of other colours (a cow's white beside its black) that the prior's run keeps out
                        # as definite background: what a box around the mask and the grown part gives is a
                        # candidate too (GrabCut learns the whole box's colours, as for a drawn box)
                        candidates.extend(self._run_box(p, self._around(prior | grown, (sh, sw)), wider, pos,
                                                        self.config.proposal_pixels))
        elif bx is not None:
            candidates.extend(self._run_box(p, bx, seeds, pos))
        else:
            candidates.extend(m for _, m in self._candidates(p, pos, seeds, multimask))
        if prior is not None and len(pts) and lbl[-1] == 1:
            # a positive correction adds the region under the click, not the background around the object: an
            # answer adding more than twice the mask (or a tenth of the frame, for a small mask) is a spill
            cap = max(2.0 * float(prior.sum()), MAX_ADDED * prior.size)
            candidates = [c for c in candidates if float(np.count_nonzero(c & ~prior)) <= cap]
        elif prior is not None and len(pts) and lbl[-1] == 0:
            # a negative correction removes the part under the click, never the object: an answer keeping less
            # than half of the mask has dropped it (a click in the middle of a plain object grows over all of it);
            # with no answer left, the mask stays and only the region under the click is taken out
            keep = MIN_KEPT * float(prior.sum())
            candidates = [c for c in candidates if float(np.count_nonzero(c & prior)) >= keep] or [prior.copy()]
            if fallback is not None and float(np.count_nonzero(fallback)) < keep:
                fallback = None
        scored = [(separation_score(p.lab, c), i, c) for i, c in enumerate(candidates) if c.any()]
        if not scored:
            small_mask = np.zeros((sh, sw), bool)
            score = 0.0
        elif prior is None and bx is None:
            # clicks only: the colour separation alone favours a distinct part (a shirt, a patch) or a region
            # that spills into the background; rank with the object-likeness priors too
            grad = self._gradient(p)
            ranked = [(objectness(sep, grad, c, pos), -i, sep, c) for sep, i, c in scored]
            demoted = demote_merges(ranked, grad, p.lab, pos)
            # the answer is the consensus of the candidates left (a merge demoted above does not vote), each
            # weighted by its score plus its agreement with the others
            kept = [d for d, r in zip(demoted, ranked, strict=True) if d[0] >= r[0]]
            weights = [t[0] + a for t, a in zip(kept, agreement([t[3] for t in kept]), strict=True)]
            _, _, score, small_mask = kept[consensus(weights, [t[3] for t in kept])]
        elif len(pts) and prior is not None:
            # a correction (after clicks or a box) stands for the whole part under the click: weigh separation by
            # how much of it changes
            click, positive = tuple(pts[-1]), bool(lbl[-1])
            ranked = [(sep * click_fill(prior, c, click, positive), -i, sep, c) for sep, i, c in scored]
            if max(t[0] for t in ranked) <= 0:
                if fallback is not None:
                    scored = [(separation_score(p.lab, fallback), len(candidates), fallback)]
                ranked = [(sep, -i, sep, c) for sep, i, c in scored]
            _, _, score, small_mask = max(ranked, key=lambda t: (t[0], t[1]))
        else:
            score, _, small_mask = max(scored, key=lambda t: (t[0], -t[1]))
        if prior is not None and len(pts):
            mask = self._edit(full_prior, prior, small_mask, pts[-1], int(lbl[-1]), p)
        else:
            mask = self._upsample(small_mask, p)
        # logits of the mask returned (not of the raw candidate), at full size: fed back, they give it back exactly
        logits = np.where(mask, 8.0, -8.0).astype(np.float32)
        return SegmentResult(mask=mask, score=float(score), logits=logits)

    # -- helpers -------------------------------------------------------------------------------------
    @staticmethod
    def _check_points(points, labels, p: _Prepared) -> tuple[np.ndarray, np.ndarray]:
        if points is None or len(points) == 0:
            return np.zeros((0, 2), np.float32), np.zeros(0, np.int64)
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if labels is None:
            raise ValueError("points need labels (1 = positive, 0 = negative), one per point")
        lbl = np.asarray(labels).reshape(-1).astype(np.int64)
        if len(lbl) != len(pts):
            raise ValueError(f"got {len(pts)} points but {len(lbl)} labels; give one label per point")
        if not np.isin(lbl, (0, 1)).all():
            raise ValueError(f"labels must be 1 (positive) or 0 (negative), got {sorted(set(lbl.tolist()))}")
        h, w = p.image.shape[:2]
        if (pts[:, 0] < 0).any() or (pts[:, 0] >= w).any() or (pts[:, 1] < 0).any() or (pts[:, 1] >= h).any():
            raise ValueError(f"a click lies outside the {w}x{h} image; points are (x, y) pixels of the image")
        return (pts * p.scale).astype(np.float32), lbl

    @staticmethod
    def _check_box(box, p: _Prepared) -> np.ndarray | None:
        if box is None:
            return None
        b = np.asarray(box, dtype=np.float64).reshape(-1)
        if b.shape != (4,) or not np.isfinite(b).all():
            raise ValueError(f"box must be 4 numbers (x0, y0, x1, y1), got {np.asarray(box).tolist()}")
        h, w = p.image.shape[:2]
        x0, x1 = sorted((float(np.clip(b[0], 0, w)), float(np.clip(b[2], 0, w))))
        y0, y1 = sorted((float(np.clip(b[1], 0, h)), float(np.clip(b[3], 0, h))))
        if x1 - x0 < 2 or y1 - y0 < 2:
            raise ValueError(f"box {b.tolist()} is empty inside the {w}x{h} image; drag a larger box")
        return np.array([x0, y0, x1, y1]) * p.scale

    def _seed_map(self, pts: np.ndarray, lbl: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """``int8`` map: 1 definite FG, 0 definite BG, -1 free."""
        seeds = np.full(shape, -1, np.int8)
        r = max(2, round(self.config.seed_radius * max(shape)))
        for (x, y), lab in zip(pts, lbl, strict=True):
            cv2.circle(seeds, (int(round(x)), int(round(y))), r if lab == 1 else max(2, r // 2), int(lab), -1)
        return seeds

    def _proposals(self, p: _Prepared, pos: np.ndarray, seeds: np.ndarray) -> list[np.ndarray]:
        """Boxes around flood-filled regions of the smoothed image, one per colour tolerance."""
        if p.smooth is None:
            p.smooth = cv2.pyrMeanShiftFiltering(p.small, 8, 16)
        sh, sw = p.small.shape[:2]
        boxes: list[np.ndarray] = []
        for tol in self.config.tolerances:
            region = np.zeros((sh, sw), bool)
            for x, y in pos:
                ff = np.zeros((sh + 2, sw + 2), np.uint8)
                flags = 4 | cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (255 << 8)
                cv2.floodFill(p.smooth.copy(), ff, (int(x), int(y)), (0, 0, 0), (tol,) * 3, (tol,) * 3, flags)
                region |= ff[1:-1, 1:-1] > 0
            region &= seeds != 0
            ys, xs = np.nonzero(region)
            x0, x1 = xs.min(), xs.max() + 1
            y0, y1 = ys.min(), ys.max() + 1
            bw, bh = x1 - x0, y1 - y0
            m = self.config.box_margin
            minside = 0.08 * max(sh, sw)
            bw2, bh2 = max(bw * (1 + 2 * m), minside), max(bh * (1 + 2 * m), minside)
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            b = np.array([cx - bw2 / 2, cy - bh2 / 2, cx + bw2 / 2, cy + bh2 / 2])
            b = np.clip(b, 0, [sw, sh, sw, sh])
            if all(np.abs(b - o).max() > 3 for o in boxes):
                boxes.append(b)
        return boxes

    def _click_boxes(self, pos: np.ndarray, shape: tuple[int, int]) -> list[np.ndarray]:
        """Boxes of a few sizes and shapes centred on the clicks (their mean), for objects whose texture
        defeats the flood fill."""
        sh, sw = shape
        cx, cy = pos.mean(axis=0)
        spread = pos.max(axis=0) - pos.min(axis=0)
        boxes = []
        for f in self.config.box_sizes:
            side = f * max(sh, sw)
            for ax, ay in ((1.0, 1.0), (0.6, 1.5), (1.5, 0.6)):
                bw, bh = side * ax + spread[0], side * ay + spread[1]
                b = np.array([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2])
                boxes.append(np.clip(b, 0, [sw, sh, sw, sh]))
        return boxes

    def _candidates(
        self, p: _Prepared, pos: np.ndarray, seeds: np.ndarray, multimask: bool = True
    ) -> list[tuple[str, np.ndarray]]:
        """Click-only candidate masks: GrabCut from flood-fill boxes, from boxes around the clicks, seeds only."""
        boxes = self._proposals(p, pos, seeds)
        if not multimask:
            boxes = boxes[1:2] or boxes[:1]
        out = [("flood", m) for b in boxes for m in self._run_box(p, b, seeds, pos)]
        if multimask:
            cap = self.config.proposal_pixels
            out += [
                ("click", m) for b in self._click_boxes(pos, seeds.shape) for m in self._run_box(p, b, seeds, pos, cap)
            ]
        out += [("seeds", m) for m in self._run_seeds_only(p, seeds, pos)]
        return out

    def _grabcut(
        self, p: _Prepared, gc_mask: np.ndarray, crop: tuple[int, int, int, int], max_pixels: int | None = None
    ) -> list[np.ndarray]:
        """GrabCut on ``crop``; returns snapshots after 1, 2 and ``iterations`` rounds (GrabCut can
        collapse to all-background on cluttered crops, an earlier snapshot then still holds the object).
        With ``max_pixels`` a larger crop is segmented at a reduced size (a proposal, not the final edge)."""
        x0, y0, x1, y1 = crop
        f = 1.0 if max_pixels is None else min(1.0, float(np.sqrt(max_pixels / max(1, (x1 - x0) * (y1 - y0)))))
        if f < 0.9:
            size = (max(8, round((x1 - x0) * f)), max(8, round((y1 - y0) * f)))
            small = _Prepared(
                image=p.image,
                small=cv2.resize(p.small[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA),
                scale=p.scale,
            )
            sub = cv2.resize(gc_mask[y0:y1, x0:x1], size, interpolation=cv2.INTER_NEAREST)
            out = []
            for snap in self._grabcut(small, sub, (0, 0, size[0], size[1])):
                up = cv2.resize(snap.astype(np.float32), (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR) > 0.5
                full = np.zeros(gc_mask.shape, bool)
                full[y0:y1, x0:x1] = up
                out.append(full)
            return out
        sub = np.ascontiguousarray(gc_mask[y0:y1, x0:x1])
        fg = (sub == cv2.GC_FGD) | (sub == cv2.GC_PR_FGD)
        bg = (sub == cv2.GC_BGD) | (sub == cv2.GC_PR_BGD)
        if not fg.any():
            return []
        if bg.sum() < 16:  # GrabCut needs background samples: the crop's border is probable background
            border = np.ones(sub.shape, bool)
            border[2:-2, 2:-2] = False
            sub[border & (sub != cv2.GC_FGD)] = cv2.GC_PR_BGD
        img = np.ascontiguousarray(p.small[y0:y1, x0:x1, ::-1])
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        keep = {1, 2, self.config.iterations}
        snaps: list[np.ndarray] = []
        mode = cv2.GC_INIT_WITH_MASK
        cv2.setRNGSeed(0)  # GrabCut's k-means init draws from OpenCV's RNG: keep results reproducible
        for it in range(1, self.config.iterations + 1):
            try:
                cv2.grabCut(img, sub, None, bgd, fgd, 1, mode)
            except cv2.error:  # degenerate colour models (e.g. a flat image)
                break
            mode = cv2.GC_EVAL
            if it in keep:
                out = np.zeros(gc_mask.shape, bool)
                out[y0:y1, x0:x1] = (sub == cv2.GC_FGD) | (sub == cv2.GC_PR_FGD)
                snaps.append(out)
        return snaps

    def _crop(self, box: np.ndarray, shape: tuple[int, int]) -> tuple[int, int, int, int]:
        sh, sw = shape
        x0, y0, x1, y1 = box
        mx, my = self.config.crop_margin * (x1 - x0), self.config.crop_margin * (y1 - y0)
        mx, my = max(mx, 8), max(my, 8)
        return (
            int(max(0, np.floor(x0 - mx))),
            int(max(0, np.floor(y0 - my))),
            int(min(sw, np.ceil(x1 + mx))),
            int(min(sh, np.ceil(y1 + my))),
        )

    def _run_box(
        self, p: _Prepared, box: np.ndarray, seeds: np.ndarray, pos: np.ndarray, max_pixels: int | None = None
    ) -> list[np.ndarray]:
        sh, sw = seeds.shape
        gc = np.full((sh, sw), cv2.GC_BGD, np.uint8)
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        gc[y0:y1, x0:x1] = cv2.GC_PR_FGD
        gc[seeds == 1] = cv2.GC_FGD
        gc[seeds == 0] = cv2.GC_BGD
        snaps = self._grabcut(p, gc, self._crop(box, (sh, sw)), max_pixels)
        return [self._finish(m, pos, seeds) for m in snaps]

    def _run_seeds_only(self, p: _Prepared, seeds: np.ndarray, pos: np.ndarray) -> list[np.ndarray]:
        sh, sw = seeds.shape
        gc = np.full((sh, sw), cv2.GC_PR_BGD, np.uint8)
        gc[seeds == 1] = cv2.GC_FGD
        gc[seeds == 0] = cv2.GC_BGD
        return [self._finish(m, pos, seeds) for m in self._grabcut(p, gc, (0, 0, sw, sh))]

    def _run_prior(
        self, p: _Prepared, prior: np.ndarray, seeds: np.ndarray, box: np.ndarray | None, pos: np.ndarray
    ) -> list[np.ndarray]:
        sh, sw = seeds.shape
        region = prior | (seeds == 1)
        ys, xs = np.nonzero(region)
        extent = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)
        size = max(extent[2] - extent[0], extent[3] - extent[1])
        r = int(max(4, 0.15 * size))
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        near = cv2.dilate(region.astype(np.uint8), k) > 0
        gc = np.full((sh, sw), cv2.GC_BGD, np.uint8)
        gc[near] = cv2.GC_PR_BGD
        gc[prior] = cv2.GC_PR_FGD
        if box is not None:
            x0, y0, x1, y1 = (int(round(v)) for v in box)
            keep = np.zeros((sh, sw), bool)
            keep[y0:y1, x0:x1] = True
            gc[~keep] = cv2.GC_BGD
            extent = np.array([max(extent[0], x0), max(extent[1], y0), min(extent[2], x1), min(extent[3], y1)])
        gc[seeds == 1] = cv2.GC_FGD
        gc[seeds == 0] = cv2.GC_BGD
        crop = self._crop(extent, (sh, sw))
        return [self._finish(m, pos, seeds) for m in self._grabcut(p, gc, crop)]

    @staticmethod
    def _finish(mask: np.ndarray, pos: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        """Keep the connected components holding a positive click (else the big ones); fill small holes."""
        mask = mask & (seeds != 0)
        if not mask.any():
            return mask
        n, cc, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
        if len(pos):
            ids = {int(cc[int(round(y)), int(round(x))]) for x, y in pos}
            ids.discard(0)
        else:
            ids = set()
        if not ids:
            areas = stats[1:, cv2.CC_STAT_AREA]
            ids = {i + 1 for i in np.nonzero(areas >= 0.2 * areas.max())[0]}
        mask = np.isin(cc, list(ids))
        # fill holes smaller than 1% of the object
        inv = (~mask).astype(np.uint8)
        n, cc, stats, _ = cv2.connectedComponentsWithStats(inv, connectivity=4)
        limit = 0.01 * mask.sum()
        h, w = mask.shape
        for i in range(1, n):
            x, y, bw, bh, area = stats[i]
            touches = x == 0 or y == 0 or x + bw == w or y + bh == h
            if area <= limit and not touches:
                mask[cc == i] = True
        return mask

    def _around(self, region: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """The box of ``region`` grown by ``box_margin`` of its size on each side, inside the image."""
        sh, sw = shape
        ys, xs = np.nonzero(region)
        x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
        m = self.config.box_margin
        mx, my = m * (x1 - x0), m * (y1 - y0)
        return np.clip(np.array([x0 - mx, y0 - my, x1 + mx, y1 + my], np.float64), 0, [sw, sh, sw, sh])

    @staticmethod
    def _grown(p: _Prepared, prior: np.ndarray, click: tuple[float, float], positive: bool) -> np.ndarray | None:
        """The region a correction click stands for: grown from the click (``geodesic.grow``) on its side of the
        prior, as far as the click's distance to the prior's edge (the user clicks the middle of what is wrong, so
        the part is about that wide where the prior's edge bounds it; an edge of the object nearer to the click
        stops the growth); None when the click is within 2 px of the prior's edge."""
        depth = click_depth(~prior if positive else prior, click)
        if depth < 2.0:
            return None
        region = grow(p.lab, ~prior if positive else prior, click, GROW_REACH * depth)
        return region if region.any() else None

    def _edit(
        self, full_prior: np.ndarray, prior: np.ndarray, answer: np.ndarray, click: np.ndarray, positive: int,
        p: _Prepared,
    ) -> np.ndarray:
        """A click on an existing mask edits it locally: a positive click adds the part of ``answer`` beyond
        ``prior`` that touches the click, a negative one removes the part of ``prior`` it dropped that touches
        the click; the rest of the (full-size) prior is returned unchanged."""
        change = (answer & ~prior) if positive else (prior & ~answer)
        n, cc = cv2.connectedComponents(change.astype(np.uint8), connectivity=8)
        sh, sw = prior.shape
        r = max(2, round(2 * self.config.seed_radius * max(sh, sw)))
        x, y = int(round(float(click[0]))), int(round(float(click[1])))
        near = cc[max(0, y - r) : y + r + 1, max(0, x - r) : x + r + 1]
        ids = [i for i in np.unique(near).tolist() if i]
        if not ids:
            return full_prior.copy()
        region = _around_click(np.isin(cc, ids), (x, y))
        region = self._upsample(region, p)
        return (full_prior | region) if positive else (full_prior & ~region)

    @staticmethod
    def _upsample(mask: np.ndarray, p: _Prepared) -> np.ndarray:
        h, w = p.image.shape[:2]
        if mask.shape == (h, w):
            return mask.copy()
        soft = cv2.GaussianBlur(mask.astype(np.float32), (3, 3), 0.7)
        return cv2.resize(soft, (w, h), interpolation=cv2.INTER_LINEAR) > 0.5
