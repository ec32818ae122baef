"""A synthetic sample clip with a known clean background, so tracking and removal can be measured.

The background is a textured plate larger than the frame that pans (sub-pixel, with a slight vertical
drift); a textured blob whose outline wobbles moves across it. Its colour is warm against a mostly cool
background that also holds a few warm patches, so it is distinct but not trivially separable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from editor.errors import InputError, OutputError
from tracking.atomic_files import replaced_atomically


@dataclass
class Sample:
    """The clip (``frames``), the same clip without the object (``background``), the object's masks."""

    frames: list[np.ndarray]  # RGB uint8 H x W x 3
    background: list[np.ndarray]  # RGB uint8 H x W x 3, the frames without the object
    masks: list[np.ndarray]  # bool H x W, the object
    fps: Fraction
    click: tuple[int, int]  # (x, y) a point well inside the object on frame 0

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``."""
        h, w = self.frames[0].shape[:2]
        return w, h


def _noise(rng: np.random.Generator, h: int, w: int, scale: float) -> np.ndarray:
    """Smooth value noise in [0, 1] with features about ``scale`` pixels wide."""
    gh, gw = max(2, int(h / scale) + 2), max(2, int(w / scale) + 2)
    g = rng.random((gh, gw)).astype(np.float32)
    n = cv2.resize(g, (w, h), interpolation=cv2.INTER_CUBIC)
    n -= n.min()
    return n / max(float(n.max()), 1e-6)


def _background_plate(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A cool-toned textured plate (multi-scale noise, strokes and a few warm patches)."""
    n = 0.5 * _noise(rng, h, w, 60) + 0.3 * _noise(rng, h, w, 14) + 0.2 * _noise(rng, h, w, 4)
    hue = 0.45 + 0.25 * _noise(rng, h, w, 90)  # teal .. blue-green
    sat = 0.35 + 0.35 * _noise(rng, h, w, 40)
    val = 0.35 + 0.55 * n
    hsv = np.stack([hue * 180.0, sat * 255.0, val * 255.0], axis=2).astype(np.float32)
    img = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB)
    # strokes and warm patches, so the object's colour is not unique in the scene
    for _ in range(40):
        p0 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p1 = (p0[0] + int(rng.integers(-80, 80)), p0[1] + int(rng.integers(-80, 80)))
        c = tuple(int(v) for v in rng.integers(30, 230, 3))
        cv2.line(img, p0, p1, c, int(rng.integers(1, 4)), cv2.LINE_AA)
    for _ in range(6):
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        axes = (int(rng.integers(8, 25)), int(rng.integers(6, 18)))
        c = (int(rng.integers(150, 210)), int(rng.integers(70, 120)), int(rng.integers(40, 80)))
        cv2.ellipse(img, centre, axes, float(rng.integers(0, 180)), 0, 360, c, -1, cv2.LINE_AA)
    return cv2.GaussianBlur(img, (3, 3), 0.6)


def _object_texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A warm (orange-red) texture with stripes and speckles."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    stripes = 0.5 + 0.5 * np.sin((xx * 0.8 + yy * 0.5) / 5.0)
    n = 0.6 * _noise(rng, h, w, 10) + 0.4 * stripes
    hue = 8 + 10 * _noise(rng, h, w, 30)  # opencv hue 0..180: red-orange
    sat = 150 + 80 * _noise(rng, h, w, 20)
    val = 110 + 120 * n
    hsv = np.stack([hue, sat, val], axis=2)
    return cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB)


def make_sample(
    n_frames: int = 48, size: tuple[int, int] = (480, 270), seed: int = 0, fps: Fraction | int = 24
) -> Sample:
    """Render the sample clip: ``n_frames`` frames of ``size = (width, height)``, deterministic per ``seed``."""
    if n_frames < 1:
        raise InputError(f"n_frames must be at least 1, got {n_frames}")
    w, h = size
    if w < 64 or h < 64:
        raise InputError(f"size must be at least 64x64 pixels, got {w}x{h}")
    rng = np.random.default_rng(seed)
    pan = (2.3, 0.45)  # background motion in px/frame (content moves left and up)
    margin = 8
    plate_w = int(w + abs(pan[0]) * n_frames + 2 * margin)
    plate_h = int(h + abs(pan[1]) * n_frames + 2 * margin)
    plate = _background_plate(rng, plate_h, plate_w)
    radius = 0.16 * min(w, h) * 1.0 + 0.02 * w
    tex_size = int(4 * radius)
    texture = _object_texture(rng, tex_size, tex_size)
    phases = rng.random(3) * 2 * math.pi
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)

    frames, backgrounds, masks = [], [], []
    for t in range(n_frames):
        s = t / max(n_frames - 1, 1)
        ox, oy = margin + pan[0] * t, margin + pan[1] * t
        m = np.float32([[1, 0, ox], [0, 1, oy]])
        bg = cv2.warpAffine(plate, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        # object: centre path across the frame, radius that wobbles with the angle and in time
        cx = w * (0.28 + 0.44 * s)
        cy = h * (0.5 + 0.12 * math.sin(2 * math.pi * s))
        ang = np.arctan2(yy - cy, xx - cx)
        r = radius * (
            1.0
            + 0.12 * np.sin(3 * ang + phases[0] + 2.0 * s)
            + 0.07 * np.sin(5 * ang + phases[1] - 3.0 * s)
            + 0.05 * math.sin(2 * math.pi * s + phases[2])
        )
        mask = np.hypot(xx - cx, yy - cy) < r
        # texture moves with the object and turns slowly
        rot = cv2.getRotationMatrix2D((tex_size / 2, tex_size / 2), 25.0 * s, 1.0)
        rot[:, 2] += (cx - tex_size / 2, cy - tex_size / 2)
        obj = cv2.warpAffine(texture, rot, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        frame = bg.copy()
        frame[mask] = obj[mask]
        frames.append(frame)
        backgrounds.append(bg)
        masks.append(mask)
    dist = cv2.distanceTransform(masks[0].astype(np.uint8), cv2.DIST_L2, 5)
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return Sample(frames, backgrounds, masks, Fraction(fps), (int(x), int(y)))


def _tone(seconds: float, rate: int, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(round(seconds * rate)), dtype=np.float64) / rate
    env = np.minimum(1.0, np.minimum(t, seconds - t) / 0.05).clip(0, 1)
    wave = 0.3 * np.sin(2 * np.pi * freq * t) + 0.1 * np.sin(2 * np.pi * 2 * freq * t)
    return (wave * env).astype(np.float32)


def write_sample_video(
    path: str | Path,
    n_frames: int = 48,
    size: tuple[int, int] = (480, 270),
    seed: int = 0,
    fps: Fraction | int = 24,
    tone_hz: float = 440.0,
    sample_rate: int = 48000,
) -> Sample:
    """Write the sample clip to ``path`` (H.264 mp4) with a stereo AAC tone as its sound; return the sample.

    The file is written to a temporary name beside ``path`` and renamed, so no half file is left behind.
    """
    path = Path(path)
    if path.suffix.lower() not in (".mp4", ".mov", ".mkv"):
        raise InputError(f"write the sample as .mp4, .mov or .mkv, not {path.name!r}")
    if not path.parent.is_dir():
        raise OutputError(f"folder {path.parent} does not exist; create it first")
    sample = make_sample(n_frames=n_frames, size=size, seed=seed, fps=fps)
    w, h = sample.size
    if w % 2 or h % 2:
        raise InputError(f"H.264 needs an even width and height, got {w}x{h}")
    try:
        with (
            replaced_atomically(path, suffix=f".tmp{path.suffix}", stem=path.stem) as tmp,
            av.open(str(tmp), "w") as out,
        ):
            vs = out.add_stream("libx264", rate=sample.fps)
            vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
            vs.options = {"crf": "16", "preset": "veryfast"}
            aus = out.add_stream("aac", rate=sample_rate)
            aus.layout = "stereo"
            for frame in sample.frames:
                for packet in vs.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    out.mux(packet)
            for packet in vs.encode():
                out.mux(packet)
            mono = _tone(n_frames / float(sample.fps), sample_rate, tone_hz)
            chunk = 1024
            for i in range(0, len(mono), chunk):
                part = mono[i : i + chunk]
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(np.stack([part, part])), "fltp", "stereo")
                af.sample_rate = sample_rate
                af.pts = i
                for packet in aus.encode(af):
                    out.mux(packet)
            for packet in aus.encode():
                out.mux(packet)
    except OSError as e:
        raise OutputError(f"cannot write the sample video to {path}: {e}") from e
    return sample
