"""One writer per project: an OS file lock on ``<project>/.lock``, held for a whole run.

Two runs writing one project interleave their stages (one run's masks under the other's prompts, fills of the
wrong object, frames left unwritten), so every entry point that writes a project holds its lock exclusively
for as long as it works: the CLI for the whole command, the page's jobs for the whole job, and the pipeline's
Python functions (``open_project``, ``track``, ``inpaint``) for each call, and the page's edits (clicks,
undo, deleting an object: :class:`LockedSession`) for each edit. Readers (``render``, ``tam export``)
hold it shared, so they never see half a stage. A second writer is refused at once with a message naming
the process that holds the project; nothing waits silently.

The lock is ``fcntl.flock`` on a file inside the project: the kernel drops it when its process dies (even by
SIGKILL), so a killed run never leaves a stale lock. Within one process the lock is re-entrant per thread (a
CLI command holding it calls ``track``, which takes it again); another thread of the same process is refused
like another process.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from editor.errors import TamError

LOCK_NAME = ".lock"


class ProjectBusy(TamError):
    """Another process (or another job of this one) is working on the project; ``holder`` says who, in words."""

    def __init__(self, message: str, holder: str = "") -> None:
        super().__init__(message)
        self.holder = holder


@dataclass
class _Held:
    handle: int  # the file descriptor carrying the flock
    exclusive: bool
    depth: int


# Locks this process holds, by (lock file, thread): what makes the lock re-entrant for the thread holding it.
_HELD: dict[tuple[Path, int], _Held] = {}
_GUARD = threading.Lock()


def lock_path(root: str | os.PathLike[str]) -> Path:
    """The lock file of the project at ``root``."""
    return Path(root).absolute() / LOCK_NAME


def holder(root: str | os.PathLike[str]) -> str:
    """Who holds the project's lock, in words (from what the holder wrote into the lock file)."""
    try:
        info = json.loads(lock_path(root).read_text() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info.get("pid"):
        return "another process"
    since = time.strftime("%H:%M:%S", time.localtime(info.get("since", 0)))
    return f"process {info['pid']} ({info.get('command', '?')}, since {since})"


def _held_here(path: Path) -> bool:
    """Whether another thread of this process holds the lock file ``path`` (the page's click beside its job)."""
    me = threading.get_ident()
    with _GUARD:
        return any(p == path and tid != me for p, tid in _HELD)


@contextlib.contextmanager
def project_lock(
    root: str | os.PathLike[str], *, shared: bool = False, wait_local: float = 0.0
) -> Iterator[None]:
    """Hold the project's lock (exclusive for writers, ``shared`` for readers) for the ``with`` block.

    Raises :class:`ProjectBusy` at once, naming the holder, when another process or thread holds it; with
    ``wait_local`` seconds, a holder that is another thread of this process (an edit of the page's, seconds long)
    is waited for that long first. Another process is never waited for.
    """
    path = lock_path(root)
    key = (path, threading.get_ident())
    with _GUARD:
        held = _HELD.get(key)
        if held is not None and (held.exclusive or shared):
            held.depth += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield
        finally:
            with _GUARD:
                held.depth -= 1  # type: ignore[union-attr]
        return
    if held is not None:  # shared -> exclusive in the same thread: refuse rather than risk a deadlock
        raise ProjectBusy(f"{path.parent} is open for reading in this process; finish reading before writing it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    deadline = time.monotonic() + wait_local
    while True:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() < deadline:
                if _held_here(path):
                    time.sleep(0.05)
                    continue
                # a thread here releases its lock before it forgets it: gone from _HELD means the flock is free now
                with contextlib.suppress(BlockingIOError):
                    fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
                    break
        os.close(fd)
        who = holder(path.parent)
        raise ProjectBusy(
            f"the project {path.parent} is in use by {who}; wait for it to finish (or stop it), or use another "
            "--project folder",
            holder=who,
        ) from None
    if not shared:
        command = " ".join(["tam" if Path(sys.argv[0]).name in ("tam", "cli.py") else Path(sys.argv[0]).name,
                            *sys.argv[1:]])[:300]
        info = json.dumps({"pid": os.getpid(), "command": command, "since": time.time()}).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, info, 0)
    with _GUARD:
        _HELD[key] = _Held(fd, not shared, 1)
    try:
        yield
    finally:
        if not shared:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
        try:
            os.close(fd)  # closing the descriptor releases the flock
        finally:
            # forgotten only once released: a thread waiting for this one (``wait_local``) never sees the lock
            # held by nobody it may wait for while the kernel still holds it
            with _GUARD:
                _HELD.pop(key, None)


class LockedSession:
    """A tracking session whose edits each hold the project's lock, for a caller that keeps a session open
    between edits (the page): a click, an undo or a deleted object is refused with :class:`ProjectBusy` while
    another process writes the project, instead of interleaving with it. When another process changed the
    session's saved state since this one last saw it (a ``tam`` command run on the project between two clicks),
    the state is read again first (``refresh``), so an edit never writes over that work. Reads pass straight
    through."""

    EDITS = frozenset({"add_object", "rename", "remove_object", "add_click", "add_box", "add_mask", "undo", "redo",
                       "clear_frame", "reset_state"})

    def __init__(self, session: Any, root: str | os.PathLike[str]) -> None:
        self.session = session
        self.root = Path(root)

    def refresh(self) -> bool:
        """Read the session's state again if another process saved it since this session last saved or read it
        (call it only while no job of this process is using the session); returns whether it did."""
        if not self.session.changed_elsewhere:
            return False
        self.session.reload()
        return True

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.session, name)
        if name not in self.EDITS or not callable(attr):
            return attr

        def locked(*args: Any, **kwargs: Any) -> Any:
            with project_lock(self.root):
                self.refresh()
                return attr(*args, **kwargs)

        return locked


__all__ = ["LOCK_NAME", "LockedSession", "ProjectBusy", "holder", "lock_path", "project_lock"]
