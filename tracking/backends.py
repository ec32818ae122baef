"""Choose the segmenter and propagator: ``auto`` (neural when its checkpoint is present), ``classical`` or ``neural``.

``auto`` picks, per stage, the neural model when ``weights.locate`` finds its checkpoint and the classical
backend otherwise: on the CPU MobileSAM is preferred (then SAM vit_b, vit_l, vit_h); on CUDA the largest SAM
found (vit_h, vit_l, vit_b, then MobileSAM). ``neural`` refuses to fall back and says which download is missing.
``sam2`` runs SAM 2.1 for both stages (``tracking.sam2``): on the CPU the smallest checkpoint found (hiera tiny,
small, base+, large), on CUDA the largest; it never falls back either.
``choose`` decides without loading anything, so the CLI and the page can print ``describe(...)`` up front.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tracking.backend import Propagator, Segmenter

BackendName = Literal["auto", "classical", "neural", "sam2"]
BACKENDS: tuple[str, ...] = ("auto", "classical", "neural", "sam2")

SAM_CPU_ORDER = ("mobile_sam", "sam_vit_b", "sam_vit_l", "sam_vit_h")
SAM_CUDA_ORDER = ("sam_vit_h", "sam_vit_l", "sam_vit_b", "mobile_sam")
XMEM_ORDER = ("xmem", "xmem_s012")
SAM2_CPU_ORDER = ("sam2.1_hiera_tiny", "sam2.1_hiera_small", "sam2.1_hiera_base_plus", "sam2.1_hiera_large")
SAM2_CUDA_ORDER = tuple(reversed(SAM2_CPU_ORDER))
_SAM_ALIASES = {
    "vit_t": "mobile_sam",
    "mobile_sam": "mobile_sam",
    "vit_b": "sam_vit_b",
    "vit_l": "sam_vit_l",
    "vit_h": "sam_vit_h",
    "sam_vit_b": "sam_vit_b",
    "sam_vit_l": "sam_vit_l",
    "sam_vit_h": "sam_vit_h",
}


class BackendUnavailable(RuntimeError):
    """The requested backend cannot run here (usually: its checkpoint has not been downloaded)."""


@dataclass(frozen=True)
class StageChoice:
    """What one stage will run: ``kind`` is "neural" or "classical"; ``checkpoint`` names the weights used."""

    kind: str
    backend: str  # the label the backend object will carry, e.g. "mobile_sam", "xmem", "classical-grabcut"
    checkpoint: str | None = None  # catalog name
    path: Path | None = None
    note: str = ""  # why this was chosen (shown in logs)


@dataclass(frozen=True)
class BackendChoice:
    """The segmenter and propagator a run will use, and the device."""

    segmenter: StageChoice
    propagator: StageChoice
    device: str

    def describe(self) -> str:
        def one(stage: str, c: StageChoice) -> str:
            extra = f" ({c.note})" if c.note else ""
            return f"{stage}: {c.backend}{extra}"

        return f"{one('segmenter', self.segmenter)}; {one('propagator', self.propagator)}; device: {self.device}"


def default_device(device: str | None = None) -> str:
    """``device`` when given (validated), else "cuda" when torch sees a GPU, else "cpu"."""
    import torch

    if device is not None:
        dev = str(device)
        if dev.startswith("cuda") and not torch.cuda.is_available():
            raise BackendUnavailable(f"device {dev!r} was asked for but torch sees no CUDA GPU: use device='cpu'")
        if not (dev == "cpu" or dev.startswith("cuda") or dev == "mps"):
            raise ValueError(f"device {dev!r} is not 'cpu', 'cuda', 'cuda:N' or 'mps'")
        return dev
    return "cuda" if torch.cuda.is_available() else "cpu"


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"backend {backend!r} is not one of {', '.join(BACKENDS)}")


def _locate(name: str) -> Path | None:
    import weights

    return weights.locate(name)


def _missing(name: str) -> BackendUnavailable:
    return BackendUnavailable(f"no checkpoint for {name}: run `tam weights download {name}`")


def choose_sam2(device: str | None = None) -> StageChoice:
    """The SAM 2.1 checkpoint both stages use with ``--backend sam2`` (never a fallback)."""
    dev = default_device(device)
    order = SAM2_CPU_ORDER if dev == "cpu" else SAM2_CUDA_ORDER
    for name in order:
        path = _locate(name)
        if path is not None:
            label = name.replace("sam2.1_", "sam2.1-")
            return StageChoice("neural", label, checkpoint=name, path=path, note=f"{path.name} on {dev}")
    raise _missing(order[0])


def choose_segmenter(backend: str = "auto", variant: str | None = None, device: str | None = None) -> StageChoice:
    """Decide the segmenter without loading it."""
    _check_backend(backend)
    if backend == "sam2":
        return choose_sam2(device)
    classical = StageChoice("classical", "classical-grabcut", note="GrabCut, no weights")
    if backend == "classical":
        return classical
    dev = default_device(device)
    if variant is not None:
        if variant not in _SAM_ALIASES:
            raise ValueError(f"SAM variant {variant!r} is not one of {', '.join(sorted(_SAM_ALIASES))}")
        order: tuple[str, ...] = (_SAM_ALIASES[variant],)
    else:
        order = SAM_CPU_ORDER if dev == "cpu" else SAM_CUDA_ORDER
    for name in order:
        path = _locate(name)
        if path is not None:
            label = "mobile_sam" if name == "mobile_sam" else name.replace("sam_", "sam-")
            return StageChoice("neural", label, checkpoint=name, path=path, note=f"{path.name} on {dev}")
    if backend == "neural":
        raise _missing(order[0])
    return StageChoice("classical", "classical-grabcut", note=f"no SAM checkpoint found ({', '.join(order)})")


def choose_propagator(backend: str = "auto", device: str | None = None) -> StageChoice:
    """Decide the propagator without loading it."""
    _check_backend(backend)
    if backend == "sam2":
        return choose_sam2(device)
    if backend == "classical":
        return StageChoice("classical", "classical-flow", note="optical flow, no weights")
    dev = default_device(device)
    for name in XMEM_ORDER:
        path = _locate(name)
        if path is not None:
            return StageChoice("neural", "xmem", checkpoint=name, path=path, note=f"{path.name} on {dev}")
    if backend == "neural":
        raise _missing(XMEM_ORDER[0])
    return StageChoice("classical", "classical-flow", note="no XMem checkpoint found")


def choose(backend: str = "auto", variant: str | None = None, device: str | None = None) -> BackendChoice:
    """Both stages' choices and the device."""
    return BackendChoice(
        segmenter=choose_segmenter(backend, variant, device),
        propagator=choose_propagator(backend, device),
        device=default_device(device) if backend != "classical" else "cpu",
    )


def describe(backend: str = "auto", variant: str | None = None, device: str | None = None) -> str:
    """One line for logs and the page, e.g. ``segmenter: mobile_sam (mobile_sam.pt on cpu); propagator: ...``."""
    return choose(backend, variant, device).describe()


def make_segmenter(backend: str = "auto", variant: str | None = None, device: str | None = None) -> Segmenter:
    """Build the segmenter ``choose_segmenter`` picks."""
    choice = choose_segmenter(backend, variant, device)
    if choice.kind == "classical":
        from tracking.classical import GrabCutSegmenter

        return GrabCutSegmenter()
    assert choice.checkpoint is not None and choice.path is not None
    if backend == "sam2":
        from tracking.sam2.backend import Sam2Segmenter
        from tracking.sam2.build import resolve_size

        size = resolve_size(choice.checkpoint)
        return Sam2Segmenter.from_checkpoint(choice.path, size, device=default_device(device))
    from tracking.sam import SamSegmenter

    return SamSegmenter.from_checkpoint(choice.checkpoint, choice.path, device=default_device(device))


def make_propagator_factory(
    backend: str = "auto", device: str | None = None, segmenter: Segmenter | None = None
) -> Callable[[], Propagator]:
    """A factory of fresh propagators for the backend ``choose_propagator`` picks.

    For XMem the checkpoint is read once, on the first call; every call then returns a new propagator
    (its own memory) sharing that network. With ``sam2``, one network serves both stages: pass the
    ``Sam2Segmenter`` already built and its model is reused instead of reading the checkpoint a second time.
    """
    choice = choose_propagator(backend, device)
    if choice.kind == "classical":
        from tracking.classical import FlowPropagator

        return FlowPropagator
    assert choice.path is not None
    path = choice.path
    dev = default_device(device)
    loaded: list[Any] = []
    if backend == "sam2":
        from tracking.sam2.backend import Sam2Propagator, Sam2Segmenter
        from tracking.sam2.build import load_sam2, resolve_size

        assert choice.checkpoint is not None
        size = resolve_size(choice.checkpoint)

        if isinstance(segmenter, Sam2Segmenter):
            loaded.append(segmenter.model)

        def make_sam2() -> Propagator:
            if not loaded:  # the network is read once; every pass gets its own memory over it
                loaded.append(load_sam2(path, size, dev))
            return Sam2Propagator(loaded[0], size)

        return make_sam2

    def make_xmem() -> Propagator:
        from tracking.xmem.propagator import XMemPropagator

        if not loaded:
            first = XMemPropagator.from_checkpoint(path, device=dev)
            loaded.append(first)
            return first
        # the network is read once; each propagator gets its own memory over it
        return XMemPropagator(loaded[0].network, loaded[0].config, dev)

    return make_xmem
