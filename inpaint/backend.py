"""The interface every removal backend implements (classical fill, E2FGVI-HQ).

An inpainter works on the project's frames at their stored (working) size. It reads frames and masks
lazily by index, never the whole clip, and hands each finished frame to ``sink``. Outside the mask,
the frame it emits is the input frame bit for bit. Going back to the native resolution is the
editor's job (``inpaint.paste.paste_back``).

Cancellation: the caller raises from ``progress(done, total)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np


class Inpainter(Protocol):
    backend: str  # "classical", "e2fgvi_hq"
    device: str

    def __call__(
        self,
        frames: Sequence[np.ndarray],  # RGB uint8 H x W x 3, read lazily by index
        masks: Sequence[np.ndarray],  # bool H x W, True = fill; same length as frames
        sink: Callable[[int, np.ndarray], None],  # receives (frame index, filled RGB uint8 frame)
        *,
        skip: frozenset[int] = frozenset(),  # frames already written by an earlier run: emit them only if free
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        """Fill every masked frame; frames with an empty mask are emitted unchanged."""
