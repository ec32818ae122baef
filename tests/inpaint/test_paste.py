"""Feathered paste-back: bit-exact outside the dilated mask, full weight on the mask, any sizes."""

from __future__ import annotations

import numpy as np

from inpaint.paste import paste_alpha, paste_back


def test_alpha_is_zero_outside_and_one_inside():
    m = np.zeros((50, 60), bool)
    m[20:30, 20:30] = True
    a = paste_alpha(m, (60, 50), dilate=4, feather=4)
    assert a.dtype == np.float32 and a.shape == (50, 60)
    assert (a[m] == 1).all()
    assert a[20:30, 12].max() == 0  # 8 px away: outside the dilated mask
    assert 0 < a[25, 17] < 1  # in the feathered ring
    assert not paste_alpha(np.zeros((5, 5), bool), (5, 5)).any()


def test_paste_back_bit_exact_outside():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (50, 60, 3), dtype=np.uint8)
    fill = np.zeros_like(frame)
    m = np.zeros((50, 60), bool)
    m[10:20, 30:45] = True
    out = paste_back(frame, fill, m, dilate=3, feather=2)
    a = paste_alpha(m, (60, 50), dilate=3, feather=2)
    assert np.array_equal(out[a == 0], frame[a == 0])
    assert (out[m] == 0).all()


def test_paste_back_resizes_fill_and_mask():
    frame = np.full((100, 120, 3), 50, np.uint8)
    fill = np.full((50, 60, 3), 200, np.uint8)  # working size: half
    m = np.zeros((50, 60), bool)
    m[10:30, 10:30] = True
    out = paste_back(frame, fill, m, dilate=2, feather=2)
    assert out.shape == frame.shape
    assert (out[30:50, 30:50] == 200).all()
    assert (out[80:, 80:] == 50).all()
    assert np.array_equal(paste_back(frame, fill, np.zeros((50, 60), bool)), frame)
