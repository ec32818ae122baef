"""The project's cuts reach tracking: ``editor.pipeline`` opens sessions with ``project.cuts``."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from editor import pipeline
from tests.tracking.test_session import centre, make_clip


def write_three_shots(folder: Path) -> tuple[list[int], list[np.ndarray]]:
    """A | B | A' frames (10 each) in ``folder``; returns the cuts and the red disc's truth per frame."""
    first = make_clip(n=30, enter=99, speed=2)
    h, w = first.frames[0].shape[:2]
    rng = np.random.default_rng(3)
    plate = cv2.GaussianBlur(rng.integers(0, 255, (h, w + 40, 3), dtype=np.uint8), (0, 0), 1)
    plate = (plate.astype(np.float32) * 0.9 + np.array([60, 40, 90])).clip(0, 255).astype(np.uint8)
    yy, xx = np.mgrid[:h, :w]
    folder.mkdir(parents=True)
    truth = []
    for t in range(30):
        other = 10 <= t < 20
        frame = first.frames[t]
        if other:  # another scene, panning, with a green disc
            frame = plate[:, 2 * (t - 10) : 2 * (t - 10) + w].copy()
            frame[(xx - 50 - 3 * t) ** 2 + (yy - 60) ** 2 < 22**2] = (40, 200, 60)
        truth.append(np.zeros((h, w), bool) if other else first.disc[t])
        cv2.imwrite(str(folder / f"{t:05d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return [10, 20], truth


def test_track_stops_at_the_projects_cuts_and_finds_the_object_again(tmp_path: Path) -> None:
    cuts, truth = write_three_shots(tmp_path / "frames")
    project = pipeline.open_project(tmp_path / "frames", tmp_path / "project")
    assert project.cuts == cuts
    x, y = centre(truth[0])
    report = pipeline.track(project, [pipeline.ObjectPrompt(points=((x, y),))], backend="classical")
    obj = report.object_ids[0]
    carried = [t for t in range(10, 20) if (project.masks[t] == obj).any()]
    assert not carried, f"the mask was carried across the cut onto frames {carried}"
    session = pipeline.open_session(project, "classical")
    assert session.state.cuts == tuple(cuts)
    assert session.state.refound[(10, obj)].frame is None
    assert session.state.refound[(20, obj)].frame == 20
    ious = []
    for t in range(20, 30):
        ours = project.masks[t] == obj
        ious.append((ours & truth[t]).sum() / (ours | truth[t]).sum())
    assert min(ious) > 0.6, ious
