"""The session's typed state and its files: objects, prompts, spans, progress, and atomic PNG/JSON writes."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol

import cv2
import numpy as np

from tracking.atomic_files import write_atomic

PromptKind = Literal["click", "box", "mask"]
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
    """The frames strictly between two bounds of one shot; ``None`` is the shot's start (left) or end (right).

    A bound is a keyframe, or a frame where an object was found again after a cut (``Refound``). ``start`` and
    ``end`` are the shot's frames (``end`` None: the clip's end); without cuts the one shot is the whole clip.
    A span with neither bound is a shot where no object is known: it is written empty.
    """

    left: int | None
    right: int | None
    start: int = 0
    end: int | None = None

    def frames(self, num_frames: int) -> range:
        lo = self.start if self.left is None else self.left + 1
        hi = (num_frames if self.end is None else self.end) if self.right is None else self.right
        return range(lo, hi)

    def touches(self, frame: int) -> bool:
        lo = self.start if self.left is None else self.left
        hi = ((1 << 30) if self.end is None else self.end - 1) if self.right is None else self.right
        return lo <= frame <= hi

    def key(self) -> str:
        key = f"{'' if self.left is None else self.left}:{'' if self.right is None else self.right}"
        if self.start or self.end is not None:
            key += f"@{self.start}:{'' if self.end is None else self.end}"
        return key

    @classmethod
    def from_key(cls, key: str) -> Span:
        bounds, _, shot = key.partition("@")
        left, right = bounds.split(":")
        start, end = shot.split(":") if shot else ("0", "")
        return cls(int(left) if left else None, int(right) if right else None, int(start), int(end) if end else None)


@dataclass(frozen=True)
class Refound:
    """What re-finding decided for one object in one shot where it has no prompt: found on ``frame`` (its mask
    there, ``found/NNNNN_OOO.png``, seeds the shot) or absent (``frame`` None: empty on every frame of the shot).
    ``prompts`` are the object's prompt ids it was decided from: the decision is stale once they change."""

    shot: int  # the shot's first frame
    obj_id: int
    frame: int | None
    score: float
    prompts: tuple[int, ...]


@dataclass
class SpanProgress:
    """How far an interrupted span got: backward cache complete, last frame written by the writing pass, and
    per object (id as text) the passes' errors at the span's far keyframes (forward on the right one, backward on
    the left one: ``tracking.session.fusion``), measured with the backward pass."""

    backward_cached: bool = False
    written_to: int | None = None
    errors: dict[str, list[float]] = field(default_factory=dict)


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
    cuts: tuple[int, ...] = ()  # first frames of every shot after the first: nothing is propagated across them
    # the cuts the masks on disk were tracked with: they stay the old ones after the shots change (``cuts``)
    # until a complete pass with the new cuts, so "track again" is still said after a click saves the session
    tracked_cuts: tuple[int, ...] = ()
    # (shot start, object) -> whether the object was found again in a shot where it has no prompt
    refound: dict[tuple[int, int], Refound] = field(default_factory=dict)

    def keyframes(self) -> list[int]:
        return sorted({p.frame for p in self.prompts})

    def shots(self) -> list[tuple[int, int]]:
        """The shots as ``(start, end)`` frame ranges (one shot, the whole clip, without cuts)."""
        bounds = [0, *self.cuts, self.num_frames]
        return list(zip(bounds[:-1], bounds[1:], strict=True))

    def shot_of(self, frame: int) -> tuple[int, int]:
        return next(s for s in self.shots() if s[0] <= frame < s[1])

    def prompt_ids(self, obj_id: int) -> tuple[int, ...]:
        return tuple(p.id for p in self.prompts if p.obj_id == obj_id)

    def to_refind(self) -> list[tuple[int, int]]:
        """``(shot start, object)`` pairs that need a decision: the object is prompted in another shot but not in
        this one, and has no decision from its current prompts."""
        out = []
        for start, end in self.shots():
            for obj in sorted(self.objects):
                frames = [p.frame for p in self.prompts if p.obj_id == obj]
                if not frames or any(start <= f < end for f in frames):
                    continue
                decided = self.refound.get((start, obj))
                if decided is None or decided.prompts != self.prompt_ids(obj):
                    out.append((start, obj))
        return out

    def seeds(self) -> dict[int, list[int]]:
        """Frame -> the objects found again on it (current decisions only)."""
        prompted = {(self.shot_of(p.frame)[0], p.obj_id) for p in self.prompts}
        out: dict[int, list[int]] = {}
        for (start, obj), r in sorted(self.refound.items()):
            if r.frame is not None and r.prompts == self.prompt_ids(obj) and (start, obj) not in prompted:
                out.setdefault(r.frame, []).append(obj)
        return out

    def spans(self) -> list[Span]:
        keys = self.keyframes()
        if not keys:
            return []
        seeds = set(self.seeds())
        spans = []
        for start, end in self.shots():
            inside = sorted({k for k in keys if start <= k < end} | {f for f in seeds if start <= f < end})
            bounds: list[int | None] = [None, *inside, None]
            shot_end = None if end == self.num_frames else end
            spans += [Span(a, b, start, shot_end) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        # Spans between adjacent keyframes hold no frame but still carry objects into the right keyframe.
        return [s for s in spans if len(s.frames(self.num_frames)) or (s.left is not None and s.right is not None)]

    def invalidate_shot(self, start: int) -> None:
        """Mark every span of the shot starting at ``start`` as needing propagation (its bounds changed)."""
        self.done = {s for s in self.done if s.start != start}
        self.progress = {s: p for s, p in self.progress.items() if s.start != start}

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
            "cuts": list(self.cuts),
            "tracked_cuts": list(self.tracked_cuts),
            "refound": [asdict(r) for _, r in sorted(self.refound.items())],
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
        state.cuts = tuple(int(c) for c in session.get("cuts", ()))  # sessions from before shots have none
        state.tracked_cuts = tuple(int(c) for c in session.get("tracked_cuts", state.cuts))
        for r in session.get("refound", ()):
            found = Refound(int(r["shot"]), int(r["obj_id"]), None if r["frame"] is None else int(r["frame"]),
                            float(r["score"]), tuple(int(i) for i in r["prompts"]))
            state.refound[(found.shot, found.obj_id)] = found
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


STATE_FILES = ("prompts.json", "session.json")


def state_stamp(state_dir: str | os.PathLike[str]) -> tuple[tuple[int, int, int], ...]:
    """What identifies a session's saved state on disk (inode, mtime, size of ``STATE_FILES``): every save
    replaces the files (``write_atomic``), so a save by any process changes it."""
    out = []
    for name in STATE_FILES:
        try:
            st = os.stat(Path(state_dir) / name)
            out.append((st.st_ino, st.st_mtime_ns, st.st_size))
        except FileNotFoundError:
            out.append((0, 0, 0))
    return tuple(out)


def write_png(path: Path, image: np.ndarray) -> None:
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise OSError(f"could not encode {path.name}")
    write_atomic(path, buf.tobytes())


def read_png(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise OSError(f"could not read {path}: the session folder is damaged; reset the session")
    return image

