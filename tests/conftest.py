"""Shared test fixtures: where ../shared is, and skips with a reason when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TAM_SHARED", ROOT.parent / "shared"))
CLIPS = SHARED / "clips"
CONFORMANCE = SHARED / "conformance"


@pytest.fixture(scope="session")
def clips_dir() -> Path:
    if not CLIPS.is_dir():
        pytest.skip(f"real clips not found at {CLIPS} (they live in ../shared/clips beside the checkout)")
    return CLIPS


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    if not CONFORMANCE.is_dir():
        pytest.skip(f"conformance fixtures not found at {CONFORMANCE} (../shared/conformance)")
    return CONFORMANCE


@pytest.fixture(autouse=True)
def _few_threads():
    """Tests run on small machines; keep torch from oversubscribing the cores."""
    try:
        import torch

        torch.set_num_threads(min(2, os.cpu_count() or 1))
    except ImportError:
        pass
    yield


@pytest.fixture
def one_torch_thread():
    """One torch thread for small models: on a shared 2-core machine two OpenMP threads spin and run them
    up to ~10x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
