"""Loading XMem checkpoints: strict keys, readable errors, the single-object adaptation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.tracking.test_xmem_conformance import synth_state_dict
from tracking.xmem.network import XMem, adapt_checkpoint, dims_from_checkpoint
from tracking.xmem.propagator import XMemPropagator
from weights import CheckpointMismatch


@pytest.mark.conformance
def test_conformance_strict_load_from_file(conformance_dir: Path, tmp_path: Path) -> None:
    sd = synth_state_dict(conformance_dir)
    path = tmp_path / "XMem.pth"
    torch.save(sd, path)
    prop = XMemPropagator.from_checkpoint(path, device="cpu")
    assert prop.backend == "xmem" and prop.device == "cpu"
    got = prop.network.state_dict()
    assert list(got) == list(sd)
    assert all(torch.equal(got[k], sd[k]) for k in ("key_proj.key_proj.weight", "decoder.pred.bias"))


def test_wrong_checkpoint_lists_missing_and_unexpected_keys(conformance_dir: Path) -> None:
    sd = dict(synth_state_dict(conformance_dir))
    del sd["decoder.pred.weight"]
    sd["decoder.extra.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointMismatch) as err:
        XMem.from_state_dict(sd)
    msg = str(err.value)
    assert "missing keys: decoder.pred.weight" in msg
    assert "unexpected keys: decoder.extra.weight" in msg


def test_wrong_shape_is_refused(conformance_dir: Path) -> None:
    sd = dict(synth_state_dict(conformance_dir))
    sd["decoder.pred.bias"] = torch.zeros(2)
    with pytest.raises(CheckpointMismatch, match="decoder.pred.bias"):
        XMem.from_state_dict(sd)


def test_not_an_xmem_checkpoint_says_what_to_do() -> None:
    with pytest.raises(CheckpointMismatch, match="tam weights download xmem"):
        dims_from_checkpoint({"model.weight": torch.zeros(1)})


def test_single_object_checkpoint_gets_a_zero_others_channel() -> None:
    w = torch.randn(64, 4, 7, 7)
    out = adapt_checkpoint({"value_encoder.conv1.weight": w, "other": torch.ones(1)})
    assert out["value_encoder.conv1.weight"].shape == (64, 5, 7, 7)
    assert torch.equal(out["value_encoder.conv1.weight"][:, :4], w)
    assert not out["value_encoder.conv1.weight"][:, 4].any()
    assert set(out) == {"value_encoder.conv1.weight", "other"}


def test_dims_follow_the_checkpoint(conformance_dir: Path) -> None:
    assert dims_from_checkpoint(synth_state_dict(conformance_dir)) == (64, 512, 64)
