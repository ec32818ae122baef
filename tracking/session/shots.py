"""Shots for ``TrackSession``: the cuts it was given, and objects found again (or marked absent) after a cut.

Cuts split the clip like keyframes split it, but nothing crosses them: every span lies inside one shot and
every pass starts from a fresh propagator (``SessionState.spans``). An object prompted in some shots is looked
for in each other shot (``tracking.refind``) before propagation: found on a frame, its mask there (refined by
the session's segmenter from the match's box) becomes a bound of the shot's spans, like a keyframe of that
object alone; not found, it has no pass in the shot and so an empty mask on every frame of it. Decisions are
kept in the session state with the prompt ids they came from, so they are made again only when the object's
prompts change, and recorded in the review signals (``tracking.flags``) for the page to flag.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tracking.flags import FrameSignal
from tracking.refind import Finder, View, finder_for, looks_alike, probe_frames
from tracking.session.state import Refound, SessionError, Span, read_png, write_png


def check_cuts(cuts: Sequence[int], num_frames: int) -> tuple[int, ...]:
    """Cuts as a sorted tuple of first frames of shots (each in ``1 .. num_frames - 1``)."""
    out = tuple(sorted({int(c) for c in cuts}))
    bad = [c for c in out if not 0 < c < num_frames]
    if bad:
        raise SessionError(
            f"cuts {bad} are not inside the clip: a cut is the first frame of a shot, 1..{num_frames - 1}"
        )
    return out


class ShotRefinder:
    """Re-finding for ``TrackSession`` (a mixin over the session's state, frames, masks, segmenter, history)."""

    finder: Finder | None

    def _found_path(self, frame: int, obj_id: int) -> Path:
        return self.state_dir / "found" / f"{frame:05d}_{obj_id:03d}.png"

    def _found_map(self, frame: int) -> np.ndarray:
        """The label map of a frame where objects were found again: their masks, on an empty frame."""
        h, w = self._frame_size()
        label_map = np.zeros((h, w), np.uint8)
        for obj in self.state.seeds().get(frame, []):
            path = self._found_path(frame, obj)
            if path.exists():
                label_map[(read_png(path) > 0) & (label_map == 0)] = obj
        return label_map

    def _views(self, obj_id: int, shot: int) -> list[View]:
        """The object's stored appearance: its mask on every keyframe where it was prompted, and its latest look
        before ``shot``: its mask on the last frame where it was tracked in the nearest earlier shot that has it
        (a cut away and back finds it as it was when the cut came), when its colours are still the object's."""
        frames = sorted({p.frame for p in self.state.prompts if p.obj_id == obj_id})
        views = []
        for frame in frames:
            path = self._object_path(frame, obj_id)
            if path.exists():
                mask = read_png(path) > 0
                if mask.any():
                    views.append((self.frames[frame], mask))
        for start, end in reversed([s for s in self.state.shots() if s[0] < shot]):
            for t in range(end - 1, start - 1, -1):
                label_map = self.masks[t] if t in self.masks and self.state.written(t) else None
                if label_map is not None and (label_map == obj_id).any():
                    latest = (self.frames[t], label_map == obj_id)
                    # kept when it still looks like the object where it was prompted (not a mask that drifted)
                    if t not in frames and any(looks_alike(latest, view) for view in views):
                        views.append(latest)
                    return views
        return views

    def _refind_before(self, span: Span | None) -> bool:
        """Decide the pending (shot, object) pairs of the first shot that needs it, when that shot does not come
        after ``span`` (the next span to propagate): shots are handled in order, so an object's latest look in
        an earlier shot is written before a later shot is searched. True when something was decided."""
        pending = sorted(start for start, _ in self.state.to_refind())
        if not pending or (span is not None and pending[0] > span.start):
            return False
        self._refind(pending[0])
        return True

    def _refind(self, shot: int) -> None:
        """Decide, for every object that needs it in the shot starting at ``shot``, whether it is there and where."""
        pending = [(start, obj) for start, obj in self.state.to_refind() if start == shot]
        if not pending:
            return
        if self.finder is None:
            self.finder = finder_for(self.propagator_factory(), self.propagator_factory)
        keys = set(self.state.keyframes())
        for start, obj in pending:
            end = self.state.shot_of(start)[1]
            views = self._views(obj, start)
            probes = probe_frames(start, end, self.finder.probes)
            candidates = [t for t in probes if t not in keys]  # a keyframe's map is its prompts' own
            found = self.finder.find(views, self.frames, candidates) if views else None
            frame = found.frame if found is not None else None
            score = found.score if found is not None else 0.0
            old = self.state.refound.get((start, obj))
            path = self._found_path(frame, obj) if frame is not None else None
            if path is not None:
                self.history.record_file(path)
                write_png(path, self._refine_found(frame, found.mask).astype(np.uint8) * 255)  # type: ignore[union-attr]
            decision = Refound(start, obj, frame, float(score), self.state.prompt_ids(obj))
            self.state.refound[(start, obj)] = decision
            if old is None or old.frame != frame or frame is not None:
                self.state.invalidate_shot(start)  # the shot's bounds, or its seed's mask, changed
                if old is not None and old.frame is not None and old.frame != frame:
                    self.state.resolved.pop(old.frame, None)
            if frame is not None:
                # the found objects are settled there: a pass reaching the frame adds only the other objects
                self.state.resolved[frame] = set(self.state.seeds().get(frame, []))
                self._set_map(frame, self._found_map(frame))
            status = "found" if frame is not None else "absent"
            self.signal_log.mark_refound(frame if frame is not None else start, obj, range(start, end),
                                         FrameSignal(float(score), None, status))
        self._save()

    def _refine_found(self, frame: int, mask: np.ndarray) -> np.ndarray:
        """The found mask re-segmented by the session's segmenter from its box (the pasted appearance as the
        prior); the pasted mask itself when the segmenter's answer is not mostly the same region."""
        ys, xs = np.nonzero(mask)
        h, w = mask.shape
        pad_x, pad_y = 0.1 * (xs.max() - xs.min() + 1), 0.1 * (ys.max() - ys.min() + 1)
        box = np.array([max(0.0, xs.min() - pad_x), max(0.0, ys.min() - pad_y),
                        min(float(w), xs.max() + 1 + pad_x), min(float(h), ys.max() + 1 + pad_y)], np.float32)
        try:
            self.segmenter.set_image(self.frames[frame], key=frame)
            result = np.asarray(self.segmenter.predict(box=box, mask_input=mask, multimask=False).mask, bool)
        except (ValueError, RuntimeError):
            return mask
        union = np.logical_or(result, mask).sum()
        return result if union and np.logical_and(result, mask).sum() / union >= 0.6 else mask

    def _refind_pending(self) -> bool:
        return bool(self.state.to_refind())


__all__ = ["ShotRefinder", "check_cuts"]
