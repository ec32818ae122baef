"""Faults a careful user runs into (issue 16): one test (or a few) per numbered item, each failing on the old code.

Locks (1), outputs that would overwrite the source or the project (2), exit codes (3), exact resume (4), hidden
part files (5), truncated sources (6), clicks that select the whole frame (7), file modes (8), checkpoint
verification (9), arguments checked before any work (10), playable and reproducible outputs (11).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from editor import pipeline
from editor.sample import write_sample_video
from tests.editor.test_cli import run_tam

ROOT = Path(__file__).resolve().parents[2]


def tam_process(args: list, tmp_path: Path, **kwargs) -> subprocess.Popen:
    """``tam ARGS`` in its own process (the way a user runs it), output captured."""
    env = {**os.environ, "TAM_DATA_DIR": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1"}
    env.update(kwargs.pop("env", {}))
    return subprocess.Popen([sys.executable, "-m", "editor.cli", *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **kwargs)


def remove_process(clip, out: Path, root: Path, tmp_path: Path, point: str | None = None) -> subprocess.Popen:
    """``tam remove CLIP -o OUT --project ROOT`` (classical) clicking ``point`` (default: the sample's object)."""
    src, sample = clip
    point = point or f"{sample.click[0]},{sample.click[1]}"
    return tam_process(["remove", src, "-o", out, "--point", point, "--project", root, "--backend", "classical"],
                       tmp_path)


def wait_for(predicate, timeout: float = 60.0, what: str = "a condition") -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> tuple[Path, object]:
    path = tmp_path_factory.mktemp("clip") / "sample.mp4"
    return path, write_sample_video(path, n_frames=24, size=(192, 112))


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory) -> tuple[Path, object]:
    """A clip whose tracking and render take a few seconds, so a second command or a signal lands mid-run."""
    path = tmp_path_factory.mktemp("long") / "long.mp4"
    return path, write_sample_video(path, n_frames=96, size=(480, 270))


def frames_folder(folder: Path, frames: list[np.ndarray]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:05d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    return folder


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


# ------------------------------------------------------------------------------------------ 1. project lock


_HOLDER = """
import sys, time
from editor.lock import project_lock
with project_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


@pytest.fixture
def held_project(tmp_path):
    """A project folder whose lock another process holds (as a running ``tam remove`` would)."""
    root = tmp_path / "P"
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(root)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = holder.stdout.readline()
        assert line.strip() == "held", f"the holder did not take the lock: {line!r}"
        yield root, holder.pid
    finally:
        holder.kill()
        holder.wait()


def test_1_second_writer_is_refused_naming_the_other_process(held_project, clip, tmp_path, capsys, monkeypatch):
    root, pid = held_project
    src, sample = clip
    code, text = run_tam(["remove", src, "-o", tmp_path / "out.mp4", "--point", f"{sample.click[0]},{sample.click[1]}",
                          "--project", root, "--backend", "classical"], capsys, monkeypatch)
    assert code != 0 and "Traceback" not in text
    assert "in use" in text and str(pid) in text, text
    assert not (tmp_path / "out.mp4").exists()
    assert not (root / "masks").exists(), "the refused run wrote into the project"


def test_1_python_api_and_page_jobs_take_the_lock(clip, tmp_path):
    from editor.jobs import FAILED, JobRunner
    from editor.lock import ProjectBusy

    src, sample = clip
    project = pipeline.open_project(src, tmp_path / "P")
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(project.root)], cwd=ROOT, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ProjectBusy, match=str(holder.pid)):
            pipeline.track(project, [pipeline.ObjectPrompt(points=(sample.click,))], backend="classical")
        runner = JobRunner(tmp_path / "ws")
        runner.start("track", lambda ctx: {"n": 1}, lock=project.root)
        status = runner.wait("track", timeout=30)
        assert status.state == FAILED and str(holder.pid) in status.error
    finally:
        holder.kill()
        holder.wait()
    assert not project.masks.written()


@pytest.mark.slow
def test_1_two_cli_runs_on_one_project(long_clip, tmp_path):
    """The issue's case: a second ``tam remove`` on the same --project while the first runs."""
    root = tmp_path / "P"
    first = remove_process(long_clip, tmp_path / "cat.mp4", root, tmp_path)
    wait_for(lambda: (root / "meta.json").exists(), what="the first run to create the project")
    second = remove_process(long_clip, tmp_path / "ball.mp4", root, tmp_path, point="5,5")
    out2, _ = second.communicate(timeout=300)
    out1, _ = first.communicate(timeout=300)
    assert first.returncode == 0, out1
    assert second.returncode != 0 and str(first.pid) in out2, out2
    assert not (tmp_path / "ball.mp4").exists()


# ----------------------------------------------------------------------------------- 2. outputs over sources


def test_2_outputs_inside_the_source_or_the_project_are_refused(clip, tmp_path, capsys, monkeypatch):
    src, sample = clip
    frames = frames_folder(tmp_path / "frames", sample.frames[:6])
    before = digest(frames)
    click = f"{sample.click[0]},{sample.click[1]}"
    common = ["--point", click, "--backend", "classical"]
    code, text = run_tam(["track", frames, "--masks-out", frames, "--project", tmp_path / "P", *common],
                         capsys, monkeypatch)
    assert code != 0 and "source" in text, text
    assert not (tmp_path / "P").exists(), "the refused command did work first"
    code, text = run_tam(["track", frames, "--masks-out", frames / "sub", "--project", tmp_path / "P", *common],
                         capsys, monkeypatch)
    assert code != 0, text
    assert not (tmp_path / "P").exists()
    (tmp_path / "P").mkdir()
    code, text = run_tam(["track", frames, "--masks-out", tmp_path / "P" / "frames", "--project", tmp_path / "P",
                          *common], capsys, monkeypatch)
    assert code != 0 and "project" in text, text
    code, text = run_tam(["track", frames, "--masks-out", tmp_path / "m", "--project", tmp_path / "P", *common],
                         capsys, monkeypatch)
    assert code == 0, text
    code, text = run_tam(["export", tmp_path / "P", "--format", "davis", "-o", frames], capsys, monkeypatch)
    assert code != 0 and "source" in text, text
    code, text = run_tam(["export", tmp_path / "P", "--format", "davis", "-o", tmp_path / "P" / "masks"],
                         capsys, monkeypatch)
    assert code != 0 and "project" in text, text
    code, text = run_tam(["export", tmp_path / "P", "--format", "davis", "-o", tmp_path], capsys, monkeypatch)
    assert code != 0, text  # a folder that contains the source and the project
    assert digest(frames) == before


# ------------------------------------------------------------------------------------------ 3. exit codes


def test_3_weights_verify_fails_with_a_non_zero_code(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TAM_WEIGHTS_DIR", str(tmp_path / "w"))
    code, text = run_tam(["weights", "verify", "xmem"], capsys, monkeypatch)
    assert "not found" in text
    assert code == 1


@pytest.mark.slow
def test_3_ctrl_c_exits_130_and_says_how_to_continue(long_clip, tmp_path):
    root = tmp_path / "P"
    proc = remove_process(long_clip, tmp_path / "out.mp4", root, tmp_path)
    wait_for(lambda: (root / "masks").is_dir() and any((root / "masks").glob("*.png")), what="tracking to start")
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "cancelled; run the same command to continue" in out
    assert "Traceback" not in out


# --------------------------------------------------------------------------------------- 4. exact resume


class _Killed(BaseException):
    """Stands in for the kill: raised from the progress callback between two frames."""


def _track(root: Path, src: Path, prompt, kill_after: int | None = None):
    project = pipeline.open_project(src, root)
    ticks = [0]

    def progress(done: int, total: int) -> None:
        ticks[0] += 1
        if kill_after is not None and ticks[0] > kill_after:
            raise _Killed

    try:
        pipeline.track(project, [prompt], backend="classical", progress=progress)
    except _Killed:
        return project, False
    return project, True


@pytest.mark.slow
def test_4_resumed_tracking_equals_the_uninterrupted_run(clips_dir, tmp_path):
    """Killed at several points (between two frames, as a SIGKILL leaves it: every file whole), then the same
    command again: every mask equals the uninterrupted run's, bit for bit. The old code restarted the pass
    from the last written hard mask (frames after the kill differed, IoU down to 0.82 here)."""
    src = clips_dir / "sttn-dogs_jump" / "video.mp4"
    prompt = pipeline.ObjectPrompt(points=((200, 120),), later_clicks=((45, 200, 120, True),))
    reference, done = _track(tmp_path / "ref", src, prompt)
    assert done
    want = [reference.masks[i] for i in range(reference.num_frames)]
    for kill_after in (10, 50, 80):
        root = tmp_path / f"kill{kill_after}"
        project, done = _track(root, src, prompt, kill_after)
        assert not done
        project, done = _track(root, src, prompt)
        assert done
        got = [project.masks[i] for i in range(project.num_frames)]
        bad = [i for i in range(len(want)) if not np.array_equal(want[i], got[i])]
        assert not bad, f"killed after {kill_after} steps: frames {bad} differ from the uninterrupted run"


# ------------------------------------------------------------------------------------------ 5. part files


def test_5_stale_part_files_of_the_output_are_swept(clip, tmp_path):
    from editor.encode import write_video

    _, sample = clip
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".out.{dead.pid}.k3j2x9.part.mp4"
    stale.write_bytes(b"half a video")
    other = tmp_path / f".other.{dead.pid}.k3j2x9.part.mp4"
    other.write_bytes(b"another output's part")
    write_video(iter(sample.frames[:4]), tmp_path / "out.mp4", 24)
    assert not stale.exists()
    assert other.exists(), "a part file of another output was swept"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out.mp4", other.name])


@pytest.mark.slow
def test_5_sigterm_during_render_leaves_no_part_file(long_clip, tmp_path):
    src, sample = long_clip
    root = tmp_path / "P"
    project = pipeline.open_project(src, root)
    pipeline.track(project, [pipeline.ObjectPrompt(points=(sample.click,))], backend="classical")
    out = tmp_path / "out" / "blur.mp4"
    out.parent.mkdir()
    proc = tam_process(["edit", root, "-o", out, "--blur"], tmp_path)
    wait_for(lambda: any(out.parent.glob("*.part*")), what="the render to start")
    proc.send_signal(signal.SIGTERM)
    text, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert list(out.parent.iterdir()) == [], text


# --------------------------------------------------------------------------------------- 6. truncated source


def _faststart(src: Path, dst: Path) -> None:
    """Remux with the index at the front, as phones and web exports do: a cut then loses frames, not the index."""
    with av.open(str(src)) as i, av.open(str(dst), "w", options={"movflags": "faststart"}) as o:
        streams = {s.index: o.add_stream_from_template(s) for s in i.streams}
        for packet in i.demux():
            if packet.dts is None:
                continue
            packet.stream = streams[packet.stream.index]
            o.mux(packet)


def test_6_a_truncated_file_warns_with_the_number_of_lost_frames(tmp_path, caplog):
    src = tmp_path / "full.mp4"
    write_sample_video(src, n_frames=48, size=(192, 112))
    whole = tmp_path / "faststart.mp4"
    _faststart(src, whole)
    cut = tmp_path / "cut.mp4"
    data = whole.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.97)])
    with caplog.at_level("WARNING", logger="tam"):
        project = pipeline.open_project(cut, tmp_path / "P")
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("could not be decoded" in w for w in warnings), warnings
    lost = project.meta.get("undecodable_frames")
    assert lost and lost > 0
    assert any(str(lost) in w for w in warnings)


# ------------------------------------------------------------------------------------------ 7. flat clicks


def test_7_a_click_whose_mask_covers_the_whole_frame_is_refused(tmp_path, capsys, monkeypatch):
    grey = [np.full((96, 128, 3), 128, np.uint8) for _ in range(6)]
    frames = frames_folder(tmp_path / "grey", grey)
    code, text = run_tam(["track", frames, "--masks-out", tmp_path / "m", "--point", "60,40", "--project",
                          tmp_path / "P", "--backend", "classical"], capsys, monkeypatch)
    assert code != 0 and "of the frame" in text, text


def test_7_a_click_whose_mask_covers_most_of_the_frame_warns(tmp_path):
    rng = np.random.default_rng(1)
    frames = []
    for _ in range(6):
        f = np.full((96, 128, 3), 200, np.uint8)
        f[:, 80:] = rng.integers(0, 255, (96, 48, 3), dtype=np.uint8)
        frames.append(f)
    project = pipeline.open_project(frames_folder(tmp_path / "sky", frames), tmp_path / "P")
    report = pipeline.track(project, [pipeline.ObjectPrompt(points=((30, 40),))], backend="classical")
    share = (project.masks[0] > 0).mean()
    assert share > 0.5
    assert any("of the frame" in w for w in report.warnings), report.warnings


# ------------------------------------------------------------------------------------------ 8. file modes


def test_8_outputs_get_the_users_umask(clip, tmp_path, capsys, monkeypatch):
    src, sample = clip
    old = os.umask(0o022)
    try:
        code, text = run_tam(["remove", src, "-o", tmp_path / "out.mp4", "--point",
                              f"{sample.click[0]},{sample.click[1]}", "--project", tmp_path / "P",
                              "--backend", "classical"], capsys, monkeypatch)
        assert code == 0, text
        code, text = run_tam(["export", tmp_path / "P", "--format", "coco", "-o", tmp_path / "m.json"],
                             capsys, monkeypatch)
        assert code == 0, text
    finally:
        os.umask(old)
    files = [tmp_path / "out.mp4", tmp_path / "m.json", tmp_path / "P" / "meta.json",
             tmp_path / "P" / "masks" / "00000.png", tmp_path / "P" / "inpainted" / "00000.png",
             tmp_path / "P" / "frames" / "00000.png", tmp_path / "P" / "session.json"]
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in files}
    assert set(modes.values()) == {"0o644"}, modes


# ------------------------------------------------------------------------------------ 9. checkpoint verify


def test_9_verify_loads_the_file_and_checks_its_keys(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TAM_WEIGHTS_DIR", str(tmp_path))
    (tmp_path / "XMem.pth").write_bytes(os.urandom(1 << 20))
    code, text = run_tam(["weights", "verify", "xmem"], capsys, monkeypatch)
    assert code == 1 and "fine" not in text, text
    assert "tam weights download xmem" in text
    import torch

    torch.save({"a.weight": torch.zeros(2)}, tmp_path / "XMem.pth")
    code, text = run_tam(["weights", "verify", "xmem"], capsys, monkeypatch)
    assert code == 1 and "fine" not in text and "key" in text, text


def test_9_a_broken_checkpoint_says_how_to_fix_it_on_one_line(clip, tmp_path, capsys, monkeypatch):
    from tracking.backends import make_propagator_factory
    from weights import CheckpointMismatch

    src, sample = clip
    monkeypatch.setenv("TAM_WEIGHTS_DIR", str(tmp_path / "w"))
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "XMem.pth").write_bytes(os.urandom(1 << 16))
    with pytest.raises(CheckpointMismatch) as err:
        make_propagator_factory("neural")()
    first = str(err.value).splitlines()[0]  # the one line the CLI prints
    assert "delete it and run tam weights download xmem" in first and "weights_only" not in first, first
    args = ["track", src, "--masks-out", tmp_path / "m", "--point", f"{sample.click[0]},{sample.click[1]}"]
    code, text = run_tam([*args, "--project", tmp_path / "P2", "--backend", "auto"], capsys, monkeypatch)
    assert code == 0, text
    assert "classical" in text and "XMem.pth" in text, text


# ------------------------------------------------------------------------------ 10. arguments before work


def test_10_bad_arguments_fail_before_any_work(clip, tmp_path, capsys, monkeypatch):
    src, sample = clip
    click = f"{sample.click[0]},{sample.click[1]}"
    for crf in ("-5", "99"):
        code, text = run_tam(["remove", src, "-o", tmp_path / "o.mp4", "--point", click, "--project",
                              tmp_path / "P", "--crf", crf], capsys, monkeypatch)
        assert code == 1 and "--crf" in text, text
        assert not (tmp_path / "P").exists()
    code, text = run_tam(["remove", src, "-o", src, "--point", click, "--project", tmp_path / "P"], capsys, monkeypatch)
    assert code == 1 and "source" in text, text
    assert not (tmp_path / "P").exists()
    code, text = run_tam(["weights", "download", "bogus"], capsys, monkeypatch)
    assert code == 1 and "unexpected" not in text and "bogus" in text, text


def test_10_unknown_object_ids_are_refused(clip, tmp_path, capsys, monkeypatch):
    src, sample = clip
    code, text = run_tam(["track", src, "--masks-out", tmp_path / "m", "--point",
                          f"{sample.click[0]},{sample.click[1]}", "--project", tmp_path / "P",
                          "--backend", "classical"], capsys, monkeypatch)
    assert code == 0, text
    code, text = run_tam(["edit", tmp_path / "P", "-o", tmp_path / "b.mp4", "--blur", "--object", "99"],
                         capsys, monkeypatch)
    assert code == 1 and "99" in text, text
    assert not (tmp_path / "b.mp4").exists()
    code, text = run_tam(["export", tmp_path / "P", "--format", "alpha", "-o", tmp_path / "a.mp4", "--object", "99"],
                         capsys, monkeypatch)
    assert code == 1 and "99" in text, text


def test_10_a_checkpoint_with_other_keys_is_a_clear_error(clip, tmp_path, capsys, monkeypatch):
    import torch

    from tracking.backends import make_propagator_factory
    from weights import CheckpointMismatch

    src, sample = clip
    monkeypatch.setenv("TAM_WEIGHTS_DIR", str(tmp_path / "w"))
    (tmp_path / "w").mkdir()
    torch.save({"something.else": torch.zeros(3)}, tmp_path / "w" / "XMem.pth")
    with pytest.raises(CheckpointMismatch, match="delete it and run tam weights download xmem"):
        make_propagator_factory("neural")()
    code, text = run_tam(["track", src, "--masks-out", tmp_path / "m", "--point",
                          f"{sample.click[0]},{sample.click[1]}", "--project", tmp_path / "P"], capsys, monkeypatch)
    assert code == 0 and "unexpected" not in text, text
    assert "tam weights download xmem" in text and "classical" in text


# ---------------------------------------------------------------------------- 11. playable, reproducible


def _video_stream(path: Path) -> tuple[str, int, int]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return s.codec_context.pix_fmt, s.codec_context.width, s.codec_context.height


def test_11_odd_sizes_are_written_in_4_2_0(tmp_path):
    from editor.encode import write_video

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (111, 191, 3), dtype=np.uint8) for _ in range(4)]
    out = write_video(iter(frames), tmp_path / "odd.mp4", 24)
    pix_fmt, w, h = _video_stream(out)
    assert pix_fmt == "yuv420p"
    assert (w, h) in ((192, 112), (191, 111))
    exact = write_video(iter(frames), tmp_path / "exact.mp4", 24, exact_size=True)
    assert _video_stream(exact) == ("yuv444p", 191, 111)


def test_11_renders_are_reproducible(clips_dir, tmp_path):
    from editor.compose import BlurEdit

    project = pipeline.open_project(clips_dir / "sttn-dogs_jump" / "video.mp4", tmp_path / "P")
    pipeline.track(project, [pipeline.ObjectPrompt(points=((200, 120),))], backend="classical")
    hashes = set()
    for k in range(3):
        out = pipeline.render(project, tmp_path / f"r{k}.mp4", BlurEdit())
        hashes.add(hashlib.sha256(out.read_bytes()).hexdigest())
    assert len(hashes) == 1


def test_11_audio_is_copied_when_the_container_allows(clip, tmp_path):
    from editor.compose import BlurEdit

    src, sample = clip
    project = pipeline.open_project(src, tmp_path / "P")
    pipeline.track(project, [pipeline.ObjectPrompt(points=(sample.click,))], backend="classical")
    out = pipeline.render(project, tmp_path / "o.mp4", BlurEdit())

    def audio_packets(path: Path) -> list[bytes]:
        with av.open(str(path)) as c:
            return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]

    a, b = audio_packets(src), audio_packets(out)
    assert b and b == a[: len(b)] and len(b) >= len(a) - 1


def _vfr_clip(path: Path, frames: list[np.ndarray], times_ms: list[int]) -> None:
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        s.codec_context.time_base = Fraction(1, 1000)
        s.options = {"crf": "10", "bf": "0"}
        for f, t in zip(frames, times_ms, strict=True):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts, vf.time_base = t, Fraction(1, 1000)
            for p in s.encode(vf):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)


def test_11_vfr_keeps_every_source_frame(tmp_path):
    from editor.compose import SplashEdit

    n = 30
    frames = []
    for i in range(n):  # each frame a different flat level: a dropped or repeated frame is visible
        f = np.full((64, 96, 3), 8 * i, np.uint8)
        f[20:40, 30:60] = 255 - 8 * i
        frames.append(f)
    rng = np.random.default_rng(3)
    gaps = rng.choice([20, 33, 50, 80], size=n)
    times = np.concatenate([[0], np.cumsum(gaps[:-1])]).tolist()
    src = tmp_path / "vfr.mp4"
    _vfr_clip(src, frames, times)
    project = pipeline.open_project(src, tmp_path / "P")
    assert project.num_frames == n
    decoded = [project.frames[i] for i in range(n)]
    levels = [int(np.median(d[0:10, 0:10, 0])) for d in decoded]
    assert all(abs(lv - 8 * i) <= 3 for i, lv in enumerate(levels)), levels
    project.masks[0] = np.zeros(project.working_size[::-1], np.uint8)
    out = pipeline.render(project, tmp_path / "o.mp4", SplashEdit())
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        got = [(float(f.pts * s.time_base), int(np.median(f.to_ndarray(format="rgb24")[0:10, 0:10, 0])))
               for f in c.decode(s)]
    assert len(got) == n
    assert all(abs(lv - 8 * i) <= 3 for i, (_, lv) in enumerate(got)), got
    assert all(abs(t - ms / 1000) < 0.002 for (t, _), ms in zip(got, times, strict=True)), got


def test_11_a_failed_open_leaves_no_project_folder(tmp_path, capsys, monkeypatch):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    code, text = run_tam(["remove", bad, "-o", tmp_path / "o.mp4", "--point", "1,1", "--project", tmp_path / "P"],
                         capsys, monkeypatch)
    assert code == 1
    assert not (tmp_path / "P").exists()
