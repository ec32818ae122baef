"""Finding an object again after a cut, or saying it is not there.

Nothing is propagated across a cut (``tracking.session``), so an object prompted in one shot is looked for in
every other shot where the user gave it no prompt of its own. A *finder* gets the object's appearance (its
keyframe masks on their frames, and its latest look in an earlier shot: ``tracking.session.shots``) and the
shot's frames, and answers :class:`Found`: the first frame of the shot
where it is, with its mask there (which then seeds propagation through the shot), or ``frame=None``: absent,
and the object gets an empty mask on every frame of the shot.

Two finders:

- :class:`AppearanceFinder` (classical, no weights): masked colour template matching of every stored
  appearance over the whole frame, at several scales, at a coarse size (the template's long side
  ``match_side`` pixels), on a few frames of the shot. A match must pass three tests to count as the object:
  its masked colour difference is small (``min_score``), its colour histogram is the object's
  (``max_look``), and it stands out from what surrounds it the way the object did on its keyframe
  (``min_contrast``: a dark blob on a dark background is not a black swan on water). Anything else is absent.
- :class:`ReadoutFinder` (memory networks, XMem): the XMem design. A pass is seeded with the object's
  keyframes and its latest look in an earlier shot (its memory holds what it looked like there) and steps onto
  the new shot's first frame (then a few more spread over the shot), reading that memory out with no other frame
  in between; the object is found where the readout is confident (mean probability inside its mask
  ``min_confidence``) and its size plausible. Its thresholds are not calibrated: only synthetic weights here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from tracking.backend import Propagator, probs_to_labels
from tracking.classical.template_match import masked_ssd

View = tuple[np.ndarray, np.ndarray]  # (RGB uint8 frame, bool mask of the object on it): one stored appearance


@dataclass(frozen=True)
class Found:
    """A finder's answer for one object in one shot."""

    frame: int | None  # the frame it was found on; None: absent from the shot
    mask: np.ndarray | None  # bool H x W on that frame
    score: float  # the confidence of the best match seen (found or not), in [0, 1]


class Finder(Protocol):
    """Looks for one object (``views``: where it was prompted) on ``candidates`` (frame indices, in order)."""

    backend: str
    probes: int  # frames of a shot searched at most

    def find(self, views: Sequence[View], frames: Sequence[np.ndarray], candidates: Sequence[int]) -> Found:
        """The first candidate frame where the object is, with its mask; or absent."""


def probe_frames(start: int, end: int, count: int) -> list[int]:
    """At most ``count`` frames of the shot ``start .. end - 1`` to search, the first one first, evenly spread."""
    n = end - start
    if n <= 0:
        return []
    step = max(1, -(-n // max(1, count)))
    return list(range(start, end, step))


@dataclass(frozen=True)
class FindConfig:
    """Settings of the classical finder (see the module docstring; measured by ``python -m benchmarks.shots``)."""

    match_side: int = 48  # matching runs with the template's long side at most this many pixels
    scales: tuple[float, ...] = (0.5, 0.6, 0.7, 0.85, 1.0, 1.2, 1.4, 1.7, 2.0)
    match_rms: float = 20.0  # RMS colour difference (grey levels) at which a match scores 0.5
    # The three tests, from matching the true first mask of four DAVIS objects (blackswan, car-roundabout, dog,
    # breakdance) on later frames of their clip and on two frames of every other clip: the swan 25-45 frames on
    # scores 0.42-0.61, look 0.11-0.20, contrast 0.93-0.96; the best match of any object on another clip scores
    # 0.07-0.38, and every one above 0.3 fails look (> 0.43) or contrast (< 0.56). A tracked mask (the latest
    # look) holds some background, so it scores lower on the object than a true mask (a car: 0.33, at the right
    # place): the score only has to rule out the unlike, the colour tests decide. Objects that changed a lot
    # since they were last seen (a dancer, a car seen from its other side) still fall below it: marked absent,
    # and flagged, rather than guessed.
    min_score: float = 0.3  # a match scores at least this ...
    max_look: float = 0.35  # ... its colour histogram is this close to the object's (Bhattacharyya distance) ...
    min_contrast: float = 0.7  # ... and it differs from its surroundings at least this share as much as the object
    ring: float = 0.25  # the surroundings: a ring this share of the object's size around it
    probes: int = 8  # frames of a shot searched at most


def _histogram(image: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """A normalised 8x8x8 RGB histogram of ``image`` under ``mask`` (None when the mask is empty)."""
    if not mask.any():
        return None
    hist = cv2.calcHist([np.ascontiguousarray(image)], [0, 1, 2], mask.astype(np.uint8), [8, 8, 8], [0, 256] * 3)
    return cv2.normalize(hist, None, norm_type=cv2.NORM_L1)


def _distance(a: np.ndarray | None, b: np.ndarray | None) -> float:
    if a is None or b is None:
        return 1.0
    return float(cv2.compareHist(a, b, cv2.HISTCMP_BHATTACHARYYA))


def looks_alike(a: View, b: View, max_distance: float = 0.35) -> bool:
    """Whether two appearances of an object have the same colours (Bhattacharyya distance of their RGB
    histograms): a tracked mask that slid onto something else must not become a look to search for."""
    return _distance(_histogram(*a), _histogram(*b)) <= max_distance


def _ring(mask: np.ndarray, share: float) -> np.ndarray:
    """The band of pixels around ``mask``, ``share`` of its size (sqrt of its area) wide."""
    r = max(2, round(share * np.sqrt(mask.sum())))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return (cv2.dilate(mask.astype(np.uint8), kernel) > 0) & ~mask


@dataclass
class _Model:
    """One stored appearance, prepared for matching."""

    template: np.ndarray  # float32 RGB crop of the object's bounding box
    mask: np.ndarray  # float32 crop of its mask
    look: np.ndarray  # colour histogram of the object
    contrast: float  # colour distance between the object and its surroundings on its keyframe


class AppearanceFinder:
    """The classical finder: the object's stored appearance matched over the whole frame, at several scales."""

    backend = "classical-appearance"

    def __init__(self, config: FindConfig | None = None) -> None:
        self.config = config or FindConfig()
        self.probes = self.config.probes

    def _model(self, view: View) -> _Model | None:
        image, mask = view
        mask = np.asarray(mask, bool)
        ys, xs = np.nonzero(mask)
        if len(xs) < 16:
            return None
        x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
        look = _histogram(image, mask)
        contrast = _distance(look, _histogram(image, _ring(mask, self.config.ring)))
        return _Model(image[y0:y1, x0:x1].astype(np.float32), mask[y0:y1, x0:x1].astype(np.float32), look, contrast)

    def match(self, views: Sequence[View], image: np.ndarray) -> tuple[float, np.ndarray | None]:
        """The best match of any stored appearance on ``image``: its score (0 when it fails a test) and mask."""
        cfg = self.config
        h, w = image.shape[:2]
        best: tuple[float, np.ndarray | None] = (0.0, None)
        for model in filter(None, (self._model(v) for v in views)):
            f = min(1.0, cfg.match_side / max(model.template.shape[:2]))
            small = cv2.resize(image, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
            small = small.astype(np.float32)
            valid = np.ones(small.shape[:2], np.float32)
            for sc in cfg.scales:
                th, tw = round(model.template.shape[0] * f * sc), round(model.template.shape[1] * f * sc)
                if th < 4 or tw < 4 or th > small.shape[0] or tw > small.shape[1]:
                    continue
                tpl = cv2.resize(model.template, (tw, th), interpolation=cv2.INTER_AREA)
                msk = cv2.resize(model.mask, (tw, th), interpolation=cv2.INTER_AREA)
                if msk.sum() < 8:
                    continue
                num, n = masked_ssd(small, valid, tpl, msk)
                rms = np.sqrt(num / np.maximum(3.0 * n, 1e-6))
                py, px = np.unravel_index(int(np.argmin(rms)), rms.shape)
                score = 1.0 / (1.0 + (float(rms[py, px]) / cfg.match_rms) ** 2)
                if score <= best[0] or score < cfg.min_score:
                    continue
                found = self._paste(model, sc, px / f, py / f, (h, w))
                if found is not None and self._looks_like(model, image, found):
                    best = (score, found)
        return best

    @staticmethod
    def _paste(model: _Model, scale: float, x: float, y: float, shape: tuple[int, int]) -> np.ndarray | None:
        """The stored mask at ``scale``, its top-left corner at ``(x, y)`` (full-size pixels)."""
        mh, mw = (max(1, round(s * scale)) for s in model.mask.shape)
        m = cv2.resize(model.mask, (mw, mh), interpolation=cv2.INTER_LINEAR) > 0.5
        out = np.zeros(shape, bool)
        x0, y0 = round(x), round(y)
        x1, y1 = min(shape[1], x0 + mw), min(shape[0], y0 + mh)
        if x1 <= x0 or y1 <= y0:
            return None
        out[y0:y1, x0:x1] = m[: y1 - y0, : x1 - x0]
        return out if out.sum() >= 16 else None

    def _looks_like(self, model: _Model, image: np.ndarray, mask: np.ndarray) -> bool:
        """The colour tests: the object's colours, standing out from the surroundings as the object did."""
        here = _histogram(image, mask)
        if _distance(model.look, here) > self.config.max_look:
            return False
        around = _distance(here, _histogram(image, _ring(mask, self.config.ring)))
        return around >= self.config.min_contrast * model.contrast

    def find(self, views: Sequence[View], frames: Sequence[np.ndarray], candidates: Sequence[int]) -> Found:
        best = 0.0
        for t in candidates:
            score, mask = self.match(views, frames[t])
            best = max(best, score)
            if mask is not None:
                return Found(t, mask, score)
        return Found(None, None, best)


@dataclass(frozen=True)
class ReadoutConfig:
    """Settings of the memory-readout finder (not calibrated: no real XMem checkpoint on the build machine)."""

    min_confidence: float = 0.7  # mean probability inside the read-out mask
    area_range: tuple[float, float] = (0.1, 10.0)  # its area against the mean keyframe area
    probes: int = 3  # frames of the shot read out: its first, then spread over it


class ReadoutFinder:
    """The XMem finder: a pass seeded with the object's stored appearances reads its memory out on the new shot's
    first frame, then a few more of it (the pass never steps through the frames between shots)."""

    backend = "memory-readout"

    def __init__(self, factory: Callable[[], Propagator], config: ReadoutConfig | None = None) -> None:
        self.factory = factory
        self.config = config or ReadoutConfig()
        self.probes = self.config.probes

    def find(self, views: Sequence[View], frames: Sequence[np.ndarray], candidates: Sequence[int]) -> Found:
        views = [(img, np.asarray(m, bool)) for img, m in views if np.asarray(m).any()]
        if not views:
            return Found(None, None, 0.0)
        propagator = self.factory()
        propagator.reset([1])
        for image, mask in views:
            propagator.step(image, mask.astype(np.uint8))
        area = float(np.mean([m.sum() for _, m in views]))
        lo, hi = self.config.area_range
        best = 0.0
        for t in list(candidates)[: self.probes]:
            probs = np.asarray(propagator.step(frames[t]), np.float32)
            mask = probs_to_labels(probs, [1]) == 1
            confidence = float(probs[1][mask].mean()) if mask.any() else 0.0
            best = max(best, confidence)
            if confidence >= self.config.min_confidence and lo * area <= mask.sum() <= hi * area:
                return Found(t, mask, confidence)
        return Found(None, None, best)


def finder_for(propagator: Propagator, factory: Callable[[], Propagator]) -> Finder:
    """The finder that suits a propagator: XMem reads its memory out; every other backend matches appearance."""
    if getattr(propagator, "backend", "") == "xmem":
        return ReadoutFinder(factory)
    return AppearanceFinder()
