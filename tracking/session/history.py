"""Undo history: what each prompt changed, so that undo restores it bit for bit.

An entry is opened before a prompt changes anything. It holds the session's state files as they were
(``prompts.json``, ``session.json``), and, the first time each is overwritten while the entry is the latest one,
the previous content of every label map and every keyframe file it touched: the prompt's own frame, and every
frame a later ``propagate`` rewrote, with the review signals of those frames (``signals.json``, ``tracking.flags``).
Undo writes all of that back, so the masks and review signals of every touched frame are identical to before
and the spans that were done are done again (nothing is left to re-track).

On disk, in ``state_dir/history/NNNNNN/``: ``state.json``, ``maps/NNNNN.png`` (a label map; ``NNNNN.none`` when
the frame had none), ``signals/NNNNN.json`` (a frame's review signals; ``null`` when it had none),
``files/<relative path>`` (a keyframe file; listed in ``state.json`` as absent when it did not exist).
At most ``limit`` entries are kept; the oldest go first.

Redo: undo moves what it replaces (the state files, and the same label maps and files as they are after the
prompt) to ``state_dir/history/redo/NNNNNN/`` in the same layout; redo puts it back and moves the state it
replaces onto the undo stack again. Any new change (a prompt, a frame written by ``propagate``) empties it.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tracking.atomic_files import write_atomic
from tracking.flags import FrameSignal
from tracking.session.state import read_png, write_png

Signals = dict[int, FrameSignal]  # object id -> what the propagator said about it on one frame


@dataclass(frozen=True)
class UndoStep:
    """One undo step, read back from disk: the state files and what the prompt and its propagation overwrote."""

    prompt_id: int
    prompts: dict[str, Any]  # prompts.json as it was
    session: dict[str, Any]  # session.json as it was
    maps: dict[int, np.ndarray | None]  # frame -> its label map (None: it had none)
    files: dict[str, bytes | None]  # path relative to state_dir -> its content (None: it did not exist)
    signals: dict[int, Signals | None] = field(default_factory=dict)  # frame -> its review signals (None: none)


class History:
    """The undo stack of one session folder."""

    def __init__(self, state_dir: Path, limit: int = 50) -> None:
        self.state_dir = Path(state_dir)
        self.root = self.state_dir / "history"
        self.redo_root = self.root / "redo"
        self.limit = limit
        # what the latest entry already holds (maps "m<frame>", signals "s<frame>", files "f<path>")
        self._recorded: set[str] = set()

    def _entries(self, root: Path | None = None) -> list[Path]:
        root = self.root if root is None else root
        if not root.is_dir():
            return []
        return sorted(p for p in root.iterdir() if p.is_dir() and p.name.isdigit())

    def __len__(self) -> int:
        return len(self._entries())

    @property
    def redo_depth(self) -> int:
        """How many undone prompts ``redo`` can bring back."""
        return len(self._entries(self.redo_root))

    def clear_redo(self) -> None:
        if self.redo_root.is_dir():
            shutil.rmtree(self.redo_root, ignore_errors=True)

    def open(self, prompt_id: int, prompts: dict[str, Any], session: dict[str, Any]) -> None:
        """Start the entry of a new prompt from the state as it is now (before the prompt)."""
        self.clear_redo()
        entries = self._entries()
        number = int(entries[-1].name) + 1 if entries else 1
        folder = self.root / f"{number:06d}"
        folder.mkdir(parents=True)
        state = {"prompt_id": prompt_id, "prompts": prompts, "session": session, "absent_files": []}
        write_atomic(folder / "state.json", json.dumps(state).encode())
        self._recorded = set()
        for old in entries[: max(0, len(entries) + 1 - self.limit)]:
            shutil.rmtree(old, ignore_errors=True)

    def _latest(self) -> Path | None:
        entries = self._entries()
        return entries[-1] if entries else None

    def _claim(self, key: str) -> Path | None:
        """The latest entry's folder if it does not hold ``key`` yet (which it then does), else None."""
        latest = self._latest()
        if latest is None or key in self._recorded:
            return None
        self._recorded.add(key)
        return latest

    def record_map(self, frame: int, label_map: np.ndarray | None) -> None:
        """Keep ``frame``'s label map as it is before its first overwrite under the latest entry."""
        self.clear_redo()  # the masks change: what was undone no longer fits on top of them
        latest = self._claim(f"m{frame}")
        if latest is None:
            return
        folder = latest / "maps"
        if (folder / f"{frame:05d}.png").exists() or (folder / f"{frame:05d}.none").exists():
            return  # recorded by an earlier process on this entry
        if label_map is None:
            write_atomic(folder / f"{frame:05d}.none", b"")
        else:
            write_png(folder / f"{frame:05d}.png", np.asarray(label_map, np.uint8))

    def record_signals(self, frame: int, signals: Signals | None) -> None:
        """Keep ``frame``'s review signals as they are before their first change under the latest entry."""
        self.clear_redo()  # the signals change: what was undone no longer fits on top of them
        latest = self._claim(f"s{frame}")
        if latest is None:
            return
        path = latest / "signals" / f"{frame:05d}.json"
        if not path.exists():  # else recorded by an earlier process on this entry
            write_atomic(path, _signals_json(signals))

    def record_file(self, path: Path) -> None:
        """Keep a state file (a keyframe mask) as it is before its first change under the latest entry."""
        rel = str(Path(path).relative_to(self.state_dir))
        latest = self._claim(f"f{rel}")
        if latest is None:
            return
        saved = latest / "files" / rel
        state_path = latest / "state.json"
        state = json.loads(state_path.read_text())
        if saved.exists() or rel in state["absent_files"]:
            return
        if Path(path).exists():
            saved.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(saved, Path(path).read_bytes())
        else:
            state["absent_files"].append(rel)
            write_atomic(state_path, json.dumps(state).encode())

    def pop(self) -> UndoStep | None:
        """Take the latest entry off the undo stack (its folder is deleted once read); None when empty."""
        return self._pop(self.root)

    def pop_redo(self) -> UndoStep | None:
        """Take the latest undone step off the redo stack; None when empty."""
        return self._pop(self.redo_root)

    def push_redo(self, step: UndoStep) -> None:
        """Keep ``step`` (the state an undo replaces) for ``redo``."""
        entries = self._entries(self.redo_root)
        number = int(entries[-1].name) + 1 if entries else 1
        self._write(self.redo_root / f"{number:06d}", step)

    def push(self, step: UndoStep) -> None:
        """Put ``step`` (the state a redo replaces) back on the undo stack as its latest entry."""
        entries = self._entries()
        number = int(entries[-1].name) + 1 if entries else 1
        self._write(self.root / f"{number:06d}", step)
        self._recorded = (
            {f"m{f}" for f in step.maps} | {f"s{f}" for f in step.signals} | {f"f{rel}" for rel in step.files}
        )

    @staticmethod
    def _write(folder: Path, step: UndoStep) -> None:
        folder.mkdir(parents=True)
        absent = sorted(rel for rel, content in step.files.items() if content is None)
        for frame, label_map in step.maps.items():
            if label_map is None:
                write_atomic(folder / "maps" / f"{frame:05d}.none", b"")
            else:
                write_png(folder / "maps" / f"{frame:05d}.png", np.asarray(label_map, np.uint8))
        for frame, signals in step.signals.items():
            write_atomic(folder / "signals" / f"{frame:05d}.json", _signals_json(signals))
        for rel, content in step.files.items():
            if content is not None:
                write_atomic(folder / "files" / rel, content)
        state = {"prompt_id": step.prompt_id, "prompts": step.prompts, "session": step.session, "absent_files": absent}
        write_atomic(folder / "state.json", json.dumps(state).encode())  # last: an entry without it is unfinished

    def _pop(self, root: Path) -> UndoStep | None:
        entries = self._entries(root)
        latest = entries[-1] if entries else None
        if latest is None or not (latest / "state.json").exists():
            return None
        state = json.loads((latest / "state.json").read_text())
        maps: dict[int, np.ndarray | None] = {}
        if (latest / "maps").is_dir():
            for path in sorted((latest / "maps").iterdir()):
                maps[int(path.stem)] = None if path.suffix == ".none" else read_png(path).astype(np.uint8)
        signals: dict[int, Signals | None] = {}
        if (latest / "signals").is_dir():
            for path in sorted((latest / "signals").glob("*.json")):
                raw = json.loads(path.read_text())
                signals[int(path.stem)] = (
                    None if raw is None else {int(o): FrameSignal(**v) for o, v in raw.items()}
                )
        files: dict[str, bytes | None] = dict.fromkeys(state["absent_files"])
        root = latest / "files"
        if root.is_dir():
            files.update({str(f.relative_to(root)): f.read_bytes() for f in root.rglob("*") if f.is_file()})
        shutil.rmtree(latest, ignore_errors=True)
        self._recorded = set()
        return UndoStep(int(state["prompt_id"]), state["prompts"], state["session"], maps, files, signals)

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        self._recorded = set()


def _signals_json(signals: Signals | None) -> bytes:
    return json.dumps(None if signals is None else {str(o): asdict(v) for o, v in signals.items()}).encode()
