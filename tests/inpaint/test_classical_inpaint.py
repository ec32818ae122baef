"""The classical inpainter: quality in the hole on the sample, bit-exactness outside, edge cases."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from editor.metrics import psnr
from editor.sample import make_sample
from inpaint.classical import ClassicalInpainter


def _run(frames, masks, **kw):
    out: dict[int, np.ndarray] = {}
    ClassicalInpainter()(frames, masks, lambda i, f: out.__setitem__(i, f), **kw)
    return out


@pytest.fixture(scope="module")
def sample():
    return make_sample(n_frames=16)


@pytest.fixture(scope="module")
def filled(sample):
    return _run(sample.frames, sample.masks)


def test_psnr_in_the_hole_on_sample(sample, filled):
    assert ClassicalInpainter.backend == "classical" and ClassicalInpainter.device == "cpu"
    assert sorted(filled) == list(range(16))
    ps = [psnr(filled[i], sample.background[i], sample.masks[i]) for i in range(16)]
    assert np.mean(ps) >= 35.0  # measured ~49 dB mean on 48 frames
    assert min(ps) >= 28.0


def test_outside_the_dilated_mask_is_bit_identical(sample, filled):
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (11, 11))  # dilate 4 (+1 margin)
    for i in range(16):
        grown = cv2.dilate(sample.masks[i].astype(np.uint8), k) > 0
        assert np.array_equal(filled[i][~grown], sample.frames[i][~grown])
        assert filled[i].dtype == np.uint8 and filled[i].shape == sample.frames[i].shape


def test_empty_masks_emit_unchanged_frames_and_progress(sample):
    masks = [np.zeros_like(m) for m in sample.masks[:4]]
    masks[2] = sample.masks[2]
    calls = []
    out = _run(sample.frames[:4], masks, progress=lambda d, t: calls.append((d, t)))
    for i in (0, 1, 3):
        assert np.array_equal(out[i], sample.frames[i])
    assert not np.array_equal(out[2], sample.frames[2])
    assert calls[-1] == (4, 4) and len(calls) == 4


def test_skip_frames_are_not_recomputed(sample):
    masks = sample.masks[:3]
    out = _run(sample.frames[:3], masks, skip=frozenset({1}))
    assert sorted(out) == [0, 2]


def test_mask_covering_the_whole_frame_still_gives_a_frame():
    frames = [np.full((200, 220, 3), v, np.uint8) for v in (10, 20, 30)]  # hole > 32767 px (remap's limit)
    masks = [np.ones((200, 220), bool)] * 3
    out = _run(frames, masks)
    assert len(out) == 3 and all(o.shape == (200, 220, 3) and o.dtype == np.uint8 for o in out.values())


def test_static_camera_fills_from_other_frames():
    rng = np.random.default_rng(2)
    bg = cv2.GaussianBlur((rng.random((90, 120, 3)) * 255).astype(np.uint8), (5, 5), 1.2)
    frames, masks = [], []
    for t in range(8):
        m = np.zeros((90, 120), bool)
        m[30:60, 10 + 12 * t : 30 + 12 * t] = True  # a moving occluder
        f = bg.copy()
        f[m] = (255, 0, 255)
        frames.append(f)
        masks.append(m)
    out = _run(frames, masks)
    for t in range(8):
        assert psnr(out[t], bg, masks[t]) > 35


def test_bad_input():
    with pytest.raises(ValueError, match="one mask per frame"):
        _run([np.zeros((8, 8, 3), np.uint8)], [])
    with pytest.raises(ValueError, match="masks must match frames"):
        _run([np.zeros((8, 8, 3), np.uint8)], [np.ones((4, 4), bool)])


@pytest.mark.slow
def test_real_clip_hidden_region(clips_dir):
    """Hide a region that is visible (another clip's mask placed over tennis frames) and compare."""
    tennis = clips_dir / "e2fgvi-tennis" / "frames"
    donor = clips_dir / "davis2016-blackswan" / "masks"
    if not tennis.is_dir() or not donor.is_dir():
        pytest.skip("e2fgvi-tennis or davis2016-blackswan missing")
    files = sorted(p for p in tennis.iterdir() if p.suffix in (".jpg", ".png"))[:20]
    frames = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in files]
    h, w = frames[0].shape[:2]
    dm = sorted(donor.glob("*.png"))[: len(frames)]
    own = sorted((clips_dir / "e2fgvi-tennis" / "masks").glob("*.png"))[: len(frames)]
    masks, hidden = [], []
    for t, (p, o) in enumerate(zip(dm, own, strict=True)):
        m = cv2.resize(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE), (w // 2, h // 2), interpolation=cv2.INTER_NEAREST) > 0
        m = np.pad(m, ((h // 4, h - h // 2 - h // 4), (w // 4, w - w // 2 - w // 4)))
        m = np.roll(m, (-30, -120 + 10 * t), axis=(0, 1))  # a swan-shaped hole sliding over the court
        player = cv2.dilate((cv2.imread(str(o), cv2.IMREAD_GRAYSCALE) > 0).astype(np.uint8), np.ones((9, 9))) > 0
        hidden.append(m & ~player)  # scored: background that is truly visible in this frame
        masks.append(m | player)  # the player is removed too, so it is never copied into the hole
    out = _run(frames, masks)
    ps = [psnr(out[i], frames[i], hidden[i]) for i in range(len(frames)) if hidden[i].any()]
    assert np.mean(ps) > 28  # measured 32.4 dB (Telea alone: 24.9 dB)


def test_a_source_that_disagrees_with_the_ring_is_dropped():
    """An unmasked dark thing appears, after the object left, exactly where the object was: the frames after
    show it, not the background. The old fill took the median of the nearest frames and copied it in (15 dB);
    a source is now trusted only where its ring matches the known pixels around the hole."""
    rng = np.random.default_rng(2)
    h, w = 90, 200
    bg = cv2.GaussianBlur((rng.random((h, w, 3)) * 255).astype(np.uint8), (0, 0), 1.5)
    frames, masks = [], []
    for t in range(10):
        m = np.zeros((h, w), bool)
        m[30:60, 10 + 12 * t : 34 + 12 * t] = True
        f = bg.copy()
        if t in (5, 6, 7):
            f[20:70, 50:90] = (f[20:70, 50:90] * 0.3).astype(np.uint8)
        f[m] = (255, 0, 255)
        frames.append(f)
        masks.append(m)
    out = _run(frames, masks)
    assert psnr(out[4], bg, masks[4]) > 30  # measured 47.8 dB (the old fill: 15.0)
    assert min(psnr(out[i], bg, masks[i]) for i in range(5)) > 20  # measured 23.1


def test_exposure_changes_are_corrected_by_the_ring():
    """Auto-exposure flicker: every other frame is 35 levels brighter. Copied colours take the level of the
    ring around the hole, so the fill matches its own frame."""
    rng = np.random.default_rng(2)
    bg = cv2.GaussianBlur((rng.random((90, 160, 3)) * 200).astype(np.uint8), (0, 0), 2.0)
    frames, masks = [], []
    for t in range(10):
        m = np.zeros((90, 160), bool)
        m[30:60, 10 + 12 * t : 34 + 12 * t] = True
        f = np.clip(bg.astype(int) + (35 if t % 2 else 0), 0, 255).astype(np.uint8)
        truth = f.copy()
        f[m] = 255
        frames.append((f, truth))
        masks.append(m)
    out = _run([f for f, _ in frames], masks)
    assert min(psnr(out[t], frames[t][1], masks[t]) for t in range(10)) > 35  # measured 42.4 dB


@pytest.mark.slow
def test_parallax_clip_beats_telea_on_every_frame(clips_dir):
    """bmx-trees (fast camera, trees in front: parallax) with a dog-shaped hole moving across it, 30 frames, the
    inpainter seeing grey in the hole. The old homography fill was +1.7 dB over Telea with a worst frame
    2.2 dB below Telea's worst; the issue's targets: +3 dB pooled and a worst frame no worse than Telea's."""
    if not (clips_dir / "davis2016-bmx-trees").is_dir() or not (clips_dir / "davis2016-dog").is_dir():
        pytest.skip("davis2016-bmx-trees or davis2016-dog missing")
    from benchmarks import removal_quality as rq

    spec = next(s for s in rq.CASES if s.host == "davis2016-bmx-trees" and s.kind == "path")
    case = rq.make_case(spec, 30, str(clips_dir))
    mine = rq.score(case, "classical", ClassicalInpainter())
    floor = rq.score(case, "telea", rq.telea, warp_truth=mine.warp_truth)
    assert mine.outside_change == 0
    assert mine.psnr >= floor.psnr + 3  # measured 25.29 vs 18.04 dB
    assert mine.worst_psnr >= floor.worst_psnr  # measured 18.86 vs 16.19 dB


class _CountingCV2:
    """``cv2`` with its Lucas-Kanade tracker counted (the rest passes through)."""

    def __init__(self) -> None:
        self.lk_calls = 0

    def __getattr__(self, name):
        return getattr(cv2, name)

    def calcOpticalFlowPyrLK(self, *args, **kwargs):  # noqa: N802 (cv2's name)
        self.lk_calls += 1
        return cv2.calcOpticalFlowPyrLK(*args, **kwargs)


def test_homographies_are_matched_once_per_frame(sample, monkeypatch):
    """The homography candidate matched frame i against each of up to 24 neighbours (forward and back: up to
    48 Lucas-Kanade runs per frame, half the fill's time); it now matches consecutive frames once and composes
    the steps, so the tracker runs twice per pair of consecutive frames whatever the window."""
    from inpaint import homography_source

    counting = _CountingCV2()
    monkeypatch.setattr(homography_source, "cv2", counting)
    n = 12
    out = _run(sample.frames[:n], sample.masks[:n])
    assert counting.lk_calls <= 2 * (n - 1)  # the old code: 2 per frame and neighbour (240 here)
    ps = [psnr(out[i], sample.background[i], sample.masks[i]) for i in range(n)]
    assert np.mean(ps) >= 35.0


def test_spatial_fill_in_boxes_equals_telea_on_the_whole_frame():
    """Telea runs in one box per group of missing pixels (with its radius as margin): same pixels, less work."""
    from inpaint.classical import spatial_fill

    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur((rng.random((200, 300, 3)) * 255).astype(np.uint8), (0, 0), 2)
    hole = np.zeros((200, 300), bool)
    hole[20:50, 30:70] = hole[60:64, 75:90] = hole[150:200, 250:300] = hole[0:5, 0:5] = True
    telea = cv2.inpaint(img, hole.astype(np.uint8), 5, cv2.INPAINT_TELEA)
    assert np.array_equal(spatial_fill(img, hole, method="telea"), telea)


def test_the_membrane_fill_in_boxes_is_the_smooth_fill_of_the_whole_frame():
    """The membrane (the default spatial fill) also runs one box per group: within a grey level of the whole
    frame's smooth fill, known pixels untouched, and a ramp under a hole comes back as the ramp (Telea bends it)."""
    from inpaint.classical import spatial_fill
    from inpaint.diffuse import fill_smooth

    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur((rng.random((200, 300, 3)) * 255).astype(np.uint8), (0, 0), 2)
    hole = np.zeros((200, 300), bool)
    hole[20:50, 30:70] = hole[60:64, 75:90] = hole[150:200, 250:300] = hole[0:5, 0:5] = True
    out = spatial_fill(img, hole)
    whole = np.clip(np.rint(fill_smooth(img.astype(np.float32), ~hole, iterations=30)), 0, 255)
    assert np.array_equal(out[~hole], img[~hole])
    assert np.abs(out[hole].astype(float) - whole[hole]).mean() < 1.0
    ramp = np.repeat(np.repeat(np.linspace(20, 230, 300)[None, :, None], 200, 0), 3, 2).astype(np.uint8)
    square = np.zeros((200, 300), bool)
    square[60:140, 100:200] = True
    membrane = psnr(spatial_fill(ramp, square), ramp, square)
    telea = psnr(spatial_fill(ramp, square, method="telea"), ramp, square)
    assert membrane >= 40.0 and membrane >= telea + 6.0, (membrane, telea)
    with pytest.raises(ValueError, match="membrane"):
        spatial_fill(img, hole, method="patch")


@pytest.mark.slow
def test_the_membrane_beats_telea_on_what_no_frame_shows(clips_dir):
    """The spatial fill on its own (the whole hole unknown, no other frame), on a frame of real cases of every
    kind: the membrane has the higher PSNR and SSIM in the hole on each (Telea, the fill before it, loses
    0.4-1.8 dB; ``benchmarks.spatial_fill`` has every case)."""
    from benchmarks import removal_quality as rq
    from editor.metrics import ssim
    from inpaint.classical import spatial_fill

    picked = [("davis2016-camel", "grid"), ("sam2-bedroom", "logo"), ("davis2016-breakdance", "path")]
    for host, kind in picked:
        if not (clips_dir / host).is_dir():
            pytest.skip(f"{host} missing")
        case = rq.make_case(next(s for s in rq.CASES if s.host == host and s.kind == kind), 6, str(clips_dir))
        truth = case.frames[5]
        hole = cv2.dilate(case.holes[5].astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
        given = rq.blank_holes([truth], [hole])[0]
        membrane, telea = spatial_fill(given, hole), spatial_fill(given, hole, method="telea")
        assert psnr(membrane, truth, hole) >= psnr(telea, truth, hole) + 0.3, host
        assert ssim(membrane, truth, hole) > ssim(telea, truth, hole), host


def _against_telea(clips_dir, host: str, kind: str, frames: int):
    """A benchmark case of ``benchmarks.removal_quality`` scored for the classical fill and for Telea."""
    if not (clips_dir / host).is_dir():
        pytest.skip(f"{host} missing")
    from benchmarks import removal_quality as rq

    spec = next(s for s in rq.CASES if s.host == host and s.kind == kind)
    case = rq.make_case(spec, frames, str(clips_dir))
    mine = rq.score(case, "classical", ClassicalInpainter())
    floor = rq.score(case, "telea", rq.telea, warp_truth=mine.warp_truth)
    return case, mine, floor


@pytest.mark.slow
def test_parallax_grid_at_480p_beats_telea(clips_dir):
    """The parallax clip (issue 19): bmx-trees (854x480, trees in front of the rider) under the static grid of
    squares (11 % of the frame) meets the quality targets against Telea on the same frames. Its speed is a
    benchmark figure (``python -m benchmarks.removal_speed``), not a timed test; the work that made it fast is
    counted in ``test_homographies_are_matched_once_per_frame``."""
    case, mine, floor = _against_telea(clips_dir, "davis2016-bmx-trees", "grid", 12)
    assert case.frames[0].shape[:2] == (480, 854) and 0.10 <= case.hole_share <= 0.12
    assert mine.outside_change == 0
    assert mine.psnr >= floor.psnr + 3
    assert mine.worst_psnr >= floor.worst_psnr


def test_a_thin_static_mask_is_filled_from_what_a_small_pan_reveals():
    """A 3 px line burnt into a clip panning 2 px a frame: 3 frames away its background is in view. Every frame
    copies it from there (with a guard of 4 px beyond the paste margin, 8 px each side were never copied from:
    the middle frames fell to Telea, 24.7 dB at worst)."""
    rng = np.random.default_rng(3)
    world = cv2.GaussianBlur(rng.integers(0, 256, (96, 200, 3)).astype(np.uint8), (0, 0), 1.5)
    frames = [np.ascontiguousarray(world[:, 2 * t : 2 * t + 160]) for t in range(7)]
    mask = np.zeros((96, 160), bool)
    mask[:, 79:82] = True
    out = _run(frames, [mask] * 7)
    telea = [cv2.inpaint(f, mask.astype(np.uint8), 5, cv2.INPAINT_TELEA) for f in frames]
    worst = min(psnr(out[i], frames[i], mask) for i in range(7))
    assert worst >= 40.0 and worst >= max(psnr(telea[i], frames[i], mask) for i in range(7)) + 6.0


def test_a_slow_pan_fills_from_what_it_reveals_beyond_the_window():
    """A 40 px static band over a clip panning 1 px a frame: the background under the band's middle is in view
    only 24 or more frames away, beyond the 20 searched around each frame. The long-range keyframes bring it
    in: 45.9 dB there (Telea 24.6); the code before them had only what the previous frame's fill carried
    along, 31.1 dB."""
    rng = np.random.default_rng(5)
    n = 60
    world = cv2.GaussianBlur(rng.integers(0, 256, (72, 120 + n, 3)).astype(np.uint8), (0, 0), 1.5)
    frames = [np.ascontiguousarray(world[:, t : t + 120]) for t in range(n)]
    mask = np.zeros((72, 120), bool)
    mask[:, 40:80] = True
    middle = np.zeros_like(mask)
    middle[:, 50:70] = True  # hidden in every frame within 20 of this one
    out = _run(frames, [mask] * n)
    pooled = psnr(np.concatenate([out[i] for i in range(n)]), np.concatenate(frames), np.concatenate([middle] * n))
    telea = [cv2.inpaint(f, mask.astype(np.uint8), 5, cv2.INPAINT_TELEA) for f in frames]
    floor = psnr(np.concatenate(telea), np.concatenate(frames), np.concatenate([middle] * n))
    assert pooled >= 40.0 and pooled >= floor + 15.0


def test_long_clips_keep_a_bounded_number_of_keyframes(monkeypatch):
    """The long-range source keeps every 5th frame within its reach of the frames being filled, not every
    keyframe of the clip: on a 400-frame clip at most (chunk + 2 * reach) / stride + 2 = 56 are held at once
    (all 80 of the clip would be, without the eviction)."""
    from inpaint import classical

    held: list[int] = []

    class Counting(classical.Keyframes):
        def offer(self, k, frame, unknown):
            super().offer(k, frame, unknown)
            held.append(len(self))

    monkeypatch.setattr(classical, "Keyframes", Counting)
    rng = np.random.default_rng(1)
    n = 400
    world = cv2.GaussianBlur(rng.integers(0, 256, (40, 64 + n // 4, 3)).astype(np.uint8), (0, 0), 1.0)
    frames = [np.ascontiguousarray(world[:, t // 4 : t // 4 + 64]) for t in range(n)]
    mask = np.zeros((40, 64), bool)
    mask[10:30, 24:40] = True
    out = _run(frames, [mask] * n)
    cfg = classical.ClassicalConfig()
    assert len(out) == n and len(held) == n
    assert max(held) <= (cfg.chunk + 2 * cfg.long_range.reach) // cfg.long_range.stride + 2 < n // 5


def test_the_long_range_source_matches_only_around_the_frames_to_fill(monkeypatch):
    """An object masked on 10 frames at the end of a 400-frame shot: consecutive frames are matched only within
    the long-range reach of the chunk that has them, not over the whole shot."""
    from inpaint import classical

    calls: list[int] = []
    real = classical.hs.step
    monkeypatch.setattr(classical.hs, "step", lambda *a, **k: calls.append(1) or real(*a, **k))
    rng = np.random.default_rng(2)
    n = 400
    world = cv2.GaussianBlur(rng.integers(0, 256, (40, 64 + n // 4, 3)).astype(np.uint8), (0, 0), 1.0)
    frames = [np.ascontiguousarray(world[:, t // 4 : t // 4 + 64]) for t in range(n)]
    empty, mask = np.zeros((40, 64), bool), np.zeros((40, 64), bool)
    mask[10:30, 24:40] = True
    out = _run(frames, [mask if t >= 390 else empty for t in range(n)])
    reach = classical.ClassicalConfig().long_range.reach
    assert len(out) == n and 0 < len(calls) <= 30 + reach


@pytest.mark.slow
def test_a_slow_pan_under_a_logo_uses_what_the_whole_clip_reveals(clips_dir):
    """The cows clip (104 frames, a slow pan) under the static logo: much of what the logo hides is shown only
    more than 20 frames away. With the long-range keyframes the fill is +5.95 dB over Telea with 6 frames below
    18 dB (main's code before them: +4.12 dB, 39 frames; docs/benchmarks.md, fourth round)."""
    case, mine, floor = _against_telea(clips_dir, "davis2016-cows", "logo", 300)
    assert len(case.frames) > 100 and mine.outside_change == 0
    assert mine.psnr >= floor.psnr + 5.0
    assert mine.worst_psnr >= floor.worst_psnr and mine.bad_frames() <= 20


def test_the_halo_of_a_soft_edged_logo_is_not_copied():
    """A white logo with a soft edge (``benchmarks.removal_holes.lay_soft``: its halo reaches ~4 px past the
    outline the mask gives) over the sample's panning background. The fill trusts pixels 3 px or more from the
    mask (``ClassicalConfig.guard=-1``): 22.2 dB on every pixel the logo changed (Telea on the outline 13.9,
    which leaves the halo). Trusting pixels 2 px out (``guard=-3``) copies the halo: 18.2 dB."""
    from benchmarks import removal_holes
    from benchmarks import removal_quality as rq

    host = make_sample(n_frames=16).background
    h, w = host[0].shape[:2]
    logo = removal_holes.logo_mask((w, h))
    white = [np.full((h, w, 3), 255, np.uint8)] * len(host)
    frames, masks, scored = removal_holes.lay_soft(host, [logo] * len(host), white)
    case = rq.Case("soft logo", frames, masks, truth=host, scored=scored)
    mine = rq.score(case, "classical", ClassicalInpainter())
    assert mine.outside_change == 0
    assert mine.psnr >= 21.0 and mine.psnr >= rq.score(case, "telea", rq.telea).psnr + 6.0


@pytest.mark.slow
def test_a_thin_logo_trusts_what_lies_close_to_it(clips_dir):
    """The cows logo, 30 frames (a slow pan, thin strokes): the less of the frame around the strokes is never
    copied from, the more of what they hide is known in nearby frames. Its edge is clean (an exact hole), so the
    region never copied from is the mask dilated by 1 px (``inpaint.halo``): +4.59 dB over Telea (dilated by
    4 px, the code before the fifth round: +2.71, so this fails on it; by 3 px, before the halo check: +3.31)."""
    case, mine, floor = _against_telea(clips_dir, "davis2016-cows", "logo", 30)
    assert mine.outside_change == 0
    assert mine.psnr >= floor.psnr + 4.0
    assert mine.worst_psnr >= floor.worst_psnr


def test_a_hard_edged_caption_is_filled_from_its_own_edge():
    """A thin caption (``removal_holes.text_mask``, ~2 px strokes here) cut exactly into the sample's pan: no halo
    beside it (``inpaint.halo``), so the fill trusts pixels from 1 px beyond the mask: 45.0 dB over the strokes
    (50.0 before the spatial fill read the stroke's own edge: on this rendered pan the temporal sources are exact
    and the spatial fill, now weighted as the thinner gap it fills, costs there; on real footage it gains, see
    the next test). With the soft logo's 3 px guard everywhere (the code before the check) a 2 px stroke became
    an 8 px band: 37.7 dB; Telea on the exact mask 32.9."""
    from benchmarks import removal_holes
    from benchmarks import removal_quality as rq

    host = make_sample(n_frames=16).background
    h, w = host[0].shape[:2]
    caption = removal_holes.text_mask((w, h))
    case = rq.Case("thin caption", list(host), [caption] * len(host))
    mine = rq.score(case, "classical", ClassicalInpainter())
    assert mine.outside_change == 0
    assert mine.psnr >= 44.0 and mine.worst_psnr >= 42.0


def test_beside_a_clean_edge_the_spatial_fill_reads_the_pixels_as_they_are():
    """A still camera under a still caption: no frame shows what the strokes hide, so the spatial fill does it
    all. Beside a clean edge it starts at the mask itself (``clean_spatial_guard``): the first pixels outside come
    back as they were (the code before filled them too, from 2 px out: up to 50 levels off), and the strokes are
    filled from them: 31.7 dB, Telea 29.2 (the code before: 28.9)."""
    from benchmarks import removal_holes
    from benchmarks import removal_quality as rq

    still = make_sample(n_frames=1).background[0]
    h, w = still.shape[:2]
    caption = removal_holes.text_mask((w, h))
    frames = [still.copy() for _ in range(6)]
    got = {}
    ClassicalInpainter()(rq.blank_holes(frames, [caption] * 6), [caption] * 6, got.__setitem__)
    ring = (cv2.dilate(caption.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0) & ~caption
    for i in range(6):
        assert np.abs(got[i][ring].astype(int) - still[ring].astype(int)).max() <= 1
    case = rq.Case("still caption", frames, [caption] * 6)
    assert rq.score(case, "classical", ClassicalInpainter()).psnr >= rq.score(case, "telea", rq.telea).psnr + 2.0


@pytest.mark.slow
@pytest.mark.parametrize("host", ["davis2016-camel", "davis2016-dance-twirl"])
def test_a_thin_caption_on_real_footage_beats_telea(clips_dir, host):
    """The benchmark's thin caption (``removal_holes.text_mask``) over two moving-camera clips, 30 frames: the
    code before this round lost to Telea on both (camel -2.54 dB, dance-twirl -1.65: a 3 px guard widened the
    strokes, and sources copied from other frames were trusted across them where the spatial fill was closer).
    With the halo check and the thin parts' average: +1.07 and +1.35 dB (docs/benchmarks.md, eighth round)."""
    case, mine, floor = _against_telea(clips_dir, host, "text", 30)
    assert mine.outside_change == 0
    assert mine.psnr >= floor.psnr + 0.8


def test_a_moving_mask_keeps_the_wide_guard_and_a_still_one_is_judged():
    """The same clean-edged square: still (an overlay) it is trusted from 1 px beyond its edge; moving (a tracked
    object, whose edge the tracker, motion blur and the codec never give exactly) it keeps the 3 px guard.
    ``tam demo``'s tracked mask lost 1.4 dB when judged by its edge alone."""
    from inpaint import classical

    rng = np.random.default_rng(0)
    frames = [cv2.GaussianBlur(rng.integers(0, 256, (80, 120, 3)).astype(np.uint8), (0, 0), 1.0) for _ in range(3)]

    def square(x: int) -> np.ndarray:
        m = np.zeros((80, 120), bool)
        m[30:50, x:x + 20] = True
        return m

    cfg = classical.ClassicalConfig()
    still = classical._Clip(frames, [square(40)] * 3, cfg)
    moving = classical._Clip(frames, [square(36), square(40), square(44)], cfg)
    assert not still.moves(1) and moving.moves(1)
    assert still.unknown(1)[40, 60] and not still.unknown(1)[40, 61]  # 1 px beyond the square's right edge
    assert moving.unknown(1)[40, 62] and not moving.unknown(1)[40, 63]  # 3 px
