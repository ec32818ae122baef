"""Quality scores and SAM-style re-prompting, with the real GrabCut segmenter and flow propagator."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.tracking.test_session import FolderStore, centre, iou, make_clip
from tracking.classical import FlowPropagator, GrabCutSegmenter
from tracking.refine import RefineConfig, Refiner, assess, mask_iou, prompts_from_mask
from tracking.session import TrackSession

H, W = 120, 160
YY, XX = np.mgrid[:H, :W]
DISC = (XX - 80) ** 2 + (YY - 60) ** 2 < 25**2


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    """A red disc on a green textured background."""
    rng = np.random.default_rng(0)
    image = rng.integers(60, 120, (H, W, 3), dtype=np.uint8)
    image[..., 1] = 140
    image[DISC] = (220, 40, 40)
    return cv2.GaussianBlur(image, (3, 3), 0)


def _probs(mask: np.ndarray, inside: float = 0.9) -> np.ndarray:
    return np.where(mask, inside, 0.05).astype(np.float32)


def _warm(refiner: Refiner, obj: int = 1) -> None:
    """Three previous frames where the object was the whole disc."""
    refiner.start_pass()
    for _ in range(3):
        refiner.observe(DISC.astype(np.uint8) * obj, [obj])


def test_assess_flags_each_signal() -> None:
    areas = [int(DISC.sum())] * 3
    clean = assess(_probs(DISC), DISC, areas)
    assert clean.reasons == () and clean.score > 0.85
    half = assess(_probs(DISC & (XX < 80)), DISC & (XX < 80), areas)
    assert half.area_change == pytest.approx(-0.5, abs=0.05) and "area dropped" in half.reasons[0]
    assert half.usual_area == areas[0] and assess(_probs(DISC), DISC, []).usual_area == 0.0
    spill = DISC | ((XX > 90) & (XX < 140) & (YY > 50) & (YY < 90))
    assert "area grew" in assess(_probs(spill), spill, areas).reasons[0]
    unsure = assess(_probs(DISC, 0.55), DISC, areas)
    assert unsure.reasons and "low confidence 0.55" in unsure.reasons[0]
    pieces = DISC | ((XX - 20) ** 2 + (YY - 20) ** 2 < 12**2)
    frag = assess(_probs(pieces), pieces, [int(pieces.sum())] * 3)
    assert frag.components == 2 and "fragmented: 2 pieces" in frag.reasons[0]
    assert assess(_probs(DISC), np.zeros_like(DISC), areas).reasons == ()  # an object that left is fine
    with pytest.raises(ValueError, match="differ in size"):
        assess(np.zeros((5, 5), np.float32), DISC, areas)


def test_prompts_from_mask() -> None:
    prompts = prompts_from_mask(DISC, n_points=3)
    assert prompts.points.shape == (3, 2) and (prompts.labels == 1).all()
    for x, y in prompts.points:
        assert DISC[int(y), int(x)]
    x0, y0, x1, y1 = prompts.box
    assert x0 <= 55 and y0 <= 35 and x1 >= 105 and y1 >= 85 and x0 >= 0 and x1 <= W
    grown = prompts_from_mask(DISC & (XX < 80), previous_box=np.array([55, 35, 105, 85], np.float32), margin=0.0)
    np.testing.assert_array_equal(grown.box, [55, 35, 105, 85])
    with pytest.raises(ValueError, match="empty mask"):
        prompts_from_mask(np.zeros_like(DISC))


def test_half_lost_mask_is_refined_back_to_the_whole_object(frame: np.ndarray) -> None:
    refiner = Refiner(GrabCutSegmenter())
    _warm(refiner)
    half = DISC & (XX < 80)
    out = refiner(frame, 0, {1: _probs(half)}, half.astype(np.uint8))
    assert "area dropped" in out.refined[1]
    assert iou(out.label_map == 1, DISC) > 0.85


def test_spill_onto_the_background_is_refined(frame: np.ndarray) -> None:
    refiner = Refiner(GrabCutSegmenter())
    _warm(refiner, obj=3)
    spill = DISC | ((XX > 90) & (XX < 140) & (YY > 50) & (YY < 90))
    labels = spill.astype(np.uint8) * 3
    labels[:10, :10] = 5  # another object is left alone
    out = refiner(frame, 0, {3: _probs(spill)}, labels)
    assert "area grew" in out.refined[3]
    assert iou(out.label_map == 3, DISC) > 0.85
    assert (out.label_map[:10, :10] == 5).all()


def test_good_masks_and_untrusted_answers_are_left_alone(frame: np.ndarray) -> None:
    half = DISC & (XX < 80)
    refiner = Refiner(GrabCutSegmenter())
    _warm(refiner)
    out = refiner(frame, 0, {1: _probs(DISC)}, DISC.astype(np.uint8))
    assert not out.changed and out.label_map is not None
    # the answer is not "the same object": neither overlapping enough nor regrowing the half
    strict = Refiner(GrabCutSegmenter(), RefineConfig(min_iou=0.99, min_held=1.01))
    _warm(strict)
    out = strict(frame, 0, {1: _probs(half)}, half.astype(np.uint8))
    assert not out.changed and np.array_equal(out.label_map, half.astype(np.uint8))
    off = Refiner(GrabCutSegmenter(), RefineConfig(mode="off"))
    _warm(off)
    assert not off(frame, 0, {1: _probs(half)}, half.astype(np.uint8)).changed
    always = Refiner(GrabCutSegmenter(), RefineConfig(mode="always"))
    _warm(always)
    assert always(frame, 0, {1: _probs(DISC)}, DISC.astype(np.uint8)).refined == {1: "refine mode 'always'"}
    with pytest.raises(ValueError, match="refine mode 'sometimes'"):
        RefineConfig(mode="sometimes")  # type: ignore[arg-type]
    assert mask_iou(DISC, DISC) == 1.0


def test_a_shrunken_mask_is_regrown_but_not_beyond_the_usual_area(frame: np.ndarray) -> None:
    # a quarter of the disc is left: the whole disc overlaps it at IoU 0.25 only (under min_iou), yet it holds
    # all of it and has the object's usual area, so it is accepted (it used to be refused)
    quarter = DISC & (XX < 80) & (YY < 60)
    refiner = Refiner(GrabCutSegmenter())
    _warm(refiner)
    out = refiner(frame, 0, {1: _probs(quarter)}, quarter.astype(np.uint8))
    assert mask_iou(DISC, quarter) < 0.3 and "area dropped" in out.refined[1]
    assert iou(out.label_map == 1, DISC) > 0.85
    # the same answer for an object whose usual area is a quarter disc is too large: refused
    small = Refiner(GrabCutSegmenter())
    small.start_pass()
    for _ in range(3):
        small.observe((DISC & (XX < 80) & (YY < 60)).astype(np.uint8), [1])
    tiny = DISC & (XX < 70) & (YY < 50)
    out = small(frame, 0, {1: _probs(tiny)}, tiny.astype(np.uint8))
    assert not out.changed


class RecordingFlow(FlowPropagator):
    """The real flow propagator, recording what it is asked to memorize."""

    calls: list[np.ndarray] = []

    def memorize(self, label_map: np.ndarray) -> None:
        RecordingFlow.calls.append(label_map.copy())
        super().memorize(label_map)


def test_session_feeds_refined_maps_back_into_the_propagator(tmp_path: Path) -> None:
    clip = make_clip(n=8)
    RecordingFlow.calls = []
    store = FolderStore(tmp_path / "masks", 8)
    # auto mode, with a confidence bar high enough that the flow's soft edges trip it on every frame
    refiner = Refiner(GrabCutSegmenter(), RefineConfig(min_confidence=0.999))
    s = TrackSession(clip.frames, store, tmp_path / "state", GrabCutSegmenter(), RecordingFlow, refiner)
    obj = s.add_object()
    s.add_click(0, obj, *centre(clip.disc[0]))
    report = s.run_propagation()
    assert report.refined, "the strict confidence bar should refine some frames"
    assert all("low confidence" in r[obj] for r in report.refined.values())
    refined_frames = sorted(report.refined)
    assert len(RecordingFlow.calls) == len(refined_frames)
    for frame, memorized in zip(refined_frames, RecordingFlow.calls, strict=True):
        np.testing.assert_array_equal(memorized, store[frame])  # the refined map is what was written
    assert all(iou(store[i] == obj, clip.disc[i]) > 0.7 for i in range(8))
    reopened = TrackSession(clip.frames, store, tmp_path / "state", GrabCutSegmenter(), FlowPropagator)
    assert reopened.state.refined == s.state.refined
