"""``tam track`` / ``tam remove`` check the masks as the page does and say what the checks flag, never only that
every frame was tracked (tam cannot know the masks are right)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.common import CLIPS
from editor.cli_output import flagged_summary, frame_ranges
from editor.sample import write_sample_video
from tests.editor.test_cli import run_tam

DOGS = CLIPS / "sttn-dogs_jump" / "video.mp4"


def test_frame_ranges_and_the_summary_in_words(tmp_path: Path) -> None:
    assert frame_ranges([3, 4, 5, 9, 11, 12]) == "3–5, 9, 11–12"
    assert frame_ranges(list(range(0, 40, 2)), most=3) == "0, 2, 4 and 17 more ranges"
    none = flagged_summary({}, 10, tmp_path)
    assert "no frame flagged, but the checks miss some mistakes" in none and "--point X,Y@N" in none
    some = flagged_summary({2: "object 1: the mask is empty", 3: "object 1: the mask is empty", 7: "object 1: x"}, 10,
                           tmp_path)
    assert "3 of 10 frames flagged for review (frames 2–3, 7; most often: object 1: the mask is empty)" in some
    assert "--format overlay" in some and "--point X,Y@N" in some
    assert flagged_summary({}, 10, tmp_path, "fix it another way").endswith("and fix it another way")


def test_track_prints_the_check_and_keeps_review_json(tmp_path: Path, capsys, monkeypatch) -> None:
    video = tmp_path / "sample.mp4"
    sample = write_sample_video(video, n_frames=10, size=(192, 112))
    x, y = sample.click
    project = tmp_path / "work"
    code, text = run_tam(["track", video, "--point", f"{x},{y}", "--masks-out", tmp_path / "m",
                          "--project", project, "--backend", "classical"], capsys, monkeypatch)
    assert code == 0, text
    assert "checked the masks" in text or "frames flagged for review" in text, text
    assert isinstance(json.loads((project / "review.json").read_text()), dict)


@pytest.mark.slow
@pytest.mark.skipif(not DOGS.is_file(), reason=f"{DOGS} is absent (the shared clips live in ../shared/clips)")
def test_track_on_real_footage_names_the_frames_that_look_wrong(tmp_path: Path, capsys, monkeypatch) -> None:
    """sttn-dogs_jump, the person clicked: the classical tracker loses them, and the command says where."""
    code, text = run_tam(["track", DOGS, "--point", "205,95", "--masks-out", tmp_path / "m", "--project",
                          tmp_path / "work", "--backend", "classical"], capsys, monkeypatch)
    assert code == 0, text
    assert "of 66 frames flagged for review (frames " in text and "--point X,Y@N" in text, text
    flagged = json.loads((tmp_path / "work" / "review.json").read_text())
    assert len(flagged) > 10
