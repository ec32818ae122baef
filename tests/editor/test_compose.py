"""Compositing: the pure per-frame functions exactly, then whole renders through video I/O."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from editor import compose, effects
from editor.errors import InputError, OutputError, ProjectError

NATIVE = (96, 64)  # (w, h); the project works at half that (short side 32)
FPS = Fraction(12)
N = 12


def scene(i: int) -> tuple[np.ndarray, np.ndarray]:
    """Native frame ``i`` of the synthetic clip and its native label map (disc = 1, square = 2)."""
    w, h = NATIVE
    yy, xx = np.mgrid[:h, :w]
    frame = np.stack([xx * 2, yy * 3, (xx + yy) * 3 // 2], axis=2).astype(np.uint8)  # smooth, codec-friendly
    label = np.zeros((h, w), np.uint8)
    cx, cy = 20 + 4 * i, 30
    label[((xx - cx) ** 2 + (yy - cy) ** 2) <= 100] = 1
    label[40:56, 60:76] = 2
    frame[label == 1] = (250, 40, 40)
    frame[label == 2] = (40, 40, 250)
    return frame, label


def write_source(path: Path, n: int = N, audio: bool = True) -> Path:
    """A tiny H.264 clip (lossless-ish, crf 0) with a 440 Hz AAC track."""
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=FPS)
        v.width, v.height = NATIVE
        v.pix_fmt = "yuv444p"
        v.options = {"crf": "0", "preset": "ultrafast"}
        a = None
        if audio:
            a = out.add_stream("aac", rate=44100)
            a.layout = "mono"
        for i in range(n):
            for pkt in v.encode(av.VideoFrame.from_ndarray(scene(i)[0], format="rgb24")):
                out.mux(pkt)
        for pkt in v.encode(None):
            out.mux(pkt)
        if a is not None:
            t = np.arange(int(44100 * n / FPS)) / 44100
            samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for k in range(0, samples.size, 1024):
                fr = av.AudioFrame.from_ndarray(samples[None, k : k + 1024], format="fltp", layout="mono")
                fr.sample_rate = 44100
                fr.pts = k
                for pkt in a.encode(fr):
                    out.mux(pkt)
            for pkt in a.encode(None):
                out.mux(pkt)
    return path


def build_project(tmp_path: Path, audio: bool = True, inpainted: bool = True, short_side: int = 32):
    """A project over the synthetic clip: masks (working size) on every frame; a flat grey fill in inpainted/."""
    from editor.store import Project

    src = write_source(tmp_path / "source.mp4", audio=audio)
    project = Project.open_or_create(tmp_path / "proj", src, working_short_side=short_side)
    wsize = project.working_size
    for i in range(project.num_frames):
        label = scene(i)[1]
        project.masks[i] = label if wsize == NATIVE else _down(label, wsize)
        if inpainted:
            project.inpainted[i] = np.full((wsize[1], wsize[0], 3), 128, np.uint8)
    return project


def _down(label: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    return cv2.resize(label, size, interpolation=cv2.INTER_NEAREST)


def _frame(h: int = 60, w: int = 80, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _disc_label(h: int, w: int, cx: int, cy: int, r: int, k: int = 1) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return (((xx - cx) ** 2 + (yy - cy) ** 2) <= r * r).astype(np.uint8) * k


# ---------------------------------------------------------------------------------------------- pure functions


def test_blend_exact_outside_and_inside():
    a, b = _frame(seed=1), _frame(seed=2)
    alpha = np.zeros(a.shape[:2], np.float32)
    alpha[10:20, 10:20] = 1.0
    alpha[30:32, 30:40] = 0.5
    out = compose.blend(a, b, alpha)
    assert np.array_equal(out[alpha == 0], a[alpha == 0])
    assert np.array_equal(out[alpha == 1], b[alpha == 1])
    half = np.rint((a[30:32, 30:40].astype(float) + b[30:32, 30:40]) / 2)
    assert np.abs(out[30:32, 30:40].astype(float) - half).max() <= 1


@pytest.mark.parametrize("mode", ["blur", "pixelate"])
def test_blur_region_changes_only_the_weighted_region(mode):
    frame = _frame(120, 160)
    label = _disc_label(60, 80, 40, 30, 10)  # working size: half the native size
    weights = compose.region_weights(label, [1], (160, 120), dilate=4, feather=4)
    out = compose.blur_region(frame, weights, mode=mode, strength=6)
    outside = weights == 0
    assert np.array_equal(out[outside], frame[outside])
    inside = weights == 1
    # the noise is smoothed away inside: far less variance than the random frame had
    assert out[inside].astype(float).std() < 0.5 * frame[inside].astype(float).std()


def test_pixelate_cells_are_uniform():
    img = _frame(32, 48)
    out = compose.pixelate(img, 8)
    for y in range(0, 32, 8):
        for x in range(0, 48, 8):
            cell = out[y : y + 8, x : x + 8].reshape(-1, 3)
            assert (cell == cell[0]).all()
            assert np.abs(cell[0].astype(float) - img[y : y + 8, x : x + 8].reshape(-1, 3).mean(0)).max() <= 0.5


def test_blur_bad_arguments():
    f = _frame()
    w = np.ones(f.shape[:2], np.float32)
    with pytest.raises(InputError, match="blur mode"):
        compose.blur_region(f, w, mode="smudge")
    with pytest.raises(InputError, match="strength"):
        compose.blur_region(f, w, strength=0)


def test_colour_splash_and_background_swap_keep_the_object_exact():
    frame = _frame(60, 80)
    label = _disc_label(60, 80, 40, 30, 12, k=2)
    keep = compose.region_weights(label, [2], (80, 60), dilate=2, feather=3)
    inside, outside = keep == 1, keep == 0
    splash = compose.colour_splash(frame, keep)
    assert np.array_equal(splash[inside], frame[inside])
    g = splash[outside]
    assert (g[:, 0] == g[:, 1]).all() and (g[:, 1] == g[:, 2]).all()
    bg = np.zeros_like(frame)
    bg[:] = (0, 255, 0)
    swapped = compose.swap_background(frame, keep, bg)
    assert np.array_equal(swapped[inside], frame[inside])
    assert (swapped[outside] == (0, 255, 0)).all()
    # other objects count as background
    assert not compose.region_weights(label, [1], (80, 60), 2, 3).any()


def test_remove_object_pastes_only_inside_the_dilated_mask():
    frame = _frame(120, 160, seed=3)
    fill = np.full((60, 80, 3), 7, np.uint8)
    mask = _disc_label(60, 80, 40, 30, 8) > 0
    out = compose.remove_object(frame, fill, mask, dilate=4, feather=4)
    big = np.kron(mask, np.ones((2, 2), bool))
    assert (out[big] == 7).all()
    far = compose.region_weights(mask.astype(np.uint8), None, (160, 120), 4, 4) == 0
    assert np.array_equal(out[far], frame[far])
    assert np.array_equal(compose.remove_object(frame, fill, np.zeros_like(mask)), frame)
    assert np.array_equal(compose.remove_object(frame, None, mask), frame)


@pytest.mark.parametrize("fit", ["contain", "cover", "stretch"])
def test_fit_rect(fit):
    r = compose.fit_rect((100, 50), (10, 10, 50, 90), fit)
    x0, y0, x1, y1 = r
    if fit == "stretch":
        assert r == (10, 10, 50, 90)
    elif fit == "contain":
        assert (x1 - x0, y1 - y0) == pytest.approx((40, 20))
        assert (x0 + x1) / 2 == pytest.approx(30) and (y0 + y1) / 2 == pytest.approx(50)
    else:
        assert (x1 - x0, y1 - y0) == pytest.approx((160, 80))


@pytest.mark.parametrize("fit", ["contain", "cover", "stretch"])
def test_place_stays_in_box_and_respects_alpha(fit):
    frame = _frame(60, 80)
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = 255
    rgba[:, :10, 3] = 0  # left third transparent
    box = (20.0, 10.0, 50.0, 40.0)
    out = compose.place(frame, rgba, box, fit)
    changed = (out != frame).any(axis=2)
    ys, xs = np.nonzero(changed)
    assert changed.any()
    assert xs.min() >= 20 and xs.max() < 50 and ys.min() >= 10 and ys.max() < 40
    # opaque pixels are exactly the replacement colour
    assert ((out[changed] == (255, 0, 0)).all(axis=1)).mean() > 0.8
    # the transparent left third of the image leaves the frame alone there
    left = compose.fit_rect((30, 20), box, fit)
    lx = int(round(left[0] + (left[2] - left[0]) / 3)) - 2
    if lx > 20:
        assert np.array_equal(out[:, 20:lx], frame[:, 20:lx])


def test_place_clip_to_mask_and_none_box():
    frame = _frame(60, 80)
    rgba = np.full((10, 10, 4), 255, np.uint8)
    clip = np.zeros((60, 80), np.float32)
    clip[20:30, 20:30] = 1.0
    out = compose.place(frame, rgba, (10, 10, 50, 50), "stretch", clip=clip)
    changed = (out != frame).any(axis=2)
    assert changed[20:30, 20:30].all() and changed.sum() == 100
    assert np.array_equal(compose.place(frame, rgba, None), frame)
    with pytest.raises(InputError, match="RGBA"):
        compose.place(frame, rgba[..., :3], (0, 0, 5, 5))


def test_resize_rgba_has_no_dark_fringe():
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[:, :4] = (255, 255, 255, 255)  # white opaque left half, black transparent right half
    out = effects._resize_rgba(rgba, 32, 32)
    visible = out[..., 3] > 0
    assert (out[visible][:, :3] >= 250).all()


def test_box_smoother_reduces_jitter_and_stays_near_the_box():
    rng = np.random.default_rng(0)
    smoother = compose.BoxSmoother(fps=25, smoothing=0.6)
    raw, smooth = [], []
    for t in range(100):
        cx, cy = 100 + 2.0 * t, 80.0
        j = rng.normal(0, 3, 4)
        box = (cx - 20 + j[0], cy - 20 + j[1], cx + 20 + j[2], cy + 20 + j[3])
        s = smoother(box)
        raw.append(box)
        smooth.append(s)
        w, h = box[2] - box[0], box[3] - box[1]
        # never more than the slack outside the raw box
        assert s[0] >= box[0] - 0.05 * w - 1e-6 and s[2] <= box[2] + 0.05 * w + 1e-6
        assert s[1] >= box[1] - 0.05 * h - 1e-6 and s[3] <= box[3] + 0.05 * h + 1e-6
    raw_w = np.diff([b[2] - b[0] for b in raw])
    smooth_w = np.diff([b[2] - b[0] for b in smooth])
    assert smooth_w.std() < 0.5 * raw_w.std()
    assert smoother(None) is None
    assert compose.BoxSmoother(25, smoothing=0)((1, 2, 3, 4)) == (1, 2, 3, 4)
    with pytest.raises(InputError):
        compose.BoxSmoother(25, smoothing=2)


def test_mask_box_scales_to_native():
    m = np.zeros((60, 80), bool)
    m[10:20, 30:50] = True
    assert compose.mask_box(m) == (30, 10, 50, 20)
    assert compose.mask_box(m, (160, 120)) == (60, 20, 100, 40)
    assert compose.mask_box(np.zeros_like(m)) is None


def test_parse_colour_and_cover_resize():
    assert compose.parse_colour("#00ff80") == (0, 255, 128)
    with pytest.raises(InputError, match="RRGGBB"):
        compose.parse_colour("green")
    img = _frame(50, 100)
    assert compose.cover_resize(img, (40, 40)).shape == (40, 40, 3)


def test_media_image_keeps_alpha(tmp_path):
    rgba = np.zeros((5, 6, 4), np.uint8)
    rgba[..., 1] = 200
    rgba[2:, :, 3] = 255
    p = tmp_path / "logo.png"
    Image.fromarray(rgba).save(p)
    with compose.Media(p) as m:
        assert not m.is_clip
        assert np.array_equal(m.at(7, 25), rgba)
    with pytest.raises(InputError, match="does not exist"):
        compose.Media(tmp_path / "nope.png")


# ---------------------------------------------------------------------------------------------- renders


def _decode(path: Path) -> list[np.ndarray]:
    from editor.video import iter_frames

    return list(iter_frames(path))


def _audio_duration(path: Path) -> float | None:
    with av.open(str(path)) as c:
        if not c.streams.audio:
            return None
        s = c.streams.audio[0]
        samples = sum(f.samples for f in c.decode(s))
        return samples / s.codec_context.sample_rate


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return build_project(tmp_path_factory.mktemp("compose"))


def test_source_frames_are_native_and_complete(project):
    frames = list(compose.source_frames(project))
    assert len(frames) == N and frames[0].shape == (NATIVE[1], NATIVE[0], 3)
    assert np.abs(frames[3].astype(int) - scene(3)[0]).max() <= 3  # crf 0 H.264 4:4:4


def _check_video(path: Path, project) -> list[np.ndarray]:
    from editor.video import probe

    info = probe(path)
    assert info.fps == FPS and info.num_frames == N and info.size == NATIVE
    assert info.has_audio and info.codec == "h264"
    assert _audio_duration(path) == pytest.approx(N / FPS, abs=0.05)
    return _decode(path)


def test_render_removal(project, tmp_path):
    out = compose.render_removal(project, tmp_path / "removed.mp4", object_ids=[1])
    frames = _check_video(out, project)
    src = list(compose.source_frames(project))
    for i, f in enumerate(frames):
        label = scene(i)[1]
        disc = label == 1
        assert np.abs(f[disc].astype(int) - 128).mean() < 6  # the grey fill replaced the disc
        far = compose.region_weights(project.masks[i], [1], NATIVE, 4, 4) == 0
        assert np.abs(f[far].astype(int) - src[i][far]).mean() < 3  # codec tolerance elsewhere
        assert np.abs(f[(label == 2) & far].astype(int) - (40, 40, 250)).mean() < 6  # object 2 kept


def test_render_replace_lands_in_box(project, tmp_path):
    logo = np.zeros((10, 10, 4), np.uint8)
    logo[..., 1] = 255
    logo[..., 3] = 255
    p = tmp_path / "logo.png"
    Image.fromarray(logo).save(p)
    out = compose.render_replace(project, tmp_path / "replaced.mp4", p, object_ids=[1], fit="stretch", smoothing=0.5)
    frames = _check_video(out, project)
    for i, f in enumerate(frames):
        green = (f[..., 1] > 200) & (f[..., 0] < 80) & (f[..., 2] < 80)
        ys, xs = np.nonzero(green)
        x0, y0, x1, y1 = compose.mask_box(scene(i)[1] == 1)
        slack = 0.05 * (x1 - x0) + 2
        assert green.sum() > 0.6 * (x1 - x0) * (y1 - y0)
        assert xs.min() >= x0 - slack and xs.max() < x1 + slack and ys.min() >= y0 - slack and ys.max() < y1 + slack


def test_render_replace_with_a_clip_and_absent_object(project, tmp_path):
    from editor.encode import write_video

    clip = write_video((np.full((16, 16, 3), 30 * k, np.uint8) for k in range(4)), tmp_path / "c.mp4", Fraction(12))
    # object 7 is never present: nothing placed, frames otherwise the removal-free original
    out = compose.render_replace(project, tmp_path / "r.mp4", clip, object_ids=[7])
    src = list(compose.source_frames(project))
    for f, s in zip(_decode(out), src, strict=True):
        assert np.abs(f.astype(int) - s).mean() < 3
    with compose.Media(clip, loop=True) as m:
        assert m.is_clip
        assert abs(int(m.at(5, 12)[0, 0, 0]) - 30) <= 4  # loops: output frame 5 is clip frame 1
    with compose.Media(clip, loop=False) as m:
        assert abs(int(m.at(9, 12)[0, 0, 0]) - 90) <= 4  # holds the last frame


@pytest.mark.parametrize("kind", ["blur", "pixelate", "splash", "colour", "blur-bg"])
def test_render_effects_keep_untouched_pixels(project, tmp_path, kind):
    out = tmp_path / f"{kind}.mp4"
    if kind in ("blur", "pixelate"):
        compose.render_blur(project, out, [2], mode=kind, strength=4)
    elif kind == "splash":
        compose.render_colour_splash(project, out, [1])
    elif kind == "colour":
        compose.render_background(project, out, "#00FF00", [1, 2])
    else:
        compose.render_background(project, out, "blur", [1])
    frames = _check_video(out, project)
    src = list(compose.source_frames(project))
    for i, f in enumerate(frames):
        label = project.masks[i]
        if kind in ("blur", "pixelate"):
            far = compose.region_weights(label, [2], NATIVE, 6, 6) == 0
            assert np.abs(f[far].astype(int) - src[i][far]).mean() < 3
        else:
            ids = [1] if kind != "colour" else [1, 2]
            core = compose.region_weights(label, ids, NATIVE, 0, 0) == 1
            import cv2

            core = cv2.erode(core.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
            assert np.abs(f[core].astype(int) - src[i][core]).mean() < 4  # the objects are kept
            rest = compose.region_weights(label, ids, NATIVE, 2, 3) == 0
            if kind == "colour":
                assert np.abs(f[rest].astype(int) - (0, 255, 0)).mean() < 6
            elif kind == "splash":
                spread = f[rest].astype(int).max(axis=1) - f[rest].astype(int).min(axis=1)
                assert spread.mean() < 6


def test_render_errors(project, tmp_path):
    with pytest.raises(InputError, match="blur mode"):
        compose.render_blur(project, tmp_path / "x.mp4", mode="smear")
    with pytest.raises(InputError, match="object ids"):
        compose.render_blur(project, tmp_path / "x.mp4", [0])
    with pytest.raises(OutputError, match="source"):
        compose.render_blur(project, project.source)
    with pytest.raises(InputError, match="does not exist"):
        compose.render_replace(project, tmp_path / "x.mp4", tmp_path / "missing.png")
    assert not (tmp_path / "x.mp4").exists()


def test_render_removal_needs_inpainted_frames(tmp_path):
    p = build_project(tmp_path, audio=False, inpainted=False)
    with pytest.raises(InputError, match="inpainted"):
        compose.render_removal(p, tmp_path / "x.mp4")
    p.inpainted[0] = np.zeros((32, 48, 3), np.uint8)
    with pytest.raises(ProjectError, match="no inpainted frame"):
        compose.render_removal(p, tmp_path / "x.mp4")
    assert not (tmp_path / "x.mp4").exists()

    # no audio in the source: the render has none either, and cancelling leaves nothing
    def cancel(done, total):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        compose.render_colour_splash(p, tmp_path / "y.mp4", progress=cancel)
    assert not list(tmp_path.glob("*y*.mp4"))
    out = compose.render_colour_splash(p, tmp_path / "z.mp4")
    assert _audio_duration(out) is None


def test_media_clip_with_alpha(tmp_path):
    from editor.encode import write_video

    frames = []
    for k in range(3):
        a = np.zeros((16, 24, 4), np.uint8)
        a[..., 0] = 60 * (k + 1)
        a[:, :12, 3] = 255
        frames.append(a)
    clip = write_video(iter(frames), tmp_path / "alpha.webm", Fraction(12))
    with compose.Media(clip) as m:
        rgba = m.at(1, 12)
        assert rgba.shape == (16, 24, 4)
        assert (rgba[:, :10, 3] > 240).all() and (rgba[:, 14:, 3] < 15).all()
        assert abs(int(rgba[8, 4, 0]) - 120) <= 4


@pytest.mark.filterwarnings("ignore:mask 00005.png is 853x480")
def test_render_from_a_frame_folder_with_sparse_masks(clips_dir, tmp_path):
    """cutie-judo: the source is a folder of JPEGs; frames without a mask come out unchanged."""
    from editor.masks_io import import_masks
    from editor.store import Project
    from editor.video import probe

    clip = clips_dir / "cutie-judo"
    project = Project.open_or_create(tmp_path / "proj", clip / "frames", working_short_side=240)
    assert project.working_size == (427, 240)
    for kf in import_masks(project, clip / "masks", as_keyframes=True):
        project.masks[kf.frame] = kf.label
    out = compose.render_blur(project, tmp_path / "judo.mp4", mode="pixelate", strength=12)
    info = probe(out)
    assert info.num_frames == 16 and info.size == (854, 480) and not info.has_audio
    src = list(compose.source_frames(project))
    got = _decode(out)
    for i in range(16):
        label = project.masks[i]
        far = compose.region_weights(label, None, (854, 480), 6, 6) == 0
        assert np.abs(got[i][far].astype(int) - src[i][far]).mean() < 3
        if label is not None:
            core = compose.region_weights(label, None, (854, 480), 0, 0) == 1
            assert np.abs(got[i][core].astype(int) - src[i][core]).mean() > 3  # pixelated
