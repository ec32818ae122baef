"""The scoring of ``benchmarks.shots`` on hand-made cases (no clip needed), and one pattern end to end (slow)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.shots import (
    SWAN,
    Pattern,
    PatternResult,
    Piece,
    carried_frames,
    first_clicks,
    frame_j,
    score_shots,
)


def masks_of(*areas: tuple[int, int, int, int] | None, obj: int = 1) -> list[np.ndarray]:
    """Label maps 10x10, one per frame: object ``obj`` on the box (y0, y1, x0, x1) or absent (None)."""
    out = []
    for box in areas:
        m = np.zeros((10, 10), np.uint8)
        if box is not None:
            y0, y1, x0, x1 = box
            m[y0:y1, x0:x1] = obj
        out.append(m)
    return out


def test_frame_j_counts_an_empty_mask_on_an_absent_object_as_right() -> None:
    empty, box = np.zeros((4, 4), bool), np.zeros((4, 4), bool)
    box[:2, :2] = True
    assert frame_j(empty, empty) == 1.0
    assert frame_j(empty, box) == 0.0  # any mask where the object is absent is wrong
    assert frame_j(box, empty) == 0.0
    half = box.copy()
    half[:2, 1] = False
    assert frame_j(box, half) == 0.5


def test_carried_frames_count_the_run_after_a_cut() -> None:
    truth = [m > 0 for m in masks_of((0, 5, 0, 5), (0, 5, 0, 5), None, None, None, (0, 5, 0, 5))]
    ours = [m > 0 for m in masks_of((0, 5, 0, 5), (0, 5, 0, 5), (0, 5, 0, 5), (0, 5, 0, 5), None, (0, 5, 0, 5))]
    assert carried_frames(truth, ours, [2]) == 2  # frames 2 and 3 kept the mask of the shot before
    assert carried_frames(truth, ours, [5]) == 0  # the object is there after this cut
    ours[4] = ours[3]
    assert carried_frames(truth, ours, [2]) == 3


def test_score_shots_per_shot_and_decisions() -> None:
    pattern = Pattern("p", (Piece("a", 0, 2, ((1, 1),)), Piece("b", 0, 2), Piece("a", 2, 4, ((1, 1),))))
    assert pattern.cuts() == [2, 4]
    truth = masks_of((0, 4, 0, 4), (0, 4, 0, 4), None, None, (0, 4, 0, 4), (0, 4, 0, 4))
    ours = masks_of((0, 4, 0, 4), (0, 4, 0, 2), (0, 4, 0, 4), None, None, (0, 4, 0, 4))
    scores = score_shots(pattern, truth, ours, 1, pattern.cuts(), {0: "prompted", 2: "absent", 4: "found (5)"})
    assert [s.present for s in scores] == [True, False, True]
    assert [s.decision for s in scores] == ["prompted", "absent", "found (5)"]
    assert [round(s.j, 3) for s in scores] == [0.75, 0.5, 0.5]
    assert [s.carried for s in scores] == [0, 1, 0]


def test_cut_precision_and_recall() -> None:
    pattern = Pattern("p", (Piece("a", 0, 5), Piece("b", 0, 5), Piece("c", 0, 5)))
    assert (PatternResult(pattern, [5, 10]).precision, PatternResult(pattern, [5, 10]).recall) == (1.0, 1.0)
    assert (PatternResult(pattern, [5, 7]).precision, PatternResult(pattern, [5, 7]).recall) == (0.5, 0.5)
    assert (PatternResult(pattern, []).precision, PatternResult(pattern, []).recall) == (1.0, 0.0)


def test_first_clicks_land_on_the_first_frame_of_each_objects_first_shot() -> None:
    pattern = Pattern("p", (Piece("a", 0, 2, ((1, 1),)), Piece("b", 0, 2, ((1, 2),))))
    truth = masks_of((2, 8, 2, 8), (2, 8, 2, 8), None, None)
    truth[2][1:4, 1:4] = 2
    truth[3][1:4, 1:4] = 2
    clicks = first_clicks(pattern, truth)
    assert clicks[1][0] == 0 and truth[0][clicks[1][1][1], clicks[1][1][0]] == 1
    assert clicks[2] == (2, (2, 2))


@pytest.mark.slow
def test_swan_pattern_end_to_end() -> None:
    from benchmarks.common import CLIPS, gt_clips
    from benchmarks.shots import evaluate

    if not CLIPS.is_dir():
        pytest.skip(f"shared clips not found at {CLIPS}")
    clips = {c.name: c for c in gt_clips(names=[p.clip for p in SWAN.pieces])}
    result = evaluate(SWAN, clips)
    assert result.precision == 1.0 and result.recall == 1.0
    assert [s.decision for s in result.shots] == ["prompted", "absent", "found (50)"]
    assert sum(s.carried for s in result.shots) == 0
    assert result.shots[1].j == 1.0
    found = result.shots[2]
    assert found.single_j is not None and found.j >= found.single_j - 0.1
