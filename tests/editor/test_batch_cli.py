"""``tam batch`` without Ray: the clips run one after another in-process, bad lines are shown first."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from editor.sample import write_sample_video
from tests.editor.test_cli import run_tam


@pytest.fixture
def no_ray(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError, as where it is not installed


def test_without_ray_the_clips_run_in_process_and_a_rerun_skips_them(tmp_path: Path, no_ray, capsys,
                                                                     monkeypatch) -> None:
    sample = write_sample_video(tmp_path / "clip.mp4", n_frames=8, size=(128, 72))
    manifest = tmp_path / "clips.jsonl"
    manifest.write_text(
        json.dumps({"input": "clip.mp4", "points": [list(sample.click)], "op": "remove", "output": "clean.mp4",
                    "backend": "classical"}) + "\n"
        + json.dumps({"input": "clip.mp4", "op": "remove", "output": "other.mp4"}) + "\n"
    )
    code, text = run_tam(["batch", manifest, "--out", tmp_path / "out"], capsys, monkeypatch)
    assert code == 1, text  # the bad line makes the batch fail, after the good one ran
    assert "line 2: say what to select" in text and "Ray is not installed" in text and "pip install" in text
    assert text.index("line 2: say what to select") < text.index("in-process")  # reported before any work
    assert (tmp_path / "out" / "clean.mp4").stat().st_size > 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["runner"] == "in-process"
    assert [(r["line"], r["status"]) for r in report["results"]] == [(1, "done"), (2, "invalid")]
    assert report["results"][0]["frames"] == 8 and report["results"][0]["fps"] > 0

    code, text = run_tam(["batch", manifest, "--out", tmp_path / "out"], capsys, monkeypatch)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["results"][0]["status"] == "skipped" and "1 already done" in text


def test_an_address_without_ray_is_a_clear_error(tmp_path: Path, no_ray, capsys, monkeypatch) -> None:
    manifest = tmp_path / "clips.jsonl"
    (tmp_path / "clip.mp4").write_bytes(b"x")
    manifest.write_text(json.dumps({"input": "clip.mp4", "points": [[1, 1]], "op": "remove", "output": "a.mp4"}))
    code, text = run_tam(["batch", manifest, "--out", tmp_path / "out", "--address", "auto"], capsys, monkeypatch)
    assert code == 1 and "--address needs Ray" in text and "Traceback" not in text
    assert not (tmp_path / "out" / "a.mp4").exists()


def test_a_manifest_of_bad_lines_only_starts_no_ray_and_fails(tmp_path: Path, capsys, monkeypatch) -> None:
    """Every line invalid: the batch said "running the other 0" and then started a local Ray cluster (6.5 s) to
    run nothing. Now it reports the lines, starts nothing and exits 1."""
    import editor.batch_view as batch_view

    def no_cluster(*args, **kwargs):
        raise AssertionError("Ray was started for a batch with nothing to run")

    monkeypatch.setattr(batch_view, "run_on_ray", no_cluster)
    monkeypatch.setattr(batch_view, "ray_available", lambda: True)  # as where Ray is installed
    manifest = tmp_path / "clips.jsonl"
    (tmp_path / "clip.mp4").write_bytes(b"x")
    manifest.write_text(json.dumps({"input": "clip.mp4", "points": [[1, 1]], "op": "remove"}) + "\n")
    code, text = run_tam(["batch", manifest, "--out", tmp_path / "out"], capsys, monkeypatch)
    assert code == 1, text
    assert "line 1: missing 'output'" in text and "Traceback" not in text
    assert "Ray is not installed" not in text
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["runner"] == "nothing to run" and [r["status"] for r in report["results"]] == ["invalid"]
