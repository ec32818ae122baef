"""Shot detection: hard cuts and fades found where they are, no cut in fast motion or anywhere in a single shot."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from editor.shots import Shot, ShotConfig, detect_shots, shots_from_json, shots_to_json


def scene(seed: int, n: int, speed: float, size=(120, 200)) -> list[np.ndarray]:
    """A textured scene panned by ``speed`` pixels per frame (a larger canvas cropped along a path)."""
    rng = np.random.default_rng(seed)
    h, w = size
    canvas = cv2.GaussianBlur(rng.integers(0, 255, (h * 2, w * 4, 3), dtype=np.uint8), (0, 0), 3)
    canvas = cv2.normalize(canvas, None, 0, 255, cv2.NORM_MINMAX)
    tint = rng.integers(0, 255, 3)
    canvas = (canvas.astype(np.float32) * 0.6 + tint * 0.4).astype(np.uint8)
    return [canvas[20:20 + h, int(t * speed) % (w * 3): int(t * speed) % (w * 3) + w].copy() for t in range(n)]


def cuts(shots: list[Shot]) -> list[int]:
    return [s.start for s in shots[1:]]


def test_hard_cuts_between_scenes_are_found_at_their_frame() -> None:
    frames = scene(1, 20, 2) + scene(2, 15, 2) + scene(1, 25, 2)
    shots = detect_shots(frames, len(frames))
    assert cuts(shots) == [20, 35]
    assert [s.begins_with for s in shots] == ["start", "cut", "cut"]
    assert shots[0].start == 0 and shots[-1].end == 60 and sum(len(s) for s in shots) == 60


def test_fast_motion_without_a_cut_is_one_shot() -> None:
    frames = scene(3, 40, 9)  # 9 px a frame on a 200 px wide frame: every frame changes a lot
    assert cuts(detect_shots(frames, len(frames))) == []


def test_a_cut_out_of_fast_motion_into_a_calm_shot_is_found() -> None:
    """The busy side's large changes must not hide the cut (they did: one mean over both sides)."""
    fast, calm = scene(6, 20, 11), scene(7, 20, 0.5)
    assert cuts(detect_shots(fast + calm, 40)) == [20]
    assert cuts(detect_shots(calm + fast, 40)) == [20]


def test_fast_motion_starting_mid_shot_is_not_a_cut() -> None:
    frames = scene(8, 40, 1)[:20] + [f for f in scene(8, 80, 11)[20:40]]  # the same scene; the pan speeds up
    assert cuts(detect_shots(frames, len(frames))) == []


def test_a_fade_through_black_is_one_boundary_in_its_middle() -> None:
    a, b = scene(4, 20, 1), scene(5, 20, 1)
    fade_out = [(f * (1 - k / 8)).astype(np.uint8) for k, f in enumerate(a[-9:])]
    fade_in = [(f * (k / 8)).astype(np.uint8) for k, f in enumerate(b[:9])]
    frames = a[:-9] + fade_out + fade_in + b[9:]
    shots = detect_shots(frames, len(frames))
    assert len(shots) == 2 and shots[1].begins_with == "fade"
    assert abs(shots[1].start - 20) <= 2


def test_boundaries_closer_than_the_minimum_shot_keep_the_stronger() -> None:
    frames = scene(6, 20, 1) + scene(7, 3, 1) + scene(8, 20, 1)  # a 3-frame flash of another scene
    shots = detect_shots(frames, len(frames), ShotConfig(min_shot_frames=8))
    assert len(cuts(shots)) == 1


def test_frame_count_mismatch_and_json_round_trip() -> None:
    frames = scene(9, 12, 1)
    with pytest.raises(ValueError, match="expected 13 frames, read 12"):
        detect_shots(frames, 13)
    shots = [Shot(0, 10), Shot(10, 30, "cut"), Shot(30, 31, "fade")]
    assert shots_from_json(shots_to_json(shots)) == shots
    assert 10 in shots[1] and 30 not in shots[1]


def _clip_frames(clips_dir: Path, name: str, start: int = 0, stop: int | None = None) -> list[np.ndarray]:
    files = sorted((clips_dir / name / "frames").iterdir())[start:stop]
    return [cv2.resize(cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB), (854, 480)) for f in files]


@pytest.mark.slow
def test_real_clips_concatenated_cut_exactly_where_they_were_joined(clips_dir: Path) -> None:
    parts = [("davis2016-blackswan", 0, 25), ("davis2016-car-roundabout", 0, 25), ("davis2016-blackswan", 25, 50),
             ("davis2016-bmx-trees", 0, 30)]
    frames = [f for name, a, b in parts for f in _clip_frames(clips_dir, name, a, b)]
    assert cuts(detect_shots(frames, len(frames))) == [25, 50, 75]
    # out of the middle of bmx-trees (fast) into a calm clip: missed by a mean over both sides
    frames = _clip_frames(clips_dir, "davis2016-bmx-trees", 30, 50) + _clip_frames(clips_dir, "davis2016-dog", 20, 40)
    assert cuts(detect_shots(frames, len(frames))) == [20]


@pytest.mark.slow
def test_no_cut_in_any_single_shot_real_clip(clips_dir: Path) -> None:
    """Fast motion (bmx-trees, dance-twirl, breakdance), pans and a 1080p clip: every clip here is one shot."""
    for clip in sorted(p for p in clips_dir.iterdir() if (p / "frames").is_dir()):
        frames = _clip_frames(clips_dir, clip.name)
        assert cuts(detect_shots(frames, len(frames))) == [], clip.name
