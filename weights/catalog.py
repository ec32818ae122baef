"""The checkpoints tam can use: official URL, file name, size and checksum where published, licence, purpose.

Sizes and MD5 sums of the SAM files are the published ones (the file name carries the MD5 prefix); the
MobileSAM MD5 is the one widely used for ``weights/mobile_sam.pt``. Where nothing is published (XMem's GitHub
release, E2FGVI-HQ on Google Drive) the entry has no size/checksum and :func:`weights.verify` only checks that
the file loads as a checkpoint; pin ``sha256`` here once a trusted copy has been measured.

E2FGVI-HQ is only published on Google Drive (MCG-NKU/E2FGVI README); the URL below is Drive's direct-download
form (``drive.usercontent.google.com/download?id=...&export=download&confirm=t``), which skips the
virus-scan page for large files.

SAM 2.1 (facebookresearch/sam2, ``checkpoints/download_ckpts.sh``): Meta publishes the URLs but no sizes or
checksums, so those entries carry none (``verify`` checks presence only); each file is ``{"model": state_dict}``
and ``tracking.sam2.build.load_sam2`` loads it strictly.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WeightEntry:
    """One checkpoint file."""

    name: str
    url: str
    filename: str
    size: int | None
    md5: str | None
    sha256: str | None
    licence: str
    purpose: str
    homepage: str


_ENTRIES = [
    WeightEntry(
        name="sam_vit_b",
        url="https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth",
        filename="sam_vit_b_01ec64.pth",
        size=375042383,
        md5="01ec64d29a2fca3f0661936605ae66f8",
        sha256=None,
        licence="Apache-2.0",
        purpose="SAM ViT-B: masks from clicks/boxes (smallest original SAM)",
        homepage="https://github.com/facebookresearch/segment-anything",
    ),
    WeightEntry(
        name="sam_vit_l",
        url="https://dl.fbaipublicfiles.com/segment_anything/sam_vit_l_0b3195.pth",
        filename="sam_vit_l_0b3195.pth",
        size=1249524607,
        md5="0b3195507c641ddb6910d2bb5adee89c",
        sha256=None,
        licence="Apache-2.0",
        purpose="SAM ViT-L: masks from clicks/boxes",
        homepage="https://github.com/facebookresearch/segment-anything",
    ),
    WeightEntry(
        name="sam_vit_h",
        url="https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth",
        filename="sam_vit_h_4b8939.pth",
        size=2564550879,
        md5="4b8939a88964f0f4ff5f5b2642c598a6",
        sha256=None,
        licence="Apache-2.0",
        purpose="SAM ViT-H: masks from clicks/boxes (best quality, slowest)",
        homepage="https://github.com/facebookresearch/segment-anything",
    ),
    WeightEntry(
        name="mobile_sam",
        url="https://github.com/ChaoningZhang/MobileSAM/raw/master/weights/mobile_sam.pt",
        filename="mobile_sam.pt",
        size=None,
        md5="f3c0d8cda613564d499310dab6c812cd",
        sha256=None,
        licence="Apache-2.0",
        purpose="MobileSAM (TinyViT encoder + SAM decoder): fast masks from clicks, CPU friendly",
        homepage="https://github.com/ChaoningZhang/MobileSAM",
    ),
    WeightEntry(
        name="xmem",
        url="https://github.com/hkchengrex/XMem/releases/download/v1.0/XMem.pth",
        filename="XMem.pth",
        size=None,
        md5=None,
        sha256=None,
        licence="MIT",
        purpose="XMem (s03, default): propagates masks through the video",
        homepage="https://github.com/hkchengrex/XMem",
    ),
    WeightEntry(
        name="xmem_s012",
        url="https://github.com/hkchengrex/XMem/releases/download/v1.0/XMem-s012.pth",
        filename="XMem-s012.pth",
        size=None,
        md5=None,
        sha256=None,
        licence="MIT",
        purpose="XMem s012 (also trained on BL30K): propagates masks through the video",
        homepage="https://github.com/hkchengrex/XMem",
    ),
    WeightEntry(
        name="e2fgvi_hq",
        url="https://drive.usercontent.google.com/download?id=10wGdKSUOie0XmCr8SQ2A2FeDe-mfn5w3&export=download&confirm=t",
        filename="E2FGVI-HQ-CVPR22.pth",
        size=None,
        md5=None,
        sha256=None,
        licence="CC BY-NC 4.0 (non-commercial)",
        purpose="E2FGVI-HQ: video inpainting (fills the removed object's region)",
        homepage="https://github.com/MCG-NKU/E2FGVI",
    ),
    WeightEntry(
        name="sam2.1_hiera_tiny",
        url="https://dl.fbaipublicfiles.com/segment_anything_2/092824/sam2.1_hiera_tiny.pt",
        filename="sam2.1_hiera_tiny.pt",
        size=None,
        md5=None,
        sha256=None,
        licence="Apache-2.0",
        purpose="SAM 2.1 Hiera-T (39M): clicks on any frame -> masklet, streaming memory; the CPU default",
        homepage="https://github.com/facebookresearch/sam2",
    ),
    WeightEntry(
        name="sam2.1_hiera_small",
        url="https://dl.fbaipublicfiles.com/segment_anything_2/092824/sam2.1_hiera_small.pt",
        filename="sam2.1_hiera_small.pt",
        size=None,
        md5=None,
        sha256=None,
        licence="Apache-2.0",
        purpose="SAM 2.1 Hiera-S (46M): clicks on any frame -> masklet, streaming memory",
        homepage="https://github.com/facebookresearch/sam2",
    ),
    WeightEntry(
        name="sam2.1_hiera_base_plus",
        url="https://dl.fbaipublicfiles.com/segment_anything_2/092824/sam2.1_hiera_base_plus.pt",
        filename="sam2.1_hiera_base_plus.pt",
        size=None,
        md5=None,
        sha256=None,
        licence="Apache-2.0",
        purpose="SAM 2.1 Hiera-B+ (81M): clicks on any frame -> masklet, streaming memory",
        homepage="https://github.com/facebookresearch/sam2",
    ),
    WeightEntry(
        name="sam2.1_hiera_large",
        url="https://dl.fbaipublicfiles.com/segment_anything_2/092824/sam2.1_hiera_large.pt",
        filename="sam2.1_hiera_large.pt",
        size=None,
        md5=None,
        sha256=None,
        licence="Apache-2.0",
        purpose="SAM 2.1 Hiera-L (224M): clicks on any frame -> masklet, streaming memory (best, slowest)",
        homepage="https://github.com/facebookresearch/sam2",
    ),
]

CATALOG: dict[str, WeightEntry] = {entry.name: entry for entry in _ENTRIES}


def names() -> list[str]:
    """Every catalog name, in catalog order."""
    return list(CATALOG)


def entry(name: str) -> WeightEntry:
    """The catalog entry for ``name``; :class:`KeyError` with the valid names otherwise."""
    try:
        return CATALOG[name]
    except KeyError:
        raise KeyError(f"unknown checkpoint {name!r}; choose one of {', '.join(CATALOG)}") from None


__all__ = ["CATALOG", "WeightEntry", "entry", "names"]
