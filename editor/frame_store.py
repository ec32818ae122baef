"""The decoded frames on disk: ``frames/<stem>.png`` (lossless, the default) or ``frames/<stem>.jpg``.

PNG keeps every pixel of the working-size decode; at 480p it costs about a gigabyte per minute of video
(docs/benchmarks.md, "Long clips"). A JPEG store at a chosen quality is several times smaller, for long clips
where that matters more than the last bit of fidelity. The format is chosen when a project is created, kept in
meta.json (``frame_store``) and part of the tracking and removal stages' hashes (their inputs are these frames).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from editor.errors import InputError, ProjectError
from editor.frames import frame_index, read_image

FRAME_FORMATS = ("png", "jpeg")


@dataclass(frozen=True)
class FrameFormat:
    """How decoded frames are stored: ``kind`` png (lossless) or jpeg at ``quality`` (1-100)."""

    kind: str = "png"
    quality: int = 95

    def __post_init__(self) -> None:
        if self.kind not in FRAME_FORMATS:
            raise InputError(f"frame store must be one of {', '.join(FRAME_FORMATS)}, got {self.kind!r}")
        if not 1 <= int(self.quality) <= 100:
            raise InputError(f"JPEG quality must be 1-100, got {self.quality}")

    @property
    def suffix(self) -> str:
        return ".png" if self.kind == "png" else ".jpg"

    def to_json(self) -> dict[str, Any]:
        return {"kind": "png"} if self.kind == "png" else {"kind": "jpeg", "quality": int(self.quality)}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> FrameFormat:
        """The format meta.json records; a project from before the option existed stores PNG."""
        if not data:
            return cls()
        return cls(str(data.get("kind", "png")), int(data.get("quality", 95)))

    def describe(self) -> str:
        return "PNG" if self.kind == "png" else f"JPEG quality {self.quality}"

    def encode(self, image: np.ndarray) -> bytes:
        """An RGB ``uint8`` frame as file bytes in this format (PNG at fast compression)."""
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise InputError(f"frames must be RGB uint8 H x W x 3, got {image.dtype} {image.shape}")
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        if self.kind == "png":
            ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        else:
            ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(self.quality)])
        if not ok:
            raise ProjectError(f"could not encode a frame as {self.describe()}")
        return buf.tobytes()


class FrameStore(Sequence[np.ndarray]):
    """The decoded frames, read lazily from ``frames/`` (RGB ``uint8``); nothing is held in memory."""

    def __init__(self, folder: Path, stems: list[str], fmt: FrameFormat = FrameFormat()) -> None:
        self.folder = folder
        self.stems = stems
        self.format = fmt

    def path(self, index: int) -> Path:
        return self.folder / f"{self.stems[index]}{self.format.suffix}"

    def present(self) -> set[str]:
        """The stems of the frames on disk (one directory listing, not a stat per frame)."""
        suffix = self.format.suffix
        return {p.name[: -len(suffix)] for p in self.folder.iterdir()
                if p.name.endswith(suffix) and not p.name.startswith(".")}

    def disk_bytes(self) -> int:
        """What the stored frames take on disk."""
        suffix = self.format.suffix
        return sum(p.stat().st_size for p in self.folder.iterdir() if p.name.endswith(suffix))

    def __len__(self) -> int:
        return len(self.stems)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        index = frame_index(index, len(self))
        path = self.path(index)
        if not path.is_file():
            raise ProjectError(
                f"frame {path.name} is missing from {self.folder}; reopen the project to decode it again"
            )
        return read_image(path)

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self[i]


__all__ = ["FRAME_FORMATS", "FrameFormat", "FrameStore"]
