"""The removal benchmark's oracle: what a panning camera reveals under a static hole, and what a still one hides."""

from __future__ import annotations

import cv2
import numpy as np

from benchmarks.removal_ceiling import ceiling


def _clip(step: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(5)
    world = cv2.GaussianBlur(rng.integers(0, 256, (120, 260, 3)).astype(np.uint8), (0, 0), 2.0)
    frames = [np.ascontiguousarray(world[:, step * t : step * t + 160]) for t in range(10)]
    hole = np.zeros((120, 160), bool)
    hole[40:80, 60:90] = True
    return frames, [hole] * 10


def test_a_pan_reveals_the_whole_static_hole_and_the_oracle_copies_it():
    frames, holes = _clip(step=8)
    c = ceiling(frames, holes)
    assert c.revealed > 0.99 and c.psnr > 35.0


def test_a_still_camera_reveals_nothing_and_the_oracle_is_telea():
    frames, holes = _clip(step=0)
    c = ceiling(frames, holes)
    telea = cv2.inpaint(np.where(holes[0][..., None], 128, frames[0]).astype(np.uint8), holes[0].astype(np.uint8), 5,
                        cv2.INPAINT_TELEA)
    d = telea[holes[0]].astype(float) - frames[0][holes[0]]
    assert c.revealed == 0.0 and abs(c.psnr - 10 * np.log10(255**2 / (d * d).mean())) < 0.01
