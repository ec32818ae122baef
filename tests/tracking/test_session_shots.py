"""Cuts in TrackSession: nothing crosses a cut, objects are found again or marked absent, keyframes in later shots.

A synthetic three-shot clip built here: shot A (frames 0-7) a striped red disc moving right over a textured
plate; shot B (8-13) another scene (other plate, a green disc of the same size, no red one); shot C (14-19) the
first scene again, the red disc further on."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.tracking.test_session import FolderStore, centre, iou, make_clip
from tracking.classical import FlowPropagator, GrabCutSegmenter
from tracking.flags import review_flags
from tracking.refind import AppearanceFinder, probe_frames
from tracking.session import SessionError, Span, TrackSession

CUTS = (8, 14)


def three_shots() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(frames, truth masks of the red disc) of the A | B | A' clip."""
    first = make_clip(n=20, enter=99)
    rng = np.random.default_rng(7)
    h, w = first.frames[0].shape[:2]
    plate = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), (0, 0), 3)
    plate = (plate.astype(np.float32) * 0.4 + np.array([110, 90, 150])).clip(0, 255).astype(np.uint8)
    yy, xx = np.mgrid[:h, :w]
    frames, truth = [], []
    for t in range(20):
        if CUTS[0] <= t < CUTS[1]:
            frame = plate.copy()
            frame[(xx - 60 - 3 * t) ** 2 + (yy - 50) ** 2 < 22**2] = (40, 200, 60)
            frames.append(frame)
            truth.append(np.zeros((h, w), bool))
        else:
            frames.append(first.frames[t])
            truth.append(first.disc[t])
    return frames, truth


class RecordingFlow(FlowPropagator):
    """The classical propagator, recording the frames of each pass (as indices into the clip)."""

    def __init__(self, frames: list[np.ndarray], log: list[list[int]]) -> None:
        super().__init__()
        self.clip, self.log = frames, log

    def reset(self, object_ids):
        self.log.append([])
        super().reset(object_ids)

    def step(self, frame, label_map=None):
        self.log[-1].append(next(i for i, f in enumerate(self.clip) if f is frame or np.array_equal(f, frame)))
        return super().step(frame, label_map)


def session(tmp: Path, frames, cuts=CUTS, log: list[list[int]] | None = None, **kw) -> TrackSession:
    factory = (lambda: RecordingFlow(frames, log)) if log is not None else FlowPropagator
    store = FolderStore(tmp / "masks", len(frames))
    return TrackSession(frames, store, tmp / "state", GrabCutSegmenter(), factory, cuts=cuts, **kw)


def run(s: TrackSession) -> None:
    for _ in s.propagate():
        pass


def clicked(tmp: Path, frames, truth, **kw) -> tuple[TrackSession, int]:
    """A session where the red disc was clicked once on frame 0 and propagated."""
    s = session(tmp, frames, **kw)
    obj = s.add_object()
    s.add_click(0, obj, *centre(truth[0]))
    run(s)
    return s, obj


@pytest.fixture(scope="module")
def clip():
    return three_shots()


def test_spans_stop_at_cuts_and_shots_without_objects_are_written_empty() -> None:
    from tracking.session.state import Prompt, SessionState

    state = SessionState(num_frames=20, cuts=CUTS)
    state.prompts = [Prompt(1, 3, 1, "click", point=(1.0, 1.0))]
    spans = state.spans()
    assert spans == [Span(None, 3, 0, 8), Span(3, None, 0, 8), Span(None, None, 8, 14), Span(None, None, 14, None)]
    assert [list(s.frames(20)) for s in spans][1] == [4, 5, 6, 7]
    assert not Span(3, None, 0, 8).touches(8) and Span(None, None, 8, 14).touches(8)
    for span in spans:  # keys read back
        assert Span.from_key(span.key()) == span
    assert Span(2, 5).key() == "2:5"  # a session without cuts keeps its old keys


def test_nothing_is_carried_across_a_cut_and_an_absent_object_gets_an_empty_mask(tmp_path: Path, clip) -> None:
    frames, truth = clip
    log: list[list[int]] = []
    s, obj = clicked(tmp_path, frames, truth, log=log)
    for steps in log:  # every pass stays inside one shot
        shots = {int(np.searchsorted(CUTS, t, side="right")) for t in steps}
        assert len(shots) == 1, f"a pass stepped across a cut: {steps}"
    # the reset: nothing of shot A's mask on shot B's first frame (nor anywhere in B); the object is absent there
    assert s.masks[7][truth[7]].mean() > 0.8
    for t in range(*CUTS):
        assert not s.masks[t].any(), f"frame {t} of the shot without the object has a mask"
    decision = s.state.refound[(8, obj)]
    assert decision.frame is None
    assert s.signal_log.signals[8][obj].refound == "absent"
    flags = review_flags([s.masks[t] for t in range(20)], {obj: [0]}, s.signal_log.signals, frames, cuts=CUTS)
    assert "marked absent" in " ".join(flags[8][obj])
    assert not any(t in flags for t in range(9, 14))  # an empty mask after a cut is not "probably lost"


def test_the_object_is_found_again_in_a_later_shot(tmp_path: Path, clip) -> None:
    frames, truth = clip
    s, obj = clicked(tmp_path, frames, truth)
    found = s.state.refound[(14, obj)]
    assert found.frame == 14 and found.score >= 0.4
    assert s.signal_log.signals[14][obj].refound == "found"
    scores = [iou(s.masks[t] == obj, truth[t]) for t in range(14, 20)]
    assert min(scores) > 0.7, scores
    assert s.is_done() and s.dirty_frames() == []
    # nothing to do again: decisions are kept with the prompts they came from
    assert list(s.propagate()) == []
    # what it was looked for with: its keyframe, and its latest look before the shot (the last frame of shot A)
    views = s._views(obj, 14)
    assert [v[0] is frames[t] for v, t in zip(views, (0, 7), strict=True)] == [True, True]
    assert np.array_equal(views[1][1], s.masks[7] == obj)
    flags = review_flags([s.masks[t] for t in range(20)], {obj: [0]}, s.signal_log.signals, frames, cuts=CUTS)
    assert "found again after a cut" in " ".join(flags[14][obj])


def test_without_cuts_the_mask_is_carried_onto_the_other_scene(tmp_path: Path, clip) -> None:
    """What the cuts prevent: the same clip and click without cuts leaves a mask in shot B."""
    frames, truth = clip
    s, obj = clicked(tmp_path, frames, truth, cuts=())
    assert any(s.masks[t].any() for t in range(*CUTS))


def test_a_keyframe_in_a_later_shot_is_the_same_object(tmp_path: Path, clip) -> None:
    frames, truth = clip
    log: list[list[int]] = []
    s = session(tmp_path, frames, log=log)
    obj = s.add_object()
    s.add_click(0, obj, *centre(truth[0]))
    s.add_click(16, obj, *centre(truth[16]))  # the user clicks it in shot C too
    run(s)
    assert (14, obj) not in s.state.to_refind() and (14, obj) not in s.state.refound
    assert Span(None, 16, 14, None) in s.state.done and Span(16, None, 14, None) in s.state.done
    assert min(iou(s.masks[t] == obj, truth[t]) for t in range(14, 20)) > 0.7
    assert not any(s.masks[t].any() for t in range(*CUTS))
    for steps in log:
        assert len({int(np.searchsorted(CUTS, t, side="right")) for t in steps}) == 1


def test_a_new_prompt_decides_again_only_for_its_object(tmp_path: Path, clip) -> None:
    frames, truth = clip
    s, obj = clicked(tmp_path, frames, truth)
    before = s.state.refound[(14, obj)]
    s.add_click(3, obj, *centre(truth[3]))  # another keyframe in shot A: the appearance changed
    assert (14, obj) in s.state.to_refind() and not s.is_done()
    run(s)
    after = s.state.refound[(14, obj)]
    assert after.prompts != before.prompts and after.frame == 14


def test_undo_restores_masks_and_decisions(tmp_path: Path, clip) -> None:
    frames, truth = clip
    s, obj = clicked(tmp_path, frames, truth)
    maps = [s.masks[t].copy() for t in range(20)]
    s.add_click(16, obj, *centre(truth[16]))
    run(s)
    s.undo()
    assert (14, obj) in s.state.refound and s.is_done()
    for t in range(20):
        assert np.array_equal(s.masks[t], maps[t]), t


def test_old_sessions_without_cuts_still_load(tmp_path: Path, clip) -> None:
    frames, truth = clip
    s, obj = clicked(tmp_path, frames, truth, cuts=())
    path = tmp_path / "state" / "session.json"
    data = json.loads(path.read_text())
    del data["cuts"], data["refound"]  # as written before shots existed
    path.write_text(json.dumps(data))
    again = session(tmp_path, frames, cuts=())
    assert again.is_done() and again.state.cuts == ()
    shots = session(tmp_path, frames)  # the project's shots are known now: everything is tracked again
    assert shots.state.cuts == CUTS and not shots.is_done()
    run(shots)
    assert not any(shots.masks[t].any() for t in range(*CUTS))
    assert json.loads(path.read_text())["cuts"] == list(CUTS)


def test_bad_cuts_are_refused(tmp_path: Path, clip) -> None:
    frames, _ = clip
    with pytest.raises(SessionError, match="not inside the clip"):
        session(tmp_path, frames, cuts=(0, 8))
    with pytest.raises(SessionError, match="not inside the clip"):
        session(tmp_path, frames, cuts=(25,))


def test_probe_frames_spread_over_the_shot() -> None:
    assert probe_frames(10, 14, 8) == [10, 11, 12, 13]
    assert probe_frames(0, 100, 4) == [0, 25, 50, 75]
    assert probe_frames(5, 5, 3) == []


def test_appearance_finder_says_absent_on_another_scene(clip) -> None:
    frames, truth = clip
    finder = AppearanceFinder()
    views = [(frames[0], truth[0])]
    assert finder.find(views, frames, range(8, 14)).frame is None  # the green disc is not the red one
    found = finder.find(views, frames, [14])
    assert found.frame == 14 and iou(found.mask, truth[14]) > 0.6


# -- the neural finder (XMem memory readout), structurally: only synthetic weights exist here --------------------


@pytest.fixture(scope="module")
def xmem_parts(conformance_dir: Path):
    from tests.tracking.test_xmem_conformance import synth_net
    from tracking.xmem.config import XMemConfig
    from tracking.xmem.propagator import XMemPropagator

    net = synth_net(conformance_dir)
    data = np.load(conformance_dir / "xmem" / "clip.npz")
    frames = [cv2.resize(f, (100, 56), interpolation=cv2.INTER_AREA) for f in data["frames"]]
    masks = [cv2.resize(m, (100, 56), interpolation=cv2.INTER_NEAREST) for m in data["gt_masks"]]
    return (lambda: XMemPropagator(net, XMemConfig(precision="fp32"), device="cpu")), frames, masks


class Recording:
    """A propagator wrapper that logs every frame stepped (by identity in ``frames``) and whether it was given."""

    def __init__(self, inner, frames, log) -> None:
        self.inner, self.frames, self.log = inner, frames, log
        self.backend, self.device = inner.backend, inner.device

    def reset(self, ids):
        self.inner.reset(ids)

    def step(self, frame, label_map=None):
        self.log.append((next(i for i, f in enumerate(self.frames) if f is frame), label_map is not None))
        return self.inner.step(frame, label_map)

    def memorize(self, label_map):
        self.inner.memorize(label_map)


def test_xmem_gets_the_memory_readout_finder(xmem_parts) -> None:
    from tracking.refind import AppearanceFinder, ReadoutFinder, finder_for

    factory, _, _ = xmem_parts
    assert isinstance(finder_for(factory(), factory), ReadoutFinder)
    assert isinstance(finder_for(FlowPropagator(), FlowPropagator), AppearanceFinder)


def test_readout_finder_reads_keyframe_memory_on_the_new_shot_only(xmem_parts) -> None:
    """With synthetic weights the readout's answer means nothing; what is tested is the design: memory from the
    keyframes only, read out on the shot's first frames, the threshold deciding found or absent."""
    from tracking.refind import ReadoutConfig, ReadoutFinder

    factory, frames, masks = xmem_parts
    log: list[tuple[int, bool]] = []
    views = [(frames[0], masks[0] == 1)]
    accept = ReadoutFinder(lambda: Recording(factory(), frames, log), ReadoutConfig(min_confidence=0.0,
                                                                                   area_range=(0.0, 1e9)))
    found = accept.find(views, frames, [6, 7, 8, 9])
    assert log == [(0, True), (6, False)]  # the keyframe given, then straight onto the shot: nothing in between
    assert found.frame == 6 and found.mask is not None and found.mask.shape == frames[6].shape[:2]
    log.clear()
    refuse = ReadoutFinder(lambda: Recording(factory(), frames, log), ReadoutConfig(min_confidence=1.01, probes=2))
    absent = refuse.find(views, frames, [6, 7, 8, 9])
    assert absent.frame is None and absent.mask is None and 0.0 <= absent.score <= 1.0
    assert log == [(0, True), (6, False), (7, False)]  # only the first ``probes`` frames are read out


def test_session_with_xmem_never_steps_across_a_cut(tmp_path: Path, xmem_parts) -> None:
    from tracking.refind import ReadoutConfig, ReadoutFinder

    factory, frames, masks = xmem_parts
    log: list[tuple[int, bool]] = []
    passes: list[list[int]] = []

    def recording():
        passes.append([])
        rec = Recording(factory(), frames, log)
        step = rec.step
        rec.step = lambda frame, label_map=None: (passes[-1].append(next(
            i for i, f in enumerate(frames) if f is frame)), step(frame, label_map))[1]
        return rec

    cuts = (4, 8)
    finder = ReadoutFinder(factory, ReadoutConfig(min_confidence=0.0, area_range=(0.0, 1e9)))
    s = TrackSession(frames, FolderStore(tmp_path / "m", len(frames)), tmp_path / "s", GrabCutSegmenter(), recording,
                     cuts=cuts, finder=finder)
    obj = s.add_object()
    s.add_mask(0, obj, masks[0] == 1)
    run(s)
    for steps in passes:
        if steps:
            assert len({int(np.searchsorted(cuts, t, side="right")) for t in steps}) == 1, steps
    assert s.state.refound[(4, obj)].frame == 4 and s.state.refound[(8, obj)].frame == 8  # threshold 0: found
    assert all(t in s.masks for t in range(len(frames)))


def test_undo_brings_back_the_found_again_mark_a_click_in_the_shot_replaced(tmp_path: Path, clip) -> None:
    frames, truth = clip
    s, obj = clicked(tmp_path, frames, truth)
    before = json.loads((s.state_dir / "signals.json").read_text())
    assert before["14"][str(obj)]["refound"] == "found"
    s.add_click(16, obj, *centre(truth[16]))  # a keyframe in shot C: it is no longer searched for there
    run(s)
    after = json.loads((s.state_dir / "signals.json").read_text())
    assert not (after.get("14", {}).get(str(obj)) or {}).get("refound")
    s.undo()
    assert json.loads((s.state_dir / "signals.json").read_text()) == before
    assert s.signal_log.signals[14][obj].refound == "found"


def test_masks_keep_the_cuts_they_were_tracked_with_until_tracked_again(tmp_path: Path, clip) -> None:
    """session.json's ``tracked_cuts`` are the cuts the masks on disk were tracked with: a click made after the
    shots changed saves the new ``cuts`` but must not hide that the masks still cross them (the page's and
    ``tam info``'s "track again" warning reads ``tracked_cuts``); a complete pass with the new cuts updates them."""
    frames, truth = clip
    s, obj = clicked(tmp_path, frames, truth, cuts=())
    path = tmp_path / "state" / "session.json"
    assert json.loads(path.read_text())["tracked_cuts"] == []
    shots = session(tmp_path, frames)  # the project's shots changed (tam shots --detect)
    shots.add_click(0, obj, *centre(truth[0]), positive=True)  # a correction saves session.json
    saved = json.loads(path.read_text())
    assert saved["cuts"] == list(CUTS) and saved["tracked_cuts"] == []
    run(shots)
    assert json.loads(path.read_text())["tracked_cuts"] == list(CUTS)


def test_undo_after_the_shots_changed_keeps_the_new_cuts(tmp_path: Path, clip) -> None:
    """Undo steps recorded before the shots changed hold the old cuts: they are dropped when a session opens with
    other cuts, so an undo never brings back cuts the clip no longer has (and a pass across a cut with them)."""
    frames, truth = clip
    s, obj = clicked(tmp_path, frames, truth, cuts=())
    s.add_click(3, obj, *centre(truth[3]))
    assert len(s.history) == 2
    shots = session(tmp_path, frames)
    shots.undo()
    assert shots.state.cuts == CUTS
    run(shots)
    assert not any(shots.masks[t].any() for t in range(*CUTS))
