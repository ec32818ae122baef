"""Checkpoints: the catalog, resumable verified downloads and strict loading. Imports nothing of tam's."""

from weights.catalog import CATALOG, WeightEntry
from weights.download import (
    ChecksumMismatch,
    DownloadError,
    UnknownCheckpoint,
    VerifyResult,
    WeightsError,
    catalog,
    download,
    locate,
    verify,
    weights_dir,
)
from weights.load import CheckpointMismatch, check_strict, load_checkpoint, load_strict

__all__ = [
    "CATALOG",
    "CheckpointMismatch",
    "ChecksumMismatch",
    "DownloadError",
    "UnknownCheckpoint",
    "VerifyResult",
    "WeightEntry",
    "WeightsError",
    "catalog",
    "check_strict",
    "download",
    "load_checkpoint",
    "load_strict",
    "locate",
    "verify",
    "weights_dir",
]
