"""Thin parts of a hole: which pixels count as thin, and what the spatial fill is expected to miss there."""

import numpy as np

from benchmarks import removal_holes
from benchmarks import removal_quality as rq
from inpaint.classical import ClassicalConfig, ClassicalInpainter
from inpaint.sources import Region
from inpaint.thin_parts import interpolation_error, spatial_weights


def _region(unknown: np.ndarray, ring: int = 8) -> Region:
    import cv2

    dense = cv2.dilate(unknown.astype(np.uint8), np.ones((2 * ring + 1,) * 2, np.uint8)) > 0
    ys, xs = np.nonzero(dense)
    return Region(ys.astype(np.int32), xs.astype(np.int32), unknown[ys, xs], dense)


def test_interpolation_error_on_a_ramp_and_on_stripes():
    yy, xx = np.mgrid[0:60, 0:80]
    ramp = np.repeat((2 * xx + yy)[..., None], 3, axis=2).astype(np.uint8)
    ys, xs = np.nonzero(np.ones((40, 60), bool))
    ys, xs = ys + 10, xs + 10
    assert interpolation_error(ramp, ys, xs, 3) == 0.0
    stripes = np.repeat(((xx // 2) % 2 * 200)[..., None], 3, axis=2).astype(np.uint8)  # vertical, period 4 px
    # across them, 2 px either side is the other colour (200 off), along them nothing changes: mean 100
    assert interpolation_error(stripes, ys, xs, 2) == 100.0
    assert interpolation_error(stripes, ys, xs, 4) == 0.0  # a whole period either side


def test_a_stroke_is_thin_and_a_square_is_not():
    unknown = np.zeros((120, 160), bool)
    unknown[20:26, 10:150] = True  # a 6 px stroke
    unknown[50:110, 40:100] = True  # a 60 px square
    region = _region(unknown)
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (120, 160, 3)).astype(np.uint8)
    thin, weight = spatial_weights(frame, unknown, region, width=8)
    stroke = region.ys < 30
    assert thin[stroke & region.unknown].all()
    assert not thin[(region.ys >= 50) & region.unknown].any()  # not even the square's border
    assert (weight[thin] > 0).all() and (weight[~thin] == 0).all()
    # deeper in the stroke the spatial fill is trusted less (noise: the error grows with the gap)
    row = region.unknown & (region.xs == 80)
    by_depth = {int(y): float(wt) for y, wt in zip(region.ys[row], weight[row], strict=True)}
    assert by_depth[20] >= by_depth[22]
    assert not spatial_weights(frame, unknown, region, width=0)[0].any()


def test_a_thin_caption_averages_the_spatial_fill_with_noisy_sources():
    """A thin caption over a pan of a smooth scene with fresh noise in every frame (grain): a copy from another
    frame carries that frame's grain, the spatial fill interpolates this frame's; averaged by their expected
    errors they beat either alone. 29.3 dB (sources alone where trusted: 28.5, worst frame 25.9 against 28.5)."""
    rng = np.random.default_rng(0)
    h, w, n = 270, 480, 12
    yy, xx = np.mgrid[0:h, 0:w + 3 * n].astype(np.float32)
    world = np.stack([100 + 80 * np.sin(xx / 37) * np.cos(yy / 29), 120 + 0.2 * xx % 60,
                      90 + 60 * np.cos((xx + yy) / 23)], -1)
    frames = [np.clip(np.rint(world[:, 3 * t:3 * t + w] + rng.normal(0, 8, (h, w, 3))), 0, 255).astype(np.uint8)
              for t in range(n)]
    case = rq.Case("caption over grain", frames, [removal_holes.text_mask((w, h))] * n)
    blended = rq.score(case, "classical", ClassicalInpainter())
    alone = rq.score(case, "classical", ClassicalInpainter(ClassicalConfig(thin=0)))
    assert blended.outside_change == 0
    assert blended.psnr >= alone.psnr + 0.5 and blended.worst_psnr >= alone.worst_psnr + 1.5
