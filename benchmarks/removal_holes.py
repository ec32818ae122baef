"""The holes of the removal benchmark: the shapes users' overlays and objects have, and the soft-edged layers.

A static grid of squares, a thick text-and-ring logo, a thin caption, another clip's object masks moved along
a path (clear of the host's own object), layers laid over a host with a softened edge (what a drawn or
tracked mask leaves around what it covers), and a caption burnt in and then coded with H.264 (what a caption in a
user's downloaded video is). ``benchmarks.removal_quality`` builds its cases from these.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

# The soft edge of ``softlogo`` and ``halo``: 1.5 px reaches about 3 px past the mask's edge at 480p, inside the
# tolerance within which the DAVIS boundary measure counts a mask's edge as right (0.8 % of the diagonal, 4 px).
HALO_SIGMA = 1.5
HALO_LEVELS = 2.0  # a pixel the soft layer changed by more than this (grey levels, max over RGB) must be filled
# The coded caption: CRF 23 is x264's own default (web and phone exports sit around it); the caption's ringing
# reaches a few pixels past its outline (a 4x4 or 8x8 transform block), so changes are looked for within
# CODED_REACH px of the mask: farther away, a change is the codec's noise, which no fill can undo.
CODED_CRF = 23
CODED_REACH = 4


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _disk(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def _best_offset(union: np.ndarray, forbidden: np.ndarray, step: int = 8) -> tuple[int, int]:
    """Top-left ``(x, y)`` where ``union`` (a small mask) overlaps ``forbidden`` least, nearest the centre."""
    h, w = forbidden.shape
    uh, uw = union.shape
    integral = cv2.integral(forbidden.astype(np.uint8))
    best, best_key = (0, 0), None
    for y in range(0, max(h - uh, 0) + 1, step):
        for x in range(0, max(w - uw, 0) + 1, step):
            # cheap bound with the box sum first, exact overlap only for candidates
            box = integral[y + uh, x + uw] - integral[y, x + uw] - integral[y + uh, x] + integral[y, x]
            overlap = int(np.count_nonzero(union & forbidden[y:y + uh, x:x + uw])) if box else 0
            key = (overlap, abs(x + uw / 2 - w / 2) + abs(y + uh / 2 - h / 2))
            if best_key is None or key < best_key:
                best, best_key = (x, y), key
    return best


def _scaled_crops(donor: Sequence[np.ndarray], box_h: float, box_w: float,
                  images: Sequence[np.ndarray] | None = None) -> list[np.ndarray]:
    """The donor masks cut to their union box and scaled to fit ``box_h`` x ``box_w`` (or, given ``images``,
    the donor's frames cut and scaled the same way)."""
    union = np.logical_or.reduce(list(donor))
    x0, y0, x1, y1 = _bbox(union)
    s = min(box_h / (y1 - y0), box_w / (x1 - x0))
    uw, uh = max(1, round((x1 - x0) * s)), max(1, round((y1 - y0) * s))
    if images is not None:
        return [cv2.resize(f[y0:y1, x0:x1], (uw, uh), interpolation=cv2.INTER_AREA) for f in images]
    return [cv2.resize(m[y0:y1, x0:x1].astype(np.uint8), (uw, uh), interpolation=cv2.INTER_NEAREST) > 0
            for m in donor]


def place_masks(
    donor: Sequence[np.ndarray], host_objects: Sequence[np.ndarray], size: tuple[int, int], scale: float = 0.6,
    guard: int = 15,
) -> list[np.ndarray]:
    """Donor masks scaled so their union box is ``scale`` of the frame's height (or width), moved where they
    cover the host's background most, minus the host's own objects dilated by ``guard`` px."""
    w, h = size
    crops = _scaled_crops(donor, scale * h, scale * w)
    uh, uw = crops[0].shape
    forbidden = [cv2.dilate(o.astype(np.uint8), _disk(guard)) > 0 for o in host_objects]
    ox, oy = _best_offset(np.logical_or.reduce(crops), np.logical_or.reduce(forbidden))
    out = []
    for crop, bad in zip(crops, forbidden, strict=True):
        hole = np.zeros((h, w), bool)
        hole[oy:oy + uh, ox:ox + uw] = crop[: h - oy, : w - ox]
        out.append(hole & ~bad)
    return out


def path_masks(
    donor: Sequence[np.ndarray], host_objects: Sequence[np.ndarray], size: tuple[int, int], scale: float,
    guard: int = 15, images: Sequence[np.ndarray] | None = None,
) -> list[np.ndarray] | tuple[list[np.ndarray], list[np.ndarray]]:
    """Donor masks (union box ``scale`` of the frame) moved along a straight path from the left third to the
    right third of the frame over the clip, minus the host's own objects dilated by ``guard`` px; of a few
    heights for the path, the one that leaves the most hole (the host's object is not what is hidden).
    Given the donor's frames as ``images``: (the masks, the donor's pixels moved the same way, RGB frames)."""
    w, h = size
    crops = _scaled_crops(donor, scale * h, scale * w)
    pixels = _scaled_crops(donor, scale * h, scale * w, images) if images is not None else None
    uh, uw = crops[0].shape
    n = len(crops)
    bad = [cv2.dilate(o.astype(np.uint8), _disk(guard)) > 0 for o in host_objects]
    best: list[np.ndarray] = []
    best_height = 0.0
    for height in (0.35, 0.5, 0.65):
        out = []
        for t, (crop, obj) in enumerate(zip(crops, bad, strict=True)):
            out.append(_at(crop, _path_box(t, n, height, uw, uh, w, h), (h, w)) & ~obj)
        if not best or sum(m.sum() for m in out) > sum(m.sum() for m in best):
            best, best_height = out, height
    if pixels is None:
        return best
    colours = [_at(p, _path_box(t, n, best_height, uw, uh, w, h), (h, w)) for t, p in enumerate(pixels)]
    return best, colours


def _path_box(t: int, n: int, height: float, uw: int, uh: int, w: int, h: int) -> tuple[int, int]:
    """Top-left corner of frame ``t``'s crop on the path at ``height`` (a share of the frame's height)."""
    s = t / max(n - 1, 1)
    cx = w * (0.33 + 0.34 * s)
    cy = h * (height + 0.05 * math.sin(2 * math.pi * s))
    return round(cx - uw / 2), round(cy - uh / 2)


def _at(crop: np.ndarray, corner: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    """``crop`` placed with its top-left at ``corner`` on a zero frame of ``shape`` (parts outside cut off)."""
    (ox, oy), (h, w) = corner, shape
    uh, uw = crop.shape[:2]
    canvas = np.zeros((h + 2 * uh, w + 2 * uw) + crop.shape[2:], crop.dtype)  # room for a crop partly outside
    canvas[oy + uh:oy + 2 * uh, ox + uw:ox + 2 * uw] = crop
    return canvas[uh:uh + h, uw:uw + w]


def lay_soft(host: Sequence[np.ndarray], hard: Sequence[np.ndarray], colours: Sequence[np.ndarray],
             sigma: float = HALO_SIGMA) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Lay ``colours`` where ``hard`` is set over ``host`` with the edge softened (the layer and its coverage
    blurred alike, as a defocused or motion-blurred outline is); (the frames, the masks a user would give:
    ``hard``, the outline itself, the pixels changed by more than ``HALO_LEVELS``: to be filled)."""
    frames, masks, changed = [], [], []
    for f, m, c in zip(host, hard, colours, strict=True):
        cover = m.astype(np.float32)
        alpha = cv2.GaussianBlur(cover, (0, 0), sigma)[..., None]
        layer = cv2.GaussianBlur(c.astype(np.float32) * cover[..., None], (0, 0), sigma)
        out = np.clip(np.rint(layer + (1 - alpha) * f.astype(np.float32)), 0, 255).astype(np.uint8)
        mask = m.astype(bool)
        frames.append(out)
        masks.append(mask)
        changed.append(mask | (np.abs(out.astype(np.int16) - f.astype(np.int16)).max(axis=2) > HALO_LEVELS))
    return frames, masks, changed


def grid_mask(size: tuple[int, int], share: float = 0.11, cols: int = 5, rows: int = 3) -> np.ndarray:
    """A static grid of ``cols x rows`` squares covering ``share`` of the frame, evenly spaced."""
    w, h = size
    side = int(round(math.sqrt(share * w * h / (cols * rows))))
    mask = np.zeros((h, w), bool)
    for r in range(rows):
        for c in range(cols):
            cx, cy = int(w * (c + 0.5) / cols), int(h * (r + 0.5) / rows)
            mask[cy - side // 2:cy - side // 2 + side, cx - side // 2:cx - side // 2 + side] = True
    return mask


def logo_mask(size: tuple[int, int], share: float = 0.05) -> np.ndarray:
    """A static watermark: bold text "tam" and a ring beside it, in the lower right, about ``share`` of the frame."""
    w, h = size
    scale = h / 120
    (tw, th), base = cv2.getTextSize("tam", cv2.FONT_HERSHEY_DUPLEX, scale, max(2, int(4 * scale)))
    canvas = np.zeros((th + base + 8, th + tw + 16), np.uint8)
    r = (th + base) // 2
    cv2.circle(canvas, (r + 2, canvas.shape[0] // 2), r, 1, max(2, int(4 * scale)))
    cv2.putText(canvas, "tam", (2 * r + 10, th + 2), cv2.FONT_HERSHEY_DUPLEX, scale, 1, max(2, int(4 * scale)))
    canvas = cv2.dilate(canvas, _disk(max(1, int(2 * scale)))) > 0
    grow = math.sqrt(share * w * h / max(canvas.sum(), 1))
    ch, cw = canvas.shape
    canvas = cv2.resize(canvas.astype(np.uint8), (int(cw * grow), int(ch * grow)), interpolation=cv2.INTER_NEAREST) > 0
    ch, cw = canvas.shape
    mask = np.zeros((h, w), bool)
    y0, x0 = max(0, h - ch - h // 12), max(0, w - cw - w // 20)
    mask[y0:y0 + ch, x0:x0 + cw] = canvas[: h - y0, : w - x0]
    return mask


def text_mask(size: tuple[int, int], text: str = "MY CHANNEL 2026") -> np.ndarray:
    """A static caption in thin strokes (about 4 px wide at 480p), as creators burn their channel's name in: the
    hole is thin everywhere, so a spatial fill from 2 px away is nearly exact (Hershey font: the same pixels
    on every machine)."""
    w, h = size
    scale, thick = h / 300, max(1, round(h / 160))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    mask = np.zeros((h, w), np.uint8)
    cv2.putText(mask, text, (max(0, w // 20), min(h - 1, h - h // 12 - base)), cv2.FONT_HERSHEY_SIMPLEX, scale, 1,
                thick, cv2.LINE_8)
    return mask > 0


def h264_round_trip(frames: Sequence[np.ndarray], crf: int = CODED_CRF, fps: int = 24) -> list[np.ndarray]:
    """``frames`` coded with H.264 (tam's own writer: yuv420p, the given CRF) and decoded again."""
    import tempfile
    from pathlib import Path

    from editor.encode import write_video
    from editor.video import iter_frames

    with tempfile.TemporaryDirectory() as folder:
        path = write_video(iter(frames), Path(folder) / "coded.mp4", fps, crf=crf)
        return list(iter_frames(path))


def lay_coded(
    host: Sequence[np.ndarray], hard: Sequence[np.ndarray], colour: tuple[int, int, int] = (255, 255, 255)
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Burn ``colour`` in where ``hard`` is set (a hard edge, as a caption is drawn), then code the clip with
    H.264; (the frames given, the masks a user would give: ``hard``, the pixels to be filled: the mask and what
    the caption changed within ``CODED_REACH`` px of it, by more than ``HALO_LEVELS``, against the host coded
    alike). The codec's noise elsewhere (the host coded against itself) is left out of the score."""
    burnt = []
    for f, m in zip(host, hard, strict=True):
        out = f.copy()
        out[m] = colour
        burnt.append(out)
    coded, plain = h264_round_trip(burnt), h264_round_trip(host)
    masks, changed = [], []
    for c, p, m in zip(coded, plain, hard, strict=True):
        near = cv2.dilate(m.astype(np.uint8), _disk(CODED_REACH)) > 0
        moved = np.abs(c.astype(np.int16) - p.astype(np.int16)).max(axis=2) > HALO_LEVELS
        masks.append(m.astype(bool))
        changed.append(m.astype(bool) | (near & moved))
    return coded, masks, changed
