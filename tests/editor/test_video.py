"""editor.video: probe, decode and encode round trips on small videos generated with PyAV."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from editor.encode import write_video
from editor.errors import InputError, OutputError, VideoError
from editor.video import DecodeStats, iter_frames, probe, read_audio


def make_video(
    path: Path,
    n: int = 10,
    size: tuple[int, int] = (64, 48),
    fps: Fraction = Fraction(25),
    *,
    audio: bool = False,
    rotation: int = 0,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    pts_ms: list[int] | None = None,
) -> Path:
    """A small test clip: frame i has red = 20*i and a white top-left marker; optional 440 Hz stereo AAC."""
    width, height = size
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if rotation:
            stream.set_display_rotation(rotation)
        if pts_ms is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        astream = None
        if audio:
            astream = out.add_stream("aac", rate=44100)
            astream.layout = "stereo"
        for i in range(n):
            image = np.zeros((height, width, 3), np.uint8)
            image[..., 0] = (20 * i) % 256
            image[:6, :6] = 255
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = (pts_ms[i], Fraction(1, 1000)) if pts_ms else (i, 1 / fps)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
        if astream is not None:
            total, t = int(n / fps * 44100), 0
            while t < total:
                m = min(1024, total - t)
                x = np.sin(np.arange(t, t + m) / 44100 * 2 * np.pi * 440).astype(np.float32) * 0.5
                frame = av.AudioFrame.from_ndarray(np.stack([x, x]), format="fltp", layout="stereo")
                frame.sample_rate, frame.pts = 44100, t
                for packet in astream.encode(frame):
                    out.mux(packet)
                t += m
            for packet in astream.encode():
                out.mux(packet)
    return path


def red_levels(frames: list[np.ndarray]) -> list[int]:
    return [int(round(float(f[20:, 20:, 0].mean()) / 20)) for f in frames]


def test_probe_and_decode_mp4_with_audio(tmp_path: Path) -> None:
    src = make_video(tmp_path / "a.mp4", fps=Fraction(30000, 1001), audio=True)
    info = probe(src)
    assert info.fps == Fraction(30000, 1001) and isinstance(info.fps, Fraction)
    assert (info.num_frames, info.width, info.height, info.rotation) == (10, 64, 48, 0)
    assert info.has_audio and info.codec == "h264" and not info.is_vfr
    assert info.duration == pytest.approx(10 * 1001 / 30000)
    frames = list(iter_frames(src))
    assert len(frames) == 10 and frames[0].shape == (48, 64, 3) and frames[0].dtype == np.uint8
    assert red_levels(frames) == list(range(10))
    assert red_levels(list(iter_frames(src, start=4, end=7))) == [4, 5, 6]
    small = list(iter_frames(src, size=(32, 24)))
    assert len(small) == 10 and small[0].shape == (24, 32, 3)


def test_round_trip_keeps_count_fps_size_and_audio(tmp_path: Path) -> None:
    src = make_video(tmp_path / "src.mp4", fps=Fraction(30000, 1001), audio=True)
    frames = list(iter_frames(src))
    out = write_video(frames, tmp_path / "out.mp4", Fraction(30000, 1001), audio_from=src)
    info = probe(out)
    assert (info.num_frames, info.fps, info.size, info.has_audio) == (10, Fraction(30000, 1001), (64, 48), True)
    assert info.audio_codec == "aac"
    assert red_levels(list(iter_frames(out))) == list(range(10))
    a_src, rate_src = read_audio(src)
    a_out, rate_out = read_audio(out)
    assert rate_out == rate_src and a_out.shape[0] == 2
    assert abs(a_out.shape[1] - a_src.shape[1]) <= 1024  # one AAC frame
    assert abs(a_out.shape[1] / rate_out - info.duration) <= 1024 / rate_out
    assert np.abs(a_out).max() > 0.3  # real sound, not silence


@pytest.mark.parametrize(
    "ext,codec,audio_codec",
    [
        (".webm", "vp9", "opus"),
        (".mkv", "h264", "aac"),
        (".avi", "mpeg4", "pcm_s16le"),
        (".mov", "h264", "aac"),
    ],
)
def test_containers(tmp_path: Path, ext: str, codec: str, audio_codec: str) -> None:
    src = make_video(tmp_path / "src.mp4", n=8, fps=Fraction(24), audio=True)
    out = write_video(iter_frames(src), tmp_path / f"out{ext}", Fraction(24), audio_from=src, total=8)
    info = probe(out)
    assert (info.num_frames, info.fps, info.size, info.codec, info.audio_codec) == (
        8,
        Fraction(24),
        (64, 48),
        codec,
        audio_codec,
    )
    assert red_levels(list(iter_frames(out))) == list(range(8))
    samples, rate = read_audio(out)
    assert abs(samples.shape[1] / rate - 8 / 24) <= 1024 / rate


def test_odd_size_round_trips_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frames = [
        np.full((121, 217, 3), 40 * i, np.uint8) + rng.integers(0, 5, (121, 217, 3), dtype=np.uint8) for i in range(4)
    ]
    for ext, exact in ((".mp4", True), (".webm", False), (".avi", False)):
        out = write_video(frames, tmp_path / f"odd{ext}", Fraction(24), exact_size=exact)  # H.264: 4:4:4
        info = probe(out)
        assert info.size == (217, 121) and info.num_frames == 4
        back = list(iter_frames(out))
        assert back[2].shape == (121, 217, 3)
        assert abs(float(back[2].mean()) - float(frames[2].mean())) < 4


def test_rotation_is_applied(tmp_path: Path) -> None:
    src = make_video(tmp_path / "phone.mp4", n=3, size=(64, 32), rotation=90)
    info = probe(src)
    assert info.rotation == 90 and info.size == (32, 64)
    frame = next(iter_frames(src))
    assert frame.shape == (64, 32, 3)
    # the white marker (top-left of the coded frame) ends bottom-left after a 90° counter-clockwise turn
    assert frame[-3, 2].min() > 200 and frame[2, 2].max() < 200


def test_vfr_keeps_every_frame_and_its_time(tmp_path: Path) -> None:
    pts = [0, 40, 80, 200, 240, 280, 300, 320, 340, 500, 540, 580]
    src = make_video(tmp_path / "vfr.mp4", n=12, pts_ms=pts)
    info = probe(src)
    assert info.is_vfr and info.num_frames == 12
    assert [round(float(t) * 1000) for t in info.frame_times] == pts
    frames = list(iter_frames(src))
    assert red_levels(frames) == list(range(12))  # each source frame once, none dropped or repeated
    assert red_levels(list(iter_frames(src, start=4, end=7))) == [4, 5, 6]


def test_probe_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        probe(tmp_path / "absent.mp4")
    text = tmp_path / "notes.mp4"
    text.write_text("hello, not a video")
    with pytest.raises(VideoError, match="not a readable video"):
        probe(text)
    src = make_video(tmp_path / "ok.mp4", n=30, audio=True)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    with pytest.raises(VideoError):
        probe(cut)
    audio_only = tmp_path / "audio.m4a"
    with av.open(str(audio_only), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=44100)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 44100, 0
        for packet in list(stream.encode(frame)) + list(stream.encode()):
            out.mux(packet)
    with pytest.raises(VideoError, match="no video stream"):
        probe(audio_only)


def test_zero_frames_and_truncated_tail(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mkv"
    with av.open(str(empty), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        out.start_encoding()
    with pytest.raises(VideoError):
        probe(empty)


def test_write_is_atomic_and_checks_the_destination_first(tmp_path: Path) -> None:
    dest = tmp_path / "out.mp4"

    def frames():
        for i in range(5):
            if i == 3:
                raise RuntimeError("boom")
            yield np.zeros((48, 64, 3), np.uint8)

    with pytest.raises(RuntimeError, match="boom"):
        write_video(frames(), dest, Fraction(25))
    assert not dest.exists() and list(tmp_path.iterdir()) == []

    def cancel(done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_video([np.zeros((48, 64, 3), np.uint8)] * 5, dest, Fraction(25), progress=cancel)
    assert list(tmp_path.iterdir()) == []

    consumed = []

    def watched():
        consumed.append(1)
        yield np.zeros((48, 64, 3), np.uint8)

    with pytest.raises(OutputError, match="does not exist"):
        write_video(watched(), tmp_path / "nope" / "out.mp4", Fraction(25))
    with pytest.raises(OutputError, match="unsupported extension"):
        write_video(watched(), tmp_path / "out.gif", Fraction(25))
    assert consumed == []
    with pytest.raises(InputError, match="same size"):
        write_video([np.zeros((48, 64, 3), np.uint8), np.zeros((40, 64, 3), np.uint8)], dest, Fraction(25))
    with pytest.raises(InputError, match="no frames"):
        write_video([], dest, Fraction(25))
    assert not dest.exists()


def test_alpha_videos(tmp_path: Path) -> None:
    rgba = np.zeros((32, 48, 4), np.uint8)
    rgba[..., 1] = 200
    rgba[:, :24, 3] = 255
    out = write_video([rgba] * 3, tmp_path / "alpha.mov", Fraction(25))
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "prores"
        frame = next(container.decode(stream))
        assert "a" in frame.format.name
        back = frame.to_ndarray(format="rgba")
    assert back[:, :20, 3].min() > 240 and back[:, 28:, 3].max() < 15
    webm = write_video([rgba] * 3, tmp_path / "alpha.webm", Fraction(25))
    assert probe(webm).num_frames == 3
    with pytest.raises(OutputError, match="alpha"):
        write_video([rgba], tmp_path / "alpha.mp4", Fraction(25))


def test_shared_clip_probe(clips_dir: Path) -> None:
    info = probe(clips_dir / "sttn-dogs_jump" / "video.mp4")
    assert info.num_frames == 66 and info.size == (432, 240)
    assert sum(1 for _ in iter_frames(info.path, info=info)) == 66


@pytest.mark.parametrize("ext", [".mp4", ".mkv", ".webm", ".avi", ".mov"])
def test_a_written_video_reads_back_whole_without_a_warning(tmp_path: Path, ext: str, caplog) -> None:
    """Every frame tam writes decodes: the reader's count of undecodable frames is 0, not 1 (the last one)."""
    frames = []
    for i in range(12):
        image = np.zeros((48, 64, 3), np.uint8)
        image[..., 0] = 20 * i
        frames.append(image)
    out = write_video(frames, tmp_path / f"out{ext}", Fraction(30000, 1001))
    with av.open(str(out)) as container:  # the file itself holds every frame, no more
        assert sum(1 for _ in container.decode(video=0)) == 12
    stats = DecodeStats()
    with caplog.at_level("WARNING", logger="tam"):
        back = list(iter_frames(out, stats=stats))
        tail = list(iter_frames(out, start=5, end=12, stats=stats))
    assert red_levels(back) == list(range(12))
    assert red_levels(tail) == list(range(5, 12))
    assert stats.missing == 0
    assert not [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
