"""A folder of numbered frames (the DAVIS layout: ``00000.jpg``, ``00000693.png`` ...) read as a clip."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from editor.errors import FrameFolderError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def natural_key(name: str) -> list[int | str]:
    """Sort key that orders ``frame2`` before ``frame10``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def read_image(path: Path) -> np.ndarray:
    """Read an image file as RGB ``uint8`` ``H x W x 3``."""
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise FrameFolderError(f"cannot read image {path} (corrupt or not an image); remove or replace it")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _image_size(path: Path) -> tuple[int, int]:
    try:
        from PIL import Image

        with Image.open(path) as img:
            return img.size
    except Exception as exc:
        raise FrameFolderError(f"cannot read image {path} ({type(exc).__name__}); remove or replace it") from exc


def frame_index(index: int, length: int) -> int:
    """A frame position from a possibly negative index, or an IndexError that names the valid range."""
    if index < 0:
        index += length
    if not 0 <= index < length:
        raise IndexError(f"frame {index} is outside 0..{length - 1}")
    return index


class FrameFolder(Sequence[np.ndarray]):
    """Numbered images in one folder, naturally sorted; all must share one size.

    ``stems`` keeps the source names (``"00000693"``) so masks can be written under the same names.
    """

    def __init__(self, path: str | Path, *, check_sizes: bool = True) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise FrameFolderError(f"frame folder not found: {self.path} (give a folder of numbered JPG/PNG frames)")
        files = [p for p in self.path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
        files = [p for p in files if not p.name.startswith(".")]
        if not files:
            raise FrameFolderError(f"{self.path} holds no JPG/PNG frames; give a folder of numbered images")
        files.sort(key=lambda p: natural_key(p.name))
        stems = [p.stem for p in files]
        if len(set(stems)) != len(stems):
            dupes = sorted({s for s in stems if stems.count(s) > 1})[:3]
            raise FrameFolderError(f"{self.path} has the same frame in two formats ({', '.join(dupes)}); keep one")
        self.files: list[Path] = files
        self.stems: list[str] = stems
        width, height = _image_size(files[0])
        if check_sizes:
            for path in files[1:]:
                size = _image_size(path)
                if size != (width, height):
                    raise FrameFolderError(
                        f"{path.name} is {size[0]}x{size[1]} but {files[0].name} is {width}x{height}; "
                        "all frames of a clip must have the same size"
                    )
        self.width, self.height = width, height

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of every frame."""
        return self.width, self.height

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        index = frame_index(index, len(self))
        image = read_image(self.files[index])
        if (image.shape[1], image.shape[0]) != self.size:
            raise FrameFolderError(
                f"{self.files[index].name} changed size; all frames must be {self.width}x{self.height}"
            )
        return image

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self[i]


def is_frame_folder(path: str | Path) -> bool:
    """True when ``path`` is a folder holding at least one image."""
    path = Path(path)
    return path.is_dir() and any(p.suffix.lower() in IMAGE_EXTENSIONS for p in path.iterdir())


__all__ = ["FrameFolder", "IMAGE_EXTENSIONS", "is_frame_folder", "natural_key", "read_image"]
