"""A correction does not silence the review: the flags of frames whose masks it did not change stay.

Before, the rules judged each frame against its nearest keyframe only, so one small correction on a drifted
frame made that drifted mask the reference of the frames around it, and their flags vanished although their
masks were the same (trackanything-sample2: 24 frames flagged, a click on frame 75, none flagged).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from editor import review
from editor.encode import write_video
from editor.pipeline import open_session
from editor.store import Project

N, H, W = 14, 120, 240


def _disc(t: int, radius: int, obj: int) -> np.ndarray:
    label = np.zeros((H, W), np.uint8)
    cv2.circle(label, (70 + 6 * t, 60), radius, obj, -1)
    return label


def _drifting_project(tmp_path: Path):
    """A disc that moves right; its tracked mask bloats a little every frame (3.2x its area by the last frame)."""
    frames = []
    for t in range(N):
        frame = np.full((H, W, 3), 90, np.uint8)
        cv2.circle(frame, (70 + 6 * t, 60), 16, (240, 240, 240), -1)
        frames.append(frame)
    src = write_video(frames, tmp_path / "clip.mp4", Fraction(25), crf=12)
    project = Project.open_or_create(tmp_path / "proj", src)
    session = open_session(project, backend="classical", refine="off")
    obj = session.add_object("disc")
    session.add_mask(0, obj, _disc(0, 16, 1) > 0)
    for t in range(1, N):
        project.masks[t] = _disc(t, round(16 * (1 + 0.06 * t)), obj)
    return project, session, obj


def test_a_small_correction_in_the_middle_keeps_the_flags_of_the_frames_it_did_not_change(tmp_path: Path) -> None:
    project, session, obj = _drifting_project(tmp_path)
    flags = review.compute(project, session)
    review.save(project.state_dir, flags, project.masks)
    bloated = {t for t in flags if obj in flags[t]}
    assert {11, 12, 13} <= bloated, flags  # 1.8x the keyframe's area and more

    # the person corrects frame 12 a little: its mask stays bloated, the other frames are not re-tracked
    corrected = project.masks[12] == obj
    corrected[:, :4] = False
    session.add_mask(12, obj, corrected)
    after = review.compute(project, session)
    assert 12 not in after  # the corrected frame is a keyframe: never flagged
    assert {11, 13} <= set(after), after  # their masks did not change: still flagged, with the same words
    assert after[13][obj] == flags[13][obj]


def test_a_flag_goes_once_the_mask_under_it_changes(tmp_path: Path) -> None:
    project, session, obj = _drifting_project(tmp_path)
    review.save(project.state_dir, review.compute(project, session), project.masks)
    for t in range(1, N):  # a re-track that follows the disc
        project.masks[t] = _disc(t, 16, obj)
    assert review.compute(project, session) == {}


def test_flags_saved_without_their_masks_do_not_outlive_the_next_check(tmp_path: Path) -> None:
    project, session, obj = _drifting_project(tmp_path)
    review.save(project.state_dir, {2: {obj: ("an old reason",)}})
    assert all("an old reason" not in reasons for objs in review.compute(project, session).values()
               for reasons in objs.values())
