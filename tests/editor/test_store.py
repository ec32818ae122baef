"""editor.store: the on-disk project."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from editor.errors import InputError, ProjectError
from editor.hashing import hash_inputs
from editor.store import Project, working_size
from tests.editor.test_video import make_video


def test_project_from_video(tmp_path: Path) -> None:
    src = make_video(tmp_path / "clip.mp4", n=6, size=(640, 360), fps=Fraction(30000, 1001), audio=True)
    before = (src.stat().st_mtime_ns, src.read_bytes())
    calls = []
    project = Project.open_or_create(tmp_path / "proj", src, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (6, 6)
    assert project.working_size == (640, 360)  # short side 360 <= 480: never upscaled
    assert project.fps == Fraction(30000, 1001) and project.num_frames == 6 and project.has_audio
    assert [p.name for p in sorted((tmp_path / "proj" / "frames").iterdir())] == [f"{i:05d}.png" for i in range(6)]
    assert len(project.frames) == 6 and project.frames[3].shape == (360, 640, 3)
    meta = json.loads((tmp_path / "proj" / "meta.json").read_text())
    assert meta["fps"] == "30000/1001" and meta["native_size"] == [640, 360] and meta["decoded"]
    small = Project.open_or_create(tmp_path / "small", src, working_short_side=120)
    assert small.working_size == (213, 120) and small.frames[0].shape == (120, 213, 3)
    assert (src.stat().st_mtime_ns, src.read_bytes()) == before
    reopened = Project.open(tmp_path / "proj")
    assert reopened.stems == project.stems
    with pytest.raises(ProjectError, match="short side"):
        Project.open_or_create(tmp_path / "proj", src, working_short_side=240)
    other = make_video(tmp_path / "other.mp4", n=4)
    with pytest.raises(ProjectError, match="other project folder|another project folder"):
        Project.open_or_create(tmp_path / "proj", other)
    with pytest.raises(ProjectError, match="not a tam project"):
        Project.open(tmp_path / "nothing")


def test_killed_decode_resumes(tmp_path: Path) -> None:
    src = make_video(tmp_path / "clip.mp4", n=8)

    def kill(done: int, total: int) -> None:
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Project.open_or_create(tmp_path / "proj", src, progress=kill)
    frames_dir = tmp_path / "proj" / "frames"
    assert len(list(frames_dir.glob("*.png"))) == 3
    written = {p.name: p.stat().st_mtime_ns for p in frames_dir.glob("*.png")}
    done = []
    project = Project.open_or_create(tmp_path / "proj", src, progress=lambda d, t: done.append(d))
    assert done == [4, 5, 6, 7, 8, *range(1, 9)]  # the resumed decode, then the shots' pass over every frame
    assert sorted(p.name for p in frames_dir.glob("*.png")) == [f"{i:05d}.png" for i in range(8)]
    assert all(frames_dir.joinpath(n).stat().st_mtime_ns == m for n, m in written.items())
    levels = [int(round(float(f[20:, 20:, 0].mean()) / 20)) for f in project.frames]
    assert levels == list(range(8))


def test_frame_folder_source_keeps_stems(tmp_path: Path) -> None:
    src = tmp_path / "frames"
    src.mkdir()
    for i, stem in enumerate(["00000693", "00000694", "00000695"]):
        cv2.imwrite(str(src / f"{stem}.jpg"), np.full((600, 800, 3), 50 * i, np.uint8))
    project = Project.open_or_create(tmp_path / "proj", src, fps=Fraction(30))
    assert project.stems == ["00000693", "00000694", "00000695"]
    assert project.working_size == (640, 480) and project.fps == Fraction(30)
    assert (tmp_path / "proj" / "frames" / "00000694.png").is_file()
    project.masks[1] = np.ones((480, 640), np.uint8)
    assert (tmp_path / "proj" / "masks" / "00000694.png").is_file()


def test_mask_and_inpainted_stores(tmp_path: Path) -> None:
    src = make_video(tmp_path / "clip.mp4", n=4)
    project = Project.open_or_create(tmp_path / "proj", src)
    masks = project.masks
    assert len(masks) == 4 and masks[0] is None and 0 not in masks
    labels = np.zeros((48, 64), np.uint8)
    labels[5:10, 5:10] = 1
    labels[20:30, 30:40] = 2
    masks[2] = labels
    assert 2 in masks and 5 not in masks
    assert np.array_equal(masks[2], labels)
    with Image.open(masks.path(2)) as image:
        assert image.mode == "P" and image.getpalette()[3:9] == [128, 0, 0, 0, 128, 0]
    binary = np.where(labels > 0, 255, 0).astype(np.uint8)
    Image.fromarray(binary).save(masks.path(1))
    assert set(np.unique(masks[1]).tolist()) == {0, 1}
    with pytest.raises(InputError, match="working size"):
        masks[0] = np.zeros((10, 10), np.uint8)
    with pytest.raises(InputError, match="label map"):
        masks[0] = np.zeros((48, 64), np.float32)
    rgb = np.full((48, 64, 3), 7, np.uint8)
    project.inpainted[3] = rgb
    assert np.array_equal(project.inpainted[3], rgb) and project.inpainted[0] is None
    assert not list((tmp_path / "proj" / "masks").glob(".*"))  # no temp files left behind
    masks.clear()
    assert 2 not in masks and masks[2] is None


def test_stage_bookkeeping(tmp_path: Path) -> None:
    src = make_video(tmp_path / "clip.mp4", n=3)
    project = Project.open_or_create(tmp_path / "proj", src)
    h = hash_inputs({"backend": "classical", "k": 3}, np.arange(4), "x")
    assert h == hash_inputs({"k": 3, "backend": "classical"}, np.arange(4), "x")
    assert h != hash_inputs({"backend": "classical", "k": 4}, np.arange(4), "x")
    assert h != hash_inputs({"backend": "classical", "k": 3}, np.arange(4).astype(np.int32), "x")
    assert project.stage_hash("track") is None and not project.stage_is_current("track", h)
    project.set_stage("track", {"backend": "classical"}, h)
    assert project.stage_is_current("track", h)
    again = Project.open(tmp_path / "proj")
    assert again.stage_hash("track") == h and not again.stage_is_current("track", "other")
    with pytest.raises(InputError):
        project.set_stage("bad", {"x": object()}, h)


def test_working_size() -> None:
    assert working_size(1920, 1080, 480) == (853, 480)
    assert working_size(1080, 1920, 480) == (480, 853)
    assert working_size(320, 240, 480) == (320, 240)


def test_shared_clip_project(clips_dir: Path, tmp_path: Path) -> None:
    src = clips_dir / "sttn-dogs_jump" / "video.mp4"
    project = Project.open_or_create(tmp_path / "proj", src)
    assert project.num_frames == 66 and project.working_size == (432, 240)
    assert len(list((tmp_path / "proj" / "frames").glob("*.png"))) == 66


def test_a_complete_video_records_no_undecodable_frames(tmp_path: Path) -> None:
    src = make_video(tmp_path / "clip.mp4", n=9)
    project = Project.open_or_create(tmp_path / "proj", src)
    assert "undecodable_frames" not in project.meta
    assert len(project.frames) == 9
