"""Verified loading: checkpoints are plain state dicts read with ``weights_only=True`` and loaded strictly."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch


class CheckpointMismatch(RuntimeError):
    """A checkpoint's keys or shapes do not match the network built for it."""


def load_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a checkpoint on the CPU without executing pickled code."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a bad file
        raise CheckpointMismatch(
            f"{path} is not a readable PyTorch checkpoint ({type(exc).__name__}: {exc}); "
            "delete it and download it again with `tam weights download`"
        ) from exc
    if not isinstance(state, Mapping):
        raise CheckpointMismatch(f"{path} holds a {type(state).__name__}, not a state dict")
    return dict(state)


def load_strict(module: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], name: str) -> None:
    """``load_state_dict(strict=True)`` with an error that lists what differs, shapes included."""
    own = module.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    wrong_shape = [
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state_dict and tuple(state_dict[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or wrong_shape:
        parts = [f"checkpoint does not match the {name} network:"]
        for label, keys in (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", wrong_shape)):
            if keys:
                shown = ", ".join(keys[:12]) + (f", ... ({len(keys)} in all)" if len(keys) > 12 else "")
                parts.append(f"{label}: {shown}")
        parts.append(f"is this really the {name} checkpoint? Run `tam weights verify`.")
        raise CheckpointMismatch("\n".join(parts))
    module.load_state_dict(state_dict, strict=True)
