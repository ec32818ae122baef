"""Needs-review flags that outlive a correction: a flag stays until the mask it was raised on changes.

The rules of ``tracking.flags`` compare each frame with its nearest keyframe. A correction adds a keyframe,
and the frames near it are then judged against the corrected frame's mask: after one small click on a
drifted mask, that reference is itself drifted, and every flag around it disappears although no mask there
changed (the kitten of trackanything-sample2: 24 frames flagged, one negative click on frame 75, none).
A correction says something about the frame it was made on, and about the frames whose masks it changed;
it says nothing about a frame whose mask is the same as before. So a flag is kept, with its reasons, as long
as the object's mask on that frame is unchanged (:class:`MaskPrint`: a coarse picture of the mask, compared
by overlap) and the frame has not become one of the object's keyframes. A frame whose mask the re-track did
change is judged afresh by the rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from tracking.flags import Flags

Prints = dict[int, dict[int, "MaskPrint"]]  # frame -> object id -> the mask a flag was raised on


@dataclass(frozen=True)
class MaskPrint:
    """A flagged mask, small enough to keep with the flags: its area and a coarse bit picture of it."""

    area: int
    shape: tuple[int, int]  # (rows, columns) of ``bits``
    bits: str  # the coarse mask, row-major, packed 8 pixels a byte, in hex

    SIDE = 64  # the longer side of the coarse picture, in cells

    @classmethod
    def of(cls, mask: np.ndarray) -> MaskPrint:
        """The print of a bool mask (shrunk by area, so a thin object still leaves cells)."""
        h, w = mask.shape
        scale = cls.SIDE / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        coarse = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0.25
        return cls(int(mask.sum()), (size[1], size[0]), np.packbits(coarse).tobytes().hex())

    def cells(self) -> np.ndarray:
        n = self.shape[0] * self.shape[1]
        return np.unpackbits(np.frombuffer(bytes.fromhex(self.bits), np.uint8))[:n].reshape(self.shape).astype(bool)

    def same_mask(self, other: MaskPrint, min_overlap: float) -> bool:
        """Whether two prints show the same mask: the coarse pictures overlap by ``min_overlap`` (IoU) and the
        areas differ by less than ``1 - min_overlap``."""
        if self.shape != other.shape:
            return False
        if self.area == 0 or other.area == 0:
            return self.area == other.area
        if abs(self.area - other.area) > (1.0 - min_overlap) * max(self.area, other.area):
            return False
        a, b = self.cells(), other.cells()
        union = int(np.logical_or(a, b).sum())
        return union == 0 or np.logical_and(a, b).sum() / union >= min_overlap

    def to_json(self) -> dict:
        return {"area": self.area, "shape": list(self.shape), "bits": self.bits}

    @classmethod
    def from_json(cls, data: Mapping) -> MaskPrint:
        return cls(int(data["area"]), (int(data["shape"][0]), int(data["shape"][1])), str(data["bits"]))


def prints_of(flags: Flags, masks: Sequence[np.ndarray | None]) -> Prints:
    """The print of every flagged (frame, object) mask (to keep beside the flags)."""
    out: Prints = {}
    for t, objs in flags.items():
        labels = masks[t]
        if labels is not None:
            out[t] = {o: MaskPrint.of(labels == o) for o in objs}
    return out


def carry_over(
    fresh: Flags,
    previous: Flags,
    previous_prints: Mapping[int, Mapping[int, MaskPrint]],
    masks: Sequence[np.ndarray | None],
    keyframes: Mapping[int, Sequence[int]],
    min_overlap: float = 0.9,
) -> Flags:
    """``fresh`` flags plus the ``previous`` flags whose masks have not changed since they were raised.

    A previous flag is dropped when its object is gone (not in ``keyframes``), the frame is now one of the
    object's keyframes (a person corrected it), the frame has no label map, no print was kept for it, the
    flagged mask was empty (the rules judge an empty mask by the frames next to it, not by a keyframe), or the
    mask there changed (:meth:`MaskPrint.same_mask`). Kept reasons are added after the fresh ones, once each.
    """
    out: Flags = {t: dict(objs) for t, objs in fresh.items()}
    for t, objs in previous.items():
        labels = masks[t] if 0 <= t < len(masks) else None
        if labels is None:
            continue
        for obj, reasons in objs.items():
            kept = previous_prints.get(t, {}).get(obj)
            if obj not in keyframes or t in keyframes[obj] or kept is None or kept.area == 0:
                continue  # an empty mask is judged by its neighbours, not by a keyframe: the rules stay in charge
            if not kept.same_mask(MaskPrint.of(labels == obj), min_overlap):
                continue
            now = out.setdefault(t, {}).get(obj, ())
            out[t][obj] = now + tuple(r for r in reasons if r not in now)
    return dict(sorted(out.items()))
