"""Geodesic distances and the part of a mask a negative click takes back (tracking.classical.geodesic)."""

from __future__ import annotations

import cv2
import numpy as np

from tracking.classical.geodesic import geodesic_distance, take_back


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)


def test_distance_is_path_length_on_a_flat_image_and_pays_for_edges() -> None:
    flat = np.full((20, 30, 3), 128, np.uint8)
    seeds = np.zeros((20, 30), bool)
    seeds[5, 3] = True
    allowed = np.ones((20, 30), bool)
    d = geodesic_distance(_lab(flat), seeds, allowed)
    assert d[5, 3] == 0 and abs(d[5, 13] - 10) < 1e-6 and abs(d[12, 3] - 7) < 1e-6  # 4-connected steps
    # a wall of another colour costs its colour difference to cross; a blocked wall cannot be crossed at all
    walled = flat.copy()
    walled[:, 10] = (250, 20, 20)
    assert geodesic_distance(_lab(walled), seeds, allowed)[5, 13] > d[5, 13] + 20
    allowed[:, 10] = False
    assert np.isinf(geodesic_distance(_lab(flat), seeds, allowed)[5, 13])


def test_a_negative_click_on_a_spill_takes_back_the_spill_not_the_object() -> None:
    h, w = 80, 120
    image = np.full((h, w, 3), (90, 140, 90), np.uint8)
    yy, xx = np.mgrid[:h, :w]
    obj = (xx - 40) ** 2 + (yy - 40) ** 2 < 20**2
    spill = (xx >= 55) & (xx < 100) & (yy >= 25) & (yy < 55) & ~obj
    image[obj] = (200, 40, 40)
    image[spill] = (60, 60, 200)
    prior = obj | spill
    taken = take_back(_lab(image), prior, (85.0, 40.0), np.array([[40.0, 40.0]]), 2)
    assert (taken & spill).sum() > 0.9 * spill.sum()
    assert not (taken & obj).any()
    # without a positive click the mask's deepest point away from the click stands for the object
    alone = take_back(_lab(image), prior, (85.0, 40.0), np.zeros((0, 2)), 2)
    assert (alone & spill).sum() > 0.9 * spill.sum() and not (alone & obj).any()
    # a click outside the mask takes nothing
    assert not take_back(_lab(image), prior, (5.0, 5.0), np.zeros((0, 2)), 2).any()
