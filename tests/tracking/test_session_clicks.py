"""Clicks that do what they say: corrections edit the mask there, every click is honoured, objects keep what their
clicks hold, undo restores exactly (masks and tracking state)."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.tracking.test_session import Clip, centre, iou, make_clip, open_session
from tracking.classical import GrabCutSegmenter
from tracking.session import TrackSession
from tracking.session.edit import Click, click_region, honour, honoured


@pytest.fixture(scope="module")
def clip() -> Clip:
    return make_clip()


def _tracked(clip: Clip, tmp_path: Path) -> tuple[TrackSession, int]:
    s = open_session(clip, tmp_path)
    obj = s.add_object()
    s.add_click(0, obj, *centre(clip.disc[0]))
    s.run_propagation()
    return s, obj


def _far_inside(mask: np.ndarray, away_from: tuple[int, int]) -> tuple[int, int]:
    """A point deep inside ``mask`` but off its centre (so the edit is not the whole object)."""
    dist = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    yy, xx = np.mgrid[: mask.shape[0], : mask.shape[1]]
    score = np.where(dist >= 4, np.hypot(xx - away_from[0], yy - away_from[1]), -1)
    y, x = np.unravel_index(int(np.argmax(score)), score.shape)
    return int(x), int(y)


def test_negative_click_on_a_tracked_frame_removes_only_the_region_under_it(clip: Clip, tmp_path: Path) -> None:
    s, obj = _tracked(clip, tmp_path)
    before = s.frame_mask(6) == obj
    assert before.sum() > 500
    x, y = _far_inside(before, centre(before))
    # the old session refused negative clicks alone on a frame ("give at least one positive click")
    after = s.add_click(6, obj, x, y, positive=False) == obj
    assert not after[y, x]  # honoured
    assert not (after & ~before).any()  # nothing added
    removed = before & ~after
    n, cc = cv2.connectedComponents(removed.astype(np.uint8))
    assert n == 2 and cc[y, x] == 1  # one removed region, the one under the click
    assert after.sum() > 0.5 * before.sum()  # the tracked mask was edited, not started over


def test_positive_click_on_a_tracked_frame_adds_the_region_under_it(clip: Clip, tmp_path: Path) -> None:
    s, obj = _tracked(clip, tmp_path)
    before = s.frame_mask(6) == obj
    # carve the object first (a negative click), then click it back in: the tracked rest stays as it was
    x, y = _far_inside(before, centre(before))
    carved = s.add_click(6, obj, x, y, positive=False) == obj
    after = s.add_click(6, obj, x, y, positive=True) == obj
    assert after[y, x]
    assert not (carved & ~after).any()  # nothing of the mask was dropped
    added = after & ~carved
    n, cc = cv2.connectedComponents(added.astype(np.uint8))
    assert cc[y, x] > 0 and n == 2  # one added region, under the click
    assert iou(after, clip.disc[6]) > 0.7  # the kitten stays a kitten (it used to become a blob around the click)


def test_a_click_needs_a_mask_or_a_positive_side(clip: Clip, tmp_path: Path) -> None:
    s = open_session(clip, tmp_path)
    obj = s.add_object()
    with pytest.raises(ValueError, match="nothing to remove"):
        s.add_click(3, obj, *centre(clip.disc[3]), positive=False)
    assert s.keyframes == [] and s.frame_mask(3) is None and len(s.history) == 0  # a refused click leaves nothing


def test_every_click_is_honoured_random_clicks_classical(clip: Clip, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    s = open_session(clip, tmp_path)
    obj = s.add_object()
    h, w = clip.frames[0].shape[:2]
    count = 0
    for frame in (1, 5):
        s.add_click(frame, obj, *centre(clip.disc[frame]))
        for _ in range(20):
            x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
            positive = bool(rng.integers(0, 2))
            label_map = s.add_click(frame, obj, x, y, positive=positive)
            assert (label_map[y, x] == obj) == positive, (frame, x, y, positive)
            count += 1
    assert count == 40


def test_honour_forces_a_region_not_a_pixel() -> None:
    image = np.zeros((60, 80, 3), np.uint8)
    image[:, 40:] = (200, 30, 30)
    mask = np.zeros((60, 80), bool)
    out = honour(mask, [Click(60, 30, True)], image)
    assert out[30, 60] and out.sum() > 20 and not out[:, :40].any()  # a patch of the red side, not past its edge
    region = click_region(image, Click(60, 30, True))
    assert region[30, 60] and not region[:, :40].any()
    both = [Click(10, 10, True), Click(10, 10, False)]
    assert honoured(honour(mask, both, image), both)  # the later click wins its pixel


def test_objects_keep_what_their_clicks_hold(clip: Clip, tmp_path: Path) -> None:
    s = open_session(clip, tmp_path)
    a, b = s.add_object(), s.add_object()
    x, y = centre(clip.disc[2])
    first = s.add_click(2, a, x, y) == a
    # a new object whose mask covers the whole frame takes nothing of the first object
    label_map = s.add_mask(2, b, np.ones(clip.disc[2].shape, bool))
    np.testing.assert_array_equal(label_map == a, first)
    assert (label_map == b).sum() == first.size - first.sum()
    # a positive click of the new object inside the first one's mask takes the region under that click only
    px, py = _far_inside(first, (x, y))
    label_map = s.add_click(2, b, px, py)
    assert label_map[py, px] == b and label_map[y, x] == a
    assert (label_map == a).sum() > 0.7 * first.sum()


def _snapshot(s: TrackSession) -> dict[int, np.ndarray | None]:
    return {i: s.frame_mask(i) for i in range(len(s.frames))}


def test_undo_of_a_correction_after_tracking_restores_everything(clip: Clip, tmp_path: Path) -> None:
    s = open_session(clip, tmp_path)
    obj = s.add_object()
    s.add_click(0, obj, *centre(clip.disc[0]))
    s.add_mask(8, obj, clip.disc[8])
    s.run_propagation()
    masks = _snapshot(s)
    session_json = json.loads((s.state_dir / "session.json").read_text())

    x, y = _far_inside(masks[4] == obj, centre(masks[4] == obj))
    s.add_click(4, obj, x, y, positive=False)
    s.add_click(4, obj, *centre(clip.disc[4]))
    written = s.run_propagation().written
    assert sorted(written) == [1, 2, 3, 5, 6, 7]
    assert s.undo() is not None and s.undo() is not None
    for i, m in masks.items():
        np.testing.assert_array_equal(s.frame_mask(i), m, err_msg=f"frame {i}")
    assert s.is_done() and s.dirty_frames() == [] and list(s.propagate()) == []  # nothing to re-track
    assert json.loads((s.state_dir / "session.json").read_text()) == session_json
    assert s.keyframes == [0, 8]

    # a new process on the same folder undoes the same way
    s.add_click(4, obj, x, y, positive=False)
    s.run_propagation()
    again = TrackSession(clip.frames, s.masks, s.state_dir, GrabCutSegmenter(), s.propagator_factory)
    assert again.undo() is not None
    for i, m in masks.items():
        np.testing.assert_array_equal(again.frame_mask(i), m, err_msg=f"frame {i}")
    assert again.is_done()


def test_undo_before_tracking_restores_the_frame_exactly(clip: Clip, tmp_path: Path) -> None:
    s, obj = _tracked(clip, tmp_path)
    before = s.frame_mask(5)
    s.add_click(5, obj, 5, 5, positive=True)  # a click on the background: honoured, then taken back
    assert s.dirty_frames()
    s.undo()
    np.testing.assert_array_equal(s.frame_mask(5), before)
    assert s.is_done() and s.keyframes == [0]


@pytest.mark.usefixtures("one_torch_thread")
def test_every_click_is_honoured_random_clicks_sam(clip: Clip, tmp_path: Path, conformance_dir: Path) -> None:
    """MobileSAM with the synthetic conformance weights (its masks are meaningless, which makes it a hard case:
    the session must still put every clicked pixel on its side) and the tracked mask as ``mask_input``."""
    from tracking.sam import SamSegmenter, build_mobile_sam
    from weights import load_strict

    sys.path.insert(0, str(conformance_dir))
    try:
        synth = importlib.import_module("synth_weights")
    finally:
        sys.path.remove(str(conformance_dir))
    manifest = synth.load_manifest(str(conformance_dir / "mobile_sam" / "manifest.json"))
    model = build_mobile_sam()
    load_strict(model, dict(synth.synth_state_dict(manifest)), "mobile_sam")
    sam = SamSegmenter(model.eval(), "mobile_sam")

    from tests.tracking.test_session import FolderStore

    s = TrackSession(clip.frames, FolderStore(tmp_path / "m", len(clip.frames)), tmp_path / "s", sam, lambda: None)
    obj = s.add_object()
    s.add_mask(3, obj, clip.disc[3])
    rng = np.random.default_rng(2)
    h, w = clip.frames[0].shape[:2]
    for _ in range(12):
        x, y, positive = int(rng.integers(0, w)), int(rng.integers(0, h)), bool(rng.integers(0, 2))
        label_map = s.add_click(3, obj, x, y, positive=positive)
        assert (label_map[y, x] == obj) == positive
        assert (label_map == obj).any()  # a correction never drops the object
    logits = sam.mask_to_logits(clip.disc[3])
    assert logits.shape == (1, 256, 256) and logits.max() > 0 > logits.min()


def _real_frames(clips_dir: Path, names: tuple[str, ...]) -> list[tuple[np.ndarray, np.ndarray]]:
    from benchmarks.common import load_clip

    out = []
    for name in names:
        clip = load_clip(clips_dir / name)
        if clip is None:
            continue
        f = clip.annotated[len(clip.annotated) // 2]
        image = cv2.cvtColor(cv2.imread(str(sorted((clip.folder / "frames").iterdir())[f])), cv2.COLOR_BGR2RGB)
        out.append((image, clip.gt(f) > 0))
    return out


def _random_clicks_on(frames, segmenter, tmp_path: Path, n: int, seed: int) -> int:
    from benchmarks.clicks import _session

    rng = np.random.default_rng(seed)
    count = 0
    for i, (image, truth) in enumerate(frames):
        s = _session(image, segmenter, tmp_path / f"s{i}")
        obj = s.add_object()
        s.add_click(0, obj, *centre(truth))
        h, w = truth.shape
        for _ in range(n):
            # half the clicks near the object's edge (where models disagree with users), half anywhere
            if rng.random() < 0.5:
                edge = np.argwhere(cv2.morphologyEx(truth.astype(np.uint8), cv2.MORPH_GRADIENT, None) > 0)
                y, x = edge[rng.integers(len(edge))]
            else:
                x, y = rng.integers(0, w), rng.integers(0, h)
            positive = bool(rng.integers(0, 2))
            label_map = s.add_click(0, obj, int(x), int(y), positive=positive)
            assert (label_map[y, x] == obj) == positive, (i, x, y, positive)
            count += 1
    return count


@pytest.mark.slow
@pytest.mark.timeout(2400)  # about 1 s a click on an idle 2-core machine, several times that on a busy one
def test_hundreds_of_random_clicks_on_real_clips_are_honoured_classical(clips_dir: Path, tmp_path: Path) -> None:
    names = ("davis2016-cows", "davis2016-dog", "davis2016-dance-twirl", "davis2016-bmx-trees")
    assert _random_clicks_on(_real_frames(clips_dir, names), GrabCutSegmenter(), tmp_path, 40, 3) == 160


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")
def test_hundreds_of_random_clicks_on_real_clips_are_honoured_sam(
    clips_dir: Path, conformance_dir: Path, tmp_path: Path
) -> None:
    from benchmarks.clicks import make_segmenter

    names = ("davis2016-cows", "davis2016-dog")
    sam, _ = make_segmenter("mobile_sam")  # synthetic weights here: meaningless masks, every click still honoured
    assert _random_clicks_on(_real_frames(clips_dir, names), sam, tmp_path, 50, 4) == 100


def test_redo_brings_back_an_undone_correction_exactly(clip: Clip, tmp_path: Path) -> None:
    s = open_session(clip, tmp_path)
    obj = s.add_object()
    s.add_click(0, obj, *centre(clip.disc[0]))
    s.add_mask(8, obj, clip.disc[8])
    s.run_propagation()
    x, y = _far_inside(s.frame_mask(4) == obj, centre(s.frame_mask(4) == obj))
    s.add_click(4, obj, x, y, positive=False)
    s.run_propagation()
    after = _snapshot(s)
    session_json = json.loads((s.state_dir / "session.json").read_text())

    assert s.undo() is not None and s.keyframes == [0, 8]
    redone = s.redo()
    assert redone is not None and redone.frame == 4 and redone.positive is False
    for i, m in after.items():
        np.testing.assert_array_equal(s.frame_mask(i), m, err_msg=f"frame {i}")
    assert json.loads((s.state_dir / "session.json").read_text()) == session_json
    assert s.is_done() and list(s.propagate()) == []  # nothing to re-track
    assert s.redo() is None

    # undo, redo, undo again: each state bit-exact; a new process on the folder redoes the same way
    assert s.undo() is not None
    before = _snapshot(s)
    again = TrackSession(clip.frames, s.masks, s.state_dir, GrabCutSegmenter(), s.propagator_factory)
    assert again.redo() is not None and again.undo() is not None
    for i, m in before.items():
        np.testing.assert_array_equal(again.frame_mask(i), m, err_msg=f"frame {i}")


def test_redo_of_a_mask_prompt_and_a_new_prompt_forgets_redo(clip: Clip, tmp_path: Path) -> None:
    s = open_session(clip, tmp_path)
    obj = s.add_object()
    s.add_mask(3, obj, clip.disc[3])
    s.undo()
    assert s.keyframes == [] and not (s.frame_mask(3) == obj).any()
    assert s.redo() is not None and s.keyframes == [3]
    np.testing.assert_array_equal(s.frame_mask(3) == obj, clip.disc[3] > 0)
    s.undo()
    s.add_click(5, obj, *centre(clip.disc[5]))  # a new prompt: what was undone cannot come back
    assert s.redo() is None and s.keyframes == [5]


def test_propagating_after_an_undo_forgets_redo(clip: Clip, tmp_path: Path) -> None:
    s = open_session(clip, tmp_path)
    obj = s.add_object()
    s.add_click(0, obj, *centre(clip.disc[0]))
    s.add_click(6, obj, *centre(clip.disc[6]))
    s.undo()
    s.run_propagation()  # writes frames the redo step knows nothing of
    assert s.redo() is None


@pytest.mark.slow
def test_corrections_of_the_standard_user_only_remove_or_only_add(clips_dir: Path, tmp_path: Path) -> None:
    """Classical: a negative correction only removes pixels, a positive one only adds (the rest stays exactly).
    The session used to feed the segmenter its raw candidate's logits as the next prior, so a negative click
    on car-roundabout brought back 19,000 px the previous correction had left out."""
    from benchmarks.clicks import _frame, _session
    from benchmarks.common import load_clip
    from benchmarks.tracking_quality import correction_click

    clip = load_clip(clips_dir / "davis2016-car-roundabout")
    if clip is None:
        pytest.skip("davis2016-car-roundabout is not in the shared clips")
    image, truth = _frame(clip, 40), clip.gt(40) > 0
    s = _session(image, GrabCutSegmenter(), tmp_path / "s")
    obj = s.add_object()
    mask = np.zeros(truth.shape, bool)
    for _ in range(5):
        x, y, positive = correction_click(truth, mask)
        new = s.add_click(0, obj, x, y, positive=positive) == obj
        changed = new & ~mask if not positive else mask & ~new
        assert not changed.any(), (x, y, positive, int(changed.sum()))
        mask = new


def test_the_frames_after_a_correction_start_from_the_corrected_mask(tmp_path: Path) -> None:
    """A correction on frame 5 of a still clip (half the object taken away) re-tracks only the frames around it,
    and frame 6 follows the corrected mask, not the one tracked before the correction."""
    from tests.tracking.test_session import Clip as SessionClip

    moving = make_clip()
    still = SessionClip([moving.frames[0]] * 10, [moving.disc[0]] * 10, [moving.square[0]] * 10, 99)
    s = open_session(still, tmp_path)
    obj = s.add_object()
    s.add_click(0, obj, *centre(moving.disc[0]))
    s.run_propagation()
    before = s.frame_mask(6) == obj
    x, _ = centre(moving.disc[0])
    half = before.copy()
    half[:, x:] = False
    carved = s.add_mask(5, obj, half) == obj
    assert s.run_propagation().written == (1, 2, 3, 4, 6, 7, 8, 9)
    after = s.frame_mask(6) == obj
    assert iou(after, carved) > 0.8 and iou(after, carved) > iou(after, before) + 0.1


def _signals(s: TrackSession) -> tuple[dict, dict]:
    """The review signals in memory and in ``signals.json``, as plain data."""
    from dataclasses import asdict

    memory = {f: {o: asdict(v) for o, v in objs.items()} for f, objs in s.signal_log.signals.items()}
    return memory, json.loads((s.state_dir / "signals.json").read_text())


def test_undo_and_redo_restore_the_review_signals_of_the_frames_they_touch(clip: Clip, tmp_path: Path) -> None:
    s = open_session(clip, tmp_path)
    obj = s.add_object()
    s.add_click(0, obj, *centre(clip.disc[0]))
    s.run_propagation()
    before = _signals(s)
    s.add_click(6, obj, 5, 5, positive=True)  # a wrong click on the background: the tracker's signals change
    s.run_propagation()
    after = _signals(s)
    assert after != before
    assert s.undo() is not None
    assert _signals(s) == before
    reopened = TrackSession(clip.frames, s.masks, s.state_dir, GrabCutSegmenter(), s.propagator_factory)
    assert _signals(reopened) == before
    assert reopened.redo() is not None
    assert _signals(reopened) == after
    assert reopened.undo() is not None and _signals(reopened) == before


def test_a_removed_object_and_a_reset_leave_no_review_signals_behind(clip: Clip, tmp_path: Path) -> None:
    s = open_session(clip, tmp_path)
    disc = s.add_object()
    s.add_click(0, disc, *centre(clip.disc[0]))
    other = s.add_object()
    s.add_click(0, other, 5, 5)  # a second object in the corner
    s.run_propagation()
    assert {o for objs in s.signal_log.signals.values() for o in objs} == {disc, other}
    s.remove_object(other)
    assert {o for objs in s.signal_log.signals.values() for o in objs} == {disc}
    assert {o for objs in _signals(s)[1].values() for o in objs} == {str(disc)}
    s.reset_state()
    assert s.signal_log.signals == {} and _signals(s)[1] == {}
