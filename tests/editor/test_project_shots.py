"""A project's shots: measured while the frames are decoded (one pass), read back when a decode resumed or the
project predates them, kept in meta.json; and the JPEG frame store for long clips."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from editor.encode import write_video
from editor.errors import InputError, ProjectError
from editor.frame_store import FrameFormat
from editor.store import Project
from tests.editor.test_shots import scene


def _video(path: Path, frames: list[np.ndarray]) -> Path:
    return write_video(frames, path, Fraction(25), crf=12)


def _three_shots() -> list[np.ndarray]:
    return scene(1, 20, 2) + scene(2, 15, 2) + scene(3, 25, 2)


def _count_frame_reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every frame file read back from a frame store (wherever the store's module finds ``read_image``)."""
    import importlib
    import importlib.util

    from editor import frames as frames_module

    reads: list[Path] = []
    original = frames_module.read_image

    def counting(path: Path):
        reads.append(path)
        return original(path)

    for name in ("editor.store", "editor.frame_store"):
        if importlib.util.find_spec(name) is None:
            continue
        module = importlib.import_module(name)
        if hasattr(module, "read_image"):
            monkeypatch.setattr(module, "read_image", counting)
    return reads


def test_cuts_are_found_in_the_decode_pass_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = _video(tmp_path / "cuts.mp4", _three_shots())
    calls: list[int] = []
    reads = _count_frame_reads(monkeypatch)
    project = Project.open_or_create(tmp_path / "proj", src, progress=lambda d, t: calls.append(d))
    assert reads == []  # the shots were measured on the decoded frames, none was read back
    assert project.cuts == [20, 35]
    assert [s.begins_with for s in project.shots] == ["start", "cut", "cut"]
    assert calls == list(range(1, 61))  # one pass: no second read of the frames for the shots
    meta = json.loads((tmp_path / "proj" / "meta.json").read_text())
    assert [s["start"] for s in meta["shots"]] == [0, 20, 35]
    assert Project.open(tmp_path / "proj").cuts == [20, 35]


def test_a_resumed_decode_finds_the_shots_by_reading_the_frames_back(tmp_path: Path) -> None:
    src = _video(tmp_path / "cuts.mp4", _three_shots())

    def kill(done: int, total: int) -> None:
        if done == 30:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Project.open_or_create(tmp_path / "proj", src, progress=kill)
    assert "shots" not in json.loads((tmp_path / "proj" / "meta.json").read_text())
    calls: list[int] = []
    project = Project.open_or_create(tmp_path / "proj", src, progress=lambda d, t: calls.append(d))
    assert project.cuts == [20, 35]
    assert calls == [*range(31, 61), *range(1, 61)]  # the rest of the decode, then the shots' pass


def test_a_fade_through_black_is_one_boundary(tmp_path: Path) -> None:
    a, b = scene(4, 24, 1), scene(5, 24, 1)
    fade_out = [(f * (1 - k / 8)).astype(np.uint8) for k, f in enumerate(a[-9:])]
    fade_in = [(f * (k / 8)).astype(np.uint8) for k, f in enumerate(b[:9])]
    src = _video(tmp_path / "fade.mp4", a[:-9] + fade_out + fade_in + b[9:])
    project = Project.open_or_create(tmp_path / "proj", src)
    assert len(project.shots) == 2 and project.shots[1].begins_with == "fade"
    assert abs(project.cuts[0] - 24) <= 2


def test_an_old_project_without_shots_gets_them_when_opened(tmp_path: Path) -> None:
    src = _video(tmp_path / "cuts.mp4", _three_shots())
    Project.open_or_create(tmp_path / "proj", src)
    meta_path = tmp_path / "proj" / "meta.json"
    meta = json.loads(meta_path.read_text())
    del meta["shots"], meta["frame_store"]  # as a project made before either existed
    meta_path.write_text(json.dumps(meta))
    assert Project.open(tmp_path / "proj").cuts == []  # unknown: one shot
    project = Project.open_or_create(tmp_path / "proj", src)
    assert project.cuts == [20, 35] and project.frame_format == FrameFormat("png")
    assert "shots" in json.loads(meta_path.read_text())


def test_jpeg_frame_store_is_smaller_kept_in_meta_and_fixed_per_project(tmp_path: Path) -> None:
    frames = _three_shots()
    src = _video(tmp_path / "cuts.mp4", frames)
    png = Project.open_or_create(tmp_path / "png", src)
    jpeg = Project.open_or_create(tmp_path / "jpeg", src, frame_format=FrameFormat("jpeg", 90))
    names = sorted(p.name for p in (tmp_path / "jpeg" / "frames").iterdir())
    assert names == [f"{i:05d}.jpg" for i in range(60)]
    assert json.loads((tmp_path / "jpeg" / "meta.json").read_text())["frame_store"] == {"kind": "jpeg", "quality": 90}
    size = lambda root: sum(p.stat().st_size for p in (root / "frames").iterdir())  # noqa: E731
    assert size(tmp_path / "jpeg") < 0.6 * size(tmp_path / "png")
    diff = np.abs(jpeg.frames[30].astype(int) - png.frames[30].astype(int)).mean()
    assert diff < 3.0  # quality 90: close to the lossless frame
    assert jpeg.cuts == png.cuts == [20, 35]
    reopened = Project.open_or_create(tmp_path / "jpeg", src)  # no format asked: the project's own
    assert reopened.frame_format == FrameFormat("jpeg", 90) and reopened.frames[0].shape == frames[0].shape
    with pytest.raises(ProjectError, match="stores its frames as JPEG quality 90, not PNG"):
        Project.open_or_create(tmp_path / "jpeg", src, frame_format=FrameFormat())
    with pytest.raises(InputError, match="quality must be 1-100"):
        FrameFormat("jpeg", 0)
    with pytest.raises(InputError, match="frame store must be one of png, jpeg"):
        FrameFormat("webp")


def test_the_tracking_stage_records_the_frame_store_it_read(tmp_path: Path) -> None:
    from editor.pipeline import ObjectPrompt, track

    frames = [cv2.circle(f, (100, 60), 20, (250, 250, 250), -1) for f in scene(6, 10, 1)]
    src = _video(tmp_path / "cuts.mp4", frames)
    project = Project.open_or_create(tmp_path / "proj", src, frame_format=FrameFormat("jpeg", 80))
    track(project, [ObjectPrompt(frame=0, box=(72.0, 32.0, 128.0, 88.0))], backend="classical", refine="off")
    assert project.stage_settings("prompts")["frames"] == {"kind": "jpeg", "quality": 80}


def _clip_frames(clips_dir: Path, name: str, start: int, stop: int) -> list[np.ndarray]:
    files = sorted((clips_dir / name / "frames").iterdir())[start:stop]
    return [cv2.resize(cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB), (854, 480)) for f in files]


@pytest.mark.slow
def test_shared_clips_joined_into_one_video_cut_where_they_were_joined(clips_dir: Path, tmp_path: Path) -> None:
    parts = [("davis2016-blackswan", 0, 25), ("davis2016-car-roundabout", 0, 25), ("davis2016-blackswan", 25, 50),
             ("davis2016-bmx-trees", 0, 30)]
    frames = [f for name, a, b in parts for f in _clip_frames(clips_dir, name, a, b)]
    src = _video(tmp_path / "joined.mp4", frames)
    project = Project.open_or_create(tmp_path / "proj", src, working_short_side=240)
    assert project.cuts == [25, 50, 75]
    assert [len(s) for s in project.shots] == [25, 25, 25, 30]


def test_tam_info_shows_the_shots_concisely_and_the_frame_store(tmp_path: Path, capsys, monkeypatch) -> None:
    from editor.shots import Shot, shots_to_json
    from tests.editor.test_cli import assert_clean_error, run_tam

    src = _video(tmp_path / "cuts.mp4", _three_shots())
    root = tmp_path / "proj"
    code, text = run_tam(["info", src, "--project", root, "--frame-store", "jpeg", "--jpeg-quality", "90"], capsys,
                         monkeypatch)
    assert code == 0, text
    assert "3 shots (2 cuts)" in text and "Shot 2 · frames 20–34 · 0:00.80–0:01.40 · cut" in text
    assert "frames stored as JPEG quality 90" in text and "MB per minute" in text
    project = Project.open(root)
    project.meta["shots"] = shots_to_json([Shot(k * 2, k * 2 + 2, "cut" if k else "start") for k in range(30)])
    project._save_meta()
    code, text = run_tam(["info", root], capsys, monkeypatch)
    assert code == 0 and "30 shots (29 cuts)" in text and "… 19 more shots …" in text and "Shot 30 ·" in text
    assert "Shot 12 ·" not in text
    code, text = run_tam(["info", root, "--all-shots"], capsys, monkeypatch)
    assert code == 0 and "Shot 12 ·" in text and "more shots" not in text
    code, text = run_tam(["info", src, "--project", tmp_path / "other", "--frame-store", "webp"], capsys, monkeypatch)
    assert_clean_error(code, text, "frame store must be one of png, jpeg")


def _as_an_old_detector_left_it(root: Path) -> None:
    """meta.json's shots as a detector that missed every cut wrote them (one shot)."""
    project = Project.open(root)
    project.meta["shots"] = [{"start": 0, "end": project.num_frames, "begins_with": "start"}]
    project._save_meta()


def test_tam_shots_detect_finds_again_the_cuts_an_old_project_missed(tmp_path: Path, capsys, monkeypatch) -> None:
    from tests.editor.test_cli import assert_clean_error, run_tam

    root = tmp_path / "proj"
    Project.open_or_create(root, _video(tmp_path / "cuts.mp4", _three_shots()))
    _as_an_old_detector_left_it(root)
    code, text = run_tam(["shots", root], capsys, monkeypatch)
    assert code == 0 and "1 shot:" in text, text
    code, text = run_tam(["shots", root, "--detect"], capsys, monkeypatch)
    assert code == 0, text
    assert "before: no cut (one shot)" in text and "now: 2 cuts (at frames 20, 35)" in text
    assert "new cuts at frames 20, 35" in text and "3 shots (2 cuts)" in text
    assert "track again" not in text  # nothing was tracked: no mask depends on the old shots
    assert Project.open(root).cuts == [20, 35]
    assert [s["start"] for s in json.loads((root / "meta.json").read_text())["shots"]] == [0, 20, 35]
    assert not [p.name for p in root.iterdir() if p.name.startswith(".meta.json")]  # atomic: no temp file left
    code, text = run_tam(["shots", root, "--detect"], capsys, monkeypatch)
    assert code == 0 and "the shots are unchanged" in text, text

    code, text = run_tam(["shots", tmp_path / "nothing"], capsys, monkeypatch)
    assert_clean_error(code, text, "not a tam project")
    assert not (tmp_path / "nothing").exists()


def test_new_cuts_under_tracked_masks_say_to_track_again_until_it_is_done(tmp_path: Path, capsys, monkeypatch) -> None:
    from editor.pipeline import ObjectPrompt, track
    from tests.editor.test_cli import run_tam

    frames = [cv2.circle(f, (100, 60), 20, (250, 250, 250), -1) for f in _three_shots()]
    root = tmp_path / "proj"
    project = Project.open_or_create(root, _video(tmp_path / "cuts.mp4", frames))
    _as_an_old_detector_left_it(root)
    prompt = [ObjectPrompt(frame=0, box=(72.0, 32.0, 128.0, 88.0))]
    track(Project.open(root), prompt, backend="classical", refine="off")  # tracked across the missed cuts
    code, text = run_tam(["shots", root, "--detect"], capsys, monkeypatch)
    assert code == 0, text
    assert "the masks were tracked with no cut (one shot), but the clip now has 2 cuts (at frames 20, 35)" in text
    assert "track again" in text
    code, text = run_tam(["info", root], capsys, monkeypatch)
    assert code == 0 and "track again" in text, text
    project = Project.open(root)
    track(project, prompt, backend="classical", refine="off")  # the same clicks: every shot tracked again
    assert json.loads((root / "session.json").read_text())["cuts"] == [20, 35]
    code, text = run_tam(["info", root], capsys, monkeypatch)
    assert code == 0 and "track again" not in text, text
