"""One readable line for any error the page shows: what was wrong and what to do, no errno, no server path.

Errors from libraries (PyAV, OpenCV, the OS) carry ``[Errno N]`` codes and absolute paths of the server's
data folder; a user can act on neither. :func:`user_message` keeps the sentence and drops both (a path
becomes its file name).
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

from editor.errors import TamError
from editor.lock import ProjectBusy

_ERRNO = re.compile(r"\[Errno -?\d+\]\s*")
_PATH = re.compile(r"(?P<q>['\"]?)(?P<path>/(?:[^\s'\":;,()]+/)+(?P<name>[^\s'\":;,()/]*))(?P=q)")


def scrub(text: str) -> str:
    """``text`` without errno codes, absolute paths shortened to their last part."""
    text = _ERRNO.sub("", text)
    return _PATH.sub(lambda m: m.group("name") or "the folder", text).strip()


_PART = re.compile(r"^\.(?P<stem>.+)\.\d+\.[^.]+\.part(?P<suffix>\.\w+)$")


def written_name(path: str | os.PathLike[str]) -> str:
    """The file a user asked for, for a path tam writes to: a hidden part file (``encode.write_video``'s) names its
    final file, any other path stands for itself."""
    p = Path(path)
    m = _PART.match(p.name)
    return str(p.with_name(m.group("stem") + m.group("suffix"))) if m else str(p)


def os_reason(exc: OSError, folder: str | os.PathLike[str]) -> str:
    """Why an OS call failed, in words a user can act on (``folder``: where it tried to write), no errno."""
    code = getattr(exc, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return f"the disk holding {folder} is full: free some space or write somewhere else"
    if code in (errno.EACCES, errno.EPERM):
        return f"no permission to write in {folder}: write somewhere you may write"
    if code == errno.EROFS:
        return f"{folder} is on a read-only file system: write somewhere else"
    return (exc.strerror or str(exc)).strip()


_WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)  # only a write fails this way


def os_write_message(exc: OSError) -> str | None:
    """For a failed write (a full disk or a read-only one, or any failure on a part file tam was writing): which
    file could not be made and why, in words; None for anything else (a read, say), whose own words stand."""
    if not exc.filename:
        return None
    target = written_name(exc.filename)
    if getattr(exc, "errno", None) not in _WRITE_ERRNOS and target == str(exc.filename):
        return None
    return f"could not write {target}: {os_reason(exc, Path(target).parent)}"


def user_message(exc: BaseException) -> str:
    """The message to show for ``exc``: tam's own sentence, or a plain one for anything unexpected."""
    if isinstance(exc, ProjectBusy):  # its own words are for the CLI (the project's folder, --project)
        who = f" (held by {scrub(exc.holder)})" if exc.holder else ""
        return (f"This project is busy: another tab of this page, or a tam command, is working on it{who}. Nothing "
                "was changed; wait until it has finished (its progress shows where it was started), then try again.")
    if isinstance(exc, TamError):
        return scrub(str(exc))
    if isinstance(exc, MemoryError):
        return "The machine ran out of memory: try a shorter or smaller clip."
    if isinstance(exc, PermissionError):
        return "The server may not write to its data folder: ask whoever runs it to check TAM_DATA_DIR."
    if isinstance(exc, OSError) and getattr(exc, "errno", None) == 28:
        return "The server's disk is full: delete old projects or free some space, then try again."
    detail = scrub(str(exc))
    return f"Something went wrong ({type(exc).__name__}{': ' + detail if detail else ''}). Try again; if it " \
        "happens again, start with a new video."
