"""Per-frame effects on RGB ``uint8`` arrays: blending, blur/pixelate, grey and splash, placing a replacement.

Pure functions ``(frame, weights, ...) -> frame``, tested without video I/O; ``editor.compose`` applies them
frame by frame while it renders. A weight of exactly 0 leaves a pixel bit-exact, so only the edited region changes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import cv2
import numpy as np

from editor.errors import InputError
from inpaint.paste import paste_alpha, paste_back

Fit = Literal["contain", "cover", "stretch"]
Box = tuple[float, float, float, float]  # (x0, y0, x1, y1), x1/y1 exclusive

def blend(base: np.ndarray, top: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``base * (1 - alpha) + top * alpha`` in ``uint8``; pixels with ``alpha == 0`` are ``base`` bit for bit."""
    out = base.copy()
    region = alpha > 0
    if not region.any():
        return out
    a = alpha[region][:, None].astype(np.float32)
    mixed = base[region].astype(np.float32) * (1.0 - a) + top[region].astype(np.float32) * a
    out[region] = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
    return out


def object_mask(label: np.ndarray | None, object_ids: Sequence[int] | None) -> np.ndarray | None:
    """Boolean mask of ``object_ids`` (all objects when None) in a label map; None when the map is None."""
    if label is None:
        return None
    if object_ids is None:
        return label > 0
    return np.isin(label, np.asarray(list(object_ids), dtype=label.dtype))


def region_weights(
    label: np.ndarray | None, object_ids: Sequence[int] | None, size: tuple[int, int], dilate: int, feather: int
) -> np.ndarray:
    """Blend weights ``float32 H x W`` at ``size = (w, h)`` for the objects: dilated, feathered, exact 0 outside."""
    m = object_mask(label, object_ids)
    w, h = size
    if m is None or not m.any():
        return np.zeros((h, w), np.float32)
    return paste_alpha(m, size, dilate=dilate, feather=feather)


def _bbox_of(weights: np.ndarray, margin: int) -> tuple[slice, slice] | None:
    ys, xs = np.nonzero(weights.any(axis=1))[0], np.nonzero(weights.any(axis=0))[0]
    if ys.size == 0:
        return None
    h, w = weights.shape
    y0, y1 = max(0, ys[0] - margin), min(h, ys[-1] + 1 + margin)
    x0, x1 = max(0, xs[0] - margin), min(w, xs[-1] + 1 + margin)
    return slice(y0, y1), slice(x0, x1)


def pixelate(image: np.ndarray, block: int) -> np.ndarray:
    """Every ``block x block`` cell (aligned to the image's top-left) filled with its mean colour."""
    block = max(1, int(block))
    h, w = image.shape[:2]
    ph, pw = -h % block, -w % block
    padded = np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="edge").astype(np.float32)
    gh, gw = padded.shape[0] // block, padded.shape[1] // block
    means = padded.reshape(gh, block, gw, block, -1).mean(axis=(1, 3))
    cells = np.repeat(np.repeat(np.rint(means).astype(np.uint8), block, axis=0), block, axis=1)
    return cells[:h, :w]


def blur_region(frame: np.ndarray, weights: np.ndarray, mode: str = "blur", strength: float = 21.0) -> np.ndarray:
    """Blur (Gaussian, sigma = ``strength`` px) or pixelate (cells of ``strength`` px) where ``weights`` > 0."""
    if mode not in ("blur", "pixelate"):
        raise InputError(f"unknown blur mode {mode!r}; use 'blur' or 'pixelate'")
    if strength <= 0:
        raise InputError(f"blur strength must be > 0 pixels, got {strength}")
    if mode == "blur":
        margin = int(math.ceil(3 * strength))
        box = _bbox_of(weights > 0, margin)
        if box is None:
            return frame.copy()
        crop = frame[box]
        effect = np.empty_like(frame)
        effect[box] = cv2.GaussianBlur(crop, (0, 0), sigmaX=float(strength), borderType=cv2.BORDER_REFLECT)
        return _blend_in_box(frame, effect, weights, box)
    box = _bbox_of(weights > 0, 0)
    if box is None:
        return frame.copy()
    b = max(1, int(round(strength)))
    # whole cells on the frame's grid, so the mosaic does not crawl when the object moves
    ys, xs = box
    y0, x0 = ys.start // b * b, xs.start // b * b
    cell_box = (slice(y0, ys.stop), slice(x0, xs.stop))
    effect = np.empty_like(frame)
    effect[cell_box] = pixelate(frame[cell_box], b)
    return _blend_in_box(frame, effect, weights, cell_box)


def _blend_in_box(frame: np.ndarray, effect: np.ndarray, weights: np.ndarray, box: tuple[slice, slice]) -> np.ndarray:
    out = frame.copy()
    out[box] = blend(frame[box], effect[box], weights[box])
    return out


def grey(frame: np.ndarray) -> np.ndarray:
    """The frame in greyscale (luma), still ``H x W x 3``."""
    g = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    return np.repeat(g[:, :, None], 3, axis=2)


def colour_splash(frame: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Colour where ``keep`` (weights in [0, 1]) is 1, greyscale where it is 0, blended between."""
    return blend(grey(frame), frame, keep)


def swap_background(frame: np.ndarray, keep: np.ndarray, background: np.ndarray) -> np.ndarray:
    """``frame`` where ``keep`` is 1 (the objects), ``background`` (same size) where it is 0."""
    return blend(background, frame, keep)


def remove_object(
    frame: np.ndarray, fill: np.ndarray | None, mask: np.ndarray | None, dilate: int = 4, feather: int = 4
) -> np.ndarray:
    """Paste the working-size ``fill`` into the native ``frame`` inside the dilated, feathered ``mask``."""
    if mask is None or fill is None or not mask.any():
        return frame.copy()
    return paste_back(frame, fill, mask, dilate=dilate, feather=feather)


def mask_box(mask: np.ndarray | None, size: tuple[int, int] | None = None) -> Box | None:
    """The box ``(x0, y0, x1, y1)`` of a boolean mask (exclusive ends), scaled to ``size = (w, h)`` if given."""
    if mask is None:
        return None
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if rows.size == 0:
        return None
    x0, y0, x1, y1 = float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)
    if size is not None:
        sx, sy = size[0] / mask.shape[1], size[1] / mask.shape[0]
        x0, x1, y0, y1 = x0 * sx, x1 * sx, y0 * sy, y1 * sy
    return (x0, y0, x1, y1)


def fit_rect(src_size: tuple[int, int], box: Box, fit: Fit = "contain") -> Box:
    """Where an image of ``src_size = (w, h)`` goes to fit ``box``: inside it (contain, aspect kept),
    covering it (cover, aspect kept, overflow cropped by the caller) or exactly on it (stretch)."""
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    sw, sh = src_size
    if fit == "stretch":
        return box
    if fit not in ("contain", "cover"):
        raise InputError(f"unknown fit {fit!r}; use 'contain', 'cover' or 'stretch'")
    s = min(bw / sw, bh / sh) if fit == "contain" else max(bw / sw, bh / sh)
    w, h = sw * s, sh * s
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def _resize_rgba(rgba: np.ndarray, w: int, h: int) -> np.ndarray:
    """Resize with premultiplied alpha (no dark or coloured fringes from transparent pixels)."""
    a = rgba[..., 3:4].astype(np.float32) / 255.0
    pre = np.concatenate([rgba[..., :3].astype(np.float32) * a, a * 255.0], axis=2)
    down = w * h < rgba.shape[0] * rgba.shape[1]
    r = cv2.resize(pre, (w, h), interpolation=cv2.INTER_AREA if down else cv2.INTER_LINEAR)
    alpha = r[..., 3:4]
    rgb = np.where(alpha > 1e-3, r[..., :3] * 255.0 / np.maximum(alpha, 1e-3), 0.0)
    return np.clip(np.rint(np.concatenate([rgb, alpha], axis=2)), 0, 255).astype(np.uint8)


def place(
    frame: np.ndarray, rgba: np.ndarray, box: Box | None, fit: Fit = "contain", clip: np.ndarray | None = None
) -> np.ndarray:
    """Composite ``rgba`` (``H x W x 4`` uint8, alpha respected) into ``frame``, fitted to ``box``.

    Nothing is drawn outside ``box`` (cover crops to it) nor outside the frame; ``clip`` (weights ``H x W`` at
    the frame's size, e.g. the object's feathered mask) multiplies the alpha. ``box`` None: frame unchanged.
    """
    if box is None:
        return frame.copy()
    if rgba.ndim != 3 or rgba.shape[2] != 4:
        raise InputError("the replacement must be an RGBA image (H x W x 4)")
    fh, fw = frame.shape[:2]
    rx0, ry0, rx1, ry1 = fit_rect((rgba.shape[1], rgba.shape[0]), box, fit)
    px0, py0 = int(round(rx0)), int(round(ry0))
    pw, ph = max(1, int(round(rx1 - rx0))), max(1, int(round(ry1 - ry0)))
    # visible window: placed rect ∩ box ∩ frame
    bx0, by0, bx1, by1 = (
        int(math.floor(box[0])),
        int(math.floor(box[1])),
        int(math.ceil(box[2])),
        int(math.ceil(box[3])),
    )
    x0, y0 = max(px0, bx0, 0), max(py0, by0, 0)
    x1, y1 = min(px0 + pw, bx1, fw), min(py0 + ph, by1, fh)
    if x1 <= x0 or y1 <= y0:
        return frame.copy()
    scaled = _resize_rgba(rgba, pw, ph)[y0 - py0 : y1 - py0, x0 - px0 : x1 - px0]
    alpha = scaled[..., 3].astype(np.float32) / 255.0
    if clip is not None:
        alpha = alpha * clip[y0:y1, x0:x1]
    out = frame.copy()
    out[y0:y1, x0:x1] = blend(frame[y0:y1, x0:x1], scaled[..., :3], alpha)
    return out


class BoxSmoother:
    """One-euro filter on a box's centre and size, so a replacement follows the object without jitter.

    ``smoothing`` in [0, 1]: 0 passes boxes through; higher values lower the filter's cutoff at rest
    (``10 ** (1 - 3 * smoothing)`` Hz) while fast motion still raises it (no lag on real moves). The result is
    kept within ``slack`` (a fraction of the box's size) of the raw box, so it never drifts off the object.
    A frame without the object (None) resets the filter.
    """

    def __init__(self, fps: float, smoothing: float = 0.5, beta: float = 0.02, slack: float = 0.05) -> None:
        if not 0.0 <= smoothing <= 1.0:
            raise InputError(f"smoothing must be between 0 and 1, got {smoothing}")
        self.dt = 1.0 / float(fps)
        self.min_cutoff = 10.0 ** (1.0 - 3.0 * smoothing)
        self.smoothing, self.beta, self.slack = smoothing, beta, slack
        self._x: np.ndarray | None = None
        self._dx = np.zeros(4)

    def _alpha(self, cutoff: np.ndarray | float) -> np.ndarray | float:
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / self.dt)

    def __call__(self, box: Box | None) -> Box | None:
        if box is None:
            self._x = None
            return None
        x0, y0, x1, y1 = box
        raw = np.array([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], np.float64)
        if self._x is None or self.smoothing == 0:
            self._x, self._dx = raw, np.zeros(4)
        else:
            dx = (raw - self._x) / self.dt
            self._dx = self._dx + self._alpha(1.0) * (dx - self._dx)
            cutoff = self.min_cutoff + self.beta * np.abs(self._dx)
            self._x = self._x + self._alpha(cutoff) * (raw - self._x)
            lim = self.slack * raw[2:4]
            self._x[2:4] = np.clip(self._x[2:4], raw[2:4] - 2 * lim, raw[2:4] + 2 * lim)
            lo0 = raw[:2] - lim + (self._x[2:4] - raw[2:4]) / 2  # keep the smoothed box within raw box + slack
            hi0 = raw[:2] + lim - (self._x[2:4] - raw[2:4]) / 2
            self._x[:2] = np.clip(self._x[:2], np.minimum(lo0, hi0), np.maximum(lo0, hi0))
        cx, cy, w, h = self._x
        return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def parse_colour(text: str) -> tuple[int, int, int]:
    """``"#RRGGBB"`` (or ``"RRGGBB"``) → ``(r, g, b)``."""
    t = text.strip().lstrip("#")
    if len(t) != 6 or any(c not in "0123456789abcdefABCDEF" for c in t):
        raise InputError(f"colour {text!r} is not #RRGGBB (e.g. #00ff00)")
    return int(t[0:2], 16), int(t[2:4], 16), int(t[4:6], 16)


def cover_resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale ``image`` to cover ``size = (w, h)`` with its aspect kept, centred and cropped."""
    w, h = size
    ih, iw = image.shape[:2]
    if (iw, ih) == (w, h):
        return image
    s = max(w / iw, h / ih)
    nw, nh = max(w, int(math.ceil(iw * s))), max(h, int(math.ceil(ih * s)))
    r = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    x0, y0 = (nw - w) // 2, (nh - h) // 2
    return r[y0 : y0 + h, x0 : x0 + w]
