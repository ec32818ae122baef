"""Compositing at the native resolution: removal paste-back, replacement, blur/pixelate, background swap, splash.

The per-frame work is pure functions ``(frame, weights, ...) -> frame`` on RGB ``uint8`` arrays, so they are
tested without video I/O. :func:`render` streams the source's native frames (decoded again from the source,
one at a time), the project's working-size masks and fills, applies one edit, and writes the result with
``editor.encode.write_video``: same fps and frame count as the source, the source's audio muxed back,
H.264/AAC ``.mp4`` by default (other containers by extension), ``crf`` as the quality.

Blend weights come from :func:`inpaint.paste.paste_alpha`: the object mask scaled to the native size,
dilated and feathered; a weight of exactly 0 leaves a pixel bit-exact, so only the edited region changes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from PIL import Image

from editor.errors import InputError, ProjectError, VideoError
from inpaint.paste import paste_alpha, paste_back

Fit = Literal["contain", "cover", "stretch"]
Box = tuple[float, float, float, float]  # (x0, y0, x1, y1), x1/y1 exclusive
Progress = Callable[[int, int], None]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"}


# ---------------------------------------------------------------------------------------------- pure per-frame


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


# ---------------------------------------------------------------------------------------------- media sources


class Media:
    """A still image or a clip used as a replacement or a background, read frame by frame (``at(i, fps)``).

    Images keep their alpha (RGBA); clips are read with moviepy (``VideoFileClip.get_frame``) and either loop
    or hold their last frame. Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, path: str | Path, loop: bool = True) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"{self.path} does not exist; pass an image (PNG with alpha works) or a video clip")
        self.loop = loop
        self._clip: Any = None
        self._image: np.ndarray | None = None
        if self.path.suffix.lower() in IMAGE_SUFFIXES:
            try:
                with Image.open(self.path) as im:
                    self._image = np.array(im.convert("RGBA"))
            except OSError as e:
                raise InputError(f"cannot read image {self.path}: {e}") from e
        else:
            from moviepy import VideoFileClip

            from editor.video import probe

            info = probe(self.path)  # exact frame count and rate (moviepy rounds the duration); clear errors
            self._fps, self._frames = float(info.fps), info.num_frames
            try:
                self._clip = VideoFileClip(str(self.path), audio=False, has_mask=_has_alpha(self.path))
            except Exception as e:  # moviepy raises OSError/KeyError/IndexError on bad files
                raise VideoError(f"cannot read the clip {self.path}: {e}; use an mp4, mov or webm video") from e

    @property
    def is_clip(self) -> bool:
        return self._clip is not None

    def at(self, index: int, fps: float) -> np.ndarray:
        """RGBA ``uint8`` for output frame ``index`` of a video running at ``fps``."""
        if self._image is not None:
            return self._image
        clip = self._clip
        k = int(math.floor(index * self._fps / float(fps) + 1e-6))  # the clip frame on screen at output time
        k = k % self._frames if self.loop else min(k, self._frames - 1)
        t = (k + 0.5) / self._fps  # mid-frame: immune to moviepy's rounding of times and durations
        rgb = np.asarray(clip.get_frame(t))[..., :3].astype(np.uint8)
        if clip.mask is not None:
            a = np.asarray(clip.mask.get_frame(t), np.float32)
            a = np.clip(np.rint(a * 255.0 if a.max(initial=0) <= 1.0 else a), 0, 255).astype(np.uint8)
        else:
            a = np.full(rgb.shape[:2], 255, np.uint8)
        return np.dstack([rgb, a])

    def close(self) -> None:
        if self._clip is not None:
            self._clip.close()
            self._clip = None

    def __enter__(self) -> Media:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _has_alpha(path: Path) -> bool:
    try:
        import av

        with av.open(str(path)) as c:
            s = c.streams.video[0]
            fmt = s.codec_context.pix_fmt or ""
            meta = {k.lower(): v for k, v in (s.metadata or {}).items()}
            return "a" in fmt.replace("yuv", "").replace("gray", "") or meta.get("alpha_mode") == "1"
    except Exception:
        return False


# ---------------------------------------------------------------------------------------------- edits


@dataclass(frozen=True)
class RemoveEdit:
    """Paste the project's ``inpainted/`` frames back at native size, inside the (dilated, feathered) masks."""

    object_ids: tuple[int, ...] | None = None  # None: every object in the masks
    dilate: int = 4
    feather: int = 4


@dataclass(frozen=True)
class ReplaceEdit:
    """Put an image (alpha respected) or a clip in the objects' place, fitted to each object's box."""

    source: str | Path
    object_ids: tuple[int, ...] | None = None
    fit: Fit = "contain"
    clip_to_mask: bool = False
    loop: bool = True  # a clip loops (True) or holds its last frame (False)
    smoothing: float = 0.5  # box smoothing over time, 0 (none) .. 1 (heavy); see BoxSmoother
    dilate: int = 4  # for the removed background under it and the clip-to-mask edge
    feather: int = 4


@dataclass(frozen=True)
class BlurEdit:
    """Blur or pixelate the objects."""

    object_ids: tuple[int, ...] | None = None
    mode: Literal["blur", "pixelate"] = "blur"
    strength: float = 21.0  # Gaussian sigma or pixel-cell size, in native pixels
    dilate: int = 6
    feather: int = 6


@dataclass(frozen=True)
class BackgroundEdit:
    """Keep the objects, replace everything else: an image, a clip, a colour ``"#RRGGBB"`` or ``"blur"``."""

    background: str | Path
    object_ids: tuple[int, ...] | None = None
    loop: bool = True
    blur_strength: float = 25.0
    dilate: int = 2
    feather: int = 3


@dataclass(frozen=True)
class SplashEdit:
    """Objects in colour, the rest in grey."""

    object_ids: tuple[int, ...] | None = None
    dilate: int = 2
    feather: int = 3


EditSpec = RemoveEdit | ReplaceEdit | BlurEdit | BackgroundEdit | SplashEdit


# ---------------------------------------------------------------------------------------------- rendering


def source_frames(project: Any) -> Iterator[np.ndarray]:
    """The source's frames at native size, decoded again from the source (video or frame folder), one at a time."""
    from editor.frames import FrameFolder
    from editor.video import iter_frames

    src = Path(project.source)
    if not src.exists():
        raise InputError(f"the source {src} is gone; rendering re-reads it at full resolution: put it back")
    if src.is_dir():
        folder = FrameFolder(src, check_sizes=False)
        if len(folder) != project.num_frames:
            raise ProjectError(
                f"{src} now holds {len(folder)} frames, the project {project.num_frames}; make a new project from it"
            )
        frames: Iterator[np.ndarray] = iter(folder)
    else:
        frames = iter_frames(src)
    w, h = project.native_size
    n = 0
    for frame in frames:
        if (frame.shape[1], frame.shape[0]) != (w, h):
            raise ProjectError(
                f"frame {n} of {src.name} is {frame.shape[1]}x{frame.shape[0]}, the project says "
                f"{w}x{h}; make a new project from this source"
            )
        yield frame
        n += 1
        if n == project.num_frames:
            return
    if n != project.num_frames:
        raise ProjectError(f"{src.name} gave {n} of {project.num_frames} frames; the source changed or is truncated")


def _ids(object_ids: Sequence[int] | None) -> tuple[int, ...] | None:
    if object_ids is None:
        return None
    ids = tuple(int(k) for k in object_ids)
    if not ids:
        raise InputError("no objects chosen: pass at least one object id (1..255), or none for every object")
    bad = [k for k in ids if not 1 <= k <= 255]
    if bad:
        raise InputError(f"object ids must be 1..255, got {bad}")
    return ids


def _check_masks(project: Any) -> None:
    if not project.masks.written():
        raise InputError("the project has no masks yet: track an object (or import masks) before rendering")


FrameFn = Callable[[int, np.ndarray], np.ndarray]


def _removed(
    project: Any,
    i: int,
    frame: np.ndarray,
    label: np.ndarray | None,
    ids: tuple[int, ...] | None,
    dilate: int,
    feather: int,
    required: bool,
) -> np.ndarray:
    mask = object_mask(label, ids)
    if mask is None or not mask.any():
        return frame
    fill = project.inpainted[i]
    if fill is None:
        if required:
            raise ProjectError(
                f"frame {project.stems[i]} has a mask but no inpainted frame; run the removal "
                "(tam remove) again to finish it"
            )
        return frame
    return remove_object(frame, fill, mask, dilate=dilate, feather=feather)


def _frame_fn(project: Any, edit: EditSpec, stack: list[Media]) -> FrameFn:
    size = tuple(project.native_size)
    fps = float(project.fps)
    ids = _ids(edit.object_ids)
    if isinstance(edit, RemoveEdit):
        if not project.inpainted.written():
            raise InputError("the project has no inpainted frames: run the removal (tam remove) before rendering it")

        def remove(i: int, frame: np.ndarray) -> np.ndarray:
            return _removed(project, i, frame, project.masks[i], ids, edit.dilate, edit.feather, True)

        return remove
    if isinstance(edit, BlurEdit):
        blur_region(np.zeros((1, 1, 3), np.uint8), np.zeros((1, 1), np.float32), edit.mode, edit.strength)

        def blur(i: int, frame: np.ndarray) -> np.ndarray:
            w = region_weights(project.masks[i], ids, size, edit.dilate, edit.feather)
            return blur_region(frame, w, edit.mode, edit.strength) if w.any() else frame

        return blur
    if isinstance(edit, SplashEdit):

        def splash(i: int, frame: np.ndarray) -> np.ndarray:
            return colour_splash(frame, region_weights(project.masks[i], ids, size, edit.dilate, edit.feather))

        return splash
    if isinstance(edit, BackgroundEdit):
        background = _background_source(edit, size, fps, stack)

        def swap(i: int, frame: np.ndarray) -> np.ndarray:
            keep = region_weights(project.masks[i], ids, size, edit.dilate, edit.feather)
            return swap_background(frame, keep, background(i, frame))

        return swap
    if isinstance(edit, ReplaceEdit):
        if edit.fit not in ("contain", "cover", "stretch"):
            raise InputError(f"unknown fit {edit.fit!r}; use 'contain', 'cover' or 'stretch'")
        media = Media(edit.source, loop=edit.loop)
        stack.append(media)
        have_fill = bool(project.inpainted.written())
        smoothers: dict[int, BoxSmoother] = {}

        def replace(i: int, frame: np.ndarray) -> np.ndarray:
            label = project.masks[i]
            out = _removed(project, i, frame, label, ids, edit.dilate, edit.feather, False) if have_fill else frame
            present = [] if label is None else [int(k) for k in np.unique(label) if k]
            wanted = present if ids is None else list(ids)
            rgba = None
            for k in wanted:
                smoother = smoothers.setdefault(k, BoxSmoother(fps, edit.smoothing))
                m = (label == k) if label is not None and k in present else None
                box = smoother(mask_box(m, size))
                if box is None:
                    continue
                rgba = media.at(i, fps) if rgba is None else rgba
                clip = paste_alpha(m, size, dilate=edit.dilate, feather=edit.feather) if edit.clip_to_mask else None
                out = place(out, rgba, box, edit.fit, clip)
            return out

        return replace
    raise InputError(
        f"unknown edit {type(edit).__name__}; use RemoveEdit, ReplaceEdit, BlurEdit, BackgroundEdit or SplashEdit"
    )


def _background_source(edit: BackgroundEdit, size: tuple[int, int], fps: float, stack: list[Media]) -> FrameFn:
    spec = edit.background
    w, h = size
    if isinstance(spec, str) and spec.strip().lower() == "blur":
        sigma = float(edit.blur_strength)
        if sigma <= 0:
            raise InputError(f"blur strength must be > 0 pixels, got {sigma}")
        return lambda i, frame: cv2.GaussianBlur(frame, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT)
    if isinstance(spec, str) and spec.strip().startswith("#"):
        plate = np.empty((h, w, 3), np.uint8)
        plate[:] = parse_colour(spec)
        return lambda i, frame: plate
    media = Media(spec, loop=edit.loop)
    stack.append(media)

    def still_or_clip(i: int, frame: np.ndarray) -> np.ndarray:
        rgba = media.at(i, fps)
        rgb = cover_resize(rgba[..., :3], size)
        if (rgba[..., 3] < 255).any():  # a transparent background shows black beneath
            a = cover_resize(rgba[..., 3], size).astype(np.float32) / 255.0
            rgb = blend(np.zeros_like(rgb), rgb, a)
        return rgb

    return still_or_clip


def render(
    project: Any,
    out_path: str | Path,
    edit: EditSpec,
    progress: Progress | None = None,
    *,
    crf: int = 18,
    exact_size: bool = False,
) -> Path:
    """Render ``edit`` over the whole clip at native size to ``out_path``, with the source's audio.

    The output has the source's frame count and timing (each frame at its source time for a variable-rate
    source), its audio copied when the container takes the codec; the container and codec follow the
    extension (``.mp4`` H.264 4:2:0 by default; see ``editor.encode.write_video`` for odd sizes and
    ``exact_size``); ``crf`` is the quality (0..51, lower is better, 18 is visually lossless).
    ``progress(done, total)`` is called per frame; raising from it cancels and leaves no file behind.
    """
    from editor.store import guard_output

    if not 0 <= int(crf) <= 51:
        raise InputError(f"crf {crf} is outside 0..51 (0 lossless, 18 visually lossless, 23 the usual default)")
    _check_masks(project)
    out_path = guard_output(out_path, source=project.source, root=getattr(project, "root", None))
    src = Path(project.source).resolve()
    stack: list[Media] = []
    try:
        fn = _frame_fn(project, edit, stack)

        def frames() -> Iterator[np.ndarray]:
            for i, frame in enumerate(source_frames(project)):
                yield fn(i, frame)

        from editor.encode import write_video
        from editor.video import probe

        times = None
        if src.is_file() and project.meta.get("is_vfr"):
            times = probe(src).frame_times
            if len(times) != project.num_frames:
                times = None
        audio = src if project.has_audio and src.is_file() else None
        return write_video(
            frames(), out_path, project.fps, audio_from=audio, crf=crf, progress=progress, total=project.num_frames,
            times=times, exact_size=exact_size,
        )
    finally:
        for m in stack:
            m.close()


def render_removal(
    project: Any,
    out_path: str | Path,
    object_ids: Sequence[int] | None = None,
    *,
    dilate: int = 4,
    feather: int = 4,
    crf: int = 18,
    progress: Progress | None = None,
) -> Path:
    """The clip without the objects: ``inpainted/`` pasted back at native size inside the feathered masks."""
    edit = RemoveEdit(_ids(object_ids), dilate, feather)
    return render(project, out_path, edit, progress, crf=crf)


def render_replace(
    project: Any,
    out_path: str | Path,
    source: str | Path,
    object_ids: Sequence[int] | None = None,
    fit: Fit = "contain",
    clip_to_mask: bool = False,
    loop: bool = True,
    smoothing: float = 0.5,
    *,
    crf: int = 18,
    progress: Progress | None = None,
) -> Path:
    """An image (alpha respected) or a clip in each object's place, over the removed background if there is one."""
    edit = ReplaceEdit(source, _ids(object_ids), fit, clip_to_mask, loop, smoothing)
    return render(project, out_path, edit, progress, crf=crf)


def render_blur(
    project: Any,
    out_path: str | Path,
    object_ids: Sequence[int] | None = None,
    mode: Literal["blur", "pixelate"] = "blur",
    strength: float = 21.0,
    *,
    crf: int = 18,
    progress: Progress | None = None,
) -> Path:
    """The objects blurred (Gaussian sigma ``strength``) or pixelated (cells of ``strength`` native pixels)."""
    edit = BlurEdit(_ids(object_ids), mode, strength)
    return render(project, out_path, edit, progress, crf=crf)


def render_background(
    project: Any,
    out_path: str | Path,
    background: str | Path,
    object_ids: Sequence[int] | None = None,
    *,
    crf: int = 18,
    progress: Progress | None = None,
) -> Path:
    """The objects kept, the rest replaced by an image, a clip, a colour ``"#RRGGBB"`` or ``"blur"``."""
    edit = BackgroundEdit(background, _ids(object_ids))
    return render(project, out_path, edit, progress, crf=crf)


def render_colour_splash(
    project: Any,
    out_path: str | Path,
    object_ids: Sequence[int] | None = None,
    *,
    crf: int = 18,
    progress: Progress | None = None,
) -> Path:
    """The objects in colour, the rest in grey."""
    return render(project, out_path, SplashEdit(_ids(object_ids)), progress, crf=crf)


__all__ = [
    "BackgroundEdit",
    "BlurEdit",
    "BoxSmoother",
    "EditSpec",
    "Media",
    "RemoveEdit",
    "ReplaceEdit",
    "SplashEdit",
    "blend",
    "blur_region",
    "colour_splash",
    "cover_resize",
    "fit_rect",
    "mask_box",
    "object_mask",
    "parse_colour",
    "pixelate",
    "place",
    "region_weights",
    "remove_object",
    "render",
    "render_background",
    "render_blur",
    "render_colour_splash",
    "render_removal",
    "render_replace",
    "source_frames",
    "swap_background",
]
