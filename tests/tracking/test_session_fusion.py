"""The fusion of a span's two passes (``tracking.session.fusion``): by distance, and by each pass's error at the
far keyframe, so a forward pass that lost the object before a correction does not blank the frames before it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.tracking.test_session import FolderStore, make_clip
from tracking.classical import FlowPropagator, GrabCutSegmenter
from tracking.session import TrackSession


def test_equal_errors_weight_by_distance_and_a_lost_pass_gives_way() -> None:
    from tracking.session.fusion import forward_weight, pass_error

    for t in range(1, 10):
        assert forward_weight(t, 0, 10) == forward_weight(t, 0, 10, (0.4, 0.4)) == 1 - t / 10
    # the forward pass had the right keyframe wrong (lost: error 1), the backward pass had the left one right
    assert forward_weight(3, 0, 10, (1.0, 0.0)) < 0.25 < 0.7 == forward_weight(3, 0, 10)
    # ... and the other way round
    assert forward_weight(7, 0, 10, (0.0, 1.0)) > 0.75 > 0.3 == round(forward_weight(7, 0, 10), 6)
    assert pass_error(np.zeros((4, 4), bool), np.zeros((4, 4), bool)) == 0.0
    assert pass_error(np.eye(4, dtype=bool), np.zeros((4, 4), bool)) == 1.0


def test_blend_takes_one_weight_per_object() -> None:
    from tracking.session.fusion import blend

    fwd = np.zeros((3, 2, 2), np.float32)
    bwd = np.zeros((3, 2, 2), np.float32)
    fwd[0], bwd[1], bwd[2] = 1.0, 1.0, 0.0  # forward: background everywhere; backward: object 1 everywhere
    bwd[0] = 0.0
    labels, probs = blend(fwd, [1, 2], bwd, [1, 2], {1: 0.2, 2: 0.5})
    assert (labels == 1).all() and np.allclose(probs[1], 0.8)
    scalar, _ = blend(fwd, [1, 2], bwd, [1, 2], 0.2)
    same, _ = blend(fwd, [1, 2], bwd, [1, 2], {1: 0.2, 2: 0.2})
    assert np.array_equal(scalar, same)


class LosesIt(FlowPropagator):
    """The classical propagator, made to lose the object when it steps forward past frame ``lose_from`` (a
    tracker failure in one direction, as a forward pass that loses a fast body before a correction)."""

    def __init__(self, clip: list[np.ndarray], lose_from: int) -> None:
        super().__init__()
        self.clip, self.lose_from, self.last = clip, lose_from, -1

    def step(self, frame, label_map=None):
        t = next(i for i, f in enumerate(self.clip) if f is frame)
        forward, self.last = t > self.last, t
        probs = super().step(frame, label_map)
        if label_map is None and forward and t >= self.lose_from:
            self.memorize(np.zeros(frame.shape[:2], np.uint8))
            probs = np.zeros_like(probs)
            probs[0] = 1.0
        return probs


def test_frames_before_a_correction_come_from_the_pass_that_kept_the_object(tmp_path: Path) -> None:
    """Keyframes 0 and 10 on a disc; the forward pass loses it from frame 3 on, the backward pass keeps it. By
    distance alone frames 3..5 stayed empty (the forward pass weighs at least half there); the forward pass's
    error on frame 10 (its prediction there is empty) now hands them to the backward pass."""
    clip = make_clip(n=12)
    s = TrackSession(clip.frames, FolderStore(tmp_path / "m", 12), tmp_path / "s", GrabCutSegmenter(),
                     lambda: LosesIt(clip.frames, 3))
    obj = s.add_object()
    s.add_mask(0, obj, clip.disc[0])
    s.add_mask(10, obj, clip.disc[10])
    s.run_propagation()
    for t in range(3, 10):
        mask = s.masks[t] == obj
        iou = (mask & clip.disc[t]).sum() / max(1, (mask | clip.disc[t]).sum())
        assert iou > 0.7, (t, iou)
    for t in (1, 2):  # before the loss the forward pass, right there, still counts
        assert ((s.masks[t] == obj) & clip.disc[t]).sum() > 0.7 * clip.disc[t].sum()
