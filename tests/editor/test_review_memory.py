"""The page's review pass over a tracked clip reads the masks as it goes: its memory does not grow with the clip.

The old pass held every mask of the clip in a list before flagging (0.4 MB a frame at 480p: 6 GB for ten minutes).
"""

from __future__ import annotations

import tracemalloc
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from editor import review
from editor.encode import write_video
from editor.pipeline import open_session
from editor.store import Project


def _peak_review_bytes(tmp_path: Path, n: int) -> int:
    frames = []
    for t in range(n):
        frame = np.full((180, 320, 3), 90, np.uint8)
        cv2.circle(frame, (80 + t, 90), 25, (240, 240, 240), -1)
        frames.append(frame)
    src = write_video(frames, tmp_path / f"clip{n}.mp4", Fraction(25), crf=12)
    project = Project.open_or_create(tmp_path / f"proj{n}", src)
    session = open_session(project, backend="classical", refine="off")
    obj = session.add_object("disc")
    session.add_box(0, obj, (50, 60, 110, 120))
    for t in range(1, n):
        label = np.zeros((180, 320), np.uint8)
        cv2.circle(label, (80 + t, 90), 25, obj, -1)
        project.masks[t] = label
    seen: list[int] = []
    tracemalloc.start()
    try:
        review.compute(project, session, progress=lambda d, total: seen.append(d))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seen == list(range(1, n + 1))  # the progress still follows the pass
    return peak


def test_review_memory_does_not_grow_with_the_clip(tmp_path: Path) -> None:
    short = _peak_review_bytes(tmp_path, 20)
    long = _peak_review_bytes(tmp_path, 80)
    mask = 180 * 320
    # holding every mask costs a mask per frame more: 60 masks here (3.5 MB); reading them as it goes, nothing
    assert long - short < 10 * mask, (short, long)
