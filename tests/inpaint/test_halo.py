"""The halo check: a mask whose edge carries an outline keeps the wide guard, a clean edge the narrow one."""

import cv2
import numpy as np

from inpaint.halo import HaloConfig, judge_edges, unknown_region


def edge_ratios(frame, mask):
    judged = judge_edges(frame, mask)
    return judged.labels, judged.ratios


def _texture(h: int = 120, w: int = 160, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3)).astype(np.uint8), (0, 0), 1.2)


def _blob(h: int = 120, w: int = 160) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    cv2.circle(mask, (50, 60), 22, 1, -1)
    cv2.putText(mask, "AB", (90, 80), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 1, 3)
    return mask > 0


def _soft_white(frame: np.ndarray, mask: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)[..., None]
    return np.clip(np.rint(255 * alpha + (1 - alpha) * frame), 0, 255).astype(np.uint8)


def test_an_exact_hole_in_texture_has_a_clean_edge():
    frame, mask = _texture(), _blob()
    labels, ratios = edge_ratios(frame, mask)
    judged = ratios[1:]
    assert len(judged) == 2 and np.all(judged < HaloConfig().ratio)
    assert set(np.unique(labels[mask])) == {1, 2}


def test_a_soft_edged_layer_shows_a_halo_beside_its_mask():
    frame, mask = _texture(), _blob()
    labels, ratios = edge_ratios(_soft_white(frame, mask), mask)
    assert np.all(ratios[1:] >= 1.5 * HaloConfig().ratio)


def test_a_mask_one_pixel_too_tight_on_an_object_shows_its_edge():
    """A tracked mask that stops a pixel short of a bright object: the object's own edge lies outside it."""
    frame = _texture()
    obj = np.zeros(frame.shape[:2], np.uint8)
    cv2.circle(obj, (80, 60), 30, 1, -1)
    frame[obj > 0] = (240, 240, 40)
    tight = cv2.erode(obj, np.ones((3, 3), np.uint8)) > 0
    _, ratios = edge_ratios(frame, tight)
    assert ratios[1] >= HaloConfig().ratio


def test_the_unknown_region_is_narrow_only_where_the_edge_is_clean():
    frame, hard = _texture(), np.zeros((120, 160), bool)
    hard[40:80, 20:50] = True  # an exact hole
    soft = np.zeros_like(hard)
    soft[40:80, 100:130] = True  # a soft white square, its mask the outline before softening
    given = _soft_white(frame, soft)
    mask = hard | soft
    unknown = unknown_region(given, mask, clean=1, halo=3)
    assert unknown[mask].all()
    assert unknown[60, 50] and not unknown[60, 52]  # 1 px beyond the exact hole
    assert unknown[60, 132] and not unknown[60, 134]  # 3 px beyond the soft square
    # with no narrower guard to give, the check is not run: the mask grown by the wide guard everywhere
    same = unknown_region(given, mask, clean=3, halo=3)
    assert same[60, 52] and same[60, 132] and not same[60, 54]


def test_a_group_too_small_to_judge_keeps_the_wide_guard():
    frame, mask = _texture(), np.zeros((120, 160), bool)
    mask[60, 80] = True  # one pixel: 8 ring pixels, fewer than the check needs
    labels, ratios = edge_ratios(frame, mask)
    assert np.isnan(ratios[1])
    assert unknown_region(frame, mask, clean=0, halo=2).sum() == (cv2.getStructuringElement(
        cv2.MORPH_ELLIPSE, (5, 5)) > 0).sum()


def test_empty_and_frame_filling_masks():
    frame = _texture()
    empty = np.zeros(frame.shape[:2], bool)
    assert not unknown_region(frame, empty, clean=1, halo=3).any()
    full = np.ones(frame.shape[:2], bool)
    assert unknown_region(frame, full, clean=1, halo=3).all()


def test_a_stretch_of_outline_with_an_edge_beside_it_keeps_the_wide_guard():
    """A mask loose around most of an object (background inside it) but a pixel too tight along one short side:
    the object's edge lies just outside that side. The group's edge is clean overall, so only that stretch
    keeps the wide guard; the rest of the outline is trusted from 1 px out."""
    frame = _texture(160, 200)
    frame[40:120, 60:140] = (230, 230, 60)  # the object
    mask = np.zeros(frame.shape[:2], bool)
    mask[36:124, 66:144] = True  # 4 px beyond it, except on the left: it starts 6 px inside the object there...
    mask[70:90, 61:66] = True  # ...but for a 20 px stretch, 1 px inside its left edge
    labels, ratios = edge_ratios(frame, mask)
    assert ratios[1] < HaloConfig().ratio  # judged as a whole, the edge is clean
    unknown = unknown_region(frame, mask, clean=1, halo=3)
    assert unknown[80, 58] and not unknown[80, 57]  # the tight stretch: 3 px out
    assert unknown[80, 144] and not unknown[80, 145]  # the loose right side: 1 px out
    assert unknown[50, 65] and not unknown[50, 64]  # the left side above the stretch: its edge is the mask's


def test_a_mask_whose_edge_zigzags_across_its_objects_keeps_the_wide_guard():
    """A tracked mask: right on average, but its edge wanders a pixel in and out of the object's, so object
    pixels dot its first ring (the demo's tracked sample did this: trusted from 1 px out it lost 1.4 dB)."""
    frame = _texture(160, 200)
    obj = np.zeros(frame.shape[:2], np.uint8)
    cv2.circle(obj, (100, 80), 45, 1, -1)
    frame[obj > 0] = (230, 230, 60)
    rng = np.random.default_rng(1)
    edge = (cv2.dilate(obj, np.ones((3, 3), np.uint8)) - cv2.erode(obj, np.ones((3, 3), np.uint8))) > 0
    mask = obj > 0
    flip = edge & (rng.random(mask.shape) < 0.5)
    mask = mask ^ flip
    labels, ratios = edge_ratios(frame, mask)
    assert ratios[1] < HaloConfig().ratio  # not across-heavy: the first check alone would trust it
    unknown = unknown_region(frame, mask, clean=1, halo=3)
    grown = cv2.dilate(mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))) > 0
    assert (unknown == grown).all()
