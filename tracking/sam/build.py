"""Build segment-anything ``Sam`` networks (vit_b / vit_l / vit_h, MobileSAM's vit_t) and load checkpoints strictly.

segment_anything's own builders read checkpoints with a plain ``torch.load`` (arbitrary pickled code), so we
always build with ``checkpoint=None`` and load through ``weights.load_checkpoint`` (``weights_only=True``) and
``weights.load_strict`` (an error listing missing / unexpected keys). The official files are plain state
dicts of the whole ``Sam``: no renaming is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from segment_anything.build_sam import sam_model_registry
from segment_anything.modeling import MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

from tracking.sam.tiny_vit import TinyViT, TinyViTConfig
from weights import load_checkpoint, load_strict

PIXEL_MEAN = (123.675, 116.28, 103.53)
PIXEL_STD = (58.395, 57.12, 57.375)


@dataclass(frozen=True)
class SamVariant:
    """One SAM flavour: its architecture name, weights-catalog name and the backend label tam prints."""

    arch: str  # "vit_t", "vit_b", "vit_l", "vit_h"
    checkpoint_name: str  # name in the weights catalog
    backend: str  # what the CLI and the page print


VARIANTS: dict[str, SamVariant] = {
    "vit_t": SamVariant("vit_t", "mobile_sam", "mobile_sam"),
    "vit_b": SamVariant("vit_b", "sam_vit_b", "sam-vit_b"),
    "vit_l": SamVariant("vit_l", "sam_vit_l", "sam-vit_l"),
    "vit_h": SamVariant("vit_h", "sam_vit_h", "sam-vit_h"),
}
_ALIASES = {v.checkpoint_name: k for k, v in VARIANTS.items()} | {"mobile_sam": "vit_t"}


def resolve_variant(name: str) -> SamVariant:
    """Accept an architecture name (``vit_b``) or a catalog name (``sam_vit_b``, ``mobile_sam``)."""
    arch = _ALIASES.get(name, name)
    if arch not in VARIANTS:
        known = ", ".join(sorted(set(VARIANTS) | set(_ALIASES)))
        raise ValueError(f"unknown SAM variant {name!r}; use one of: {known}")
    return VARIANTS[arch]


def build_mobile_sam(config: TinyViTConfig | None = None) -> Sam:
    """MobileSAM: our TinyViT encoder with segment_anything's prompt encoder and mask decoder (random init)."""
    encoder = TinyViT(config)
    grid = encoder.img_size // 16
    sam = Sam(
        image_encoder=encoder,
        prompt_encoder=PromptEncoder(
            embed_dim=256,
            image_embedding_size=(grid, grid),
            input_image_size=(encoder.img_size, encoder.img_size),
            mask_in_chans=16,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=2, embedding_dim=256, mlp_dim=2048, num_heads=8),
            transformer_dim=256,
            iou_head_depth=3,
            iou_head_hidden_dim=256,
        ),
        pixel_mean=list(PIXEL_MEAN),
        pixel_std=list(PIXEL_STD),
    )
    return sam.eval()


def build_sam(variant: str) -> Sam:
    """An untrained ``Sam`` of the given variant, in eval mode, on the CPU (load weights with ``load_sam``)."""
    arch = resolve_variant(variant).arch
    if arch == "vit_t":
        return build_mobile_sam()
    return sam_model_registry[arch](checkpoint=None).eval()


def load_sam(variant: str, path: str | Path, device: str | torch.device | None = None) -> Sam:
    """Build ``variant``, load the checkpoint at ``path`` strictly, move it to ``device`` (default: CUDA if any)."""
    info = resolve_variant(variant)
    state = load_checkpoint(path)
    sam = build_sam(info.arch)
    load_strict(sam, state, info.checkpoint_name)
    return sam.eval().to(default_device() if device is None else device)


def default_device() -> torch.device:
    """CUDA when present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
