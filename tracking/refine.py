"""Step 3 of the pipeline: score every propagated mask and re-prompt the segmenter where it looks unsure.

Per frame and object the propagated mask gets a quality score from three signals:
- confidence: the propagator's mean probability inside the mask;
- area change: how far the mask's area is from the median of the previous frames of the same pass;
- fragmentation: the share of the mask outside its largest connected component.

A mask below the thresholds is re-segmented from prompts built out of the mask itself (its box and interior
points, or the segmenter's own ``predict_from_mask`` when it has one). The new mask is accepted only when the
segmenter is confident and it still overlaps the propagated one (so a refinement never jumps to another object);
the caller then feeds the refined label map back into the propagator's memory.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

from tracking.backend import Segmenter, SegmentResult

RefineMode = Literal["auto", "off", "always"]


@dataclass(frozen=True)
class RefineConfig:
    """When to re-prompt the segmenter and when to trust its answer."""

    mode: RefineMode = "auto"  # "auto": below the thresholds only; "always": every non-empty mask; "off": never
    min_confidence: float = 0.7  # mean object probability inside the mask
    max_area_change: float = 0.35  # relative change vs the median area of the previous frames
    max_fragmentation: float = 0.15  # share of the mask outside its largest component
    history: int = 5  # previous frames the area is compared with
    min_area: int = 64  # pixels; smaller masks (an object leaving) are left alone
    n_points: int = 3  # positive points sampled inside the mask
    box_margin: float = 0.1  # the prompt box grows by this fraction of its size on each side
    min_score: float = 0.5  # the segmenter's own score needed to accept its mask
    min_iou: float = 0.3  # overlap with the propagated mask needed to accept (same object)
    min_held: float = 0.8  # ... or, for a mask that shrank, the share of it the new mask must hold

    def __post_init__(self) -> None:
        if self.mode not in ("auto", "off", "always"):
            raise ValueError(f"refine mode {self.mode!r} is not one of 'auto', 'off', 'always'")
        if self.history < 1 or self.n_points < 1:
            raise ValueError("RefineConfig.history and n_points must be at least 1")


@dataclass(frozen=True)
class Quality:
    """How trustworthy one propagated mask looks; ``reasons`` is empty when it passes every check."""

    area: int
    confidence: float
    area_change: float  # signed: -0.5 lost half its area, +0.8 grew by 80 %
    fragmentation: float
    components: int
    reasons: tuple[str, ...] = ()
    usual_area: float = 0.0  # median area of the previous frames (0: no history), what area_change compares with

    @property
    def score(self) -> float:
        """One number in [0, 1]: the weakest of the three signals."""
        return float(min(self.confidence, 1.0 - min(1.0, abs(self.area_change)), 1.0 - self.fragmentation))


@dataclass(frozen=True)
class MaskPrompts:
    """Prompts derived from a mask: positive points (x, y) inside it and its box (x0, y0, x1, y1)."""

    points: np.ndarray  # (N, 2) float32
    labels: np.ndarray  # (N,) int32, all 1
    box: np.ndarray  # (4,) float32


@dataclass(frozen=True)
class FrameRefinement:
    """The outcome for one frame: the (possibly) refined label map and why objects were refined."""

    label_map: np.ndarray
    refined: dict[int, str] = field(default_factory=dict)  # object id -> reason
    qualities: dict[int, Quality] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.refined)


def _components(mask: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """Connected components of a bool mask: (count, label image, areas of components 1..count)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return count - 1, labels, stats[1:, cv2.CC_STAT_AREA]


def assess(
    prob: np.ndarray, mask: np.ndarray, previous_areas: Sequence[int], config: RefineConfig = RefineConfig()
) -> Quality:
    """Score one object's mask on one frame.

    ``prob`` is the propagator's ``float`` probability map of the object (H x W), ``mask`` the bool mask it
    ended up with, ``previous_areas`` the areas of the same object on the frames before it in this pass.
    """
    if prob.shape != mask.shape:
        raise ValueError(f"probability map {prob.shape} and mask {mask.shape} differ in size")
    area = int(mask.sum())
    if area == 0:
        return Quality(area=0, confidence=1.0, area_change=0.0, fragmentation=0.0, components=0)
    confidence = float(prob[mask].mean())
    history = [a for a in previous_areas if a > 0]
    reference = float(np.median(history)) if history else 0.0
    area_change = (area - reference) / reference if reference > 0 else 0.0
    count, _, areas = _components(mask)
    fragmentation = 1.0 - float(areas.max()) / area if count else 0.0

    reasons: list[str] = []
    if confidence < config.min_confidence:
        reasons.append(f"low confidence {confidence:.2f} < {config.min_confidence:.2f}")
    if abs(area_change) > config.max_area_change:
        verb = "dropped" if area_change < 0 else "grew"
        reasons.append(f"area {verb} {abs(area_change):.0%} vs the previous frames")
    if fragmentation > config.max_fragmentation:
        reasons.append(f"fragmented: {count} pieces, {fragmentation:.0%} outside the largest")
    return Quality(area, confidence, float(area_change), fragmentation, count, tuple(reasons), reference)


def prompts_from_mask(
    mask: np.ndarray, n_points: int = 3, previous_box: np.ndarray | None = None, margin: float = 0.1
) -> MaskPrompts:
    """A box around the mask's main parts and ``n_points`` well-separated points deep inside its largest piece.

    The box also covers ``previous_box`` (the object's box on the frame before, where the object was last
    seen whole) and grows by ``margin`` of its size on each side, clipped to the image.
    """
    mask = np.asarray(mask, dtype=bool)
    count, labels, areas = _components(mask)
    if count == 0:
        raise ValueError("cannot build prompts from an empty mask")
    largest = labels == (1 + int(np.argmax(areas)))
    # The box covers every piece at least a tenth the size of the largest (a limb cut off by an occluder).
    keep = np.isin(labels, 1 + np.flatnonzero(areas >= 0.1 * areas.max()))
    ys, xs = np.nonzero(keep)
    box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float32)
    if previous_box is not None:
        box = np.concatenate([np.minimum(box[:2], previous_box[:2]), np.maximum(box[2:], previous_box[2:])])
    grow = margin * np.array([box[2] - box[0], box[3] - box[1]], dtype=np.float32)
    h, w = mask.shape
    box = np.array(
        [max(0.0, box[0] - grow[0]), max(0.0, box[1] - grow[1]), min(w, box[2] + grow[0]), min(h, box[3] + grow[1])],
        dtype=np.float32,
    )

    dist = cv2.distanceTransform(np.pad(largest, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
    points: list[tuple[float, float]] = []
    work = dist.copy()
    for _ in range(n_points):
        y, x = np.unravel_index(int(np.argmax(work)), work.shape)
        depth = float(work[y, x])
        # later points must still lie well inside the object (a quarter of the deepest point's depth)
        if depth <= 0 or (points and depth < max(2.0, 0.25 * float(dist.max()))):
            break
        points.append((float(x), float(y)))
        # Suppress a disc around the chosen point so the next one lies elsewhere in the object.
        cv2.circle(work, (int(x), int(y)), max(2, int(round(0.6 * depth))), 0.0, thickness=-1)
    return MaskPrompts(
        points=np.asarray(points, dtype=np.float32).reshape(-1, 2),
        labels=np.ones(len(points), dtype=np.int32),
        box=box,
    )


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two bool masks (1.0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


class Refiner:
    """Scores propagated masks and re-prompts a segmenter for the unsure ones.

    One ``Refiner`` follows one propagation pass: call ``start_pass()`` before it, then call it on every
    frame in pass order (the area history is the frames seen so far in this pass).
    """

    def __init__(self, segmenter: Segmenter | None, config: RefineConfig = RefineConfig()) -> None:
        self.segmenter = segmenter
        self.config = config
        self._areas: dict[int, deque[int]] = {}
        self._boxes: dict[int, np.ndarray] = {}  # object -> its box on the last frame where it was not empty

    def start_pass(self) -> None:
        """Forget the area history (a new pass, possibly in the other direction)."""
        self._areas = {}
        self._boxes = {}

    def observe(self, label_map: np.ndarray, object_ids: Sequence[int]) -> None:
        """Add a frame whose masks are given (a keyframe) to the area history."""
        for obj in object_ids:
            self._remember(obj, label_map == obj)

    def _remember(self, obj: int, mask: np.ndarray) -> None:
        self._history(obj).append(int(mask.sum()))
        if mask.any():
            ys, xs = np.nonzero(mask)
            self._boxes[obj] = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float32)

    def _regrows(self, new_mask: np.ndarray, mask: np.ndarray, usual: float) -> bool:
        held = np.logical_and(new_mask, mask).sum() / max(1, int(mask.sum()))
        return bool(held >= self.config.min_held and 0 < new_mask.sum() <= (1 + self.config.max_area_change) * usual)

    def _history(self, obj: int) -> deque[int]:
        return self._areas.setdefault(obj, deque(maxlen=self.config.history))

    def __call__(
        self,
        frame: np.ndarray,
        frame_key: object,
        probs: Mapping[int, np.ndarray],
        label_map: np.ndarray,
    ) -> FrameRefinement:
        """Score each object in ``probs`` (object id -> probability map) and refine the unsure ones."""
        config = self.config
        out = label_map
        refined: dict[int, str] = {}
        qualities: dict[int, Quality] = {}
        image_set = False
        for obj, prob in probs.items():
            mask = label_map == obj
            quality = assess(prob, mask, list(self._history(obj)), config)
            qualities[obj] = quality
            wanted = config.mode == "always" or (config.mode == "auto" and bool(quality.reasons))
            if config.mode != "off" and self.segmenter is not None and wanted and quality.area >= config.min_area:
                if not image_set:
                    self.segmenter.set_image(frame, key=frame_key)
                    image_set = True
                result = self._resegment(mask, self._boxes.get(obj), quality.usual_area)
                if result is not None:
                    new = out.copy() if out is label_map else out
                    new[(new == obj) & ~result.mask] = 0
                    new[result.mask & ((new == 0) | (new == obj))] = obj
                    out = new
                    reason = "; ".join(quality.reasons) or "refine mode 'always'"
                    refined[obj] = reason
            self._remember(obj, out == obj)
        return FrameRefinement(label_map=out, refined=refined, qualities=qualities)

    def _resegment(self, mask: np.ndarray, previous_box: np.ndarray | None, usual: float) -> SegmentResult | None:
        """Ask the segmenter for the object from its propagated mask; None when its answer is not trusted.

        The answer must overlap the propagated mask (``min_iou``), or, when the propagated mask shrank (part of
        the object lost), hold most of it (``min_held``) and stay within the object's ``usual`` recent area
        (plus ``max_area_change``): a refinement regrows a lost part but never jumps to another object."""
        assert self.segmenter is not None
        from_mask = getattr(self.segmenter, "predict_from_mask", None)
        if callable(from_mask):
            result = from_mask(mask)
        else:
            prompts = prompts_from_mask(mask, self.config.n_points, previous_box, self.config.box_margin)
            result = self.segmenter.predict(
                points=prompts.points, labels=prompts.labels, box=prompts.box, mask_input=None, multimask=False
            )
        new_mask = np.asarray(result.mask, dtype=bool)
        if new_mask.shape != mask.shape:
            raise ValueError(f"segmenter returned a {new_mask.shape} mask for a {mask.shape} frame")
        if result.score < self.config.min_score or new_mask.sum() < self.config.min_area:
            return None
        if mask_iou(new_mask, mask) < self.config.min_iou and not self._regrows(new_mask, mask, usual):
            return None
        return SegmentResult(mask=new_mask, score=result.score, logits=result.logits)
