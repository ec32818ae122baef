"""Finding an object by its stored looks: masked colour template matching, out-of-frame pixels not counted.

The classical propagator's re-detection (``flow.FlowPropagator``) and the re-finding of an object in a new shot
(``tracking.refind``) both match a colour crop under its mask against a window of the frame; the window may
reach beyond the frame, where nothing is scored, so an object partly out of view is found where it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from tracking.classical.flow import FlowConfig


def masked_ssd(
    win: np.ndarray, valid: np.ndarray, tpl: np.ndarray, weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Template matching of colour ``tpl`` under ``weight`` over ``win`` where ``valid`` (pixels outside the frame
    are 0): for every offset, the weighted sum of squared differences over the valid pixels and the weight
    counted there (``sum v*m*(I - T)^2`` and ``sum v*m``), from four correlations."""
    ccorr = cv2.TM_CCORR
    v, m = valid[..., None], weight.astype(np.float32)
    ssd = (
        cv2.matchTemplate(np.ascontiguousarray((win**2 * v).sum(axis=2)), m, ccorr)
        - 2.0 * cv2.matchTemplate(np.ascontiguousarray(win * v), np.ascontiguousarray(m[..., None] * tpl), ccorr)
        + cv2.matchTemplate(valid, np.ascontiguousarray((m[..., None] * tpl**2).sum(axis=2)), ccorr)
    )
    return np.maximum(ssd, 0.0), cv2.matchTemplate(valid, m, ccorr)


def find_appearance(
    small: np.ndarray,
    apps: Sequence[tuple[np.ndarray, np.ndarray]],
    centres: Sequence[tuple[float, float]],
    cfg: FlowConfig,
) -> np.ndarray | None:
    """Masked template matching of stored appearances (colour crop, mask; a few scales) in windows around
    ``centres`` (where the object should be): its mask pasted at the best match, ``None`` without a good one.

    Windows reach beyond the frame: a match may lie partly outside it (an object at the frame's edge,
    partly out of view) when at least ``redetect_inside`` of it is inside; only that part is scored and
    pasted, so an object that is leaving is found where it is, not pulled back into the frame."""
    sh, sw = small.shape[:2]
    best: tuple[float, int, int, np.ndarray] | None = None
    for (cx, cy), app in ((c, a) for c in centres for a in apps):
        tpl0, msk0 = app
        size = max(tpl0.shape[:2])
        f = min(1.0, cfg.match_side / size)  # coarse matching: speed, and robust to deformation
        reach = max(cfg.search_min, cfg.search * size)
        x0, x1 = round(cx - size / 2 - reach), round(cx + size / 2 + reach)
        y0, y1 = round(cy - size / 2 - reach), round(cy + size / 2 + reach)
        crop = small[max(0, y0) : max(0, min(sh, y1)), max(0, x0) : max(0, min(sw, x1))].astype(np.float32)
        if crop.shape[0] < 8 or crop.shape[1] < 8:
            continue
        pads = (max(0, -y0), max(0, y1 - sh), max(0, -x0), max(0, x1 - sw))
        win = cv2.copyMakeBorder(crop, *pads, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        valid = cv2.copyMakeBorder(np.ones(crop.shape[:2], np.float32), *pads, cv2.BORDER_CONSTANT, value=0)
        wsz = (max(1, round(win.shape[1] * f)), max(1, round(win.shape[0] * f)))
        win = cv2.resize(win, wsz, interpolation=cv2.INTER_AREA)
        valid = cv2.resize(valid, wsz, interpolation=cv2.INTER_AREA)
        for sc in cfg.redetect_scales:
            tw, th = round(tpl0.shape[1] * sc * f), round(tpl0.shape[0] * sc * f)
            if tw < 4 or th < 4 or tw > win.shape[1] or th > win.shape[0]:
                continue
            tpl = cv2.resize(tpl0, (tw, th), interpolation=cv2.INTER_AREA)
            msk = cv2.resize(msk0.astype(np.float32), (tw, th), interpolation=cv2.INTER_AREA)
            if msk.sum() < 8:
                continue
            # masked colour distance over the in-frame pixels (RMS per channel, grey levels) -> (0, 1]
            num, n = masked_ssd(win, valid, tpl, msk)
            inside = n >= cfg.redetect_inside * float(msk.sum())
            if not inside.any():
                continue
            rms = np.sqrt(num / np.maximum(3.0 * n, 1e-6))
            rms = np.where(inside, rms, np.inf)
            py, px = np.unravel_index(int(np.argmin(rms)), rms.shape)
            score = 1.0 / (1.0 + (float(rms[py, px]) / cfg.redetect_rms) ** 2)
            if best is None or score > best[0]:
                # paste the stored mask, at this scale, at the match (working px)
                mw, mh = round(tpl0.shape[1] * sc), round(tpl0.shape[0] * sc)
                mx, my = x0 + round(px / f), y0 + round(py / f)
                best = (score, mx, my, cv2.resize(msk0.astype(np.float32), (mw, mh)) > 0.5)
    if best is None or best[0] < cfg.redetect_score:
        return None
    _, mx, my, m = best
    out = np.zeros((sh, sw), bool)
    mh, mw = m.shape
    ox0, oy0, ox1, oy1 = max(0, mx), max(0, my), min(sw, mx + mw), min(sh, my + mh)
    if ox1 <= ox0 or oy1 <= oy0:
        return None
    out[oy0:oy1, ox0:ox1] = m[oy0 - my : oy1 - my, ox0 - mx : ox1 - mx]
    return out if out.any() else None
