"""Which network each catalog checkpoint is for, so ``tam weights verify`` can load a file into it.

``weights`` is a leaf that imports nothing of tam's; this module (used by the CLI) knows the networks in
``tracking`` and ``inpaint`` and builds the one a catalog name needs, on the CPU, then loads the state dict
strictly (``weights.load_strict``: a :class:`weights.CheckpointMismatch` listing what differs).
"""

from __future__ import annotations

from collections.abc import Callable


def network_check(name: str) -> Callable[[dict], object] | None:
    """A function that loads a state dict into the network of catalog entry ``name``; None if tam has none."""
    if name.startswith("xmem"):
        from tracking.xmem.network import XMem

        return XMem.from_state_dict
    if name == "e2fgvi_hq":

        def e2fgvi(state: dict) -> object:
            from inpaint.e2fgvi import InpaintGenerator
            from weights import load_strict

            model = InpaintGenerator()
            load_strict(model, state, "e2fgvi_hq")
            return model

        return e2fgvi
    from tracking.sam.build import _ALIASES, build_sam, resolve_variant

    if name in _ALIASES:

        def sam(state: dict) -> object:
            from weights import load_strict

            info = resolve_variant(name)
            model = build_sam(info.arch)
            load_strict(model, state, info.checkpoint_name)
            return model

        return sam
    return None


__all__ = ["network_check"]
