"""One-frame previews: the same fill and compositing as the full render, on one frame, nothing written."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from editor import compose, pipeline
from editor.preview import preview_frame
from editor.sample import write_sample_video


def _tracked(tmp_path: Path):
    sample = write_sample_video(tmp_path / "s.mp4", n_frames=12)
    project = pipeline.open_project(tmp_path / "s.mp4", tmp_path / "p")
    for i in range(project.num_frames):  # the true masks, as if tracked
        project.masks[i] = sample.masks[i].astype(np.uint8)
    return sample, project


def test_removal_preview_matches_the_full_render_and_writes_nothing(tmp_path: Path) -> None:
    sample, project = _tracked(tmp_path)
    got = preview_frame(project, 6, compose.RemoveEdit(), backend="classical")
    assert not project.inpainted.written()  # only a preview: the clip was not filled
    assert got.shape == (270, 480, 3)
    inside = sample.masks[6]
    from editor.video import iter_frames

    original = list(iter_frames(tmp_path / "s.mp4"))[6]
    assert np.abs(got[inside].astype(int) - original[inside].astype(int)).mean() > 10  # the object is gone
    truth = sample.background[6].astype(int)  # the clean background behind it
    assert np.abs(got[inside] - truth[inside]).mean() < 0.5 * np.abs(original[inside] - truth[inside]).mean()
    assert np.array_equal(got[~_grown(inside)], original[~_grown(inside)])  # untouched outside the mask
    # the full render's frame 6 is the same fill
    pipeline.inpaint(project, backend="classical")
    full = pipeline.render(project, tmp_path / "full.mp4", compose.RemoveEdit())
    rendered = list(iter_frames(full))[6]
    assert np.abs(rendered.astype(int) - got.astype(int))[inside].mean() < 6  # the same up to the video codec


def test_blur_preview_needs_no_fill(tmp_path: Path) -> None:
    sample, project = _tracked(tmp_path)
    got = preview_frame(project, 3, compose.BlurEdit(None, "pixelate", 16.0))
    assert not project.inpainted.written()
    from editor.video import iter_frames

    original = list(iter_frames(tmp_path / "s.mp4"))[3]
    assert np.abs(got[sample.masks[3]].astype(int) - original[sample.masks[3]].astype(int)).mean() > 3


def _grown(mask: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.dilate(mask.astype(np.uint8), np.ones((41, 41), np.uint8)) > 0
