"""Reading video with PyAV: probing, streaming decode, the source audio.

Conventions (see docs/architecture.md):
- frames are RGB ``uint8`` ``H x W x 3`` (``H x W x 4`` RGBA when writing an alpha video), already rotated
  for display;
- ``fps`` is an exact :class:`fractions.Fraction` (the average rate); :func:`iter_frames` yields every source
  frame once, exactly :attr:`VideoInfo.num_frames` of them. A variable-frame-rate source keeps its frames and
  their timestamps (:attr:`VideoInfo.frame_times`): nothing is dropped or repeated, and a render writes each
  frame at its source time. Frames a truncated file cannot deliver repeat the last decoded one, with a warning
  that says how many (never silently);
- ``VideoInfo.rotation`` is the counter-clockwise rotation (degrees, 0/90/180/270) that FFmpeg's display
  matrix asks for, i.e. the value of ``VideoFrame.rotation``; decoded frames are turned by it.

Writing is :mod:`editor.encode`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from editor.errors import InputError, VideoError

Progress = Callable[[int, int], object]
log = logging.getLogger("tam")

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")

@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` learns about a video file.

    ``width``/``height`` are the display size (after rotation); ``fps`` is exact (the average rate; for a
    variable-frame-rate file, the rate frames are resampled to); ``num_frames`` is counted from the packets.
    """

    path: Path
    fps: Fraction
    num_frames: int
    width: int
    height: int
    rotation: int
    has_audio: bool
    duration: float
    codec: str
    is_vfr: bool
    start_time: float = 0.0
    audio_codec: str | None = None
    frame_times: tuple[Fraction, ...] = field(default=(), repr=False)  # each frame's time from the first, seconds

    @property
    def size(self) -> tuple[int, int]:
        """Display size as ``(width, height)``."""
        return self.width, self.height


def open_input(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise InputError(f"video not found: {path} (check the path)")
    if not path.is_file():
        raise InputError(f"{path} is a folder, not a video file")
    try:
        return av.open(str(path), mode="r")
    except (av.FFmpegError, UnicodeDecodeError) as exc:
        raise VideoError(
            f"{path.name} is not a readable video (truncated, corrupt or not a video: {short_error(exc)}); "
            "re-export it as MP4 (H.264)"
        ) from exc


def short_error(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:160]


def _packet_times(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> list[int]:
    """Presentation timestamps (stream time base) of every video packet, counting the frames exactly."""
    times: list[int] = []
    count = 0
    for packet in container.demux(stream):
        if packet.size == 0 and packet.pts is None and packet.dts is None:
            continue  # the flush packet PyAV yields at the end
        ts = packet.pts if packet.pts is not None else packet.dts
        times.append(ts if ts is not None else count)
        count += 1
    times.sort()
    return times


def _check_complete(path: Path, container, stream, times: list[int], tb: Fraction) -> None:
    """Raise when the header promises more frames or a longer duration than the packets deliver."""
    truncated = stream.frames and stream.frames > len(times) + 1
    # the video stream's own duration: the container's may include a longer audio track
    declared = float(stream.duration * tb) if stream.duration else None
    if declared and len(times) > 1:
        span = float((times[-1] - times[0]) * tb)
        step = span / (len(times) - 1) if span > 0 else 0.0
        truncated = truncated or declared > span + 4 * step + 0.25
    elif declared and len(times) == 1:
        truncated = truncated or declared > 0.5
    if truncated:
        raise VideoError(f"{path.name} is truncated (the file ends before its last frame); re-export or re-download it")


def _detect_vfr(times: list[int]) -> bool:
    if len(times) < 3:
        return False
    diffs = np.diff(np.asarray(times, dtype=np.int64))
    diffs = diffs[diffs > 0]
    if diffs.size < 2:
        return False
    median = float(np.median(diffs))
    tol = max(1.0, 0.25 * median)
    return bool(np.any(np.abs(diffs - median) > tol))


def probe(path: str | Path) -> VideoInfo:
    """Read a video's frame rate, exact frame count, display size, rotation, audio and codec.

    Raises :class:`InputError` for a missing file and :class:`VideoError` for a file that is not a video,
    has no video frames, or cannot be decoded (truncated or corrupt).
    """
    path = Path(path)
    with open_input(path) as container:
        if not container.streams.video:
            raise VideoError(f"{path.name} has no video stream; pick a video file (MP4, MOV, MKV, WebM, AVI)")
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        audio = container.streams.audio[0] if container.streams.audio else None
        tb = stream.time_base or Fraction(1, 90000)
        try:
            times = _packet_times(container, stream)
        except av.FFmpegError as exc:
            raise VideoError(
                f"{path.name} is truncated or corrupt ({short_error(exc)}); re-export or re-download it"
            ) from exc
        if not times:
            raise VideoError(f"{path.name} has no video frames; pick another file")
        _check_complete(path, container, stream, times, tb)
        is_vfr = _detect_vfr(times)
        fps = _exact_rate(stream, times, tb)
        try:
            container.seek(0)
        except av.FFmpegError:
            pass
        rotation, coded_w, coded_h = _first_frame_geometry(container, stream, path)
    num_frames = len(times)
    width, height = (coded_h, coded_w) if rotation in (90, 270) else (coded_w, coded_h)
    start = float(times[0] * tb)
    frame_times = tuple(Fraction(t - times[0]) * tb for t in times)
    return VideoInfo(
        path=path,
        fps=fps,
        num_frames=num_frames,
        width=width,
        height=height,
        rotation=rotation,
        has_audio=audio is not None,
        duration=float(num_frames / fps),
        codec=codec,
        is_vfr=is_vfr,
        start_time=start,
        audio_codec=audio.codec_context.name if audio is not None else None,
        frame_times=frame_times,
    )


def _exact_rate(stream: av.video.stream.VideoStream, times: list[int], tb: Fraction) -> Fraction:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            rate = Fraction(rate)
            if 0 < rate <= 1000:
                return rate
    if len(times) > 1 and times[-1] > times[0]:
        return Fraction((len(times) - 1), 1) / (Fraction(times[-1] - times[0]) * tb)
    return Fraction(25)


def _first_frame_geometry(container: av.container.InputContainer, stream, path: Path) -> tuple[int, int, int]:
    try:
        for frame in container.decode(stream):
            rotation = int(round(getattr(frame, "rotation", 0) or 0)) % 360
            rotation = (rotation + 45) // 90 * 90 % 360
            return rotation, frame.width, frame.height
    except av.FFmpegError as exc:
        raise VideoError(
            f"{path.name} cannot be decoded ({short_error(exc)}); it is corrupt or uses an unsupported codec"
        ) from exc
    raise VideoError(f"{path.name} has no decodable video frames; it is truncated or corrupt")


def _rotate(image: np.ndarray, rotation: int) -> np.ndarray:
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(image, k)) if k else image


@dataclass
class DecodeStats:
    """What one :func:`iter_frames` call could not deliver: ``missing`` frames repeat the last decoded one."""

    missing: int = 0


def iter_frames(
    path: str | Path,
    size: tuple[int, int] | None = None,
    start: int = 0,
    end: int | None = None,
    *,
    info: VideoInfo | None = None,
    stats: DecodeStats | None = None,
) -> Iterator[np.ndarray]:
    """Yield RGB ``uint8`` frames ``start..end-1``, every source frame once, rotation applied.

    A constant-rate file's frame ``k`` is the one on screen at ``k / fps``; a variable-frame-rate file's frames
    are yielded as they are (their times are ``info.frame_times``). The output always has the frames asked
    for: when the decoder delivers fewer (a truncated file) the last one is repeated, a warning says how many,
    and ``stats.missing`` counts them. ``size=(w, h)`` resizes with ``INTER_AREA``.
    """
    path = Path(path)
    info = info or probe(path)
    end = info.num_frames if end is None else min(end, info.num_frames)
    if start < 0 or start > end:
        raise InputError(f"frame range {start}..{end} is outside the video's 0..{info.num_frames}")
    if size is not None and (len(size) != 2 or min(size) <= 0):
        raise InputError(f"size must be (width, height) with positive values, got {size}")
    if start == end:
        return

    def finish(frame: av.VideoFrame) -> np.ndarray:
        image = _rotate(frame.to_ndarray(format="rgb24"), info.rotation)
        if size is not None and (image.shape[1], image.shape[0]) != tuple(size):
            image = cv2.resize(image, tuple(int(v) for v in size), interpolation=cv2.INTER_AREA)
        return image

    period = 1 / info.fps
    tol = period / 2
    t0 = Fraction(info.start_time).limit_denominator(1_000_000)
    k = start
    stats = stats if stats is not None else DecodeStats()
    with open_input(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        tb = stream.time_base or Fraction(1, 90000)
        if info.is_vfr:
            yield from _every_frame(container, stream, path, start, end, finish, stats)
            return
        if start > 0:
            target = t0 + start * period - period
            try:
                container.seek(max(0, int(target / tb)), stream=stream, backward=True)
            except av.FFmpegError:
                container.seek(0)
        prev: av.VideoFrame | None = None
        prev_image: np.ndarray | None = None
        count = 0

        def held() -> np.ndarray:
            """The held (last decoded) frame as an image: converted once, a copy for each repeat."""
            nonlocal prev_image
            if prev_image is None:
                prev_image = finish(prev)
                return prev_image
            return prev_image.copy()

        try:
            for frame in container.decode(stream):
                t = Fraction(frame.pts) * tb if frame.pts is not None else t0 + count * period
                count += 1
                while k < end and t0 + k * period + tol < t:
                    if prev is None:  # a seek landed after the target: this frame is the nearest
                        break
                    yield held()
                    k += 1
                if k >= end:
                    return
                prev, prev_image = frame, None
        except av.FFmpegError as exc:
            if prev is None:
                raise VideoError(f"{path.name} cannot be decoded ({short_error(exc)}); it is corrupt") from exc
            # truncated tail: keep what decoded, pad below with the last good frame
        if prev is None:
            raise VideoError(f"{path.name} has no decodable frames from frame {start}; it is truncated or corrupt")
        # the last decoded frame is still owed to its own slot k: it is a real frame, not a missing one
        yield held()
        k += 1
        _warn_missing(path, end - k, end, stats)
        while k < end:
            yield held()
            k += 1


def _warn_missing(path: Path, missing: int, total: int, stats: DecodeStats) -> None:
    if missing > 0:
        stats.missing += missing
        log.warning(
            "%s: %d of %d frames could not be decoded (the file is truncated or damaged); they repeat the last "
            "decoded frame, and the sound may stop early: re-export or re-download the file",
            path.name, missing, total,
        )


def _every_frame(container, stream, path: Path, start: int, end: int, finish, stats: DecodeStats):
    """Every decoded frame ``start..end-1`` in presentation order (a variable-rate file: nothing resampled)."""
    last: np.ndarray | None = None
    k = 0
    try:
        for frame in container.decode(stream):
            if k >= start:
                last = finish(frame)
                yield last
            k += 1
            if k >= end:
                return
    except av.FFmpegError as exc:
        if last is None and k <= start:
            raise VideoError(f"{path.name} cannot be decoded ({short_error(exc)}); it is corrupt") from exc
    if last is None:
        raise VideoError(f"{path.name} has no decodable frames from frame {start}; it is truncated or corrupt")
    _warn_missing(path, end - max(k, start), end, stats)
    for _ in range(end - max(k, start)):
        yield last.copy()


def read_audio(path: str | Path) -> tuple[np.ndarray, int] | None:
    """Decode a file's first audio stream as float32 ``(channels, samples)`` and its sample rate, or None."""
    path = Path(path)
    with open_input(path) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        chunks: list[np.ndarray] = []
        rate = stream.codec_context.sample_rate
        resampler: av.AudioResampler | None = None
        for frame in container.decode(stream):
            if resampler is None:
                resampler = av.AudioResampler(format="fltp", layout=frame.layout.name, rate=frame.sample_rate)
                rate = frame.sample_rate
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray())
        if resampler is not None:
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray())
    if not chunks:
        return np.zeros((1, 0), np.float32), rate
    return np.concatenate(chunks, axis=1).astype(np.float32, copy=False), rate
