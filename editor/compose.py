"""Compositing at the native resolution: removal paste-back, replacement, blur/pixelate, background swap, splash.

The per-frame work is the pure functions of ``editor.effects``; replacement media come from ``editor.media``.
:func:`render` streams the source's native frames (decoded again from the source,
one at a time), the project's working-size masks and fills, applies one edit, and writes the result with
``editor.encode.write_video``: same fps and frame count as the source, the source's audio muxed back,
H.264/AAC ``.mp4`` by default (other containers by extension), ``crf`` as the quality.

Blend weights come from :func:`inpaint.paste.paste_alpha`: the object mask scaled to the native size,
dilated and feathered; a weight of exactly 0 leaves a pixel bit-exact, so only the edited region changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from editor.effects import (
    BoxSmoother,
    Fit,
    blend,
    blur_region,
    colour_splash,
    cover_resize,
    fit_rect,
    mask_box,
    object_mask,
    parse_colour,
    pixelate,
    place,
    region_weights,
    remove_object,
    swap_background,
)
from editor.errors import InputError, ProjectError
from editor.media import Media
from inpaint.paste import paste_alpha

Progress = Callable[[int, int], None]

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
