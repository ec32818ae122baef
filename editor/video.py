"""Reading and writing video with PyAV: probing, streaming decode, atomic encode with the source audio.

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

Odd sizes: H.264 in 4:2:0 cannot code an odd width or height (its cropping works in steps of two), and
browsers, QuickTime and phones do not play H.264 4:4:4. So :func:`write_video` pads an odd-sized frame by one
pixel (the last column/row repeated) and encodes the playable ``yuv420p``, with a warning; ``exact_size=True``
keeps the exact size in 4:4:4 instead. VP9 and MPEG-4 Part 2 handle odd sizes in 4:2:0 themselves.

Reproducible: the same frames give the same file, byte for byte (x264's macroblock-tree rate control is
off: with it, libx264 here gave a different stream from run to run). The source's audio is copied packet
for packet when the container takes it as it is (AAC, MP3, ALAC into MP4/MOV, whose edit lists hide the
encoder's priming; the sound then ends within one packet, about 20 ms, of the video), else re-encoded and
trimmed to the sample. The file is written under a hidden ``.NAME.PID.XXXX.part.EXT`` name beside the output and
renamed at the end; a part file left by a killed run (its process is gone) is swept by the next write of the
same output.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from editor.errors import InputError, OutputError, VideoError

Progress = Callable[[int, int], object]
log = logging.getLogger("tam")

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")

# extension -> audio codecs the container takes as they are (copied, not re-encoded)
_COPYABLE_AUDIO: dict[str, frozenset[str]] = {  # MP4/MOV edit lists hide the encoder's priming
    ".mp4": frozenset({"aac", "mp3", "alac"}),
    ".m4v": frozenset({"aac", "mp3", "alac"}),
    ".mov": frozenset({"aac", "mp3", "alac"}),
}

# extension -> (container format, RGB codec, RGBA codec and pix_fmt or None, audio codec)
_CONTAINERS: dict[str, tuple[str, str, tuple[str, str] | None, str]] = {
    ".mp4": ("mp4", "libx264", None, "aac"),
    ".m4v": ("mp4", "libx264", None, "aac"),
    ".mov": ("mov", "libx264", ("prores_ks", "yuva444p10le"), "aac"),
    ".mkv": ("matroska", "libx264", ("libvpx-vp9", "yuva420p"), "aac"),
    ".webm": ("webm", "libvpx-vp9", ("libvpx-vp9", "yuva420p"), "libopus"),
    ".avi": ("avi", "mpeg4", None, "pcm_s16le"),
}


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


def _open_input(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise InputError(f"video not found: {path} (check the path)")
    if not path.is_file():
        raise InputError(f"{path} is a folder, not a video file")
    try:
        return av.open(str(path), mode="r")
    except (av.FFmpegError, UnicodeDecodeError) as exc:
        raise VideoError(
            f"{path.name} is not a readable video (truncated, corrupt or not a video: {_short(exc)}); "
            "re-export it as MP4 (H.264)"
        ) from exc


def _short(exc: BaseException) -> str:
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
    with _open_input(path) as container:
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
                f"{path.name} is truncated or corrupt ({_short(exc)}); re-export or re-download it"
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
            f"{path.name} cannot be decoded ({_short(exc)}); it is corrupt or uses an unsupported codec"
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
    with _open_input(path) as container:
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
                raise VideoError(f"{path.name} cannot be decoded ({_short(exc)}); it is corrupt") from exc
            # truncated tail: keep what decoded, pad below with the last good frame
        if prev is None:
            raise VideoError(f"{path.name} has no decodable frames from frame {start}; it is truncated or corrupt")
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
            raise VideoError(f"{path.name} cannot be decoded ({_short(exc)}); it is corrupt") from exc
    if last is None:
        raise VideoError(f"{path.name} has no decodable frames from frame {start}; it is truncated or corrupt")
    _warn_missing(path, end - max(k, start), end, stats)
    for _ in range(end - max(k, start)):
        yield last.copy()


def read_audio(path: str | Path) -> tuple[np.ndarray, int] | None:
    """Decode a file's first audio stream as float32 ``(channels, samples)`` and its sample rate, or None."""
    path = Path(path)
    with _open_input(path) as container:
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


class _AudioPump:
    """Decodes the source audio, resamples it to the encoder's format and encodes it up to a given time."""

    def __init__(self, source: Path, out: av.container.OutputContainer, codec: str) -> None:
        self.input = _open_input(source)
        self.closed = False
        if not self.input.streams.audio:
            self.input.close()
            self.closed = True
            self.stream = None
            return
        src = self.input.streams.audio[0]
        rate = src.codec_context.sample_rate or 48000
        if codec == "libopus":
            rate = 48000
        layout = src.codec_context.layout.name if src.codec_context.layout else "stereo"
        if src.codec_context.channels > 2:
            layout = "stereo"
        self.stream = out.add_stream(codec, rate=rate)
        self.stream.layout = layout
        fmt = self.stream.codec_context.codec.audio_formats[0].name
        self.stream.format = fmt
        if codec in ("aac", "libopus"):
            self.stream.bit_rate = 192_000
        self.rate = rate
        self.fmt = fmt
        self.layout = layout
        self.channels = len(av.AudioLayout(layout).channels)
        self.packed = not av.AudioFormat(fmt).is_planar
        self.resampler = av.AudioResampler(format=fmt, layout=layout, rate=rate)
        self.frame_size = 0
        self.decoded = self.input.decode(src)
        self.buffer: list[np.ndarray] = []
        self.buffered = 0
        self.sent = 0
        self.out = out
        self.exhausted = False
        # align the audio to the video: silence for audio starting late, skip for audio starting early
        video = self.input.streams.video[0] if self.input.streams.video else None
        offset = 0.0
        if video is not None and video.start_time is not None and src.start_time is not None:
            offset = float(src.start_time * src.time_base) - float(video.start_time * video.time_base)
        self.skip = max(0, int(round(-offset * rate)))
        if offset > 0:
            dtype = av.AudioFrame(format=fmt, layout=layout, samples=1).to_ndarray().dtype
            self._push(np.zeros((self.channels, int(round(offset * rate))), dtype=dtype))

    def _planar(self, frame: av.AudioFrame) -> np.ndarray:
        array = frame.to_ndarray()
        return array.reshape(-1, self.channels).T if self.packed else array

    def _push(self, array: np.ndarray) -> None:
        """Queue ``(channels, samples)`` audio."""
        if self.skip:
            drop = min(self.skip, array.shape[-1])
            array = array[..., drop:]
            self.skip -= drop
        if array.shape[-1]:
            self.buffer.append(array)
            self.buffered += array.shape[-1]

    def _fill(self, need: int) -> None:
        while self.buffered < need and not self.exhausted:
            try:
                frame = next(self.decoded)
            except (StopIteration, av.FFmpegError):
                self.exhausted = True
                for out in self.resampler.resample(None):
                    self._push(self._planar(out))
                break
            frame.pts = None
            for out in self.resampler.resample(frame):
                self._push(self._planar(out))

    def _take(self, n: int) -> np.ndarray:
        data = np.concatenate(self.buffer, axis=-1) if len(self.buffer) > 1 else self.buffer[0]
        head, rest = data[..., :n], data[..., n:]
        self.buffer = [rest] if rest.shape[-1] else []
        self.buffered = rest.shape[-1]
        return head

    def encode_until(self, seconds: float, final: bool = False) -> None:
        """Encode audio up to ``seconds`` of output time (exactly, when ``final``)."""
        if self.stream is None:
            return
        target = int(round(seconds * self.rate))
        frame_size = self.stream.codec_context.frame_size or 1024
        while self.sent < target:
            n = min(frame_size, target - self.sent)
            if n < frame_size and not final:
                break
            self._fill(n)
            if self.buffered == 0:
                break
            n = min(n, self.buffered)
            if n < frame_size and not final and not self.exhausted:
                break
            array = self._take(n)
            if self.packed:
                array = array.T.reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(array), format=self.fmt, layout=self.layout)
            frame.sample_rate = self.rate
            frame.pts = self.sent
            frame.time_base = Fraction(1, self.rate)
            self.sent += n
            for packet in self.stream.encode(frame):
                self.out.mux(packet)
            if self.exhausted and self.buffered == 0:
                break

    def flush(self) -> None:
        if self.stream is not None:
            for packet in self.stream.encode(None):
                self.out.mux(packet)

    def close(self) -> None:
        if not self.closed:
            self.input.close()
            self.closed = True


class _AudioCopy:
    """Copies the source's audio packets as they are (no re-encode), up to the video's end, interleaved.

    Times keep their offset to the first video frame; packets before it (an encoder's priming packet) are kept
    too, as the source had them (the container's edit list hides them)."""

    def __init__(self, source: Path, out: av.container.OutputContainer) -> None:
        self.input = _open_input(source)
        src = self.input.streams.audio[0]
        self.src = src
        self.stream = out.add_stream_from_template(src)
        self.out = out
        video = self.input.streams.video[0] if self.input.streams.video else None
        self.origin = (
            Fraction(video.start_time) * video.time_base if video is not None and video.start_time is not None
            else Fraction(0)
        )
        self.packets = (pk for pk in self.input.demux(src) if pk.size and pk.pts is not None)
        self.pending: av.Packet | None = None
        self.done = False

    def encode_until(self, seconds: float, final: bool = False) -> None:
        """Mux every packet that starts before ``seconds`` of output time."""
        tb = self.src.time_base
        while not self.done:
            packet = self.pending or next(self.packets, None)
            self.pending = None
            if packet is None:
                self.done = True
                break
            t = Fraction(packet.pts) * tb - self.origin
            if t >= Fraction(seconds).limit_denominator(1_000_000):
                if final:
                    self.done = True
                else:
                    self.pending = packet
                break
            shift = int(self.origin / tb)
            packet.pts -= shift
            if packet.dts is not None:
                packet.dts -= shift
            packet.stream = self.stream
            self.out.mux(packet)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.input.close()


def _audio_for(source: Path, out: av.container.OutputContainer, ext: str, codec: str) -> _AudioCopy | _AudioPump:
    """Copy the source's audio when the container takes its codec as it is, else re-encode it as ``codec``."""
    with _open_input(source) as probe_in:
        name = probe_in.streams.audio[0].codec_context.name if probe_in.streams.audio else None
    if name is not None and name in _COPYABLE_AUDIO.get(ext, frozenset()):
        try:
            return _AudioCopy(source, out)
        except (av.FFmpegError, ValueError) as exc:
            log.info("copying the %s audio failed (%s); re-encoding it", name, _short(exc))
    return _AudioPump(source, out, codec)


def part_path(path: Path) -> Path:
    """A new hidden part file beside ``path`` (``.NAME.PID.XXXX.part.EXT``), with the umask's file mode."""
    from editor.store import file_mode

    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.{os.getpid()}.", suffix=f".part{path.suffix}", dir=path.parent)
    try:
        os.fchmod(fd, file_mode())
    finally:
        os.close(fd)
    return Path(name)


def sweep_parts(path: Path) -> list[Path]:
    """Remove the part files of ``path`` left by runs whose process is gone (killed); returns what it removed."""
    removed = []
    prefix = f".{path.stem}."
    for part in path.parent.glob(f".{path.stem}.*.part{path.suffix}"):
        pid = part.name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and not _process_alive(int(pid)):
            part.unlink(missing_ok=True)
            removed.append(part)
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _check_output_path(path: Path) -> str:
    ext = path.suffix.lower()
    if ext not in _CONTAINERS:
        raise OutputError(
            f"cannot write '{path.name}': unsupported extension '{ext or '(none)'}'; "
            f"use one of {', '.join(sorted(_CONTAINERS))}"
        )
    parent = path.parent
    if not parent.is_dir():
        raise OutputError(f"cannot write {path}: folder {parent} does not exist (create it first)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {path}: folder {parent} is not writable (choose another output path)")
    if path.is_dir():
        raise OutputError(f"cannot write {path}: a folder with that name exists")
    return ext


def _encoder_available(name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
    except Exception:
        return False
    return True


def write_video(
    frames: Iterable[np.ndarray],
    path: str | Path,
    fps: Fraction | int | float,
    *,
    audio_from: Path | str | None = None,
    crf: int = 18,
    codec: str | None = None,
    progress: Progress | None = None,
    total: int | None = None,
    times: Sequence[Fraction] | None = None,
    exact_size: bool = False,
) -> Path:
    """Encode frames to ``path`` atomically (a part file in the same folder, then ``os.replace``).

    The codec follows the extension: ``.mp4/.mov/.mkv`` H.264 ``yuv420p`` (odd sizes padded by one pixel;
    ``exact_size=True`` keeps them in ``yuv444p``), ``.webm`` VP9, ``.avi`` MPEG-4. RGBA frames make an alpha
    video (``.webm``/``.mkv`` VP9 ``yuva420p``, ``.mov`` ProRes 4444). ``audio_from`` muxes that file's first
    audio stream back (copied when the container takes its codec, else re-encoded), trimmed to the video's
    duration. ``times`` (seconds from the first frame, one per frame) writes a variable-rate video with those
    timestamps; otherwise frames are ``1 / fps`` apart. ``progress(done, total)`` is called per frame; raising
    from it (or Ctrl-C, or SIGTERM through the CLI) cancels and leaves nothing at ``path``.
    """
    path = Path(path)
    ext = _check_output_path(path)
    fps = Fraction(fps).limit_denominator(1_000_000) if not isinstance(fps, Fraction) else fps
    if fps <= 0:
        raise InputError(f"fps must be positive, got {fps}")
    audio_path = Path(audio_from) if audio_from is not None else None
    if audio_path is not None and not audio_path.is_file():
        raise InputError(f"audio source not found: {audio_path}")
    fmt, rgb_codec, alpha, audio_codec = _CONTAINERS[ext]

    iterator = iter(frames)
    try:
        first = next(iterator)
    except StopIteration:
        raise InputError(f"no frames to write to {path.name}") from None
    first = np.asarray(first)
    if first.dtype != np.uint8 or first.ndim != 3 or first.shape[2] not in (3, 4):
        raise InputError(f"frames must be uint8 H x W x 3 (RGB) or x 4 (RGBA), got {first.dtype} {first.shape}")
    height, width, channels = first.shape
    has_alpha = channels == 4
    if has_alpha:
        if alpha is None:
            raise OutputError(f"'{ext}' cannot hold an alpha channel; write RGBA frames to .webm, .mkv or .mov")
        video_codec, pix_fmt = (codec, "yuva420p") if codec else alpha
    pad = (0, 0)
    if not has_alpha:
        video_codec = codec or rgb_codec
        pix_fmt = "yuv420p"
        if video_codec == "libx264" and (width % 2 or height % 2):
            if exact_size:
                pix_fmt = "yuv444p"
            else:
                pad = (height % 2, width % 2)
                log.warning(
                    "%s: %dx%d is odd, which H.264 4:2:0 cannot code; written as %dx%d (the last %s repeated) so "
                    "that browsers and phones play it (exact_size keeps %dx%d in 4:4:4, which they do not play)",
                    path.name, width, height, width + pad[1], height + pad[0],
                    "column and row" if all(pad) else ("column" if pad[1] else "row"), width, height,
                )
        elif video_codec == "prores_ks":
            pix_fmt = "yuv422p10le"
        elif video_codec == "ffv1":
            pix_fmt = "yuv444p"
    if not _encoder_available(video_codec):
        raise OutputError(f"this PyAV/FFmpeg build has no '{video_codec}' encoder; choose another output format")
    if audio_path is not None and not _encoder_available(audio_codec):
        raise OutputError(f"this PyAV/FFmpeg build has no '{audio_codec}' audio encoder for {ext}")

    if times is not None and total is not None and len(times) != total:
        raise InputError(f"{len(times)} timestamps for {total} frames")
    sweep_parts(path)
    tmp = part_path(path)
    pump: _AudioPump | _AudioCopy | None = None
    time_base = Fraction(1, 90000) if times is not None else 1 / fps
    try:
        with av.open(str(tmp), mode="w", format=fmt) as out:
            stream = out.add_stream(video_codec, rate=fps)
            stream.width, stream.height = width + pad[1], height + pad[0]
            stream.pix_fmt = pix_fmt
            stream.codec_context.time_base = time_base
            stream.options = _video_options(video_codec, crf, has_alpha)
            if video_codec == "mpeg4":
                stream.bit_rate = max(1_000_000, int(width * height * float(fps) * 0.3))
            if audio_path is not None:
                pump = _audio_for(audio_path, out, ext, audio_codec)
            in_format = "rgba" if has_alpha else "rgb24"
            n = 0
            for image in _chain(first, iterator):
                image = np.asarray(image)
                if image.shape != first.shape or image.dtype != np.uint8:
                    raise InputError(
                        f"frame {n} is {image.dtype} {image.shape}, expected uint8 {first.shape}; "
                        "all frames must have the same size"
                    )
                if any(pad):
                    image = np.pad(image, ((0, pad[0]), (0, pad[1]), (0, 0)), mode="edge")
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format=in_format)
                frame.pts = n if times is None else round(Fraction(times[n]) / time_base)
                frame.time_base = time_base
                for packet in stream.encode(frame):
                    out.mux(packet)
                n += 1
                if pump is not None:
                    pump.encode_until(float(n / fps) if times is None else _end_time(times, n, fps))
                if progress is not None:
                    progress(n, total if total is not None else n)
            for packet in stream.encode(None):
                out.mux(packet)
            if pump is not None:
                pump.encode_until(float(n / fps) if times is None else _end_time(times, n, fps), final=True)
                pump.flush()
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        if pump is not None:
            pump.close()
    return path


def _end_time(times: Sequence[Fraction], n: int, fps: Fraction) -> float:
    """When frame ``n - 1`` stops being on screen: the next frame's time, or one average period after the last."""
    return float(times[n]) if n < len(times) else float(Fraction(times[n - 1]) + 1 / fps)


def _chain(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield first
    yield from rest


def _video_options(codec: str, crf: int, alpha: bool) -> dict[str, str]:
    if codec in ("libx264", "libx264rgb"):
        # mbtree off: with it, this libx264 gives a different stream from run to run for the same frames
        return {"crf": str(int(crf)), "preset": "medium", "x264-params": "mbtree=0"}
    if codec == "libvpx-vp9":
        return {"crf": str(min(63, int(crf) + 13)), "b": "0", "row-mt": "1", "deadline": "good", "cpu-used": "4"}
    if codec == "prores_ks":
        return {"profile": "4" if alpha else "3"}
    return {}


__all__ = [
    "VIDEO_EXTENSIONS",
    "DecodeStats",
    "VideoInfo",
    "iter_frames",
    "part_path",
    "probe",
    "read_audio",
    "sweep_parts",
    "write_video",
]
