"""Mask propagation with dense optical flow plus re-segmentation (no weights needed).

Per predicted frame and object:
1. DIS optical flow from the new frame back to the previous one warps the previous soft mask
   (pixels that come from outside the frame get 0, so objects can leave);
2. GrabCut re-segments a band around the warped boundary: the eroded warped mask is definite object,
   everything beyond the dilated one definite background, the band in between is decided by colour
   models learnt on this frame, so the boundary snaps back to the object instead of drifting;
3. a sanity check falls back to the warped mask when the re-segmentation changes the area too much;
4. objects compete per pixel (channel 0 is the background).

Memory is bounded: only the previous frame (grey, working size) and the previous soft masks are kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np


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

    def reset(self, object_ids: Sequence[int]) -> None:
        """Start a new pass for ``object_ids`` (channel ``1 + i`` is ``object_ids[i]``)."""
        ids = [int(i) for i in object_ids]
        if not ids or any(not 1 <= i <= 255 for i in ids) or len(set(ids)) != len(ids):
            raise ValueError(f"object_ids must be distinct ids in 1..255, got {list(object_ids)}")
        self.object_ids = ids
        self._prev_gray = self._prev_soft = self._size = self._small = self._ref_area = None

    # -- public steps -------------------------------------------------------------------------------
    def step(self, frame: np.ndarray, label_map: np.ndarray | None = None) -> np.ndarray:
        """Probabilities ``float32 (1 + K) x H x W`` for ``frame``; with ``label_map`` the frame is a keyframe."""
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
            self._ref_area = (soft > 0.5).sum(axis=(1, 2))
        else:
            if self._prev_gray is None or self._prev_soft is None:
                raise RuntimeError("the first step of a pass needs a label_map (a keyframe's mask)")
            soft = self._predict(small, gray)
        self._prev_gray, self._prev_soft, self._small = gray, soft, small
        return self._probs(soft)

    def memorize(self, label_map: np.ndarray) -> None:
        """Replace the last stepped frame's result with ``label_map`` (a correction) for what follows."""
        if self._small is None:
            raise RuntimeError("memorize(...) needs a frame stepped before it")
        self._prev_soft = self._one_hot(label_map, self._small.shape[:2])
        self._ref_area = (self._prev_soft > 0.5).sum(axis=(1, 2))

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
        sh, sw = gray.shape
        flow = self._dis.calc(gray, self._prev_gray, None)  # new frame -> previous frame
        fwd = self._dis.calc(self._prev_gray, gray, None)  # previous frame -> new frame
        gx, gy = np.meshgrid(np.arange(sw, dtype=np.float32), np.arange(sh, dtype=np.float32))
        mx, my = gx + flow[..., 0], gy + flow[..., 1]
        # forward-backward check: disoccluded pixels (e.g. behind a moving object) are not trusted
        fb = flow + cv2.remap(fwd, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        speed = np.linalg.norm(flow, axis=2)
        consistent = np.linalg.norm(fb, axis=2) <= 1.0 + 0.1 * speed
        soft = np.zeros_like(self._prev_soft)
        bgr = np.ascontiguousarray(small[..., ::-1])
        for k in range(len(self.object_ids)):
            if self._prev_soft[k].sum() < self.config.min_area * 0.5:
                continue
            warped = cv2.remap(self._prev_soft[k], mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            hard = warped > 0.5
            area = int(hard.sum())
            if area < self.config.min_area:
                continue
            trusted = hard & consistent
            motion = float(np.percentile(speed[hard], 90))
            refined = self._resegment(bgr, hard, trusted, motion)
            agree = np.count_nonzero(refined & hard) / max(1, np.count_nonzero(refined | hard))
            if agree < self.config.min_agreement:
                refined = trusted
            if refined.sum() < max(self.config.min_area, self.config.min_area_ratio * self._ref_area[k]):
                continue  # gone (left the frame or fully hidden)
            soft[k] = self._soften(refined)
        return soft

    def _resegment(self, bgr: np.ndarray, hard: np.ndarray, trusted: np.ndarray, motion: float) -> np.ndarray:
        """GrabCut in a band around ``hard`` whose core comes from the ``trusted`` (flow-consistent) part."""
        sh, sw = hard.shape
        area = int(hard.sum())
        r = int(max(self.config.min_band, round(self.config.band * np.sqrt(area)), round(0.5 * motion)))
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        h8 = hard.astype(np.uint8)
        inner = cv2.erode(trusted.astype(np.uint8), k) > 0
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
