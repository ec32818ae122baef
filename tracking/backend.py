"""The two interfaces every tracking backend implements: a segmenter and a propagator.

Formats at this boundary (the same everywhere in tam):
- a frame is an RGB ``uint8`` array ``H x W x 3``;
- a label map is a ``uint8`` array ``H x W``: 0 is background, ``k`` is object ``k`` (1..255);
- points are ``(x, y)`` pixel coordinates in the frame's own size, labels 1 (positive) / 0 (negative);
- a box is ``(x0, y0, x1, y1)`` in pixels.

Cancellation: long calls take ``progress(done, total)``; a caller cancels by raising from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class SegmentResult:
    """One object's mask on one frame, from clicks and/or a box."""

    mask: np.ndarray  # bool H x W
    score: float  # predicted IoU (SAM) or a backend-specific confidence in [0, 1]
    logits: np.ndarray | None = None  # low-res logits to feed back as ``mask_input`` on the next click


class Segmenter(Protocol):
    """Prompts -> mask on a single image (SAM, MobileSAM, or the classical GrabCut backend)."""

    backend: str  # e.g. "sam-vit_b", "mobile_sam", "classical-grabcut"
    device: str  # "cpu", "cuda:0"

    def set_image(self, image: np.ndarray, key: object | None = None) -> None:
        """Prepare ``image`` for prompting; with a ``key`` (e.g. a frame index) the embedding is cached."""

    def predict(
        self,
        points: np.ndarray | None = None,  # (N, 2) float, (x, y)
        labels: np.ndarray | None = None,  # (N,) int, 1 positive / 0 negative
        box: np.ndarray | None = None,  # (4,) float XYXY
        mask_input: np.ndarray | None = None,  # logits from a previous SegmentResult
        multimask: bool = True,
    ) -> SegmentResult:
        """Segment one object on the current image; with ``multimask`` the best mask by score wins."""


class Propagator(Protocol):
    """Carries label maps from keyframes to the frames around them, one frame at a time.

    A pass is ``reset(object_ids)`` then ``step`` on consecutive frames, in either temporal order.
    ``step(frame, label_map)`` makes the frame a keyframe (its mask is taken as given and memorised); a keyframe
    after other steps keeps what the pass learnt before it (the session replays the frames from the keyframe
    before a correction, then gives the corrected mask, and the pass may turn round there);
    ``step(frame)`` predicts. ``memorize(label_map)`` replaces the prediction of the frame that was
    just stepped (a refinement or a correction) and stores it as memory.
    """

    backend: str  # "xmem", "classical-flow"
    device: str

    def reset(self, object_ids: Sequence[int]) -> None:
        """Start a new pass for these objects; channel ``1 + i`` of every output is ``object_ids[i]``."""

    def step(self, frame: np.ndarray, label_map: np.ndarray | None = None) -> np.ndarray:
        """Return probabilities ``float32 (1 + K) x H x W`` (channel 0 background) for ``frame``."""

    def memorize(self, label_map: np.ndarray) -> None:
        """Overwrite the last stepped frame's result with ``label_map`` and add it to memory."""


def probs_to_labels(probs: np.ndarray, object_ids: Sequence[int]) -> np.ndarray:
    """Argmax over ``(1 + K) x H x W`` probabilities, mapped back to object ids (uint8 label map)."""
    lut = np.zeros(len(object_ids) + 1, dtype=np.uint8)
    lut[1:] = np.asarray(object_ids, dtype=np.uint8)
    return lut[np.argmax(probs, axis=0)]
