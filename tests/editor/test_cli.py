"""The ``tam`` command: bad input is one clear line and a non-zero exit, never a traceback or a half file."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from editor import cli
from editor.sample import write_sample_video
from editor.video import probe


def run_tam(args: list[str], capsys, monkeypatch) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["tam", *map(str, args)])
    try:
        cli.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.fixture(scope="module")
def sample_video(tmp_path_factory) -> tuple[Path, object]:
    path = tmp_path_factory.mktemp("clip") / "sample.mp4"
    sample = write_sample_video(path, n_frames=10, size=(192, 112))
    return path, sample


def assert_clean_error(code: int, text: str, *needles: str) -> None:
    assert code != 0
    assert "Traceback" not in text
    assert "error:" in text
    for needle in needles:
        assert needle in text, text


def test_missing_input(tmp_path, capsys, monkeypatch):
    code, text = run_tam(["remove", tmp_path / "nope.mp4", "-o", tmp_path / "out.mp4", "--point", "1,1"],
                         capsys, monkeypatch)
    assert_clean_error(code, text, "not found")
    assert not (tmp_path / "out.mp4").exists()


def test_not_a_video(tmp_path, capsys, monkeypatch):
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is text, not a video")
    code, text = run_tam(["remove", bad, "-o", tmp_path / "out.mp4", "--point", "1,1", "--project", tmp_path / "p"],
                         capsys, monkeypatch)
    assert_clean_error(code, text)
    assert not (tmp_path / "out.mp4").exists()


def test_truncated_video(tmp_path, sample_video, capsys, monkeypatch):
    src, _ = sample_video
    cut = tmp_path / "cut.mp4"
    data = src.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    code, text = run_tam(["remove", cut, "-o", tmp_path / "out.mp4", "--point", "5,5", "--project", tmp_path / "p"],
                         capsys, monkeypatch)
    assert_clean_error(code, text)
    assert not (tmp_path / "out.mp4").exists()


def test_click_outside_frame(tmp_path, sample_video, capsys, monkeypatch):
    src, _ = sample_video
    code, text = run_tam(
        ["remove", src, "-o", tmp_path / "out.mp4", "--point", "900,20", "--project", tmp_path / "p",
         "--backend", "classical"],
        capsys, monkeypatch,
    )
    assert_clean_error(code, text, "outside frame 0", "192x112")
    assert not (tmp_path / "out.mp4").exists()


def test_bad_point_syntax_and_missing_prompt(tmp_path, sample_video, capsys, monkeypatch):
    src, _ = sample_video
    code, text = run_tam(["remove", src, "-o", tmp_path / "out.mp4", "--point", "12"], capsys, monkeypatch)
    assert_clean_error(code, text, "X,Y")
    code, text = run_tam(["remove", src, "-o", tmp_path / "out.mp4"], capsys, monkeypatch)
    assert_clean_error(code, text, "--point")


def test_one_pixel_given_as_both_a_point_and_a_neg_is_refused(tmp_path, sample_video, capsys, monkeypatch):
    """``--point 40,50 --neg 40,50`` was accepted silently (one of the two clicks won, the user never knew which);
    on a later frame too (``@N``). A click 1 px away is a different pixel and stays accepted."""
    src, sample = sample_video
    x, y = sample.click
    for neg in (f"{x},{y}", f"{x},{y}@0"):
        code, text = run_tam(["remove", src, "-o", tmp_path / "out.mp4", "--point", f"{x},{y}", "--neg", neg,
                              "--project", tmp_path / "p", "--backend", "classical"], capsys, monkeypatch)
        assert_clean_error(code, text, f"{x},{y} on frame 0", "both", "drop one")
        assert not (tmp_path / "out.mp4").exists()
    code, text = run_tam(["remove", src, "-o", tmp_path / "out.mp4", "--point", f"{x},{y}", "--point", "5,5@6",
                          "--neg", "5,5@6", "--project", tmp_path / "p", "--backend", "classical"], capsys, monkeypatch)
    assert_clean_error(code, text, "5,5 on frame 6")
    code, text = run_tam(["track", src, "--point", f"{x},{y}", "--neg", f"{x + 30},{y}", "--project", tmp_path / "q",
                          "--masks-out", tmp_path / "m",
                          "--backend", "classical"], capsys, monkeypatch)
    assert code == 0, text


def test_clicks_on_later_frames_become_keyframes_of_the_same_object(tmp_path, sample_video, capsys, monkeypatch):
    import json

    src, sample = sample_video
    x0, y0 = sample.click
    ys, xs = np.nonzero(sample.masks[6])
    x6, y6 = int(np.median(xs)), int(np.median(ys))
    out = tmp_path / "out.mp4"
    code, text = run_tam(["remove", src, "-o", out, "--point", f"{x0},{y0}", "--point", f"{x6},{y6}@6",
                          "--project", tmp_path / "p", "--backend", "classical"], capsys, monkeypatch)
    assert code == 0, text
    prompts = json.loads(next((tmp_path / "p").rglob("prompts.json")).read_text())["prompts"]
    assert sorted({(p["frame"], p["obj_id"]) for p in prompts}) == [(0, 1), (6, 1)]  # one object, two keyframes
    assert probe(out).num_frames == 10
    code, text = run_tam(["remove", src, "-o", out, "--point", f"{x0},{y0}@x"], capsys, monkeypatch)
    assert_clean_error(code, text, "frame number")
    code, text = run_tam(["remove", src, "-o", out, "--point", f"{x0},{y0}@60", "--project", tmp_path / "q",
                          "--backend", "classical"], capsys, monkeypatch)
    assert_clean_error(code, text, "frame 60")


def test_unwritable_output(tmp_path, sample_video, capsys, monkeypatch):
    src, _ = sample_video
    code, text = run_tam(["remove", src, "-o", tmp_path / "no" / "such" / "dir" / "out.mp4", "--point", "5,5"],
                         capsys, monkeypatch)
    assert_clean_error(code, text, "does not exist")
    code, text = run_tam(["remove", src, "-o", tmp_path / "out.txt", "--point", "5,5"], capsys, monkeypatch)
    assert_clean_error(code, text, ".mp4")


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux's /sys (a folder nobody may create files in)")
def test_an_output_folder_nobody_may_write_is_refused_before_any_work(tmp_path, sample_video, capsys, monkeypatch):
    """``os.access`` says yes to root for /sys (and read-only mounts): the command tracked and removed, then died
    on ``[Errno 13] Permission denied: '/sys/.out.PID.XXXX.part.mp4'``. The folder is now tried before any work."""
    src, sample = sample_video
    code, text = run_tam(["remove", src, "-o", "/sys/out.mp4", "--point", "{},{}".format(*sample.click),
                          "--project", tmp_path / "p", "--backend", "classical"], capsys, monkeypatch)
    assert_clean_error(code, text, "cannot write /sys/out.mp4")
    assert "Errno" not in text and ".part" not in text
    assert not (tmp_path / "p").exists()  # refused before the project was made


def _full_disk(folder: Path) -> Path:
    """An 8 KiB tmpfs mounted on ``folder`` (root only); the test skips without one."""
    import subprocess

    folder.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", str(folder)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a small tmpfs (a disk that fills up)")
    return folder


def test_a_full_disk_is_said_in_words_and_leaves_no_part_file(tmp_path, sample_video, capsys, monkeypatch):
    """The output disk filled while the video was written: the command said ``[Errno 28] No space left on device:
    '.../.out.PID.XXXX.part.mp4' (OSError; ...)``, naming a hidden file and an errno. Now it names the file asked
    for and what to do, exits 1, and leaves nothing in the folder."""
    import subprocess

    src, sample = sample_video
    small = _full_disk(tmp_path / "small")
    try:
        code, text = run_tam(["remove", src, "-o", small / "out.mp4", "--point", "{},{}".format(*sample.click),
                              "--project", tmp_path / "p", "--backend", "classical"], capsys, monkeypatch)
        assert code == 1
        assert_clean_error(code, text, f"could not write {small / 'out.mp4'}: the disk holding {small} is full")
        assert "Errno" not in text and ".part" not in text
        assert list(small.iterdir()) == []
    finally:
        subprocess.run(["umount", str(small)], check=False)


def test_os_reasons_and_written_names() -> None:
    import errno

    from editor.messages import os_reason, written_name

    assert written_name("/x/.out.1234.k3j_9a.part.mp4") == "/x/out.mp4"
    assert written_name("/x/.my.clip.77.abc.part.mov") == "/x/my.clip.mov"
    assert written_name("/x/frames/00001.png") == "/x/frames/00001.png"
    assert os_reason(OSError(errno.ENOSPC, "No space left on device"), "/d") == (
        "the disk holding /d is full: free some space or write somewhere else")
    assert "no permission to write in /d" in os_reason(PermissionError(errno.EACCES, "Permission denied"), "/d")
    assert "read-only" in os_reason(OSError(errno.EROFS, "Read-only file system"), "/d")
    assert os_reason(OSError(errno.EIO, "Input/output error"), "/d") == "Input/output error"


def test_only_a_failed_write_is_said_as_one() -> None:
    """A full disk, a read-only one, or any failure on a part file is "could not write"; a refused read of a
    source (a plain path, EACCES) is not called a write."""
    import errno

    from editor.messages import os_write_message

    full = OSError(errno.ENOSPC, "No space left on device", "/d/.out.12.ab_c.part.mp4")
    assert os_write_message(full) == "could not write /d/out.mp4: the disk holding /d is full: free some space or " \
        "write somewhere else"
    assert os_write_message(OSError(errno.ENOSPC, "No space left on device", "/d/frames/00001.png")).startswith(
        "could not write /d/frames/00001.png: the disk holding /d/frames is full")
    assert os_write_message(PermissionError(errno.EACCES, "Permission denied", "/d/.o.1.x.part.mov")).startswith(
        "could not write /d/o.mov: no permission to write in /d")
    assert os_write_message(PermissionError(errno.EACCES, "Permission denied", "/d/input.mp4")) is None
    assert os_write_message(OSError(errno.ENOSPC, "No space left on device")) is None  # no file named


def test_frame_out_of_range(tmp_path, sample_video, capsys, monkeypatch):
    src, sample = sample_video
    x, y = sample.click
    code, text = run_tam(
        ["remove", src, "-o", tmp_path / "out.mp4", "--point", f"{x},{y}", "--frame", "99",
         "--project", tmp_path / "p", "--backend", "classical"],
        capsys, monkeypatch,
    )
    assert_clean_error(code, text, "frame 99")


def test_neural_without_checkpoint(tmp_path, sample_video, capsys, monkeypatch):
    monkeypatch.setenv("TAM_WEIGHTS_DIR", str(tmp_path / "empty-weights"))
    src, sample = sample_video
    x, y = sample.click
    code, text = run_tam(
        ["remove", src, "-o", tmp_path / "out.mp4", "--point", f"{x},{y}", "--project", tmp_path / "p",
         "--backend", "neural"],
        capsys, monkeypatch,
    )
    assert_clean_error(code, text, "tam weights download")
    assert not (tmp_path / "out.mp4").exists()


def test_empty_mask_image(tmp_path, sample_video, capsys, monkeypatch):
    src, _ = sample_video
    blank = tmp_path / "blank.png"
    Image.fromarray(np.zeros((112, 192), np.uint8)).save(blank)
    code, text = run_tam(["remove", src, "-o", tmp_path / "out.mp4", "--masks", blank, "--project", tmp_path / "p"],
                         capsys, monkeypatch)
    assert_clean_error(code, text, "empty")
    assert not (tmp_path / "out.mp4").exists()


def test_remove_with_click_end_to_end(tmp_path, sample_video, capsys, monkeypatch):
    src, sample = sample_video
    out = tmp_path / "clean.mp4"
    x, y = sample.click
    args = ["remove", src, "-o", out, "--point", f"{x},{y}", "--project", tmp_path / "p", "--backend", "classical"]
    code, text = run_tam(args, capsys, monkeypatch)
    assert code == 0, text
    info, src_info = probe(out), probe(src)
    assert (info.num_frames, info.fps, info.size) == (src_info.num_frames, src_info.fps, src_info.size)
    assert info.has_audio
    assert "classical" in text  # the log says which backend ran
    # a second run on the same project reuses the work
    code, text = run_tam(args, capsys, monkeypatch)
    assert code == 0 and "already done" in text


def test_mask_covering_whole_frame(tmp_path, sample_video, capsys, monkeypatch):
    src, _ = sample_video
    full = tmp_path / "full.png"
    Image.fromarray(np.full((112, 192), 255, np.uint8)).save(full)
    out = tmp_path / "out.mp4"
    code, text = run_tam(["remove", src, "-o", out, "--masks", full, "--project", tmp_path / "p",
                          "--backend", "classical"], capsys, monkeypatch)
    assert code == 0, text
    assert probe(out).num_frames == 10


def test_track_writes_label_maps_named_like_frames(tmp_path, capsys, monkeypatch):
    frames = tmp_path / "frames"
    frames.mkdir()
    from editor.sample import make_sample

    sample = make_sample(n_frames=6, size=(160, 96))
    for i, f in enumerate(sample.frames):
        Image.fromarray(f).save(frames / f"{i + 700:08d}.jpg", quality=95)
    x, y = sample.click
    out = tmp_path / "masks"
    code, text = run_tam(["track", frames, "--point", f"{x},{y}", "--masks-out", out,
                          "--project", tmp_path / "p", "--backend", "classical"], capsys, monkeypatch)
    assert code == 0, text
    names = sorted(p.name for p in out.glob("*.png"))
    assert names == [f"{i + 700:08d}.png" for i in range(6)]
    labels = np.array(Image.open(out / names[0]))
    assert labels.shape == (96, 160) and set(np.unique(labels)) <= {0, 1} and (labels == 1).any()


@pytest.mark.slow
def test_remove_a_dog_from_dogs_jump(clips_dir, tmp_path, capsys, monkeypatch):
    """Click the small dark dog (id 1) and remove it with the classical backends.

    One click gives the dog at IoU 0.89 (0.64 before the consensus first click of 2026-12-04). The classical
    tracker keeps it until the big dog jumps over it (frames 8-11: hidden, empty masks), finds it again
    (frames 12-14) and loses it once it runs off to the frame's edge growing four-fold (from frame ~40): mean IoU
    0.32, as from its true first mask (0.318 in ``benchmarks.one_click --start mask``). The mean of 0.69 this test
    guarded before came from the partial first mask (a lucky start, said so in docs/benchmarks.md), so the test now
    guards the click, the frames before the occlusion, the re-finding after it and the removal where it was tracked.
    """
    clip = clips_dir / "sttn-dogs_jump"
    gt0 = np.array(Image.open(clip / "masks" / "00000.png"))
    dog = (gt0 == 1).astype(np.uint8)
    dist = cv2.distanceTransform(dog, cv2.DIST_L2, 5)
    y, x = np.unravel_index(np.argmax(dist), dist.shape)
    out = tmp_path / "no_dog.mp4"
    code, text = run_tam(["remove", clip / "video.mp4", "-o", out, "--point", f"{x},{y}",
                          "--project", tmp_path / "p", "--backend", "classical"], capsys, monkeypatch)
    assert code == 0, text
    src_info, info = probe(clip / "video.mp4"), probe(out)
    assert (info.num_frames, info.fps, info.size) == (src_info.num_frames, src_info.fps, src_info.size) == (
        66, src_info.fps, (432, 240))

    from editor.store import Project
    from editor.video import iter_frames

    project = Project.open(tmp_path / "p")
    ious, inside, outside = [], [], []
    for i, (a, b) in enumerate(zip(iter_frames(clip / "video.mp4"), iter_frames(out), strict=True)):
        gt = np.array(Image.open(clip / "masks" / f"{i:05d}.png")) == 1
        ours = project.masks[i] > 0
        ious.append((gt & ours).sum() / max((gt | ours).sum(), 1))
        diff = np.abs(a.astype(np.int16) - b.astype(np.int16)).mean(axis=2)
        far = cv2.dilate((gt | ours).astype(np.uint8), np.ones((25, 25), np.uint8)) == 0
        if ious[-1] > 0.5:
            inside.append(diff[gt & ours].mean())
        outside.append(diff[far].mean())
    assert ious[0] > 0.8, f"one click gives IoU {ious[0]:.2f} with the dog on frame 0"
    assert np.mean(ious[:8]) > 0.75, f"the frames before the occlusion are tracked (IoU {np.mean(ious[:8]):.2f})"
    assert max(ious[12:16]) > 0.5, f"the dog is found again after the big dog passed (IoU {max(ious[12:16]):.2f})"
    assert np.mean(np.array(ious) > 0.5) > 0.3, "the dog is tracked on a third of the frames at least"
    assert len(inside) >= 6 and np.mean(inside) > 10, "where the dog was tracked its pixels were replaced"
    assert np.mean(outside) < 3, "pixels away from the dog should be untouched (codec noise only)"


def test_edit_and_export_commands(tmp_path, sample_video, capsys, monkeypatch):
    src, sample = sample_video
    x, y = sample.click
    project = tmp_path / "p"
    code, text = run_tam(["track", src, "--point", f"{x},{y}", "--masks-out", tmp_path / "m", "--project", project,
                          "--backend", "classical"], capsys, monkeypatch)
    assert code == 0, text
    out = tmp_path / "blur.mp4"
    code, text = run_tam(["edit", project, "-o", out, "--pixelate", "--strength", "8"], capsys, monkeypatch)
    assert code == 0, text
    assert probe(out).num_frames == 10 and probe(out).has_audio
    code, text = run_tam(["edit", project, "-o", out, "--blur", "--splash"], capsys, monkeypatch)
    assert_clean_error(code, text, "exactly one edit")
    code, text = run_tam(["export", project, "--format", "coco", "-o", tmp_path / "m.json"], capsys, monkeypatch)
    assert code == 0, text
    import json

    coco = json.loads((tmp_path / "m.json").read_text())
    assert len(coco["images"]) == 10 and all(a["track_id"] == 1 for a in coco["annotations"])
    code, text = run_tam(["export", project, "--format", "gif", "-o", tmp_path / "x"], capsys, monkeypatch)
    assert_clean_error(code, text, "davis, coco")
    code, text = run_tam(["export", tmp_path / "nothing", "--format", "coco", "-o", tmp_path / "y.json"],
                         capsys, monkeypatch)
    assert_clean_error(code, text, "not a tam project", "tam track VIDEO --point X,Y")


def test_usage_errors_are_clicks_own_words_with_exit_code_2(tmp_path, sample_video, capsys, monkeypatch):
    """typer 0.29 carries its own copy of click, so the handler's ``isinstance(exc, click.ClickException)`` missed
    every usage error: a missing option printed "error: unexpected MissingParameter: ... (set TAM_DEBUG=1 for the
    traceback)". They are click's messages again, with the usage line, exit code 2."""
    src, _ = sample_video
    for args, said in (
        (["track", src, "--point", "1,1"], "Missing option '--masks-out'"),
        (["remove", src, "--bogus"], "No such option: --bogus"),
        (["frobnicate"], "No such command 'frobnicate'"),
        (["remove", src, "--point", "1,1", "-o", tmp_path / "o.mp4", "--crf", "abc"], "--crf"),
    ):
        code, text = run_tam(args, capsys, monkeypatch)
        assert code == 2, (args, text)
        assert said in text and "Usage:" in text, (args, text)
        assert "unexpected" not in text and "TAM_DEBUG" not in text, (args, text)


@pytest.mark.slow
def test_the_demo_removes_its_tracked_object_as_the_readme_says(tmp_path: Path) -> None:
    """``tam demo`` end to end (write, click, track, remove) on the classical backends: the README's figures,
    mask IoU 0.950 and 37.35 dB inside the object. A tracked mask's edge is never exact: when the fill trusted
    pixels 1 px beyond it, as it does beside a still overlay with a clean edge (``inpaint.halo``), 35.91 dB."""
    from editor.metrics import iou, psnr
    from editor.sample import make_sample
    from editor.store import Project

    out = tmp_path / "sample_removed.mp4"
    cli.demo(output=out, backend="classical")
    assert out.is_file()
    proj = Project.open(tmp_path / "sample_removed_project")
    s = make_sample()
    n = len(s.frames)
    assert np.mean([iou(proj.masks[i] > 0, s.masks[i]) for i in range(n)]) >= 0.94
    assert np.mean([psnr(proj.inpainted[i], s.background[i], mask=s.masks[i]) for i in range(n)]) >= 37.0
