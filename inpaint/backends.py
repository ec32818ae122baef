"""Choose the removal backend: E2FGVI-HQ when its checkpoint is present, else the classical fill."""

from __future__ import annotations

from inpaint.backend import Inpainter

BACKENDS = ("auto", "classical", "neural")


class BackendUnavailable(RuntimeError):
    """``neural`` was asked for but its checkpoint is not installed."""


def make_inpainter(backend: str = "auto", device: str | None = None) -> Inpainter:
    """An inpainter for ``backend`` (``auto`` | ``classical`` | ``neural``)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown removal backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend in ("auto", "neural"):
        import weights

        path = weights.locate("e2fgvi_hq")
        if path is not None:
            from inpaint.e2fgvi import E2FGVIInpainter

            return E2FGVIInpainter.from_checkpoint(path, device=device)
        if backend == "neural":
            raise BackendUnavailable(
                "no checkpoint for e2fgvi_hq: run `tam weights download e2fgvi_hq` (or use --backend classical)"
            )
    from inpaint.classical import ClassicalInpainter

    return ClassicalInpainter()
