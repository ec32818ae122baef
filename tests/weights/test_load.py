"""weights.load: weights_only reading and strict loading with a useful error."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest
import torch

from weights import CheckpointMismatch, load_checkpoint, load_strict


def _net() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))


def test_round_trip_loads_strictly(tmp_path: Path) -> None:
    src, dst = _net(), _net()
    path = tmp_path / "ok.pth"
    torch.save(src.state_dict(), path)
    state = load_checkpoint(path)
    load_strict(dst, state, "toy")
    assert torch.equal(dst[0].weight, src[0].weight)


def test_mismatch_lists_missing_unexpected_and_shapes() -> None:
    state = dict(_net().state_dict())
    state.pop("0.bias")
    state["extra.weight"] = torch.zeros(1)
    state["1.weight"] = torch.zeros(5)
    with pytest.raises(CheckpointMismatch) as info:
        load_strict(_net(), state, "toy")
    text = str(info.value)
    assert "missing keys: 0.bias" in text
    assert "unexpected keys: extra.weight" in text
    assert "1.weight: checkpoint (5,) vs model (4,)" in text


def test_non_checkpoint_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "junk.pth"
    path.write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointMismatch, match="not a readable PyTorch checkpoint"):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "absent.pth")


class Evil:  # a pickled arbitrary object: weights_only must refuse it
    def __reduce__(self):
        return (print, ("pwned",))


def test_weights_only_refuses_pickled_objects(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"w": torch.zeros(1), "obj": Evil()}, path)
    with pytest.raises(CheckpointMismatch):
        load_checkpoint(path)


def test_non_mapping_checkpoint_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], path)
    with pytest.raises(CheckpointMismatch, match="not a state dict"):
        load_checkpoint(path)
    ordered = tmp_path / "ordered.pth"
    torch.save(collections.OrderedDict(a=torch.ones(2)), ordered)
    assert torch.equal(load_checkpoint(ordered)["a"], torch.ones(2))


def test_a_mapped_checkpoint_reads_the_same_and_a_legacy_file_still_loads(tmp_path: Path) -> None:
    src = _net()
    path, legacy = tmp_path / "zip.pth", tmp_path / "legacy.pth"
    torch.save(src.state_dict(), path)
    torch.save(src.state_dict(), legacy, _use_new_zipfile_serialization=False)  # cannot be memory-mapped
    for p in (path, legacy):
        state = load_checkpoint(p, mmap=True)
        assert set(state) == set(src.state_dict())
        assert all(torch.equal(state[k], v) for k, v in src.state_dict().items())


def test_check_strict_compares_keys_and_shapes_against_a_meta_network() -> None:
    from weights import check_strict

    with torch.device("meta"):
        meta = _net()
    check_strict(meta, _net().state_dict(), "toy")  # the same keys and shapes: nothing raised, nothing loaded
    state = dict(_net().state_dict())
    state["1.weight"] = torch.zeros(5)
    with pytest.raises(CheckpointMismatch, match=r"1.weight: checkpoint \(5,\) vs model \(4,\)"):
        check_strict(meta, state, "toy")
