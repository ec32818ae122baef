"""tracking.flag_carryover: a flag stays while the mask it was raised on does."""

from __future__ import annotations

import numpy as np

from tracking.flag_carryover import MaskPrint, carry_over, prints_of


def _square(x: int, size: int = 20) -> np.ndarray:
    label = np.zeros((60, 100), np.uint8)
    label[20:20 + size, x:x + size] = 1
    return label


def test_a_print_gives_the_exact_overlap_of_two_masks() -> None:
    base = MaskPrint.of(_square(10) == 1)
    assert base.overlap(MaskPrint.of(_square(10) == 1)) == 1.0
    assert base.overlap(MaskPrint.of(_square(16) == 1)) == 14 * 20 / (2 * 400 - 14 * 20)  # moved 6 px
    assert base.overlap(MaskPrint.of(_square(10, 26) == 1)) == 400 / 676  # grew
    assert base.overlap(MaskPrint.of(_square(50) == 1)) == 0.0
    assert MaskPrint.from_json(base.to_json()) == base
    empty = MaskPrint.of(np.zeros((60, 100), bool))
    assert empty.overlap(MaskPrint.of(np.zeros((60, 100), bool))) == 1.0 and empty.overlap(base) == 0.0


def test_previous_flags_stay_on_unchanged_masks_only() -> None:
    masks = [_square(10), _square(30), _square(50), None]
    previous = {1: {1: ("grew",)}, 2: {1: ("colours",)}, 3: {1: ("empty",)}}
    prints = prints_of(previous, masks)
    moved = [_square(10), _square(31), _square(60), None]  # frame 1 moved a pixel (the same), 2 re-tracked elsewhere
    out = carry_over({1: {1: ("jumped",)}}, previous, prints, moved, {1: [0]})
    assert out == {1: {1: ("jumped", "grew")}}
    assert carry_over({}, previous, prints, masks, {1: [0, 1]}) == {2: {1: ("colours",)}}  # 1 is a keyframe now
    assert carry_over({}, previous, prints, masks, {2: [0]}) == {}  # object 1 is gone
    assert carry_over({}, previous, {}, masks, {1: [0]}) == {}  # no print kept: nothing to compare with
    blank = [np.zeros((60, 100), np.uint8)] * 2
    lost = {1: {1: ("the mask is empty",)}}
    assert carry_over({}, lost, prints_of(lost, blank), blank, {1: [0]}) == {}  # the rules judge it again
