"""Files written atomically with the mode the user's umask gives, and a project's image files.

Every file tam writes goes through a temp file in the same folder and ``os.replace``
(``tracking.atomic_files.replaced_atomically``), so a stopped or killed run leaves only complete files.
Images: RGB frames as PNG, label maps as palette PNGs in the DAVIS layout (0 background, k object k).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from editor.errors import InputError, ProjectError
from tracking.atomic_files import replaced_atomically, write_bytes_atomically


def davis_palette() -> list[int]:
    """The DAVIS / PASCAL VOC colour palette (256 RGB triplets, flattened): 1 red, 2 green, 3 yellow..."""
    palette = []
    for label in range(256):
        r = g = b = 0
        c = label
        for shift in range(7, -1, -1):
            r |= ((c >> 0) & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette.extend((r, g, b))
    return palette


_PALETTE = davis_palette()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file beside it and ``os.replace`` (nothing left if interrupted)."""
    write_bytes_atomically(path, data)


def atomic_write_json(path: Path, data: Any) -> None:
    """Write JSON to ``path`` via a temp file and ``os.replace``."""
    atomic_write_bytes(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


def write_png(path: Path, image: np.ndarray) -> None:
    """Write an RGB (or gray) ``uint8`` image as PNG atomically, fast compression."""
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise InputError(f"images must be uint8 H x W (x 3), got {image.dtype} {image.shape}")
    array = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    ok, buf = cv2.imencode(".png", array, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ProjectError(f"could not encode {path.name} as PNG")
    atomic_write_bytes(path, buf.tobytes())


def write_label_png(path: Path, labels: np.ndarray) -> None:
    """Write a ``uint8`` label map as a palette PNG (DAVIS layout), atomically."""
    labels = np.asarray(labels)
    if labels.dtype == bool:
        labels = labels.astype(np.uint8)
    if labels.ndim != 2 or labels.dtype != np.uint8:
        raise InputError(f"a label map must be uint8 H x W (0 = background), got {labels.dtype} {labels.shape}")
    image = Image.fromarray(labels)  # mode L; putpalette turns it into P with the same indices
    image.putpalette(_PALETTE)
    with replaced_atomically(path, ".tmp.png") as tmp:
        image.save(tmp, format="PNG", compress_level=1)


def read_label_png(path: Path) -> np.ndarray:
    """Read a label map: palette PNG → indices; a gray/RGB binary 0/255 mask → label 1."""
    with Image.open(path) as image:
        if image.mode == "P":
            return np.array(image, dtype=np.uint8)
        gray = image.mode in ("L", "1", "I", "I;16")
        array = np.array(image.convert("L"), dtype=np.uint8)
    if gray and not set(np.unique(array).tolist()) <= {0, 255}:
        return array  # already a gray label map (values 0..K)
    return (array > 127).astype(np.uint8)


__all__ = [
    "atomic_write_bytes",
    "atomic_write_json",
    "davis_palette",
    "read_label_png",
    "replaced_atomically",
    "write_label_png",
    "write_png",
]
