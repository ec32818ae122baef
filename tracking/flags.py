"""Needs-review flags: which (frame, object) masks look wrong, in plain words, so a person checks ten frames.

Pure functions over what tracking leaves behind: the label maps, the keyframes, and the per-frame signals the
session records while it propagates (:class:`FrameSignal`: the propagator's confidence inside the mask, and
the overlap of the forward and backward passes where a span had both). Every rule compares a mask with
something that can be trusted more than the mask itself:

- the object's *keyframe* (where a person prompted it): area grown or shrunk against it (a slow bloat that
  no frame-to-frame check sees), its colours (a mask that slid onto the background looks unlike the object),
  its share of the frame;
- the object's *recent frames*: an area jump, a centroid jump larger than the object itself;
- the *frame edge*: a mask that became empty although the object was last seen well inside the frame was lost
  (an object that walks out of the picture passes the edge first); an empty mask after the edge is flagged
  too, in milder words: on the clips with ground truth most empty masks were lost objects, not exits;
- the *tracker*: low confidence, forward and backward passes that disagree;
- the *cuts*: an object found again after a cut (``tracking.refind``: check it is the same object), or marked
  absent from a shot (check it really is not there; one click in the shot brings it back).

``review_flags`` returns ``{frame: {object: (reason, ...)}}``; keyframes are never flagged.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from tracking.atomic_files import write_atomic

Flags = dict[int, dict[int, tuple[str, ...]]]  # frame -> object id -> reasons


@dataclass(frozen=True)
class FlagConfig:
    """Thresholds of the rules (measured over every clip with ground truth: ``python -m benchmarks.flags``)."""

    max_growth: float = 1.8  # area vs the keyframe's: flagged above this ratio ...
    min_shrink: float = 0.6  # ... or below this one
    max_jump: float = 0.35  # area vs the median of the last frames (relative change)
    jump_history: int = 5  # frames in that median
    max_centroid_jump: float = 0.5  # centroid shift between consecutive frames, in object sizes (sqrt of area)
    max_colour_distance: float = 0.3  # Bhattacharyya distance of the hue/saturation histograms vs the keyframe
    min_confidence: float = 0.6  # the propagator's mean probability inside the mask
    min_pass_agreement: float = 0.5  # IoU of the forward and backward passes' masks
    edge_margin: float = 0.03  # "near the edge": within this share of the frame's size
    max_frame_share: float = 0.6  # a mask covering more of the frame than this (and more than its keyframe did)


@dataclass(frozen=True)
class FrameSignal:
    """What the propagator said about one object on one frame while writing it."""

    confidence: float  # mean probability inside the final mask (1.0 for an empty mask); a finder's match score
    pass_agreement: float | None = None  # IoU of forward and backward masks; None when one pass only
    refound: str | None = None  # after a cut, on a shot with no prompt of the object: "found" or "absent"


@dataclass(frozen=True)
class MaskStats:
    """Shape facts of one object's mask on one frame."""

    area: int
    centroid: tuple[float, float] | None  # (x, y)
    at_edge: bool  # the mask comes within ``edge_margin`` of the frame border


def mask_stats(mask: np.ndarray, edge_margin: float = FlagConfig.edge_margin) -> MaskStats:
    """Area, centroid and whether a bool mask touches the frame's border band."""
    area = int(mask.sum())
    if area == 0:
        return MaskStats(0, None, False)
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    mx, my = max(1, round(edge_margin * w)), max(1, round(edge_margin * h))
    at_edge = bool(xs.min() < mx or ys.min() < my or xs.max() >= w - mx or ys.max() >= h - my)
    return MaskStats(area, (float(xs.mean()), float(ys.mean())), at_edge)


def colour_histogram(image: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """A normalised hue/saturation histogram of ``image``'s pixels under ``mask`` (None for an empty mask)."""
    if not mask.any():
        return None
    hsv = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1], mask.astype(np.uint8), [18, 8], [0, 180, 0, 256])
    return cv2.normalize(hist, hist, 1.0, 0.0, cv2.NORM_L1)


def colour_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Bhattacharyya distance of two histograms: 0 the same colours, 1 nothing in common."""
    return float(cv2.compareHist(a, b, cv2.HISTCMP_BHATTACHARYYA))


def frame_signals(
    labels: np.ndarray,
    obj_probs: Mapping[int, np.ndarray],
    forward: tuple[np.ndarray, Sequence[int]] | None = None,
    backward: tuple[np.ndarray, Sequence[int]] | None = None,
) -> dict[int, FrameSignal]:
    """Per object: confidence inside its final mask, and the forward/backward agreement when both passes ran.

    ``forward`` / ``backward`` are a pass's probabilities ``(1+K, H, W)`` and its object ids.
    """
    pass_masks: list[dict[int, np.ndarray]] = []
    if forward is not None and backward is not None:
        for probs, ids in (forward, backward):
            winner = np.argmax(probs, axis=0)
            pass_masks.append({o: winner == i + 1 for i, o in enumerate(ids)})
    out: dict[int, FrameSignal] = {}
    for obj, prob in obj_probs.items():
        mask = labels == obj
        confidence = float(prob[mask].mean()) if mask.any() else 1.0
        agreement = None
        if pass_masks and obj in pass_masks[0] and obj in pass_masks[1]:
            a, b = pass_masks[0][obj], pass_masks[1][obj]
            union = int(np.logical_or(a, b).sum())
            agreement = float(np.logical_and(a, b).sum() / union) if union else 1.0
        out[int(obj)] = FrameSignal(confidence, agreement)
    return out


class SignalLog:
    """The signals of the frames written so far, kept in ``signals.json`` beside the session's state.

    ``before_change(frame, signals)`` is told a frame's signals (None: it had none) before they change, so that
    the session's undo history keeps them with the frame's label map."""

    FILE = "signals.json"

    def __init__(
        self,
        state_dir: str | Path,
        before_change: Callable[[int, dict[int, FrameSignal] | None], object] | None = None,
    ) -> None:
        self.path = Path(state_dir) / self.FILE
        self.signals: dict[int, dict[int, FrameSignal]] = {}
        self.before_change = before_change
        self._dirty = False
        if self.path.is_file():
            try:
                raw = json.loads(self.path.read_text())
                self.signals = {
                    int(f): {int(o): FrameSignal(**s) for o, s in objs.items()} for f, objs in raw.items()
                }
            except (ValueError, TypeError):
                self.signals = {}  # advisory data: a damaged file is only a lost hint

    def record(self, frame: int, signals: Mapping[int, FrameSignal]) -> None:
        """The signals of a frame just written (re-finding's marks there stay, for the objects not given)."""
        self._changing(int(frame))
        kept = {o: s for o, s in self.signals.get(int(frame), {}).items() if s.refound and o not in signals}
        self.signals[int(frame)] = {**kept, **signals}
        self._dirty = True

    def mark_refound(self, frame: int | None, obj: int, frames: range, signal: FrameSignal | None) -> None:
        """Replace re-finding's mark of ``obj`` on ``frames`` (a shot) with ``signal`` on ``frame``."""
        for t in frames:
            objs = self.signals.get(t, {})
            if obj in objs and objs[obj].refound:
                self._changing(t)
                del objs[obj]
        if frame is not None and signal is not None:
            self._changing(int(frame))
            self.signals.setdefault(int(frame), {})[int(obj)] = signal
        self._dirty = True

    def forget(self, obj: int | None = None) -> None:
        """Drop the signals of a removed object (``obj``), or of every object (the session was reset)."""
        if obj is None:
            self.signals = {}
        else:
            for objs in self.signals.values():
                objs.pop(int(obj), None)
            self.signals = {f: objs for f, objs in self.signals.items() if objs}
        self._dirty = True

    def restore(self, frame: int, signals: Mapping[int, FrameSignal] | None) -> None:
        """Put back a frame's signals as an undo (or redo) step kept them (None: the frame had none)."""
        if signals is None:
            self.signals.pop(int(frame), None)
        else:
            self.signals[int(frame)] = dict(signals)
        self._dirty = True

    def _changing(self, frame: int) -> None:
        if self.before_change is not None:
            current = self.signals.get(frame)
            self.before_change(frame, dict(current) if current is not None else None)

    def save(self) -> None:
        if not self._dirty:
            return
        data = {str(f): {str(o): asdict(s) for o, s in objs.items()} for f, objs in sorted(self.signals.items())}
        write_atomic(self.path, json.dumps(data).encode())
        self._dirty = False


def _nearest_keyframe(frame: int, keyframes: Sequence[int]) -> int | None:
    return min(keyframes, key=lambda k: (abs(k - frame), k)) if keyframes else None


def _share(value: float) -> str:
    return f"{value:.0%}"


def object_flags(
    masks: Sequence[np.ndarray | None],
    obj: int,
    keyframes: Sequence[int],
    signals: Mapping[int, Mapping[int, FrameSignal]] | None = None,
    frames: Sequence[np.ndarray] | None = None,
    config: FlagConfig = FlagConfig(),
    cuts: Sequence[int] = (),
) -> dict[int, tuple[str, ...]]:
    """Flags of one object over the clip: ``{frame: reasons}``.

    ``masks`` are the label maps (None: not written), ``keyframes`` the frames where the object was prompted
    and has pixels, ``frames`` (optional) the images, for the colour check, ``cuts`` the first frames of the
    shots after the first: a frame is compared with the frames around it in its own shot only.
    """
    signals = signals or {}
    cut_list = sorted(cuts)

    def same_shot(a: int, b: int) -> bool:
        return bisect.bisect_right(cut_list, a) == bisect.bisect_right(cut_list, b)

    n = len(masks)
    stats: list[MaskStats | None] = [
        None if masks[t] is None else mask_stats(masks[t] == obj, config.edge_margin) for t in range(n)
    ]
    anchors = [k for k in keyframes if stats[k] is not None and stats[k].area > 0]  # type: ignore[union-attr]
    if not anchors:
        return {}
    key_hist: dict[int, np.ndarray | None] = {}

    def keyframe_hist(k: int) -> np.ndarray | None:
        if k not in key_hist:
            key_hist[k] = colour_histogram(frames[k], masks[k] == obj) if frames is not None else None
        return key_hist[k]

    out: dict[int, tuple[str, ...]] = {}
    keyset = set(keyframes)
    for t in range(n):
        s = stats[t]
        if s is None or t in keyset:
            continue
        k = _nearest_keyframe(t, anchors)
        assert k is not None
        ks = stats[k]
        assert ks is not None
        step = -1 if k < t else 1  # toward the keyframe: the frames this one was propagated from
        reasons: list[str] = []
        if s.area == 0:
            last = next((stats[u] for u in range(t + step, k + step, step)
                         if stats[u] and stats[u].area and same_shot(u, t)), None)
            if last is not None and not last.at_edge:
                reasons.append(
                    "the mask is empty, but the object was last seen inside the frame, away from its edges: "
                    "it was probably lost"
                )
            elif last is not None:
                reasons.append("the mask is empty: check that the object really left the frame or is hidden")
        else:
            ratio = s.area / ks.area
            if ratio > config.max_growth:
                reasons.append(f"the mask is {ratio:.1f}x as large as on keyframe {k}")
            elif ratio < config.min_shrink:
                reasons.append(f"the mask is only {_share(ratio)} of its size on keyframe {k}")
            h, w = masks[t].shape  # type: ignore[union-attr]
            share = s.area / (h * w)
            if share > config.max_frame_share and share > ks.area / (h * w) * 1.2:
                reasons.append(f"the mask covers {_share(share)} of the frame")
            recent = [stats[u].area for u in range(t + step, t + step * (config.jump_history + 1), step)  # type: ignore[union-attr]
                      if 0 <= u < n and stats[u] is not None and stats[u].area > 0 and same_shot(u, t)]  # type: ignore[union-attr]
            if recent:
                usual = float(np.median(recent))
                change = (s.area - usual) / usual
                if abs(change) > config.max_jump:
                    verb = "grew" if change > 0 else "shrank"
                    reasons.append(f"the mask {verb} {_share(abs(change))} from the frames next to it")
            prev = stats[t + step] if 0 <= t + step < n and same_shot(t + step, t) else None
            if prev is not None and prev.centroid is not None and s.centroid is not None:
                shift = float(np.hypot(s.centroid[0] - prev.centroid[0], s.centroid[1] - prev.centroid[1]))
                size = float(np.sqrt(max(s.area, prev.area)))
                if shift > config.max_centroid_jump * size:
                    reasons.append(f"the mask jumped {shift:.0f} px from frame {t + step}")
            if frames is not None:
                ref = keyframe_hist(k)
                here = colour_histogram(frames[t], masks[t] == obj)  # type: ignore[operator]
                if ref is not None and here is not None:
                    distance = colour_distance(ref, here)
                    if distance > config.max_colour_distance:
                        reasons.append(f"the colours under the mask differ from the object's on keyframe {k}")
        signal = signals.get(t, {}).get(obj)
        if signal is not None and signal.refound == "found":
            reasons.append(f"found again after a cut (match {signal.confidence:.2f}): check it is the same object")
        elif signal is not None and signal.refound == "absent":
            reasons.append("not found after a cut, so marked absent in this shot: if it is there, click it once")
        elif signal is not None and s.area > 0:
            if signal.confidence < config.min_confidence:
                reasons.append(f"the tracker is unsure here (confidence {signal.confidence:.2f})")
            if signal.pass_agreement is not None and signal.pass_agreement < config.min_pass_agreement:
                reasons.append(
                    f"tracking forward and backward disagree (overlap {_share(signal.pass_agreement)})"
                )
        if reasons:
            out[t] = tuple(reasons)
    return out


def review_flags(
    masks: Sequence[np.ndarray | None],
    keyframes: Mapping[int, Sequence[int]],
    signals: Mapping[int, Mapping[int, FrameSignal]] | None = None,
    frames: Sequence[np.ndarray] | None = None,
    config: FlagConfig = FlagConfig(),
    cuts: Sequence[int] = (),
) -> Flags:
    """Flags of every object: ``keyframes`` maps object id -> frames where it was prompted."""
    out: Flags = {}
    for obj, keys in keyframes.items():
        for t, reasons in object_flags(masks, obj, keys, signals, frames, config, cuts).items():
            out.setdefault(t, {})[obj] = reasons
    return dict(sorted(out.items()))


def next_flagged(flags: Mapping[int, object], current: int, forward: bool = True) -> int | None:
    """The flagged frame after (or before) ``current``; None when there is none that way."""
    frames = sorted(flags)
    if forward:
        return next((f for f in frames if f > current), None)
    return next((f for f in reversed(frames) if f < current), None)
