"""``TrackSession``: the public verbs over the state (``state.py``), the passes (``runner.py``) and the undo
history (``history.py``). See the package docstring for the model of the clip."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from tracking.backend import Propagator, Segmenter
from tracking.flags import SignalLog
from tracking.refind import Finder
from tracking.refine import Refiner
from tracking.session.edit import Click, click_region, honour, keep_object
from tracking.session.history import History, UndoStep
from tracking.session.runner import SpanRunner
from tracking.session.shots import ShotRefinder, check_cuts
from tracking.session.state import (
    FORMAT_VERSION,
    PALETTE,
    MaskStore,
    Prompt,
    SessionError,
    SessionState,
    TrackedObject,
    read_png,
    state_stamp,
    write_atomic,
    write_png,
)


class TrackSession(ShotRefinder, SpanRunner):
    """An interactive tracking session over one clip, persisted in ``state_dir``.

    ``frames`` is read lazily (index access only); ``masks`` receives one label map per frame. Opening a
    ``state_dir`` that already holds a session continues it. ``cuts`` are the first frames of the clip's shots
    after the first (``editor.store.Project.cuts``): nothing is propagated across them, and an object is looked
    for (``finder``, by default the one that suits the propagator: ``tracking.refind.finder_for``) in each
    shot where it has no prompt. Opening a session with other cuts than it had makes every span dirty.
    A pass from a keyframe replays at most ``max_lead_in`` frames before it (``tracking.session.runner``).
    """

    def __init__(
        self,
        frames: Sequence[np.ndarray],
        masks: MaskStore,
        state_dir: str | Path,
        segmenter: Segmenter,
        propagator_factory: Callable[[], Propagator],
        refiner: Refiner | None = None,
        cuts: Sequence[int] = (),
        finder: Finder | None = None,
        max_lead_in: int = 30,
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
        self.finder = finder
        if max_lead_in < 1:
            raise SessionError(
                f"max_lead_in is how many frames a pass replays before its keyframe (1 or more), got {max_lead_in}"
            )
        self.max_lead_in = max_lead_in
        cuts = check_cuts(cuts, len(frames))
        # (frame, obj) -> low-res logits of the segmenter's last answer there, and the mask that answer became
        self._logits: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._size: tuple[int, int] | None = None
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state = self._load() or SessionState(num_frames=len(frames), cuts=cuts, tracked_cuts=cuts)
        self.stamp = state_stamp(self.state_dir)  # the saved state this session's ``state`` stands for
        self._open_logs()
        if self.state.num_frames != len(frames):
            raise SessionError(
                f"{self.state_dir} holds a session for {self.state.num_frames} frames but the clip has "
                f"{len(frames)}: use another state_dir or reset_state()"
            )
        if self.state.cuts != cuts:  # other shots: every span and every re-finding decision is out of date
            if not self.state.done and not self.state.progress:
                self.state.tracked_cuts = cuts  # nothing was tracked: no mask on disk depends on the old cuts
            self.state.cuts = cuts
            self.state.done, self.state.progress, self.state.refound = set(), {}, {}
            self.history.clear()  # its steps hold the old cuts: an undo would bring them back

    @property
    def changed_elsewhere(self) -> bool:
        """Whether the state on disk is not the one this session last saved or read (another process, a ``tam``
        command or another server, saved since)."""
        return state_stamp(self.state_dir) != self.stamp

    def reload(self) -> None:
        """Read the state again from ``state_dir``, where another process (a ``tam`` command, another server)
        changed it since this session last saved: editing from the old state would overwrite that work. The
        segmenter's answers kept for feeding back are dropped; the models stay loaded."""
        cuts = self.state.cuts
        self.stamp = state_stamp(self.state_dir)
        self.state = self._load() or SessionState(num_frames=len(self.frames), cuts=cuts, tracked_cuts=cuts)
        self._open_logs()
        self._logits.clear()

    def _open_logs(self) -> None:
        """The undo history and the review signals, as ``state_dir`` holds them."""
        self.history = History(self.state_dir)
        # review signals per written frame (tracking.flags); undo restores them with the frame's label map
        self.signal_log = SignalLog(self.state_dir, before_change=self.history.record_signals)

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
        self.history.clear()
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
                write_png(base, np.where(read_png(base) == obj_id, 0, read_png(base)).astype(np.uint8))
            self._after_prompt_change(frame)
        for i in range(len(self.masks)):
            if i in self.masks:
                current = self.masks[i]
                if current is not None and (current == obj_id).any():
                    self.masks[i] = np.where(current == obj_id, 0, current).astype(np.uint8)
        for objs in self.state.refined.values():
            objs.pop(obj_id, None)
        self.state.refined = {f: r for f, r in self.state.refined.items() if r}
        self.signal_log.forget(obj_id)  # its review signals describe pixels that are gone
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
        write_png(self.state_dir / rel, (mask > 0).astype(np.uint8) * 255)
        return self._add_prompt(Prompt(prompt.id, frame, obj_id, "mask", mask_file=rel))

    def undo(self) -> Prompt | None:
        """Take back the most recent prompt; returns it (None when there is none).

        Every label map the prompt changed, on its frame and on every frame propagated since, comes back
        bit-identical, and so does the tracking state: spans that were done before the prompt are done again.
        (After ``clear_frame`` or ``remove_object`` the history is gone: the prompt is removed and its frame
        segmented again from the prompts left.)"""
        if not self.state.prompts:
            return None
        prompt = self.state.prompts[-1]
        step = self.history.pop()
        if step is None or step.prompt_id != prompt.id:
            self.history.clear()
            return self._undo_without_history()
        self.history.push_redo(self._snapshot(step, prompt))
        self._restore(step)
        if prompt.mask_file:
            (self.state_dir / prompt.mask_file).unlink(missing_ok=True)
        self._logits.pop((prompt.frame, prompt.obj_id), None)
        self._save()
        return prompt

    @property
    def can_redo(self) -> bool:
        """Whether ``redo`` has an undone prompt to bring back."""
        return self.history.redo_depth > 0

    def redo(self) -> Prompt | None:
        """Bring back the most recently undone prompt (None when there is none): the masks of every frame its
        undo touched and the tracking state come back bit-identical to before the undo. A new prompt or a
        propagation after the undo forgets what redo could bring back."""
        step = self.history.pop_redo()
        if step is None:
            return None
        self.history.push(self._snapshot(step))
        self._restore(step)
        self._save()
        prompt = next((p for p in self.state.prompts if p.id == step.prompt_id), None)
        if prompt is not None:
            self._logits.pop((prompt.frame, prompt.obj_id), None)
        return prompt

    def keep_for_undo(self, path: str | Path) -> None:
        """Keep a file of ``state_dir`` that the caller is about to overwrite (the page's review list) in the
        latest undo step, so that undo and redo put it back with the masks it was made from."""
        path = Path(path)
        if not path.resolve().is_relative_to(self.state_dir.resolve()):
            raise SessionError(f"{path} is not in the session's folder {self.state_dir}: undo cannot keep it")
        self.history.record_file(self.state_dir / path.resolve().relative_to(self.state_dir.resolve()))

    def _snapshot(self, step: UndoStep, prompt: Prompt | None = None) -> UndoStep:
        """The state as it is now, over the frames and files ``step`` would overwrite (and ``prompt``'s mask file)."""
        rels = set(step.files) | ({prompt.mask_file} if prompt is not None and prompt.mask_file else set())
        files = {rel: (self.state_dir / rel).read_bytes() if (self.state_dir / rel).exists() else None for rel in rels}
        maps = {f: (np.array(self.masks[f], np.uint8) if f in self.masks and self.masks[f] is not None else None)
                for f in step.maps}
        signals = {f: dict(self.signal_log.signals[f]) if f in self.signal_log.signals else None for f in step.signals}
        return UndoStep(step.prompt_id, self.state.prompts_json(), self.state.session_json(), maps, files, signals)

    def _restore(self, step: UndoStep) -> None:
        """Put back the state files, label maps and keyframe files of an undo (or redo) step."""
        objects = self.state.objects
        self.state = SessionState.from_json(step.session, step.prompts)
        self.state.objects = objects  # objects are not undone (only prompts are); removing one clears the history
        for frame, label_map in step.maps.items():
            if label_map is not None:
                self.masks[frame] = label_map
            elif frame in self.masks:
                self._forget_map(frame)
        for frame, signals in step.signals.items():
            self.signal_log.restore(frame, signals)
        for rel, content in step.files.items():
            path = self.state_dir / rel
            if content is None:
                path.unlink(missing_ok=True)
            else:
                write_atomic(path, content)
        # a span in progress whose cached backward pass is gone starts again
        for span, prog in list(self.state.progress.items()):
            if prog.backward_cached and not all(self._cache_path(t).exists() for t in span.frames(len(self.frames))):
                self.state.progress.pop(span)

    def _undo_without_history(self) -> Prompt:
        prompt = self.state.prompts.pop()
        self._logits.pop((prompt.frame, prompt.obj_id), None)
        if prompt.mask_file:
            (self.state_dir / prompt.mask_file).unlink(missing_ok=True)
        self._replay(prompt.frame, prompt.obj_id)
        self._after_prompt_change(prompt.frame)
        self._save()
        return prompt

    def _forget_map(self, frame: int) -> None:
        """Remove a frame's label map from the store (a store that cannot delete gets an empty map)."""
        if hasattr(self.masks, "__delitem__"):
            del self.masks[frame]  # type: ignore[attr-defined]
        else:
            h, w = self._frame_size()
            self.masks[frame] = np.zeros((h, w), np.uint8)

    def clear_frame(self, frame: int, obj_id: int | None = None) -> None:
        """Remove every prompt on ``frame`` (of one object, or of all); the frame stops being a keyframe if empty."""
        self._check_frame(frame)
        gone = self.state.prompts_at(frame, obj_id)
        if not gone:
            return
        self.history.clear()
        self.state.prompts = [p for p in self.state.prompts if p not in gone]
        for p in gone:
            self._logits.pop((p.frame, p.obj_id), None)
            if p.mask_file:
                (self.state_dir / p.mask_file).unlink(missing_ok=True)
        for obj in sorted({p.obj_id for p in gone}):
            self._replay(frame, obj)
        self._after_prompt_change(frame)
        self._save()

    def reset_state(self) -> None:
        """Forget all objects, prompts and propagation; written frames become empty label maps."""
        for i in range(len(self.masks)):
            if i in self.masks and self.masks[i] is not None:
                current = self.masks[i]
                self.masks[i] = np.zeros_like(current)
        for sub in ("keyframes", "prompt_masks", "cache", "found"):
            shutil.rmtree(self.state_dir / sub, ignore_errors=True)
        self.history.clear()
        self._logits.clear()
        self.signal_log.forget()
        self.state = SessionState(num_frames=len(self.frames), cuts=self.state.cuts, tracked_cuts=self.state.cuts)
        self._save()

    def frame_mask(self, frame: int) -> np.ndarray | None:
        """The current label map of a frame (None before anything was written there)."""
        self._check_frame(frame)
        return self.masks[frame] if frame in self.masks else None

    def is_done(self) -> bool:
        """True when every span is propagated (and there is at least one keyframe)."""
        spans = self.state.spans()
        return bool(self.keyframes) and not self._refind_pending() and all(s in self.state.done for s in spans)

    def dirty_frames(self) -> list[int]:
        """Frames the next ``propagate`` will write."""
        out: list[int] = []
        for span in self.state.spans():
            if span not in self.state.done:
                out.extend(self._remaining(span))
        for start, _ in self.state.to_refind():  # not looked for yet: its whole shot may be written again
            out.extend(t for t in range(*self.state.shot_of(start)) if t not in out)
        return out

    # -- prompt bookkeeping --------------------------------------------------------------------------
    @property
    def _kf_dir(self) -> Path:
        return self.state_dir / "keyframes"

    def _base_path(self, frame: int) -> Path:
        return self._kf_dir / f"{frame:05d}_base.png"

    def _next_id(self) -> int:
        return self.state.next_prompt_id

    def _add_prompt(self, prompt: Prompt) -> np.ndarray:
        frame = prompt.frame
        self.history.open(prompt.id, self.state.prompts_json(), self.state.session_json())
        self.history.record_map(frame, self.masks[frame] if frame in self.masks else None)
        for path in self._kf_dir.glob(f"{frame:05d}_*.png"):
            self.history.record_file(path)
        self.history.record_file(self._base_path(frame))
        self.history.record_file(self._object_path(frame, prompt.obj_id))
        try:
            if frame not in self.keyframes:
                # Remember what the frame held before it became a keyframe: unprompted objects keep it.
                before = self.masks[frame] if frame in self.masks else None
                h, w = self._frame_size()
                write_png(self._base_path(frame), before if before is not None else np.zeros((h, w), np.uint8))
                # Objects whose mask here is already settled: present before, or tracked through a written frame.
                settled = set(np.unique(before).tolist()) - {0} if before is not None else set()
                if self.state.written(frame):
                    settled |= {p.obj_id for p in self.state.prompts if p.frame < frame}
                self.state.resolved[frame] = settled
            self.state.prompts.append(prompt)
            self.state.next_prompt_id = prompt.id + 1
            self._apply(prompt)
        except BaseException:
            self._roll_back()
            raise
        label_map = self._after_prompt_change(frame)
        self._save()
        assert label_map is not None
        return label_map

    def _roll_back(self) -> None:
        """Put back what a refused prompt changed (its history entry holds it all)."""
        step = self.history.pop()
        if step is None:
            return
        objects = self.state.objects
        self.state = SessionState.from_json(step.session, step.prompts)
        self.state.objects = objects
        for rel, content in step.files.items():
            if content is None:
                (self.state_dir / rel).unlink(missing_ok=True)
            else:
                write_atomic(self.state_dir / rel, content)

    def _object_path(self, frame: int, obj_id: int) -> Path:
        return self._kf_dir / f"{frame:05d}_{obj_id:03d}.png"

    def _current_mask(self, frame: int, obj_id: int) -> np.ndarray:
        """The object's mask on ``frame`` as it is now: its keyframe mask there, else what the frame held before
        it became a keyframe (the tracked mask), else the frame's label map."""
        path = self._object_path(frame, obj_id)
        if path.exists():
            return read_png(path) > 0
        base = self._base_path(frame)
        if base.exists():
            return read_png(base) == obj_id
        current = self.masks[frame] if frame in self.masks else None
        if current is None:
            h, w = self._frame_size()
            return np.zeros((h, w), bool)
        return current == obj_id

    def _replay(self, frame: int, obj_id: int) -> None:
        """Segment one object on one frame again from its prompts there, in order (or delete its mask)."""
        self._object_path(frame, obj_id).unlink(missing_ok=True)
        self._logits.pop((frame, obj_id), None)
        for prompt in self.state.prompts_at(frame, obj_id):
            self._apply(prompt)

    def _apply(self, prompt: Prompt) -> None:
        """Edit the object's mask on the prompt's frame with it, and save the mask.

        A mask prompt replaces the mask. A box segments the object from the box and the clicks given since the
        last mask. A click edits the mask that is there (tracked or prompted): the segmenter gets every click
        of the frame since the last mask or box, with the current mask as ``mask_input`` (its own logits when
        that mask is its last answer), and every click is then honoured (``edit.honour``)."""
        frame, obj_id = prompt.frame, prompt.obj_id
        path = self._object_path(frame, obj_id)
        prompts = self.state.prompts_at(frame, obj_id)
        prompts = prompts[: prompts.index(prompt) + 1]
        if prompt.kind == "mask":
            write_png(path, (read_png(self.state_dir / prompt.mask_file) > 0).astype(np.uint8) * 255)  # type: ignore[operator]
            self._logits.pop((frame, obj_id), None)
            return
        last_mask = max((i for i, p in enumerate(prompts) if p.kind == "mask"), default=-1)
        group = prompts[last_mask + 1 :]
        clicks = [p for p in group if p.kind == "click"]
        boxes = [p for p in group if p.kind == "box"]
        image = self.frames[frame]
        prior = self._current_mask(frame, obj_id) if prompt.kind == "click" else None
        if prompt.kind == "click" and not prior.any() and not boxes and not any(p.positive for p in clicks):
            raise SessionError(
                f"object {obj_id} has no mask on frame {frame}, so a negative click has nothing to remove: "
                "click on the object first (a positive click) or draw a box"
            )
        mask_input: np.ndarray | None = None
        if prior is not None and prior.any():
            logits, answered = self._logits.get((frame, obj_id), (None, None))
            mask_input = logits if answered is not None and np.array_equal(answered, prior) else prior
        points = np.array([p.point for p in clicks], dtype=np.float32).reshape(-1, 2) if clicks else None
        labels = np.array([1 if p.positive else 0 for p in clicks], dtype=np.int32) if clicks else None
        self.segmenter.set_image(image, key=frame)
        result = self.segmenter.predict(
            points=points,
            labels=labels,
            box=np.array(boxes[-1].box, dtype=np.float32) if boxes else None,
            mask_input=mask_input,
            multimask=len(clicks) == 1 and not boxes and mask_input is None,
        )
        said = [Click(p.point[0], p.point[1], p.positive) for p in clicks]  # type: ignore[index]
        mask = np.asarray(result.mask, dtype=bool)
        if prior is not None:
            mask = keep_object(prior, mask, said, image)
        mask = honour(mask, said, image)
        if result.logits is not None and np.array_equal(mask, np.asarray(result.mask, dtype=bool)):
            # the logits describe the segmenter's own answer: they stand for the mask only when it kept it as is
            self._logits[(frame, obj_id)] = (result.logits, mask)
        else:
            self._logits.pop((frame, obj_id), None)
        write_png(path, mask.astype(np.uint8) * 255)

    def _compose(self, frame: int) -> np.ndarray:
        """A keyframe's label map: prompted objects' masks over the map the frame had before.

        Where prompted objects' masks overlap, the object prompted first on this frame keeps the pixel, except
        under a positive click: the region under it (``edit.click_region``) goes to the clicked object (the
        latest click wins), so a new object never takes what another object's clicks hold."""
        h, w = self._frame_size()
        base_path = self._base_path(frame)
        label_map = read_png(base_path).astype(np.uint8) if base_path.exists() else np.zeros((h, w), np.uint8)
        prompts = self.state.prompts_at(frame)
        prompted = list(dict.fromkeys(p.obj_id for p in prompts))  # in order of their first prompt here
        label_map[np.isin(label_map, prompted)] = 0
        label_map[~np.isin(label_map, list(self.state.objects))] = 0
        masks = {obj: read_png(self._object_path(frame, obj)) > 0 for obj in prompted}
        for obj in reversed(prompted):  # the first prompted is painted last: it keeps contested pixels
            label_map[masks[obj]] = obj
        if len(prompted) > 1:
            image = self.frames[frame]
            for p in prompts:
                if p.kind == "click" and p.positive:
                    held = click_region(image, Click(p.point[0], p.point[1], True)) & masks[p.obj_id]  # type: ignore[index]
                    label_map[held] = p.obj_id
        return label_map

    def _after_prompt_change(self, frame: int) -> np.ndarray | None:
        """Rewrite the frame (a keyframe's composition, or its old map when no prompt is left) and invalidate."""
        self.state.invalidate(frame)
        if self.state.prompts_at(frame):
            label_map = self._compose(frame)
        else:
            base = self._base_path(frame)
            label_map = read_png(base).astype(np.uint8) if base.exists() else None
            base.unlink(missing_ok=True)
            self.state.resolved.pop(frame, None)
            if label_map is not None:
                label_map[~np.isin(label_map, list(self.state.objects))] = 0
        if label_map is not None:
            self._set_map(frame, label_map)
        self.state.refined.pop(frame, None)
        self.state.low_confidence.pop(frame, None)
        return label_map

    def _set_map(self, frame: int, label_map: np.ndarray) -> None:
        """Write a frame's label map, keeping the old one in the latest undo entry first."""
        self.history.record_map(frame, self.masks[frame] if frame in self.masks else None)
        self.masks[frame] = label_map

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
        if self.state.tracked_cuts != self.state.cuts and self.is_done():
            self.state.tracked_cuts = self.state.cuts  # every mask is now tracked with the session's cuts
        self.signal_log.save()
        write_atomic(self.state_dir / "prompts.json", json.dumps(self.state.prompts_json(), indent=1).encode())
        write_atomic(self.state_dir / "session.json", json.dumps(self.state.session_json(), indent=1).encode())
        self.stamp = state_stamp(self.state_dir)

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
