"""Files replaced atomically, with nothing left behind when the write fails or the process is stopped.

Every file tam writes is first written to a hidden temp file beside it (``.NAME.PID.TOKEN.SUFFIX``) and renamed
over it at the end, so a reader sees the old file or the new one, never half of one. The temp file is removed when
the write fails *or is interrupted at any point*: Ctrl-C and the CLI's SIGTERM arrive as ``KeyboardInterrupt``
between any two bytecodes, so its name is chosen before it is created (``O_EXCL``) and every step after that runs
inside the ``try`` that removes it (``mkstemp`` followed by a ``try`` leaves a gap in which a signal leaks the file).
The PID in the name marks whose file it is: a process that was killed outright (SIGKILL) leaves its temp file,
and the next writer of the same output can tell it is stale (``editor.encode.sweep_parts``). Lives in
``tracking`` because the session's own files and the editor's both use it (the editor may import tracking, not the
reverse). New files get the mode the user's umask gives any new file (not ``mkstemp``'s private 0600).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


@contextmanager
def replaced_atomically(path: str | os.PathLike[str], suffix: str = ".tmp", stem: str | None = None) -> Iterator[Path]:
    """A new empty temp file beside ``path`` to write; it replaces ``path`` when the block ends.

    If the block raises (or a signal interrupts it, or the temp file's own creation), the temp file is removed and
    ``path`` is left as it was. ``stem`` names the temp file (default ``path``'s name): ``.STEM.PID.TOKEN{suffix}``.
    """
    path = Path(path)
    tmp: Path | None = None
    try:
        for _ in range(64):
            tmp = path.with_name(f".{stem or path.name}.{os.getpid()}.{secrets.token_hex(4)}{suffix}")
            try:
                os.close(os.open(tmp, _FLAGS, 0o666))  # 0o666 less the umask, as any new file
                break
            except FileExistsError:  # the name is taken (a random token: all but never): try another
                continue
        else:
            tmp = None  # the names tried are not ours to remove
            raise FileExistsError(f"no free temp file name beside {path.name}")
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if tmp is not None:
            with suppress(OSError):
                tmp.unlink()
        raise


def write_bytes_atomically(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (its folder must exist)."""
    with replaced_atomically(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data)


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, creating its folder if missing (the session's files)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomically(path, data)


__all__ = ["replaced_atomically", "write_atomic", "write_bytes_atomically"]
