"""Which network each catalog checkpoint is for, so ``tam weights verify`` can check a file against it.

``weights`` is a leaf that imports nothing of tam's; this module (used by the CLI) knows the networks in
``tracking`` and ``inpaint`` and builds the one a catalog name needs on the meta device (its parameters have
shapes but no memory; E2FGVI-HQ, which cannot be built there, on the CPU), then compares the state dict's keys and
shapes with it strictly (``weights.check_strict``: a :class:`weights.CheckpointMismatch` listing what differs).
With the file memory-mapped by ``weights.verify``, checking sam_vit_h costs neither its 2.5 GB nor the network's;
loading for real (``weights.load_strict``) happens where a model is used.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def network_check(name: str) -> Callable[[dict], object] | None:
    """A function that checks a state dict against the network of catalog entry ``name`` (keys and shapes, on
    the meta device, nothing loaded); None if tam has no network for it."""
    from weights import check_strict

    if name.startswith("xmem"):

        def xmem(state: dict) -> object:
            from tracking.xmem.network import XMem, adapt_checkpoint, dims_from_checkpoint

            state = adapt_checkpoint(state)
            with torch.device("meta"):
                model = XMem(*dims_from_checkpoint(state))
            check_strict(model, state, "xmem")
            return model

        return xmem
    if name == "e2fgvi_hq":

        def e2fgvi(state: dict) -> object:
            from inpaint.e2fgvi import InpaintGenerator

            model = InpaintGenerator()  # on the CPU: its attention masks need nonzero(), which meta cannot run (165 MB)
            check_strict(model, state, "e2fgvi_hq")
            return model

        return e2fgvi
    from tracking.sam.build import _ALIASES, build_sam, resolve_variant

    if name in _ALIASES:

        def sam(state: dict) -> object:
            info = resolve_variant(name)
            with torch.device("meta"):
                model = build_sam(info.arch)
            check_strict(model, state, info.checkpoint_name)
            return model

        return sam
    return None


__all__ = ["network_check"]
