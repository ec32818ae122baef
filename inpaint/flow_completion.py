"""Background motion between neighbouring frames, completed into the hole (as flow-guided video inpainting does).

Dense optical flow (DIS) is estimated on small grey frames whose holes were first smoothed over, so the
object (or whatever the hole hides) does not drag the flow around it. The flow is then thrown away where it
cannot be trusted: inside the hole and its guard, where it lands in the neighbour's hole, and where the
forward and backward flows disagree (occlusions, mismatches). What remains is interpolated smoothly into
the gaps (``inpaint.diffuse.fill_smooth``): the hole moves the way the background around it moves, pixel by
pixel, so parallax and near objects bend the alignment instead of one homography per hole tearing it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from inpaint.diffuse import fill_smooth


@dataclass(frozen=True)
class FlowConfig:
    short_side: int = 180  # flow is estimated at this short side (never upscaled; 240 measured no better)
    preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM
    tolerance: float = 1.0  # forward-backward disagreement allowed, in flow pixels (+ 5 % of the motion)
    margin: int = 12  # px (full size) around the unknown pixels where flow is not trusted: patches straddle it


class FlowSolver:
    """Completed flows between consecutive frames at a reduced scale; ``scale`` maps full-size pixels to it."""

    def __init__(self, size: tuple[int, int], config: FlowConfig | None = None) -> None:
        self.config = config or FlowConfig()
        h, w = size
        self.scale = min(1.0, self.config.short_side / min(h, w))
        self.small = (max(8, round(w * self.scale)), max(8, round(h * self.scale)))  # (w, h)
        self._dis = cv2.DISOpticalFlow_create(self.config.preset)

    def prepare(self, frame: np.ndarray, unknown: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(small grey frame with its unknown pixels smoothed over, small mask of where its flow is not trusted)."""
        grey = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), self.small, interpolation=cv2.INTER_AREA)
        hole = cv2.resize(unknown.astype(np.uint8), self.small, interpolation=cv2.INTER_AREA) > 0
        if not hole.any():
            return grey, hole
        filled = fill_smooth(grey.astype(np.float32), ~hole)
        grey = np.clip(filled + 0.5, 0, 255).astype(np.uint8)
        r = max(1, round(self.config.margin * self.scale))
        disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        return grey, cv2.dilate(hole.astype(np.uint8), disk) > 0

    def pair(
        self, a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Completed flows (a -> b, b -> a) between two prepared frames, at the small scale."""
        (ga, ha), (gb, hb) = a, b
        ab = self._dis.calc(ga, gb, None)
        ba = self._dis.calc(gb, ga, None)
        return self._complete(ab, ba, ha, hb), self._complete(ba, ab, hb, ha)

    def _complete(self, fw: np.ndarray, bw: np.ndarray, hole_src: np.ndarray, hole_dst: np.ndarray) -> np.ndarray:
        h, w = hole_src.shape
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        mx, my = gx + fw[..., 0], gy + fw[..., 1]
        back = cv2.remap(bw, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        err = np.linalg.norm(fw + back, axis=2)
        ok = err < self.config.tolerance + 0.05 * np.linalg.norm(fw, axis=2)
        ok &= ~hole_src
        inside = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
        lands = cv2.remap(hole_dst.astype(np.uint8), mx, my, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=0) > 0
        ok &= ~(inside & lands)
        if ok.all():
            return fw
        if not ok.any():
            return np.zeros_like(fw)
        return fill_smooth(fw, ok)

    def sample(self, flow: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where full-size pixels ``(xs, ys)`` go under a small-scale ``flow``: their full-size targets."""
        s = self.scale
        sx = np.clip((xs + 0.5) * s - 0.5, 0, flow.shape[1] - 1).astype(np.float32)
        sy = np.clip((ys + 0.5) * s - 0.5, 0, flow.shape[0] - 1).astype(np.float32)
        d = sample_points(flow, sx, sy)
        return xs + d[:, 0] / s, ys + d[:, 1] / s


def sample_points(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear values (float32) of ``img`` at float points (``cv2.remap`` maps are limited to 32767 columns)."""
    chans = img.shape[2:] if img.ndim == 3 else ()
    out = np.empty((len(x),) + chans, np.float32)
    for s in range(0, len(x), 32000):
        xs, ys = x[s : s + 32000].astype(np.float32), y[s : s + 32000].astype(np.float32)
        val = cv2.remap(img, xs[None], ys[None], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        out[s : s + 32000] = val.reshape(out[s : s + 32000].shape)
    return out
