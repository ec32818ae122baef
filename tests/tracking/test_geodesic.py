"""Geodesic distances and the part of a mask a negative click takes back (tracking.classical.geodesic)."""

from __future__ import annotations

import cv2
import numpy as np

from tracking.classical.geodesic import geodesic_distance, grow, take_back


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


def test_grow_fills_the_clicked_region_up_to_its_edge_and_no_farther() -> None:
    # a textured grey region (the missed part) beside a red one (background): a click grown by its radius
    # covers the grey region around it, stops at the red edge, and stays inside ``allowed``
    rng = np.random.default_rng(0)
    h, w = 80, 120
    image = np.clip(rng.normal(128, 6, (h, w, 3)), 0, 255).astype(np.uint8)
    image[:, 70:] = (220, 30, 30)
    allowed = np.ones((h, w), bool)
    allowed[:, :10] = False  # the mask shown
    region = grow(_lab(image), allowed, (40.0, 40.0), 30.0)
    grey = np.zeros((h, w), bool)
    grey[:, 10:70] = True
    yy, xx = np.mgrid[:h, :w]
    near = np.abs(xx - 40) + np.abs(yy - 40) <= 30  # 4-connected steps: a diamond on a flat region
    assert (region & grey & near).sum() > 0.8 * (grey & near).sum()
    assert not region[:, 70:].any() and not region[:, :10].any()
    # farther than the radius nothing is taken; a click outside ``allowed`` grows nothing
    assert not region[:, :5].any() and not (region & (np.abs(xx - 40) + np.abs(yy - 40) > 45)).any()
    assert not grow(_lab(image), allowed, (5.0, 40.0), 30.0).any()
