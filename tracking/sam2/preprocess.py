"""Frame preprocessing exactly as SAM 2.1's video loader does it: stretch to 1024x1024 (bicubic), ImageNet norm."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def check_frame(frame: np.ndarray) -> None:
    """Refuse anything but an ``H x W x 3`` uint8 RGB frame, saying what was given."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        shape = getattr(frame, "shape", None)
        dtype = getattr(frame, "dtype", type(frame).__name__)
        raise ValueError(f"a frame must be an H x W x 3 uint8 RGB array, got shape {shape} and dtype {dtype}")


def to_model_input(frame: np.ndarray, size: int = 1024) -> torch.Tensor:
    """``H x W x 3`` uint8 RGB -> ``1 x 3 x size x size`` float32, stretched (no letterbox) like the reference.

    Pillow's bicubic resize, ``/255`` in float64, one cast to float32, then ``(x - mean) / std`` in float32:
    bit-identical to the official loader for the same decoded pixels.
    """
    check_frame(frame)
    resized = np.asarray(Image.fromarray(frame).resize((size, size), Image.BICUBIC))
    x = (resized / 255.0).astype(np.float32).transpose(2, 0, 1)
    x = (x - MEAN[:, None, None]) / STD[:, None, None]
    return torch.from_numpy(np.ascontiguousarray(x)).unsqueeze(0)
