"""Background jobs for the web page: a long stage runs in a thread, its progress lives on disk.

A job belongs to a folder (the page uses the project's workspace). Its state is ``jobs/<name>.json``,
rewritten atomically as it advances, so any browser session, including one opened after a reload,
sees the same progress by reading the file. Cancelling writes ``jobs/<name>.cancel``; the job's
``progress(done, total)`` callback sees it and raises :class:`JobCancelled`, which is how every long
call in tam is cancelled. At most one job runs per folder at a time (stages share the mask and frame
stores), and a job started with ``lock=project_dir`` holds that project's lock (``editor.lock``) while it runs,
so a ``tam`` command on the same project is refused meanwhile, and the job fails with a message naming the
command when one holds it. A job left ``running`` by a server that has since stopped is reported as
``interrupted``.

    runner = JobRunner(workspace)
    runner.start("track", lambda ctx: session.propagate(progress=ctx), lock=project_dir)
    runner.status("track").fraction  # 0.0 .. 1.0
    runner.cancel("track")
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from editor.errors import CancelledError, TamError
from editor.files import atomic_write_bytes
from editor.lock import project_lock
from editor.messages import user_message

LOCAL_WAIT = 60.0  # seconds a job waits for an edit of its own process (a click being segmented) to end

QUEUED, RUNNING, DONE = "queued", "running", "done"
FAILED, CANCELLED, INTERRUPTED = "failed", "cancelled", "interrupted"
ACTIVE_STATES = frozenset({QUEUED, RUNNING})

# Jobs alive in this process, by state-file path: a "running" file without an entry here was left by a dead server.
_LIVE: dict[Path, threading.Thread] = {}
_LIVE_LOCK = threading.RLock()


class JobCancelled(CancelledError):
    """Raised from a job's progress callback once a cancel was requested."""

    def __init__(self, name: str = "job") -> None:
        super().__init__(f"{name} was cancelled.")


class JobBusy(TamError):
    """Another job is still running in the same folder."""


@dataclass(frozen=True)
class JobStatus:
    """A snapshot of one job, as stored in ``jobs/<name>.json``."""

    name: str
    state: str = QUEUED
    done: int = 0
    total: int = 0
    message: str = ""
    error: str = ""  # user-facing message of a failed job
    detail: str = ""  # the traceback of an unexpected failure (for logs, never shown as the message)
    pid: int = 0
    started_at: float = 0.0
    updated_at: float = 0.0
    finished_at: float | None = None
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def fraction(self) -> float:
        """Progress in [0, 1]; a finished job is 1.0."""
        if self.state == DONE:
            return 1.0
        return min(1.0, self.done / self.total) if self.total > 0 else 0.0

    @property
    def elapsed(self) -> float:
        end = self.finished_at if self.finished_at is not None else time.time()
        return max(0.0, end - self.started_at) if self.started_at else 0.0


class JobContext:
    """What a job function receives: call it as ``progress(done, total)``; it raises once cancelled."""

    def __init__(self, runner: JobRunner, name: str, min_interval: float = 0.2) -> None:
        self._runner = runner
        self.name = name
        self._min_interval = min_interval
        self._last_write = 0.0

    @property
    def cancel_requested(self) -> bool:
        return self._runner.cancel_path(self.name).exists()

    def check(self) -> None:
        """Raise :class:`JobCancelled` when a cancel was requested."""
        if self.cancel_requested:
            raise JobCancelled(self.name)

    def message(self, text: str) -> None:
        """Show ``text`` beside the progress bar (e.g. the current sub-stage)."""
        self._runner._update(self.name, message=text)

    def __call__(self, done: int, total: int) -> None:
        self.check()
        now = time.monotonic()
        if done >= total or now - self._last_write >= self._min_interval:
            self._last_write = now
            self._runner._update(self.name, done=int(done), total=int(total))


JobFunction = Callable[[JobContext], dict[str, Any] | None]


class JobRunner:
    """Starts, observes and cancels the jobs of one folder (state in ``<root>/jobs``)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.dir = self.root / "jobs"

    # -- paths -----------------------------------------------------------------------------------------
    def state_path(self, name: str) -> Path:
        return self.dir / f"{_check_name(name)}.json"

    def cancel_path(self, name: str) -> Path:
        return self.dir / f"{_check_name(name)}.cancel"

    # -- queries ---------------------------------------------------------------------------------------
    def status(self, name: str) -> JobStatus | None:
        """The job's last recorded state; ``None`` if it never ran here."""
        path = self.state_path(name)
        try:
            data = json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        status = JobStatus(**{k: v for k, v in data.items() if k in JobStatus.__dataclass_fields__})
        if status.active and not _alive(path, status.pid):
            status = replace(status, state=INTERRUPTED, error="The server stopped while this step was running.")
        return status

    def statuses(self) -> dict[str, JobStatus]:
        """Every job recorded in this folder, by name."""
        if not self.dir.is_dir():
            return {}
        found = (self.status(p.stem) for p in sorted(self.dir.glob("*.json")))
        return {s.name: s for s in found if s is not None}

    def active(self) -> JobStatus | None:
        """The job running in this folder, if any."""
        return next((s for s in self.statuses().values() if s.active), None)

    # -- control ---------------------------------------------------------------------------------------
    def start(
        self, name: str, fn: JobFunction, *, message: str = "", lock: str | os.PathLike[str] | None = None
    ) -> JobStatus:
        """Run ``fn(ctx)`` in a daemon thread; raise :class:`JobBusy` if a job is already running here.

        ``lock``: a project folder whose lock the job holds while it runs (it fails when another holds it)."""
        with _LIVE_LOCK:
            busy = next((s for s in self.statuses().values() if s.active), None)
            if busy is not None:
                raise JobBusy(f"'{busy.name}' is still running; wait for it or cancel it first.")
            self.dir.mkdir(parents=True, exist_ok=True)
            self.cancel_path(name).unlink(missing_ok=True)
            now = time.time()
            status = JobStatus(
                name=name, state=RUNNING, message=message, pid=os.getpid(), started_at=now, updated_at=now
            )
            self._write(status)
            thread = threading.Thread(target=self._run, args=(name, fn, lock), name=f"tam-job-{name}", daemon=True)
            _LIVE[self.state_path(name)] = thread
            thread.start()
        return status

    def cancel(self, name: str) -> bool:
        """Ask a running job to stop at its next progress report; False if it is not running."""
        status = self.status(name)
        if status is None or not status.active:
            return False
        self.cancel_path(name).touch()
        return True

    def wait(self, name: str, timeout: float | None = None) -> JobStatus | None:
        """Block until the job leaves the running state (or ``timeout`` seconds pass); return its status."""
        with _LIVE_LOCK:
            thread = _LIVE.get(self.state_path(name))
        if thread is not None:
            thread.join(timeout)
        return self.status(name)

    def forget(self, name: str) -> None:
        """Remove a finished job's record (e.g. after its inputs changed)."""
        status = self.status(name)
        if status is not None and status.active:
            raise JobBusy(f"'{name}' is still running.")
        self.state_path(name).unlink(missing_ok=True)
        self.cancel_path(name).unlink(missing_ok=True)

    # -- internals -------------------------------------------------------------------------------------
    def _run(self, name: str, fn: JobFunction, lock: str | os.PathLike[str] | None = None) -> None:
        ctx = JobContext(self, name)
        try:
            # an edit of the page still running in its script thread (a click pressed just before Track) is
            # waited for: it ends in seconds, and failing the job as "busy" blamed another tab for the user's click
            with project_lock(lock, wait_local=LOCAL_WAIT) if lock is not None else contextlib.nullcontext():
                result = fn(ctx) or {}
                ctx.check()  # a cancel that came after the last progress report still counts
        except CancelledError:
            self._finish(name, CANCELLED, message="Cancelled.")
        except TamError as exc:  # the page shows it: its words (a busy project is another tab or command, no pid)
            self._finish(name, FAILED, error=user_message(exc))
        except Exception as exc:  # noqa: BLE001 - a job must always leave a final state on disk
            self._finish(name, FAILED, error=f"{name} failed unexpectedly: {exc}", detail=traceback.format_exc())
        else:
            self._finish(name, DONE, result=_jsonable(result))
        finally:
            with _LIVE_LOCK:
                _LIVE.pop(self.state_path(name), None)

    def _finish(self, name: str, state: str, **changes: Any) -> None:
        current = self._read(name) or JobStatus(name=name)
        done = current.total if state == DONE and current.total else current.done
        now = time.time()
        self._write(replace(current, state=state, done=done, updated_at=now, finished_at=now, **changes))
        self.cancel_path(name).unlink(missing_ok=True)

    def _update(self, name: str, **changes: Any) -> None:
        with _LIVE_LOCK:
            current = self._read(name)
            if current is not None and current.active:
                self._write(replace(current, updated_at=time.time(), **changes))

    def _read(self, name: str) -> JobStatus | None:
        try:
            data = json.loads(self.state_path(name).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return JobStatus(**{k: v for k, v in data.items() if k in JobStatus.__dataclass_fields__})

    def _write(self, status: JobStatus) -> None:
        path = self.state_path(status.name)
        atomic_write_bytes(path, json.dumps(asdict(status)).encode())


def _alive(path: Path, pid: int) -> bool:
    """Whether the job recorded in ``path`` still has a thread working on it."""
    if pid == os.getpid():
        with _LIVE_LOCK:
            thread = _LIVE.get(path)
        return thread is not None and thread.is_alive()
    try:  # another server process: alive if that process is
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError, OSError):
        return False
    return True


def _check_name(name: str) -> str:
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        raise ValueError(f"job names are letters, digits, '-' and '_': {name!r}")
    return name


def _jsonable(value: dict[str, Any]) -> dict[str, Any]:
    """Keep only what JSON can store (paths become strings)."""
    return json.loads(json.dumps(value, default=str))


__all__ = [
    "CANCELLED",
    "DONE",
    "FAILED",
    "INTERRUPTED",
    "RUNNING",
    "JobBusy",
    "JobCancelled",
    "JobContext",
    "JobRunner",
    "JobStatus",
]
