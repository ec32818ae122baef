"""Verified loading: checkpoints are plain state dicts read with ``weights_only=True`` and loaded strictly."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch


class CheckpointMismatch(RuntimeError):
    """A checkpoint's keys or shapes do not match the network built for it, or the file is not a checkpoint.

    The first line of the message says what to do (the CLI prints only that line); details follow."""


def fix_hint(name: str | None) -> str:
    """What to do about a broken checkpoint: ``delete it and run tam weights download NAME``."""
    return f"delete it and run tam weights download {name or 'NAME'}"


def _catalog_name(path: Path) -> str | None:
    from weights.catalog import CATALOG

    return next((e.name for e in CATALOG.values() if e.filename == path.name), None)


def load_checkpoint(path: str | Path, *, mmap: bool = False) -> dict[str, torch.Tensor]:
    """Read a checkpoint on the CPU without executing pickled code (``weights_only=True``).

    ``mmap=True`` maps the tensors from the file instead of reading them (``torch.load(mmap=True)``): their keys,
    shapes and dtypes are there at once and only the bytes a caller touches are read, so checking a 2.5 GB
    checkpoint's keys and shapes does not cost 2.5 GB of memory. A file in the legacy (pre-zip) format cannot be
    mapped and is read whole."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    hint = fix_hint(_catalog_name(path))
    try:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
        except RuntimeError as exc:
            if not mmap or "mmap" not in str(exc):
                raise
            state = torch.load(path, map_location="cpu", weights_only=True)  # a legacy file: read, not mapped
    except Exception as exc:  # torch raises several types for a bad file
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise CheckpointMismatch(
            f"{path} is not a readable PyTorch checkpoint ({type(exc).__name__}); {hint}\n{detail}"
        ) from exc
    if not isinstance(state, Mapping):
        raise CheckpointMismatch(f"{path} holds a {type(state).__name__}, not a state dict; {hint}")
    return dict(state)


def load_strict(module: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], name: str) -> None:
    """``load_state_dict(strict=True)`` with an error that lists what differs, shapes included."""
    check_strict(module, state_dict, name)
    module.load_state_dict(state_dict, strict=True)


def check_strict(module: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], name: str) -> None:
    """Raise :class:`CheckpointMismatch` (listing what differs) unless ``state_dict`` has exactly ``module``'s keys
    and shapes. Loads nothing: ``module`` may live on the meta device (no memory for its weights)."""
    own = module.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    wrong_shape = [
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state_dict and tuple(state_dict[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or wrong_shape:
        counts = ", ".join(f"{len(keys)} {label}" for label, keys in
                           (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", wrong_shape))
                           if keys)
        parts = [f"the checkpoint does not match the {name} network ({counts}); {fix_hint(name)}"]
        for label, keys in (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", wrong_shape)):
            if keys:
                shown = ", ".join(keys[:12]) + (f", ... ({len(keys)} in all)" if len(keys) > 12 else "")
                parts.append(f"{label}: {shown}")
        raise CheckpointMismatch("\n".join(parts))
