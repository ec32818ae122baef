"""The Python API: what ``track`` reports is what the session did."""

from __future__ import annotations

from editor.pipeline import ObjectPrompt, open_project, track
from editor.sample import write_sample_video


def test_track_report_names_backends_and_refined_frames(tmp_path):
    src = tmp_path / "clip.mp4"
    sample = write_sample_video(src, n_frames=6, size=(160, 96))
    project = open_project(src, tmp_path / "p")
    report = track(project, [ObjectPrompt(points=(sample.click,))], backend="classical", refine="always")
    assert (report.segmenter, report.propagator, report.device) == ("classical-grabcut", "classical-flow", "cpu")
    assert report.object_ids == [1] and report.frames_written == 5
    # refine "always" re-prompts the segmenter on every propagated frame; the report says so
    assert set(report.refined) == {1, 2, 3, 4, 5}
    assert all("object 1" in why for why in report.refined.values())
    assert report.empty_objects == []
