"""SAM 2.1 (hiera tiny) conformance: our network and video tracker vs the official predictor's recorded outputs.

Spec, call sequences and tolerances: ../shared/conformance/sam2/README.md. Weights come from ../shared's
``synth_weights.py`` (imported through sys.path, never copied). The per-module tests take about a minute on
two cores; the end-to-end call sequences run the whole network on 8-20 frames and are marked slow.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tracking.sam2.build import build_sam2
from tracking.sam2.preprocess import to_model_input
from tracking.sam2.video import Sam2VideoTracker, TrackerConfig

pytestmark = [pytest.mark.conformance]

FEATURE_TOL = 1e-3
LOGIT_TOL = 1e-3
VECTOR_TOL = 1e-4
MAX_MASK_DIFF = 50  # differing pixels per frame per object
SIZES = {"tiny": "t", "small": "s", "base_plus": "b+", "large": "l"}


@pytest.fixture(scope="module")
def modules(sam2_dir: Path):
    return np.load(sam2_dir / "modules.npz")


@pytest.fixture(scope="module")
def clip(sam2_dir: Path):
    return np.load(sam2_dir / "clip.npz")


@pytest.fixture(scope="module")
def fixtures_json(sam2_dir: Path) -> dict:
    return json.loads((sam2_dir / "fixtures.json").read_text())


@pytest.fixture(scope="module")
def frame0(model, clip):
    with torch.inference_mode():
        image = to_model_input(clip["frames"][0])
        return model.image_encoder.trunk(image), model.encode_image(image)


def _probe(mod, name: str, x: torch.Tensor) -> float:
    flat = x.detach().float().numpy().reshape(-1)[:: int(mod[f"{name}_probe_stride"])][:16384]
    assert list(x.shape) == list(mod[f"{name}_shape"])
    return float(np.abs(flat - mod[f"{name}_probe"]).max())


def _f16_ok(x: np.ndarray, ref16: np.ndarray) -> bool:
    ref = ref16.astype(np.float32)
    return bool(np.all(np.abs(x - ref) <= 1e-3 + 2**-10 * np.abs(ref)))


def _f16_report(x: np.ndarray, ref16: np.ndarray) -> str:
    ref = ref16.astype(np.float32)
    excess = np.abs(x - ref) - (1e-3 + 2**-10 * np.abs(ref))
    return f"max |diff| {np.abs(x - ref).max():.3g}, {(excess > 0).sum()} elements over the float16 rule"


# ---- checkpoint layout ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", list(SIZES))
def test_conformance_every_size_has_the_official_key_layout(sam2_dir: Path, size: str) -> None:
    manifest = json.loads((sam2_dir / f"manifest_{SIZES[size]}.json").read_text())
    got = [(k, list(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in build_sam2(size).state_dict().items()]
    assert got == [(k, shape, dtype) for k, shape, dtype in manifest["tensors"]]
    assert sum(int(np.prod(s)) for _, s, _ in got) == manifest["num_elements"]


# ---- preprocessing and per-module fixtures (frame 0) ---------------------------------------------------------------
def test_conformance_preprocessing_is_bit_exact(clip, fixtures_json: dict) -> None:
    for t, digest in enumerate(fixtures_json["images_sha256"]):
        x = to_model_input(clip["frames"][t])[0].numpy()
        assert hashlib.sha256(x.tobytes()).hexdigest() == digest, f"frame {t}"


def test_conformance_image_encoder(frame0, modules) -> None:
    trunk, feats = frame0
    for i in range(4):
        assert _probe(modules, f"trunk_{i}", trunk[i]) <= FEATURE_TOL, f"trunk level {i}"
    assert _probe(modules, "backbone_fpn_0", feats.high_res[0]) <= FEATURE_TOL
    assert _probe(modules, "backbone_fpn_1", feats.high_res[1]) <= FEATURE_TOL
    assert np.abs(feats.feat.numpy() - modules["backbone_fpn_2"]).max() <= FEATURE_TOL
    assert _probe(modules, "vision_pos_enc_2", feats.pos) <= FEATURE_TOL


def test_conformance_decoder_single_click(model, frame0, modules) -> None:
    _, feats = frame0
    points = torch.from_numpy(modules["dec_point_coords_1024"])
    labels = torch.from_numpy(modules["dec_point_labels"])
    with torch.inference_mode():
        out = model.decode(model.no_memory(feats.feat), feats.high_res, points, labels, None, multimask=True)
    assert np.abs(out.multimasks.numpy() - modules["dec_low_res_multimasks"]).max() <= LOGIT_TOL
    assert np.abs(out.masks.numpy() - modules["dec_low_res_masks"]).max() <= LOGIT_TOL
    assert np.abs(out.ious.numpy() - modules["dec_ious"]).max() <= VECTOR_TOL
    assert np.abs(out.obj_ptr.numpy() - modules["dec_obj_ptr"]).max() <= VECTOR_TOL
    assert np.abs(out.object_score.numpy() - modules["dec_object_score_logits"]).max() <= VECTOR_TOL


def test_conformance_memory_encoder_and_attention(model, frame0, modules) -> None:
    _, feats = frame0
    low = torch.from_numpy(modules["dec_low_res_masks"])
    score = torch.from_numpy(modules["dec_object_score_logits"])
    with torch.inference_mode():
        maskmem, pos = model.encode_memory(feats.feat, low, score, binarize=True)
        assert np.abs(maskmem.numpy() - modules["memenc_maskmem_features"]).max() <= FEATURE_TOL
        assert _probe(modules, "memenc_maskmem_pos_enc", pos) <= FEATURE_TOL
        # the recorded query: frame 0's own features as frame 1, cond frame 0 in memory (stored as bfloat16)
        stored = torch.from_numpy(modules["memenc_maskmem_features"]).to(torch.bfloat16)
        out = model.attend_memory(feats, [(stored, pos, 6)], [(1, torch.from_numpy(modules["dec_obj_ptr"]))], 7)
    assert _f16_ok(out.numpy(), modules["memattn_out_f16"]), _f16_report(out.numpy(), modules["memattn_out_f16"])


# ---- end-to-end call sequences (the official SAM2VideoPredictor's outputs) ------------------------------------------
def _check_logits(got: np.ndarray, ref16: np.ndarray, ref_masks: np.ndarray, what: str) -> None:
    assert got.shape == ref16.shape, what
    assert _f16_ok(got, ref16), f"{what}: {_f16_report(got, ref16)}"
    for o in range(got.shape[0]):
        assert ((got[o] > 0) != ref_masks[o]).sum() <= MAX_MASK_DIFF, f"{what}, object {o}"


def _check_run(results: list, ref, what: str) -> None:
    """Yield order exactly; the reference arrays are indexed by frame, whatever the order."""
    assert [t for t, _, _ in results] == list(ref["yield_order"]), what
    assert [list(ids) for _, ids, _ in results] == [list(ref["obj_ids"])] * len(results), what
    by_frame = {t: logits for t, _, logits in results}
    for i, t in enumerate(ref["frame_idx"]):
        _check_logits(by_frame[int(t)], ref["logits_f16"][i], ref["masks"][i], f"{what}, frame {t}")


def _scores(tracker: Sam2VideoTracker, frames: range) -> np.ndarray:
    return np.array([[tracker.object_score(o, t) for o in tracker.obj_ids] for t in frames], dtype=np.float32)


@pytest.fixture(scope="module")
def runs_ab(model, clip):
    """Run A (click + box on frame 0, forward) then run B (correction on frame 4, forward again) on one state."""
    frames = list(clip["frames"])
    tracker = Sam2VideoTracker(model, (240, 320), num_frames=8)
    _, click = tracker.add_points(0, frames[0], 1, points=[[90, 100]], labels=[1])
    _, box = tracker.add_points(0, frames[0], 2, box=[250, 150, 299, 209])
    run_a = list(tracker.propagate(frames))
    scores_a = _scores(tracker, range(8))
    tracker.config = TrackerConfig(add_all_frames_to_correct_as_cond=True)
    _, correction = tracker.add_points(4, frames[4], 1, points=[[60, 200], [130, 110]], labels=[0, 1])
    run_b = list(tracker.propagate(frames))
    return {
        "click": click,
        "box": box,
        "a": run_a,
        "scores_a": scores_a,
        "correction": correction,
        "b": run_b,
        "scores_b": _scores(tracker, range(8)),
    }


@pytest.mark.slow
@pytest.mark.timeout(3600)  # the whole network on every frame: minutes on two shared cores
def test_conformance_clicks_and_box_then_forward(runs_ab, sam2_dir: Path) -> None:
    ref = np.load(sam2_dir / "e2e_forward.npz")
    assert _f16_ok(runs_ab["click"], ref["add_click_obj1_logits_f16"])
    assert _f16_ok(runs_ab["box"], ref["add_box_logits_f16"]), _f16_report(runs_ab["box"], ref["add_box_logits_f16"])
    _check_run(runs_ab["a"], ref, "run A")
    assert np.abs(runs_ab["a"][1][2] - ref["frame1_logits_f32"]).max() <= LOGIT_TOL
    assert np.abs(runs_ab["scores_a"] - ref["object_score_logits"]).max() <= VECTOR_TOL


@pytest.mark.slow
@pytest.mark.timeout(3600)  # the whole network on every frame: minutes on two shared cores
def test_conformance_correction_on_a_middle_frame(runs_ab, sam2_dir: Path) -> None:
    ref = np.load(sam2_dir / "e2e_correction.npz")
    got, want = runs_ab["correction"], ref["correction_output_logits_f16"]
    assert _f16_ok(got, want), _f16_report(got, want)
    _check_run(runs_ab["b"], ref, "run B")
    assert np.abs(runs_ab["scores_b"] - ref["object_score_logits"]).max() <= VECTOR_TOL


@pytest.mark.slow
@pytest.mark.timeout(3600)  # the whole network on every frame: minutes on two shared cores
def test_conformance_click_on_last_frame_then_reverse(model, clip, sam2_dir: Path) -> None:
    ref = np.load(sam2_dir / "e2e_reverse.npz")
    frames = list(clip["frames"])
    tracker = Sam2VideoTracker(model, (240, 320), num_frames=8)
    _, click = tracker.add_points(7, frames[7], 1, points=ref["prompt_points"], labels=ref["prompt_labels"])
    assert _f16_ok(click, ref["add_click_logits_f16"])
    results = list(tracker.propagate(frames, reverse=True))
    _check_run(results, ref, "run C")
    assert np.abs(_scores(tracker, range(8)) - ref["object_score_logits"]).max() <= VECTOR_TOL


@pytest.mark.slow
@pytest.mark.timeout(3600)  # the whole network on every frame: minutes on two shared cores
def test_conformance_long_clip_memory_window_and_pointers(model, sam2_dir: Path) -> None:
    ref = np.load(sam2_dir / "e2e_long.npz")
    frames = list(np.load(sam2_dir / "clip_long.npz")["frames_chw"].transpose(0, 2, 3, 1))
    tracker = Sam2VideoTracker(model, (240, 320), num_frames=20)
    for t, point, label in zip(ref["prompt_frames"], ref["prompt_points"], ref["prompt_labels"], strict=True):
        tracker.add_points(int(t), frames[t], 1, points=[point], labels=[label])
    plans = {}
    plan = tracker._plan

    def recording_plan(obj, t, reverse):  # noqa: ANN001, ANN202 - records what each frame attended to
        plans[t] = plan(obj, t, reverse)
        return plans[t]

    tracker._plan = recording_plan  # type: ignore[method-assign]
    results = list(tracker.propagate(frames))
    _check_run(results, ref, "run D")
    assert np.abs(results[-1][2] - ref["lastframe_logits_f32"]).max() <= LOGIT_TOL
    assert np.abs(_scores(tracker, range(12, 20)) - ref["object_score_logits"][12:]).max() <= VECTOR_TOL
    for t in range(20):
        p = plans.get(t)
        spatial = [] if p is None else p.spatial
        pointers = [] if p is None else p.pointers
        pad = lambda xs, n, fill: list(xs) + [fill] * (n - len(xs))  # noqa: E731
        assert pad([f for f, _ in spatial], 8, -1) == list(ref["mem_spatial_frames"][t]), t
        assert pad([i for _, i in spatial], 8, -1) == list(ref["mem_spatial_tpos_index"][t]), t
        assert pad([f for f, _ in pointers], 16, -1) == list(ref["mem_objptr_frames"][t]), t
        assert pad([d for _, d in pointers], 16, -9999) == list(ref["mem_objptr_tpos"][t]), t
        tokens = 4096 * len(spatial) + 4 * len(pointers)
        assert tokens == ref["mem_num_tokens"][t] and 4 * len(pointers) == ref["mem_num_obj_ptr_tokens"][t], t
