"""Fixtures of the tracking tests: the SAM 2.1 fixture folder, its synthetic tiny weights and the network."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
import torch

from tracking.sam2.build import build_sam2
from weights import load_strict


@pytest.fixture(scope="module")
def sam2_dir(conformance_dir: Path) -> Path:
    path = conformance_dir / "sam2"
    if not (path / "manifest_t.json").is_file():
        pytest.skip(f"SAM 2.1 fixtures not found in {path}")
    return path


@pytest.fixture(scope="module")
def tiny_state(conformance_dir: Path, sam2_dir: Path) -> dict[str, torch.Tensor]:
    """The synthetic hiera-tiny state dict of ../shared/conformance/sam2, digest checked."""
    sys.path.insert(0, str(conformance_dir))
    try:
        synth = importlib.import_module("synth_weights")
    finally:
        sys.path.remove(str(conformance_dir))
    manifest = synth.load_manifest(str(sam2_dir / "manifest_t.json"))
    state = synth.synth_state_dict(manifest)
    assert synth.state_dict_digest(state) == manifest["synth_sha256"]
    return dict(state)


@pytest.fixture(scope="module")
def model(tiny_state):
    net = build_sam2("tiny")
    load_strict(net, tiny_state, "SAM 2.1 hiera_tiny")
    return net.eval()
