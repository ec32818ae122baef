"""The interactive tracking session: objects, prompts, keyframes, propagation, corrections, undo, resume.

The verbs follow SAM 2's video predictor (``add_click`` / ``add_box`` / ``add_mask``, ``propagate`` yielding
``(frame_idx, obj_ids, label_map)``, ``remove_object``, ``reset_state``) over explicit, typed state.

Model of the clip:
- a *keyframe* is a frame with prompts. Its label map is composed when a prompt changes: every prompted object
  gets the segmenter's mask from its prompts there; other objects keep the mask they had on that frame before
  it became a keyframe (propagated earlier), if any.
- keyframes cut the clip into *spans*: before the first keyframe, between two consecutive keyframes, after the
  last. A span between keyframes ``p < n`` is propagated backward from ``n`` (probabilities cached on disk)
  and forward from ``p``; the two are blended per pixel with weights ``(n - t) / (n - p)`` (forward) and
  ``(t - p) / (n - p)`` (backward). An object known at only one end (first prompted at ``n``, or prompted at
  ``p`` but absent or empty in ``n``'s map) comes from that end's pass alone. Before the first keyframe:
  backward only; after the last: forward only. Objects are not carried backward past an earlier keyframe
  where they were not prompted.
- an object tracked into a keyframe where it was not prompted and had no mask yet (the keyframe was made
  before propagation reached it) gets the forward pass's mask there once, on the keyframe's background;
  the span after that keyframe is then propagated again.
- a span is *done* once every frame in it is written. A prompt on frame ``c`` makes every span touching ``c``
  dirty; the next ``propagate`` rewrites only the frames of dirty spans, i.e. a correction at ``c`` between
  keyframes ``p < c < n`` re-propagates frames ``p + 1 .. n - 1`` and nothing else.
- during the writing pass each frame is scored and, if unsure, refined (``tracking.refine``); a refined label
  map is written to the propagator's memory (``memorize``) and the frame is recorded with the reason.

On disk, in ``state_dir`` (every file written atomically):
``prompts.json`` (all prompts), ``session.json`` (objects, keyframes, done spans, partial progress, refined
frames), ``keyframes/`` (per-object keyframe masks and the map a frame had before it became a keyframe),
``prompt_masks/`` (masks given with ``add_mask``), ``cache/`` (backward probabilities of a span in progress).
A new process opening the same ``state_dir`` continues the same session; an interrupted propagation resumes
after the last frame it wrote, replaying the pass from its keyframe so the result equals an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol

import cv2
import numpy as np

from tracking.backend import Propagator, Segmenter, probs_to_labels
from tracking.flags import SignalLog, frame_signals
from tracking.refine import Refiner

PromptKind = Literal["click", "box", "mask"]
ProgressFn = Callable[[int, int], None]
FORMAT_VERSION = 1

# DAVIS palette colours for objects 1..; object k gets PALETTE[(k - 1) % len(PALETTE)] unless told otherwise.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (128, 0, 0),
    (0, 128, 0),
    (128, 128, 0),
    (0, 0, 128),
    (128, 0, 128),
    (0, 128, 128),
    (128, 128, 128),
    (64, 0, 0),
    (192, 0, 0),
    (64, 128, 0),
    (192, 128, 0),
    (64, 0, 128),
    (192, 0, 128),
    (64, 128, 128),
)


class SessionError(ValueError):
    """A request the session cannot honour (bad frame, unknown object, a click outside the frame...)."""


class MaskStore(Protocol):
    """Where label maps live: ``editor.store`` image stores, or anything with the same four operations."""

    def __len__(self) -> int: ...
    def __getitem__(self, index: int) -> np.ndarray | None: ...
    def __setitem__(self, index: int, value: np.ndarray) -> None: ...
    def __contains__(self, index: object) -> bool: ...


@dataclass
class TrackedObject:
    """One object the user tracks; ``id`` is its value in the label maps (1..255)."""

    id: int
    name: str
    colour: tuple[int, int, int]


@dataclass(frozen=True)
class Prompt:
    """One user input on one frame for one object."""

    id: int
    frame: int
    obj_id: int
    kind: PromptKind
    point: tuple[float, float] | None = None  # (x, y), clicks
    positive: bool = True  # clicks
    box: tuple[float, float, float, float] | None = None  # XYXY, boxes
    mask_file: str | None = None  # relative to state_dir, masks


@dataclass(frozen=True, order=True)
class Span:
    """The frames strictly between two keyframes; ``None`` is the clip's start (left) or end (right)."""

    left: int | None
    right: int | None

    def frames(self, num_frames: int) -> range:
        lo = 0 if self.left is None else self.left + 1
        hi = num_frames if self.right is None else self.right
        return range(lo, hi)

    def touches(self, frame: int) -> bool:
        lo = -1 if self.left is None else self.left
        hi = 1 << 30 if self.right is None else self.right
        return lo <= frame <= hi

    def key(self) -> str:
        return f"{'' if self.left is None else self.left}:{'' if self.right is None else self.right}"

    @classmethod
    def from_key(cls, key: str) -> Span:
        left, right = key.split(":")
        return cls(int(left) if left else None, int(right) if right else None)


@dataclass
class SpanProgress:
    """How far an interrupted span got: backward cache complete, last frame written by the writing pass."""

    backward_cached: bool = False
    written_to: int | None = None


@dataclass
class SessionState:
    """Everything a session knows, persisted in ``prompts.json`` and ``session.json``."""

    num_frames: int
    objects: dict[int, TrackedObject] = field(default_factory=dict)
    prompts: list[Prompt] = field(default_factory=list)
    next_prompt_id: int = 1
    done: set[Span] = field(default_factory=set)
    progress: dict[Span, SpanProgress] = field(default_factory=dict)
    refined: dict[int, dict[int, str]] = field(default_factory=dict)  # frame -> object id -> reason
    # frames whose masks still look unsure after refinement (or with refinement off): frame -> object -> reason
    low_confidence: dict[int, dict[int, str]] = field(default_factory=dict)
    # keyframe -> unprompted objects whose mask there is settled (kept from before, or filled by propagation)
    resolved: dict[int, set[int]] = field(default_factory=dict)

    def keyframes(self) -> list[int]:
        return sorted({p.frame for p in self.prompts})

    def spans(self) -> list[Span]:
        keys = self.keyframes()
        if not keys:
            return []
        bounds: list[int | None] = [None, *keys, None]
        spans = [Span(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        # Spans between adjacent keyframes hold no frame but still carry objects into the right keyframe.
        return [s for s in spans if len(s.frames(self.num_frames)) or (s.left is not None and s.right is not None)]

    def prompts_at(self, frame: int, obj_id: int | None = None) -> list[Prompt]:
        return [p for p in self.prompts if p.frame == frame and (obj_id is None or p.obj_id == obj_id)]

    def invalidate(self, frame: int) -> None:
        """Mark every span touching ``frame`` (as an end or inside) as needing propagation."""
        self.done = {s for s in self.done if not s.touches(frame)}
        self.progress = {s: p for s, p in self.progress.items() if not s.touches(frame)}
        # Refinements recorded in frames that will be propagated again are forgotten with them.
        self.refined = {f: r for f, r in self.refined.items() if self.written(f)}
        self.low_confidence = {f: r for f, r in self.low_confidence.items() if self.written(f)}

    def written(self, frame: int) -> bool:
        """Whether ``frame`` lies in a done span or in the written part of an interrupted one."""
        for span in self.done:
            if frame in span.frames(self.num_frames):
                return True
        for span, prog in self.progress.items():
            if prog.written_to is None or frame not in span.frames(self.num_frames):
                continue
            # spans with a left keyframe are written forward; the head span is written backward
            if (frame <= prog.written_to) if span.left is not None else (frame >= prog.written_to):
                return True
        return False

    # -- persistence ---------------------------------------------------------------------------------
    def prompts_json(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "next_prompt_id": self.next_prompt_id,
            "prompts": [asdict(p) for p in self.prompts],
        }

    def session_json(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "num_frames": self.num_frames,
            "objects": [asdict(o) for o in sorted(self.objects.values(), key=lambda o: o.id)],
            "keyframes": self.keyframes(),
            "done": sorted(s.key() for s in self.done),
            "progress": {s.key(): asdict(p) for s, p in self.progress.items()},
            "refined": {str(f): {str(o): r for o, r in objs.items()} for f, objs in sorted(self.refined.items())},
            "resolved": {str(f): sorted(objs) for f, objs in sorted(self.resolved.items())},
            "low_confidence": {
                str(f): {str(o): r for o, r in objs.items()} for f, objs in sorted(self.low_confidence.items())
            },
        }

    @classmethod
    def from_json(cls, session: dict[str, Any], prompts: dict[str, Any]) -> SessionState:
        state = cls(num_frames=int(session["num_frames"]))
        for o in session["objects"]:
            state.objects[int(o["id"])] = TrackedObject(int(o["id"]), str(o["name"]), tuple(o["colour"]))
        for p in prompts.get("prompts", []):
            state.prompts.append(
                Prompt(
                    id=int(p["id"]),
                    frame=int(p["frame"]),
                    obj_id=int(p["obj_id"]),
                    kind=p["kind"],
                    point=None if p["point"] is None else (float(p["point"][0]), float(p["point"][1])),
                    positive=bool(p["positive"]),
                    box=None if p["box"] is None else tuple(float(v) for v in p["box"]),
                    mask_file=p["mask_file"],
                )
            )
        state.next_prompt_id = int(prompts.get("next_prompt_id", len(state.prompts) + 1))
        state.done = {Span.from_key(k) for k in session.get("done", [])}
        state.progress = {Span.from_key(k): SpanProgress(**v) for k, v in session.get("progress", {}).items()}
        state.refined = {int(f): {int(o): r for o, r in objs.items()} for f, objs in session.get("refined", {}).items()}
        state.resolved = {int(f): {int(o) for o in objs} for f, objs in session.get("resolved", {}).items()}
        state.low_confidence = {
            int(f): {int(o): r for o, r in objs.items()} for f, objs in session.get("low_confidence", {}).items()
        }
        return state


class PropagatedFrame(NamedTuple):
    """One frame written by ``propagate``."""

    frame_idx: int
    obj_ids: tuple[int, ...]
    label_map: np.ndarray


@dataclass(frozen=True)
class PropagationReport:
    """What a completed ``run_propagation`` did."""

    written: tuple[int, ...]
    refined: dict[int, dict[int, str]]  # frame -> object id -> reason, for the frames written now


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    mask = os.umask(0o022)  # mkstemp makes the file 0600: give it the mode the user's umask gives new files
    os.umask(mask)
    os.fchmod(fd, 0o666 & ~mask)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_png(path: Path, image: np.ndarray) -> None:
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise OSError(f"could not encode {path.name}")
    _write_atomic(path, buf.tobytes())


def _read_png(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise OSError(f"could not read {path}: the session folder is damaged; reset the session")
    return image


class _Pass:
    """One propagator pass in one direction, seeded from a keyframe map, over a fixed set of objects."""

    def __init__(self, factory: Callable[[], Propagator], obj_ids: Sequence[int]) -> None:
        self.obj_ids = tuple(obj_ids)
        self.propagator = factory() if self.obj_ids else None

    def seed(self, frame: np.ndarray, label_map: np.ndarray) -> None:
        if self.propagator is None:
            return
        self.propagator.reset(self.obj_ids)
        self.propagator.step(frame, _restrict(label_map, self.obj_ids))

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
            self.propagator.memorize(_restrict(label_map, self.obj_ids))


def _restrict(label_map: np.ndarray, obj_ids: Sequence[int]) -> np.ndarray:
    """The label map with every object not in ``obj_ids`` set to background."""
    return np.where(np.isin(label_map, obj_ids), label_map, 0).astype(np.uint8)


def _blend(
    fwd: np.ndarray | None,
    fwd_ids: Sequence[int],
    bwd: np.ndarray | None,
    bwd_ids: Sequence[int],
    w_fwd: float,
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Combine forward and backward probabilities into a label map and per-object probability maps.

    Objects seen by both passes are blended with ``w_fwd`` / ``1 - w_fwd``; an object seen by one pass only
    takes that pass's probability and claims the pixels where it wins that pass and no shared object does.
    """
    fwd_pos = {o: i + 1 for i, o in enumerate(fwd_ids)}
    bwd_pos = {o: i + 1 for i, o in enumerate(bwd_ids)}
    shared = [o for o in fwd_ids if o in bwd_pos]
    obj_probs: dict[int, np.ndarray] = {}
    if fwd is not None and bwd is not None:
        bg = w_fwd * fwd[0] + (1.0 - w_fwd) * bwd[0]
        for o in shared:
            obj_probs[o] = w_fwd * fwd[fwd_pos[o]] + (1.0 - w_fwd) * bwd[bwd_pos[o]]
    else:
        bg = (fwd if fwd is not None else bwd)[0]  # type: ignore[index]
        shared = list(fwd_ids if fwd is not None else bwd_ids)
        only = fwd if fwd is not None else bwd
        pos = fwd_pos if fwd is not None else bwd_pos
        for o in shared:
            obj_probs[o] = only[pos[o]]  # type: ignore[index]
    if shared:
        stack = np.stack([bg, *(obj_probs[o] for o in shared)])
        labels = probs_to_labels(stack, shared)
    else:
        labels = np.zeros(bg.shape, dtype=np.uint8)
    if fwd is not None and bwd is not None:
        for probs, ids, pos in ((fwd, fwd_ids, fwd_pos), (bwd, bwd_ids, bwd_pos)):
            alone = [o for o in ids if o not in shared]
            if not alone:
                continue
            pass_labels = probs_to_labels(probs, ids)
            for o in alone:
                obj_probs[o] = probs[pos[o]]
                labels[(pass_labels == o) & (labels == 0)] = o
    return labels, obj_probs


class TrackSession:
    """An interactive tracking session over one clip, persisted in ``state_dir``.

    ``frames`` is read lazily (index access only); ``masks`` receives one label map per frame. Opening a
    ``state_dir`` that already holds a session continues it.
    """

    def __init__(
        self,
        frames: Sequence[np.ndarray],
        masks: MaskStore,
        state_dir: str | Path,
        segmenter: Segmenter,
        propagator_factory: Callable[[], Propagator],
        refiner: Refiner | None = None,
    ) -> None:
        if len(frames) == 0:
            raise SessionError("the clip has no frames: decode the video before tracking")
        if len(masks) != len(frames):
            raise SessionError(f"the mask store holds {len(masks)} slots but the clip has {len(frames)} frames")
        self.frames = frames
        self.masks = masks
        self.state_dir = Path(state_dir)
        self.segmenter = segmenter
        self.propagator_factory = propagator_factory
        self.refiner = refiner
        self._logits: dict[tuple[int, int], np.ndarray] = {}  # (frame, obj) -> low-res logits of the last click
        self._size: tuple[int, int] | None = None
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state = self._load() or SessionState(num_frames=len(frames))
        self.signal_log = SignalLog(self.state_dir)  # review signals per written frame (tracking.flags)
        if self.state.num_frames != len(frames):
            raise SessionError(
                f"{self.state_dir} holds a session for {self.state.num_frames} frames but the clip has "
                f"{len(frames)}: use another state_dir or reset_state()"
            )

    # -- objects -------------------------------------------------------------------------------------
    @property
    def objects(self) -> list[TrackedObject]:
        return sorted(self.state.objects.values(), key=lambda o: o.id)

    def add_object(self, name: str | None = None, colour: tuple[int, int, int] | None = None) -> int:
        """Create an object and return its id (the smallest free id in 1..255)."""
        free = next((i for i in range(1, 256) if i not in self.state.objects), None)
        if free is None:
            raise SessionError("a label map holds at most 255 objects: remove one before adding another")
        if colour is not None and (len(colour) != 3 or not all(0 <= int(c) <= 255 for c in colour)):
            raise SessionError(f"colour {colour!r} is not an (r, g, b) triple of 0..255")
        self.state.objects[free] = TrackedObject(
            id=free,
            name=name or f"object {free}",
            colour=tuple(int(c) for c in colour) if colour is not None else PALETTE[(free - 1) % len(PALETTE)],
        )
        self._save()
        return free

    def rename(self, obj_id: int, name: str) -> None:
        self._check_object(obj_id)
        if not name.strip():
            raise SessionError("an object's name cannot be empty")
        self.state.objects[obj_id].name = name
        self._save()

    def remove_object(self, obj_id: int) -> None:
        """Forget an object: its prompts, and its pixels on every frame already written."""
        self._check_object(obj_id)
        frames = sorted({p.frame for p in self.state.prompts if p.obj_id == obj_id})
        self.state.prompts = [p for p in self.state.prompts if p.obj_id != obj_id]
        del self.state.objects[obj_id]
        for objs in self.state.resolved.values():
            objs.discard(obj_id)
        for frame in frames:
            (self._kf_dir / f"{frame:05d}_{obj_id:03d}.png").unlink(missing_ok=True)
            self._logits.pop((frame, obj_id), None)
            base = self._base_path(frame)
            if base.exists():
                _write_png(base, np.where(_read_png(base) == obj_id, 0, _read_png(base)).astype(np.uint8))
            self._after_prompt_change(frame)
        for i in range(len(self.masks)):
            if i in self.masks:
                current = self.masks[i]
                if current is not None and (current == obj_id).any():
                    self.masks[i] = np.where(current == obj_id, 0, current).astype(np.uint8)
        for objs in self.state.refined.values():
            objs.pop(obj_id, None)
        self.state.refined = {f: r for f, r in self.state.refined.items() if r}
        self._save()

    # -- prompts -------------------------------------------------------------------------------------
    @property
    def keyframes(self) -> list[int]:
        return self.state.keyframes()

    def add_click(self, frame: int, obj_id: int, x: float, y: float, positive: bool = True) -> np.ndarray:
        """Add a positive or negative click and return the frame's new label map."""
        self._check_frame(frame)
        self._check_object(obj_id)
        h, w = self._frame_size()
        if not (0 <= x < w and 0 <= y < h):
            raise SessionError(f"click ({x:g}, {y:g}) is outside frame {frame} ({w}x{h})")
        return self._add_prompt(
            Prompt(self._next_id(), frame, obj_id, "click", point=(float(x), float(y)), positive=bool(positive))
        )

    def add_box(self, frame: int, obj_id: int, box: Sequence[float]) -> np.ndarray:
        """Add (or replace) the box ``(x0, y0, x1, y1)`` of an object on a frame; return the new label map."""
        self._check_frame(frame)
        self._check_object(obj_id)
        if len(box) != 4:
            raise SessionError(f"box {tuple(box)} must be (x0, y0, x1, y1)")
        h, w = self._frame_size()
        x0, y0, x1, y1 = (float(v) for v in box)
        if not (x0 < x1 and y0 < y1):
            raise SessionError(f"box {tuple(box)} is empty: it needs x0 < x1 and y0 < y1")
        if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
            raise SessionError(f"box {tuple(box)} is outside frame {frame} ({w}x{h})")
        clipped = (max(0.0, x0), max(0.0, y0), min(float(w), x1), min(float(h), y1))
        return self._add_prompt(Prompt(self._next_id(), frame, obj_id, "box", box=clipped))

    def add_mask(self, frame: int, obj_id: int, mask: np.ndarray) -> np.ndarray:
        """Give an object's mask on a frame (imported or drawn); it replaces the object's earlier prompts there."""
        self._check_frame(frame)
        self._check_object(obj_id)
        mask = np.asarray(mask)
        h, w = self._frame_size()
        if mask.ndim != 2 or mask.shape != (h, w):
            shape = "x".join(str(s) for s in mask.shape[::-1])
            raise SessionError(
                f"mask for frame {frame} is {shape} but the frame is {w}x{h}: resize it to the frame size"
            )
        prompt = Prompt(self._next_id(), frame, obj_id, "mask", mask_file=None)
        rel = f"prompt_masks/{prompt.id:06d}.png"
        _write_png(self.state_dir / rel, (mask > 0).astype(np.uint8) * 255)
        return self._add_prompt(Prompt(prompt.id, frame, obj_id, "mask", mask_file=rel))

    def undo(self) -> Prompt | None:
        """Remove the most recent prompt and recompute its frame; returns it (None when there is none)."""
        if not self.state.prompts:
            return None
        prompt = self.state.prompts.pop()
        self._logits.pop((prompt.frame, prompt.obj_id), None)
        if prompt.mask_file:
            (self.state_dir / prompt.mask_file).unlink(missing_ok=True)
        self._recompute_object(prompt.frame, prompt.obj_id, incremental=False)
        self._after_prompt_change(prompt.frame)
        self._save()
        return prompt

    def clear_frame(self, frame: int, obj_id: int | None = None) -> None:
        """Remove every prompt on ``frame`` (of one object, or of all); the frame stops being a keyframe if empty."""
        self._check_frame(frame)
        gone = self.state.prompts_at(frame, obj_id)
        if not gone:
            return
        self.state.prompts = [p for p in self.state.prompts if p not in gone]
        for p in gone:
            self._logits.pop((p.frame, p.obj_id), None)
            if p.mask_file:
                (self.state_dir / p.mask_file).unlink(missing_ok=True)
        for obj in sorted({p.obj_id for p in gone}):
            self._recompute_object(frame, obj, incremental=False)
        self._after_prompt_change(frame)
        self._save()

    def reset_state(self) -> None:
        """Forget all objects, prompts and propagation; written frames become empty label maps."""
        for i in range(len(self.masks)):
            if i in self.masks and self.masks[i] is not None:
                current = self.masks[i]
                self.masks[i] = np.zeros_like(current)
        for sub in ("keyframes", "prompt_masks", "cache"):
            shutil.rmtree(self.state_dir / sub, ignore_errors=True)
        self._logits.clear()
        self.state = SessionState(num_frames=len(self.frames))
        self._save()

    def frame_mask(self, frame: int) -> np.ndarray | None:
        """The current label map of a frame (None before anything was written there)."""
        self._check_frame(frame)
        return self.masks[frame] if frame in self.masks else None

    def is_done(self) -> bool:
        """True when every span is propagated (and there is at least one keyframe)."""
        spans = self.state.spans()
        return bool(self.keyframes) and all(s in self.state.done for s in spans)

    def dirty_frames(self) -> list[int]:
        """Frames the next ``propagate`` will write."""
        out: list[int] = []
        for span in self.state.spans():
            if span not in self.state.done:
                out.extend(self._remaining(span))
        return out

    # -- propagation ---------------------------------------------------------------------------------
    def propagate(self, progress: ProgressFn | None = None) -> Iterator[PropagatedFrame]:
        """Propagate every dirty span, yielding each frame as it is written.

        ``progress(done, total)`` counts propagator steps; raising from it (or closing the generator) stops
        cleanly: frames written so far stay valid and the next call resumes with what is still dirty.
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
        backward = len(span.frames(self.state.num_frames)) if blended and not prog.backward_cached else 0
        return backward + len(self._remaining(span))

    def _known(self, keyframe: int) -> list[int]:
        """Objects a pass from this keyframe carries: those with pixels there.

        An object with an empty mask on a keyframe (prompted as gone, or absent) says nothing about where it is
        on the frames around it, so the pass from the other end of the span decides for it alone.
        """
        present = set(np.unique(self._keyframe_map(keyframe)).tolist()) - {0}
        return sorted(o for o in present if o in self.state.objects)

    def _keyframe_map(self, frame: int) -> np.ndarray:
        label_map = self.masks[frame] if frame in self.masks else None
        if label_map is None:  # the store lost it: compose again from the saved object masks
            label_map = self._compose(frame)
            self.masks[frame] = label_map
        return label_map

    def _propagate_span(self, span: Span, tick: Callable[[], None]) -> Iterator[PropagatedFrame]:
        n = self.state.num_frames
        frames = span.frames(n)
        prog = self.state.progress.setdefault(span, SpanProgress())
        blended = span.left is not None and span.right is not None

        # 1. the backward pass of a blended span, cached on disk (uint8 probabilities)
        bwd_ids: list[int] = self._known(span.right) if span.right is not None else []
        if blended and not prog.backward_cached:
            bwd = _Pass(self.propagator_factory, bwd_ids)
            bwd.seed(self.frames[span.right], self._keyframe_map(span.right))
            for t in reversed(frames):
                probs = bwd.step(self.frames[t])
                self._save_cache(t, probs)
                tick()
            prog.backward_cached = True
            self._save()

        # 2. the writing pass: forward from the left keyframe (backward from the first keyframe for the head).
        # A resumed pass starts from the keyframe too and replays the frames it already wrote (the propagator
        # and the refiner step through them as before; nothing is written), so its state, and so every frame
        # after the interruption, is exactly what an uninterrupted pass gives.
        forward = span.left is not None
        if forward:
            ids = self._known(span.left)
            seed_frame = span.left
        else:
            ids = bwd_ids
            seed_frame = span.right
        seed_map = self._keyframe_map(seed_frame)
        writer = _Pass(self.propagator_factory, ids)
        writer.seed(self.frames[seed_frame], seed_map)
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
                w_fwd = (span.right - t) / (span.right - span.left)  # type: ignore[operator]
                bwd_probs = self._load_cache(t, len(bwd_ids))
                labels, obj_probs = _blend(probs, ids, bwd_probs, bwd_ids, w_fwd)
                passes = ((probs, ids), (bwd_probs, bwd_ids))
            elif forward:
                labels, obj_probs = _blend(probs, ids, None, [], 1.0)
            else:
                labels, obj_probs = _blend(None, [], probs, ids, 0.0)
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
            self.masks[t] = labels
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

    def _fill_keyframe(self, frame: int, writer: _Pass) -> None:
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
        base = _read_png(base_path).astype(np.uint8) if base_path.exists() else np.zeros_like(label_map)
        for obj in missing:
            add = (predicted == obj) & (label_map == 0)
            label_map[add] = obj
            base[(predicted == obj) & (base == 0)] = obj
        resolved.update(missing)
        if not np.array_equal(label_map, self._keyframe_map(frame)):
            _write_png(base_path, base)
            self.masks[frame] = label_map
            self.state.done = {s for s in self.state.done if s.left != frame}
            self.state.progress = {s: p for s, p in self.state.progress.items() if s.left != frame}
        self._save()

    # -- prompt bookkeeping --------------------------------------------------------------------------
    @property
    def _kf_dir(self) -> Path:
        return self.state_dir / "keyframes"

    def _base_path(self, frame: int) -> Path:
        return self._kf_dir / f"{frame:05d}_base.png"

    def _cache_path(self, frame: int) -> Path:
        return self.state_dir / "cache" / f"{frame:05d}.npz"

    def _save_cache(self, frame: int, probs: np.ndarray) -> None:
        import io

        buf = io.BytesIO()
        np.savez_compressed(buf, probs=np.clip(np.rint(probs * 255.0), 0, 255).astype(np.uint8))
        _write_atomic(self._cache_path(frame), buf.getvalue())

    def _load_cache(self, frame: int, k: int) -> np.ndarray:
        with np.load(self._cache_path(frame)) as data:
            probs = data["probs"].astype(np.float32) / 255.0
        if probs.shape[0] != 1 + k:
            raise RuntimeError(f"cached probabilities of frame {frame} have {probs.shape[0] - 1} objects, not {k}")
        return probs

    def _next_id(self) -> int:
        return self.state.next_prompt_id

    def _add_prompt(self, prompt: Prompt) -> np.ndarray:
        frame = prompt.frame
        if frame not in self.keyframes:
            # Remember what the frame held before it became a keyframe: unprompted objects keep it.
            before = self.masks[frame] if frame in self.masks else None
            h, w = self._frame_size()
            _write_png(self._base_path(frame), before if before is not None else np.zeros((h, w), np.uint8))
            # Objects whose mask here is already settled: present before, or tracked through a written frame.
            settled = set(np.unique(before).tolist()) - {0} if before is not None else set()
            if self.state.written(frame):
                settled |= {p.obj_id for p in self.state.prompts if p.frame < frame}
            self.state.resolved[frame] = settled
        self.state.prompts.append(prompt)
        self.state.next_prompt_id = prompt.id + 1
        try:
            self._recompute_object(frame, prompt.obj_id, incremental=prompt.kind == "click")
        except BaseException:
            self.state.prompts.pop()
            raise
        label_map = self._after_prompt_change(frame)
        self._save()
        assert label_map is not None
        return label_map

    def _recompute_object(self, frame: int, obj_id: int, incremental: bool) -> None:
        """Segment one object on one frame from its prompts there and save its mask (or delete it)."""
        path = self._kf_dir / f"{frame:05d}_{obj_id:03d}.png"
        prompts = self.state.prompts_at(frame, obj_id)
        if not prompts:
            path.unlink(missing_ok=True)
            return
        last_mask = max((i for i, p in enumerate(prompts) if p.kind == "mask"), default=-1)
        group = prompts[last_mask + 1 :]
        if not group:
            mask = _read_png(self.state_dir / prompts[last_mask].mask_file) > 0  # type: ignore[operator]
            self._logits.pop((frame, obj_id), None)
        else:
            clicks = [p for p in group if p.kind == "click"]
            boxes = [p for p in group if p.kind == "box"]
            points = np.array([p.point for p in clicks], dtype=np.float32).reshape(-1, 2) if clicks else None
            labels = np.array([1 if p.positive else 0 for p in clicks], dtype=np.int32) if clicks else None
            box = np.array(boxes[-1].box, dtype=np.float32) if boxes else None
            previous = self._logits.get((frame, obj_id)) if incremental and len(group) > 1 else None
            self.segmenter.set_image(self.frames[frame], key=frame)
            result = self.segmenter.predict(
                points=points,
                labels=labels,
                box=box,
                mask_input=previous,
                multimask=len(clicks) == 1 and box is None,
            )
            mask = np.asarray(result.mask, dtype=bool)
            if result.logits is not None:
                self._logits[(frame, obj_id)] = result.logits
            else:
                self._logits.pop((frame, obj_id), None)
        _write_png(path, mask.astype(np.uint8) * 255)

    def _compose(self, frame: int) -> np.ndarray:
        """A keyframe's label map: prompted objects' masks over the map the frame had before."""
        h, w = self._frame_size()
        base_path = self._base_path(frame)
        label_map = _read_png(base_path).astype(np.uint8) if base_path.exists() else np.zeros((h, w), np.uint8)
        prompted = sorted({p.obj_id for p in self.state.prompts_at(frame)})
        label_map[np.isin(label_map, prompted)] = 0
        label_map[~np.isin(label_map, list(self.state.objects))] = 0
        for obj in prompted:
            mask = _read_png(self._kf_dir / f"{frame:05d}_{obj:03d}.png") > 0
            label_map[mask] = obj
        return label_map

    def _after_prompt_change(self, frame: int) -> np.ndarray | None:
        """Rewrite the frame (a keyframe's composition, or its old map when no prompt is left) and invalidate."""
        self.state.invalidate(frame)
        if self.state.prompts_at(frame):
            label_map = self._compose(frame)
        else:
            base = self._base_path(frame)
            label_map = _read_png(base).astype(np.uint8) if base.exists() else None
            base.unlink(missing_ok=True)
            self.state.resolved.pop(frame, None)
            if label_map is not None:
                label_map[~np.isin(label_map, list(self.state.objects))] = 0
        if label_map is not None:
            self.masks[frame] = label_map
        self.state.refined.pop(frame, None)
        self.state.low_confidence.pop(frame, None)
        return label_map

    # -- checks and persistence ----------------------------------------------------------------------
    def _frame_size(self) -> tuple[int, int]:
        if self._size is None:
            self._size = tuple(self.frames[0].shape[:2])  # type: ignore[assignment]
        return self._size  # type: ignore[return-value]

    def _check_frame(self, frame: int) -> None:
        if not isinstance(frame, int | np.integer) or not 0 <= frame < self.state.num_frames:
            raise SessionError(f"frame {frame} is not in the clip (frames 0..{self.state.num_frames - 1})")

    def _check_object(self, obj_id: int) -> None:
        if obj_id not in self.state.objects:
            known = ", ".join(str(o) for o in sorted(self.state.objects)) or "none yet"
            raise SessionError(f"object {obj_id} does not exist (objects: {known}); call add_object() first")

    def _save(self) -> None:
        self.signal_log.save()
        _write_atomic(self.state_dir / "prompts.json", json.dumps(self.state.prompts_json(), indent=1).encode())
        _write_atomic(self.state_dir / "session.json", json.dumps(self.state.session_json(), indent=1).encode())

    def _load(self) -> SessionState | None:
        session_path = self.state_dir / "session.json"
        if not session_path.exists():
            return None
        try:
            session = json.loads(session_path.read_text())
            prompts_path = self.state_dir / "prompts.json"
            prompts = json.loads(prompts_path.read_text()) if prompts_path.exists() else {}
            if session.get("version") != FORMAT_VERSION:
                raise SessionError(
                    f"{session_path} has format version {session.get('version')}, expected "
                    f"{FORMAT_VERSION}: use another state_dir or delete it"
                )
            return SessionState.from_json(session, prompts)
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise SessionError(f"{session_path} is damaged ({exc}): delete the folder to start over") from exc
