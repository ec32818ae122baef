"""Passes over a span: one propagator pass seeded from a keyframe, the blend of a forward and a backward pass,
and ``SpanRunner``, the propagation half of ``TrackSession`` (which dirty span next, the cached backward pass,
the writing pass with refinement and memorising, filling a keyframe with the objects tracked into it).

A pass from a keyframe that has another keyframe of its shot before it (in the pass's direction) does not start
from nothing: the propagator first replays the frames from that keyframe up to the seed (stepping them, writing
nothing), then takes the seed's mask. So a pass from a correction keeps what the tracker knew when it reached the
corrected frame (XMem's memory, the classical tracker's looks, sizes and speed) while the frames after it start
from the corrected mask; a pass never replays across a cut. The replay is bounded: a keyframe more than
``max_lead_in`` frames away is stepped, then the replay goes on from the mask tracked ``max_lead_in`` frames before
the seed. The backward pass of a span also measures each pass's error at the far keyframe (its replay's prediction
on the right keyframe, one step back onto the left one) for the blend (``tracking.session.fusion``)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from tracking.backend import Propagator, probs_to_labels
from tracking.flags import frame_signals
from tracking.session.fusion import blend, forward_weight, pass_error
from tracking.session.state import (
    PropagatedFrame,
    PropagationReport,
    Span,
    SpanProgress,
    read_png,
    write_atomic,
    write_png,
)

ProgressFn = Callable[[int, int], None]
LeadIn = Sequence[tuple[np.ndarray, np.ndarray | None]]  # (frame, label map, or None for a frame to predict)


class Pass:
    """One propagator pass in one direction, seeded from a keyframe map, over a fixed set of objects."""

    def __init__(self, factory: Callable[[], Propagator], obj_ids: Sequence[int]) -> None:
        self.obj_ids = tuple(obj_ids)
        self.propagator = factory() if self.obj_ids else None

    def seed(
        self,
        frame: np.ndarray,
        label_map: np.ndarray,
        lead_in: LeadIn = (),
        tick: Callable[[], None] | None = None,
        predict: bool = False,
    ) -> np.ndarray | None:
        """Start the pass from a keyframe, after stepping the ``lead_in`` frames (the earlier keyframe it starts
        from, then the frames up to this one): the propagator carries what it learnt there into the pass, and
        the frames after the seed start from the seed's mask. ``tick`` is called per lead-in frame. With
        ``predict`` and a lead-in, the lead-in steps onto the keyframe too and its prediction there (what the
        pass from the earlier keyframe makes of it) is returned; else None."""
        if self.propagator is None:
            return None
        self.propagator.reset(self.obj_ids)
        predicted = None
        for image, known in [*lead_in, *([(frame, None)] if predict and lead_in else [])]:
            probs = self.propagator.step(image, None if known is None else restrict(known, self.obj_ids))
            if known is None:
                predicted = probs
            if tick is not None:
                tick()
        self.propagator.step(frame, restrict(label_map, self.obj_ids))
        return probs_to_labels(np.asarray(predicted), self.obj_ids) if predict and predicted is not None else None

    def step(self, frame: np.ndarray) -> np.ndarray:
        if self.propagator is None:
            return np.ones((1, *frame.shape[:2]), dtype=np.float32)
        probs = np.asarray(self.propagator.step(frame), dtype=np.float32)
        if probs.shape != (1 + len(self.obj_ids), *frame.shape[:2]):
            raise RuntimeError(
                f"{self.propagator.backend} returned probabilities of shape {probs.shape}, expected "
                f"{(1 + len(self.obj_ids), *frame.shape[:2])}"
            )
        return probs

    def memorize(self, label_map: np.ndarray) -> None:
        if self.propagator is not None:
            self.propagator.memorize(restrict(label_map, self.obj_ids))


def restrict(label_map: np.ndarray, obj_ids: Sequence[int]) -> np.ndarray:
    """The label map with every object not in ``obj_ids`` set to background."""
    return np.where(np.isin(label_map, obj_ids), label_map, 0).astype(np.uint8)


class SpanRunner:
    """Propagation for ``TrackSession`` (a mixin: it works on the session's state, frames, masks and history)."""

    def propagate(self, progress: ProgressFn | None = None) -> Iterator[PropagatedFrame]:
        """Propagate every dirty span, yielding each frame as it is written.

        ``progress(done, total)`` counts propagator steps; raising from it (or closing the generator) stops
        cleanly: frames written so far stay valid and the next call resumes with what is still dirty.
        Objects are looked for in the shots where they have no prompt (``tracking.session.shots``) before
        those shots are propagated.
        """
        total = [sum(self._cost(s) for s in self.state.spans() if s not in self.state.done)]
        counter = [0]

        def tick() -> None:
            counter[0] += 1
            if progress is not None:
                progress(counter[0], max(total[0], counter[0]))

        if progress is not None:
            progress(0, total[0])
        while True:
            # Left to right: filling a keyframe from the span before it can make the span after it dirty.
            span = next((s for s in self.state.spans() if s not in self.state.done), None)
            if self._refind_before(span):  # shots in order: the spans of the shot may have changed
                continue
            if span is None:
                return
            yield from self._propagate_span(span, tick)
            total[0] = counter[0] + sum(self._cost(s) for s in self.state.spans() if s not in self.state.done)

    def run_propagation(self, progress: ProgressFn | None = None) -> PropagationReport:
        """``propagate`` to the end; returns which frames were written and refined."""
        written = [f.frame_idx for f in self.propagate(progress)]
        refined = {f: dict(self.state.refined[f]) for f in written if f in self.state.refined}
        return PropagationReport(written=tuple(written), refined=refined)

    def _remaining(self, span: Span) -> list[int]:
        frames = list(span.frames(self.state.num_frames))
        prog = self.state.progress.get(span)
        if prog is None or prog.written_to is None:
            return frames if span.left is not None else frames[::-1]
        if span.left is None:  # written backward
            return [f for f in reversed(frames) if f < prog.written_to]
        return [f for f in frames if f > prog.written_to]

    def _cost(self, span: Span) -> int:
        prog = self.state.progress.get(span, SpanProgress())
        blended = span.left is not None and span.right is not None
        backward = 0
        if blended and not prog.backward_cached:  # its lead-in from the left keyframe, then the span's frames
            ids = self._known(span.right)  # type: ignore[arg-type]
            lead = self._lead_steps(span.left, span.right, ids)
            # with a lead-in: its prediction on the right keyframe, and a step onto the left one (their errors)
            n = len(span.frames(self.state.num_frames))
            backward = lead + n + (2 if lead and n else 0)
        seed = span.left if span.left is not None else span.right
        if seed is None:
            return backward + len(self._remaining(span))
        forward = span.left is not None
        ids = self._known(seed) if forward else self._known(span.right)  # type: ignore[arg-type]
        return backward + self._lead_steps(self._lead_from(seed, forward), seed, ids) + len(self._remaining(span))

    def _lead_from(self, seed: int, forward: bool) -> int | None:
        """The keyframe a writing pass from ``seed`` replays from: the bound of its shot just before it in the
        pass's direction (a keyframe, or a frame where an object was found again), or None."""
        start, end = self.state.shot_of(seed)
        bounds = sorted({f for f in [*self.state.keyframes(), *self.state.seeds()] if start <= f < end and f != seed})
        before = [f for f in bounds if (f < seed if forward else f > seed)]
        if not before:
            return None
        return before[-1] if forward else before[0]

    def _lead_start(self, origin: int | None, seed: int, obj_ids: Sequence[int]) -> tuple[int, np.ndarray] | None:
        """Where a pass from ``seed`` starts replaying, and the label map it is given there: the keyframe
        ``origin`` itself, or, when ``origin`` lies more than ``max_lead_in`` frames away, the frame that far
        before ``seed`` with the mask tracked on it (what the tracker produced there), so a correction's cost
        does not grow with the distance to the keyframe before it. None: no lead-in (no origin, or it holds
        none of ``obj_ids``)."""
        if origin is None or not obj_ids:
            return None
        label_map = self._keyframe_map(origin)
        if not np.isin(label_map, obj_ids).any():
            return None
        start = seed - (1 if origin < seed else -1) * self.max_lead_in
        if abs(seed - origin) > self.max_lead_in + 1:
            tracked = self.masks[start] if start in self.masks else None
            wanted = set(np.unique(label_map).tolist()) & set(obj_ids)
            if tracked is not None and wanted <= set(np.unique(tracked).tolist()):
                return start, tracked
        return origin, label_map  # the frames are not tracked yet (or few): replay from the keyframe

    def _lead_steps(self, origin: int | None, seed: int, obj_ids: Sequence[int]) -> int:
        """How many frames ``_lead_in`` steps (for the progress count)."""
        found = self._lead_start(origin, seed, obj_ids)
        if found is None:
            return 0
        return abs(seed - found[0]) + (found[0] != origin)

    def _lead_in(self, origin: int | None, seed: int, obj_ids: Sequence[int]) -> LeadIn:
        """The frames a pass from ``seed`` steps first: the keyframe ``origin`` (frame and label map), then,
        when the replay is capped (``_lead_start``), the frame it starts from with its tracked mask, then every
        frame from there towards ``seed`` (to predict); empty without an origin or when it holds none of
        ``obj_ids`` (``origin`` is always a bound of ``seed``'s shot: nothing is replayed across a cut)."""
        found = self._lead_start(origin, seed, obj_ids)
        if found is None:
            return []
        start, label_map = found
        lead: list[tuple[np.ndarray, np.ndarray | None]] = [(self.frames[origin], self._keyframe_map(origin))]
        if start != origin:  # the keyframe's look stays the pass's memory; the replay goes on from ``start``
            lead.append((self.frames[start], label_map))
        step = 1 if start < seed else -1
        return [*lead, *((self.frames[t], None) for t in range(start + step, seed, step))]

    def _known(self, keyframe: int) -> list[int]:
        """Objects a pass from this keyframe carries: those with pixels there.

        An object with an empty mask on a keyframe (prompted as gone, or absent) says nothing about where it is
        on the frames around it, so the pass from the other end of the span decides for it alone.
        """
        present = set(np.unique(self._keyframe_map(keyframe)).tolist()) - {0}
        return sorted(o for o in present if o in self.state.objects)

    def _keyframe_map(self, frame: int) -> np.ndarray:
        label_map = self.masks[frame] if frame in self.masks else None
        if label_map is None:  # the store lost it: compose again from the saved object (or found) masks
            label_map = self._compose(frame) if self.state.prompts_at(frame) else self._found_map(frame)
            self._set_map(frame, label_map)
        return label_map

    def _propagate_span(self, span: Span, tick: Callable[[], None]) -> Iterator[PropagatedFrame]:
        n = self.state.num_frames
        frames = span.frames(n)
        prog = self.state.progress.setdefault(span, SpanProgress())
        blended = span.left is not None and span.right is not None

        # 1. the backward pass of a blended span, cached on disk (uint8 probabilities)
        bwd_ids: list[int] = self._known(span.right) if span.right is not None else []
        if blended and not prog.backward_cached:
            bwd = Pass(self.propagator_factory, bwd_ids)
            # it first replays the span forward from its left keyframe: it knows what the forward pass learnt
            # on the way to the right keyframe (sizes, looks, memory), not only the right keyframe's mask; that
            # replay's prediction on the right keyframe is the forward pass's error there (``fusion``)
            lead_in = self._lead_in(span.left, span.right, bwd_ids)
            right_map = self._keyframe_map(span.right)  # type: ignore[arg-type]
            fwd_at_right = bwd.seed(self.frames[span.right], right_map, lead_in, tick, predict=bool(frames))
            for t in reversed(frames):
                probs = bwd.step(self.frames[t])
                self._save_cache(t, probs)
                tick()
            if fwd_at_right is not None and bwd.propagator is not None:  # and the backward pass's error on the left
                left_map = self._keyframe_map(span.left)  # type: ignore[arg-type]
                bwd_at_left = probs_to_labels(bwd.step(self.frames[span.left]), bwd_ids)
                tick()
                prog.errors = {
                    str(o): [pass_error(fwd_at_right == o, right_map == o), pass_error(bwd_at_left == o, left_map == o)]
                    for o in bwd_ids
                }
            prog.backward_cached = True
            self._save()

        # 2. the writing pass: forward from the left keyframe (backward from the first keyframe for the head)
        forward = span.left is not None
        # A resumed pass starts from the keyframe too and replays the frames it already wrote (the propagator
        # and the refiner step through them as before; nothing is written), so its state, and so every frame
        # after the interruption, is exactly what an uninterrupted pass gives.
        if forward:
            ids = self._known(span.left)
            seed_frame = span.left
        else:
            ids = bwd_ids
            seed_frame = span.right
        writer = Pass(self.propagator_factory, ids)
        if seed_frame is not None:  # a shot with no bound: no object is known there, its frames are written empty
            seed_map = self._keyframe_map(seed_frame)
            origin = self._lead_from(seed_frame, forward)
            writer.seed(self.frames[seed_frame], seed_map, self._lead_in(origin, seed_frame, ids), tick)
            if self.refiner is not None:
                self.refiner.start_pass()
                self.refiner.observe(seed_map, ids)
        todo = set(self._remaining(span))
        order = list(frames) if forward else list(reversed(frames))
        for t in order:
            frame = self.frames[t]
            probs = writer.step(frame)
            passes = None
            if blended:
                w_fwd = {
                    o: forward_weight(t, span.left, span.right, prog.errors.get(str(o)))  # type: ignore[arg-type]
                    for o in bwd_ids
                }
                bwd_probs = self._load_cache(t, len(bwd_ids))
                labels, obj_probs = blend(probs, ids, bwd_probs, bwd_ids, w_fwd)
                passes = ((probs, ids), (bwd_probs, bwd_ids))
            elif forward:
                labels, obj_probs = blend(probs, ids, None, [], 1.0)
            else:
                labels, obj_probs = blend(None, [], probs, ids, 0.0)
            reasons: dict[int, str] = {}
            unsure: dict[int, str] = {}
            if self.refiner is not None and obj_probs:
                outcome = self.refiner(frame, t, obj_probs, labels)
                if outcome.refined:
                    labels = outcome.label_map
                    reasons = dict(outcome.refined)
                    writer.memorize(labels)
                unsure = {
                    o: "; ".join(q.reasons) for o, q in outcome.qualities.items() if q.reasons and o not in reasons
                }
            if t not in todo:  # replayed: written before the interruption
                continue
            self._set_map(t, labels)
            self.signal_log.record(t, frame_signals(labels, obj_probs, *(passes or (None, None))))
            for record, value in ((self.state.refined, reasons), (self.state.low_confidence, unsure)):
                if value:
                    record[t] = value
                else:
                    record.pop(t, None)
            prog.written_to = t
            self._save()
            tick()
            yield PropagatedFrame(t, tuple(sorted(self.state.objects)), labels)

        if span.right is not None and span.left is not None:
            self._fill_keyframe(span.right, writer)
        self.state.done.add(span)
        self.state.progress.pop(span, None)
        if blended:
            for t in frames:
                self._cache_path(t).unlink(missing_ok=True)
        self._save()

    def _fill_keyframe(self, frame: int, writer: Pass) -> None:
        """Give a keyframe the objects tracked into it that it has no answer for yet (not prompted there,
        absent from the map it had): the forward pass steps onto it and paints them on its background.
        The span after the keyframe is propagated again when this changes the keyframe's map."""
        prompted = {p.obj_id for p in self.state.prompts_at(frame)}
        resolved = self.state.resolved.setdefault(frame, set())
        missing = [o for o in writer.obj_ids if o not in prompted and o not in resolved]
        if not missing:
            return
        predicted = probs_to_labels(writer.step(self.frames[frame]), writer.obj_ids)
        label_map = self._keyframe_map(frame).copy()
        base_path = self._base_path(frame)
        base = read_png(base_path).astype(np.uint8) if base_path.exists() else np.zeros_like(label_map)
        for obj in missing:
            add = (predicted == obj) & (label_map == 0)
            label_map[add] = obj
            base[(predicted == obj) & (base == 0)] = obj
        resolved.update(missing)
        if not np.array_equal(label_map, self._keyframe_map(frame)):
            self.history.record_file(base_path)
            write_png(base_path, base)
            self._set_map(frame, label_map)
            self.state.done = {s for s in self.state.done if s.left != frame}
            self.state.progress = {s: p for s, p in self.state.progress.items() if s.left != frame}
        self._save()


    def _cache_path(self, frame: int) -> Path:
        return self.state_dir / "cache" / f"{frame:05d}.npz"

    def _save_cache(self, frame: int, probs: np.ndarray) -> None:
        buf = io.BytesIO()
        np.savez_compressed(buf, probs=np.clip(np.rint(probs * 255.0), 0, 255).astype(np.uint8))
        write_atomic(self._cache_path(frame), buf.getvalue())

    def _load_cache(self, frame: int, k: int) -> np.ndarray:
        with np.load(self._cache_path(frame)) as data:
            probs = data["probs"].astype(np.float32) / 255.0
        if probs.shape[0] != 1 + k:
            raise RuntimeError(f"cached probabilities of frame {frame} have {probs.shape[0] - 1} objects, not {k}")
        return probs

