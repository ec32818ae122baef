"""Metrics against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from editor.errors import InputError
from editor.metrics import f_measure, iou, j_measure, psnr, seg2bmap, ssim, warping_error


def test_iou_and_j_hand_computed():
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    a[0, 0:2] = True  # 2 px
    b[0, 1:4] = True  # 3 px, overlap 1, union 4
    assert iou(a, b) == pytest.approx(0.25)
    assert j_measure(a, b) == pytest.approx(0.25)
    assert j_measure(np.zeros((3, 3)), np.zeros((3, 3))) == 1.0
    assert j_measure(a, np.zeros_like(a)) == 0.0


def test_iou_shape_mismatch_is_an_input_error():
    with pytest.raises(InputError, match="shapes differ"):
        iou(np.zeros((3, 3)), np.zeros((3, 4)))


def test_seg2bmap_of_a_square():
    m = np.zeros((6, 6), bool)
    m[1:4, 1:4] = True
    b = seg2bmap(m)
    # interior pixel (2, 2) is not on the boundary; the square's right/bottom edge pixels are
    assert not b[2, 2]
    assert b[3, 3] and b[1, 3] and b[3, 1]
    assert not b[5, 5]


def test_f_measure_cases():
    m = np.zeros((50, 50), bool)
    m[10:30, 10:30] = True
    assert f_measure(m, m) == 1.0
    assert f_measure(np.zeros_like(m), np.zeros_like(m)) == 1.0
    assert f_measure(m, np.zeros_like(m)) == 0.0
    assert f_measure(np.zeros_like(m), m) == 0.0
    shifted = np.roll(m, 1, axis=1)  # tolerance ceil(0.008 * 70.7) = 1 px: still a perfect match
    assert f_measure(shifted, m) == 1.0
    far = np.roll(m, 5, axis=1)  # 5 px away: only the horizontal edges still match
    f = f_measure(far, m)
    assert 0.3 < f < 0.8
    # with a 5 px tolerance the shift is forgiven
    assert f_measure(far, m, bound_th=5) == 1.0


def test_psnr_known_values():
    a = np.full((8, 8, 3), 100, np.uint8)
    assert psnr(a, a) == math.inf
    b = a + 10  # mse 100 -> 10 log10(255^2 / 100)
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 100))
    mask = np.zeros((8, 8), bool)
    mask[:2] = True
    c = a.copy()
    c[~mask] = 0  # differences only outside the mask
    assert psnr(a, c, mask) == math.inf
    assert math.isnan(psnr(a, b, np.zeros((8, 8), bool)))


def test_ssim_identical_and_degraded():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert ssim(a, a) == pytest.approx(1.0)
    noisy = np.clip(a.astype(int) + rng.integers(-60, 60, a.shape), 0, 255).astype(np.uint8)
    assert 0.5 < ssim(a, noisy) < 0.95
    # a constant image vs itself shifted by a constant: luminance term only, known value
    x = np.full((16, 16), 100.0)
    y = np.full((16, 16), 110.0)
    c1 = (0.01 * 255) ** 2
    expected = (2 * 100 * 110 + c1) / (100**2 + 110**2 + c1)
    assert ssim(x, y) == pytest.approx(expected, rel=1e-6)


def test_warping_error_zero_for_static_and_positive_for_flicker():
    rng = np.random.default_rng(1)
    base = (rng.random((60, 80, 3)) * 255).astype(np.uint8)
    import cv2

    base = cv2.GaussianBlur(base, (7, 7), 2)
    frames = [base, base, base]
    assert warping_error(frames, frames) == pytest.approx(0.0, abs=1e-6)
    flicker = [base, np.clip(base.astype(int) + 20, 0, 255).astype(np.uint8), base]
    assert warping_error(flicker, frames) > 10
    with pytest.raises(InputError):
        warping_error(frames, frames[:2])
