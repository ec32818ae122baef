"""SAM stage: segment-anything's ``Sam`` (vit_b/l/h) or MobileSAM (our TinyViT) behind the ``Segmenter`` protocol."""

from tracking.sam.build import (
    VARIANTS,
    SamVariant,
    build_mobile_sam,
    build_sam,
    default_device,
    load_sam,
    resolve_variant,
)
from tracking.sam.segmenter import EmbeddingCache, ImageEmbedding, SamSegmenter, prompts_from_mask
from tracking.sam.tiny_vit import TinyViT, TinyViTConfig

__all__ = [
    "VARIANTS",
    "EmbeddingCache",
    "ImageEmbedding",
    "SamSegmenter",
    "SamVariant",
    "TinyViT",
    "TinyViTConfig",
    "build_mobile_sam",
    "build_sam",
    "default_device",
    "load_sam",
    "prompts_from_mask",
    "resolve_variant",
]
