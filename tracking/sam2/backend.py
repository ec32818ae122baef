"""SAM 2.1 behind tam's two tracking interfaces: a ``Segmenter`` (prompts on one frame) and a ``Propagator``.

Why the two fit: tam's session turns prompts into a keyframe label map with the segmenter, then runs propagator
passes seeded from keyframes. The segmenter is SAM 2.1 on a frame with no memory - exactly how the official
predictor segments a frame prompted before it was tracked (``feat + no_mem_embed``, multimask for one click).
A propagator pass is :class:`~tracking.sam2.video.Sam2VideoTracker` seeded with the keyframe's masks through
the reference's ``add_new_mask`` path (the mask is the frame's output; the decoder makes its object pointer);
``memorize`` replaces the last frame's output the same way, as a non-conditioning memory, so refinements do not
grow the memory. Frames arrive one at a time from the session; memory is bounded by ``TrackerConfig``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from tracking.backend import SegmentResult
from tracking.sam2.build import load_sam2, resolve_size
from tracking.sam2.model import IMAGE_SIZE, FrameFeatures, Sam2Model
from tracking.sam2.preprocess import check_frame, to_model_input
from tracking.sam2.video import MASK_PROMPT_CLAMP, Sam2VideoTracker, TrackerConfig


def backend_label(size: str) -> str:
    """What the CLI and the page print, e.g. ``sam2.1-hiera_tiny``."""
    return f"sam2.1-hiera_{resolve_size(size)}"


class Sam2Segmenter:
    """SAM 2.1 on single frames: clicks and/or a box -> mask, the 256x256 logits kept for the next click."""

    def __init__(self, model: Sam2Model, size: str = "tiny", cache_size: int = 2):
        self.model = model
        self.backend = backend_label(size)
        self._cache: OrderedDict[object, FrameFeatures] = OrderedDict()
        self._cache_size = max(1, cache_size)
        self._current: tuple[FrameFeatures, tuple[int, int]] | None = None

    @classmethod
    def from_checkpoint(cls, path: str | Path, size: str = "tiny", device: str = "cpu") -> Sam2Segmenter:
        return cls(load_sam2(path, size, device), size)

    @property
    def device(self) -> str:
        return str(self.model.device)

    def set_image(self, image: np.ndarray, key: object | None = None) -> None:
        """Encode ``image`` (kept for the next ``predict``); with a ``key`` the last few encodings are cached."""
        check_frame(image)
        hw = (image.shape[0], image.shape[1])
        if key is not None and key in self._cache:
            self._cache.move_to_end(key)
            self._current = (self._cache[key], hw)
            return
        with torch.inference_mode(), self.model.autocast():
            feats = self.model.encode_image(to_model_input(image).to(self.model.device))
        self._current = (feats, hw)
        if key is not None:
            self._cache[key] = feats
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def predict(
        self,
        points: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask: bool = True,
    ) -> SegmentResult:
        """One object's mask on the current image; three candidates (best by predicted IoU) for a single click."""
        if self._current is None:
            raise RuntimeError("call set_image before predict")
        feats, (h, w) = self._current
        pts = np.zeros((0, 2), np.float32) if points is None else np.asarray(points, np.float32).reshape(-1, 2)
        lbl = np.zeros(0, np.int32) if labels is None else np.asarray(labels, np.int32).reshape(-1)
        if len(pts) != len(lbl):
            raise ValueError(f"{len(pts)} points but {len(lbl)} labels")
        if box is not None:
            pts = np.concatenate([np.asarray(box, np.float32).reshape(2, 2), pts])
            lbl = np.concatenate([np.array([2, 3], np.int32), lbl])
        if len(pts) == 0:
            raise ValueError("give at least one click or a box")
        coords = torch.from_numpy(pts / np.array([w, h], np.float32) * IMAGE_SIZE)[None].to(self.model.device)
        prev = None
        if mask_input is not None:
            prev = torch.as_tensor(np.asarray(mask_input, np.float32)).reshape(1, 1, *np.shape(mask_input)[-2:])
            prev = torch.clamp(prev, -MASK_PROMPT_CLAMP, MASK_PROMPT_CLAMP).to(self.model.device)
        use_multi = multimask and self.model.use_multimask(len(pts))
        with torch.inference_mode(), self.model.autocast():
            out = self.model.decode(
                self.model.no_memory(feats.feat),
                feats.high_res,
                coords,
                torch.from_numpy(lbl)[None].to(self.model.device),
                prev,
                use_multi,
            )
        low = out.masks.float()
        video = F.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)[0, 0]
        best = int(torch.argmax(out.ious[0])) if use_multi else 0
        return SegmentResult(
            mask=(video > 0).cpu().numpy(), score=float(out.ious[0, best]), logits=low[0].cpu().numpy()
        )


class Sam2Propagator:
    """One propagation pass: seeded with a keyframe label map, then one frame per ``step`` (either direction)."""

    def __init__(self, model: Sam2Model, size: str = "tiny", config: TrackerConfig | None = None):
        self.model = model
        self.backend = backend_label(size)
        self.config = config or TrackerConfig()
        self.obj_ids: list[int] = []
        self._tracker: Sam2VideoTracker | None = None
        self._t = -1

    @classmethod
    def from_checkpoint(cls, path: str | Path, size: str = "tiny", device: str = "cpu") -> Sam2Propagator:
        return cls(load_sam2(path, size, device), size)

    @property
    def device(self) -> str:
        return str(self.model.device)

    def reset(self, object_ids: Sequence[int]) -> None:
        """Start a pass for these objects (a fresh memory)."""
        self.obj_ids = [int(o) for o in object_ids]
        self._tracker = None
        self._t = -1

    def step(self, frame: np.ndarray, label_map: np.ndarray | None = None) -> np.ndarray:
        """Probabilities ``(1 + K) x H x W`` for the next frame of the pass; with ``label_map`` it is a keyframe."""
        check_frame(frame)
        if self._tracker is None:
            if label_map is None:
                raise RuntimeError("the first step of a pass needs the keyframe's label map")
            self._tracker = Sam2VideoTracker(self.model, frame.shape[:2], None, self.config)
        self._t += 1
        if label_map is not None:
            self._add_masks(frame, label_map)
        ids, logits = self._tracker.track(self._t, frame)
        return self._probs(ids, logits)

    def memorize(self, label_map: np.ndarray) -> None:
        """Replace the last stepped frame's output by ``label_map`` (stored as that frame's memory)."""
        if self._tracker is None or self._t < 0:
            raise RuntimeError("memorize needs a frame stepped first")
        self._add_masks(None, label_map)

    def _add_masks(self, frame: np.ndarray | None, label_map: np.ndarray) -> None:
        assert self._tracker is not None
        label_map = np.asarray(label_map)
        if label_map.shape != self._tracker.video_hw:
            raise ValueError(f"label map is {label_map.shape}, the frames are {self._tracker.video_hw}")
        for obj_id in self.obj_ids:
            self._tracker.add_mask(self._t, frame, obj_id, label_map == obj_id)

    def _probs(self, ids: list[int], logits: np.ndarray) -> np.ndarray:
        by_id = dict(zip(ids, logits, strict=True))
        h, w = logits.shape[-2:]
        objs = (
            np.stack([1 / (1 + np.exp(-np.clip(by_id[o], -50, 50))) for o in self.obj_ids])
            if self.obj_ids
            else np.zeros((0, h, w), np.float32)
        )
        background = 1 - objs.max(axis=0) if len(objs) else np.ones((h, w), np.float32)
        return np.concatenate([background[None], objs]).astype(np.float32)
