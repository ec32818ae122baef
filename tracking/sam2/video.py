"""SAM 2.1 video inference over streamed frames with a bounded memory bank.

The call semantics are those of the official ``SAM2VideoPredictor`` (prompts on any frame, conditioning and
non-conditioning memories, object pointers, forward and reverse propagation, corrections), so the same calls
give the same mask logits (``tests/tracking/test_sam2_conformance.py``). What differs is the storage:

* frames are read one at a time (from a ``Sequence`` such as ``editor.frames.FrameFolder``, or passed in), and
  only the most recent frame's image features are kept - the reference loads and keeps the whole clip;
* per object, every conditioning frame's output is kept (one per prompted frame), but non-conditioning outputs
  only for the ``keep_frames`` frames nearest the last tracked one. Tracking looks back at most 6 frames for
  spatial memories and 15 for object pointers, so with ``keep_frames >= 15`` a propagation pass is exact while
  memory stays flat however long the clip. A correction farther than ``keep_frames`` from the last tracked frame
  sees only the conditioning memories (the reference would also use that frame's old mask as a mask prompt).

Prompted frames are encoded into memory right away (binarised, as the reference does when propagation starts),
so a frame never has to be read twice.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from tracking.sam2.model import IMAGE_SIZE, NO_OBJ_SCORE, FrameFeatures, Sam2Model
from tracking.sam2.preprocess import check_frame, to_model_input

MASK_PROMPT_CLAMP = 32.0  # a frame's previous logits are clamped to +-32 before being fed back as a mask prompt


@dataclass(frozen=True)
class TrackerConfig:
    """Memory bounds and correction semantics of a :class:`Sam2VideoTracker`."""

    keep_frames: int = 16  # non-conditioning outputs kept per object, around the last tracked frame
    add_all_frames_to_correct_as_cond: bool = False  # reference default; True makes corrections persist

    def __post_init__(self) -> None:
        if self.keep_frames < 6:
            raise ValueError(f"keep_frames must be at least 6 (the recent-frame memory slots), got {self.keep_frames}")


@dataclass
class FrameOutput:
    """One object's result on one frame: what later frames read from memory."""

    pred_masks: torch.Tensor  # 1 x 1 x 256 x 256 float32 logits
    obj_ptr: torch.Tensor  # 1 x 256
    object_score: torch.Tensor  # 1 x 1
    maskmem: torch.Tensor | None = None  # 1 x 64 x 64 x 64 bfloat16 (stored rounded, as the reference does)
    maskmem_pos: torch.Tensor | None = None  # 1 x 64 x 64 x 64 float32


@dataclass(frozen=True)
class MemoryPlan:
    """What memory attention is given on one frame, in concatenation order.

    ``spatial``: ``(frame, index into maskmem_tpos_enc)``: conditioning frames in insertion order (index 6),
    then the recent non-conditioning frames, oldest first (``index = frames back - 1``); frames not held are
    skipped. ``pointers``: ``(frame, signed temporal distance)``: conditioning frames up to ``t`` (from ``t`` on
    in reverse), then the tracked frames 1, 2, ... back; distances are divided by ``t_diff_max``.
    """

    spatial: list[tuple[int, int]]
    pointers: list[tuple[int, int]]
    t_diff_max: int


@dataclass
class _ObjectState:
    cond: dict[int, FrameOutput] = field(default_factory=dict)
    non_cond: dict[int, FrameOutput] = field(default_factory=dict)
    new_cond: dict[int, FrameOutput] = field(default_factory=dict)  # prompted since the last propagation
    new_non_cond: dict[int, FrameOutput] = field(default_factory=dict)
    points: dict[int, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    tracked: dict[int, bool] = field(default_factory=dict)  # frame -> tracked in reverse


class Sam2VideoTracker:
    """Prompts and propagation for any number of objects on one clip, one SAM 2.1 network.

    ``num_frames`` is the clip length (it sets the object-pointer temporal scale, ``min(num_frames, 16) - 1``);
    ``None`` when unknown (streamed), which uses the full scale of 15.
    """

    def __init__(
        self,
        model: Sam2Model,
        video_hw: tuple[int, int],
        num_frames: int | None = None,
        config: TrackerConfig | None = None,
    ):
        self.model = model
        self.video_hw = (int(video_hw[0]), int(video_hw[1]))
        self.num_frames = num_frames
        self.config = config or TrackerConfig()
        self.objects: dict[int, _ObjectState] = {}
        self._features: tuple[int, FrameFeatures] | None = None

    # ---- public API -------------------------------------------------------------------------------------------
    @property
    def obj_ids(self) -> list[int]:
        return list(self.objects)

    def reset(self) -> None:
        """Forget every object, prompt and memory (the cached image features stay)."""
        self.objects.clear()

    @torch.inference_mode()
    def add_points(
        self,
        frame_idx: int,
        frame: np.ndarray,
        obj_id: int,
        points: Sequence[Sequence[float]] | np.ndarray | None = None,
        labels: Sequence[int] | np.ndarray | None = None,
        box: Sequence[float] | np.ndarray | None = None,
        clear_old_points: bool = True,
    ) -> tuple[list[int], np.ndarray]:
        """Clicks (``(x, y)`` video pixels, label 1/0) and/or a box ``(x0, y0, x1, y1)`` for one object on a frame.

        Returns every object's mask logits on that frame, ``N x H x W`` float32 (objects without a mask there
        get -1024). On a frame the object was already tracked on, this is a correction: it uses the memory and
        the frame's previous logits.
        """
        pts, lbl = self._prompt_tensors(points, labels, box)
        if not clear_old_points and box is not None:
            raise ValueError("a box can only be given with clear_old_points=True (it replaces the frame's prompts)")
        obj = self.objects.setdefault(int(obj_id), _ObjectState())
        if not clear_old_points and frame_idx in obj.points:
            old_pts, old_lbl = obj.points[frame_idx]
            pts, lbl = torch.cat([old_pts, pts], dim=1), torch.cat([old_lbl, lbl], dim=1)
        obj.points[frame_idx] = (pts, lbl)
        is_init = frame_idx not in obj.tracked
        reverse = False if is_init else obj.tracked[frame_idx]
        is_cond = is_init or self.config.add_all_frames_to_correct_as_cond
        store = obj.new_cond if is_cond else obj.new_non_cond
        prev = store.get(frame_idx) or obj.cond.get(frame_idx) or obj.non_cond.get(frame_idx)
        prev_logits = None if prev is None else torch.clamp(prev.pred_masks, -MASK_PROMPT_CLAMP, MASK_PROMPT_CLAMP)
        feats = self._frame_features(frame_idx, frame)
        with self.model.autocast():
            if is_init:
                pix = self.model.no_memory(feats.feat)
            else:
                pix = self._condition(obj, frame_idx, feats, reverse)
            out = self.model.decode(
                pix,
                feats.high_res,
                pts.to(pix.device),
                lbl.to(pix.device),
                prev_logits,
                self.model.use_multimask(pts.shape[1]),
            )
        store[frame_idx] = self._remember(feats, out.masks, out.obj_ptr, out.object_score, binarize=True)
        return self.obj_ids, self._video_logits(frame_idx)

    @torch.inference_mode()
    def add_mask(
        self, frame_idx: int, frame: np.ndarray, obj_id: int, mask: np.ndarray
    ) -> tuple[list[int], np.ndarray]:
        """A given mask (``H x W`` bool, any size) for one object on a frame, taken as that frame's output."""
        mask = np.asarray(mask)
        if mask.ndim != 2:
            raise ValueError(f"a mask must be a 2-D H x W array, got shape {mask.shape}")
        obj = self.objects.setdefault(int(obj_id), _ObjectState())
        obj.points.pop(frame_idx, None)
        is_cond = frame_idx not in obj.tracked or self.config.add_all_frames_to_correct_as_cond
        store = obj.new_cond if is_cond else obj.new_non_cond
        feats = self._frame_features(frame_idx, frame)
        store[frame_idx] = self._mask_as_output(feats, mask)
        return self.obj_ids, self._video_logits(frame_idx)

    @torch.inference_mode()
    def track(self, frame_idx: int, frame: np.ndarray | None, reverse: bool = False) -> tuple[list[int], np.ndarray]:
        """One propagation step: every object's logits on ``frame_idx`` (``N x H x W``), stored in memory.

        Objects with a conditioning output there return it unchanged; ``frame`` may be ``None`` when all do.
        """
        self._commit_prompts()
        masks = []
        for obj in self.objects.values():
            if frame_idx in obj.cond:
                out = obj.cond[frame_idx]
            else:
                if frame is None:
                    raise ValueError(f"frame {frame_idx} is needed: an object has no prompt there")
                out = self._track_object(obj, frame_idx, self._frame_features(frame_idx, frame), reverse)
                obj.non_cond[frame_idx] = out
            self._evict(obj, frame_idx)
            obj.tracked[frame_idx] = reverse
            masks.append(out.pred_masks)
        return self.obj_ids, self._to_video(torch.cat(masks, dim=0))

    def propagate(
        self,
        frames: Sequence[np.ndarray],
        start_frame: int | None = None,
        max_frames: int | None = None,
        reverse: bool = False,
    ) -> Iterator[tuple[int, list[int], np.ndarray]]:
        """Yield ``(frame_idx, obj_ids, logits N x H x W)`` from ``start_frame`` (default: the earliest prompted
        frame) forward, or backward with ``reverse``; frames are read from ``frames`` one at a time."""
        self._commit_prompts()
        if not self.objects:
            raise ValueError("no object has a prompt yet: add points, a box or a mask first")
        num = len(frames)
        if start_frame is None:
            starts = [t for obj in self.objects.values() for t in obj.cond]
            if not starts:
                raise ValueError("no conditioning frame: prompt a frame that was not tracked yet")
            start_frame = min(starts)
        if not 0 <= start_frame < num:
            raise ValueError(f"start_frame {start_frame} is outside the clip (0..{num - 1})")
        count = num if max_frames is None else max_frames
        if reverse:
            order = range(start_frame, max(start_frame - count, 0) - 1, -1) if start_frame > 0 else range(0)
        else:
            order = range(start_frame, min(start_frame + count, num - 1) + 1)
        for t in order:
            needs_frame = any(t not in obj.cond for obj in self.objects.values())
            ids, logits = self.track(t, frames[t] if needs_frame else None, reverse=reverse)
            yield t, ids, logits

    def object_score(self, obj_id: int, frame_idx: int) -> float | None:
        """The object-score logit of ``obj_id`` on ``frame_idx`` (> 0: present), if that frame is still held."""
        obj = self.objects[obj_id]
        out = obj.cond.get(frame_idx) or obj.non_cond.get(frame_idx)
        return None if out is None else float(out.object_score.reshape(-1)[0])

    def memory_frames(self, obj_id: int) -> tuple[list[int], list[int]]:
        """The frames whose outputs are held for ``obj_id``: (conditioning, non-conditioning)."""
        obj = self.objects[obj_id]
        return list(obj.cond), list(obj.non_cond)

    # ---- steps --------------------------------------------------------------------------------------------------
    def _frame_features(self, frame_idx: int, frame: np.ndarray) -> FrameFeatures:
        if self._features is not None and self._features[0] == frame_idx:
            return self._features[1]
        check_frame(frame)
        if frame.shape[:2] != self.video_hw:
            raise ValueError(
                f"frame {frame_idx} is {frame.shape[1]}x{frame.shape[0]}, the clip is "
                f"{self.video_hw[1]}x{self.video_hw[0]}"
            )
        self._features = None  # drop the previous frame's features before computing the next
        with self.model.autocast():
            feats = self.model.encode_image(to_model_input(frame).to(self.model.device))
        self._features = (frame_idx, feats)
        return feats

    def _prompt_tensors(self, points, labels, box) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: ANN001
        if (points is None) != (labels is None):
            raise ValueError("points and labels must be given together")
        if points is None and box is None:
            raise ValueError("give at least one click (points and labels) or a box")
        pts = torch.zeros(0, 2) if points is None else torch.as_tensor(np.asarray(points, dtype=np.float32))
        lbl = torch.zeros(0, dtype=torch.int32) if labels is None else torch.as_tensor(np.asarray(labels, np.int32))
        if pts.ndim != 2 or pts.shape[1] != 2 or lbl.ndim != 1 or len(lbl) != len(pts):
            raise ValueError(
                f"points must be N x 2 (x, y) with N labels, got {tuple(pts.shape)} and {tuple(lbl.shape)}"
            )
        if box is not None:
            b = torch.as_tensor(np.asarray(box, dtype=np.float32))
            if b.numel() != 4:
                raise ValueError(f"a box is (x0, y0, x1, y1), got {b.numel()} numbers")
            pts = torch.cat([b.reshape(2, 2), pts], dim=0)
            lbl = torch.cat([torch.tensor([2, 3], dtype=torch.int32), lbl], dim=0)
        h, w = self.video_hw
        pts = pts / torch.tensor([w, h]) * IMAGE_SIZE
        return pts.unsqueeze(0), lbl.unsqueeze(0)

    def _commit_prompts(self) -> None:
        """Move outputs made by prompts into memory (the reference's propagation preflight)."""
        for obj in self.objects.values():
            for new, held in ((obj.new_non_cond, obj.non_cond), (obj.new_cond, obj.cond)):
                held.update(new)
                new.clear()
            for t in obj.cond:
                obj.non_cond.pop(t, None)

    def select_memory(self, obj_id: int, t: int, reverse: bool = False) -> MemoryPlan:
        """Which held outputs frame ``t`` of ``obj_id`` attends to (see :class:`MemoryPlan`)."""
        return self._plan(self.objects[obj_id], t, reverse)

    def _plan(self, obj: _ObjectState, t: int, reverse: bool) -> MemoryPlan:
        num_maskmem = self.model.config.num_maskmem
        spatial = [(c, num_maskmem - 1) for c in obj.cond]  # every conditioning frame, the future ones too
        for t_pos in range(1, num_maskmem):
            t_rel = num_maskmem - t_pos
            c = t + t_rel if reverse else t - t_rel
            if c in obj.non_cond:
                spatial.append((c, num_maskmem - t_pos - 1))
        max_ptrs = self.model.config.max_obj_ptrs
        if self.num_frames is not None:
            max_ptrs = min(self.num_frames, max_ptrs)
        sign = -1 if reverse else 1
        pointers = [(c, (t - c) * sign) for c in obj.cond if (c >= t if reverse else c <= t)]
        for t_diff in range(1, max_ptrs):
            c = t + t_diff if reverse else t - t_diff
            if c < 0 or (self.num_frames is not None and c >= self.num_frames):
                break
            if c in obj.non_cond:
                pointers.append((c, t_diff))
        return MemoryPlan(spatial, pointers, max_ptrs - 1)

    def _condition(self, obj: _ObjectState, t: int, feats: FrameFeatures, reverse: bool) -> torch.Tensor:
        """Memory-conditioned features for ``t``: every conditioning memory, the recent ones, object pointers."""
        plan = self._plan(obj, t, reverse)
        held = obj.non_cond | obj.cond  # a frame held as both is a conditioning frame
        memories = [(held[c].maskmem, held[c].maskmem_pos, tpos) for c, tpos in plan.spatial]
        pointers = [(dist, held[c].obj_ptr) for c, dist in plan.pointers]
        return self.model.attend_memory(feats, memories, pointers, plan.t_diff_max)

    def _track_object(self, obj: _ObjectState, t: int, feats: FrameFeatures, reverse: bool) -> FrameOutput:
        if not obj.cond:
            raise ValueError("an object without a conditioning frame cannot be tracked: prompt it first")
        with self.model.autocast():
            pix = self._condition(obj, t, feats, reverse)
            out = self.model.decode(pix, feats.high_res, None, None, None, self.model.use_multimask(0))
        return self._remember(feats, out.masks, out.obj_ptr, out.object_score, binarize=False)

    def _mask_as_output(self, feats: FrameFeatures, mask: np.ndarray) -> FrameOutput:
        """The reference's ``add_new_mask``: the mask itself is the output; the decoder only makes its pointer."""
        m = torch.as_tensor(mask.astype(np.float32))[None, None].to(self.model.device)
        if m.shape[-2:] != (IMAGE_SIZE, IMAGE_SIZE):
            m = F.interpolate(m, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False, antialias=True)
            m = (m >= 0.5).float()
        high = m * 20.0 - 10.0
        low = F.interpolate(high, size=(IMAGE_SIZE // 4,) * 2, mode="bilinear", align_corners=False, antialias=True)
        with self.model.autocast():
            ptr = self.model.decode(
                feats.feat, feats.high_res, None, None, self.model.mask_downsample(m), False
            ).obj_ptr
        present = torch.any(m.flatten(1) > 0.0, dim=1)[..., None].float()
        ptr = present * ptr + (1 - present) * self.model.no_obj_ptr
        return self._remember(feats, low, ptr, 20.0 * present - 10.0, binarize=True)

    def _remember(self, feats: FrameFeatures, masks, obj_ptr, score, binarize: bool) -> FrameOutput:  # noqa: ANN001
        with self.model.autocast():
            maskmem, pos = self.model.encode_memory(feats.feat, masks.float(), score, binarize)
        return FrameOutput(masks.float(), obj_ptr.float(), score.float(), maskmem.to(torch.bfloat16), pos.float())

    def _evict(self, obj: _ObjectState, t: int) -> None:
        far = [c for c in obj.non_cond if abs(c - t) > self.config.keep_frames]
        for c in far:
            del obj.non_cond[c]

    def _video_logits(self, frame_idx: int) -> np.ndarray:
        """Every object's latest logits on ``frame_idx`` at video size (-1024 where an object has none)."""
        lows = []
        for obj in self.objects.values():
            out = (
                obj.new_cond.get(frame_idx)
                or obj.new_non_cond.get(frame_idx)
                or obj.cond.get(frame_idx)
                or obj.non_cond.get(frame_idx)
            )
            lows.append(
                torch.full((1, 1, IMAGE_SIZE // 4, IMAGE_SIZE // 4), NO_OBJ_SCORE)
                if out is None
                else out.pred_masks.cpu()
            )
        return self._to_video(torch.cat(lows, dim=0))

    def _to_video(self, low: torch.Tensor) -> np.ndarray:
        video = F.interpolate(low.float().cpu(), size=self.video_hw, mode="bilinear", align_corners=False)
        return video[:, 0].numpy()
