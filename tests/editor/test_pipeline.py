"""The Python API: what ``track`` reports is what the session did."""

from __future__ import annotations

import numpy as np
import pytest

from editor.errors import InputError
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


def test_rerun_skips_current_stages_and_redoes_them_after_a_code_change(tmp_path, monkeypatch):
    import editor.pipeline as pipeline
    from editor.hashing import source_digest

    src = tmp_path / "clip.mp4"
    sample = write_sample_video(src, n_frames=5, size=(160, 96))
    project = open_project(src, tmp_path / "p")
    prompts = [ObjectPrompt(points=(sample.click,))]
    assert track(project, prompts, backend="classical", refine="off").frames_written == 4
    assert track(project, prompts, backend="classical", refine="off").frames_written == 0  # current: skipped
    assert not pipeline.inpaint(project, backend="classical").skipped
    assert pipeline.inpaint(project, backend="classical").skipped

    assert len(source_digest("tracking")) == 16 and source_digest("tracking") != source_digest("inpaint")
    # an upgraded tam (other tracking / inpainting code): the cached masks and fills are not reused
    digests = {"tracking": "a-newer-tracker", "inpaint": "a-newer-filler"}
    monkeypatch.setattr(pipeline, "source_digest", digests.__getitem__)
    assert track(project, prompts, backend="classical", refine="off").frames_written == 4
    assert not pipeline.inpaint(project, backend="classical").skipped
    assert project.stage_settings("prompts")["code"] == "a-newer-tracker"


def test_prompts_rejected_halfway_do_not_leave_the_old_ones_claimed(tmp_path):
    src = tmp_path / "clip.mp4"
    sample = write_sample_video(src, n_frames=5, size=(160, 96))
    project = open_project(src, tmp_path / "p")
    good = [ObjectPrompt(points=(sample.click,))]
    track(project, good, backend="classical", refine="off")
    first = [project.masks[i].copy() for i in range(5)]
    # another first click, then a correction outside the frame: refused after the session was reset
    other = ObjectPrompt(points=((5.0, 5.0),), later_clicks=((2, 9999.0, 9999.0, True),))
    with pytest.raises(InputError):
        track(project, [other], backend="classical", refine="off")
    assert project.stage_hash("prompts") is None
    # the earlier prompts again: tracked again from their own click, not from whatever was half added
    assert track(project, good, backend="classical", refine="off").frames_written == 4
    assert all(np.array_equal(project.masks[i], first[i]) for i in range(5))
