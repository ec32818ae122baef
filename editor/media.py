"""Replacement and background media: a still image (alpha kept) or a clip, read frame by frame for the output."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from editor.errors import InputError, VideoError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"}

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
