"""Classical removal: background-motion-guided temporal fill, then spatial inpainting (no weights needed).

For every frame whose mask is not empty:
1. check inputs; load the frames of a bounded window around it (``+- window``), never the whole clip;
2. estimate the background motion from this frame to each neighbour, nearest first: corners outside the
   (dilated) masks tracked with pyramidal Lucas-Kanade, a RANSAC homography (strong for pans, tilts and
   zooms; the previous neighbour's homography seeds the tracking of the next one);
3. for each hole pixel, copy the colour from the nearest frames where its background point is visible
   (outside that frame's dilated mask), blending up to ``candidates`` of them with a median;
4. pixels never visible in the window are filled spatially (OpenCV Telea);
5. the fill is pasted back with ``inpaint.paste.paste_back`` (dilated, feathered), so pixels outside the
   dilated mask are bit-identical to the input.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from inpaint.paste import paste_back


@dataclass(frozen=True)
class ClassicalConfig:
    window: int = 12  # neighbours searched on each side of the frame being filled
    candidates: int = 3  # colours blended per hole pixel (median)
    dilate: int = 4  # paste-back dilation of the mask (px); the fill covers it
    feather: int = 4  # paste-back feather (px)
    guard: int = 6  # extra dilation of the neighbours' masks: object halos are never copied
    max_corners: int = 500
    min_inliers: int = 12
    ransac_px: float = 2.0
    inpaint_radius: int = 5
    enough: float = 0.995  # stop searching neighbours once this share of the hole has all its candidates


def _disk(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def _sample(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear colours of ``img`` at float points (``cv2.remap`` maps are limited to 32767 columns)."""
    out = np.empty((len(x), img.shape[2]), img.dtype)
    step = 32000
    for s in range(0, len(x), step):
        xs, ys = x[s : s + step].astype(np.float32), y[s : s + step].astype(np.float32)
        out[s : s + step] = cv2.remap(img, xs[None], ys[None], cv2.INTER_LINEAR)[0]
    return out


class _Window:
    """Frames, grey frames and masks of a bounded range of indices, loaded lazily, evicted when left behind."""

    def __init__(self, frames: Sequence[np.ndarray], masks: Sequence[np.ndarray], guard: int) -> None:
        self.frames, self.masks, self.guard = frames, masks, guard
        self._items: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
        self.shape: tuple[int, int] | None = None
        self.homs: dict[tuple[int, int], np.ndarray] = {}  # (i, j) -> homography from frame i into frame j

    def get(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(frame, grey, mask, mask dilated by guard) of frame ``i``."""
        if i not in self._items:
            frame = np.asarray(self.frames[i])
            if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
                raise ValueError(f"frame {i} must be RGB uint8 H x W x 3, got {frame.dtype} {frame.shape}")
            mask = np.asarray(self.masks[i]).astype(bool)
            if mask.shape != frame.shape[:2]:
                raise ValueError(
                    f"mask {i} has shape {mask.shape} but frame {i} is {frame.shape[:2]}; masks must match frames"
                )
            if self.shape is None:
                self.shape = frame.shape[:2]
            elif frame.shape[:2] != self.shape:
                raise ValueError(f"frame {i} is {frame.shape[:2]}, not {self.shape} like the others; resize first")
            grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
            grown = cv2.dilate(mask.astype(np.uint8), _disk(self.guard)) > 0 if mask.any() else mask
            self._items[i] = (frame, grey, mask, grown)
        return self._items[i]

    def evict_before(self, i: int) -> None:
        for k in [k for k in self._items if k < i]:
            del self._items[k]
        for key in [key for key in self.homs if min(key) < i]:
            del self.homs[key]


class ClassicalInpainter:
    """The classical ``Inpainter``: homography-guided temporal fill + Telea spatial fill + feathered paste."""

    backend = "classical"
    device = "cpu"

    def __init__(self, config: ClassicalConfig | None = None) -> None:
        self.config = config or ClassicalConfig()

    def __call__(
        self,
        frames: Sequence[np.ndarray],
        masks: Sequence[np.ndarray],
        sink: Callable[[int, np.ndarray], None],
        *,
        skip: frozenset[int] = frozenset(),
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        """Fill every masked frame and hand it to ``sink``; frames with an empty mask go out unchanged.

        Frames in ``skip`` (already written) are not recomputed; they are emitted only when their mask is empty.
        """
        n = len(frames)
        if len(masks) != n:
            raise ValueError(f"got {n} frames but {len(masks)} masks; give one mask per frame")
        win = _Window(frames, masks, self.config.guard)
        k = self.config.window
        for i in range(n):
            win.evict_before(i - k)
            frame, _, mask, _ = win.get(i)
            if not mask.any():
                sink(i, frame.copy())
            elif i not in skip:
                sink(i, self.fill_frame(i, win, n))
            if progress is not None:
                progress(i + 1, n)

    # -- one frame ----------------------------------------------------------------------------------
    def fill_frame(self, i: int, win: _Window, n: int) -> np.ndarray:
        frame, grey, mask, grown = win.get(i)
        cfg = self.config
        hole = cv2.dilate(mask.astype(np.uint8), _disk(cfg.dilate + 1)) > 0
        h, w = mask.shape
        ys, xs = np.nonzero(hole)
        acc = np.zeros((cfg.candidates, len(ys), 3), np.float32)
        count = np.zeros(len(ys), np.int32)
        feat_mask = (cv2.dilate(grown.astype(np.uint8), _disk(4)) == 0).astype(np.uint8)
        pts = cv2.goodFeaturesToTrack(grey, cfg.max_corners, 0.005, 6, mask=feat_mask, blockSize=5)
        if pts is not None and len(pts) >= cfg.min_inliers:
            homs: dict[int, np.ndarray] = {}
            order = sorted(
                (j for j in range(max(0, i - cfg.window), min(n, i + cfg.window + 1)) if j != i),
                key=lambda j: (abs(j - i), j),
            )
            for j in order:
                if (count >= cfg.candidates).mean() >= cfg.enough:
                    break
                hom = win.homs.get((j, i))
                if hom is not None:  # frame j was filled from frame i earlier: invert that estimate
                    hom = np.linalg.inv(hom)
                else:
                    prev = homs.get(j - 1 if j > i else j + 1)
                    hom = self._homography(pts, grey, win.get(j)[1], win.get(j)[3], prev)
                if hom is None:
                    continue
                homs[j] = win.homs[(i, j)] = hom
                fj, _, _, grown_j = win.get(j)
                # sample frame j at H(p) for every hole pixel p
                src = cv2.perspectiveTransform(np.stack([xs, ys], 1).astype(np.float32)[None], hom)[0]
                inside = (src[:, 0] >= 0) & (src[:, 0] <= w - 1) & (src[:, 1] >= 0) & (src[:, 1] <= h - 1)
                sx = np.clip(src[:, 0], 0, w - 1)
                sy = np.clip(src[:, 1], 0, h - 1)
                free = ~grown_j[np.rint(sy).astype(int), np.rint(sx).astype(int)]
                use = inside & free & (count < cfg.candidates)
                if not use.any():
                    continue
                col = _sample(fj, sx, sy)
                idx = np.nonzero(use)[0]
                acc[count[idx], idx] = col[idx]
                count[idx] += 1
        fill = frame.copy()
        got = count > 0
        if got.any():
            vals = np.empty((len(ys), 3), np.float32)
            for c in range(1, cfg.candidates + 1):
                sel = count == c
                if sel.any():
                    vals[sel] = np.median(acc[:c, sel], axis=0) if c > 2 else acc[:c, sel].mean(axis=0)
            fill[ys[got], xs[got]] = np.clip(np.rint(vals[got]), 0, 255).astype(np.uint8)
        missing = np.zeros((h, w), np.uint8)
        missing[ys[~got], xs[~got]] = 255
        if missing.any():
            if missing.all():  # nothing to inpaint from: a flat grey frame is the only honest answer
                fill[:] = 128
            else:
                fill = cv2.inpaint(fill, missing, cfg.inpaint_radius, cv2.INPAINT_TELEA)
        return paste_back(frame, fill, mask, dilate=cfg.dilate, feather=cfg.feather)

    def _homography(
        self, pts: np.ndarray, grey_i: np.ndarray, grey_j: np.ndarray, grown_j: np.ndarray, prev: np.ndarray | None
    ) -> np.ndarray | None:
        """Homography mapping frame i's background points into frame j, or None when unreliable."""
        cfg = self.config
        lk = {
            "winSize": (15, 15),
            "maxLevel": 4,
            "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01),
        }
        if prev is not None:
            guess = cv2.perspectiveTransform(pts, prev)
            nxt, st, _ = cv2.calcOpticalFlowPyrLK(
                grey_i, grey_j, pts, guess.copy(), flags=cv2.OPTFLOW_USE_INITIAL_FLOW, **lk
            )
        else:
            nxt, st, _ = cv2.calcOpticalFlowPyrLK(grey_i, grey_j, pts, None, **lk)
        # forward-backward check
        back, st2, _ = cv2.calcOpticalFlowPyrLK(
            grey_j, grey_i, nxt, pts.copy(), flags=cv2.OPTFLOW_USE_INITIAL_FLOW, **lk
        )
        ok = (st[:, 0] == 1) & (st2[:, 0] == 1) & (np.linalg.norm((back - pts)[:, 0], axis=1) < 1.0)
        h, w = grey_j.shape
        q = nxt[:, 0]
        inb = (q[:, 0] >= 0) & (q[:, 0] < w) & (q[:, 1] >= 0) & (q[:, 1] < h)
        ok &= inb
        qi = np.clip(np.rint(q).astype(int), 0, [w - 1, h - 1])
        ok &= ~grown_j[qi[:, 1], qi[:, 0]]
        if ok.sum() < cfg.min_inliers:
            return None
        hom, inl = cv2.findHomography(pts[ok], nxt[ok], cv2.RANSAC, cfg.ransac_px)
        if hom is None or inl is None or int(inl.sum()) < cfg.min_inliers:
            return None
        return hom
