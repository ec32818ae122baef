"""Mask propagation with dense optical flow plus re-segmentation (no weights needed).

Per predicted frame and object:
0. the object's own shift is found first: masked template matching of its previous appearance (colour,
   at a coarse scale, out-of-frame pixels not counted) around its last place, biased to constant velocity;
1. DIS optical flow from the new frame back to the previous one warps the previous soft mask
   (pixels that come from outside the frame get 0, so objects can leave); for an object that moved, the
   flow runs on a crop around it with the previous frame's crop taken that shift away, so DIS only sees
   the residual (fast objects no longer outrun it); slow objects share the whole frame's flow;
2. GrabCut re-segments a band around the warped boundary: the eroded warped mask is definite object,
   everything beyond the dilated one definite background, the band in between is decided by colour
   models learnt on this frame, so the boundary snaps back to the object instead of drifting; a mask that
   has shrunk below the object's usual (recent median) area gets a band wide enough to grow back to it, so
   parts lost to fast deformation (legs, a tail, a turn) are recovered instead of shrinking for good;
3. a re-segmentation that changes the area too much keeps only the flow-consistent part and what it kept itself
   of the warped mask (unless it regrew a shrunken mask around nearly all of it, up to ``regrow_max`` times);
4. re-detection: when an object's mask falls below ``lost_area`` of its recent median area or falls apart,
   its stored appearances (keyframe, last good frame: colour crop + mask) are template-matched (masked colour
   distance, a few scales) around where it should be and where it was last seen whole; a good match is pasted
   and re-segmented in a band; an object that vanished (hidden, or gone) is searched for at its last good
   place for ``max_lost`` frames, so it comes back when its occluder moves on;
5. objects compete per pixel (channel 0 is the background).

Memory is bounded: the previous frame (grey, working size), the previous soft masks and, per object, the
appearance crops of the pass's keyframes and of its last good frame, and a few recent areas.

A keyframe inside a pass (``step(frame, label_map)`` after other steps: the session replays the frames from
the keyframe before a correction up to it, ``tracking.session.runner``) is where the pass continues from (its
mask and place), and what the pass learnt before it stays: every keyframe's look is a re-detection template and
a colour reference, and the object's recent sizes are kept (its speed is measured again: the pass may turn round
there, a backward pass replays its span forward first), unless the keyframe takes away part
of what the pass predicted there (less than ``regrow_keep`` of the prediction left: a spill removed, the object
cut down), when its size starts again from the keyframe's, so what the user removed does not grow back. A
correction that only adds to the object (a part the tracker had lost) leaves the usual size as it was, and the
mask can grow back to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from tracking.classical.template_match import find_appearance, masked_ssd


@dataclass(frozen=True)
class FlowConfig:
    max_side: int = 480  # flow and re-segmentation run at this long side at most
    band: float = 0.12  # half-width of the uncertain band, as a fraction of sqrt(object area)
    min_band: int = 3  # ... and at least this many working pixels
    grabcut_iterations: int = 2
    min_agreement: float = 0.75  # re-segmentation kept only when its IoU with the warped mask reaches this
    min_area: int = 8  # objects smaller than this (working pixels) are considered gone
    min_area_ratio: float = 0.03  # ... or smaller than this share of their area on the last keyframe
    edge_soft: float = 1.0  # Gaussian sigma (working px) of the output probabilities' edges
    search: float = 0.5  # the object's own motion is searched this fraction of its size around its last place
    search_min: int = 12  # ... and at least this many working pixels
    match_side: int = 48  # template matching runs with the object's long side at most this many pixels
    jump_penalty: float = 4.0  # matching cost grows by this times (shift change / object size) squared
    lost_area: float = 0.6  # re-detect when the area falls below this share of the recent median area
    fragmented: float = 0.7  # ... or the largest piece holds less than this share of the mask
    redetect_score: float = 0.5  # a stored appearance must match at least this well (1 / (1 + (rms / redetect_rms)^2))
    redetect_rms: float = 20.0  # RMS colour difference (grey levels) at which a match scores 0.5
    redetect_scales: tuple[float, ...] = (0.6, 0.75, 0.9, 1.0, 1.1, 1.3, 1.6)
    redetect_inside: float = 0.5  # a match may lie partly outside the frame when this share of it is inside
    history: int = 8  # recent good areas kept per object
    max_lost: int = 150  # a vanished object is searched for at its last good place for this many frames
    grow_below: float = 0.9  # a mask below this share of the object's usual area gets a band wide enough to regrow
    regrow_keep: float = 0.85  # ... and its regrown mask is kept when it holds this share of the warped one
    regrow_max: float = 1.3  # ... and stays below this many times the usual area
    same_look: float = 0.5  # colour-histogram (Bhattacharyya) distance up to which a mask still shows the object
    stranger_min: float = 0.1  # pieces of a split mask holding this share of it are judged by colour and motion:
    left_behind: float = 0.35  # ... one that moved less than this share of the object's shift is dropped
    left_behind_speed: float = 3.0  # ... when the object moves at least this many working px per frame


# where the pixels of a flow crop came from: (x0, y0, per-pixel previous -> current motion of the crop at x0, y0)
Displacement = tuple[int, int, np.ndarray] | None


def _check_frame(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"frame must be an RGB uint8 H x W x 3 array, got {frame.dtype} {frame.shape}")
    return frame


class FlowPropagator:
    """The classical ``Propagator``: DIS optical flow + GrabCut band re-segmentation."""

    backend = "classical-flow"
    device = "cpu"

    def __init__(self, config: FlowConfig | None = None) -> None:
        self.config = config or FlowConfig()
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        self.object_ids: list[int] = []
        self._prev_gray: np.ndarray | None = None
        self._prev_soft: np.ndarray | None = None  # K x h x w float32 at working size
        self._size: tuple[int, int] | None = None  # full (width, height)
        self._small: np.ndarray | None = None  # last working-size frame
        self._ref_area: np.ndarray | None = None  # per object: area on the last keyframe (working px)
        self._full_flow: tuple[np.ndarray, np.ndarray] | None = None  # this frame's (backward, forward) flow
        self._cur_small: np.ndarray | None = None  # the frame being predicted (working size)
        self._velocity: list[tuple[int, int]] = []  # per object: its last shift (working px per frame)
        # re-detection memory, per object: the pass's keyframe appearances (oldest first) and the last good one
        # (RGB crop, mask crop), recent good areas (working px)
        self._key_app: list[list[tuple[np.ndarray, np.ndarray]]] = []
        self._look: list[list[np.ndarray]] = []  # per object: colour histograms on the pass's keyframes
        self._good_app: list[tuple[np.ndarray, np.ndarray] | None] = []
        self._areas: list[list[int]] = []
        # per object: centre (x, y) and velocity of the last good frame, frames since it was last seen
        self._anchor: list[tuple[float, float] | None] = []
        self._good_velocity: list[tuple[int, int]] = []
        self._lost: list[int] = []

    def reset(self, object_ids: Sequence[int]) -> None:
        """Start a new pass for ``object_ids`` (channel ``1 + i`` is ``object_ids[i]``)."""
        ids = [int(i) for i in object_ids]
        if not ids or any(not 1 <= i <= 255 for i in ids) or len(set(ids)) != len(ids):
            raise ValueError(f"object_ids must be distinct ids in 1..255, got {list(object_ids)}")
        self.object_ids = ids
        self._velocity = [(0, 0)] * len(ids)
        self._key_app = [[] for _ in ids]
        self._look = [[] for _ in ids]
        self._good_app = [None] * len(ids)
        self._areas = [[] for _ in ids]
        self._anchor = [None] * len(ids)
        self._good_velocity = [(0, 0)] * len(ids)
        self._lost = [0] * len(ids)
        self._prev_gray = self._prev_soft = self._size = self._small = self._ref_area = None

    # -- public steps -------------------------------------------------------------------------------
    def step(self, frame: np.ndarray, label_map: np.ndarray | None = None) -> np.ndarray:
        """Probabilities ``float32 (1 + K) x H x W`` for ``frame``; with ``label_map`` the frame is a keyframe
        (keyframes stepped before it in this pass stay its memory)."""
        if not self.object_ids:
            raise RuntimeError("call reset(object_ids) before step(...)")
        frame = _check_frame(frame)
        h, w = frame.shape[:2]
        if self._size is not None and self._size != (w, h):
            raise ValueError(f"frame size {w}x{h} differs from the pass's {self._size[0]}x{self._size[1]}; reset first")
        self._size = (w, h)
        small = self._to_small(frame)
        gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        if label_map is not None:
            soft = self._one_hot(label_map, small.shape[:2])
            predicted = None
            if self._prev_gray is not None and self._prev_soft is not None:  # a keyframe inside the pass
                self._cur_small = small
                predicted = self._predict(small, gray)
            # the pass may turn round at a keyframe (a backward pass replays its span forward first): the speed
            # is measured again from here
            self._velocity = [(0, 0)] * len(self.object_ids)
            self._ref_area = (soft > 0.5).sum(axis=(1, 2))
            self._remember_keyframe(small, soft, predicted)
        else:
            if self._prev_gray is None or self._prev_soft is None:
                raise RuntimeError("the first step of a pass needs a label_map (a keyframe's mask)")
            self._cur_small = small
            soft = self._predict(small, gray)
        self._prev_gray, self._prev_soft, self._small = gray, soft, small
        return self._probs(soft)

    def memorize(self, label_map: np.ndarray) -> None:
        """Replace the last stepped frame's result with ``label_map`` (a refinement) for what follows.

        The map becomes each object's latest good look, place and size; its keyframes' looks and sizes are
        kept: a refinement that holds only part of the object, or more than it, must not redefine it."""
        if self._small is None:
            raise RuntimeError("memorize(...) needs a frame stepped before it")
        self._prev_soft = self._one_hot(label_map, self._small.shape[:2])
        for k in range(len(self.object_ids)):
            hard = self._prev_soft[k] > 0.5
            app = self._appearance(self._small, hard)
            if app is None:
                continue
            self._good_app[k] = app
            self._anchor[k] = self._centre(hard)
            self._lost[k] = 0
            self._areas[k].append(int(hard.sum()))
            del self._areas[k][: -self.config.history]

    # -- internals ----------------------------------------------------------------------------------
    def _to_small(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        s = min(1.0, self.config.max_side / max(h, w))
        if s >= 1.0:
            return frame
        return cv2.resize(frame, (max(8, round(w * s)), max(8, round(h * s))), interpolation=cv2.INTER_AREA)

    def _one_hot(self, label_map: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        lm = np.asarray(label_map)
        w, h = self._size
        if lm.ndim != 2 or lm.shape != (h, w):
            raise ValueError(f"label_map must be H x W = {h} x {w} like the frame, got shape {lm.shape}")
        soft = np.zeros((len(self.object_ids), *shape), np.float32)
        for k, oid in enumerate(self.object_ids):
            m = (lm == oid).astype(np.float32)
            soft[k] = cv2.resize(m, (shape[1], shape[0]), interpolation=cv2.INTER_AREA) if m.shape != shape else m
        return soft

    def _predict(self, small: np.ndarray, gray: np.ndarray) -> np.ndarray:
        soft = np.zeros_like(self._prev_soft)
        bgr = np.ascontiguousarray(small[..., ::-1])
        self._full_flow = None
        for k in range(len(self.object_ids)):
            prev = self._prev_soft[k]
            if prev.sum() < self.config.min_area * 0.5:
                found = self._recover(k, small, bgr)
                if found is not None:
                    soft[k] = self._soften(found)
                continue
            shift = self._object_shift(k, gray) if not self._occluded(k, prev) else self._good_velocity[k]
            warped, consistent, motion, displacement = self._warp_object(k, gray, shift)
            hard = warped > 0.5
            area = int(hard.sum())
            if area < self.config.min_area:
                self._velocity[k] = (0, 0)
                continue
            self._velocity[k] = self._measured_motion(hard, shift, displacement)
            trusted = hard & consistent  # disoccluded pixels (e.g. behind a moving object) are not trusted
            usual = float(np.median(self._areas[k])) if self._areas[k] else float(area)
            grow = max(0.0, np.sqrt(usual) - np.sqrt(area)) if area < self.config.grow_below * usual else 0.0
            refined = self._resegment(bgr, hard, trusted, motion, grow)
            agree = np.count_nonzero(refined & hard) / max(1, np.count_nonzero(refined | hard))
            kept = np.count_nonzero(refined & hard) / max(1, area)
            regrown = grow > 0 and kept >= self.config.regrow_keep and refined.sum() <= self.config.regrow_max * usual
            if agree < self.config.min_agreement and not regrown:
                refined = trusted | (refined & hard)
            refined = self._drop_strays(k, small, refined, shift, displacement)
            learn = grow == 0 or agree >= self.config.min_agreement
            refined = self._check_and_redetect(k, small, bgr, refined, hard, learn=learn)
            if refined.sum() < max(self.config.min_area, self.config.min_area_ratio * self._ref_area[k]):
                self._lost[k] = 1
                continue  # gone (left the frame or fully hidden): searched for at its last good place
            soft[k] = self._soften(refined)
        return soft

    def _occluded(self, k: int, prev: np.ndarray) -> bool:
        """True when object ``k``'s last mask is much smaller than its recent good ones (partly hidden):
        the visible remnant's own motion is then unreliable and the last good velocity is used instead."""
        areas = self._areas[k]
        return bool(areas) and float((prev > 0.5).sum()) < self.config.lost_area * float(np.median(areas))

    def _recover(self, k: int, small: np.ndarray, bgr: np.ndarray) -> np.ndarray | None:
        """Look for a vanished object at its last good place (where a hidden object reappears once its
        occluder moves on); its mask, re-segmented, or ``None``."""
        if self._anchor[k] is None or not 0 < self._lost[k] <= self.config.max_lost:
            return None
        self._lost[k] += 1
        found = self._redetect(k, small, [self._anchor[k]])
        if found is None:
            return None
        adjusted = self._resegment(bgr, found, found, 0.0)
        lo = self.config.lost_area
        if not lo * found.sum() <= adjusted.sum() <= found.sum() / lo:
            adjusted = found
        self._lost[k] = 0
        self._velocity[k] = (0, 0)
        return adjusted

    # -- re-detection memory ------------------------------------------------------------------------
    @staticmethod
    def _appearance(small: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        ys, xs = np.nonzero(mask)
        if len(xs) < 8:
            return None
        x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
        return small[y0:y1, x0:x1].astype(np.float32), mask[y0:y1, x0:x1].astype(np.uint8)

    def _remember_keyframe(self, small: np.ndarray, soft: np.ndarray, predicted: np.ndarray | None) -> None:
        """A keyframe becomes each object's latest look, place and size; the pass's earlier keyframes stay in
        memory (looks). ``predicted`` (a keyframe inside the pass: what the pass predicted on it) decides the
        sizes: kept, with the keyframe's added, when the keyframe holds at least ``regrow_keep`` of the
        prediction; otherwise (part of the prediction taken away) they start again from the keyframe's.
        An object with no pixels here has no last good look or place."""
        for k in range(len(self.object_ids)):
            hard = soft[k] > 0.5
            app = self._appearance(small, hard)
            self._good_app[k] = app
            self._anchor[k] = self._centre(hard) if app is not None else None
            self._good_velocity[k] = (0, 0)
            self._lost[k] = 0
            if app is None:
                continue
            self._key_app[k].append(app)
            self._look[k].append(self._histogram(*app))
            area = int(hard.sum())
            if predicted is not None and self._holds(hard, predicted[k] > 0.5):
                self._areas[k].append(area)
                del self._areas[k][: -self.config.history]
            else:
                self._areas[k] = [area]

    def _holds(self, mask: np.ndarray, predicted: np.ndarray) -> bool:
        """Whether ``mask`` keeps at least ``regrow_keep`` of ``predicted`` (nothing predicted: trivially)."""
        n = int(predicted.sum())
        return n == 0 or np.count_nonzero(mask & predicted) >= self.config.regrow_keep * n

    def _check_and_redetect(
        self, k: int, small: np.ndarray, bgr: np.ndarray, refined: np.ndarray, warped: np.ndarray, learn: bool = True
    ) -> np.ndarray:
        """Keep object ``k``'s recent good appearance; when its mask shrinks or falls apart, search for the
        stored appearances (keyframe, last good frame) around where it should be and paste the best match.

        ``learn=False`` (a mask regrown from a shrunken one: its size is plausible but not yet proven) keeps
        the stored appearance and place unchanged, so a mask that grew onto something else cannot replace them.
        """
        areas = self._areas[k]
        if not areas:
            return refined
        cfg = self.config
        med = float(np.median(areas))
        area = int(refined.sum())
        largest = 0
        if area:
            n, _, stats, _ = cv2.connectedComponentsWithStats(refined.astype(np.uint8), connectivity=8)
            largest = int(stats[1:, cv2.CC_STAT_AREA].max()) if n > 1 else 0
        ok = area >= cfg.lost_area * med and largest >= cfg.fragmented * area
        if ok:
            app = self._appearance(small, refined) if learn and 0.8 * med <= area <= 1.5 * med else None
            if app is not None and self._looks_like(k, *app):  # it becomes the recent appearance
                self._good_app[k] = app
                self._anchor[k] = self._centre(refined)
                self._good_velocity[k] = self._velocity[k]
                areas.append(area)
                del areas[: -cfg.history]
            return refined
        where = warped if warped.any() else refined
        centres = [self._centre(where)] if where.any() else []
        if self._anchor[k] is not None:
            centres.append(self._anchor[k])  # a partly hidden object often stays where it was last seen whole
        found = self._redetect(k, small, centres)
        if found is None:
            return refined
        adjusted = self._resegment(bgr, found, found, 0.0)
        if not cfg.lost_area * found.sum() <= adjusted.sum() <= found.sum() / cfg.lost_area:
            adjusted = found
        return adjusted if adjusted.sum() > area else refined

    @staticmethod
    def _histogram(crop: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """A coarse RGB colour histogram (8 bins per channel, sums to 1) of ``crop`` under ``mask``."""
        rgb = np.ascontiguousarray(crop.astype(np.uint8))
        h = cv2.calcHist([rgb], [0, 1, 2], mask.astype(np.uint8), [8, 8, 8], [0, 256] * 3)
        return cv2.normalize(h, None, norm_type=cv2.NORM_L1)

    def _looks_like(self, k: int, crop: np.ndarray, mask: np.ndarray) -> bool:
        """Whether the colours of ``crop`` under ``mask`` are close to object ``k``'s on one of the pass's
        keyframes: a mask of a plausible size on something else (an occluder, the background) must not become
        its look."""
        if not self._look[k]:
            return True
        here = self._histogram(crop, mask)
        distance = min(cv2.compareHist(here, look, cv2.HISTCMP_BHATTACHARYYA) for look in self._look[k])
        return distance <= self.config.same_look

    @staticmethod
    def _measured_motion(mask: np.ndarray, shift: tuple[int, int], displacement: Displacement) -> tuple[int, int]:
        """The object's motion this frame: the median of the flow's displacement over its warped mask (the
        template shift corrected by the residual), so a shift that overshot does not become the velocity."""
        if displacement is None:
            return shift
        x0, y0, disp = displacement
        h, w = disp.shape[:2]
        inside = mask[y0 : y0 + h, x0 : x0 + w]
        if not inside.any():
            return shift
        mx, my = np.median(disp[inside], axis=0)
        return (int(round(float(mx))), int(round(float(my))))

    def _drop_strays(
        self, k: int, small: np.ndarray, mask: np.ndarray, shift: tuple[int, int], displacement: Displacement
    ) -> np.ndarray:
        """Drop the pieces of a split mask that are not object ``k``: what the mask had spread onto (a person
        the object brushed past) shows when the two part. Besides the largest piece (always kept), a piece
        holding at least ``stranger_min`` of the mask is dropped when its colours are not the object's (on its
        seed keyframe), or when it stayed where it was while the largest piece moved on with the object."""
        n, cc, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
        if n <= 2:
            return mask
        areas = stats[1:, cv2.CC_STAT_AREA]
        largest = 1 + int(np.argmax(areas))
        speed = float(np.hypot(*shift))
        direction = np.array(shift, np.float32) / max(speed, 1e-6)

        def moved(piece_id: int) -> float | None:  # the piece's mean motion along the object's, in working px
            if displacement is None or speed < self.config.left_behind_speed:
                return None
            x0, y0, disp = displacement
            h, w = disp.shape[:2]
            piece = cc[y0 : y0 + h, x0 : x0 + w] == piece_id
            if piece.sum() < 0.5 * areas[piece_id - 1]:
                return None  # mostly outside the flow's crop: its motion is unknown
            return float((disp[piece] @ direction).mean())

        behind = self.config.left_behind * speed
        carried = moved(largest)
        body_moved = carried is not None and carried >= behind
        drop = []
        for i in 1 + np.flatnonzero(areas >= self.config.stranger_min * areas.sum()):
            if i == largest:
                continue
            x, y, w, h = stats[i, :4]
            if not self._looks_like(k, small[y : y + h, x : x + w], cc[y : y + h, x : x + w] == i):
                drop.append(i)
            elif body_moved and (along := moved(i)) is not None and along < behind:
                drop.append(i)
        return mask & ~np.isin(cc, drop) if drop else mask

    @staticmethod
    def _centre(mask: np.ndarray) -> tuple[float, float]:
        ys, xs = np.nonzero(mask)
        return float(xs.mean()), float(ys.mean())

    def _redetect(self, k: int, small: np.ndarray, centres: Sequence[tuple[float, float]]) -> np.ndarray | None:
        """Object ``k``'s stored appearances (last good frame first, then the pass's keyframes, latest first)
        matched around ``centres`` (where it should be): ``template_match.find_appearance``."""
        apps = [app for app in (self._good_app[k], *reversed(self._key_app[k])) if app is not None]
        return find_appearance(small, apps, centres, self.config)

    def _object_shift(self, k: int, gray: np.ndarray) -> tuple[int, int]:
        """The object's own displacement (dx, dy) from the previous frame to ``gray``, in whole working pixels.

        Template matching of the object's previous appearance (masked, so the background it moved over does
        not count) in a search window around its previous place; a shift barely better than the predicted
        one (constant velocity) loses to it, so flat objects do not jitter.
        """
        sh, sw = gray.shape
        hard = self._prev_soft[k] > 0.5
        ys, xs = np.nonzero(hard)
        if len(xs) < self.config.min_area:
            return (0, 0)
        x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
        size = max(x1 - x0, y1 - y0)
        vx, vy = self._velocity[k]
        reach = int(max(self.config.search_min, self.config.search * size, 1.5 * np.hypot(vx, vy)))
        f = min(1.0, self.config.match_side / size)  # match at a coarse scale: speed, and robust to deformation
        prev_rgb = self._small  # the previous working-size frame: colour tells the object from its surroundings
        cur_rgb = self._cur_small
        tpl = prev_rgb[y0:y1, x0:x1].astype(np.float32)
        msk = hard[y0:y1, x0:x1].astype(np.uint8)
        # the window is padded with "unknown" (validity 0): the part of the object that would lie outside the
        # frame does not count, so an object can leave; replicated border pixels would hold it back instead
        pads = (max(0, reach - y0), max(0, y1 + reach - sh), max(0, reach - x0), max(0, x1 + reach - sw))
        crop = cur_rgb[max(0, y0 - reach) : y1 + reach, max(0, x0 - reach) : x1 + reach].astype(np.float32)
        win = cv2.copyMakeBorder(crop, *pads, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        valid = cv2.copyMakeBorder(np.ones(crop.shape[:2], np.float32), *pads, cv2.BORDER_CONSTANT, value=0)
        if f < 1.0:
            tsz = (max(4, round(tpl.shape[1] * f)), max(4, round(tpl.shape[0] * f)))
            wsz = (round(win.shape[1] * f), round(win.shape[0] * f))
            tpl = cv2.resize(tpl, tsz, interpolation=cv2.INTER_AREA)
            msk = (cv2.resize(msk * 255, tsz, interpolation=cv2.INTER_AREA) > 127).astype(np.uint8)
            win = cv2.resize(win, wsz, interpolation=cv2.INTER_AREA)
            valid = cv2.resize(valid, wsz, interpolation=cv2.INTER_AREA)
        if msk.sum() < 4 or win.shape[0] < tpl.shape[0] or win.shape[1] < tpl.shape[1]:
            return (0, 0)
        # masked SSD over the valid pixels only: sum v*m*(I - T)^2 / sum v*m, from four correlations
        m = msk.astype(np.float32)
        num, n = masked_ssd(win, valid, tpl, m)
        cost = num / np.maximum(n, 1e-6)
        known = n >= 0.15 * m.sum()
        if not known.any():
            return (int(round(vx)), int(round(vy)))
        # the part of the object a shift puts outside the frame is unknown: it counts as matching as well as
        # the predicted shift does (not as a perfect match, which let a shift that pushes most of the object
        # out of the frame win on the sliver left inside)
        px, py = round(vx * f + reach * f), round(vy * f + reach * f)
        inside = 0 <= py < cost.shape[0] and 0 <= px < cost.shape[1] and known[py, px]
        reference = float(cost[py, px]) if inside else float(np.median(cost[known]))
        total_mask = float(m.sum())
        cost = (num + reference * np.maximum(total_mask - n, 0.0)) / total_mask
        # a shift far from the predicted one (constant velocity) must be clearly better: similar-looking
        # background or an occluder passing in front should not pull the object away
        oy, ox = np.mgrid[0 : cost.shape[0], 0 : cost.shape[1]].astype(np.float32)
        jump = np.hypot(ox / f - reach - vx, oy / f - reach - vy) / size
        total = cost * (1.0 + self.config.jump_penalty * jump**2) + 16.0
        cy, cx = np.unravel_index(int(np.argmin(total)), total.shape)
        best = float(total[cy, cx])
        dx, dy = cx / f - reach, cy / f - reach
        if 0 <= py < cost.shape[0] and 0 <= px < cost.shape[1] and total[py, px] <= 1.15 * best:
            dx, dy = vx, vy
        return (int(round(dx)), int(round(dy)))

    def _warp_object(
        self, k: int, gray: np.ndarray, shift: tuple[int, int]
    ) -> tuple[np.ndarray, np.ndarray, float, Displacement]:
        """Warp object ``k``'s previous soft mask to ``gray``: DIS flow on a crop around the object, with the
        previous frame's crop taken ``shift`` away, so only the residual (deformation) is left to the flow.

        Returns the warped soft mask, the forward-backward consistency map, the residual motion (90th
        percentile, working px) inside the object and the crop's displacement (``None`` when nothing was warped)."""
        sh, sw = gray.shape
        dx, dy = shift
        ys, xs = np.nonzero(self._prev_soft[k] > 0.5)
        size = max(xs.max() - xs.min(), ys.max() - ys.min()) + 1
        m = int(max(32, 0.5 * size))  # DIS needs context around a small object
        x0, x1 = max(0, int(xs.min()) + dx - m), min(sw, int(xs.max()) + 1 + dx + m)
        y0, y1 = max(0, int(ys.min()) + dy - m), min(sh, int(ys.max()) + 1 + dy + m)
        warped = np.zeros((sh, sw), np.float32)
        consistent = np.zeros((sh, sw), bool)
        box_area = (int(xs.max()) - int(xs.min()) + 1 + 2 * m) * (int(ys.max()) - int(ys.min()) + 1 + 2 * m)
        if (dx, dy) == (0, 0) or max(0, x1 - x0) * max(0, y1 - y0) < 0.5 * box_area:
            # slow, or leaving the frame (the flow then sends its pixels outside, where they are dropped):
            # the whole frame's flow, shared by all objects and with all the context DIS can use
            if self._full_flow is None:
                self._full_flow = (
                    self._dis.calc(gray, self._prev_gray, None),
                    self._dis.calc(self._prev_gray, gray, None),
                )
            flow, fwd = self._full_flow
            x0, y0, x1, y1, dx, dy = 0, 0, sw, sh, 0, 0
        else:
            if x1 - x0 < 8 or y1 - y0 < 8:  # the shifted object lies outside the frame
                return warped, consistent, 0.0, None
            cur = np.ascontiguousarray(gray[y0:y1, x0:x1])
            pc = cv2.copyMakeBorder(
                self._prev_gray[max(0, y0 - dy) : max(0, y1 - dy), max(0, x0 - dx) : max(0, x1 - dx)],
                max(0, dy - y0),
                max(0, y1 - dy - sh),
                max(0, dx - x0),
                max(0, x1 - dx - sw),
                cv2.BORDER_REPLICATE,
            )
            pc = np.ascontiguousarray(pc[: y1 - y0, : x1 - x0])
            flow = self._dis.calc(cur, pc, None)  # new crop -> previous (shifted) crop
            fwd = self._dis.calc(pc, cur, None)
        ch, cw = flow.shape[:2]
        gx, gy = np.meshgrid(np.arange(cw, dtype=np.float32), np.arange(ch, dtype=np.float32))
        mx, my = gx + flow[..., 0], gy + flow[..., 1]
        fb = flow + cv2.remap(fwd, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        speed = np.linalg.norm(flow, axis=2)
        consistent[y0:y1, x0:x1] = np.linalg.norm(fb, axis=2) <= 1.0 + 0.1 * speed
        warped[y0:y1, x0:x1] = cv2.remap(
            self._prev_soft[k], mx + (x0 - dx), my + (y0 - dy), cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
        )
        inside = warped[y0:y1, x0:x1] > 0.5
        motion = float(np.percentile(speed[inside], 90)) if inside.any() else 0.0
        return warped, consistent, motion, (x0, y0, np.float32([dx, dy]) - flow)

    def _resegment(
        self, bgr: np.ndarray, hard: np.ndarray, trusted: np.ndarray, motion: float, grow: float = 0.0
    ) -> np.ndarray:
        """GrabCut in a band around ``hard`` whose core comes from the ``trusted`` (flow-consistent) part;
        ``grow`` widens the band (working px) for a mask that has shrunk below the object's usual size."""
        sh, sw = hard.shape
        area = int(hard.sum())
        r = int(max(self.config.min_band, round(self.config.band * np.sqrt(area) + grow), round(0.5 * motion)))
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        h8 = hard.astype(np.uint8)
        inner = cv2.erode(trusted.astype(np.uint8), k) > 0
        if not inner.any():  # a thin object (or one just entering): keep a core so GrabCut has a model
            inner = cv2.erode(trusted.astype(np.uint8), None) > 0
        outer = cv2.dilate(h8, k) > 0
        gc = np.full((sh, sw), cv2.GC_BGD, np.uint8)
        gc[outer] = cv2.GC_PR_BGD
        gc[hard] = cv2.GC_PR_FGD
        gc[hard & ~trusted] = cv2.GC_PR_BGD
        gc[inner] = cv2.GC_FGD
        ys, xs = np.nonzero(outer)
        m = 2 * r
        x0, x1 = max(0, xs.min() - m), min(sw, xs.max() + 1 + m)
        y0, y1 = max(0, ys.min() - m), min(sh, ys.max() + 1 + m)
        sub = np.ascontiguousarray(gc[y0:y1, x0:x1])
        if not ((sub == cv2.GC_BGD) | (sub == cv2.GC_PR_BGD)).any():
            return hard
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        try:
            cv2.setRNGSeed(0)  # GrabCut's k-means init draws from OpenCV's RNG: keep results reproducible
            cv2.grabCut(
                np.ascontiguousarray(bgr[y0:y1, x0:x1]),
                sub,
                None,
                bgd,
                fgd,
                self.config.grabcut_iterations,
                cv2.GC_INIT_WITH_MASK,
            )
        except cv2.error:
            return hard
        out = np.zeros((sh, sw), bool)
        out[y0:y1, x0:x1] = (sub == cv2.GC_FGD) | (sub == cv2.GC_PR_FGD)
        # drop specks far from the main body: keep components that overlap the confident core
        n, cc = cv2.connectedComponents(out.astype(np.uint8), connectivity=8)
        if n > 2:
            keep = np.unique(cc[inner & out])
            keep = keep[keep > 0]
            if len(keep):
                out = np.isin(cc, keep)
        return out

    def _soften(self, mask: np.ndarray) -> np.ndarray:
        m = mask.astype(np.float32)
        s = self.config.edge_soft
        if s > 0:
            m = cv2.GaussianBlur(m, (0, 0), s)
        return m

    def _probs(self, soft: np.ndarray) -> np.ndarray:
        w, h = self._size
        k = soft.shape[0]
        out = np.empty((1 + k, h, w), np.float32)
        for i in range(k):
            s = soft[i]
            out[1 + i] = cv2.resize(s, (w, h), interpolation=cv2.INTER_LINEAR) if s.shape != (h, w) else s
        np.clip(out[1:], 0.0, 1.0, out=out[1:])
        out[0] = np.prod(1.0 - out[1:], axis=0)
        total = out.sum(axis=0, keepdims=True)
        out /= np.maximum(total, 1e-6)
        return out
