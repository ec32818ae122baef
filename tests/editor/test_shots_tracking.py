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


def _moving_box(h: int, w: int, t: int) -> np.ndarray:
    labels = np.zeros((h, w), np.uint8)
    x = 20 + 3 * (t % 10)
    labels[40:80, x : x + 30] = 1
    return labels


def test_removal_never_takes_sources_from_another_shot(tmp_path: Path) -> None:
    """The fill of each shot reads frames of that shot only, and equals filling the shot as a clip of its own."""
    from editor.shot_fill import fill_by_shot
    from inpaint.classical import ClassicalInpainter

    cuts, _ = write_three_shots(tmp_path / "frames")
    project = pipeline.open_project(tmp_path / "frames", tmp_path / "project")
    h, w = project.frames[0].shape[:2]
    for t in range(project.num_frames):
        project.masks[t] = _moving_box(h, w, t)

    class Logged(list):
        reads: set[int] = set()

        def __getitem__(self, i):
            self.reads.add(i)
            return super().__getitem__(i)

    frames = Logged(project.frames[t] for t in range(project.num_frames))
    masks = [project.masks[t] > 0 for t in range(project.num_frames)]
    real, seen = ClassicalInpainter(), []

    def recording(shot_frames, shot_masks, sink, *, skip, progress):
        frames.reads.clear()
        real(shot_frames, shot_masks, sink, skip=skip, progress=progress)
        seen.append(set(frames.reads))

    out: dict[int, np.ndarray] = {}
    fill_by_shot(recording, frames, masks, out.__setitem__, project.shots)
    assert [(min(r), max(r)) for r in seen] == [(0, 9), (10, 19), (20, 29)]
    assert sorted(out) == list(range(30))

    report = pipeline.inpaint(project, backend="classical")
    assert report.frames_filled == 30 and project.stage_settings("inpaint")["cuts"] == cuts
    alone: dict[int, np.ndarray] = {}
    ClassicalInpainter()([frames[t] for t in range(10, 20)], masks[10:20], lambda i, f: alone.__setitem__(10 + i, f))
    for t in range(10, 20):
        assert np.array_equal(project.inpainted[t], alone[t]), f"frame {t} was filled with another shot's pixels"
