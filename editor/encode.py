"""Writing video with PyAV: atomic encode (part files), playable and reproducible streams, the source audio.

Odd sizes: H.264 in 4:2:0 cannot code an odd width or height (its cropping works in steps of two), and
browsers, QuickTime and phones do not play H.264 4:4:4. So :func:`write_video` pads an odd-sized frame by one
pixel (the last column/row repeated) and encodes the playable ``yuv420p``, with a warning; ``exact_size=True``
keeps the exact size in 4:4:4 instead. VP9 and MPEG-4 Part 2 handle odd sizes in 4:2:0 themselves.

Reproducible: the same frames give the same file, byte for byte (x264's macroblock-tree rate control is
off: with it, libx264 here gave a different stream from run to run). The source's audio is copied packet
for packet when the container takes it as it is (AAC, MP3, ALAC into MP4/MOV, whose edit lists hide the
encoder's priming; the sound then ends within one packet, about 20 ms, of the video), else re-encoded and
trimmed to the sample. The file is written under a hidden ``.NAME.PID.TOKEN.part.EXT`` name beside the output and
renamed at the end (``tracking.atomic_files``: a failed, stopped or interrupted write removes it); a part file
left by a run killed outright (its process is gone) is swept by the next write of the same output.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from editor.errors import InputError, OutputError
from editor.video import (
    VIDEO_EXTENSIONS,
    DecodeStats,
    VideoInfo,
    iter_frames,
    open_input,
    probe,
    read_audio,
    short_error,
)
from tracking.atomic_files import replaced_atomically

Progress = Callable[[int, int], object]
log = logging.getLogger("tam")

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


class _AudioPump:
    """Decodes the source audio, resamples it to the encoder's format and encodes it up to a given time."""

    def __init__(self, source: Path, out: av.container.OutputContainer, codec: str) -> None:
        self.input = open_input(source)
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
        self.input = open_input(source)
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
    with open_input(source) as probe_in:
        name = probe_in.streams.audio[0].codec_context.name if probe_in.streams.audio else None
    if name is not None and name in _COPYABLE_AUDIO.get(ext, frozenset()):
        try:
            return _AudioCopy(source, out)
        except (av.FFmpegError, ValueError) as exc:
            log.info("copying the %s audio failed (%s); re-encoding it", name, short_error(exc))
    return _AudioPump(source, out, codec)


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
    pump: _AudioPump | _AudioCopy | None = None
    time_base = Fraction(1, 90000) if times is not None else 1 / fps
    try:
        with (
            replaced_atomically(path, suffix=f".part{path.suffix}", stem=path.stem) as tmp,
            av.open(str(tmp), mode="w", format=fmt) as out,
        ):
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
    "probe",
    "read_audio",
    "sweep_parts",
    "write_video",
]
