"""XMemPropagator plumbing with synthetic weights: keyframes, directions, late objects, memorize, sizes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tests.tracking.test_xmem_conformance import fixture_config, synth_net
from tracking.backend import probs_to_labels
from tracking.xmem.config import XMemConfig
from tracking.xmem.propagator import XMemPropagator

FP32 = XMemConfig(precision="fp32")


@pytest.fixture(scope="module")
def clip(conformance_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    data = np.load(conformance_dir / "xmem" / "clip.npz")
    return data["frames"], data["gt_masks"]


def small(frames: np.ndarray, masks: np.ndarray, h: int = 56, w: int = 100) -> tuple[np.ndarray, np.ndarray]:
    f = np.stack([cv2.resize(x, (w, h), interpolation=cv2.INTER_AREA) for x in frames])
    m = np.stack([cv2.resize(x, (w, h), interpolation=cv2.INTER_NEAREST) for x in masks])
    return f, m


def make(conformance_dir: Path, config: XMemConfig = FP32, ids: tuple[int, ...] = (1, 2)) -> XMemPropagator:
    prop = XMemPropagator(synth_net(conformance_dir), config, device="cpu")
    prop.reset(list(ids))
    return prop


@pytest.mark.conformance
def test_propagator_conformance_padded_clip(conformance_dir: Path) -> None:
    """At native size in fp32 the propagator is exactly the reference pipeline (218x395, padded)."""
    ref = np.load(conformance_dir / "xmem" / "e2e_padded.npz")
    clip = np.load(conformance_dir / "xmem" / "clip.npz")
    frames, first = clip["frames"][:3, 3:221, 2:397], clip["first_mask"][3:221, 2:397]
    cfg = dataclasses.replace(fixture_config(conformance_dir, "e2e_padded"), working_size=None)
    prop = make(conformance_dir, cfg)
    probs = prop.step(frames[0], first)
    assert probs.shape == (3, 218, 395) and probs.dtype == np.float32
    assert np.array_equal(probs_to_labels(probs, [1, 2]), first)
    for t in (1, 2):
        probs = prop.step(frames[t])
        np.testing.assert_allclose(probs[1:], ref["prob_fg_f16"][t].astype(np.float32), atol=1e-3, rtol=0)


def test_keyframe_exact_and_output_at_frame_size_when_downscaled(conformance_dir: Path, clip) -> None:
    frames, masks = clip[0][:3, 3:221, 2:397], clip[1][:3, 3:221, 2:397]
    prop = make(conformance_dir, dataclasses.replace(FP32, working_size=64), ids=(1, 2))
    key = prop.step(frames[0], masks[0])
    assert np.array_equal(probs_to_labels(key, [1, 2]), masks[0])
    for t in (1, 2):
        probs = prop.step(frames[t])
        assert probs.shape == (3, 218, 395) and probs.dtype == np.float32
        np.testing.assert_allclose(probs.sum(0), 1, atol=1e-5)


def test_both_directions_carry_the_objects(conformance_dir: Path, clip) -> None:
    frames, masks = small(*clip)
    for order in (range(0, 6), range(11, 5, -1)):
        order = list(order)
        prop = make(conformance_dir)
        assert np.array_equal(probs_to_labels(prop.step(frames[order[0]], masks[order[0]]), [1, 2]), masks[order[0]])
        for t in order[1:]:
            probs = prop.step(frames[t])
            assert probs[1:].reshape(2, -1).max(1).min() > 0.1, f"an object vanished at frame {t}"
            assert (probs_to_labels(probs, [1, 2]) > 0).mean() > 0.05


def test_object_entering_on_a_later_keyframe(conformance_dir: Path, clip) -> None:
    frames, masks = small(*clip)
    prop = make(conformance_dir, ids=(1, 2))
    only_one = np.where(masks[0] == 2, 0, masks[0]).astype(np.uint8)
    prop.step(frames[0], only_one)
    for t in (1, 2):
        probs = prop.step(frames[t])
        assert not probs[2].any(), "an object with no pixels yet must be absent"
    assert np.array_equal(probs_to_labels(prop.step(frames[3], masks[3]), [1, 2]), masks[3])
    assert prop.core.memory.work.groups == [[0], [1]]
    labels = probs_to_labels(prop.step(frames[4]), [1, 2])
    assert (labels == 2).sum() > 0.25 * (masks[3] == 2).sum()


def test_memorize_equals_giving_the_keyframe(conformance_dir: Path, clip) -> None:
    """step(f) + memorize(m) must leave the same state as step(f, m), also on a memory frame (no duplicate)."""
    frames, masks = small(*clip)
    cfg = dataclasses.replace(FP32, mem_every=2)
    for corrected in (1, 2):  # a plain frame, then a frame that was already written to memory
        a, b = make(conformance_dir, cfg), make(conformance_dir, cfg)
        for p in (a, b):
            p.step(frames[0], masks[0])
        for t in range(1, corrected):
            a.step(frames[t])
            b.step(frames[t])
        a.step(frames[corrected])
        a.memorize(masks[corrected])
        b.step(frames[corrected], masks[corrected])
        assert a.core.memory.work.size == b.core.memory.work.size
        np.testing.assert_allclose(a.step(frames[corrected + 1]), b.step(frames[corrected + 1]), atol=1e-5)


def test_memory_stays_bounded_with_a_late_object(conformance_dir: Path, clip) -> None:
    frames, masks = small(*clip, h=32, w=48)  # 2 x 3 keys per frame
    cfg = dataclasses.replace(FP32, mem_every=1, min_mid_term_frames=2, max_mid_term_frames=4, num_prototypes=4,
                              max_long_term_elements=10)
    prop = make(conformance_dir, cfg)
    prop.step(frames[0], np.where(masks[0] == 2, 0, masks[0]).astype(np.uint8))
    hw = 6
    for i in range(1, 30):
        t = i % 12
        probs = prop.step(frames[t], masks[t] if i == 7 else None)
        assert probs.shape == (3, 32, 48)
        assert prop.core.memory.work.size <= cfg.max_mid_term_frames * hw
        assert prop.core.memory.long.size <= cfg.max_long_term_elements
    assert prop.core.memory.long.num_groups == 2


def test_fast_path_masks_agree_with_fp32(conformance_dir: Path, clip) -> None:
    frames, masks = small(*clip, h=96, w=176)
    fast = make(conformance_dir, XMemConfig(precision="auto"))
    exact = make(conformance_dir, FP32)
    for t in range(4):
        lm = masks[0] if t == 0 else None
        a = probs_to_labels(fast.step(frames[t], lm), [1, 2])
        b = probs_to_labels(exact.step(frames[t], lm), [1, 2])
        for k in (1, 2):
            inter, union = ((a == k) & (b == k)).sum(), ((a == k) | (b == k)).sum()
            assert inter / union >= 0.99


def test_bad_inputs_are_refused_with_a_reason(conformance_dir: Path) -> None:
    prop = make(conformance_dir)
    frame = np.zeros((40, 60, 3), np.uint8)
    with pytest.raises(RuntimeError, match="call step"):
        prop.memorize(np.zeros((40, 60), np.uint8))
    with pytest.raises(ValueError, match="RGB uint8"):
        prop.step(frame.astype(np.float32))
    with pytest.raises(ValueError, match="label map must be"):
        prop.step(frame, np.zeros((41, 60), np.uint8))
    with pytest.raises(ValueError, match=r"ids \[7\]"):
        prop.step(frame, np.full((40, 60), 7, np.uint8))
    with pytest.raises(ValueError, match="frame size changed"):
        prop.step(np.zeros((50, 60, 3), np.uint8))
    with pytest.raises(ValueError, match="distinct"):
        prop.reset([1, 1])
    with pytest.raises(ValueError, match="precision"):
        XMemConfig(precision="int4")


def test_auto_precision_on_cpu_is_the_float32_fast_path() -> None:
    # bf16 autocast drifts to 0.85 IoU of float32 on an AMX CPU: the default must not depend on the CPU's flags
    from tracking.xmem.propagator import resolve_precision

    assert resolve_precision("auto", torch.device("cpu")) == "fast"
    assert resolve_precision("bf16", torch.device("cpu")) == "bf16"
