"""Paste a working-size fill back into a full-size frame, only inside a dilated, feathered mask."""

from __future__ import annotations

import cv2
import numpy as np


def paste_alpha(mask: np.ndarray, size: tuple[int, int], dilate: int = 4, feather: int = 4) -> np.ndarray:
    """Blend weights ``float32 H x W`` in [0, 1] at ``size = (width, height)`` for a boolean ``mask``.

    The mask is resized to ``size``, dilated by ``dilate`` pixels, then feathered inwards over
    ``feather`` pixels: the weight is exactly 0 outside the dilated mask and exactly 1 on the original
    mask, so untouched pixels stay bit-exact and the seam is soft.
    """
    w, h = size
    m = mask.astype(np.uint8)
    if m.shape != (h, w):
        m = cv2.resize(m * 255, (w, h), interpolation=cv2.INTER_LINEAR) >= 128
        m = m.astype(np.uint8)
    if not m.any():
        return np.zeros((h, w), np.float32)
    if dilate > 0:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate + 1, 2 * dilate + 1))
        grown = cv2.dilate(m, k)
    else:
        grown = m
    if feather <= 0:
        return grown.astype(np.float32)
    # distance (in px) from outside the grown mask; ramps 0 -> 1 over `feather` pixels inside it
    dist = cv2.distanceTransform(grown, cv2.DIST_L2, 3)
    alpha = np.clip(dist / float(feather), 0.0, 1.0)
    alpha[m.astype(bool)] = 1.0
    alpha[grown == 0] = 0.0
    return alpha.astype(np.float32)


def paste_back(
    frame: np.ndarray, fill: np.ndarray, mask: np.ndarray, dilate: int = 4, feather: int = 4
) -> np.ndarray:
    """Blend ``fill`` (any size, resized to ``frame``) into ``frame`` where ``mask`` (any size) is set.

    Pixels where the blend weight is 0 are returned unchanged, bit for bit.
    """
    h, w = frame.shape[:2]
    alpha = paste_alpha(mask, (w, h), dilate=dilate, feather=feather)
    if not alpha.any():
        return frame.copy()
    if fill.shape[:2] != (h, w):
        fill = cv2.resize(fill, (w, h), interpolation=cv2.INTER_CUBIC if fill.shape[0] < h else cv2.INTER_AREA)
    out = frame.copy()
    region = alpha > 0
    a = alpha[region][:, None]
    blended = frame[region].astype(np.float32) * (1.0 - a) + fill[region].astype(np.float32) * a
    out[region] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return out
