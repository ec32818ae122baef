"""Quality measures for masks and removals: J (IoU), F (DAVIS boundary), PSNR, SSIM, warping error.

Masks are boolean (anything > 0 is foreground) ``H x W`` arrays; images are ``uint8`` (or float in the
0..255 range) ``H x W`` or ``H x W x C``. Definitions follow the DAVIS benchmark (J, F) and Wang et al.
2004 (SSIM: 11x11 Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03, L = 255).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from editor.errors import InputError


def _as_mask(m: np.ndarray, name: str) -> np.ndarray:
    m = np.asarray(m)
    if m.ndim != 2:
        raise InputError(f"{name} must be a 2-D mask (H x W), got shape {m.shape}; pass one object's mask")
    return m > 0


def _same_shape(a: np.ndarray, b: np.ndarray, what: str) -> None:
    if a.shape != b.shape:
        raise InputError(f"{what}: shapes differ ({a.shape} vs {b.shape}); resize one to the other first")


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two masks; two empty masks give 1.0."""
    a, b = _as_mask(a, "a"), _as_mask(b, "b")
    _same_shape(a, b, "iou")
    union = np.count_nonzero(a | b)
    if union == 0:
        return 1.0
    return float(np.count_nonzero(a & b) / union)


def j_measure(pred: np.ndarray, gt: np.ndarray) -> float:
    """DAVIS region similarity J: the IoU of ``pred`` and ``gt`` (empty vs empty is 1)."""
    return iou(pred, gt)


def seg2bmap(mask: np.ndarray) -> np.ndarray:
    """One-pixel-wide boundary map of a mask (the DAVIS ``seg2bmap`` recipe at the mask's own size).

    A pixel is on the boundary when it differs from its east, south or south-east neighbour.
    """
    seg = _as_mask(mask, "mask")
    e = np.zeros_like(seg)
    s = np.zeros_like(seg)
    se = np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = (seg ^ e) | (seg ^ s) | (seg ^ se)
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = False
    return b


def _disk(radius: int) -> np.ndarray:
    r = int(radius)
    y, x = np.mgrid[-r : r + 1, -r : r + 1]
    return (x * x + y * y <= r * r).astype(np.uint8)


def f_measure(pred: np.ndarray, gt: np.ndarray, bound_th: float = 0.008) -> float:
    """DAVIS boundary F-measure between two masks.

    The tolerance is ``bound_th`` pixels when ``bound_th >= 1``, else ``ceil(bound_th * diagonal)``;
    boundaries are matched within a disk of that radius. Empty cases follow DAVIS: both empty -> 1,
    one empty -> 0.
    """
    p, g = _as_mask(pred, "pred"), _as_mask(gt, "gt")
    _same_shape(p, g, "f_measure")
    if bound_th <= 0:
        raise InputError(f"bound_th must be > 0 (a fraction of the diagonal or a pixel count), got {bound_th}")
    radius = bound_th if bound_th >= 1 else math.ceil(bound_th * math.hypot(*p.shape))
    pb, gb = seg2bmap(p), seg2bmap(g)
    disk = _disk(int(radius))
    p_dil = cv2.dilate(pb.astype(np.uint8), disk) > 0
    g_dil = cv2.dilate(gb.astype(np.uint8), disk) > 0
    n_p, n_g = int(pb.sum()), int(gb.sum())
    if n_p == 0 and n_g == 0:
        precision = recall = 1.0
    elif n_p == 0:
        precision, recall = 1.0, 0.0
    elif n_g == 0:
        precision, recall = 0.0, 1.0
    else:
        precision = np.count_nonzero(pb & g_dil) / n_p
        recall = np.count_nonzero(gb & p_dil) / n_g
    if precision + recall == 0:
        return 0.0
    return float(2 * precision * recall / (precision + recall))


def _images(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    _same_shape(a, b, "image comparison")
    if a.ndim not in (2, 3):
        raise InputError(f"images must be H x W or H x W x C, got shape {a.shape}")
    m = None
    if mask is not None:
        m = _as_mask(mask, "mask")
        if m.shape != a.shape[:2]:
            raise InputError(f"mask shape {m.shape} does not match image size {a.shape[:2]}")
    return a, b, m


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB (over ``mask`` when given); identical images give ``inf``.

    An empty mask gives ``nan`` (nothing to compare).
    """
    a, b, m = _images(a, b, mask)
    d = (a - b) ** 2
    if m is not None:
        if not m.any():
            return float("nan")
        d = d[m]
    mse = float(d.mean())
    if mse == 0:
        return float("inf")
    return float(10.0 * math.log10(peak * peak / mse))


def ssim_map(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> np.ndarray:
    """Per-pixel SSIM (channels averaged), Gaussian 11x11 window with sigma 1.5, border replicated."""
    a, b, _ = _images(a, b, None)
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (11, 11), 1.5, borderType=cv2.BORDER_REPLICATE)

    out = np.zeros(a.shape[:2], np.float64)
    for c in range(a.shape[2]):
        x, y = a[..., c], b[..., c]
        mx, my = blur(x), blur(y)
        sxx = blur(x * x) - mx * mx
        syy = blur(y * y) - my * my
        sxy = blur(x * y) - mx * my
        out += ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return out / a.shape[2]


def ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None, peak: float = 255.0) -> float:
    """Mean SSIM (over ``mask`` when given; an empty mask gives ``nan``); identical images give 1.0."""
    _, _, m = _images(a, b, mask)
    s = ssim_map(a, b, peak=peak)
    if m is not None:
        if not m.any():
            return float("nan")
        return float(s[m].mean())
    return float(s.mean())


def _flow(src_gray: np.ndarray, dst_gray: np.ndarray) -> np.ndarray:
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(src_gray, dst_gray, None)


def _warp(img: np.ndarray, flow: np.ndarray) -> np.ndarray:
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(img, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def warping_error(
    outputs: Sequence[np.ndarray],
    originals: Sequence[np.ndarray],
    masks: Sequence[np.ndarray] | None = None,
) -> float:
    """Temporal instability of ``outputs``: mean absolute difference (0..255) after warping frame t+1 onto t.

    The flow t -> t+1 is estimated on the ``originals`` (DIS), pixels failing a forward-backward check
    (occlusions) are ignored, and only pixels inside ``masks[t]`` count when masks are given (e.g. the
    filled hole). Returns ``nan`` when no pixel is counted.
    """
    if len(outputs) != len(originals):
        raise InputError(f"outputs ({len(outputs)}) and originals ({len(originals)}) must have the same length")
    if masks is not None and len(masks) != len(outputs):
        raise InputError(f"masks ({len(masks)}) must have one entry per frame ({len(outputs)})")
    total, count = 0.0, 0
    prev_gray = None
    for t in range(len(outputs) - 1):
        o0, o1 = np.asarray(outputs[t]), np.asarray(outputs[t + 1])
        g0 = prev_gray if prev_gray is not None else cv2.cvtColor(np.asarray(originals[t]), cv2.COLOR_RGB2GRAY)
        g1 = cv2.cvtColor(np.asarray(originals[t + 1]), cv2.COLOR_RGB2GRAY)
        prev_gray = g1
        fw = _flow(g0, g1)
        bw = _flow(g1, g0)
        back = _warp(bw, fw)
        valid = np.linalg.norm(fw + back, axis=2) < 0.5 + 0.05 * np.linalg.norm(fw, axis=2)
        if masks is not None:
            valid &= _as_mask(masks[t], "masks[t]")
        if not valid.any():
            continue
        warped = _warp(o1, fw).astype(np.float64)
        diff = np.abs(warped - o0.astype(np.float64))
        if diff.ndim == 3:
            diff = diff.mean(axis=2)
        total += float(diff[valid].sum())
        count += int(valid.sum())
    return total / count if count else float("nan")
