"""Needs-review flags on hand-made mask sequences: each rule fires on its failure and stays quiet on a good track."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tracking.flags import FrameSignal, SignalLog, frame_signals, next_flagged, review_flags

H, W = 120, 160


def _disc(cx: float, cy: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:H, :W]
    return ((xx - cx) ** 2 + (yy - cy) ** 2 <= r * r).astype(np.uint8)


def _frames(n: int) -> list[np.ndarray]:
    """A grey background with a red disc moving right (the colours the masks should hold)."""
    out = []
    for t in range(n):
        f = np.full((H, W, 3), 90, np.uint8)
        f[_disc(50 + 2 * t, 60, 15) > 0] = (220, 30, 30)
        out.append(f)
    return out


def test_a_good_track_is_not_flagged() -> None:
    masks = [_disc(50 + 2 * t, 60, 15) for t in range(10)]
    assert review_flags(masks, {1: [0]}, frames=_frames(10)) == {}


def test_empty_inside_the_frame_is_lost_and_at_the_edge_is_milder() -> None:
    masks = [_disc(50 + 2 * t, 60, 15) for t in range(6)] + [np.zeros((H, W), np.uint8)] * 2
    flags = review_flags(masks, {1: [0]})
    assert set(flags) == {6, 7} and "probably lost" in flags[6][1][0]
    leaving = [_disc(60 + 20 * t, 60, 15) for t in range(6)] + [np.zeros((H, W), np.uint8)]  # t=5 touches the edge
    flags = review_flags(leaving, {1: [0]})
    assert "probably lost" not in flags[6][1][0] and "left the frame" in flags[6][1][0]


def test_slow_bloat_is_caught_against_the_keyframe() -> None:
    # 8 % more area a frame: never a jump between neighbours, but twice the keyframe's size by the end
    masks = [_disc(80, 60, 15 * 1.04 ** t) for t in range(20)]
    flags = review_flags(masks, {1: [0]})
    first = min(flags)
    assert first >= 5 and all(t in flags for t in range(first, 20))
    assert "as large as on keyframe 0" in flags[first][1][0]
    assert all("next to it" not in r for objs in flags.values() for r in objs[1])


def test_colour_drift_centroid_jump_and_tracker_signals() -> None:
    frames = _frames(6)
    masks = [_disc(50 + 2 * t, 60, 15) for t in range(6)]
    masks[3] = _disc(130, 25, 15)  # slid onto the grey background, far away
    signals = {4: {1: FrameSignal(0.3, None)}, 5: {1: FrameSignal(0.95, 0.2)}}
    flags = review_flags(masks, {1: [0]}, signals, frames)
    reasons = " ".join(flags[3][1])
    assert "colours under the mask differ" in reasons and "jumped" in reasons
    assert "unsure" in " ".join(flags[4][1]) and "disagree" in " ".join(flags[5][1])
    assert next_flagged(flags, 0) == 3 and next_flagged(flags, 5, forward=False) == 4 and next_flagged(flags, 5) is None


def test_keyframes_are_never_flagged_and_signals_round_trip(tmp_path: Path) -> None:
    masks = [_disc(50, 60, 15), np.zeros((H, W), np.uint8), _disc(50, 60, 15)]
    assert 1 in review_flags(masks, {1: [0, 2]}) and 2 not in review_flags(masks, {1: [0, 2]})
    labels = _disc(50, 60, 15)
    fwd = np.stack([1.0 - labels, labels]).astype(np.float32)
    shifted = _disc(80, 60, 15)
    bwd = np.stack([1.0 - shifted, shifted]).astype(np.float32)
    got = frame_signals(labels, {1: 0.9 * labels.astype(np.float32)}, (fwd, [1]), (bwd, [1]))
    assert abs(got[1].confidence - 0.9) < 1e-6 and got[1].pass_agreement < 0.3
    log = SignalLog(tmp_path)
    log.record(4, got)
    log.save()
    assert SignalLog(tmp_path).signals[4][1].pass_agreement == got[1].pass_agreement
