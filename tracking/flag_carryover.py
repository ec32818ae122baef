"""Needs-review flags that outlive a correction: a flag stays until the mask it was raised on changes.

The rules of ``tracking.flags`` compare each frame with its nearest keyframe. A correction adds a keyframe,
and the frames near it are then judged against the corrected frame's mask: after one small click on a
drifted mask, that reference is itself drifted, and every flag around it disappears although no mask there
changed (the kitten of trackanything-sample2: 24 frames flagged, one negative click on frame 75, none).
A correction says something about the frame it was made on, and about the frames whose masks it changed;
it says nothing about a frame whose mask is the same as before. So a flag is kept, with its reasons, as long
as the object's mask on that frame is the same (:class:`MaskPrint`: the mask, kept compressed; the same at
IoU >= 0.8 with it) and the frame has not become one of the object's keyframes. A frame whose mask the
re-track did change is judged afresh by the rules.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from tracking.flags import Flags

Prints = dict[int, dict[int, "MaskPrint"]]  # frame -> object id -> the mask a flag was raised on
# two masks are "the same" for review at this IoU or more: the overlap the flags benchmark calls a good mask
# against the truth (``benchmarks.flags.GOOD_IOU``), so a mask this close to a flagged one is as suspect as it
SAME_MASK = 0.8


@dataclass(frozen=True)
class MaskPrint:
    """A flagged mask, kept with the flags: its area, its bounding box and the bits inside the box (packed,
    compressed: about 2 KB for the kitten's 88,000-pixel mask), so the overlap with a later mask is exact."""

    area: int
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive); all 0 for an empty mask
    bits: str  # the mask inside ``box``, row-major, packed 8 pixels a byte, zlib, base64

    @classmethod
    def of(cls, mask: np.ndarray) -> MaskPrint:
        """The print of a bool mask."""
        ys, xs = np.nonzero(mask)
        if not len(xs):
            return cls(0, (0, 0, 0, 0), "")
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        crop = np.ascontiguousarray(mask[box[1]:box[3], box[0]:box[2]], bool)
        return cls(int(len(xs)), box, base64.b64encode(zlib.compress(np.packbits(crop).tobytes())).decode())

    def crop(self) -> np.ndarray:
        w, h = self.box[2] - self.box[0], self.box[3] - self.box[1]
        packed = np.frombuffer(zlib.decompress(base64.b64decode(self.bits)), np.uint8)
        return np.unpackbits(packed)[: w * h].reshape(h, w).astype(bool)

    def overlap(self, other: MaskPrint) -> float:
        """IoU of the two masks (1.0 for two empty ones)."""
        if self.area == 0 or other.area == 0:
            return 1.0 if self.area == other.area else 0.0
        x0, y0 = min(self.box[0], other.box[0]), min(self.box[1], other.box[1])
        x1, y1 = max(self.box[2], other.box[2]), max(self.box[3], other.box[3])
        a, b = np.zeros((y1 - y0, x1 - x0), bool), np.zeros((y1 - y0, x1 - x0), bool)
        for canvas, p in ((a, self), (b, other)):
            canvas[p.box[1] - y0:p.box[3] - y0, p.box[0] - x0:p.box[2] - x0] = p.crop()
        inter = int(np.logical_and(a, b).sum())
        return inter / (self.area + other.area - inter)

    def to_json(self) -> dict:
        return {"area": self.area, "box": list(self.box), "bits": self.bits}

    @classmethod
    def from_json(cls, data: Mapping) -> MaskPrint:
        x0, y0, x1, y1 = (int(v) for v in data["box"])
        return cls(int(data["area"]), (x0, y0, x1, y1), str(data["bits"]))


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
    min_overlap: float = SAME_MASK,
) -> Flags:
    """``fresh`` flags plus the ``previous`` flags whose masks have not changed since they were raised.

    A previous flag is dropped when its object is gone (not in ``keyframes``), the frame is now one of the
    object's keyframes (a person corrected it), the frame has no label map, no print was kept for it, the
    flagged mask was empty (the rules judge an empty mask by the frames next to it, not by a keyframe), or the
    mask there changed (IoU with the flagged one below ``min_overlap``). Kept reasons are added after the
    fresh ones, once each.
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
            if kept.overlap(MaskPrint.of(labels == obj)) < min_overlap:
                continue
            now = out.setdefault(t, {}).get(obj, ())
            out[t][obj] = now + tuple(r for r in reasons if r not in now)
    return dict(sorted(out.items()))
