"""Checkpoints: the catalog, resumable verified downloads and strict loading. Imports nothing of tam's."""

from weights.load import CheckpointMismatch, load_checkpoint, load_strict

__all__ = ["CheckpointMismatch", "load_checkpoint", "load_strict"]
