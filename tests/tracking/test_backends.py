"""Backend choice: auto / classical / neural, from what ``weights.locate`` finds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tracking.backends import (
    BackendUnavailable,
    choose,
    describe,
    make_propagator_factory,
    make_segmenter,
)
from tracking.classical import FlowPropagator, GrabCutSegmenter


@pytest.fixture
def empty_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TAM_WEIGHTS_DIR", str(tmp_path))
    return tmp_path


def test_classical_needs_no_weights(empty_weights: Path) -> None:
    segmenter = make_segmenter("classical")
    assert isinstance(segmenter, GrabCutSegmenter) and segmenter.backend == "classical-grabcut"
    factory = make_propagator_factory("classical")
    first, second = factory(), factory()
    assert isinstance(first, FlowPropagator) and first is not second
    text = describe("classical")
    assert "segmenter: classical-grabcut" in text and "propagator: classical-flow" in text and "device: cpu" in text


def test_auto_falls_back_to_classical_and_says_why(empty_weights: Path) -> None:
    choice = choose("auto", device="cpu")
    assert choice.segmenter.kind == "classical" and "no SAM checkpoint found" in choice.segmenter.note
    assert choice.propagator.backend == "classical-flow" and "no XMem checkpoint" in choice.propagator.note
    assert isinstance(make_segmenter("auto", device="cpu"), GrabCutSegmenter)
    assert isinstance(make_propagator_factory("auto", device="cpu")(), FlowPropagator)


def test_neural_without_checkpoint_says_what_to_download(empty_weights: Path) -> None:
    with pytest.raises(BackendUnavailable, match=r"no checkpoint for xmem: run `tam weights download xmem`"):
        make_propagator_factory("neural", device="cpu")
    need = r"no checkpoint for mobile_sam: run `tam weights download mobile_sam`"
    with pytest.raises(BackendUnavailable, match=need):
        make_segmenter("neural", device="cpu")
    with pytest.raises(BackendUnavailable, match=r"no checkpoint for sam_vit_h: run `tam weights download sam_vit_h`"):
        make_segmenter("neural", variant="vit_h", device="cpu")


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="backend 'gpu' is not one of auto, classical, neural"):
        make_segmenter("gpu")
    with pytest.raises(ValueError, match="SAM variant 'vit_x'"):
        choose("auto", variant="vit_x", device="cpu")
    if not torch.cuda.is_available():
        with pytest.raises(BackendUnavailable, match="torch sees no CUDA GPU"):
            choose("auto", device="cuda")


@pytest.mark.slow
def test_auto_picks_the_neural_models_when_their_checkpoints_are_present(empty_weights: Path) -> None:
    """Real networks with random weights saved under the catalog's file names, loaded strictly."""
    from tracking.sam import build_mobile_sam
    from tracking.xmem.network import XMem

    torch.manual_seed(0)
    torch.save(build_mobile_sam().state_dict(), empty_weights / "mobile_sam.pt")
    torch.save(XMem().state_dict(), empty_weights / "XMem.pth")
    choice = choose("auto", device="cpu")
    assert (choice.segmenter.checkpoint, choice.propagator.checkpoint) == ("mobile_sam", "xmem")
    assert "segmenter: mobile_sam" in choice.describe() and "propagator: xmem" in choice.describe()
    segmenter = make_segmenter("auto", device="cpu")
    assert segmenter.backend == "mobile_sam" and segmenter.device == "cpu"
    factory = make_propagator_factory("neural", device="cpu")
    first, second = factory(), factory()
    assert first.backend == "xmem" and first is not second
    frame = np.zeros((64, 96, 3), np.uint8)
    label = np.zeros((64, 96), np.uint8)
    label[20:40, 30:60] = 1
    first.reset([1])
    assert first.step(frame, label).shape == (2, 64, 96)
