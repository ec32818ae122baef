"""SAM 2.1 backend behaviour the reference fixtures do not cover: strict loading errors, an absent object,
bounded memory on a clip longer than the window, and the tam Segmenter / Propagator adapters.

Synthetic weights come from ../shared/conformance (``synth_weights.py``); tests that run the network on several
frames are slow (about 10-20 s per frame on two cores) and marked so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tracking.backend import probs_to_labels
from tracking.sam2.backend import Sam2Propagator, Sam2Segmenter
from tracking.sam2.build import build_sam2, load_sam2
from tracking.sam2.model import NO_OBJ_SCORE
from tracking.sam2.video import Sam2VideoTracker, TrackerConfig
from weights import CheckpointMismatch, load_strict


@pytest.fixture(scope="module")
def long_frames(sam2_dir: Path) -> list[np.ndarray]:
    return list(np.load(sam2_dir / "clip_long.npz")["frames_chw"].transpose(0, 2, 3, 1))


# ---- loading -------------------------------------------------------------------------------------------------------
def test_official_file_layout_loads_strictly(tiny_state, tmp_path: Path) -> None:
    path = tmp_path / "sam2.1_hiera_tiny.pt"
    torch.save({"model": tiny_state}, path)
    net = load_sam2(path, "sam2.1_hiera_tiny")
    key = "sam_mask_decoder.iou_token.weight"
    assert torch.equal(net.state_dict()[key], tiny_state[key])


def test_partial_checkpoint_is_refused_with_the_missing_keys(tiny_state, tmp_path: Path) -> None:
    partial = {k: v for k, v in tiny_state.items() if not k.startswith("memory_attention.")}
    path = tmp_path / "partial.pt"
    torch.save({"model": partial}, path)
    with pytest.raises(CheckpointMismatch, match=r"missing keys: memory_attention\.layers\.0\.self_attn"):
        load_sam2(path, "tiny")


def test_wrong_checkpoint_is_refused_with_unexpected_keys_and_shapes(tiny_state, tmp_path: Path) -> None:
    path = tmp_path / "small_as_tiny.pt"
    torch.save({"model": build_sam2("small").state_dict()}, path)
    with pytest.raises(CheckpointMismatch, match=r"unexpected keys: image_encoder\.trunk\.blocks\.12\."):
        load_sam2(path, "tiny")
    extra = dict(tiny_state) | {"sam_mask_decoder.extra.weight": torch.zeros(1)}
    torch.save({"model": extra}, path)
    with pytest.raises(CheckpointMismatch, match=r"unexpected keys: sam_mask_decoder\.extra\.weight"):
        load_sam2(path, "tiny")
    bad = dict(tiny_state) | {"no_obj_ptr": torch.zeros(1, 128)}
    torch.save({"model": bad}, path)
    with pytest.raises(
        CheckpointMismatch, match=r"wrong shapes: no_obj_ptr: checkpoint \(1, 128\) vs model \(1, 256\)"
    ):
        load_sam2(path, "tiny")


def test_unknown_size_and_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown SAM 2.1 model 'huge'"):
        build_sam2("huge")
    path = tmp_path / "broken.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointMismatch, match="not a readable PyTorch checkpoint"):
        load_sam2(path)


def test_bad_prompts_say_what_is_wrong(model) -> None:
    tracker = Sam2VideoTracker(model, (240, 320), num_frames=8)
    frame = np.zeros((240, 320, 3), np.uint8)
    with pytest.raises(ValueError, match="points and labels must be given together"):
        tracker.add_points(0, frame, 1, points=[[1, 2]])
    with pytest.raises(ValueError, match="give at least one click"):
        tracker.add_points(0, frame, 1)
    with pytest.raises(ValueError, match=r"points must be N x 2"):
        tracker.add_points(0, frame, 1, points=[[1, 2, 3]], labels=[1])
    with pytest.raises(ValueError, match="no object has a prompt yet"):
        next(tracker.propagate([frame]))
    with pytest.raises(ValueError, match="a frame must be an H x W x 3 uint8 RGB array"):
        tracker.add_points(0, frame.astype(np.float32), 1, points=[[1, 2]], labels=[1])
    with pytest.raises(ValueError, match="keep_frames must be at least 6"):
        TrackerConfig(keep_frames=3)


# ---- behaviour on real runs (slow) ----------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.timeout(3600)  # the whole network on every frame: minutes on two shared cores
def test_absent_object_gives_an_empty_mask_and_the_no_object_memory(tiny_state, long_frames) -> None:
    """An object-score head that says "absent": every mask logit is -1024, the pointer is ``no_obj_ptr``."""
    state = dict(tiny_state) | {"sam_mask_decoder.pred_obj_score_head.layers.2.bias": torch.tensor([-20.0])}
    net = build_sam2("tiny")
    load_strict(net, state, "SAM 2.1 hiera_tiny")
    tracker = Sam2VideoTracker(net.eval(), (240, 320), num_frames=20)
    _, click = tracker.add_points(0, long_frames[0], 1, points=[[90, 100]], labels=[1])
    assert np.all(click == NO_OBJ_SCORE)
    results = list(tracker.propagate(long_frames, max_frames=2))
    assert [t for t, _, _ in results] == [0, 1, 2]
    for t, _, logits in results:
        assert not (logits > 0).any(), f"frame {t} should be empty"
        assert tracker.object_score(1, t) < 0
    held = tracker.objects[1].non_cond[2]
    assert torch.equal(held.obj_ptr, net.no_obj_ptr.detach())


@pytest.mark.slow
@pytest.mark.timeout(3600)  # the whole network on every frame: minutes on two shared cores
def test_memory_stays_bounded_past_the_window(model, long_frames) -> None:
    """11 frames with ``keep_frames=6``: only the 6 nearest tracked frames are held, and the bytes held stop
    growing once the window is full (frame 7 on)."""
    tracker = Sam2VideoTracker(model, (240, 320), num_frames=20, config=TrackerConfig(keep_frames=6))
    tracker.add_points(0, long_frames[0], 1, points=[[90, 100]], labels=[1])
    held_bytes = []
    for t, _, logits in tracker.propagate(long_frames, max_frames=10):
        assert logits.shape == (1, 240, 320) and (logits > 0).any()
        cond, non_cond = tracker.memory_frames(1)
        assert cond == [0] and all(abs(c - t) <= 6 for c in non_cond)
        obj = tracker.objects[1]
        held = [*obj.cond.values(), *obj.non_cond.values()]
        tensors = [x for out in held for x in (out.pred_masks, out.obj_ptr, out.maskmem, out.maskmem_pos)]
        held_bytes.append(sum(x.numel() * x.element_size() for x in tensors if x is not None))
    assert tracker.memory_frames(1)[1] == list(range(4, 11))
    assert len(set(held_bytes[7:])) == 1 and held_bytes[7] == max(held_bytes)


@pytest.mark.slow
@pytest.mark.timeout(3600)  # the whole network on every frame: minutes on two shared cores
def test_propagator_pass_from_a_keyframe_map(model, long_frames) -> None:
    """The tam adapter: a keyframe map in, per-frame probabilities out, equal to the tracker's add_mask path."""
    label_map = np.zeros((240, 320), np.uint8)
    label_map[60:140, 50:130] = 1
    label_map[150:210, 250:300] = 2
    prop = Sam2Propagator(model)
    prop.reset([1, 2])
    first = prop.step(long_frames[0], label_map)
    assert first.shape == (3, 240, 320) and np.all((first >= 0) & (first <= 1))
    assert np.array_equal(probs_to_labels(first, [1, 2]), label_map)
    second = prop.step(long_frames[1])
    tracker = Sam2VideoTracker(model, (240, 320), None)
    for obj in (1, 2):
        tracker.add_mask(0, long_frames[0], obj, label_map == obj)
    tracker.track(0, long_frames[0])
    _, logits = tracker.track(1, long_frames[1])
    assert np.allclose(second[1:], 1 / (1 + np.exp(-np.clip(logits, -50, 50))), atol=1e-6)
    prop.memorize(label_map)  # a refinement replaces frame 1's output
    assert np.array_equal(probs_to_labels(prop.step(long_frames[2]), [1, 2]).shape, (240, 320))
    with pytest.raises(RuntimeError, match="first step of a pass needs the keyframe"):
        prop.reset([1])
        prop.step(long_frames[0])


def test_segmenter_click_matches_the_reference_decoder(model, sam2_dir: Path) -> None:
    """A single click through the Segmenter is the official predictor's first click on an untracked frame."""
    frame = np.load(sam2_dir / "clip.npz")["frames"][0]
    ref = np.load(sam2_dir / "modules.npz")
    click = np.load(sam2_dir / "e2e_forward.npz")["add_click_obj1_logits_f16"][0].astype(np.float32)
    seg = Sam2Segmenter(model)
    seg.set_image(frame, key=0)
    result = seg.predict(points=np.array([[90, 100]], np.float32), labels=np.array([1]), multimask=True)
    assert np.abs(result.logits - ref["dec_low_res_masks"][0]).max() <= 1e-3
    assert abs(result.score - float(ref["dec_ious"].max())) <= 1e-4
    sure = np.abs(click) > 1e-3 + 2**-10 * np.abs(click)
    assert np.array_equal(result.mask[sure], (click > 0)[sure])


# ---- backend choice --------------------------------------------------------------------------------------------------
def test_backend_sam2_needs_its_checkpoint_and_loads_it(tiny_state, tmp_path: Path, monkeypatch) -> None:
    from tracking.backends import BackendUnavailable, choose, make_propagator_factory, make_segmenter

    monkeypatch.setenv("TAM_WEIGHTS_DIR", str(tmp_path))
    need = r"no checkpoint for sam2.1_hiera_tiny: run `tam weights download sam2.1_hiera_tiny`"
    with pytest.raises(BackendUnavailable, match=need):
        choose("sam2", device="cpu")
    torch.save({"model": tiny_state}, tmp_path / "sam2.1_hiera_tiny.pt")
    choice = choose("sam2", device="cpu")
    assert choice.segmenter.checkpoint == choice.propagator.checkpoint == "sam2.1_hiera_tiny"
    assert "segmenter: sam2.1-hiera_tiny" in choice.describe()
    segmenter = make_segmenter("sam2", device="cpu")
    assert isinstance(segmenter, Sam2Segmenter) and segmenter.backend == "sam2.1-hiera_tiny"
    factory = make_propagator_factory("sam2", device="cpu")
    first, second = factory(), factory()
    assert isinstance(first, Sam2Propagator) and first is not second and first.model is second.model
    # one network for both stages: the segmenter's model is reused, the checkpoint is not read again
    shared = make_propagator_factory("sam2", device="cpu", segmenter=segmenter)
    assert shared().model is segmenter.model


@pytest.mark.slow
@pytest.mark.timeout(3600)  # the whole network on every frame: minutes on two shared cores
def test_object_entering_late(model, long_frames) -> None:
    """A second object clicked on frame 3 after the first was tracked: it joins the next propagation, is its
    own conditioning output on frame 3, and is tracked on frame 2 from that future memory alone."""
    tracker = Sam2VideoTracker(model, (240, 320), num_frames=20)
    tracker.add_points(0, long_frames[0], 1, points=[[90, 100]], labels=[1])
    assert [t for t, _, _ in tracker.propagate(long_frames, max_frames=2)] == [0, 1, 2]
    ids, added = tracker.add_points(3, long_frames[3], 2, box=[226, 144, 282, 204])
    assert ids == [1, 2] and added.shape == (2, 240, 320)
    assert np.all(added[0] == NO_OBJ_SCORE)  # object 1 has not been tracked on frame 3 yet
    results = {t: logits for t, _, logits in tracker.propagate(long_frames, start_frame=2, max_frames=2)}
    assert list(results) == [2, 3, 4]
    assert np.array_equal(results[3][1], added[1])
    for t in (2, 4):
        assert results[t].shape == (2, 240, 320) and (results[t][1] > 0).any()
    assert tracker.memory_frames(2)[0] == [3]


def test_memory_selection_replays_the_reference_long_run(model, sam2_dir: Path) -> None:
    """The bookkeeping alone (no network run): which frames and pointers each frame of run D attends to, and
    the window of held outputs, frame by frame. The slow conformance test checks the same through the model."""
    from tracking.sam2.video import FrameOutput, _ObjectState

    ref = np.load(sam2_dir / "e2e_long.npz")
    held = FrameOutput(torch.zeros(1, 1, 4, 4), torch.zeros(1, 256), torch.ones(1, 1))
    for keep in (16, 6):
        tracker = Sam2VideoTracker(model, (240, 320), num_frames=20, config=TrackerConfig(keep_frames=keep))
        obj = tracker.objects.setdefault(1, _ObjectState())
        obj.cond = {0: held, 12: held}
        for t in range(20):
            if t not in obj.cond:
                plan = tracker.select_memory(1, t)
                if keep == 16:
                    assert [f for f, _ in plan.spatial] == [f for f in ref["mem_spatial_frames"][t] if f >= 0], t
                    assert [i for _, i in plan.spatial] == [i for i in ref["mem_spatial_tpos_index"][t] if i >= 0]
                    assert [f for f, _ in plan.pointers] == [f for f in ref["mem_objptr_frames"][t] if f >= 0], t
                    assert [d for _, d in plan.pointers] == [d for d in ref["mem_objptr_tpos"][t] if d != -9999]
                    assert plan.t_diff_max == 15
                obj.non_cond[t] = held
            tracker._evict(obj, t)  # what track() does after every frame
            assert all(abs(c - t) <= keep for c in obj.non_cond)
            assert len(obj.non_cond) <= keep + 1


def test_open_session_reads_the_sam2_checkpoint_once(tiny_state, tmp_path: Path, monkeypatch) -> None:
    """``--backend sam2``: the page/CLI session's segmenter and propagators share one network."""
    from editor import pipeline
    from editor.sample import write_sample_video
    from editor.store import Project

    monkeypatch.setenv("TAM_WEIGHTS_DIR", str(tmp_path))
    torch.save({"model": tiny_state}, tmp_path / "sam2.1_hiera_tiny.pt")
    write_sample_video(tmp_path / "clip.mp4", n_frames=4, size=(96, 64))
    project = Project.open_or_create(tmp_path / "project", tmp_path / "clip.mp4")
    session = pipeline.open_session(project, backend="sam2", device="cpu")
    assert isinstance(session.segmenter, Sam2Segmenter)
    assert session.propagator_factory().model is session.segmenter.model
