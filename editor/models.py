"""The checkpoints the page offers: what each improves, its size and licence, and one download for the set.

Downloads go through ``weights.download`` (the code behind ``tam weights download``: resumable, verified,
never a half file under the final name). ``$TAM_WEIGHTS_MIRROR`` may name a JSON file that points some
checkpoints at another server (a local mirror for machines without internet access):
``{"xmem": {"url": "http://mirror/XMem.pth", "sha256": "...", "size": 123}}``; a checksum given there is the
one verified.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import weights
from editor.errors import InputError

# The pair that makes the neural tracking run on a CPU: MobileSAM for clicks, XMem for propagation.
RECOMMENDED: tuple[str, ...] = ("mobile_sam", "xmem")
IMPROVES = {
    "mobile_sam": "Clicks → masks: follows object edges much better than GrabCut; fast on a CPU.",
    "sam_vit_b": "Clicks → masks: the original SAM, smallest model; better edges than MobileSAM, slower.",
    "sam_vit_l": "Clicks → masks: larger SAM; for a GPU.",
    "sam_vit_h": "Clicks → masks: the best SAM; for a GPU.",
    "xmem": "Tracking through the clip: keeps fast, deforming objects that optical flow loses.",
    "xmem_s012": "Tracking: XMem trained on more data (BL30K); an alternative to xmem.",
    "e2fgvi_hq": "Removal: fills large objects with learned video inpainting instead of a smear (non-commercial).",
}


@dataclass(frozen=True)
class ModelOffer:
    """One checkpoint as the page lists it."""

    name: str
    filename: str
    size: int | None  # bytes, when published
    licence: str
    improves: str
    present: bool

    @property
    def size_text(self) -> str:
        return f"{self.size / 1e6:.0f} MB" if self.size else "size not published"


def mirror_entries() -> dict[str, weights.WeightEntry]:
    """Catalog entries with the mirror's URL (and checksum, size) where ``$TAM_WEIGHTS_MIRROR`` names one."""
    entries = weights.catalog()
    path = os.environ.get("TAM_WEIGHTS_MIRROR")
    if not path:
        return entries
    try:
        mirror = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"the weights mirror list {Path(path).name} cannot be read ({exc}): fix or unset "
                         "TAM_WEIGHTS_MIRROR") from exc
    for name, where in mirror.items():
        if name in entries and isinstance(where, dict) and "url" in where:
            overrides = {k: where[k] for k in ("url", "sha256", "md5", "size") if k in where}
            if "sha256" in overrides or "size" in overrides:
                overrides.setdefault("md5", None)
            entries[name] = dataclasses.replace(entries[name], **overrides)
    return entries


def offers() -> list[ModelOffer]:
    """Every checkpoint of the catalog with what it improves and whether it is already here."""
    return [
        ModelOffer(e.name, e.filename, e.size, e.licence, IMPROVES.get(e.name, e.purpose),
                   weights.locate(e) is not None)
        for e in mirror_entries().values()
    ]


def missing(names: Sequence[str] = RECOMMENDED) -> list[str]:
    """Which of ``names`` are not downloaded yet."""
    entries = mirror_entries()
    return [n for n in names if weights.locate(entries[n]) is None]


def download(names: Sequence[str], progress: Callable[[int, int], None] | None = None,
             message: Callable[[str], None] | None = None) -> list[Path]:
    """Download (resume, verify) each checkpoint of ``names`` not present yet; returns their paths."""
    entries = mirror_entries()
    paths = []
    for i, name in enumerate(names):
        entry = entries[name]
        if message is not None:
            message(f"Downloading {name} ({i + 1}/{len(names)})")
        paths.append(weights.download(entry, progress=progress))
    return paths
