"""Build a SAM 2.1 network of a given size and load an official checkpoint (``{"model": state_dict}``) strictly."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from tracking.sam2.model import SIZES, Sam2Config, Sam2Model
from weights import CheckpointMismatch, load_checkpoint, load_strict

# catalog name -> model size
CHECKPOINTS: dict[str, str] = {
    "sam2.1_hiera_tiny": "tiny",
    "sam2.1_hiera_small": "small",
    "sam2.1_hiera_base_plus": "base_plus",
    "sam2.1_hiera_large": "large",
}


def resolve_size(name: str) -> str:
    """Accept a size (``tiny``) or a catalog name (``sam2.1_hiera_tiny``)."""
    size = CHECKPOINTS.get(name, name)
    if size not in SIZES:
        known = ", ".join([*SIZES, *CHECKPOINTS])
        raise ValueError(f"unknown SAM 2.1 model {name!r}; use one of: {known}")
    return size


def build_sam2(size: str = "tiny") -> Sam2Model:
    """An untrained SAM 2.1 network of ``size`` on the CPU, in eval mode."""
    return Sam2Model(Sam2Config(size=resolve_size(size))).eval()


def model_state(checkpoint: Mapping[str, object], source: str) -> Mapping[str, torch.Tensor]:
    """The state dict inside an official file (``{"model": ...}``); a bare state dict is accepted too."""
    state = checkpoint.get("model", checkpoint) if "model" in checkpoint else checkpoint
    if not isinstance(state, Mapping):
        raise CheckpointMismatch(f"{source}: 'model' holds a {type(state).__name__}, not a state dict")
    return state  # type: ignore[return-value]


def load_sam2(path: str | Path, size: str = "tiny", device: str | torch.device = "cpu") -> Sam2Model:
    """Read ``path`` (weights only), load it strictly into a ``size`` network, move it to ``device``.

    A wrong or partial file raises ``weights.CheckpointMismatch`` listing the missing / unexpected keys.
    """
    size = resolve_size(size)
    model = build_sam2(size)
    state = model_state(load_checkpoint(path), str(path))
    load_strict(model, state, f"SAM 2.1 hiera_{size}")
    return model.to(device).eval()
