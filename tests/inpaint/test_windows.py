"""The E2FGVI window schedule: test.py's windows exactly, the bounded variant, and test.py's blending."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from inpaint.windows import (
    Window,
    average_predictions,
    bounded_windows,
    needed_windows,
    official_ref_index,
    official_windows,
)


def test_official_windows_for_a_12_frame_clip() -> None:
    wins = official_windows(12, neighbor_stride=5, ref_step=10, num_ref=-1)
    assert [(w.center, w.neighbor_ids, w.ref_ids) for w in wins] == [
        (0, (0, 1, 2, 3, 4, 5), (10,)),
        (5, tuple(range(11)), ()),
        (10, (5, 6, 7, 8, 9, 10, 11), (0,)),
    ]
    assert wins[0].ids == (0, 1, 2, 3, 4, 5, 10) and wins[0].num_local == 6


def test_conformance_official_windows_match_fixture(conformance_dir: Path) -> None:
    spec = json.loads((conformance_dir / "e2fgvi_hq" / "fixtures.json").read_text())["e2e_testpy"]
    e = np.load(conformance_dir / "e2fgvi_hq" / "e2e_testpy.npz")
    wins = official_windows(12, spec["neighbor_stride"], spec["step"], spec["num_ref"])
    assert len(wins) == len(spec["windows"])
    for k, (w, ref) in enumerate(zip(wins, spec["windows"], strict=True)):
        assert (w.center, list(w.neighbor_ids), list(w.ref_ids)) == (ref["f"], ref["neighbor_ids"], ref["ref_ids"])
        assert list(w.ids) == e[f"w{k}_ids"].tolist()


def test_testpy_refs_grow_with_the_clip_but_bounded_do_not() -> None:
    short = official_windows(100)
    long = official_windows(1000)
    assert max(len(w.ref_ids) for w in long) > 5 * max(len(w.ref_ids) for w in short)
    for n in (100, 1000, 5000):
        wins = bounded_windows(n, ref_span=50)
        assert max(len(w.ids) for w in wins) <= 11 + 11
        assert all(abs(r - w.center) <= 50 for w in wins for r in w.ref_ids)
        assert all(r % 10 == 0 and r not in w.neighbor_ids for w in wins for r in w.ref_ids)


def test_bounded_windows_cover_every_frame_like_testpy() -> None:
    for n in (1, 4, 12, 57):
        bounded, official = bounded_windows(n, ref_span=20), official_windows(n)
        assert [w.neighbor_ids for w in bounded] == [w.neighbor_ids for w in official]
        covered = {i for w in bounded for i in w.neighbor_ids}
        assert covered == set(range(n))


def test_bounded_windows_equal_testpy_when_the_span_covers_the_clip() -> None:
    assert bounded_windows(40, ref_span=40) == official_windows(40)


def test_bounded_windows_max_refs_keeps_the_closest() -> None:
    wins = bounded_windows(200, ref_span=100, max_refs=2)
    w = next(w for w in wins if w.center == 100)
    assert w.ref_ids == (90, 110) or set(w.ref_ids) <= {80, 90, 110, 120}
    assert all(len(w.ref_ids) <= 2 for w in wins)


def test_official_ref_index_with_num_ref_keeps_its_quirk() -> None:
    # test.py checks `len(ref_index) > num_ref` before appending, so it can return num_ref + 1 frames
    refs = official_ref_index(50, range(45, 56), 200, ref_step=10, num_ref=2)
    assert refs == [40, 60]
    refs = official_ref_index(50, [], 200, ref_step=10, num_ref=2)
    assert refs == [40, 50, 60]


def test_needed_windows_drops_windows_without_masks() -> None:
    wins = official_windows(30)
    kept = needed_windows(wins, {12})
    assert [w.center for w in kept] == [10, 15]
    assert needed_windows(wins, set()) == []


@pytest.mark.parametrize("bad", [dict(length=0), dict(length=5, neighbor_stride=0), dict(length=5, ref_step=0)])
def test_bad_schedule_arguments_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError, match=">= 1|at least one frame"):
        official_windows(**bad)


def test_average_predictions_weights_like_testpy() -> None:
    a, b, c = (np.full((2, 2, 3), v, np.uint8) for v in (40, 80, 200))
    assert average_predictions([a]).tolist() == a.tolist()
    # sequential 0.5 blending: ((40 * .5 + 80 * .5) * .5 + 200 * .5) = 130
    assert int(average_predictions([a, b, c])[0, 0, 0]) == 130
    odd = average_predictions([np.full((1, 1, 1), 3, np.uint8), np.full((1, 1, 1), 4, np.uint8)])
    assert int(odd[0, 0, 0]) == 3  # 3.5 truncated, as test.py's astype(uint8)
    with pytest.raises(ValueError):
        average_predictions([])


def test_window_is_hashable_value() -> None:
    assert Window(0, (0, 1), (5,)) == Window(0, (0, 1), (5,))
